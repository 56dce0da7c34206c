//! Upload progress on stderr: a bar on a terminal, and on CI logs (no terminal) a plain line at
//! each quarter of a large upload, so logs stay short and readable. Small uploads print only
//! their result.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

/// Below this, an upload takes moments and quarter lines would only be noise in a CI log.
const LINES_FROM: u64 = 4 << 20;

pub enum Progress {
    Bar {
        bar: ProgressBar,
        name: String,
        /// The bytes sent when last told: fewer now means the PUT started again; and whether the
        /// time left is shown yet.
        last: Mutex<(u64, bool)>,
    },
    Lines {
        name: String,
        state: Mutex<Lines>,
    },
}

/// Where a CI log's quarter lines stand in the current attempt.
pub struct Lines {
    next_quarter: u64,
    last: u64,
}

/// The bar, once the upload's size is known: before that, only its name is shown, not a full
/// bar of `0 B/0 B`. The time left joins it once the rate has settled ([`ETA_AFTER`]).
fn bar_style(eta: bool) -> ProgressStyle {
    let template = match eta {
        true => "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
        false => "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec}",
    };
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// How long an attempt runs, and how much of it is sent, before its time left is shown: the
/// first seconds of a PUT (TCP's slow start, a proxy's buffer filling) give a rate that says
/// 3 s for an upload that takes 17.
const ETA_AFTER: (std::time::Duration, u64) = (std::time::Duration::from_secs(3), 10);

impl Progress {
    pub fn new(name: &str) -> Progress {
        if super::output::quiet() {
            Progress::Bar {
                bar: ProgressBar::hidden(),
                name: name.to_owned(),
                last: Mutex::new((0, false)),
            }
        } else if std::io::stderr().is_terminal() {
            let waiting = ProgressStyle::with_template("{msg}…")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            // A live line: retry notices and -v's request lines are printed above it.
            let bar = super::output::live_line(None, waiting);
            bar.set_message(format!("uploading {name}"));
            Progress::Bar {
                bar,
                name: name.to_owned(),
                last: Mutex::new((0, false)),
            }
        } else {
            Progress::Lines {
                name: name.to_owned(),
                state: Mutex::new(Lines {
                    next_quarter: 1,
                    last: 0,
                }),
            }
        }
    }
}

/// Whether `sent` starts the upload again: fewer bytes than were already sent. Each attempt of a
/// PUT sends the whole body from the first byte, and counts from 0.
fn restarted(last: &mut u64, sent: u64) -> bool {
    let again = sent < *last;
    *last = sent;
    again
}

impl crate::remark::Progress for Progress {
    /// `sent` of `total` bytes of the upload zip have gone out in this attempt.
    fn update(&self, sent: u64, total: u64) {
        match self {
            Progress::Bar { bar, name, last } => {
                let Ok(mut last) = last.lock() else {
                    return;
                };
                let (sent_before, eta_shown) = &mut *last;
                if restarted(sent_before, sent) {
                    // Reset first: the note redraws the bar below it.
                    bar.reset();
                    *eta_shown = false;
                    bar.set_style(bar_style(false));
                    if !bar.is_hidden() {
                        super::output::note!("uploading {name}: restarted from the first byte");
                    }
                }
                if bar.length() != Some(total) {
                    bar.set_style(bar_style(*eta_shown));
                    bar.set_length(total);
                    // The attempt's clock starts with its body, not with minting the URL.
                    bar.reset_elapsed();
                }
                let (after, percent) = ETA_AFTER;
                if !*eta_shown
                    && bar.elapsed() >= after
                    && sent.saturating_mul(100) >= total.saturating_mul(percent)
                {
                    *eta_shown = true;
                    bar.set_style(bar_style(true));
                }
                bar.set_position(sent);
            }
            Progress::Lines { name, state } => {
                let Ok(mut state) = state.lock() else {
                    return;
                };
                if restarted(&mut state.last, sent) {
                    state.next_quarter = 1;
                    if total >= LINES_FROM {
                        super::output::note!(
                            "uploading {name}: restarted from the first byte (0 of {})",
                            crate::words::size(total)
                        );
                    }
                }
                while total >= LINES_FROM
                    && state.next_quarter <= 4
                    && sent.saturating_mul(4) >= total.saturating_mul(state.next_quarter)
                {
                    let q = state.next_quarter;
                    // The quarter's own amount: one update can pass several quarters, and
                    // `sent` would then be told for each of them.
                    super::output::note!(
                        "uploading {name}: {}% ({} of {})",
                        q * 25,
                        crate::words::size(total / 4 * q + total % 4 * q / 4),
                        crate::words::size(total)
                    );
                    state.next_quarter += 1;
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar { bar, .. } = self {
            super::output::end_live();
            // A hidden bar (-q) was never the live line.
            bar.finish_and_clear();
        }
    }
}

/// An upload that is dropped unfinished (Ctrl-C) takes its bar off the screen, so the message
/// that follows is not printed beside it.
impl Drop for Progress {
    fn drop(&mut self) {
        if let Progress::Bar { bar, .. } = self
            && !bar.is_finished()
        {
            super::output::end_live();
            bar.finish_and_clear();
        }
    }
}
