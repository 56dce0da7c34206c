//! Waiting for one run's verdict: polling `GET /runs/{id}` with a gently growing interval, which
//! always ends by its deadline and hands back the last state it saw when time runs out (as
//! saucectl's `PollJob` does), and a signal, which leaves the run going. The wait never prints:
//! what it sees goes to an [`Observer`] (the terminal's live line, in `commands`), so the loop is
//! the same whoever watches. Owns [`Ending`] and [`Left`]; imports `api` and `interrupt` only.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::Run;
use crate::api::retry::{self, Decision, Effect};
use crate::interrupt::{self, During, Interrupted};

/// How long to wait and how often to look, from `--timeout` and `--poll-interval`.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub timeout: Duration,
    /// The first pause; it grows gently up to 15 s (or this, if longer).
    pub poll_interval: Duration,
}

/// How waiting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Finished,
    TimedOut,
    /// doksi was stopped (Ctrl-C, SIGTERM) while the run went on.
    Interrupted,
}

/// What a wait tells whoever watches it, as it happens.
pub trait Observer {
    /// A poll's answer: every state fetched, to tell results as they finish.
    fn update(&mut self, run: &Run);
    /// A poll failed in a way worth riding out (the client has already retried it).
    fn trouble(&mut self, run_id: &str, error: &ApiError);
    /// The deadline came while a run reported passed or failed was followed for its tests
    /// still going: they are left to the service, and its roll-up stands.
    fn left_running(&mut self, run: &Run);
}

/// A run this process created that doksi can no longer follow (a refused key, a 404 after the
/// grace): it goes on server-side, and the exit code is a timeout's, not the 3 CI scripts retry.
#[derive(Debug, thiserror::Error)]
#[error(
    "{source}; run {run_id} was started and goes on, but doksi cannot follow it (doksi wait {run_id} picks it up)"
)]
pub struct Lost {
    pub run_id: String,
    pub source: ApiError,
}

/// Why doksi stopped waiting for a run that goes on server-side.
#[derive(Debug, thiserror::Error)]
pub enum Left {
    #[error(transparent)]
    Lost(#[from] Lost),
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
}

/// How the wait for one run ended.
pub struct Waited {
    pub run: Run,
    pub raw: serde_json::Value,
    pub ending: Ending,
    /// Whether any poll was answered, for the timeout's message.
    pub answered: bool,
    /// What ends the command whatever the verdict: the run was lost, or a signal came; the run
    /// goes on server-side.
    pub left: Option<Left>,
}

/// Waits for one run until `until`, `options.timeout` or a signal, telling `observer` what it
/// sees. `unseen` is what is known of the run before any poll answers (the results `POST /runs`
/// announced, or nothing): the state reported if none ever does. An error is returned only for
/// a run started elsewhere that cannot be read (a typo'd id: the caller says so); for a run
/// this process created, doksi leaves it going, as [`Waited::left`] says.
pub async fn one(
    client: &Client,
    run_id: &str,
    options: Options,
    until: Until,
    freshness: Freshness,
    unseen: Run,
    observer: &mut dyn Observer,
) -> Result<Waited, ApiError> {
    let policy = PollPolicy {
        initial: options.poll_interval,
        max: Duration::from_secs(15).max(options.poll_interval),
        until,
    };
    // The latest state seen, kept outside the wait so that a signal, which drops it, still
    // leaves something to report.
    let seen: RefCell<Option<Run>> = RefCell::new(None);
    let mut seeing = Seeing {
        inner: observer,
        seen: &seen,
    };
    let claim = interrupt::Claim::take();
    let waited = poll(
        client,
        run_id,
        options.timeout,
        policy,
        freshness,
        &mut seeing,
    );
    // Ok: how the wait ended. Err: doksi leaves a run that goes on, with this ending for the
    // reports and this for the exit.
    let outcome = tokio::select! {
        outcome = waited => match (outcome, freshness) {
            (Ok(outcome), _) => Ok(outcome),
            (Err(e), Freshness::Existing) => return Err(e),
            (Err(source), Freshness::JustCreated) => Err((
                Ending::TimedOut,
                Left::Lost(Lost { run_id: run_id.to_owned(), source }),
            )),
        },
        signal = claim.interrupted() => Err((
            Ending::Interrupted,
            Left::Interrupted(Interrupted {
                signal,
                during: During::Waiting { run_id: run_id.to_owned() },
            }),
        )),
    };
    let waited = |run: Run, raw: Option<serde_json::Value>, ending, answered, left| {
        let raw = raw.unwrap_or_else(|| serde_json::to_value(&run).unwrap_or_default());
        Waited {
            run,
            raw,
            ending,
            answered,
            left,
        }
    };
    Ok(match outcome {
        Ok(WaitOutcome::Finished { run, raw }) => {
            // Followed past a final roll-up until the deadline: the tests still going then are
            // left to the service, and the observer says so before whatever comes next.
            if !until.reached(&run) {
                observer.left_running(&run);
            }
            waited(run, Some(raw), Ending::Finished, true, None)
        }
        Ok(WaitOutcome::TimedOut {
            last: Some((run, raw)),
        }) => waited(run, Some(raw), Ending::TimedOut, true, None),
        Ok(WaitOutcome::TimedOut { last: None }) => {
            waited(unseen, None, Ending::TimedOut, false, None)
        }
        Err((ending, left)) => {
            let run = seen.take().unwrap_or(unseen);
            waited(run, None, ending, true, Some(left))
        }
    })
}

/// The observer, with the latest state kept aside.
struct Seeing<'a> {
    inner: &'a mut dyn Observer,
    seen: &'a RefCell<Option<Run>>,
}

impl Observer for Seeing<'_> {
    fn update(&mut self, run: &Run) {
        self.inner.update(run);
        *self.seen.borrow_mut() = Some(run.clone());
    }

    fn trouble(&mut self, run_id: &str, error: &ApiError) {
        self.inner.trouble(run_id, error);
    }

    fn left_running(&mut self, run: &Run) {
        self.inner.left_running(run);
    }
}

/// How often to poll: starting at `initial`, growing by half each time up to `max`; and when the
/// run counts as over.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// When the run counts as over.
    pub until: Until,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(15),
            until: Until::RollUp,
        }
    }
}

/// The end of a wait: the final run, or the last one seen (if any poll succeeded) when the
/// deadline came.
#[derive(Debug)]
pub enum WaitOutcome {
    Finished {
        run: Run,
        raw: serde_json::Value,
    },
    TimedOut {
        last: Option<(Run, serde_json::Value)>,
    },
}

/// When a wait is over. The docs say the top-level `status` "rolls up across every result" and
/// to poll until it is `passed` or `failed`; a service may say `failed` as soon as one result
/// fails, while others are still queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At the roll-up: the gate's answer, whatever its results still do.
    RollUp,
    /// Once the roll-up is final and every result has ended too, so a re-run holds only what
    /// really failed and the verdict counts what happened. Should the deadline come first, the
    /// final roll-up already seen is the answer, its unfinished results unfinished.
    EveryResult,
}

impl Until {
    /// Whether `run` is as far as this wait goes.
    pub fn reached(self, run: &Run) -> bool {
        run.status.is_final()
            && (self == Until::RollUp || !run.results.iter().any(|r| r.status.is_unfinished()))
    }
}

/// Whether the run was created a moment ago: right after `POST /runs` a read replica may not know
/// it yet, so a 404 then is a reason to look again, not an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    JustCreated,
    Existing,
}

/// How long a just-created run may answer 404 before that is believed.
const NEW_RUN_GRACE: Duration = Duration::from_secs(30);

/// The longest pause a server's `Retry-After` buys while waiting; anything longer is a server
/// bug or a gateway's default, and must not freeze a job until its deadline.
pub const MAX_POLL_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The time the poll made at the deadline may take: long enough for one answer, short enough
/// that `--timeout` stays the promise it is.
const FINAL_POLL: Duration = Duration::from_secs(3);

/// Polls `GET /runs/{id}` until the run is passed or failed (and, as `until` says, every result
/// has ended), or `timeout` has passed. `observer` sees every state fetched, and hears about
/// polls that failed in a way worth riding out (the client has already retried them).
/// No poll, retry or pause outlives the deadline by more than the one final poll made at it.
pub async fn poll(
    client: &Client,
    run_id: &str,
    timeout: Duration,
    policy: PollPolicy,
    freshness: Freshness,
    observer: &mut dyn Observer,
) -> Result<WaitOutcome, ApiError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut interval = policy.initial;
    let mut last: Option<(Run, serde_json::Value)> = None;
    loop {
        let mut pause = interval;
        let answer_by = deadline.max(Instant::now() + FINAL_POLL);
        match client.get_run_until(run_id, Some(answer_by)).await {
            Ok((run, raw)) => {
                observer.update(&run);
                if policy.until.reached(&run) {
                    return Ok(WaitOutcome::Finished { run, raw });
                }
                last = Some((run, raw));
            }
            Err(e) => {
                let young =
                    freshness == Freshness::JustCreated && started.elapsed() < NEW_RUN_GRACE;
                // A run this process created exists: a host that stopped resolving or a TLS
                // hiccup is weather too, and giving up would leave it unreported.
                let ours = freshness == Freshness::JustCreated
                    && matches!(e.root(), ApiError::Connect { .. });
                if !ours && !worth_riding_out(e.root(), young) {
                    return Err(e);
                }
                observer.trouble(run_id, &e);
                // Told to slow down: do, for the rest of the wait, within reason.
                if let Some(after) = e.root().retry_after() {
                    let after = after.min(MAX_POLL_RETRY_AFTER);
                    interval = interval.max(after);
                    pause = after;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(match last {
                // The run has its verdict; only some of its results were still going.
                Some((run, raw)) if run.status.is_final() => WaitOutcome::Finished { run, raw },
                last => WaitOutcome::TimedOut { last },
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        interval = (interval.saturating_mul(3) / 2).min(policy.max.max(interval));
    }
}

/// Whether a failed poll is weather rather than an answer: what the client retries, a 404 for a
/// run created a moment ago, and a success whose body was not the run (a proxy's page, a cut-off
/// body). Looking again costs nothing, and the run goes on regardless.
fn worth_riding_out(error: &ApiError, young: bool) -> bool {
    if retry::decide(error, Effect::Repeatable) != Decision::Stop {
        return true;
    }
    match error {
        ApiError::NotJson { status, .. } | ApiError::BadAnswer { status, .. } => {
            (200..300).contains(status)
        }
        _ => young && error.status() == Some(404),
    }
}
