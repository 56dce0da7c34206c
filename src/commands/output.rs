//! What reaches the terminal besides a command's result: `-q` leaves errors only, and styling is
//! written through `anstream`, which drops it when the stream is not a terminal, when NO_COLOR is
//! set, or when CLICOLOR=0 — so CI logs and pipes get plain text.

use std::sync::atomic::{AtomicBool, Ordering};

use anstyle::{AnsiColor, Style};

static QUIET: AtomicBool = AtomicBool::new(false);

/// Set once, from `-q`, before any command runs.
pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

/// A line of progress or narration on stderr; silent under `-q`.
macro_rules! note {
    ($($arg:tt)*) => {
        if !$crate::commands::output::quiet() {
            anstream::eprintln!($($arg)*);
        }
    };
}
pub(crate) use note;

/// `doksi: warning: …` on stderr; silent under `-q`.
macro_rules! warning {
    ($($arg:tt)*) => {
        if !$crate::commands::output::quiet() {
            let style = $crate::commands::output::WARNING;
            anstream::eprintln!("doksi: {style}warning{style:#}: {}", format_args!($($arg)*));
        }
    };
}
pub(crate) use warning;

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
pub fn print_error(message: &dyn std::fmt::Display) {
    let message = crate::api::redact_secrets(&message.to_string());
    anstream::eprintln!("doksi: {ERROR}error{ERROR:#}: {message}");
}
