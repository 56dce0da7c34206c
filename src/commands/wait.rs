//! `wait`, and what every command that waits prints: the pipeline follows the run (each result
//! printed as it finishes, on stderr, by the terminal's `Watch`; the failed tests run again as
//! `--retries` allows) and writes the reports whatever the ending; here the summary is printed,
//! the team told, and the verdict turned into the exit code.

use crate::api::client::Client;
use crate::api::model::{Run, RunResult, Status};
use crate::cli::{Effective, GlobalArgs, WaitArgs, WaitOptions, given_as_flag};
use crate::labels::{Labels, test_name};
use crate::pipeline::{self, Origin};
use crate::report;
use crate::rerun::{Attempts, Counts, TestOutcome, attention, outcome_of};
use crate::runs::Auth;
use crate::wait::Ending;
use crate::words::one_line as clean;

use super::output::{self, warning};
use super::watch::{Watching, done, result_line, tally};
use super::{Error, context, print_json};
use crate::words::count;

pub async fn run(global: &GlobalArgs, args: WaitArgs, settings: &[Effective]) -> Result<(), Error> {
    let client = context(global)?.client;
    // The flag alone: DOKSI_AUTH and doksi.toml say how this project's own runs sign in, not how
    // a run someone else started did.
    let auth = match given_as_flag(settings, "auth") {
        true => Some(args.auth.parse::<Auth>()?),
        false => None,
    };
    if args.waiting.retries > 0 && auth.is_none() {
        return Err(Error::Usage(format!(
            "--retries needs --auth for run {}: doksi did not start it, so it does not know how its tests signed in (give --auth none, generated or specific:acc_ID as the run had it)",
            clean(&args.run_id)
        )));
    }
    check_report(&args.waiting)?;
    let origin = Origin::Existing {
        run_id: args.run_id,
        auth,
    };
    wait_and_report(&client, &args.waiting, args.json, origin).await
}

/// Follows the run (waiting, and re-running its failed tests as `--retries` allows, each
/// result printed as it finishes), writes the reports, prints the verdict, tells the team and
/// turns the verdict into the exit code: passed → Ok, failed → [`Error::RunFailed`] (after
/// re-runs, [`Error::Retried`]), deadline → [`Error::TimedOut`], Ctrl-C or SIGTERM →
/// [`Error::Interrupted`]. The run goes on server-side in the last two, and the reports show its
/// last known state, unfinished tests as skipped.
pub(super) async fn wait_and_report(
    client: &Client,
    waiting: &WaitOptions,
    json: bool,
    origin: Origin,
) -> Result<(), Error> {
    let labels = Labels::new(&origin.apks());
    let options = pipeline::Options {
        wait: waiting.into(),
        retries: waiting.retries,
        fail_on_flaky: waiting.fail_on_flaky,
    };
    let followed = pipeline::follow(client, options, origin, &Watching { labels: &labels })
        .await
        .map_err(Error::reading_given_run)?;
    // Written before the verdict becomes an exit code. A report that cannot be written is an
    // error of its own; it does not hide the verdict, whose exit code (1, 4) is what a pipeline
    // branches on.
    let reported = print_reported(pipeline::report(
        &followed,
        waiting.junit.as_deref(),
        &labels,
    ));
    let verdict = match &followed.left {
        Some(_) => Ok(()),
        None => print_verdict(&followed, waiting, json, &labels),
    };
    super::notify::tell(&waiting.notify, &followed).await;
    let verdict = match (followed.left, followed.stopped) {
        (Some(left), _) => Err(left.into()),
        // A re-run that could not be started (the request was lost: exit 3) ends the command
        // once what the runs so far came to is printed and reported.
        (None, Some(stopped)) => {
            if let Err(verdict) = verdict {
                output::print_error(&verdict);
            }
            Err(stopped.into())
        }
        (None, None) => verdict,
    };
    match (reported, verdict) {
        (Err(report), Err(verdict)) => {
            output::print_error(&report);
            Err(verdict)
        }
        (reported, verdict) => reported.and(verdict),
    }
}

/// GitHub's problems as warnings and its annotations on stdout (not silenced by -q: they are
/// errors and warnings of flaky tests, addressed to GitHub rather than to a reader); the JUnit
/// file's failure as the error it is.
fn print_reported(written: report::Written) -> Result<(), Error> {
    for problem in written.problems {
        warning!("{problem}");
    }
    for line in written.annotations {
        output::always!("{line}");
    }
    Ok(written.junit?)
}

/// The verdict of a run followed to its end or its deadline: printed (the summary, or the
/// timeout's last state) and as the result the exit code comes from.
fn print_verdict(
    followed: &pipeline::Followed,
    waiting: &WaitOptions,
    json: bool,
    labels: &Labels,
) -> Result<(), Error> {
    let attempts = &followed.attempts;
    if followed.ending != Ending::TimedOut {
        // Under -q the summary is left out: the exit code and error line are the verdict.
        let shape = match (json, output::quiet()) {
            (true, _) => Shape::Json,
            (false, true) => Shape::Nothing,
            (false, false) => Shape::Text,
        };
        return print_attempts(attempts, shape, labels);
    }
    if json {
        print_json(&attempts.to_json())?;
    }
    let last = attempts.last();
    Err(Error::TimedOut {
        run_id: last.run_id.clone(),
        waited: crate::timestamp::duration(waiting.timeout),
        status: followed
            .answered
            .then(|| format!("{}, {}", clean(last.status.as_str()), done(last))),
    })
}

/// How the final run is printed: the API's object, a summary, or (under -q) not at all.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    Json,
    Text,
    Nothing,
}

/// Prints the run as `status` shows it and maps a finished-failed run to exit code 1.
pub(super) fn print_final(run: &Run, raw: &serde_json::Value, shape: Shape) -> Result<(), Error> {
    if let Shape::Json = shape {
        print_json(raw)?;
    } else if let Shape::Text = shape {
        print_run(run, &Labels::default(), false);
    }
    failed_verdict(run)
}

/// The summary line, then the tests that need a look, failed first; the passed ones are
/// counted, and listed under `-v`; those not ended are counted, never listed (a run reported
/// failed early may have thousands). `shown`: the finished results were
/// printed live on stderr, and stderr is where stdout goes (`2>&1`, a CI log), so only what
/// was not told yet is printed — and for a failed run not even the summary line, since the
/// error line that follows is the verdict and gives the same counts.
fn print_run(run: &Run, labels: &Labels, shown: bool) {
    if !(shown && run.status == Status::Failed) {
        let style = output::status_style(&run.status);
        output::outln!(
            "run {}: {style}{}{style:#} ({})",
            clean(&run.run_id),
            clean(run.status.as_str()),
            tally(run)
        );
    }
    let mut listed: Vec<&RunResult> = run
        .results
        .iter()
        .filter(|r| !(r.status.is_unfinished() || shown && r.status.is_final()))
        .filter(|r| r.status != Status::Passed || output::verbose())
        .collect();
    listed.sort_by_key(|r| attention(outcome_of(&r.status)));
    for r in listed {
        output::outln!("  {}", result_line(r, labels, true));
    }
}

/// Prints what the attempts came to and maps a failed verdict to exit code 1. Without a re-run,
/// as [`print_final`] prints the run; after re-runs, the tests by how they ended, the flaky
/// ones in a group of their own, each with the runs it failed in.
fn print_attempts(attempts: &Attempts, shape: Shape, labels: &Labels) -> Result<(), Error> {
    match shape {
        Shape::Json => print_json(&attempts.to_json())?,
        Shape::Text if attempts.len() == 1 => print_run(attempts.first(), labels, output::merged()),
        Shape::Text => print_retried(attempts, labels, output::merged()),
        Shape::Nothing => {}
    }
    match attempts.failure() {
        Some(failure) => Err(failure.into()),
        None if attempts.len() == 1 => failed_verdict(attempts.first()),
        None => Ok(()),
    }
}

/// After re-runs: the verdict per test, those that never passed first, then the flaky ones with
/// the runs they failed in; passed ones counted (listed under `-v`). `shown` as for
/// [`print_run`]: the results were printed live, so their links are not printed again.
fn print_retried(attempts: &Attempts, labels: &Labels, shown: bool) {
    let status = attempts.status();
    let style = output::status_style(&status);
    let ids = attempts.run_ids();
    let c = attempts.counts();
    let unfinished = match c.unfinished {
        0 => String::new(),
        n => format!(", {n} unfinished"),
    };
    output::outln!(
        "run {}: {style}{}{style:#} after {} ({}): {}: {} passed, {} flaky, {} failed{unfinished}",
        clean(ids[0]),
        status.as_str(),
        count(ids.len() - 1, "re-run"),
        clean(&ids[1..].join(", ")),
        count(c.total(), "test"),
        c.passed,
        c.flaky,
        c.not_passed()
    );
    let mut tests = attempts.tests();
    tests.sort_by_key(|t| attention(t.outcome));
    let listed = tests.iter().filter(|t| match t.outcome {
        TestOutcome::Flaky | TestOutcome::Unfinished => false,
        TestOutcome::Passed => output::verbose(),
        _ => true,
    });
    for t in listed {
        let tries = t.failures.len();
        let suffix = match t.outcome {
            TestOutcome::Failed | TestOutcome::Errored if tries > 1 => {
                format!("  (did not pass in {tries} attempts)")
            }
            _ => String::new(),
        };
        output::outln!(
            "  {}{suffix}",
            result_line(t.standing.result, labels, !shown)
        );
    }
    let flaky: Vec<_> = tests
        .iter()
        .filter(|t| t.outcome == TestOutcome::Flaky)
        .collect();
    if flaky.is_empty() {
        return;
    }
    output::outln!("flaky (failed, then passed on a re-run):");
    let style = output::WARNING;
    for t in flaky {
        let r = t.standing.result;
        let link = |url: Option<&str>| match (shown, url) {
            (false, Some(url)) => format!("  {}", clean(url)),
            _ => String::new(),
        };
        output::outln!(
            "  {style}{:<8}{style:#} {}  on {}  passed in run {}{}",
            "flaky",
            clean(test_name(r)),
            clean(&labels.of(r)),
            clean(t.standing.run_id),
            link(r.url.as_deref())
        );
        for f in &t.failures {
            output::outln!(
                "           {} in run {}{}",
                clean(f.result.status.as_str()),
                clean(f.run_id),
                link(f.result.url.as_deref())
            );
        }
    }
}

/// A failed run as exit code 1, counted from its results as every other output counts them.
pub(super) fn failed_verdict(run: &Run) -> Result<(), Error> {
    match run.status {
        Status::Failed => Err(Error::RunFailed {
            run_id: run.run_id.clone(),
            counts: Counts::of_run(run),
        }),
        _ => Ok(()),
    }
}

/// The `--junit` file's folder is writable, checked before the first request.
pub(super) fn check_report(waiting: &WaitOptions) -> Result<(), Error> {
    match &waiting.junit {
        Some(path) => Ok(report::junit::check(path)?),
        None => Ok(()),
    }
}
