//! `run`, `status`, `wait` and `ci`: building the matrix, creating the run, waiting, and the
//! verdict as an exit code. Progress (each result as it finishes) goes to stderr; the final
//! summary, or the API's run object with `--json`, to stdout.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::client::{ApiError, Client};
use crate::api::model::{RunCreated, RunRequest, RunResult, Status};
use crate::cli::{
    CiArgs, Connection, RunArgs, StatusArgs, TestArgs, UploadOptions, WaitArgs, WaitOptions,
};
use crate::discover::Selection;
use crate::runs::{self, Auth, Destination, Freshness, PollPolicy, Tests, WaitOutcome};
use crate::upload::Uploaded;

use super::upload::{forget, upload_all};
use super::{Error, client, print_json};

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

/// Creates the run. If the server says a target is unknown (404) and targets came from the cache,
/// those entries are stale (deleted server-side, or a cache copied between accounts): forget them,
/// upload again, and try once more.
async fn create(
    conn: &Connection,
    client: &Client,
    options: &UploadOptions,
    build: Build<'_>,
) -> Result<RunCreated, Error> {
    let (request, uploaded) = build(options.clone()).await?;
    let created = match client.create_run(&request).await {
        Err(e) if e.root().status() == Some(404) && uploaded.iter().any(|u| u.cached) => {
            eprintln!("doksi: {e}; the cached target may be stale, uploading again");
            forget(conn, client, &uploaded)?;
            let (request, _) = build(UploadOptions {
                force: true,
                ..options.clone()
            })
            .await?;
            client.create_run(&request).await?
        }
        other => other?,
    };
    // The id is printed before any waiting, so it is never lost (Ctrl-C, a dead CI runner).
    eprintln!(
        "started run {} ({} result(s))",
        created.run_id,
        created.results.len()
    );
    Ok(created)
}

pub async fn run(conn: &Connection, args: RunArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let selection: Selection = args.selection.clone().into();
    let build: Build<'_> = match &args.matrix {
        Some(file) => {
            let entries = runs::read_matrix_file(file)?;
            let selection = selection.clone();
            Box::new(move |options| {
                let entries = entries.clone();
                let selection = selection.clone();
                Box::pin(async move {
                    let mut matrix = Vec::with_capacity(entries.len());
                    let mut all = Vec::new();
                    for e in entries {
                        let Some(path) = e.apk.clone().or_else(|| e.project.clone()) else {
                            matrix.push(e.into_entry(None));
                            continue;
                        };
                        // A project with several APKs becomes one entry per APK.
                        let ups = upload_all(conn, &[path], selection.clone(), &options).await?;
                        for u in &ups {
                            matrix.push(e.clone().into_entry(Some(u.target_id.clone())));
                        }
                        all.extend(ups);
                    }
                    Ok((RunRequest { matrix }, all))
                })
            })
        }
        None => {
            let (tests, auth) = tests_of(&args.tests)?;
            let local: Vec<PathBuf> = args.apks.iter().chain(&args.projects).cloned().collect();
            let args = &args;
            Box::new(move |options| {
                let (tests, auth, local, selection) = (
                    tests.clone(),
                    auth.clone(),
                    local.clone(),
                    selection.clone(),
                );
                Box::pin(async move {
                    let mut destinations: Vec<Destination> = args
                        .targets
                        .iter()
                        .cloned()
                        .map(Destination::Target)
                        .collect();
                    let uploaded = if local.is_empty() {
                        Vec::new()
                    } else {
                        upload_all(conn, &local, selection, &options).await?
                    };
                    destinations.extend(
                        uploaded
                            .iter()
                            .map(|u| Destination::Target(u.target_id.clone())),
                    );
                    destinations
                        .extend(args.binary_urls.iter().cloned().map(Destination::BinaryUrl));
                    destinations.extend(args.web_urls.iter().cloned().map(Destination::WebUrl));
                    Ok((runs::matrix(&destinations, &tests, &auth)?, uploaded))
                })
            })
        }
    };
    let created = create(conn, &client, &args.upload, build).await?;
    if args.wait {
        return wait_and_report(
            &client,
            &created.run_id,
            &args.waiting,
            Freshness::JustCreated,
            args.json,
        )
        .await;
    }
    if args.json {
        let (_, raw) = client.get_run(&created.run_id).await?;
        print_json(&raw)
    } else {
        println!("{}", created.run_id);
        Ok(())
    }
}

pub async fn status(conn: &Connection, args: StatusArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let (run, raw) = client.get_run(&args.run_id).await?;
    print_final(&run, &raw, args.json)
}

pub async fn wait(conn: &Connection, args: WaitArgs) -> Result<(), Error> {
    let client = client(conn)?;
    wait_and_report(
        &client,
        &args.run_id,
        &args.waiting,
        Freshness::Existing,
        args.json,
    )
    .await
}

pub async fn ci(conn: &Connection, args: CiArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let (tests, auth) = tests_of(&args.tests)?;
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let selection: Selection = args.selection.clone().into();
    let build: Build<'_> = Box::new(move |options| {
        let (tests, auth, paths, selection) = (
            tests.clone(),
            auth.clone(),
            paths.clone(),
            selection.clone(),
        );
        Box::pin(async move {
            let uploaded = upload_all(conn, &paths, selection, &options).await?;
            let destinations: Vec<Destination> = uploaded
                .iter()
                .map(|u| Destination::Target(u.target_id.clone()))
                .collect();
            Ok((runs::matrix(&destinations, &tests, &auth)?, uploaded))
        })
    });
    let created = create(conn, &client, &args.upload, build).await?;
    wait_and_report(
        &client,
        &created.run_id,
        &args.waiting,
        Freshness::JustCreated,
        args.json,
    )
    .await
}

/// Waits, printing each result as it finishes, then prints the verdict and turns it into the
/// exit code: passed → Ok, failed → [`Error::RunFailed`], deadline → [`Error::TimedOut`],
/// Ctrl-C → [`Error::Interrupted`] (the run goes on server-side).
async fn wait_and_report(
    client: &Client,
    run_id: &str,
    waiting: &WaitOptions,
    freshness: Freshness,
    json: bool,
) -> Result<(), Error> {
    let policy = PollPolicy {
        initial: waiting.poll_interval,
        max: Duration::from_secs(15).max(waiting.poll_interval),
    };
    let mut reported: HashSet<String> = HashSet::new();
    let mut last_status: Option<Status> = None;
    let on_update = |run: &crate::api::model::Run| {
        if last_status.as_ref() != Some(&run.status) {
            eprintln!("run {}: {}", run.run_id, run.status.as_str());
            last_status = Some(run.status.clone());
        }
        for r in &run.results {
            if r.status.is_final() && reported.insert(r.result_id.clone()) {
                eprintln!("  {}", result_line(r));
            }
        }
    };
    let on_trouble = |e: &ApiError| eprintln!("doksi: polling run {run_id}: {e}; still waiting");
    let waited = runs::wait(
        client,
        run_id,
        waiting.timeout,
        policy,
        freshness,
        on_update,
        on_trouble,
    );
    let outcome = tokio::select! {
        outcome = waited => outcome?,
        _ = tokio::signal::ctrl_c() => return Err(Error::Interrupted { run_id: run_id.to_owned() }),
    };
    match outcome {
        WaitOutcome::Finished { run, raw } => print_final(&run, &raw, json),
        WaitOutcome::TimedOut { run, raw } => {
            if json {
                print_json(&raw)?;
            }
            Err(Error::TimedOut {
                run_id: run.run_id,
                waited: format!("{:?}", waiting.timeout),
                status: run.status.as_str().to_owned(),
            })
        }
    }
}

fn result_line(r: &RunResult) -> String {
    let name = r.test_name.clone().unwrap_or_else(|| r.test_id.clone());
    format!(
        "{:<8} {name}  ({:.0}s)  {}",
        r.status.as_str(),
        r.duration_seconds,
        r.url.clone().unwrap_or_default()
    )
}

/// Prints the run and maps a finished-failed run to exit code 1.
fn print_final(
    run: &crate::api::model::Run,
    raw: &serde_json::Value,
    json: bool,
) -> Result<(), Error> {
    if json {
        print_json(raw)?;
    } else {
        println!(
            "run {}: {} ({} test(s): {} passed, {} failed, {} running)",
            run.run_id,
            run.status.as_str(),
            run.tests_total,
            run.tests_passed,
            run.tests_failed,
            run.tests_running
        );
        for r in &run.results {
            println!("  {}", result_line(r));
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
