//! The pipeline: the one place the stages meet, in their order. [`create`]: select → upload
//! (behind the cache) → start, with the stale-target recovery (a 404 naming cached targets has
//! those APKs uploaded again and the run requested once more). [`follow`]: wait → re-run the
//! failed tests as `--retries` allows, over attempts. Then what the attempts came to:
//! [`report`] (the reports the ending calls for) and [`tell`] (the team's webhook), two calls so
//! that the verdict can be printed between them and a slow webhook never holds it back.
//! It never prints: what is said on the way goes to a [`Reporter`](crate::remark::Reporter) or
//! an [`Observer`]. Owns [`CreateError`]; imports the stages (`upload`, `start`, `wait`,
//! `rerun`, `report`, `notify`) and what they share; no stage imports it, nor it `commands`.

use std::path::{Path, PathBuf};

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{Run, RunRequest, RunResult, Status};
use crate::context::Context;
use crate::discover::Selection;
use crate::interrupt::{self, During, Interrupted};
use crate::labels::{ApkLabel, Labels};
use crate::notify::{self, Delivery, NotifyError, Summary, Verdict};
use crate::remark::Remark;
use crate::report;
use crate::rerun::{Attempts, Known, Policy};
use crate::runs::{self, Auth, Destination, FileEntry, RunsError, Tests};
use crate::start::{self, StartError, Started};
use crate::upload::batch::{Plan, forget, ready, stale_targets};
use crate::upload::{Options as UploadOptions, UploadError, Uploaded};
use crate::wait::{self, Ending, Freshness, Left, Until};
use crate::webhook::{NotifyOn, WebhookUrl};
use crate::words;

/// Every way creating a run can fail: what is local (selecting, checking, uploading, a matrix
/// that cannot be built) and what the server said.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// Uploading the local APKs (selecting them included).
    #[error(transparent)]
    Upload(#[from] UploadError),
    /// A matrix that cannot be built from the flags.
    #[error(transparent)]
    Runs(#[from] RunsError),
    #[error(transparent)]
    Start(#[from] StartError),
    /// A signal before `POST /runs`: no run exists.
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    /// The server refused the run for cached targets it no longer knows, and uploading them
    /// again failed: both halves are said, since requests were sent and nothing was started.
    #[error("{refused}; no run was started, and uploading the cached targets again failed: {then}")]
    Reupload {
        refused: Box<ApiError>,
        then: Box<CreateError>,
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
        options: &UploadOptions,
        plan: &Plan,
    ) -> Result<(RunRequest, Vec<Uploaded>, Vec<ApkLabel>), CreateError> {
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
    options: &UploadOptions,
    source: &RequestSource,
    plan: &Plan,
) -> Result<Created, CreateError> {
    let (mut request, mut uploaded, mut apks) =
        before_run(source.build(ctx, options, plan)).await?;
    if options.dry_run {
        return Ok(Created::DryRun(request));
    }
    let mut options = options.clone();
    let mut renewed: Vec<String> = Vec::new();
    let created = loop {
        let e = match start::post(&ctx.client, request.clone(), apks.clone()).await {
            Err(StartError::Api(e)) => e,
            other => break other?,
        };
        let mut stale = stale_targets(&e, &uploaded);
        stale.retain(|u| !renewed.contains(&u.sha256));
        if stale.is_empty() {
            return Err(StartError::Api(e).into());
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
            .map_err(|then| CreateError::Reupload {
                refused: Box::new(e),
                then: Box::new(then),
            })?;
    };
    // The id is said before any waiting, so a dead CI runner's log still has it. Under -q it
    // is not (errors only, as asked); every error after this point names the run instead.
    ctx.remark(Remark::Step(format!(
        "started run {} ({})",
        words::one_line(&created.run_id),
        words::count(created.results.len(), "test")
    )));
    Ok(Created::Started(created))
}

/// The work before `POST /runs` (uploads), during which a signal means no run exists yet.
async fn before_run<T>(
    work: impl std::future::Future<Output = Result<T, CreateError>>,
) -> Result<T, CreateError> {
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

/// Whose run is followed, which decides how early 404s are read, where the reports'
/// `target_ids` come from, and what a re-run of its failed tests repeats.
pub enum Origin {
    /// Created by this command: the targets and the entries of the matrix it sent.
    Created(Started),
    /// `doksi wait` on a run started elsewhere: the targets and destinations its results name,
    /// and the authentication `--auth` gave, if it was given.
    Existing { run_id: String, auth: Option<Auth> },
}

impl Origin {
    pub fn run_id(&self) -> &str {
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

    /// The APKs doksi uploaded for the run, for the notification; none for a run it did not start.
    pub fn apks(&self) -> Vec<ApkLabel> {
        match self {
            Origin::Created(s) => s.apks.clone(),
            Origin::Existing { .. } => Vec::new(),
        }
    }

    /// The targets of the matrix sent; `None` for a run started elsewhere, whose results say.
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

/// How a run is followed: the wait of each run, and how often its failed tests are run again.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub wait: wait::Options,
    pub retries: u8,
    pub fail_on_flaky: bool,
}

/// Who hears what following a run has to say: each run's wait as it goes, and the re-runs.
pub trait Observer {
    /// The wait of one run begins (the first, then each re-run): who watches it.
    fn watch(&self, run_id: &str, until: Until) -> Box<dyn wait::Observer + '_>;
    /// A re-run started (a step), or one not made (a warning).
    fn remark(&self, remark: Remark);
}

/// What following a run came to.
pub struct Followed {
    /// The first run and its re-runs, as far as they were seen.
    pub attempts: Attempts,
    /// How the last wait ended.
    pub ending: Ending,
    /// Whether any poll of the last run was answered, for the timeout's message.
    pub answered: bool,
    /// Why doksi stopped following a run that goes on: it was lost, or a signal came.
    pub left: Option<Left>,
    /// A re-run that could not be started (its request was lost): the command ends with it,
    /// after the reports.
    pub stopped: Option<StartError>,
    /// The targets of the matrix sent; `None` for a run started elsewhere.
    pub target_ids: Option<Vec<String>>,
    /// The APKs doksi uploaded for the run.
    pub apks: Vec<ApkLabel>,
}

impl Followed {
    /// The verdict as the team hears it; `None` when a person stopped doksi (nobody needs telling).
    pub fn told(&self) -> Option<Verdict> {
        Some(match (&self.left, self.ending) {
            (Some(Left::Interrupted(_)), _) => return None,
            (Some(Left::Lost(_)), _) => Verdict::Lost,
            (None, Ending::TimedOut) => Verdict::TimedOut,
            (None, _)
                if self.stopped.is_none()
                    && self.attempts.verdict() == crate::rerun::Verdict::Passed =>
            {
                Verdict::Passed
            }
            (None, _) => Verdict::Failed,
        })
    }
}

/// Waits for the run; when it fails and `options.retries` allows, runs its failed tests again
/// and waits for that, until they pass or the retries are spent. A timed-out, lost or
/// interrupted run is not re-run. An error only for a run started elsewhere that cannot be read
/// (a typo'd id); everything else is in [`Followed`], for the reports and the exit code.
pub async fn follow(
    client: &Client,
    options: Options,
    origin: Origin,
    observer: &dyn Observer,
) -> Result<Followed, ApiError> {
    let policy = Policy {
        retries: options.retries,
        fail_on_flaky: options.fail_on_flaky,
    };
    // With re-runs to come, a run reported failed while tests go on is followed until they end:
    // a re-run holds only what failed, and the verdict counts what happened. Without, the
    // roll-up is the gate, as the docs say.
    let until = match options.retries {
        0 => Until::RollUp,
        _ => Until::EveryResult,
    };
    let (target_ids, apks) = (origin.target_ids(), origin.apks());
    let first = wait_for(client, options.wait, until, &origin, observer).await?;
    let mut attempts = Attempts::new(origin.known(), policy, first.run, first.raw);
    let (mut ending, mut answered, mut left) = (first.ending, first.answered, first.left);
    let mut stopped = None;
    while ending == Ending::Finished && left.is_none() {
        let rerun = match attempts.next() {
            Ok(Some(rerun)) => rerun,
            Ok(None) => break,
            Err(refusal) => {
                observer.remark(Remark::Warning(format!(
                    "{refusal}: it is not re-run, and its verdict stands"
                )));
                break;
            }
        };
        let started = match start::post(client, rerun.request.clone(), apks.clone()).await {
            Ok(started) => started,
            Err(e) => {
                match quota(&e) {
                    // A test failed, and that is what the exit code says (1), not the billing
                    // (5) of the re-run that would have looked again.
                    Some((requested, remaining)) => observer.remark(Remark::Warning(format!(
                        "re-run {} of {} was refused for the test credit quota: it needed {} and {}; the failed tests were not run again, and the failed verdict stands",
                        rerun.number,
                        policy.retries,
                        words::count(requested, "credit"),
                        words::remain(remaining, "credit")
                    ))),
                    None => stopped = Some(e),
                }
                break;
            }
        };
        observer.remark(Remark::Step(format!(
            "started run {}, re-run {} of {}: {} that failed",
            words::one_line(&started.run_id),
            rerun.number,
            policy.retries,
            words::count(rerun.tests, "test")
        )));
        let origin = Origin::Created(started);
        let waited = wait_for(client, options.wait, until, &origin, observer).await?;
        attempts.push(&rerun, waited.run, waited.raw);
        (ending, answered, left) = (waited.ending, waited.answered, waited.left);
    }
    Ok(Followed {
        attempts,
        ending,
        answered,
        left,
        stopped,
        target_ids,
        apks,
    })
}

/// One run's wait, watched as the observer says.
async fn wait_for(
    client: &Client,
    options: wait::Options,
    until: Until,
    origin: &Origin,
    observer: &dyn Observer,
) -> Result<wait::Waited, ApiError> {
    let run_id = origin.run_id();
    let mut watch = observer.watch(run_id, until);
    let (freshness, unseen) = (origin.freshness(), origin.unseen());
    wait::one(
        client,
        run_id,
        options,
        until,
        freshness,
        unseen,
        watch.as_mut(),
    )
    .await
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

/// The reports the attempts call for, whatever the ending (a failed or abandoned run is when
/// CI needs them most): see [`report::write`].
pub fn report(followed: &Followed, junit: Option<&Path>, labels: &Labels) -> report::Written {
    let target_ids = followed
        .target_ids
        .clone()
        .unwrap_or_else(|| crate::labels::target_ids(followed.attempts.first()));
    report::write(
        &followed.attempts,
        followed.ending,
        &target_ids,
        labels,
        junit,
    )
}

/// Posts the verdict to the team's webhook when there is one and `on` wants this verdict: `None`
/// when nothing was sent, else how the delivery went (a failure is the caller's warning, never
/// an exit code).
pub async fn tell(
    followed: &Followed,
    webhook: Option<&WebhookUrl>,
    on: NotifyOn,
) -> Option<Result<u32, NotifyError>> {
    let (url, verdict) = (webhook?, followed.told()?);
    if !on.wants(verdict) {
        return None;
    }
    let summary = Summary::of_attempts(&followed.attempts, verdict, followed.apks.clone());
    Some(notify::send(url, &summary, Delivery::default()).await)
}
