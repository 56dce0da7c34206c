//! `wait`, and the wait every command that waits shares: each result printed as it finishes
//! (stderr), the reports written whatever the ending, and the verdict as the exit code.

use std::cell::RefCell;
use std::collections::HashSet;
use std::time::Duration;

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{Run, RunResult, Status};
use crate::cli::{GlobalArgs, WaitArgs, WaitOptions};
use crate::notify::Verdict;
use crate::report::{self, Ending, one_line as clean};
use crate::runs::{self, Freshness, PollPolicy, WaitOutcome};
use crate::start::Started;

use super::interrupt;
use super::output::{self, note, warning};
use super::{During, Error, context, print_json};

pub async fn run(global: &GlobalArgs, args: WaitArgs) -> Result<(), Error> {
    let client = context(global)?.client;
    check_report(&args.waiting)?;
    wait_and_report(
        &client,
        &args.waiting,
        args.json,
        Origin::Existing(args.run_id),
    )
    .await
}

/// Whose run is waited for, which decides how early 404s are read and where the reports'
/// `target_ids` come from.
pub(super) enum Origin {
    /// Created by this command: the targets of the matrix it sent.
    Created(Started),
    /// `doksi wait` on a run started elsewhere: the targets its results name.
    Existing(String),
}

impl Origin {
    fn run_id(&self) -> &str {
        match self {
            Origin::Created(s) => &s.run_id,
            Origin::Existing(id) => id,
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
            Origin::Existing(_) => (Status::Other("unknown".into()), Vec::new()),
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

/// Waits, printing each result as it finishes, then writes the reports, prints the verdict,
/// tells the team if asked (`--notify`; never an exit code of its own) and turns the verdict
/// into the exit code: passed → Ok, failed → [`Error::RunFailed`], deadline →
/// [`Error::TimedOut`], Ctrl-C or SIGTERM → [`Error::Interrupted`]. The run goes on server-side
/// in the last two, and the reports show its last known state, unfinished tests as skipped.
pub(super) async fn wait_and_report(
    client: &Client,
    waiting: &WaitOptions,
    json: bool,
    origin: Origin,
) -> Result<(), Error> {
    let run_id = origin.run_id().to_owned();
    let run_id = run_id.as_str();
    let apks = match &origin {
        Origin::Created(started) => started.apks.clone(),
        Origin::Existing(_) => Vec::new(),
    };
    let freshness = match origin {
        Origin::Created(_) => Freshness::JustCreated,
        Origin::Existing(_) => Freshness::Existing,
    };
    let policy = PollPolicy {
        initial: waiting.poll_interval,
        max: Duration::from_secs(15).max(waiting.poll_interval),
    };
    let mut reported: HashSet<String> = HashSet::new();
    let mut last_status: Option<Status> = None;
    // The latest state seen, kept outside the wait so that a signal, which drops it, still
    // leaves something to report.
    let seen: RefCell<Option<Run>> = RefCell::new(None);
    let on_update = |run: &Run| {
        if last_status.as_ref() != Some(&run.status) {
            let style = output::status_style(&run.status);
            note!(
                "run {}: {style}{}{style:#}",
                clean(&run.run_id),
                clean(run.status.as_str())
            );
            last_status = Some(run.status.clone());
        }
        for r in &run.results {
            if r.status.is_final() && reported.insert(r.result_id.clone()) {
                note!("  {}", result_line(r));
            }
        }
        *seen.borrow_mut() = Some(run.clone());
    };
    let on_trouble = |e: &ApiError| note!("doksi: polling run {run_id}: {e}; still waiting");
    let claim = interrupt::Claim::take();
    let waited = runs::wait(
        client,
        run_id,
        waiting.timeout,
        policy,
        freshness,
        on_update,
        on_trouble,
    );
    // Ok: how the wait ended. Err: doksi leaves a run that goes on, with this ending for the
    // reports and this error for the exit.
    let outcome = tokio::select! {
        outcome = waited => match (outcome, &origin) {
            (Ok(outcome), _) => Ok(outcome),
            // A run someone else started may simply not exist (a typo'd id): exit 3 as told.
            (Err(e), Origin::Existing(_)) => return Err(e.into()),
            (Err(source), Origin::Created(_)) => Err((
                Ending::TimedOut,
                Error::LostRun { run_id: run_id.to_owned(), source },
            )),
        },
        signal = claim.interrupted() => Err((
            Ending::Interrupted,
            Error::Interrupted {
                signal,
                during: During::Waiting { run_id: run_id.to_owned() },
            },
        )),
    };
    // From here a signal ends doksi as any unclaimed one does, a notification half sent or not.
    drop(claim);
    let answered = !matches!(outcome, Ok(WaitOutcome::TimedOut { last: None }));
    let (run, raw, ending) = match outcome {
        Ok(WaitOutcome::Finished { run, raw }) => (run, raw, Ending::Finished),
        Ok(WaitOutcome::TimedOut {
            last: Some((run, raw)),
        }) => (run, raw, Ending::TimedOut),
        Ok(WaitOutcome::TimedOut { last: None }) => {
            let run = origin.unseen();
            let raw = serde_json::to_value(&run).unwrap_or_default();
            (run, raw, Ending::TimedOut)
        }
        Err((ending, left)) => {
            let run = seen.take().unwrap_or_else(|| origin.unseen());
            if let Err(report) = write_reports(&run, ending, waiting, origin) {
                output::print_error(&report);
            }
            // Interrupted: a person (or a cancelled job) stopped doksi, and nobody needs telling.
            if let Error::LostRun { .. } = left {
                let told = super::notify::summary(&run, Verdict::Lost, apks);
                super::notify::tell(&waiting.notify, &told).await;
            }
            return Err(left);
        }
    };
    // Written before the verdict becomes an exit code: a failed or abandoned run is when CI
    // needs the report most. A report that cannot be written is an error of its own; it does not
    // hide the verdict, whose exit code (1, 4) is what a pipeline branches on.
    let reported = write_reports(&run, ending, waiting, origin);
    let verdict = match ending {
        Ending::TimedOut => {
            if json {
                print_json(&raw)?;
            }
            Err(Error::TimedOut {
                run_id: run.run_id.clone(),
                waited: crate::timestamp::duration(waiting.timeout),
                status: answered.then(|| run.status.as_str().to_owned()),
            })
        }
        _ => {
            // Under -q the summary is left out: the exit code and error line are the verdict.
            let shape = match (json, output::quiet()) {
                (true, _) => Shape::Json,
                (false, true) => Shape::Nothing,
                (false, false) => Shape::Text,
            };
            print_final(&run, &raw, shape)
        }
    };
    let told = match (ending, &run.status) {
        (Ending::TimedOut, _) => Verdict::TimedOut,
        (_, Status::Passed) => Verdict::Passed,
        _ => Verdict::Failed,
    };
    super::notify::tell(&waiting.notify, &super::notify::summary(&run, told, apks)).await;
    match (reported, verdict) {
        (Err(report), Err(verdict)) => {
            output::print_error(&report);
            Err(verdict)
        }
        (reported, verdict) => reported.and(verdict),
    }
}

/// The JUnit file, whose failure fails the command (the user asked for that file), and on GitHub
/// Actions the step outputs, job summary and annotations, whose failures are only warnings.
fn write_reports(
    run: &Run,
    ending: Ending,
    waiting: &WaitOptions,
    origin: Origin,
) -> Result<(), Error> {
    if let Some(github) = report::github::Context::from_env() {
        let target_ids = match origin {
            Origin::Created(started) => started.target_ids,
            Origin::Existing(_) => report::target_ids(run),
        };
        for problem in report::github::publish(&github, run, ending, &target_ids) {
            warning!("{problem}");
        }
        // Not silenced by -q: these are errors, addressed to GitHub rather than to a reader.
        for line in report::github::annotations(run) {
            output::always!("{line}");
        }
    }
    if let Some(path) = &waiting.junit {
        report::junit::write(path, run)?;
    }
    Ok(())
}

fn result_line(r: &RunResult) -> String {
    let style = output::status_style(&r.status);
    format!(
        "{style}{:<8}{style:#} {}  ({:.0}s)  {}",
        clean(r.status.as_str()),
        clean(report::test_name(r)),
        r.duration_seconds,
        clean(r.url.as_deref().unwrap_or_default())
    )
}

/// How the final run is printed: the API's object, a summary, or (under -q) not at all.
#[derive(Clone, Copy)]
pub(super) enum Shape {
    Json,
    Text,
    Nothing,
}

/// Prints the run and maps a finished-failed run to exit code 1.
pub(super) fn print_final(run: &Run, raw: &serde_json::Value, shape: Shape) -> Result<(), Error> {
    if let Shape::Json = shape {
        print_json(raw)?;
    } else if let Shape::Text = shape {
        let style = output::status_style(&run.status);
        output::outln!(
            "run {}: {style}{}{style:#} ({} test(s): {} passed, {} failed, {} running)",
            clean(&run.run_id),
            clean(run.status.as_str()),
            run.tests_total,
            run.tests_passed,
            run.tests_failed,
            run.tests_running
        );
        for r in &run.results {
            output::outln!("  {}", result_line(r));
        }
    }
    failed_verdict(run)
}

/// A failed run as exit code 1.
pub(super) fn failed_verdict(run: &Run) -> Result<(), Error> {
    match run.status {
        Status::Failed => Err(Error::RunFailed {
            run_id: run.run_id.clone(),
            failed: run.tests_failed,
            total: run.tests_total,
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
