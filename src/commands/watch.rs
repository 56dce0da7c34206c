//! What a person sees while a run is waited for: each test that did not pass as it finishes
//! (every test under `-v`; the passed ones are otherwise only counted), and signs of life. On a
//! terminal that is one live line, redrawn in place: status, tests done of all, failed so far,
//! time elapsed. In a CI log, which cannot redraw, a line when the status changes and, without
//! news, at least once a minute, so a job that waits half an hour never looks hung.
//! [`Watching`] is how the pipeline's follow is watched: a [`Watch`] per run, re-runs said.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::api::model::{Run, RunResult, Status};
use crate::labels::{Labels, test_name};
use crate::remark::Remark;
use crate::rerun::Counts;
use crate::wait::Until;
use crate::words::count;
use crate::words::one_line as clean;

use super::output::{self, note, warning};

pub(super) struct Watch<'a> {
    labels: &'a Labels,
    /// Where the wait ends: at the roll-up, or once every result has ended too.
    until: Until,
    /// Whether the status line of a run reported failed while tests went on was told.
    told_following: bool,
    /// The results already told.
    told: HashSet<String>,
    last_status: Option<Status>,
    started: Instant,
    /// How long a CI log may go without a line.
    every: Duration,
    last_line: Instant,
    /// The live line, on a terminal.
    live: Option<ProgressBar>,
}

impl<'a> Watch<'a> {
    pub fn new(run_id: &str, labels: &'a Labels, until: Until) -> Watch<'a> {
        let live = (!output::quiet() && std::io::stderr().is_terminal()).then(|| {
            let style = ProgressStyle::with_template("{spinner} {msg} · {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            let bar = output::live_line(None, style);
            bar.set_message(format!("run {}: waiting", clean(run_id)));
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        let now = Instant::now();
        Watch {
            labels,
            until,
            told_following: false,
            told: HashSet::new(),
            last_status: None,
            started: now,
            every: alive_interval(),
            last_line: now,
            live,
        }
    }

    /// A poll's answer: the results that finished since the last one, and the status.
    pub fn update(&mut self, run: &Run) {
        let changed = self.last_status.as_ref() != Some(&run.status);
        self.last_status = Some(run.status.clone());
        let ended = self.until.reached(run);
        // On a terminal the live line holds the status; a CI log gets a line when it changes,
        // before the results it came with. A final status comes after them.
        let mut said = changed && self.live.is_none() && !run.status.is_final();
        if said {
            tell_status(run);
        }
        // Reported failed while tests go on, and followed until they end: said once, since the
        // re-run waits for them.
        if run.status.is_final() && !ended && !self.told_following {
            self.told_following = true;
            let told = format!(
                "run {}: {}, {} still running: waiting for them to end",
                clean(&run.run_id),
                clean(run.status.as_str()),
                count(Counts::of_run(run).unfinished, "test")
            );
            note!("{told}");
            said = true;
        }
        for r in &run.results {
            if r.status.is_final() && self.told.insert(r.result_id.clone()) && shown_live(r) {
                note!("  {}", result_line(r, self.labels, true));
                said = true;
            }
        }
        if ended {
            // The live line goes before the verdict is told, not redrawn under it.
            if self.live.take().is_some() {
                output::end_live();
            }
            // Apart from stdout (a file, a pipe), stderr is where the person watching is told
            // how it ended; in one stream the summary or the verdict that follows says so.
            if (changed || self.told_following) && !output::merged() {
                tell_status(run);
            }
            return;
        }
        let progress = progress(run);
        if let Some(bar) = &self.live {
            bar.set_message(progress);
        } else if said || changed {
            self.last_line = Instant::now();
        } else if self.last_line.elapsed() >= self.every {
            self.last_line = Instant::now();
            let elapsed = Duration::from_secs(self.started.elapsed().as_secs());
            note!(
                "{progress}, {} elapsed",
                crate::timestamp::duration(elapsed)
            );
        }
    }
}

impl crate::wait::Observer for Watch<'_> {
    fn update(&mut self, run: &Run) {
        Watch::update(self, run);
    }

    fn trouble(&mut self, run_id: &str, error: &crate::api::error::ApiError) {
        note!(
            "doksi: polling run {}: {error}; still waiting",
            clean(run_id)
        );
    }

    fn left_running(&mut self, run: &Run) {
        note!(
            "run {}: --timeout reached with {} still running; its {} roll-up stands",
            clean(&run.run_id),
            count(Counts::of_run(run).unfinished, "test"),
            clean(run.status.as_str())
        );
    }
}

/// Who watches a followed run: the terminal, through a [`Watch`] per run.
pub(super) struct Watching<'a> {
    pub labels: &'a Labels,
}

impl crate::pipeline::Observer for Watching<'_> {
    fn watch(&self, run_id: &str, until: Until) -> Box<dyn crate::wait::Observer + '_> {
        Box::new(Watch::new(run_id, self.labels, until))
    }

    fn remark(&self, remark: Remark) {
        match remark {
            Remark::Warning(line) => warning!("{line}"),
            Remark::Step(line) | Remark::Note(line) => note!("{line}"),
            Remark::Detail(line) => {
                if output::verbose() {
                    note!("{line}")
                }
            }
        }
    }
}

/// The live line goes when the wait does, whatever ended it (a verdict, Ctrl-C).
impl Drop for Watch<'_> {
    fn drop(&mut self) {
        if self.live.take().is_some() {
            output::end_live();
        }
    }
}

/// `run run_4: running`, the status styled; a run reported failed while some of its tests
/// went on says how many: `run run_4: failed, 3 tests unfinished`.
fn tell_status(run: &Run) {
    let style = output::status_style(&run.status);
    let unfinished = match Counts::of_run(run).unfinished {
        n if n > 0 && run.status.is_final() => format!(", {} unfinished", count(n, "test")),
        _ => String::new(),
    };
    note!(
        "run {}: {style}{}{style:#}{unfinished}",
        clean(&run.run_id),
        clean(run.status.as_str())
    );
}

/// `run run_4: running, 3/12 done, 1 failed`.
fn progress(run: &Run) -> String {
    format!(
        "run {}: {}, {}",
        clean(&run.run_id),
        clean(run.status.as_str()),
        done(run)
    )
}

/// `3/12 done, 1 failed`: how far a run has come, counted from its results as every other
/// output counts them.
pub(super) fn done(run: &Run) -> String {
    let c = Counts::of_run(run);
    let done = c.total() - c.unfinished;
    format!(
        "{done}/{} done, {} failed",
        run.tests_total.max(run.results.len() as u64),
        c.not_passed()
    )
}

/// Whether a finished result gets a line of its own: a test that did not pass always; a
/// passed one under `-v`, as otherwise it is only counted.
pub(super) fn shown_live(r: &RunResult) -> bool {
    r.status != Status::Passed || output::verbose()
}

/// One test's line: status, name, where it ran, how long it took and, unless the line repeats
/// one already shown, the link to the result.
pub(super) fn result_line(r: &RunResult, labels: &Labels, link: bool) -> String {
    let style = output::status_style(&r.status);
    let mut line = format!(
        "{style}{:<8}{style:#} {}  on {}  ({:.0}s)",
        clean(r.status.as_str()),
        clean(test_name(r)),
        clean(&labels.of(r)),
        r.duration_seconds,
    );
    if let Some(url) = r.url.as_deref().filter(|u| link && !u.is_empty()) {
        line.push_str("  ");
        line.push_str(&clean(url));
    }
    line
}

/// `3 tests: 2 passed, 1 failed` — the counts a run's summary gives, from its results as
/// every output counts them, the zero ones left out but for `failed`. Tests not ended are
/// `running` while the run is, `unfinished` once it was reported passed or failed.
pub(super) fn tally(run: &Run) -> String {
    let c = Counts::of_run(run);
    let mut parts = vec![
        format!("{} passed", c.passed),
        format!("{} failed", c.failed),
    ];
    if c.errored > 0 {
        parts.push(format!("{} errored", c.errored));
    }
    if c.unfinished > 0 {
        let word = match run.status.is_final() {
            true => "unfinished",
            false => "running",
        };
        parts.push(format!("{} {word}", c.unfinished));
    }
    format!("{}: {}", count(c.total(), "test"), parts.join(", "))
}

/// How long a CI log may go without a line: 60 s, or `DOKSI_PROGRESS_INTERVAL` (a humantime
/// duration, for tests and debugging).
fn alive_interval() -> Duration {
    crate::environment::var("DOKSI_PROGRESS_INTERVAL")
        .and_then(|v| humantime::parse_duration(&v).ok())
        .unwrap_or(Duration::from_secs(60))
}
