//! Starting a run: the request is built from its source (uploading local APKs first, behind the
//! cache), then sent once. A 404 about targets that came from the cache means they are stale
//! (deleted server-side, or a cache copied between accounts): those entries are forgotten, those
//! APKs uploaded again, and the run requested once more. Signals are listened for in both steps,
//! since what they leave on the server differs: no run before `POST /runs`, maybe one during.
//! Owns [`StartError`]; imports the stages below it (`upload`, `runs`, `api`), `context` and
//! `interrupt`, nothing of `commands`.

use std::path::PathBuf;

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{CreatedResult, RunCreated, RunRequest};
use crate::context::Context;
use crate::discover::Selection;
use crate::interrupt::{self, During};
use crate::labels::ApkLabel;
use crate::remark::Remark;
use crate::runs::{self, Auth, Destination, FileEntry, Tests};
use crate::upload::batch::{Plan, forget, ready};
use crate::upload::{Options, UploadError, Uploaded};

/// Every way starting a run can fail.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// Uploading the local APKs (selecting them included).
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// A matrix that cannot be built from the flags.
    #[error(transparent)]
    Runs(#[from] runs::RunsError),
    #[error(transparent)]
    Interrupted(#[from] interrupt::Interrupted),
    /// The server refused the run for cached targets it no longer knows, and uploading them
    /// again failed: both halves are said, since requests were sent and nothing was started.
    #[error("{refused}; no run was started, and uploading the cached targets again failed: {then}")]
    Reupload {
        refused: Box<ApiError>,
        then: Box<StartError>,
    },
}

/// Where a run's matrix comes from.
pub enum RequestSource {
    /// A matrix file, or doksi.toml's `[[matrix]]`: each entry names its tests, and an entry
    /// with `apk` or `project` becomes one entry per APK found there, uploaded.
    Matrix {
        entries: Vec<FileEntry>,
        selection: Selection,
    },
    /// Destinations × the same tests: `ci`, and `run` without a matrix.
    Flags {
        selection: Selection,
        destinations: Destinations,
        tests: Tests,
        auth: Auth,
    },
}

/// A run's destinations from flags, in matrix order: those given as ids, then the APKs found
/// in `local` (uploaded, or from the cache), then URLs.
#[derive(Default)]
pub struct Destinations {
    pub before: Vec<Destination>,
    pub local: Vec<PathBuf>,
    pub after: Vec<Destination>,
}

impl RequestSource {
    /// The request, uploading what it needs first; with the targets uploaded or taken from the
    /// cache, for the stale-target recovery, and those APKs' labels, for the notification.
    /// `options.stale` forces those hashes' uploads.
    pub async fn build(
        &self,
        ctx: &Context,
        options: &Options,
        plan: &Plan,
    ) -> Result<(RunRequest, Vec<Uploaded>, Vec<ApkLabel>), StartError> {
        match self {
            RequestSource::Matrix { entries, selection } => {
                // Every entry's APKs are selected and checked before the first is uploaded: a
                // bad third entry must not cost the first two their uploads.
                let mut readied = Vec::with_capacity(entries.len());
                for e in entries {
                    let readied_entry = match e.apk.clone().or_else(|| e.project.clone()) {
                        Some(path) => Some(ready(ctx, &[path], selection.clone(), options).await?),
                        None => None,
                    };
                    readied.push((e, readied_entry));
                }
                let mut matrix = Vec::with_capacity(readied.len());
                let mut all = Vec::new();
                let mut labels = Vec::new();
                for (e, readied_entry) in readied {
                    let Some(r) = readied_entry else {
                        matrix.push(e.clone().into_entry(None));
                        continue;
                    };
                    let named = r.labels();
                    // A project with several APKs becomes one entry per APK.
                    let ups = r.upload(options, plan).await?;
                    labels.extend(registered(named, &ups));
                    for u in &ups {
                        matrix.push(e.clone().into_entry(Some(u.target_id.clone())));
                    }
                    all.extend(ups);
                }
                Ok((RunRequest { matrix }, all, labels))
            }
            RequestSource::Flags {
                selection,
                destinations,
                tests,
                auth,
            } => {
                let (uploaded, labels) = if destinations.local.is_empty() {
                    (Vec::new(), Vec::new())
                } else {
                    let r = ready(ctx, &destinations.local, selection.clone(), options).await?;
                    let named = r.labels();
                    let ups = r.upload(options, plan).await?;
                    let labels = registered(named, &ups);
                    (ups, labels)
                };
                let mut all = destinations.before.clone();
                all.extend(
                    uploaded
                        .iter()
                        .map(|u| Destination::Target(u.target_id.clone())),
                );
                all.extend(destinations.after.iter().cloned());
                Ok((runs::matrix(&all, tests, auth)?, uploaded, labels))
            }
        }
    }
}

/// The APKs' labels with the targets they were registered as: the uploads come back in the
/// order the APKs were listed, one each.
fn registered(mut labels: Vec<ApkLabel>, uploaded: &[Uploaded]) -> Vec<ApkLabel> {
    if labels.len() == uploaded.len() {
        for (label, up) in labels.iter_mut().zip(uploaded) {
            label.target_id = Some(up.target_id.clone());
        }
    }
    labels
}

/// A run this command created, with the targets of the matrix it was created from (for the
/// reports' `target_ids`), the results `POST /runs` announced (the state to report if no poll
/// ever succeeds), the request itself (what a re-run of its failed tests repeats) and the APKs
/// doksi uploaded for it (for the notification).
pub struct Started {
    pub run_id: String,
    pub target_ids: Vec<String>,
    pub results: Vec<CreatedResult>,
    pub request: RunRequest,
    pub apks: Vec<ApkLabel>,
}

/// What [`create`] did.
pub enum Created {
    /// `--dry-run`: the request that would have been sent (the uploads are in the plan).
    DryRun(RunRequest),
    Started(Started),
}

/// Builds the request (uploading) and creates the run, recovering from stale cached targets:
/// each 404 that names cached targets has them uploaded again, however many answers it takes.
/// An APK is uploaded again at most once (its new target is cached too, and a 404 naming that
/// one is the server's answer), so there are at most as many rounds as cached targets.
pub async fn create(
    ctx: &Context,
    options: &Options,
    source: &RequestSource,
    plan: &Plan,
) -> Result<Created, StartError> {
    let (mut request, mut uploaded, mut apks) =
        before_run(source.build(ctx, options, plan)).await?;
    if options.dry_run {
        return Ok(Created::DryRun(request));
    }
    let mut options = options.clone();
    let mut renewed: Vec<String> = Vec::new();
    let created = loop {
        let e = match post_run(&ctx.client, &request).await {
            Err(StartError::Api(e)) => e,
            other => break other?,
        };
        let mut stale = stale_targets(&e, &uploaded);
        stale.retain(|u| !renewed.contains(&u.sha256));
        if stale.is_empty() {
            return Err(StartError::Api(e));
        }
        let ids: Vec<&str> = stale.iter().map(|u| u.target_id.as_str()).collect();
        ctx.remark(Remark::Note(format!(
            "{e}; the server does not know cached {} {}: uploading again",
            match ids.len() {
                1 => "target",
                _ => "targets",
            },
            ids.join(", ")
        )));
        forget(ctx, &stale);
        // The forgotten entries miss the cache now; the others are still hits.
        options.stale = stale.iter().map(|u| u.sha256.clone()).collect();
        renewed.extend(options.stale.iter().cloned());
        // Labelled anew: the APKs that were uploaded again have new targets.
        (request, uploaded, apks) = before_run(source.build(ctx, &options, plan))
            .await
            .map_err(|then| StartError::Reupload {
                refused: Box::new(e),
                then: Box::new(then),
            })?;
    };
    let sent = request;
    // The id is said before any waiting, so a dead CI runner's log still has it. Under -q it
    // is not (errors only, as asked); every error after this point names the run instead.
    ctx.remark(Remark::Step(format!(
        "started run {} ({})",
        crate::words::one_line(&created.run_id),
        crate::words::count(created.results.len(), "test")
    )));
    Ok(Created::Started(started(created, sent, apks)))
}

/// A run of a request built already (a re-run of failed tests, whose targets exist, on the APKs
/// `apks` named the first time): sent once, as [`create`] sends its own.
pub async fn again(
    client: &Client,
    request: RunRequest,
    apks: Vec<ApkLabel>,
) -> Result<Started, StartError> {
    let created = post_run(client, &request).await?;
    Ok(started(created, request, apks))
}

fn started(created: RunCreated, request: RunRequest, apks: Vec<ApkLabel>) -> Started {
    let ids = request.matrix.iter().filter_map(|e| e.target_id.clone());
    Started {
        run_id: created.run_id,
        target_ids: crate::words::unique(ids),
        results: created.results,
        request,
        apks,
    }
}

/// The work before `POST /runs` (uploads), during which a signal means no run exists yet.
async fn before_run<T>(
    work: impl std::future::Future<Output = Result<T, StartError>>,
) -> Result<T, StartError> {
    let claim = interrupt::Claim::take();
    tokio::select! {
        biased;
        done = work => done,
        signal = claim.interrupted() => Err(interrupt::Interrupted {
            signal,
            during: During::BeforeRun,
        }
        .into()),
    }
}

/// `POST /runs`, during which a signal means the run may exist.
async fn post_run(client: &Client, request: &RunRequest) -> Result<RunCreated, StartError> {
    let claim = interrupt::Claim::take();
    tokio::select! {
        // An answer that came with the signal is the better account: it has the run id.
        biased;
        created = client.create_run(request) => Ok(created?),
        signal = claim.interrupted() => Err(interrupt::Interrupted {
            signal,
            during: During::CreatingRun,
        }
        .into()),
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
