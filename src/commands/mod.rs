//! The subcommands (`run.rs` holds run, status, wait and ci, which share the wait and the
//! reports), the exit-code mapping, and the pieces they share: the client built from the
//! connection flags, the cache, output (`output`), signals (`interrupt`). Results go to stdout,
//! warnings and progress to stderr, so `--json | jq` always works.

mod apks;
mod cache;
mod config;
mod inspect;
pub mod output;
mod package;
mod progress;
mod run;
mod sandbox;
mod upload;

use std::sync::Arc;

use crate::api::client::{Client, Notice, Timeouts, Trace};
use crate::api::retry::RetryPolicy;
use crate::api::{ApiKey, BaseUrl, Transport};
use crate::cli::{Command, GlobalArgs, Parsed, Source};

pub use crate::error::{During, Error};
use crate::interrupt;
use output::{note, print_bytes, print_json, warning};

pub fn run(parsed: Parsed) -> Result<(), Error> {
    let Parsed {
        cli,
        project,
        settings,
    } = parsed;
    let conn = cli.global;
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
fn client(conn: &GlobalArgs) -> Result<Client, Error> {
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
    let client = Client::new(base, key, timeouts, retry)?.with_notice(notice.clone());
    Ok(client.with_trace(trace, notice))
}

/// Where the target cache entries of this server and key live (see [`crate::cache::scope`]).
fn cache_scope(client: &Client) -> String {
    crate::cache::scope(client.base_url().as_str(), &client.key_fingerprint())
}

/// The cache for an upload, or `None` with a warning: uploading without the cache costs time,
/// failing costs the pipeline its run.
fn upload_cache(conn: &GlobalArgs) -> Option<crate::cache::Cache> {
    open_cache(conn)
        .map_err(|e| {
            output::warning_once(format!(
                "{e}; uploading without the cache (every APK is uploaded, none is remembered)"
            ))
        })
        .ok()
}

/// The cache folder from `--cache-dir`/`DOKSI_CACHE_DIR`, else the user's cache folder.
fn open_cache(conn: &GlobalArgs) -> Result<crate::cache::Cache, Error> {
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
