//! Everything doksi writes to the terminal goes through here: results on stdout, notes, warnings
//! and errors on stderr. `-q` leaves errors only, and styling is written through `anstream`, which
//! drops it when the stream is not a terminal, when NO_COLOR is set, or when CLICOLOR=0 — so CI
//! logs and pipes get plain text.
//!
//! Neither stream may end a command, because by the time something is printed the work it
//! reports (an upload, a run) has usually been done on the server. A failed stderr write is
//! dropped: there is nowhere left to say so. A failed stdout write (a full disk, a closed pipe) is
//! remembered, later stdout writes are skipped, and the command goes on to its verdict; [`finish`]
//! then weighs the two once. `print!`/`eprint!` are denied crate-wide (Cargo.toml) to keep it so.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use anstyle::{AnsiColor, Style};

use super::Error;

static QUIET: AtomicBool = AtomicBool::new(false);

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// The live line at the bottom of a terminal (the wait's spinner), which every other stderr line
/// is printed above.
static LIVE: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// The first stdout write that failed, if any.
static STDOUT_FAILURE: Mutex<Option<io::Error>> = Mutex::new(None);

/// Warnings already shown by [`warning_once`].
static SHOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Whether stdout and stderr end up in one place, where a fact already told on stderr is not
/// told again on stdout: one file, pipe or terminal (`2>&1`, a plain terminal), or, on a CI
/// runner, two pipes — GitHub Actions' runner, GitLab's Docker executor and others read the two
/// streams apart and interleave them into one log. A regular file on either side (`>
/// results.txt`) is a reader of its own, and keeps the whole account.
pub fn merged() -> bool {
    static MERGED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *MERGED.get_or_init(|| {
        use std::os::fd::AsFd;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = |fd: std::os::fd::BorrowedFd<'_>| {
            let file = std::fs::File::from(fd.try_clone_to_owned().ok()?);
            file.metadata().ok()
        };
        let (Some(out), Some(err)) = (meta(io::stdout().as_fd()), meta(io::stderr().as_fd()))
        else {
            return false;
        };
        let piped = |m: &std::fs::Metadata| m.file_type().is_fifo() || m.file_type().is_socket();
        (out.dev(), out.ino()) == (err.dev(), err.ino()) || (piped(&out) && piped(&err) && on_ci())
    })
}

/// Whether a CI runner runs doksi, by the variables the common ones set.
fn on_ci() -> bool {
    use crate::environment::{CI_MARKERS, var, var_os};
    let set = |name: &str| var_os(name).is_some_and(|v| !v.is_empty());
    let ci = var("CI").is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    ci || CI_MARKERS.iter().any(|name| set(name))
}

/// Set once, from `-q`, before any command runs.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Set once, from `--color`, before anything is printed: `always` and `never` override the
/// terminal test, NO_COLOR and CLICOLOR_FORCE; `auto` leaves them to decide.
pub fn set_color(when: crate::cli::ColorWhen) {
    use crate::cli::ColorWhen;
    let choice = match when {
        ColorWhen::Auto => anstream::ColorChoice::Auto,
        ColorWhen::Always => anstream::ColorChoice::Always,
        ColorWhen::Never => anstream::ColorChoice::Never,
    };
    choice.write_global();
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// Set once, from `-v`, before any command runs: passed tests are listed, not only counted.
pub fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// A live line (the wait's spinner, the upload bar) in `style`, which every other stderr line is
/// printed above until [`end_live`] takes it off the screen.
pub fn live_line(len: Option<u64>, style: indicatif::ProgressStyle) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::with_draw_target(len, live_target());
    bar.set_style(style);
    *lock(&LIVE) = Some(bar.clone());
    bar
}

/// Where a live line is drawn: stderr, a few columns narrower than the terminal. indicatif pads its line to the full width, which leaves the cursor
/// in the last column; the terminal's echo of a typed Ctrl-C (`^C`) then wraps onto a row of its
/// own, and clearing the line clears that row and leaves the line on screen. A few columns short,
/// `^C` lands on the line's own row, which the clearing takes away.
fn live_target() -> indicatif::ProgressDrawTarget {
    indicatif::ProgressDrawTarget::term_like_with_hz(
        Box::new(Narrow(console::Term::buffered_stderr())),
        20,
    )
}

/// Columns left free at the end of a live line: room for `^C`.
const LIVE_MARGIN: u16 = 3;

#[derive(Debug)]
struct Narrow(console::Term);

impl indicatif::TermLike for Narrow {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(LIVE_MARGIN).max(1)
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Takes the live line off the screen.
pub fn end_live() {
    if let Some(bar) = lock(&LIVE).take() {
        bar.finish_and_clear();
    }
}

/// A line of progress or narration on stderr; silent under `-q`.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::commands::output::quiet() {
            $crate::commands::output::stderr_line(format_args!($($arg)*));
        }
    };
}
pub(crate) use note;

/// `doksi: warning: …` on stderr; silent under `-q`.
macro_rules! warning {
    ($($arg:tt)*) => {
        if !$crate::commands::output::quiet() {
            let style = $crate::commands::output::WARNING;
            $crate::commands::output::stderr_line(
                format_args!("doksi: {style}warning{style:#}: {}", format_args!($($arg)*)),
            );
        }
    };
}
pub(crate) use warning;

/// A line on stderr even under `-q`: lines addressed to a machine (GitHub's annotations) or
/// asked for by name (the sandbox's greeting).
macro_rules! always {
    ($($arg:tt)*) => {
        $crate::commands::output::stderr_line(format_args!($($arg)*))
    };
}
pub(crate) use always;

/// A line of a command's result on stdout, styled on a terminal. Returns nothing: a failure is
/// remembered for [`finish`] (see the module comment).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::commands::output::stdout_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

pub const ERROR: Style = AnsiColor::Red.on_default().bold();
pub const WARNING: Style = AnsiColor::Yellow.on_default().bold();
pub const PASSED: Style = AnsiColor::Green.on_default();
pub const FAILED: Style = AnsiColor::Red.on_default().bold();
pub const DIM: Style = Style::new().dimmed();

/// The style a run or result status is shown in.
pub fn status_style(status: &crate::api::model::Status) -> Style {
    use crate::api::model::Status;
    match status {
        Status::Passed => PASSED,
        Status::Failed => FAILED,
        _ => DIM,
    }
}

/// The error line main prints: `doksi: error: …`, the word red on a terminal.
pub fn print_error(message: &dyn fmt::Display) {
    stderr_line(format_args!("doksi: {ERROR}error{ERROR:#}: {message}"));
}

/// A warning the same command might otherwise give several times (a cache folder that cannot
/// be used, met by each of a matrix's uploads); silent under `-q`.
pub fn warning_once(message: String) {
    let mut shown = lock(&SHOWN);
    if !shown.contains(&message) {
        warning!("{message}");
        shown.push(message);
    }
}

/// One line on stderr in one write, so lines from two threads do not interleave. Anything
/// shaped like a key is redacted: every error, warning and note passes here.
pub fn stderr_line(line: fmt::Arguments<'_>) {
    stderr_unredacted(format!(
        "{}\n",
        crate::api::redact_secrets(&line.to_string())
    ));
}

/// A line on stderr printed as it is: only for a line meant to be pasted whose every value is
/// public (the sandbox's own URL and its published key), which redaction would break.
pub fn pasteable_line(line: fmt::Arguments<'_>) {
    stderr_unredacted(format!("{line}\n"));
}

fn stderr_unredacted(line: String) {
    let write = || {
        let _ = anstream::stderr().lock().write_all(line.as_bytes());
    };
    match lock(&LIVE).as_ref() {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// One line on stdout. A URL whose query carries a signature or credential is shown with that
/// query redacted, as on stderr: results name their destinations, and a presigned
/// `--binary-url` is one.
pub fn stdout_line(line: fmt::Arguments<'_>) {
    let line = format!("{}\n", crate::api::redact_signed_urls(&line.to_string()));
    to_stdout(|| {
        let mut out = anstream::stdout().lock();
        out.write_all(line.as_bytes())?;
        out.flush()
    });
}

/// Prints `value` as pretty JSON on stdout in a single write, so a pipe to `jq` sees it whole.
/// A signed URL's query is shown redacted (`"…?…(redacted)"`, which says so where it stands);
/// the replacement holds no quote or backslash, so the document stays valid JSON. Fails only
/// if `value` cannot be serialized.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), Error> {
    let text = serde_json::to_string_pretty(value).map_err(io::Error::from)?;
    let mut text = crate::api::redact_signed_urls(&text).into_bytes();
    text.push(b'\n');
    print_bytes(&text);
    Ok(())
}

/// Prints a finished document (JSON, a man page) on stdout in one write, unstyled.
pub fn print_bytes(bytes: &[u8]) {
    to_stdout(|| {
        let mut out = io::stdout().lock();
        out.write_all(bytes)?;
        out.flush()
    });
}

fn to_stdout(write: impl FnOnce() -> io::Result<()>) {
    let mut failure = lock(&STDOUT_FAILURE);
    if failure.is_none()
        && let Err(e) = write()
    {
        *failure = Some(e);
    }
}

/// The command's result, joined with the first stdout failure. The command's own error wins: a
/// verdict (a failed run's 1, a timeout's 4) is what a pipeline branches on, so the output
/// failure is then only said — unless it was a closed pipe, which no message could help with.
pub fn finish(result: Result<(), Error>) -> Result<(), Error> {
    let Some(failure) = lock(&STDOUT_FAILURE).take() else {
        return result;
    };
    let failure = Error::Stdout(failure);
    match result {
        Ok(()) => Err(failure),
        Err(e) => {
            if !failure.is_broken_pipe() {
                print_error(&failure);
            }
            Err(e)
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding these leaves a usable value; output must go on.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
