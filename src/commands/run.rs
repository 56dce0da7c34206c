//! `run`: a run from flags, a matrix file or doksi.toml's `[[matrix]]`; with `--wait`, waited
//! for as `wait` does. Also what `run` and `ci` share: the tests and destinations their flags
//! give, and creating the run (a dry run prints its plan instead).

use std::path::PathBuf;

use crate::api::client::Client;
use crate::cli::{Effective, GlobalArgs, RunArgs, TestArgs, UploadOptions, given_as_flag};
use crate::config::ProjectConfig;
use crate::discover::{Purpose, Selection};
use crate::pipeline::{Created, Destinations, Origin, RequestSource};
use crate::runs::{self, Auth, Destination, Tests};
use crate::start::Started;
use crate::upload::batch::Plan;

use super::interrupt;
use super::output::{self, warning};
use super::upload::print_plan;
use super::wait::{check_report, wait_and_report};
use super::{During, Error, context, print_json};

pub async fn run(
    global: &GlobalArgs,
    args: RunArgs,
    project: Option<&ProjectConfig>,
    settings: &[Effective],
) -> Result<(), Error> {
    let ctx = context(global)?;
    if args.waiting.junit.is_some() && !args.wait && given_as_flag(settings, "junit") {
        return Err(Error::Usage(
            "--junit needs --wait: without waiting there is no verdict to report".into(),
        ));
    }
    if args.waiting.retries > 0 && !args.wait && given_as_flag(settings, "retries") {
        return Err(Error::Usage(
            "--retries needs --wait: without waiting there is no failed test to run again".into(),
        ));
    }
    if args.wait && !args.upload.dry_run {
        check_report(&args.waiting)?;
    }
    let selection = destinations_of(&args.selection)?;
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
    let dropped = match entries {
        Some(_) => test_flags_given(settings),
        None => Vec::new(),
    };
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
    let source = match entries {
        Some(entries) => RequestSource::matrix(entries, selection),
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
            RequestSource::flags(destinations, &tests, &auth, selection)?
        }
    };
    let retries = if args.wait { args.waiting.retries } else { 0 };
    let Some(started) = create(&ctx, &args.upload, &source, retries, args.json).await? else {
        return Ok(());
    };
    wait_or_print(&ctx.client, started, args.wait, &args.waiting, args.json).await
}

/// A run just started, waited for with `--wait`; otherwise its id (or with `--json` its run
/// object) printed for a script.
pub(super) async fn wait_or_print(
    client: &Client,
    started: Started,
    wait: bool,
    waiting: &crate::cli::WaitOptions,
    json: bool,
) -> Result<(), Error> {
    if wait {
        return wait_and_report(client, waiting, json, Origin::Created(started)).await;
    }
    if json {
        print_json(&started_json(client, &started).await?)
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
        signal = claim.interrupted() => return Err(crate::interrupt::Interrupted {
            signal,
            during: During::Waiting { run_id },
        }
        .into()),
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

/// Creates the run; `None` for a dry run, whose plan is printed instead (with the most `retries`
/// re-runs of its failed tests could add).
pub(super) async fn create(
    ctx: &crate::context::Context,
    options: &UploadOptions,
    source: &RequestSource,
    retries: u8,
    json: bool,
) -> Result<Option<Started>, Error> {
    let plan = Plan::default();
    match crate::pipeline::create(ctx, &options.into(), source, &plan).await? {
        Created::DryRun(request) => {
            print_plan(&plan, ctx.client.base_url(), Some(&request), retries, json)?;
            Ok(None)
        }
        Created::Started(started) => Ok(Some(started)),
    }
}

pub(super) fn tests_of(args: &TestArgs) -> Result<(Tests, Auth), Error> {
    let auth: Auth = args.auth.parse()?;
    let tests = Tests {
        test_ids: args.tests.clone(),
        category_ids: args.categories.clone(),
    };
    // Checked before anything is uploaded: a run that cannot be built should cost nothing.
    runs::matrix(&[Destination::Target(String::new())], &tests, &auth)?;
    Ok((tests, auth))
}

///  The selection for a run's destinations: apps only, one variant per module unless
/// `--all-variants`.
pub(super) fn destinations_of(args: &crate::cli::Selection) -> Result<Selection, Error> {
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

/// The flags naming a run's tests (`--test`, `--category`, `--auth`) given on the command line:
/// a matrix names its own, so these would be dropped by one.
pub(super) fn test_flags_given(settings: &[Effective]) -> Vec<&'static str> {
    [
        ("tests", "--test"),
        ("categories", "--category"),
        ("auth", "--auth"),
    ]
    .into_iter()
    .filter(|(key, _)| given_as_flag(settings, key))
    .map(|(_, flag)| flag)
    .collect()
}
