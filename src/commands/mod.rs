//! The subcommands (`run.rs` holds run, status, wait and ci, which share the wait and the
//! reports), the exit-code mapping, and the pieces they share: the client built from the
//! connection flags, the cache, output (`output`), signals (`interrupt`). Results go to stdout,
//! warnings and progress to stderr, so `--json | jq` always works.

mod apks;
mod cache;
mod config;
mod inspect;
mod interrupt;
pub mod output;
mod package;
mod progress;
mod run;
mod sandbox;
mod upload;

use std::path::PathBuf;

use std::sync::Arc;

use crate::api::client::{Client, Notice, Timeouts, Trace};
use crate::api::error::ApiError;
use crate::api::retry::RetryPolicy;
use crate::api::{ApiKey, BaseUrl, ConfigError, Transport};
use crate::cli::{Command, Connection, Parsed, Source};

use output::{note, print_bytes, print_json, warning};

/// Every way a command can fail, each mapped to one exit code (see `cli::EXIT_CODES`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Apk(#[from] crate::apk::ApkError),
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
    #[error("no APKs found{filters} (looked in {}){}", looked_in(.searched), .hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    NothingFound {
        searched: Vec<PathBuf>,
        filters: String,
        /// What there is instead, such as App Bundles and how to get APKs from them.
        hint: Option<String>,
    },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error("no API key: set DOKSI_API_KEY (or pass --api-key)")]
    NoKey,
    #[error("no cache folder: set DOKSI_CACHE_DIR (or pass --cache-dir), or HOME")]
    NoCacheDir,
    #[error(transparent)]
    Runs(#[from] crate::runs::RunsError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Upload(#[from] crate::upload::UploadError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("run {run_id} failed: {failed} of {total} test(s) failed")]
    RunFailed {
        run_id: String,
        failed: u64,
        total: u64,
    },
    #[error(
        "gave up waiting for run {run_id} after {waited}; {} (doksi wait {run_id} picks it up again)",
        .status.as_ref().map_or("no poll was answered".to_owned(), |s| format!("it was still {s}"))
    )]
    TimedOut {
        run_id: String,
        waited: String,
        /// The last status a poll saw; `None` when no poll was answered.
        status: Option<String>,
    },
    /// Waiting for a run this command created failed for good (a refused key, a 404 after the
    /// grace): the run goes on, and the exit code is a timeout's, not the 3 CI scripts retry.
    #[error(
        "{source}; run {run_id} was started and goes on, but doksi cannot follow it (doksi wait {run_id} picks it up)"
    )]
    LostRun { run_id: String, source: ApiError },
    #[error(transparent)]
    Junit(#[from] crate::report::junit::JunitError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot start the sandbox: {0}")]
    Sandbox(std::io::Error),
    #[error("interrupted by {}{}", .signal.name(), .during.account())]
    Interrupted {
        signal: interrupt::Signal,
        during: During,
    },
    /// The server refused the run for cached targets it no longer knows, and uploading them
    /// again failed: both halves are said, since requests were sent and nothing was started.
    #[error(
        "{refused}; no run was started, and uploading the cached target(s) again failed: {then}"
    )]
    Reupload {
        refused: Box<ApiError>,
        then: Box<Error>,
    },
}

/// What doksi was doing when a signal stopped it, which decides what the server may hold.
#[derive(Debug)]
pub enum During {
    /// Nothing that a signal leaves half-done on the server (reading, listing, a status).
    Other,
    /// Reading, uploading before a run: targets already registered stay cached, no run exists.
    BeforeRun,
    /// `POST /runs` was sent and no answer had come.
    CreatingRun,
    /// Waiting for this run, which goes on server-side.
    Waiting { run_id: String },
}

impl During {
    /// What the server holds, as the rest of the "interrupted" line.
    fn account(&self) -> String {
        match self {
            During::Other => String::new(),
            During::BeforeRun => "; no run was started".into(),
            During::CreatingRun => "; POST /runs was in flight: the run may have been created; look for it in the Doksi dashboard before re-running".into(),
            During::Waiting { run_id } => format!(
                "; run {run_id} goes on without us: `doksi wait {run_id}` picks it up, `doksi status {run_id}` shows it"
            ),
        }
    }
}

fn looked_in(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// 2 where the server said the input is wrong (400, 422: a bad id, an unknown category), since
/// CI scripts retry exit 3 as an infrastructure flake and that would not mend; 3 for the rest.
fn api_exit_code(e: &ApiError) -> u8 {
    match e.root() {
        ApiError::Quota { .. } => 5,
        ApiError::Package(_) => 2,
        ApiError::Api {
            status: 400 | 422, ..
        } => 2,
        _ => 3,
    }
}

impl Error {
    /// The reader of stdout went away (`doksi man | head`): nothing is wrong that a message
    /// could help with, so main exits quietly, as `cat` and `rg` do.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) | Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::RunFailed { .. } => 1,
            Error::Api(e) => api_exit_code(e),
            Error::Upload(crate::upload::UploadError::Api { source, .. }) => api_exit_code(source),
            Error::TimedOut { .. } | Error::LostRun { .. } => 4,
            Error::Interrupted { signal, .. } => signal.exit_code(),
            Error::Reupload { then, .. } => then.exit_code(),
            Error::Runtime(_) => 3,
            // Local problems: flags, files, the cache folder, nothing found.
            _ => 2,
        }
    }
}

pub fn run(parsed: Parsed) -> Result<(), Error> {
    let Parsed {
        cli,
        project,
        settings,
    } = parsed;
    let conn = cli.connection;
    output::set_quiet(conn.quiet);
    let project = project.as_ref();
    let result = match cli.command {
        Command::Apks(args) => apks::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Package(args) => package::run(args),
        Command::Upload(args) => block_on(upload::run(&conn, args)),
        Command::Run(args) => {
            let flagged = |key: &str| {
                settings
                    .iter()
                    .any(|e| e.key == key && e.source == Source::Flag)
            };
            block_on(run::run(&conn, args, project, &flagged))
        }
        Command::Status(args) => block_on(run::status(&conn, args)),
        Command::Wait(args) => block_on(run::wait(&conn, args)),
        Command::Ci(args) => block_on(run::ci(&conn, args, project)),
        Command::Cache(args) => cache::run(&conn, args),
        Command::Sandbox(args) => block_on(sandbox::serve(args)),
        Command::Demo => block_on(sandbox::demo()),
        Command::Config(args) => config::show(&settings, project, args.json),
        Command::Completions { shell } => config::completions(shell),
        Command::Man { dir } => config::man(dir.as_deref()),
    };
    output::finish(result)
}

/// Network commands run on a small multi-threaded runtime (two workers: this tool waits on I/O).
/// A signal the command did not handle itself ends it here, with the signal's exit code.
fn block_on<F: std::future::Future<Output = Result<(), Error>>>(f: F) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let done = runtime.block_on(async {
        interrupt::listen();
        tokio::select! {
            done = f => done,
            signal = interrupt::unclaimed() => Err(Error::Interrupted {
                signal,
                during: During::Other,
            }),
        }
    });
    // A blocking task still running (bundletool, a file read) is not waited for long: the
    // command has its answer.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    done
}

/// The API client for these flags; the key is checked before anything is sent.
fn client(conn: &Connection) -> Result<Client, Error> {
    let transport = if conn.allow_insecure_http {
        Transport::AllowInsecureHttp
    } else {
        Transport::HttpsOnly
    };
    let base = BaseUrl::parse(&conn.base_url, transport)?;
    let key = ApiKey::parse(conn.api_key.as_deref().ok_or(Error::NoKey)?)?;
    let retry = RetryPolicy {
        attempts: conn.attempts,
        base_delay: conn.retry_delay,
        ..RetryPolicy::default()
    };
    let notice: Notice = Arc::new(|message| note!("doksi: {message}"));
    let trace = match conn.verbose {
        0 => Trace::Off,
        1 => Trace::Requests,
        _ => Trace::Headers,
    };
    let timeouts = Timeouts {
        request: conn.request_timeout,
        ..Timeouts::default()
    };
    let client = Client::new(base, key, timeouts, retry).with_notice(notice.clone());
    Ok(client.with_trace(trace, notice))
}

/// Where the target cache entries of this server and key live (see [`crate::cache::scope`]).
fn cache_scope(client: &Client) -> String {
    crate::cache::scope(client.base_url().as_str(), &client.key_fingerprint())
}

/// The cache for an upload, or `None` with a warning: uploading without the cache costs time,
/// failing costs the pipeline its run.
fn upload_cache(conn: &Connection) -> Option<crate::cache::Cache> {
    open_cache(conn)
        .map_err(|e| {
            output::warning_once(format!(
                "{e}; uploading without the cache (every APK is uploaded, none is remembered)"
            ))
        })
        .ok()
}

/// The cache folder from `--cache-dir`/`DOKSI_CACHE_DIR`, else the user's cache folder.
fn open_cache(conn: &Connection) -> Result<crate::cache::Cache, Error> {
    let dir = match &conn.cache_dir {
        Some(d) => d.clone(),
        None => crate::cache::default_dir().ok_or(Error::NoCacheDir)?,
    };
    Ok(crate::cache::Cache::open(dir)?)
}

/// Prints notes about a manifest (an unresolvable label, say) as warnings.
fn warn_notes(path: &std::path::Path, notes: &[String]) {
    for note in notes {
        warning!("{}: {note}", path.display());
    }
}

fn warn_cache(cache: &crate::cache::Cache) {
    for w in cache.take_warnings() {
        warning!("{w}");
    }
}
