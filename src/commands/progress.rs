//! Upload progress on stderr: a bar on a terminal, and on CI logs (no terminal) a plain line at
//! each quarter of a large upload, so logs stay short and readable. Small uploads print only
//! their result.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use super::apks::human_size;

/// Below this, an upload takes moments and quarter lines would only be noise in a CI log.
const LINES_FROM: u64 = 4 << 20;

pub enum Progress {
    Bar(ProgressBar),
    Lines {
        name: String,
        next_quarter: Mutex<u64>,
    },
}

impl Progress {
    pub fn new(name: &str) -> Progress {
        if super::output::quiet() {
            Progress::Bar(ProgressBar::hidden())
        } else if std::io::stderr().is_terminal() {
            let style = ProgressStyle::with_template(
                "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec}, {eta} left",
            )
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
            // A live line: retry notices and -v's request lines are printed above it.
            let bar = super::output::live_line(Some(0), style);
            bar.set_message(format!("uploading {name}"));
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                name: name.to_owned(),
                next_quarter: Mutex::new(1),
            }
        }
    }
}

impl crate::remark::Progress for Progress {
    /// `sent` of `total` bytes of the upload zip have gone out.
    fn update(&self, sent: u64, total: u64) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(total);
                bar.set_position(sent);
            }
            Progress::Lines { name, next_quarter } => {
                let Ok(mut q) = next_quarter.lock() else {
                    return;
                };
                while total >= LINES_FROM
                    && *q <= 4
                    && sent.saturating_mul(4) >= total.saturating_mul(*q)
                {
                    // The quarter's own amount: one update can pass several quarters, and
                    // `sent` would then be told for each of them.
                    super::output::note!(
                        "uploading {name}: {}% ({} of {})",
                        *q * 25,
                        human_size(total / 4 * *q + total % 4 * *q / 4),
                        human_size(total)
                    );
                    *q += 1;
                }
            }
        }
    }

    fn finish(&self) {
        if let Progress::Bar(bar) = self {
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
        if let Progress::Bar(bar) = self
            && !bar.is_finished()
        {
            super::output::end_live();
            bar.finish_and_clear();
        }
    }
}
