//! `run`, `status`, `wait` and `ci`: building the matrix, creating the run, waiting, and the
//! verdict as an exit code. Progress (each result as it finishes) goes to stderr; the final
//! summary, or the API's run object with `--json`, to stdout.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{CreatedResult, Run, RunCreated, RunRequest, RunResult, Status};
use crate::cli::{
    CiArgs, GlobalArgs, RunArgs, StatusArgs, TestArgs, UploadOptions, WaitArgs, WaitOptions,
};
use crate::config::ProjectConfig;
use crate::discover::{Purpose, Selection};
use crate::report::{self, Ending};
use crate::runs::{self, Auth, Destination, Freshness, PollPolicy, Tests, WaitOutcome};
use crate::upload::Uploaded;

use super::interrupt;
use super::output::{self, note, warning};
use super::upload::{Plan, forget, ready, upload_all};
use super::{During, Error, client, print_json};

fn tests_of(args: &TestArgs) -> Result<(Tests, Auth), Error> {
    let auth: Auth = args.auth.parse()?;
    let tests = Tests {
        test_ids: args.tests.clone(),
        category_ids: args.categories.clone(),
    };
    // Checked before anything is uploaded: a run that cannot be built should cost nothing.
    runs::matrix(&[Destination::Target(String::new())], &tests, &auth)?;
    Ok((tests, auth))
}

/// Builds the request, uploading local APKs first; `options.force` re-uploads them.
type Build<'a> = Box<
    dyn Fn(
            UploadOptions,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(RunRequest, Vec<Uploaded>), Error>> + 'a>,
        > + 'a,
>;

/// A run this command created, with the targets of the matrix it was created from (for the
/// reports' `target_ids`) and the results `POST /runs` announced (the state to report if no
/// poll ever succeeds).
struct Started {
    run_id: String,
    target_ids: Vec<String>,
    results: Vec<CreatedResult>,
}

/// Creates the run. If the server answers 404 about targets that came from the cache, those
/// entries are stale (deleted server-side, or a cache copied between accounts): forget them,
/// upload them again, and try once more. `None`: a dry run, which printed the request instead.
async fn create(
    conn: &GlobalArgs,
    client: &Client,
    options: &UploadOptions,
    build: Build<'_>,
    plan: &Plan,
) -> Result<Option<Started>, Error> {
    let (request, uploaded) = before_run(build(options.clone())).await?;
    if options.dry_run {
        plan.finish(client.base_url(), Some(&request))?;
        return Ok(None);
    }
    let (created, sent) = match post_run(client, &request).await {
        // Cheap to work out twice (a few ids), and a guard keeps every other error on one path.
        Err(Error::Api(e)) if !stale_targets(&e, &uploaded).is_empty() => {
            let stale = stale_targets(&e, &uploaded);
            let ids: Vec<&str> = stale.iter().map(|u| u.target_id.as_str()).collect();
            note!(
                "doksi: {e}; the server does not know cached target(s) {}: uploading again",
                ids.join(", ")
            );
            forget(conn, client, &stale);
            // The forgotten entries miss the cache now; the others are still hits.
            let stale_hashes = stale.iter().map(|u| u.sha256.clone()).collect();
            let (request, _) = before_run(build(UploadOptions {
                stale: stale_hashes,
                ..options.clone()
            }))
            .await
            .map_err(|then| Error::Reupload {
                refused: Box::new(e),
                then: Box::new(then),
            })?;
            (post_run(client, &request).await?, request)
        }
        other => (other?, request),
    };
    // The id is printed before any waiting, so a dead CI runner's log still has it. Under -q it
    // is not (errors only, as asked); every error after this point names the run instead.
    note!(
        "started run {} ({} result(s))",
        clean(&created.run_id),
        created.results.len()
    );
    let ids = sent.matrix.iter().filter_map(|e| e.target_id.clone());
    Ok(Some(Started {
        run_id: created.run_id,
        target_ids: report::unique(ids),
        results: created.results,
    }))
}

/// The work before `POST /runs` (uploads), during which a signal means no run exists yet.
async fn before_run<T>(
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let claim = interrupt::Claim::take();
    tokio::select! {
        biased;
        done = work => done,
        signal = claim.interrupted() => Err(Error::Interrupted {
            signal,
            during: During::BeforeRun,
        }),
    }
}

/// `POST /runs`, during which a signal means the run may exist.
async fn post_run(client: &Client, request: &RunRequest) -> Result<RunCreated, Error> {
    let claim = interrupt::Claim::take();
    tokio::select! {
        // An answer that came with the signal is the better account: it has the run id.
        biased;
        created = client.create_run(request) => Ok(created?),
        signal = claim.interrupted() => Err(Error::Interrupted {
            signal,
            during: During::CreatingRun,
        }),
    }
}

/// The cached targets a 404 from `POST /runs` plausibly refers to: those its message names, or
/// every cached one when the answer says nothing. A 404 that names something else (an unknown
/// category or test) is the server's answer about the input, and nothing is uploaded again.
fn stale_targets(e: &ApiError, uploaded: &[Uploaded]) -> Vec<Uploaded> {
    let root = e.root();
    if root.status() != Some(404) {
        return Vec::new();
    }
    let said = match root {
        ApiError::Api { message, .. } => message.trim(),
        ApiError::NotJson { first_line, .. } if first_line.starts_with("(empty body)") => "",
        _ => return Vec::new(),
    };
    let cached = uploaded.iter().filter(|u| u.cached);
    if said.is_empty() || said == "{}" {
        return cached.cloned().collect();
    }
    // Whole ids only: `bin_1` is not named by "target bin_12 not found".
    let words: Vec<&str> = said
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .collect();
    cached
        .filter(|u| words.contains(&u.target_id.as_str()))
        .cloned()
        .collect()
}

pub async fn run(
    conn: &GlobalArgs,
    args: RunArgs,
    project: Option<&ProjectConfig>,
    flagged: &dyn Fn(&str) -> bool,
) -> Result<(), Error> {
    let client = client(conn)?;
    if args.waiting.junit.is_some() && !args.wait && flagged("junit") {
        return Err(Error::Usage(
            "--junit needs --wait: without waiting there is no verdict to report".into(),
        ));
    }
    if args.wait && !args.upload.dry_run {
        check_report(&args.waiting)?;
    }
    let selection = destinations_of(&args.selection)?;
    let plan = Plan::new(args.json);
    let plan = &plan;
    let no_destination = args.targets.is_empty()
        && args.apks.is_empty()
        && args.projects.is_empty()
        && args.binary_urls.is_empty()
        && args.web_urls.is_empty();
    let entries = match (&args.matrix, project) {
        (Some(file), _) => Some(runs::read_matrix_file(file)?),
        // doksi.toml's [[matrix]] stands in for destinations the command line did not give.
        (None, Some(p)) if no_destination && !p.matrix.is_empty() => Some(p.matrix.clone()),
        _ => None,
    };
    // A matrix's entries name their own tests. Flags that would be dropped are an error; the
    // environment's and doksi.toml's values are defaults, and a matrix is more specific.
    let dropped: Vec<&str> = [
        ("tests", "--test"),
        ("categories", "--category"),
        ("auth", "--auth"),
    ]
    .into_iter()
    .filter(|(key, _)| entries.is_some() && flagged(key))
    .map(|(_, flag)| flag)
    .collect();
    if !dropped.is_empty() {
        let from = match &args.matrix {
            Some(file) => format!("--matrix {}", file.display()),
            None => "the [[matrix]] in doksi.toml".to_owned(),
        };
        return Err(Error::Usage(format!(
            "{} cannot be combined with {from}: its entries name their own tests (give a destination such as --apk to use flags)",
            dropped.join(", ")
        )));
    }
    let build: Build<'_> = match entries {
        Some(entries) => Box::new(move |options| {
            let entries = entries.clone();
            let selection = selection.clone();
            Box::pin(async move {
                // Every entry's APKs are selected and checked before the first is uploaded: a
                // bad third entry must not cost the first two their uploads.
                let mut readied = Vec::with_capacity(entries.len());
                for e in entries {
                    let ready = match e.apk.clone().or_else(|| e.project.clone()) {
                        Some(path) => {
                            Some(ready(conn, &[path], selection.clone(), &options).await?)
                        }
                        None => None,
                    };
                    readied.push((e, ready));
                }
                let mut matrix = Vec::with_capacity(readied.len());
                let mut all = Vec::new();
                for (e, ready) in readied {
                    let Some(ready) = ready else {
                        matrix.push(e.into_entry(None));
                        continue;
                    };
                    // A project with several APKs becomes one entry per APK.
                    let ups = ready.upload(&options, plan).await?;
                    for u in &ups {
                        matrix.push(e.clone().into_entry(Some(u.target_id.clone())));
                    }
                    all.extend(ups);
                }
                Ok((RunRequest { matrix }, all))
            })
        }),
        None => {
            let (tests, auth) = tests_of(&args.tests)?;
            let local: Vec<PathBuf> = args.apks.iter().chain(&args.projects).cloned().collect();
            let targets = args.targets.iter().cloned().map(Destination::Target);
            let binaries = args.binary_urls.iter().cloned().map(Destination::BinaryUrl);
            let webs = args.web_urls.iter().cloned().map(Destination::WebUrl);
            let destinations = Destinations {
                before: targets.collect(),
                local,
                after: binaries.chain(webs).collect(),
            };
            from_flags(conn, plan, selection, destinations, tests, auth)
        }
    };
    let Some(started) = create(conn, &client, &args.upload, build, plan).await? else {
        return Ok(());
    };
    if args.wait {
        return wait_and_report(&client, &args.waiting, args.json, Origin::Created(started)).await;
    }
    if args.json {
        print_json(&started_json(&client, &started).await?)
    } else {
        output::outln!("{}", started.run_id);
        Ok(())
    }
}

/// The run just created, as `run --json` prints it: the API's run object, or, when that one
/// look fails, the id and results `POST /runs` gave, with a warning. The run exists either way,
/// and a script that gets no id (and an exit 3 it retries) would start a second one.
async fn started_json(client: &Client, started: &Started) -> Result<serde_json::Value, Error> {
    let claim = interrupt::Claim::take();
    let run_id = started.run_id.clone();
    let looked = tokio::select! {
        biased;
        looked = client.get_run(&run_id) => looked,
        signal = claim.interrupted() => return Err(Error::Interrupted {
            signal,
            during: During::Waiting { run_id },
        }),
    };
    Ok(match looked {
        Ok((_, raw)) => raw,
        Err(e) => {
            warning!("run {run_id} was started, but reading it back failed: {e}");
            serde_json::json!({
                "run_id": run_id,
                "results": started.results.iter().map(|r| serde_json::json!({
                    "result_id": r.result_id, "test_id": r.test_id, "url": r.url,
                })).collect::<Vec<_>>(),
            })
        }
    })
}

pub async fn status(conn: &GlobalArgs, args: StatusArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let (run, raw) = client.get_run(&args.run_id).await?;
    let shape = if args.json { Shape::Json } else { Shape::Text };
    print_final(&run, &raw, shape)
}

pub async fn wait(conn: &GlobalArgs, args: WaitArgs) -> Result<(), Error> {
    let client = client(conn)?;
    check_report(&args.waiting)?;
    wait_and_report(
        &client,
        &args.waiting,
        args.json,
        Origin::Existing(args.run_id),
    )
    .await
}

pub async fn ci(
    conn: &GlobalArgs,
    args: CiArgs,
    project: Option<&ProjectConfig>,
) -> Result<(), Error> {
    let client = client(conn)?;
    let (tests, auth) = tests_of(&args.tests)?;
    if !args.upload.dry_run {
        check_report(&args.waiting)?;
    }
    let paths = if args.paths.is_empty() {
        // The project doksi.toml stands for, wherever in it doksi was started.
        vec![project.map_or_else(|| PathBuf::from("."), |p| p.root.clone())]
    } else {
        args.paths.clone()
    };
    let selection = destinations_of(&args.selection)?;
    let plan = Plan::new(args.json);
    let plan = &plan;
    let destinations = Destinations {
        local: paths,
        ..Destinations::default()
    };
    let build = from_flags(conn, plan, selection, destinations, tests, auth);
    let Some(started) = create(conn, &client, &args.upload, build, plan).await? else {
        return Ok(());
    };
    wait_and_report(&client, &args.waiting, args.json, Origin::Created(started)).await
}

/// The selection for a run's destinations: apps only, one variant per module unless
/// `--all-variants`.
fn destinations_of(args: &crate::cli::Selection) -> Result<Selection, Error> {
    if args.include_tests {
        return Err(Error::Usage(
            "--include-tests cannot be used with a run: an instrumentation (androidTest) APK tests another app and is not a destination".into(),
        ));
    }
    Ok(Selection {
        purpose: Purpose::Destinations,
        ..args.clone().into()
    })
}

/// The `--junit` file's folder is writable, checked before the first request.
fn check_report(waiting: &WaitOptions) -> Result<(), Error> {
    match &waiting.junit {
        Some(path) => Ok(report::junit::check(path)?),
        None => Ok(()),
    }
}

/// A run's destinations from flags, in matrix order: those given as ids, then the APKs found
/// in `local` (uploaded, or from the cache), then URLs.
#[derive(Default)]
struct Destinations {
    before: Vec<Destination>,
    local: Vec<PathBuf>,
    after: Vec<Destination>,
}

/// The request for `destinations` × the same tests, uploading the local APKs first; for `ci` and
/// for `run` without a matrix.
fn from_flags<'a>(
    conn: &'a GlobalArgs,
    plan: &'a Plan,
    selection: Selection,
    destinations: Destinations,
    tests: Tests,
    auth: Auth,
) -> Build<'a> {
    Box::new(move |options| {
        let (tests, auth, selection) = (tests.clone(), auth.clone(), selection.clone());
        let Destinations {
            before,
            local,
            after,
        } = &destinations;
        let (mut all, local, after) = (before.clone(), local.clone(), after.clone());
        Box::pin(async move {
            let uploaded = if local.is_empty() {
                Vec::new()
            } else {
                upload_all(conn, &local, selection, &options, plan).await?
            };
            all.extend(
                uploaded
                    .iter()
                    .map(|u| Destination::Target(u.target_id.clone())),
            );
            all.extend(after);
            Ok((runs::matrix(&all, &tests, &auth)?, uploaded))
        })
    })
}

/// Whose run is waited for, which decides how early 404s are read and where the reports'
/// `target_ids` come from.
enum Origin {
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

/// Waits, printing each result as it finishes, then writes the reports and prints the verdict
/// and turns it into the exit code: passed → Ok, failed → [`Error::RunFailed`], deadline →
/// [`Error::TimedOut`], Ctrl-C or SIGTERM → [`Error::Interrupted`]. The run goes on server-side
/// in the last two, and the reports show its last known state, unfinished tests as skipped.
async fn wait_and_report(
    client: &Client,
    waiting: &WaitOptions,
    json: bool,
    origin: Origin,
) -> Result<(), Error> {
    let run_id = origin.run_id().to_owned();
    let run_id = run_id.as_str();
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

/// Text from the API made safe for one log line: a line break in an id, a name or a status would
/// start a line of its own, which GitHub's runner could read as a workflow command.
fn clean(s: &str) -> String {
    s.replace(char::is_control, " ")
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
enum Shape {
    Json,
    Text,
    Nothing,
}

/// Prints the run and maps a finished-failed run to exit code 1.
fn print_final(run: &Run, raw: &serde_json::Value, shape: Shape) -> Result<(), Error> {
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
    match run.status {
        Status::Failed => Err(Error::RunFailed {
            run_id: run.run_id.clone(),
            failed: run.tests_failed,
            total: run.tests_total,
        }),
        _ => Ok(()),
    }
}
