//! `run`, `status`, `wait` and `ci`: building the matrix, creating the run, waiting, and the
//! verdict as an exit code. Progress (each result as it finishes) goes to stderr; the final
//! summary, or the API's run object with `--json`, to stdout.

use std::collections::HashSet;
use std::io::Write;
use std::time::Duration;

use crate::api::client::Client;
use crate::api::model::{Run, Status};
use crate::cli::{CiArgs, Connection, RunArgs, StatusArgs, TestArgs, WaitArgs, WaitOptions};
use crate::runs::{self, Auth, Destination, PollPolicy, Tests, WaitOutcome};

use super::upload::upload_all;
use super::{Error, client, print_json};

fn tests_of(args: &TestArgs) -> Result<(Tests, Auth), Error> {
    let auth: Auth = args.auth.parse()?;
    Ok((
        Tests {
            test_ids: args.tests.clone(),
            category_ids: args.categories.clone(),
        },
        auth,
    ))
}

pub async fn run(conn: &Connection, args: RunArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let request = match &args.matrix {
        Some(file) => {
            let entries = runs::read_matrix_file(file)?;
            let mut matrix = Vec::with_capacity(entries.len());
            for e in entries {
                let local = e.apk.clone().or_else(|| e.project.clone());
                let target = match local {
                    Some(path) => {
                        let ups =
                            upload_all(conn, &[path], args.selection.clone().into(), &args.upload)
                                .await?;
                        // A project with several APKs becomes one entry per APK.
                        let mut ids = ups.into_iter().map(|u| u.target_id);
                        let first = ids.next();
                        for id in ids {
                            matrix.push(e.clone().into_entry(Some(id)));
                        }
                        first
                    }
                    None => None,
                };
                matrix.push(e.into_entry(target));
            }
            crate::api::model::RunRequest { matrix }
        }
        None => {
            let (tests, auth) = tests_of(&args.tests)?;
            let mut destinations: Vec<Destination> = args
                .targets
                .iter()
                .cloned()
                .map(Destination::Target)
                .collect();
            let local: Vec<_> = args.apks.iter().chain(&args.projects).cloned().collect();
            // Check the matrix can be built before uploading anything.
            runs::matrix(&[Destination::Target(String::new())], &tests, &auth)?;
            if !local.is_empty() {
                for u in
                    upload_all(conn, &local, args.selection.clone().into(), &args.upload).await?
                {
                    destinations.push(Destination::Target(u.target_id));
                }
            }
            destinations.extend(args.binary_urls.iter().cloned().map(Destination::BinaryUrl));
            destinations.extend(args.web_urls.iter().cloned().map(Destination::WebUrl));
            runs::matrix(&destinations, &tests, &auth)?
        }
    };
    let created = client.create_run(&request).await?;
    eprintln!(
        "started run {} ({} result(s))",
        created.run_id,
        created.results.len()
    );
    if !args.wait {
        let mut out = std::io::stdout().lock();
        if args.json {
            let (_, raw) = client.get_run(&created.run_id).await?;
            print_json(&raw)?;
        } else {
            writeln!(out, "{}", created.run_id)?;
        }
        return Ok(());
    }
    wait_and_report(&client, &created.run_id, &args.waiting, args.json).await
}

pub async fn status(conn: &Connection, args: StatusArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let (run, raw) = client.get_run(&args.run_id).await?;
    print_final(&run, &raw, args.json)
}

pub async fn wait(conn: &Connection, args: WaitArgs) -> Result<(), Error> {
    let client = client(conn)?;
    wait_and_report(&client, &args.run_id, &args.waiting, args.json).await
}

pub async fn ci(conn: &Connection, args: CiArgs) -> Result<(), Error> {
    let client = client(conn)?;
    let (tests, auth) = tests_of(&args.tests)?;
    runs::matrix(&[Destination::Target(String::new())], &tests, &auth)?;
    let paths = if args.paths.is_empty() {
        vec![std::path::PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let uploaded = upload_all(conn, &paths, args.selection.into(), &args.upload).await?;
    let destinations: Vec<Destination> = uploaded
        .into_iter()
        .map(|u| Destination::Target(u.target_id))
        .collect();
    let request = runs::matrix(&destinations, &tests, &auth)?;
    let created = client.create_run(&request).await?;
    eprintln!(
        "started run {} ({} result(s))",
        created.run_id,
        created.results.len()
    );
    wait_and_report(&client, &created.run_id, &args.waiting, args.json).await
}

/// Waits, printing each result as it finishes, then prints the verdict and turns it into the
/// exit code: passed → Ok, failed → [`Error::RunFailed`], deadline → [`Error::TimedOut`].
async fn wait_and_report(
    client: &Client,
    run_id: &str,
    waiting: &WaitOptions,
    json: bool,
) -> Result<(), Error> {
    let policy = PollPolicy {
        initial: waiting.poll_interval,
        max: Duration::from_secs(15).max(waiting.poll_interval),
    };
    let mut reported: HashSet<String> = HashSet::new();
    let mut last_status: Option<Status> = None;
    let outcome = runs::wait(client, run_id, waiting.timeout, policy, |run| {
        if last_status.as_ref() != Some(&run.status) {
            eprintln!("run {}: {}", run.run_id, run.status.as_str());
            last_status = Some(run.status.clone());
        }
        for r in &run.results {
            if r.status.is_final() && reported.insert(r.result_id.clone()) {
                eprintln!("  {}", result_line(r));
            }
        }
    })
    .await?;
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

fn result_line(r: &crate::api::model::RunResult) -> String {
    let name = r.test_name.clone().unwrap_or_else(|| r.test_id.clone());
    format!(
        "{:<8} {name}  ({:.0}s)  {}",
        r.status.as_str(),
        r.duration_seconds,
        r.url.clone().unwrap_or_default()
    )
}

/// Prints the run and maps a finished-failed run to exit code 1.
fn print_final(run: &Run, raw: &serde_json::Value, json: bool) -> Result<(), Error> {
    if json {
        print_json(raw)?;
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "run {}: {} ({} test(s): {} passed, {} failed, {} running)",
            run.run_id,
            run.status.as_str(),
            run.tests_total,
            run.tests_passed,
            run.tests_failed,
            run.tests_running
        )?;
        for r in &run.results {
            writeln!(out, "  {}", result_line(r))?;
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
