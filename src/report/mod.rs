//! Reports of how a run ended, for CI systems rather than a person at a terminal: a JUnit XML
//! file (`junit`) and GitHub Actions' step outputs, job summary and annotations (`github`).
//! They render the last state `wait` saw and nothing more: this module neither polls nor
//! prints (that is `commands`), so a finished and a timed-out run go through the same
//! code and differ only in which results are still unfinished. What they render is the
//! [`Attempts`](crate::rerun::Attempts) at a set of tests: one run, or a failed run and the
//! re-runs of its failed tests, where a test that passed on a re-run is flaky. Results are
//! named as everywhere else, through [`crate::labels`].

pub mod github;
pub mod junit;

use std::path::Path;

use crate::labels::Labels;
use crate::rerun::Attempts;
use crate::wait::Ending;

/// What writing the reports came to: the JUnit file's failure fails the command (the user asked
/// for that file); GitHub's outputs, summary and annotations are only warnings, and the
/// annotations are lines for the caller to print (on stdout, where the runner reads them).
pub struct Written {
    pub junit: Result<(), junit::JunitError>,
    /// What of GitHub's step outputs and job summary could not be written.
    pub problems: Vec<github::GithubError>,
    pub annotations: Vec<String>,
}

/// Writes the reports for how the attempts ended: the `--junit` file when asked for, and on
/// GitHub Actions the step outputs, the job summary (which says the ending) and annotations.
/// The same for every ending: a failed, timed-out or abandoned run is when CI needs them most,
/// its unfinished tests shown as skipped.
pub fn write(
    attempts: &Attempts,
    ending: Ending,
    target_ids: &[String],
    labels: &Labels,
    junit: Option<&Path>,
) -> Written {
    let (problems, annotations) = match github::Context::from_env() {
        Some(github) => (
            github::publish(&github, attempts, ending, target_ids, labels),
            github::annotations(attempts, labels),
        ),
        None => (Vec::new(), Vec::new()),
    };
    Written {
        junit: junit.map_or(Ok(()), |path| junit::write(path, attempts, labels)),
        problems,
        annotations,
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
