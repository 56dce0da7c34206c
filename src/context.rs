//! What a command that talks to the API works with, built once per invocation from the global
//! flags before any file is read or request sent: the client (its key and base URL checked, its
//! root certificates loaded once, however many matrix entries follow), the target cache and this
//! server's and key's scope in it, and the [`Reporter`] that hears what the work has to say. The
//! pipeline's steps (`select`, `upload::batch`, `start`) take it; only `commands` builds one.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use crate::api::client::{Client, Notice, Timeouts, Trace};
use crate::api::retry::RetryPolicy;
use crate::api::{ApiKey, BaseUrl, Transport};
use crate::cache::{Cache, Scope};
use crate::cli::GlobalArgs;
use crate::error::Error;
use crate::remark::{Remark, Reporter};

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
    pub fn new(global: &GlobalArgs, reporter: Arc<dyn Reporter>) -> Result<Context, Error> {
        let client = client(global, &reporter)?;
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
            cache_dir: global.cache_dir.clone(),
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
fn client(global: &GlobalArgs, reporter: &Arc<dyn Reporter>) -> Result<Client, Error> {
    let transport = if global.allow_insecure_http {
        Transport::AllowInsecureHttp
    } else {
        Transport::HttpsOnly
    };
    let base = BaseUrl::parse(&global.base_url, transport)?;
    let key = ApiKey::parse(global.api_key.as_deref().ok_or(Error::NoKey)?)?;
    let retry = RetryPolicy {
        attempts: global.attempts,
        base_delay: global.retry_delay,
        ..RetryPolicy::default()
    };
    let to = reporter.clone();
    let notice: Notice = Arc::new(move |message| to.remark(Remark::Note(message)));
    let trace = match global.verbose {
        0 => Trace::Off,
        1 => Trace::Requests,
        _ => Trace::Headers,
    };
    let timeouts = Timeouts {
        request: global.request_timeout,
        ..Timeouts::default()
    };
    let client = Client::new(base, key, timeouts, retry).with_notice(notice.clone());
    Ok(client.with_trace(trace, notice))
}

/// The cache folder from `--cache-dir`/`DOKSI_CACHE_DIR`, else the user's cache folder.
pub fn open_cache(dir: Option<PathBuf>) -> Result<Cache, Error> {
    let dir = match dir {
        Some(d) => d,
        None => crate::cache::default_dir().ok_or(Error::NoCacheDir)?,
    };
    Ok(Cache::open(dir)?)
}
