//! `wait`, and the wait every command that waits shares: each result printed as it finishes
//! (stderr), the failed tests run again as `--retries` allows, the reports written whatever the
//! ending, and the verdict as the exit code.

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{Run, RunResult, Status};
use crate::cli::{Effective, GlobalArgs, WaitArgs, WaitOptions, given_as_flag};
use crate::labels::{Labels, test_name};
use crate::notify::Verdict;
use crate::report;
use crate::rerun::{Attempts, Counts, Known, Policy, TestOutcome, attention, outcome_of};
use crate::runs::Auth;
use crate::start::{StartError, Started};
use crate::wait::{self, Ending, Freshness, Left, Until, Waited};
use crate::words::one_line as clean;

use super::output::{self, note, warning};
use super::watch::{Watch, done, result_line, tally};
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

/// Whose run is waited for, which decides how early 404s are read, where the reports'
/// `target_ids` come from, and what a re-run of its failed tests repeats.
pub(super) enum Origin {
    /// Created by this command: the targets and the entries of the matrix it sent.
    Created(Started),
    /// `doksi wait` on a run started elsewhere: the targets and destinations its results name,
    /// and the authentication `--auth` gave, if it was given.
    Existing { run_id: String, auth: Option<Auth> },
}

impl Origin {
    fn run_id(&self) -> &str {
        match self {
            Origin::Created(s) => &s.run_id,
            Origin::Existing { run_id, .. } => run_id,
        }
    }

    fn freshness(&self) -> Freshness {
        match self {
            Origin::Created(_) => Freshness::JustCreated,
            Origin::Existing { .. } => Freshness::Existing,
        }
    }

    fn known(&self) -> Known {
        match self {
            Origin::Created(s) => Known::Sent(s.request.clone()),
            Origin::Existing { auth, .. } => Known::Foreign(auth.clone()),
        }
    }

    /// The targets of the matrix sent; `None` for a run started elsewhere, whose results say.
    /// The APKs doksi uploaded for the run, for the notification; none for a run it did not start.
    fn apks(&self) -> Vec<crate::labels::ApkLabel> {
        match self {
            Origin::Created(s) => s.apks.clone(),
            Origin::Existing { .. } => Vec::new(),
        }
    }

    fn target_ids(&self) -> Option<Vec<String>> {
        match self {
            Origin::Created(s) => Some(s.target_ids.clone()),
            Origin::Existing { .. } => None,
        }
    }

    /// What is known of the run before any poll answered: the results `POST /runs` announced,
    /// all still queued, or nothing at all.
    fn unseen(&self) -> Run {
        let (status, results) = match self {
            Origin::Created(s) => (
                Status::Queued,
                s.results
                    .iter()
                    .map(|r| RunResult {
                        result_id: r.result_id.clone(),
                        test_id: r.test_id.clone(),
                        test_name: None,
                        status: Status::Queued,
                        duration_seconds: 0.0,
                        url: r.url.clone(),
                        destination: None,
                    })
                    .collect(),
            ),
            Origin::Existing { .. } => (Status::Other("unknown".into()), Vec::new()),
        };
        Run {
            run_id: self.run_id().to_owned(),
            status,
            tests_total: results.len() as u64,
            tests_passed: 0,
            tests_failed: 0,
            tests_running: 0,
            duration_seconds: 0.0,
            results,
            extra: Default::default(),
        }
    }
}

/// Waits, printing each result as it finishes; when the run fails and `--retries` allows, runs
/// its failed tests again and waits for that, until they pass or the retries are spent. Then
/// writes the reports, prints the verdict and turns it into the exit code: passed → Ok, failed
/// → [`Error::RunFailed`] (after re-runs, [`Error::Retried`]), deadline → [`Error::TimedOut`],
/// Ctrl-C or SIGTERM → [`Error::Interrupted`]. The run goes on server-side in the last two, and
/// the reports show its last known state, unfinished tests as skipped.
pub(super) async fn wait_and_report(
    client: &Client,
    waiting: &WaitOptions,
    json: bool,
    origin: Origin,
) -> Result<(), Error> {
    let policy = Policy {
        retries: waiting.retries,
        fail_on_flaky: waiting.fail_on_flaky,
    };
    let target_ids = origin.target_ids();
    let apks = origin.apks();
    let labels = Labels::new(&apks);
    let first = wait_one(client, waiting, &origin, &labels).await?;
    let mut attempts = Attempts::new(origin.known(), policy, first.run, first.raw);
    let (mut ending, mut answered, mut left) = (first.ending, first.answered, first.left);
    // Set when a re-run could not be started: the command ends with it, after the reports.
    let mut stopped: Option<Error> = None;
    while ending == Ending::Finished && left.is_none() {
        let rerun = match attempts.next() {
            Ok(Some(rerun)) => rerun,
            Ok(None) => break,
            Err(refusal) => {
                warning!("{refusal}: it is not re-run, and its verdict stands");
                break;
            }
        };
        let started = match crate::start::again(client, rerun.request.clone(), apks.clone()).await {
            Ok(started) => started,
            Err(e) => match quota(&e) {
                // A test failed, and that is what the exit code says (1), not the billing (5)
                // of the re-run that would have looked again.
                Some((requested, remaining)) => {
                    warning!(
                        "re-run {} of {} was refused for the test credit quota: it needed {} and {}; the failed tests were not run again, and the failed verdict stands",
                        rerun.number,
                        policy.retries,
                        count(requested, "credit"),
                        crate::words::remain(remaining, "credit")
                    );
                    break;
                }
                None => {
                    stopped = Some(e.into());
                    break;
                }
            },
        };
        note!(
            "started run {}, re-run {} of {}: {} that failed",
            clean(&started.run_id),
            rerun.number,
            policy.retries,
            count(rerun.tests, "test")
        );
        let waited = wait_one(client, waiting, &Origin::Created(started), &labels).await?;
        attempts.push(&rerun, waited.run, waited.raw);
        (ending, answered, left) = (waited.ending, waited.answered, waited.left);
    }
    if let Some(left) = left {
        if let Err(report) = write_reports(&attempts, ending, waiting, target_ids, &labels) {
            output::print_error(&report);
        }
        // Interrupted: a person (or a cancelled job) stopped doksi, and nobody needs telling.
        if let Left::Lost(_) = left {
            let told = super::notify::of_attempts(&attempts, Verdict::Lost, apks);
            super::notify::tell(&waiting.notify, &told).await;
        }
        return Err(left.into());
    }
    // Written before the verdict becomes an exit code: a failed or abandoned run is when CI
    // needs the report most. A report that cannot be written is an error of its own; it does not
    // hide the verdict, whose exit code (1, 4) is what a pipeline branches on.
    let reported = write_reports(&attempts, ending, waiting, target_ids, &labels);
    let verdict = match ending {
        Ending::TimedOut => {
            if json {
                print_json(&attempts.to_json())?;
            }
            let last = attempts.last();
            Err(Error::TimedOut {
                run_id: last.run_id.clone(),
                waited: crate::timestamp::duration(waiting.timeout),
                status: answered
                    .then(|| format!("{}, {}", clean(last.status.as_str()), done(last))),
            })
        }
        _ => {
            // Under -q the summary is left out: the exit code and error line are the verdict.
            let shape = match (json, output::quiet()) {
                (true, _) => Shape::Json,
                (false, true) => Shape::Nothing,
                (false, false) => Shape::Text,
            };
            print_attempts(&attempts, shape, &labels)
        }
    };
    let told = match ending {
        Ending::TimedOut => Verdict::TimedOut,
        _ if stopped.is_none() && attempts.verdict() == crate::rerun::Verdict::Passed => {
            Verdict::Passed
        }
        _ => Verdict::Failed,
    };
    let told = super::notify::of_attempts(&attempts, told, apks);
    super::notify::tell(&waiting.notify, &told).await;
    // A re-run that could not be started (the request was lost: exit 3) ends the command once
    // what the runs so far came to is printed and reported.
    let verdict = match (stopped, verdict) {
        (Some(stopped), Err(verdict)) => {
            output::print_error(&verdict);
            Err(stopped)
        }
        (Some(stopped), Ok(())) => Err(stopped),
        (None, verdict) => verdict,
    };
    match (reported, verdict) {
        (Err(report), Err(verdict)) => {
            output::print_error(&report);
            Err(verdict)
        }
        (reported, verdict) => reported.and(verdict),
    }
}

/// The credits asked for and left, when `e` is the API's quota refusal.
fn quota(e: &StartError) -> Option<(u64, u64)> {
    match e {
        StartError::Api(e) => match e.root() {
            ApiError::Quota {
                requested,
                remaining,
            } => Some((*requested, *remaining)),
            _ => None,
        },
        _ => None,
    }
}

/// Waits for one run, printing its status changes and each result as it finishes. An error is
/// returned only for a run started elsewhere that cannot be read (a typo'd id: exit 3).
async fn wait_one(
    client: &Client,
    waiting: &WaitOptions,
    origin: &Origin,
    labels: &Labels,
) -> Result<Waited, Error> {
    // With re-runs to come, a run reported failed while tests go on is followed until they end:
    // a re-run holds only what failed, and the verdict counts what happened. Without, the
    // roll-up is the gate, as the docs say.
    let until = match waiting.retries {
        0 => Until::RollUp,
        _ => Until::EveryResult,
    };
    let run_id = origin.run_id();
    let mut watch = Watch::new(run_id, labels, until);
    let (freshness, unseen) = (origin.freshness(), origin.unseen());
    wait::one(
        client,
        run_id,
        waiting.into(),
        until,
        freshness,
        unseen,
        &mut watch,
    )
    .await
    .map_err(Error::reading_given_run)
}

/// The JUnit file, whose failure fails the command (the user asked for that file), and on GitHub
/// Actions the step outputs, job summary and annotations, whose failures are only warnings.
fn write_reports(
    attempts: &Attempts,
    ending: Ending,
    waiting: &WaitOptions,
    target_ids: Option<Vec<String>>,
    labels: &Labels,
) -> Result<(), Error> {
    if let Some(github) = report::github::Context::from_env() {
        let target_ids = target_ids.unwrap_or_else(|| crate::labels::target_ids(attempts.first()));
        for problem in report::github::publish(&github, attempts, ending, &target_ids, labels) {
            warning!("{problem}");
        }
        // Not silenced by -q: these are errors (and warnings of flaky tests), addressed to
        // GitHub rather than to a reader.
        for line in report::github::annotations(attempts, labels) {
            output::always!("{line}");
        }
    }
    if let Some(path) = &waiting.junit {
        report::junit::write(path, attempts, labels)?;
    }
    Ok(())
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
