//! Ctrl-C and SIGTERM (how GitLab, Jenkins and Gradle cancel a job) as values a command can
//! select on. Listening replaces the default action, dying silently, for the rest of the
//! process; so `commands` listens from the start and turns a signal no step
//! closer to the work claimed into an exit, while the steps where a signal changes what must
//! be said (creating a run, waiting for one) listen too and say it, with [`During`]: what doksi
//! was doing when the signal came, which decides what the server may hold. A leaf: it imports
//! nothing of doksi.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::watch;

/// What doksi was doing when a signal stopped it, which decides what the server may hold.
#[derive(Debug)]
pub enum During {
    /// Nothing that a signal leaves half-done on the server (reading, listing, a status).
    Other,
    /// Reading, uploading before a run: targets already registered stay cached, no run exists.
    BeforeRun,
    /// `doksi upload`: the uploads that finished are registered and cached, the one under way
    /// is not.
    Uploading,
    /// `POST /runs` was sent and no answer had come.
    CreatingRun,
    /// Waiting for this run, which goes on server-side.
    Waiting { run_id: String },
}

impl During {
    /// What the server holds, as the rest of the "interrupted" line.
    pub fn account(&self) -> String {
        match self {
            During::Other => String::new(),
            During::BeforeRun => "; no run was started (targets already registered stay cached)".into(),
            During::Uploading => "; the uploads that finished are registered and cached, the one under way is not cached and is sent again next time".into(),
            During::CreatingRun => "; POST /runs was in flight: the run may have been created; look for it in the Doksi dashboard before re-running".into(),
            During::Waiting { run_id } => format!(
                "; run {run_id} goes on without us: `doksi wait {run_id}` picks it up, `doksi status {run_id}` shows it"
            ),
        }
    }
}

/// A signal stopped doksi, during this: the error, said as what the server holds.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {}{}", .signal.name(), .during.account())]
pub struct Interrupted {
    pub signal: Signal,
    pub during: During,
}

/// Which signal stopped doksi.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Int,
    Term,
}

impl Signal {
    /// 128 + the signal's number, what shells report for a program it killed.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }
}

/// The first signal that arrived, for every listener, however late it starts listening.
static ARRIVED: OnceLock<watch::Sender<Option<Signal>>> = OnceLock::new();

/// Starts listening, before any work: a signal that came before a step began to listen must
/// not be lost, nor kill doksi silently. Needs the runtime (it spawns the listener).
pub fn listen() {
    let arrived = ARRIVED.get_or_init(|| watch::channel(None).0);
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, synchronously: from now on the signals are ours.
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let signal = tokio::select! {
                    _ = int.recv() => Signal::Int,
                    _ = term.recv() => Signal::Term,
                };
                if !first {
                    // A second signal means now: whatever the first is waiting on (a stuck
                    // pipe, a slow report) is not worth more of the user's patience.
                    std::process::exit(signal.exit_code().into());
                }
                first = false;
                arrived.send_replace(Some(signal));
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            arrived.send_replace(Some(Signal::Int));
        }
    });
}

/// Resolves when SIGINT or SIGTERM has arrived since [`listen`]; never, without it.
async fn arrived() -> Signal {
    let Some(arrived) = ARRIVED.get() else {
        return std::future::pending().await;
    };
    let mut seen = arrived.subscribe();
    loop {
        if let Some(signal) = *seen.borrow_and_update() {
            return signal;
        }
        if seen.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// How many steps have said they will answer a signal themselves.
static CLAIMS: AtomicUsize = AtomicUsize::new(0);

/// A step's promise to answer a signal itself, taken before the step starts (so no signal can
/// fall between the step beginning and its listening) and given back when it is dropped.
pub struct Claim(());

impl Claim {
    pub fn take() -> Claim {
        CLAIMS.fetch_add(1, Ordering::SeqCst);
        Claim(())
    }

    pub async fn interrupted(&self) -> Signal {
        arrived().await
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        CLAIMS.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Resolves with a signal that no step claimed: the fallback for the whole command.
pub async fn unclaimed() -> Signal {
    let signal = arrived().await;
    if CLAIMS.load(Ordering::SeqCst) > 0 {
        return std::future::pending().await;
    }
    signal
}
