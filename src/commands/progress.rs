//! Upload progress on stderr: a bar on a terminal, and on CI logs (no terminal) a plain line at
//! each quarter, so logs stay short and readable.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use super::apks::human_size;

pub enum Progress {
    Bar(ProgressBar),
    Lines {
        name: String,
        total: u64,
        next_quarter: Mutex<u64>,
    },
}

impl Progress {
    pub fn new(name: &str, total: u64) -> Progress {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("uploading {name}"));
            Progress::Bar(bar)
        } else {
            Progress::Lines {
                name: name.to_owned(),
                total,
                next_quarter: Mutex::new(1),
            }
        }
    }

    pub fn update(&self, sent: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(sent),
            Progress::Lines {
                name,
                total,
                next_quarter,
            } => {
                let Ok(mut q) = next_quarter.lock() else {
                    return;
                };
                while *q <= 4 && sent.saturating_mul(4) >= total.saturating_mul(*q) {
                    eprintln!(
                        "uploading {name}: {}% ({} of {})",
                        *q * 25,
                        human_size(sent),
                        human_size(*total)
                    );
                    *q += 1;
                }
            }
        }
    }

    pub fn finish(&self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}
