//! The pipeline: the one place the stages meet, in their order. [`create`]: select → upload
//! (behind the cache) → start, with the stale-target recovery (a 404 naming cached targets has
//! those APKs uploaded again and the run requested once more). [`follow`]: wait → re-run the
//! failed tests as `--retries` allows, over attempts. Then what the attempts came to:
//! [`report()`] (the reports the ending calls for) and [`tell`] (the team's webhook), two calls so
//! that the verdict can be printed between them and a slow webhook never holds it back.
//! It never prints: what is said on the way goes to a [`Reporter`](crate::remark::Reporter) or
//! an [`Observer`]. Owns [`CreateError`]; imports the stages (`upload`, `start`, `wait`,
//! `rerun`, `report`, `notify`) and what they share; no stage imports it, nor it `commands`.

use std::path::{Path, PathBuf};

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{MatrixEntry, Run, RunRequest, RunResult, Status};
use crate::context::Context;
use crate::discover::Selection;
use crate::interrupt::{self, During, Interrupted};
use crate::labels::{ApkLabel, Labels};
use crate::notify::{self, Delivery, NotifyError, Summary, Verdict};
use crate::remark::Remark;
use crate::report;
use crate::rerun::{Attempts, Known, Policy, Rerun};
use crate::runs::{self, Auth, Destination, FileEntry, RunsError, Tests};
use crate::start::{self, StartError, Started};
use crate::upload::batch::{Plan, Ready, forget_stale, ready};
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

/// Where a run's matrix comes from, as one list of entries whatever gave them: a matrix file or
/// doksi.toml's `[[matrix]]` (each entry names its tests), or the flags (destinations × the same
/// tests, as a matrix of one entry per destination). An entry with local paths becomes one
/// entry per APK found there, uploaded.
pub struct RequestSource {
    entries: Vec<SourceEntry>,
    selection: Selection,
}

/// One entry as given: the documented entry (without its target while `local` is to be
/// uploaded), and the APKs or projects whose uploads it stands for.
struct SourceEntry {
    entry: MatrixEntry,
    local: Vec<PathBuf>,
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
    /// A matrix file's entries (checked already): those with `apk` or `project` are uploaded.
    pub fn matrix(entries: Vec<FileEntry>, selection: Selection) -> RequestSource {
        let entries = entries
            .into_iter()
            .map(|e| {
                let local: Vec<PathBuf> = e.apk.iter().chain(&e.project).cloned().collect();
                SourceEntry {
                    entry: e.into_entry(None),
                    local,
                }
            })
            .collect();
        RequestSource { entries, selection }
    }

    /// The flags as a matrix: every destination with the same tests and authentication; the
    /// local APKs one entry, which becomes one per APK. Checked as [`runs::matrix`] checks.
    pub fn flags(
        destinations: Destinations,
        tests: &Tests,
        auth: &Auth,
        selection: Selection,
    ) -> Result<RequestSource, RunsError> {
        let Destinations {
            before,
            local,
            after,
        } = destinations;
        if before.is_empty() && local.is_empty() && after.is_empty() {
            return Err(RunsError::NoDestination);
        }
        let given = |d: &Destination| SourceEntry {
            entry: runs::entry(d, tests, auth),
            local: Vec::new(),
        };
        let mut entries: Vec<SourceEntry> = before.iter().map(given).collect();
        if !local.is_empty() {
            let unset = Destination::Target(String::new());
            let entry = MatrixEntry {
                target_id: None,
                ..runs::entry(&unset, tests, auth)
            };
            entries.push(SourceEntry { entry, local });
        }
        entries.extend(after.iter().map(given));
        runs::check_tests(tests)?;
        Ok(RequestSource { entries, selection })
    }
}

/// A request's local half, done on the first [`Prepared::request`]: every entry's APKs
/// selected, checked and (bundles) converted before the first is uploaded, so a bad third entry
/// costs the first two nothing. A stale target's upload is made again from here, without
/// selecting anew.
struct Prepared<'c> {
    ctx: &'c Context,
    source: &'c RequestSource,
    /// Each entry's APKs readied (`None` for an entry without local APKs).
    readied: Option<Vec<Option<Ready<'c>>>>,
}

/// A request as sent: with the targets uploaded or taken from the cache, for the stale-target
/// recovery, and those APKs' labels, for the notification.
struct Sent {
    request: RunRequest,
    uploaded: Vec<Uploaded>,
    apks: Vec<ApkLabel>,
}

impl<'c> Prepared<'c> {
    /// Uploads what the entries need, in order, and builds the request: an entry with local
    /// APKs becomes one entry per APK. `options.stale` forces those hashes' uploads.
    async fn request(&mut self, options: &UploadOptions, plan: &Plan) -> Result<Sent, CreateError> {
        let (ctx, source) = (self.ctx, self.source);
        if self.readied.is_none() {
            let mut readied = Vec::with_capacity(source.entries.len());
            for e in &source.entries {
                readied.push(match e.local.is_empty() {
                    true => None,
                    false => Some(ready(ctx, &e.local, source.selection.clone(), options).await?),
                });
            }
            self.readied = Some(readied);
        }
        let readied = self.readied.get_or_insert_with(Vec::new);
        let mut sent = Sent {
            request: RunRequest { matrix: Vec::new() },
            uploaded: Vec::new(),
            apks: Vec::new(),
        };
        for (e, readied) in source.entries.iter().zip(readied.iter()) {
            let Some(readied) = readied else {
                sent.request.matrix.push(e.entry.clone());
                continue;
            };
            let (uploaded, apks) = readied.upload_labelled(options, plan).await?;
            for u in &uploaded {
                sent.request.matrix.push(MatrixEntry {
                    target_id: Some(u.target_id.clone()),
                    ..e.entry.clone()
                });
            }
            sent.uploaded.extend(uploaded);
            sent.apks.extend(apks);
        }
        Ok(sent)
    }
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
    let mut prepared = Prepared {
        ctx,
        source,
        readied: None,
    };
    let mut options = options.clone();
    // The server's 404 for stale targets, once their upload is under way again.
    let mut refused: Option<ApiError> = None;
    let mut renewed: Vec<String> = Vec::new();
    let started = loop {
        let sent =
            before_run(prepared.request(&options, plan))
                .await
                .map_err(|then| match refused.take() {
                    Some(refused) => CreateError::Reupload {
                        refused: Box::new(refused),
                        then: Box::new(then),
                    },
                    None => then,
                })?;
        if options.dry_run {
            return Ok(Created::DryRun(sent.request));
        }
        let e = match start::post(&ctx.client, sent.request, sent.apks).await {
            Err(StartError::Api(e)) => e,
            other => break other?,
        };
        // Each APK is uploaded again at most once.
        let stale = forget_stale(ctx, &e, &sent.uploaded, &renewed);
        if stale.is_empty() {
            return Err(StartError::Api(e).into());
        }
        // The forgotten entries miss the cache now; the others are still hits. Labelled anew:
        // the APKs that were uploaded again have new targets.
        options.stale = stale.iter().map(|u| u.sha256.clone()).collect();
        renewed.extend(options.stale.iter().cloned());
        refused = Some(e);
    };
    // The id is said before any waiting, so a dead CI runner's log still has it. Under -q it
    // is not (errors only, as asked); every error after this point names the run instead.
    ctx.remark(Remark::Step(format!(
        "started run {} ({})",
        words::one_line(&started.run_id),
        words::count(started.results.len(), "test")
    )));
    Ok(Created::Started(started))
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
    let (target_ids, apks, known) = (origin.target_ids(), origin.apks(), origin.known());
    let mut origin = origin;
    // The attempts so far, and the re-run whose run `origin` is, once there is one.
    let mut so_far: Option<(Attempts, Rerun)> = None;
    loop {
        let run_id = origin.run_id();
        let mut watch = observer.watch(run_id, until);
        let (freshness, unseen) = (origin.freshness(), origin.unseen());
        let waited = wait::one(
            client,
            run_id,
            options.wait,
            until,
            freshness,
            unseen,
            watch.as_mut(),
        )
        .await?;
        drop(watch);
        let attempts = match so_far.take() {
            Some((mut attempts, rerun)) => {
                attempts.push(&rerun, waited.run, waited.raw);
                attempts
            }
            None => Attempts::new(known.clone(), policy, waited.run, waited.raw),
        };
        let mut followed = Followed {
            attempts,
            ending: waited.ending,
            answered: waited.answered,
            left: waited.left,
            stopped: None,
            target_ids: target_ids.clone(),
            apks: apks.clone(),
        };
        // A timed-out, lost or interrupted run is not re-run.
        let rerun = match (followed.ending, &followed.left) {
            (Ending::Finished, None) => followed.attempts.next().unwrap_or_else(|refusal| {
                observer.remark(Remark::Warning(format!(
                    "{refusal}: it is not re-run, and its verdict stands"
                )));
                None
            }),
            _ => None,
        };
        let Some(rerun) = rerun else {
            return Ok(followed);
        };
        match start::post(client, rerun.request.clone(), apks.clone()).await {
            Ok(started) => {
                observer.remark(Remark::Step(format!(
                    "started run {}, re-run {} of {}: {} that failed",
                    words::one_line(&started.run_id),
                    rerun.number,
                    policy.retries,
                    words::count(rerun.tests, "test")
                )));
                origin = Origin::Created(started);
                so_far = Some((followed.attempts, rerun));
            }
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
                    None => followed.stopped = Some(e),
                }
                return Ok(followed);
            }
        }
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
