//! What a command that talks to the API works with, built once per invocation from a
//! [`Connection`] (plain values: the flags become one in `cli`, so nothing here sees them) before
//! any file is read or request sent: the client (its key and base URL checked, its
//! root certificates loaded once, however many matrix entries follow), the target cache and this
//! server's and key's scope in it, and the [`Reporter`] that hears what the work has to say. The
//! pipeline's steps (`select`, `upload::batch`, `start`) take it; only `commands` builds one.
//! Owns [`ContextError`], what building one can fail of; imports `api`, `cache` and `remark`,
//! nothing of the stages nor of `commands`.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::api::client::{Client, Notice, Timeouts, Trace};
use crate::api::retry::RetryPolicy;
use crate::api::{ApiKey, BaseUrl, ConfigError, Transport};
use crate::cache::{Cache, CacheError, Scope};
use crate::remark::{Remark, Reporter};

/// What building a [`Context`] (or opening the cache) can fail of: all of it local, before any
/// request.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("no API key: set DOKSI_API_KEY (or pass --api-key)")]
    NoKey,
    #[error("no cache folder: set DOKSI_CACHE_DIR (or pass --cache-dir), or HOME")]
    NoCacheDir,
    /// A key or base URL that does not parse.
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// How to reach the API and where to keep the cache.
#[derive(Debug, Clone)]
pub struct Connection {
    pub base_url: String,
    /// Checked when the context is built: none is an error then, not before.
    pub api_key: Option<String>,
    /// `None`: the user's cache folder.
    pub cache_dir: Option<PathBuf>,
    pub allow_insecure_http: bool,
    /// Attempts per request when the failure is transient.
    pub attempts: u32,
    pub request_timeout: Duration,
    /// The first retry delay; it doubles, with jitter.
    pub retry_delay: Duration,
    /// How much of each request is logged.
    pub trace: Trace,
}

pub struct Context {
    pub client: Client,
    /// Opened when first needed (`status` and `wait` never touch the folder).
    cache: OnceLock<Option<Cache>>,
    cache_dir: Option<PathBuf>,
    /// Where this server's and key's entries live in the cache, and the host and key hint
    /// recorded there (see [`crate::cache::Scope`]).
    pub scope: Scope,
    pub reporter: Arc<dyn Reporter>,
    /// The reporter's `remark`, as the uploader takes it.
    remark: Box<dyn Fn(Remark) + Send + Sync>,
}

impl Context {
    /// The key is checked before anything else, then the cache is opened.
    pub fn new(
        connection: &Connection,
        reporter: Arc<dyn Reporter>,
    ) -> Result<Context, ContextError> {
        let client = client(connection, &reporter)?;
        let base = client.base_url();
        let scope = Scope::new(
            base.as_str(),
            base.host(),
            &client.key_fingerprint(),
            client.key_hint(),
        );
        Ok(Context {
            client,
            cache: OnceLock::new(),
            cache_dir: connection.cache_dir.clone(),
            scope,
            remark: {
                let to = reporter.clone();
                Box::new(move |r| to.remark(r))
            },
            reporter,
        })
    }

    pub fn remark(&self, remark: Remark) {
        self.reporter.remark(remark);
    }

    /// [`Self::remark`] as a function, for the uploader.
    pub fn remarks(&self) -> &(dyn Fn(Remark) + Sync) {
        &self.remark
    }

    /// The target cache, or `None` when its folder cannot be used (said once, as a warning):
    /// uploading without the cache costs time, failing would cost the pipeline its run.
    pub fn cache(&self) -> Option<&Cache> {
        self.cache
            .get_or_init(|| {
                open_cache(self.cache_dir.clone())
                    .map_err(|e| {
                        self.remark(Remark::Warning(format!(
                            "{e}; uploading without the cache (every APK is uploaded, none is remembered)"
                        )))
                    })
                    .ok()
            })
            .as_ref()
    }

    /// The cache's own warnings (a corrupt file set aside), if there is a cache.
    pub fn cache_warnings(&self) {
        if let Some(cache) = self.cache() {
            for w in cache.take_warnings() {
                self.remark(Remark::Warning(w));
            }
        }
    }
}

/// The API client for these flags; the key is checked before anything is sent.
fn client(connection: &Connection, reporter: &Arc<dyn Reporter>) -> Result<Client, ContextError> {
    let transport = if connection.allow_insecure_http {
        Transport::AllowInsecureHttp
    } else {
        Transport::HttpsOnly
    };
    let base = BaseUrl::parse(&connection.base_url, transport)?;
    let key = ApiKey::parse(connection.api_key.as_deref().ok_or(ContextError::NoKey)?)?;
    let retry = RetryPolicy {
        attempts: connection.attempts,
        base_delay: connection.retry_delay,
        ..RetryPolicy::default()
    };
    let to = reporter.clone();
    let notice: Notice = Arc::new(move |message| to.remark(Remark::Note(message)));
    let timeouts = Timeouts {
        request: connection.request_timeout,
        ..Timeouts::default()
    };
    let client = Client::new(base, key, timeouts, retry).with_notice(notice.clone());
    Ok(client.with_trace(connection.trace, notice))
}

/// The cache folder from `--cache-dir`/`DOKSI_CACHE_DIR`, else the user's cache folder.
pub fn open_cache(dir: Option<PathBuf>) -> Result<Cache, ContextError> {
    let dir = match dir {
        Some(d) => d,
        None => crate::cache::default_dir().ok_or(ContextError::NoCacheDir)?,
    };
    Ok(Cache::open(dir)?)
}
