//! The local sandbox: a Doksi-compatible fake of the CI/CD API and of the S3-like storage its
//! presigned upload URLs point at, for the integration tests, `doksi sandbox` and `doksi demo`.
//! A crate of its own so that doksi builds without it: only `doksi sandbox` and `doksi demo` use
//! it, behind doksi's default `sandbox` feature, and it needs only the manifest reader
//! (`doksi-apk`), not doksi. What it answers follows the API docs rather than doksi's types: its
//! statuses, timestamps and key check are its own, and its tests read its answers with doksi's
//! model.
//!
//! The crate root owns the two loopback servers' lifetime and the state they share (uploads,
//! targets, runs, credits, the request log, a temp dir holding uploaded zips); it knows nothing
//! of the CLI, and nothing survives [`Sandbox::stop`]. The routes live beside it: `api` (the key
//! check, uploads, targets), `runs` (matrix validation, simulated progress), `storage`
//! (presigned PUTs, or the URLs of an external S3 a test serves) and `admin` (request counts and
//! test hooks, under `/_sandbox`, no key needed). `faults` holds the fault plan (which requests
//! fail) and `inject` what each fault does; `serve` runs the connections, so that a fault can end
//! one without an answer.

mod admin;
mod api;
mod faults;
mod inject;
mod matrix;
mod runs;
mod serve;
mod storage;
#[cfg(test)]
mod tests;
mod timestamp;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use admin::Served;
pub use faults::{Fault, FaultSpec, FaultSpecError, Route};
pub use storage::{ExternalStorage, Storage};

/// How to rehearse failures against the sandbox, for `doksi sandbox --help` and the docs: its
/// categories and test ids, which of them fail and when, and the fault plan's syntax. Built from
/// the catalogue and the fault parser's own lists, so the help cannot drift from what it does.
pub fn rehearsal_guide() -> String {
    format!(
        "Categories and tests (any other test id passes, unless it starts with fail or flaky):\n\
         {}\
         fail_payment, and any test id starting fail, fails on every run. flaky_cart, and any test\n\
         id starting flaky, fails on its first run at each destination and passes after: once per\n\
         destination per sandbox start, so a second try shows nothing flaky until the sandbox is\n\
         restarted.\n\n\
         Faults: --fault ROUTE=FAULT[xCOUNT] at start (repeatable), or while running\n\
         POST http://127.0.0.1:PORT/_sandbox/faults with {{\"route\": \"POST /runs\", \"fault\": \"503\", \"count\": 2}}\n\
         (GET lists the pending ones, DELETE drops them).\n\
         ROUTE: {}.\n\
         FAULT: {}.\n",
        matrix::catalogue(),
        faults::ROUTES,
        faults::FAULTS
    )
}

/// The sandbox's default key. It is public on purpose: the sandbox guards nothing, and tests,
/// docs and the demo all need the same one.
pub const SANDBOX_KEY: &str = "dk_live_5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

/// Where the API routes live, as on api.doksi.ai.
pub const API_PATH: &str = "/external/integration/cicd";

/// How long [`Sandbox::stop`] lets in-flight requests finish before cutting them off.
const STOP_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// 0 lets the OS pick a free port, as tests do.
    pub api_port: u16,
    pub storage_port: u16,
    pub key: Key,
    /// Test credits; every (matrix entry × test) of a run costs one.
    pub credits: u64,
    /// A run's clock: results start running after one step, result `i` ends after `2 + i`.
    pub run_step: Duration,
    /// How long a minted upload URL stays valid, to whole seconds (S3's `X-Amz-Expires`).
    pub url_ttl: Duration,
    /// The fault plan to start with; `/_sandbox/faults` adds to it later.
    pub faults: Vec<FaultSpec>,
    /// Where upload URLs point: our storage server, or an S3 a test serves.
    pub storage: Storage,
    /// Told of each request once it is answered (`doksi sandbox -v` prints them): the requests
    /// the log of `GET /_sandbox/requests` keeps, as they are added to it.
    pub on_served: Option<fn(&Served)>,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            api_port: 0,
            storage_port: 0,
            key: sandbox_key(),
            credits: 1000,
            run_step: Duration::from_secs(1),
            url_ttl: Duration::from_secs(15 * 60),
            faults: Vec::new(),
            storage: Storage::Builtin,
            on_served: None,
        }
    }
}

/// [`SANDBOX_KEY`] as a typed key.
pub fn sandbox_key() -> Key {
    match Key::parse(SANDBOX_KEY) {
        Ok(key) => key,
        Err(e) => unreachable!("SANDBOX_KEY is a well-formed key: {e}"),
    }
}

/// The key the sandbox accepts, in the documented format (`dk_live_` and 40 hex digits), so a
/// client that checks keys can be pointed at it. Not a secret: it shows itself in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the API key is malformed: expected dk_live_ followed by 40 hex digits")]
pub struct MalformedKey;

impl Key {
    pub fn parse(raw: &str) -> Result<Key, MalformedKey> {
        match raw.strip_prefix("dk_live_") {
            Some(hex) if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Ok(Key(raw.to_owned()))
            }
            _ => Err(MalformedKey),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value a request must carry.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

/// A running sandbox. [`Sandbox::stop`] shuts it down gracefully; dropping it aborts both
/// servers at once (what a failing test wants). Either way the uploaded files are deleted.
#[derive(Debug)]
pub struct Sandbox {
    /// The API's base URL, `http://127.0.0.1:PORT/external/integration/cicd`.
    pub base_url: String,
    /// The storage server's origin, `http://127.0.0.1:PORT2`; upload URLs point below it.
    pub storage_url: String,
    /// The test hooks, `http://127.0.0.1:PORT/_sandbox` (same port as the API, no key).
    pub admin_url: String,
    shutdown: watch::Sender<bool>,
    servers: Vec<JoinHandle<()>>,
    shared: Arc<Shared>,
}

/// Binds both servers on 127.0.0.1 (never a public interface: the key is public) and spawns them
/// on the current tokio runtime. Once this returns, both ports accept connections.
/// A listener on 127.0.0.1:`port`; the error names the port (and what it was for), as the
/// operating system's "Address already in use" does not.
async fn listen(port: u16, what: &str) -> io::Result<TcpListener> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port))
        .await
        .map_err(|e| io::Error::new(e.kind(), format!("{what} port 127.0.0.1:{port}: {e}")))
}

pub async fn start(config: SandboxConfig) -> io::Result<Sandbox> {
    let api_listener = listen(config.api_port, "API").await?;
    let storage_listener = listen(config.storage_port, "storage").await?;
    let api_origin = format!("http://{}", api_listener.local_addr()?);
    let storage_url = format!("http://{}", storage_listener.local_addr()?);
    let admin_url = format!("{api_origin}/_sandbox");
    let dir = tempfile::Builder::new()
        .prefix("doksi-sandbox-")
        .tempdir()?;
    let shared = Arc::new(Shared {
        bearer: config.key.bearer(),
        storage_url: storage_url.clone(),
        admin_url: admin_url.clone(),
        run_step: config.run_step,
        url_ttl: config.url_ttl,
        secret: random_secret(),
        dir,
        state: Mutex::new(State {
            credits: config.credits,
            ..State::default()
        }),
        traffic: Mutex::new(admin::Traffic::default()),
        faults: Mutex::new(faults::Plan::new(config.faults)),
        storage: config.storage,
        on_served: config.on_served,
    });

    let api = api_app(&shared);
    let storage = storage_app(shared.clone());

    let (shutdown, stopped) = watch::channel(false);
    let servers = [(api_listener, api), (storage_listener, storage)]
        .into_iter()
        .map(|(listener, router)| tokio::spawn(serve::serve(listener, router, stopped.clone())))
        .collect();
    Ok(Sandbox {
        base_url: format!("{api_origin}{API_PATH}"),
        storage_url,
        admin_url,
        shutdown,
        servers,
        shared,
    })
}

/// The API under [`API_PATH`] behind the key check, and the admin hooks beside it; every
/// request but the hooks' is logged, 401s included.
fn api_app(shared: &Arc<Shared>) -> Router {
    let api = Router::new()
        .route("/uploads", post(api::mint_upload))
        .route("/targets", post(api::create_target))
        .route("/runs", post(runs::create))
        .route("/runs/{id}", get(runs::retrieve))
        .fallback(api::no_such_route)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            api::require_key,
        ));
    Router::new()
        .nest(API_PATH, api)
        .nest("/_sandbox", admin::router())
        .layer(axum::middleware::from_fn_with_state(
            admin::Recorder::new(shared, Server::Api),
            admin::record,
        ))
        .with_state(shared.clone())
}

fn storage_app(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/uploads/{id}",
            put(storage::put_upload).fallback(storage::method_not_allowed),
        )
        .fallback(storage::no_such_key)
        .layer(axum::middleware::from_fn_with_state(
            admin::Recorder::new(&shared, Server::Storage),
            admin::record,
        ))
        .with_state(shared)
}

impl Sandbox {
    /// Stops accepting connections, lets requests in flight finish (up to a few seconds: a
    /// stalled upload must not hang the caller), then aborts what is left.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let finished = async {
            for server in &mut self.servers {
                let _ = server.await;
            }
        };
        // On timeout, `Drop` aborts whatever still runs.
        let _ = tokio::time::timeout(STOP_GRACE, finished).await;
    }

    /// How many runs exist, however their `POST /runs` ended: a test can prove that a request
    /// whose answer was lost still made exactly one run.
    pub fn runs_created(&self) -> usize {
        self.shared.state().runs.len()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for server in &self.servers {
            server.abort();
        }
    }
}

/// What every handler sees. Locks are `std` ones, held for a few field updates and never across
/// an `.await`.
struct Shared {
    bearer: String,
    storage_url: String,
    admin_url: String,
    run_step: Duration,
    url_ttl: Duration,
    /// Signs upload URLs; random per sandbox so a URL from one sandbox fails on another.
    secret: [u8; 32],
    dir: tempfile::TempDir,
    state: Mutex<State>,
    traffic: Mutex<admin::Traffic>,
    faults: Mutex<faults::Plan>,
    storage: Storage,
    on_served: Option<fn(&Served)>,
}

/// Only names the servers: the state is the admin routes' to show, and the secret no one's.
impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("storage_url", &self.storage_url)
            .field("admin_url", &self.admin_url)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // A handler that panicked mid-update cannot leave the maps in a state worse than a
        // fake needs; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn traffic(&self) -> MutexGuard<'_, admin::Traffic> {
        self.traffic.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn faults(&self) -> MutexGuard<'_, faults::Plan> {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Where `upload_id`'s zip is. An external store is asked only about ids the sandbox
    /// minted, and without the state lock held: its answer is its own code's to give.
    fn stored(&self, upload_id: &str) -> Stored {
        let known = self.state().uploads.get(upload_id).cloned();
        match known {
            None => Stored::Unknown,
            Some(Some(path)) => Stored::At(path),
            Some(None) => match &self.storage {
                Storage::Builtin => Stored::Pending,
                Storage::External(store) => store
                    .object_path(upload_id)
                    .map_or(Stored::Pending, Stored::At),
            },
        }
    }
}

/// What [`Shared::stored`] found for an upload id.
enum Stored {
    /// Never minted.
    Unknown,
    /// Minted, no PUT completed yet.
    Pending,
    At(PathBuf),
}

#[derive(Default)]
struct State {
    ids: Ids,
    /// Upload id → the stored zip, once a PUT completed.
    uploads: HashMap<String, Option<PathBuf>>,
    targets: HashMap<String, Target>,
    runs: HashMap<String, runs::Run>,
    credits: u64,
    /// (test id, destination) pairs a `flaky…` test has run on: it fails on the first only.
    flaky_seen: HashSet<(String, String)>,
}

/// One counter per kind of id, so ids read `upl_1`, `bin_1`, `run_1` in a fresh sandbox.
#[derive(Default)]
struct Ids {
    upload: u64,
    target: u64,
    run: u64,
    result: u64,
}

fn next_id(counter: &mut u64, prefix: &str) -> String {
    *counter += 1;
    format!("{prefix}_{counter}")
}

/// Which of the two loopback servers a request reached; the request log and the fault plan
/// both name it, so it lives here rather than in either.
#[derive(Debug, Clone, Copy, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Server {
    Api,
    Storage,
}

/// A registered APK, as `POST /targets` read it.
#[derive(Debug, Clone, serde::Serialize)]
struct Target {
    upload_id: String,
    package: String,
    version_name: Option<String>,
    version_code: Option<i64>,
}

/// An error answer in the API's shape, `{"error": …}` plus any documented extra fields.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: serde_json::json!({ "error": message.into() }),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Request bodies are read as plain JSON values, so a bad field gets a message naming it (as
/// the real API does) instead of axum's rejection text.
fn parse_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
}

/// 32 unguessable bytes without an RNG crate: std's `RandomState` is keyed from the OS per
/// thread. The secret only has to differ between sandboxes and be unknown to clients.
fn random_secret() -> [u8; 32] {
    let mut sha = Sha256::new();
    for i in 0..4u8 {
        sha.update(RandomState::new().hash_one(i).to_le_bytes());
    }
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    sha.update(now.as_nanos().to_le_bytes());
    sha.update(std::process::id().to_le_bytes());
    sha.finalize().into()
}
