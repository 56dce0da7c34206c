//! Reports of how a run ended, for CI systems rather than a person at a terminal: a JUnit XML
//! file (`junit`) and GitHub Actions' step outputs, job summary and annotations (`github`).
//! They render the last state `wait` saw and nothing more: this module neither polls nor
//! prints to stdout (that is `commands`), so a finished and a timed-out run go through the same
//! code and differ only in which results are still unfinished. What they render is the
//! [`Attempts`](crate::rerun::Attempts) at a set of tests: one run, or a failed run and the
//! re-runs of its failed tests, where a test that passed on a re-run is flaky. Results are
//! named as everywhere else, through [`crate::labels`].

pub mod github;
pub mod junit;

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
