//! Reports of how a run ended, for CI systems rather than a person at a terminal: a JUnit XML
//! file (`junit`) and GitHub Actions' step outputs, job summary and annotations (`github`).
//! They render the last state `runs::wait` saw and nothing more: this module neither polls nor
//! prints to stdout (that is `commands`), so a finished and a timed-out run go through the same
//! code and differ only in which results are still unfinished. What they render is the
//! [`Attempts`](crate::rerun::Attempts) at a set of tests: one run, or a failed run and the
//! re-runs of its failed tests, where a test that passed on a re-run is flaky. Results are
//! named as everywhere else, through [`crate::labels`].

pub mod github;
pub mod junit;

use crate::api::model::Status;
use crate::rerun::TestOutcome;

/// How waiting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    TimedOut,
    /// doksi was stopped (Ctrl-C, SIGTERM) while the run went on.
    Interrupted,
}

/// What one result counts as in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    /// Queued or running when doksi stopped looking: not a verdict on the app.
    Unfinished,
    /// A status the docs do not list ("error", "cancelled"): it did not pass, but nor did the
    /// test find a bug, so it is reported as an error rather than a failure. An unknown status is
    /// never taken for "still running", because a run whose results never leave it would then
    /// look like a clean timeout.
    Errored,
}

impl Outcome {
    pub fn of(status: &Status) -> Outcome {
        match status {
            Status::Passed => Outcome::Passed,
            Status::Failed => Outcome::Failed,
            Status::Queued | Status::Running => Outcome::Unfinished,
            Status::Other(_) => Outcome::Errored,
        }
    }
}

/// Where a test is listed in an account of a run, the text's or the job summary's: those that
/// need a look first — failed or errored, then unfinished, then flaky, then passed.
pub fn attention(outcome: TestOutcome) -> u8 {
    match outcome {
        TestOutcome::Failed | TestOutcome::Errored => 0,
        TestOutcome::Unfinished => 1,
        TestOutcome::Flaky => 2,
        TestOutcome::Passed => 3,
    }
}

/// One result's outcome as a test's, for a run without re-runs.
impl From<Outcome> for TestOutcome {
    fn from(outcome: Outcome) -> TestOutcome {
        match outcome {
            Outcome::Passed => TestOutcome::Passed,
            Outcome::Failed => TestOutcome::Failed,
            Outcome::Unfinished => TestOutcome::Unfinished,
            Outcome::Errored => TestOutcome::Errored,
        }
    }
}

/// Why a test has no verdict, as the reports say it: its run was reported passed or failed (the
/// roll-up came before every result had ended: `still running when run run_1 was reported
/// failed`), or doksi stopped looking (`--timeout`, a signal).
pub fn unfinished(t: &crate::rerun::Try<'_>) -> String {
    let status = t.result.status.as_str();
    match t.run_status.is_final() {
        true => format!(
            "still {status} when run {} was reported {}",
            t.run_id,
            t.run_status.as_str()
        ),
        false => format!("still {status} when doksi stopped waiting"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_errors_not_unfinished() {
        assert_eq!(Outcome::of(&Status::Running), Outcome::Unfinished);
        assert_eq!(Outcome::of(&Status::Queued), Outcome::Unfinished);
        assert_eq!(
            Outcome::of(&Status::Other("cancelled".into())),
            Outcome::Errored
        );
    }
}
