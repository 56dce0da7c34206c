//! The HTTP client for the four documented calls and the presigned PUT. Every request has a
//! timeout; API calls carry the bearer key, the PUT to storage never does (it is authorised by
//! its signed URL, and S3 rejects a second auth mechanism). Answers are decoded here into typed
//! values or an [`ApiError`] that says what was asked, what came back, and never the key.

use std::error::Error as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{Stream, TryStreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

use super::error::{ApiError, ConnectCause};
use super::model::{
    ErrorBody, Run, RunCreated, RunRequest, TargetCreated, TargetRequest, UploadMinted,
    UploadRequest,
};
use super::proxy::{Proxies, Via};
use super::retry::{self, Decision, Effect, RetryPolicy};
use super::{ApiKey, BaseUrl, redact_url};
use crate::package::{PackageError, PackageReader, UploadZip};

/// How long requests may take. Uploads get a budget that grows with their size, so a slow link
/// uploading 1 GB is not cut off while a dead one still is.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    pub request: Duration,
    /// The slowest upload rate tolerated, in bytes per second.
    pub min_upload_rate: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            request: Duration::from_secs(60),
            min_upload_rate: 256 * 1024,
        }
    }
}

/// A socket's own timeouts, derived from the longest a request on it may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SocketTimeouts {
    /// Linux's `TCP_USER_TIMEOUT`: how long sent data may stay unacknowledged (and, with
    /// keepalive, how long the peer may stay silent) before the kernel aborts the connection.
    #[cfg_attr(
        not(any(target_os = "android", target_os = "fuchsia", target_os = "linux")),
        allow(dead_code)
    )]
    user_timeout: Duration,
    keepalive_idle: Duration,
    keepalive_interval: Duration,
    /// Unanswered probes before the connection is dropped, where `TCP_USER_TIMEOUT` does not
    /// decide it (macOS, Windows): enough to outlast `deadline` too.
    keepalive_retries: u32,
}

/// How far past a request's deadline its socket gives up: the request's timeout fires first,
/// with its message (`no answer within 1m`) rather than the kernel's.
const SOCKET_SLACK: Duration = Duration::from_secs(5);
const KEEPALIVE: Duration = Duration::from_secs(15);

fn socket_timeouts(deadline: Duration) -> SocketTimeouts {
    let user_timeout = deadline.saturating_add(SOCKET_SLACK);
    // Linux takes at most 127 probes (TCP_KEEPCNT); past that the deadline is over half an hour.
    let probes = user_timeout
        .as_secs()
        .div_ceil(KEEPALIVE.as_secs())
        .clamp(1, 127);
    SocketTimeouts {
        user_timeout,
        keepalive_idle: KEEPALIVE,
        keepalive_interval: KEEPALIVE,
        keepalive_retries: probes as u32,
    }
}

/// The most of an API answer doksi reads. A run's answer grows with its results, each a few
/// hundred bytes (retrieve-run.txt): a run of thousands is a few MB, so 32 MiB leaves room for
/// tens of thousands.
pub const RUN_ANSWER_LIMIT: u64 = 32 << 20;
/// The most of any other answer: an upload URL, a target id, an error (`{"error": …}`), a
/// storage's XML error.
pub const SMALL_ANSWER_LIMIT: u64 = 1 << 20;

/// The body of `resp`, read up to `limit` bytes and no further: memory stays bounded whatever
/// the server streams. `Ok(None)` when the body is longer (said by `Content-Length` or found).
async fn read_bounded(
    mut resp: reqwest::Response,
    limit: u64,
) -> Result<Option<Vec<u8>>, reqwest::Error> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// `Retry-After` in seconds (the HTTP-date form is rare from APIs and falls back to backoff).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The first line of a body, short enough for a one-line error.
fn first_line(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(empty body)");
    line.chars().take(200).collect()
}

/// The whole `source()` chain of a transport error, which is where reqwest keeps the cause.
pub(crate) fn describe(e: &reqwest::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        // reqwest names the URL in its own message; the error around this one names it already.
        let s = match err.to_string().split_once(" for url (") {
            Some((head, _)) => head.to_owned(),
            None => err.to_string(),
        };
        if !parts.iter().any(|p: &String| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    super::redact_signed_urls(&parts.join(": "))
}

/// Hears about each retry, so a CI log shows why a step took longer; the library does not print.
pub type Notice = Arc<dyn Fn(String) + Send + Sync>;

pub struct Client {
    http: OnceLock<reqwest::Client>,
    proxies: Proxies,
    base: BaseUrl,
    key: ApiKey,
    timeouts: Timeouts,
    retry: RetryPolicy,
    notice: Option<Notice>,
    trace: (Trace, Option<Notice>),
}

/// How much of each request `-v` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trace {
    Off,
    Requests,
    Headers,
}

/// How one attempt failed before any status came back, told apart by what the server may have
/// seen: nothing (connect, or a proxy on the way that failed), or the request without an answer.
fn transport_error(
    what: &str,
    url: &str,
    via: Option<&Via>,
    e: &reqwest::Error,
    timeout: Duration,
) -> ApiError {
    let detail = describe(e);
    if e.is_connect() {
        let lower = detail.to_ascii_lowercase();
        let (cause, detail) = if lower.contains("invalidcontenttype") {
            // rustls reading a plain-http answer as a TLS record.
            let hint = "the server does not speak TLS; is the URL http://?";
            (ConnectCause::Tls, format!("{detail} ({hint})"))
        } else if lower.contains("unknownissuer") {
            (
                ConnectCause::Tls,
                format!("{detail} ({})", untrusted_hint()),
            )
        } else if lower.contains("certificate")
            || lower.contains("tls")
            || lower.contains("handshake")
        {
            (ConnectCause::Tls, with_bundle(detail))
        } else if let Some(via) = via {
            return at_proxy(what, url, via, &detail);
        } else if lower.contains("dns error") || lower.contains("failed to lookup address") {
            (ConnectCause::Dns, detail)
        } else {
            (ConnectCause::Network, detail)
        };
        let detail = match via {
            Some(via) => format!("{detail} (through {via})"),
            None => detail,
        };
        return ApiError::Connect {
            what: what.to_owned(),
            url: redact_url(url).into_owned(),
            detail,
            cause,
        };
    }
    let detail = if e.is_timeout() {
        format!("no answer within {}", crate::timestamp::duration(timeout))
    } else {
        detail
    };
    ApiError::NoAnswer {
        what: what.to_owned(),
        url: redact_url(url).into_owned(),
        detail,
    }
}

/// A failure before the API was reached, at the proxy `url` goes through: it could not be
/// reached, closed the connection, would not open a tunnel, or asked for credentials.
fn at_proxy(what: &str, url: &str, via: &Via, detail: &str) -> ApiError {
    let url = redact_url(url);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("proxy authorization required") {
        return proxy_auth(what, via);
    }
    // hyper-util's tunnel error says only "tunnel error: …"; what follows it is the cause.
    let cause = detail
        .split_once("tunnel error: ")
        .map_or(detail, |(_, c)| c)
        .trim_start_matches("error sending request: ")
        .trim_start_matches("client error (Connect): ")
        .trim_start_matches("failed to create underlying connection: ")
        .trim_start_matches("io error establishing tunnel: ");
    let problem = if lower.contains("unexpected end of file") {
        "closed the connection without answering".to_owned()
    } else if lower.contains("tunnel error: unsuccessful") {
        "refused to open a tunnel (its answer to CONNECT was not 200)".to_owned()
    } else {
        format!("could not be reached: {cause}")
    };
    ApiError::AtProxy {
        what: what.to_owned(),
        detail: format!(
            "{via} {problem}, so {url} was never reached; is {} right, and is the proxy up?",
            via.var
        ),
        auth: false,
    }
}

/// A proxy's `407 Proxy Authentication Required`: its definite answer to the credentials.
fn proxy_auth(what: &str, via: &Via) -> ApiError {
    let var = via.var;
    let detail = if via.has_credentials {
        format!(
            "{via} refused the credentials in {var} (407 Proxy Authentication Required); check the user and password there"
        )
    } else {
        format!(
            "{via} asks for credentials (407 Proxy Authentication Required) and {var} has none; set it to http://USER:PASSWORD@{}",
            via.proxy
        )
    };
    ApiError::AtProxy {
        what: what.to_owned(),
        detail,
        auth: true,
    }
}

/// The CA bundle in use when `SSL_CERT_FILE` or `SSL_CERT_DIR` replaces the system's store, as
/// `SSL_CERT_FILE=/path`: a certificate failure is about that bundle, and after a proxy's CA is
/// renewed under the same name, the bundle is what has to change.
fn bundle_in_use() -> Option<String> {
    let set: Vec<String> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(|v| {
            crate::environment::var_os(v).map(|p| format!("{v}={}", p.to_string_lossy()))
        })
        .collect();
    (!set.is_empty()).then(|| set.join(" and "))
}

/// A TLS failure's detail, naming the bundle in use when it is not the system's store.
fn with_bundle(detail: String) -> String {
    let Some(bundle) = bundle_in_use() else {
        return detail;
    };
    if detail.contains("BadSignature") {
        // The chain names a CA the bundle holds, but another key signed it.
        format!(
            "{detail} (the certificate names a CA found in {bundle}, but that CA's key did not sign it: the CA was probably renewed under the same name; put the current one in that bundle)"
        )
    } else {
        format!("{detail} (certificates were checked against {bundle})")
    }
}

/// What a certificate from an unknown issuer means here. doksi trusts the system's CA store, or
/// `SSL_CERT_FILE`/`SSL_CERT_DIR` in its place (as OpenSSL does), and nothing bundled; a store
/// that is empty or misplaced fails every connection with this same error, so it is named.
fn untrusted_hint() -> String {
    let set: Vec<&str> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter(|v| crate::environment::var_os(v).is_some())
        .collect();
    let (source, fix) = if set.is_empty() {
        let fix = "install them (ca-certificates), or set SSL_CERT_FILE to a PEM bundle";
        ("the system's CA store".to_owned(), fix)
    } else {
        let fix = "when set, SSL_CERT_FILE and SSL_CERT_DIR replace the system's CA store, so they must hold the CAs to trust";
        (bundle_in_use().unwrap_or_else(|| set.join(" and ")), fix)
    };
    // The same loader reqwest used; this runs only on this error.
    let found = rustls_native_certs::load_native_certs();
    if found.certs.is_empty() {
        let why: String = found.errors.iter().map(|e| format!(": {e}")).collect();
        return format!("no CA certificates were found in {source}{why}; {fix}");
    }
    format!(
        "not issued by any of the {} CA certificates in {source}; behind a TLS-inspecting proxy, set SSL_CERT_FILE to a PEM bundle that holds its CA and the public roots",
        found.certs.len()
    )
}

impl Client {
    /// Cannot fail: the HTTP client, which can (a CA store that does not load), is built on first
    /// use, by `http`.
    pub fn new(base: BaseUrl, key: ApiKey, timeouts: Timeouts, retry: RetryPolicy) -> Client {
        Client {
            http: OnceLock::new(),
            proxies: Proxies::from_env(),
            base,
            key,
            timeouts,
            retry,
            notice: None,
            trace: (Trace::Off, None),
        }
    }

    /// The HTTP client for API calls, built on first use: loading the system's root certificates
    /// costs more than a whole cache hit, which sends nothing.
    fn http(&self) -> Result<&reqwest::Client, ApiError> {
        if let Some(c) = self.http.get() {
            return Ok(c);
        }
        let built = self.build_http(self.timeouts.request)?;
        Ok(self.http.get_or_init(|| built))
    }

    /// An HTTP client whose sockets give up on a silent peer no sooner than `deadline`, the
    /// longest a request through it may take. reqwest's own defaults would abort a connection
    /// after 30 s without an acknowledgement (`TCP_USER_TIMEOUT`), or 60 s of unanswered
    /// keepalive probes, whatever the request's timeout says; the request's timeout is the one
    /// that speaks, so the socket's are set a little past it.
    fn build_http(&self, deadline: Duration) -> Result<reqwest::Client, ApiError> {
        let socket = socket_timeouts(deadline);
        let builder = reqwest::Client::builder();
        // Only these kernels have the option (and only there does reqwest set its 30 s).
        #[cfg(any(target_os = "android", target_os = "fuchsia", target_os = "linux"))]
        let builder = builder.tcp_user_timeout(socket.user_timeout);
        builder
            .connect_timeout(self.timeouts.connect)
            .tcp_keepalive(socket.keepalive_idle)
            .tcp_keepalive_interval(socket.keepalive_interval)
            .tcp_keepalive_retries(socket.keepalive_retries)
            .user_agent(concat!("doksi/", env!("CARGO_PKG_VERSION")))
            // reqwest drops Authorization on a redirect to another host; few hops are enough.
            .redirect(reqwest::redirect::Policy::limited(5))
            .build()
            .map_err(|e| ApiError::Local {
                what: "setting up HTTP".into(),
                detail: describe(&e),
            })
    }

    /// Where retries are reported (the CLI prints them on stderr).
    pub fn with_notice(mut self, notice: Notice) -> Client {
        self.notice = Some(notice);
        self
    }

    /// Logs every request to `sink`: the request line and answer status at [`Trace::Requests`],
    /// with headers at [`Trace::Headers`]. The key is shown redacted, presigned URLs masked.
    pub fn with_trace(mut self, level: Trace, sink: Notice) -> Client {
        self.trace = (level, Some(sink));
        self
    }

    fn trace_request(&self, r: &reqwest::Request) {
        let (level, Some(sink)) = &self.trace else {
            return;
        };
        if *level == Trace::Off {
            return;
        }
        sink(format!("> {} {}", r.method(), redact_url(r.url().as_str())));
        if *level == Trace::Headers {
            for (name, value) in r.headers() {
                let shown = if name == AUTHORIZATION {
                    format!("Bearer {}", self.key.redacted())
                } else {
                    value.to_str().unwrap_or("(binary)").to_owned()
                };
                sink(format!(">   {name}: {shown}"));
            }
        }
    }

    fn trace_response(&self, what: &str, r: &reqwest::Response, sent: Instant) {
        let (level, Some(sink)) = &self.trace else {
            return;
        };
        if *level == Trace::Off {
            return;
        }
        sink(format!(
            "< {} for {what} in {} ms",
            r.status(),
            sent.elapsed().as_millis()
        ));
        if *level == Trace::Headers {
            for (name, value) in r.headers() {
                sink(format!(
                    "<   {name}: {}",
                    value.to_str().unwrap_or("(binary)")
                ));
            }
        }
    }

    pub fn base_url(&self) -> &BaseUrl {
        &self.base
    }

    /// The key's one-way fingerprint, for scoping cached targets.
    pub fn key_fingerprint(&self) -> String {
        self.key.fingerprint()
    }

    /// The key's last four characters, for telling cached targets' accounts apart by eye.
    pub fn key_hint(&self) -> &str {
        self.key.last_four()
    }

    pub async fn mint_upload(&self, name: &str) -> Result<UploadMinted, ApiError> {
        self.call(
            Method::POST,
            "uploads",
            Some(&UploadRequest {
                name: name.to_owned(),
            }),
            Effect::Repeatable,
            None,
            SMALL_ANSWER_LIMIT,
        )
        .await
    }

    pub async fn register_target(&self, upload_id: &str) -> Result<TargetCreated, ApiError> {
        let body = TargetRequest {
            upload_id: upload_id.to_owned(),
        };
        self.call(
            Method::POST,
            "targets",
            Some(&body),
            Effect::Repeatable,
            None,
            SMALL_ANSWER_LIMIT,
        )
        .await
    }

    /// Creates a run. Retried only while the run cannot exist yet; any failure after which it
    /// may exist becomes [`ApiError::RunMayExist`]. See [`retry::decide`].
    pub async fn create_run(&self, request: &RunRequest) -> Result<RunCreated, ApiError> {
        self.call(
            Method::POST,
            "runs",
            Some(request),
            Effect::CreatesRun,
            None,
            RUN_ANSWER_LIMIT,
        )
        .await
        .map_err(|e| {
            if retry::may_have_created_run(&e) {
                ApiError::RunMayExist {
                    detail: e.to_string(),
                }
            } else {
                e
            }
        })
    }

    /// The run, and the API's JSON object as it came (for `--json`).
    pub async fn get_run(&self, run_id: &str) -> Result<(Run, serde_json::Value), ApiError> {
        self.get_run_until(run_id, None).await
    }

    /// [`Client::get_run`], with every attempt and retry over by `until`: a poll never holds a
    /// wait past its deadline.
    pub async fn get_run_until(
        &self,
        run_id: &str,
        until: Option<Instant>,
    ) -> Result<(Run, serde_json::Value), ApiError> {
        // The id goes into the path as one segment, whatever it holds (`../uploads`, `x?y=1`),
        // except `.` and `..`: URL parsers resolve those away even escaped (`%2E` is a dot).
        if matches!(run_id, "." | "..") {
            return Err(ApiError::Local {
                what: format!("GET /runs/{run_id}"),
                detail: "a run id of . or .. cannot be put in a URL".into(),
            });
        }
        let route = format!("runs/{}", path_segment(run_id));
        let raw: serde_json::Value = self
            .call::<_, ()>(
                Method::GET,
                &route,
                None,
                Effect::Repeatable,
                until,
                RUN_ANSWER_LIMIT,
            )
            .await?;
        let run = serde_json::from_value(raw.clone()).map_err(|e| ApiError::BadAnswer {
            what: format!("GET /{route}"),
            status: 200,
            detail: e.to_string(),
        })?;
        Ok((run, raw))
    }

    /// Runs `attempt` until it succeeds, [`retry::decide`] says stop, or the policy runs out;
    /// no retry starts that could not finish its wait before `until`.
    async fn with_retries<T, F, Fut>(
        &self,
        effect: Effect,
        until: Option<Instant>,
        mut attempt: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let started = Instant::now();
        let end = until.map_or(started + self.retry.budget, |u| {
            u.min(started + self.retry.budget)
        });
        let mut n = 0;
        loop {
            n += 1;
            let error = match attempt().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let decision = retry::decide(&error, effect);
            let wait = self.retry.delay(decision, n);
            let out_of_time = Instant::now() + wait >= end;
            if decision == Decision::Stop || n >= self.retry.attempts || out_of_time {
                return Err(if n > 1 {
                    ApiError::GaveUp {
                        attempts: n,
                        last: Box::new(error),
                    }
                } else {
                    error
                });
            }
            if let Some(notice) = &self.notice {
                // One short line: the error names the request and the URL already.
                notice(format!(
                    "{error}; retrying in {:.1}s (attempt {} of {})",
                    wait.as_secs_f64(),
                    n + 1,
                    self.retry.attempts
                ));
            }
            tokio::time::sleep(wait).await;
        }
    }

    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        method: Method,
        route: &str,
        body: Option<&B>,
        effect: Effect,
        until: Option<Instant>,
        limit: u64,
    ) -> Result<T, ApiError> {
        let url = self.base.join(route);
        let via = self.proxies.for_url(&url);
        let what = format!("{method} /{route}");
        self.with_retries(effect, until, || async {
            let http = self.http()?;
            // A request may take its usual time, or what is left before `until`, if less.
            let timeout = until.map_or(self.timeouts.request, |u| {
                let left = u.saturating_duration_since(Instant::now());
                self.timeouts
                    .request
                    .min(left.max(Duration::from_millis(1)))
            });
            let mut req = http
                .request(method.clone(), &url)
                .header(AUTHORIZATION, self.key.bearer())
                .timeout(timeout);
            if let Some(b) = body {
                req = req.json(b);
            }
            let request = req.build().map_err(|e| ApiError::Local {
                what: what.clone(),
                detail: describe(&e),
            })?;
            self.trace_request(&request);
            let sent = Instant::now();
            let resp = http
                .execute(request)
                .await
                .map_err(|e| transport_error(&what, &url, via.as_ref(), &e, timeout))?;
            let status = resp.status();
            self.trace_response(&what, &resp, sent);
            if let (StatusCode::PROXY_AUTHENTICATION_REQUIRED, Some(via)) = (status, &via) {
                return Err(proxy_auth(&what, via));
            }
            let wait = retry_after(resp.headers());
            let limit = if status.is_success() {
                limit
            } else {
                SMALL_ANSWER_LIMIT
            };
            // Past this point the server did answer: a failure is a cut-off answer, not a dead host.
            let bytes = read_bounded(resp, limit)
                .await
                .map_err(|e| ApiError::CutOff {
                    what: what.clone(),
                    status: status.as_u16(),
                    detail: describe(&e),
                })?
                .ok_or_else(|| ApiError::TooLarge {
                    what: what.clone(),
                    status: status.as_u16(),
                    limit,
                })?;
            decode(&what, status, wait, &bytes)
        })
        .await
    }

    /// PUTs the upload zip to a presigned URL, streamed from disk with its exact length (without
    /// an explicit Content-Length reqwest would send it chunked, which S3 refuses) and no
    /// Authorization header. A dropped connection or a 5xx restarts the PUT from the first byte,
    /// reopening the file; a 403 (expired or refused URL) is returned for the caller to mint a
    /// fresh one, and so is [`ApiError::UrlExpired`] when `expires` (see [`expiry`]) has passed
    /// before an attempt starts, rather than sending the whole body to earn that 403. `progress`
    /// is told the bytes sent so far and the total; each attempt starts again from 0.
    pub async fn put_upload(
        &self,
        url: &str,
        zip: &UploadZip,
        expires: Option<Instant>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<(), ApiError> {
        let budget = self.put_budget(zip.len());
        // A client of its own, whose sockets outlast this upload's budget, not an API call's.
        let http = self.build_http(budget)?;
        let via = self.proxies.for_url(url);
        let put = Put {
            http: &http,
            url,
            via: via.as_ref(),
            budget,
            expires,
        };
        self.with_retries(Effect::Repeatable, None, || {
            self.put_once(&put, zip, progress)
        })
        .await
    }

    /// How long one PUT of `len` bytes may take: the request timeout, and more for a larger
    /// upload, so a slow link is not cut off while a dead one still is.
    fn put_budget(&self, len: u64) -> Duration {
        self.timeouts.request + Duration::from_secs(len / self.timeouts.min_upload_rate.max(1))
    }

    async fn put_once(
        &self,
        put: &Put<'_>,
        zip: &UploadZip,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<(), ApiError> {
        let what = "PUT upload";
        let (url, budget, http) = (put.url, put.budget, put.http);
        let len = zip.len();
        if put
            .expires
            .is_some_and(|at| Instant::now() + EXPIRY_SLACK >= at)
        {
            return Err(ApiError::UrlExpired);
        }
        progress(0, len);
        // The body must be 'static and `progress` is borrowed: the body counts what it hands
        // over, and this task reports the count while the request runs.
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let body = chunks(zip.reader()?).inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        });
        let request = http
            .put(url)
            .header(CONTENT_LENGTH, len)
            .header(CONTENT_TYPE, "application/zip")
            .timeout(budget)
            .body(reqwest::Body::wrap_stream(body))
            .build()
            .map_err(|e| ApiError::Local {
                what: what.into(),
                detail: describe(&e),
            })?;
        self.trace_request(&request);
        let started = Instant::now();
        let send = http.execute(request);
        tokio::pin!(send);
        let mut ticker = tokio::time::interval(Duration::from_millis(200));
        let resp = loop {
            tokio::select! {
                r = &mut send => break r,
                _ = ticker.tick() => progress(sent.load(Ordering::Relaxed), len),
            }
        };
        progress(sent.load(Ordering::Relaxed), len);
        let resp = resp.map_err(|e| {
            read_failure(what, &e)
                .unwrap_or_else(|| transport_error(what, url, put.via, &e, budget))
        })?;
        self.trace_response(what, &resp, started);
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        if let (StatusCode::PROXY_AUTHENTICATION_REQUIRED, Some(via)) = (status, put.via) {
            return Err(proxy_auth(what, via));
        }
        let wait = retry_after(resp.headers());
        let detail = match read_bounded(resp, SMALL_ANSWER_LIMIT).await {
            Ok(Some(body)) => storage_error(&body),
            Ok(None) => format!("(an answer over {SMALL_ANSWER_LIMIT} bytes, not read)"),
            Err(e) => format!("(the answer was cut off: {})", describe(&e)),
        };
        Err(ApiError::Storage {
            status: status.as_u16(),
            detail,
            retry_after: wait,
        })
    }
}

/// One upload's PUT, the same for each of its attempts.
struct Put<'a> {
    http: &'a reqwest::Client,
    url: &'a str,
    via: Option<&'a Via>,
    budget: Duration,
    expires: Option<Instant>,
}

/// How long before a presigned URL's expiry an attempt is no longer started with it: the
/// request must reach storage before the URL expires, which takes moments on a working link.
const EXPIRY_SLACK: Duration = Duration::from_secs(2);

/// When a presigned `url` that was asked for at `asked` (and `asked_wall` on this machine's
/// clock) expires, as the URL itself says: AWS's `X-Amz-Date` + `X-Amz-Expires` (Google's
/// `X-Goog-Date` + `X-Goog-Expires` likewise), or an `Expires` of Unix seconds (S3's older
/// form, Google's V2). The clocks of this machine and the storage may disagree: the lifetime is
/// counted from `asked` where the URL gives one (`X-Amz-Expires`), and a URL that looks expired
/// already by this machine's clock is taken as a wrong clock, not an expired URL.
pub fn expiry(url: &str, asked: Instant, asked_wall: SystemTime) -> Option<Instant> {
    let query = url.split_once('?')?.1;
    let param = |name: &str| {
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.eq_ignore_ascii_case(name).then_some(v)
        })
    };
    let now = asked_wall.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let left = |end: u64| end.checked_sub(now).filter(|&s| s > 0);
    let lifetime = param("X-Amz-Expires")
        .map(|v| (v, param("X-Amz-Date")))
        .or_else(|| param("X-Goog-Expires").map(|v| (v, param("X-Goog-Date"))));
    let secs = if let Some((expires, signed)) = lifetime {
        let expires: u64 = expires.parse().ok()?;
        // Signed earlier than asked (a URL made ahead of time) leaves less than its lifetime.
        match signed.and_then(amz_date).and_then(|at| left(at + expires)) {
            Some(left) => left.min(expires),
            None => expires,
        }
    } else {
        left(param("Expires")?.parse().ok()?)?
    };
    asked.checked_add(Duration::from_secs(secs))
}

/// `20260414T142210Z` (AWS's `X-Amz-Date`) as Unix seconds.
fn amz_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<u64>().ok();
    let (y, m, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (hh, mm, ss) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    Some(crate::timestamp::days_from_civil(y, m, d)? * 86_400 + hh * 3600 + mm * 60 + ss)
}

/// A read of the APK that failed during a PUT, kept apart from the network's own I/O errors in
/// the error reqwest returns.
#[derive(Debug, thiserror::Error)]
#[error("reading the APK: {0}")]
struct ReadFailed(#[source] std::io::Error);

/// The upload zip as a body: chunks read on the blocking pool (the reader does file I/O), each
/// read started as the chunk before it is handed over, so the disk and the network overlap.
fn chunks(reader: PackageReader) -> impl Stream<Item = Result<Vec<u8>, ReadFailed>> + Send {
    type Read = JoinHandle<Result<(Vec<u8>, PackageReader), ReadFailed>>;
    fn read(mut reader: PackageReader) -> Read {
        tokio::task::spawn_blocking(move || {
            let mut chunk = vec![0u8; 1 << 20];
            let n = std::io::Read::read(&mut reader, &mut chunk).map_err(ReadFailed)?;
            chunk.truncate(n);
            Ok((chunk, reader))
        })
    }
    futures_util::stream::try_unfold(read(reader), |next: Read| async move {
        let (chunk, reader) = next
            .await
            .map_err(|e| ReadFailed(std::io::Error::other(e)))??;
        Ok((!chunk.is_empty()).then(|| (chunk, read(reader))))
    })
}

/// The APK read that ended a PUT, if one did: reqwest returns it as the cause of its error.
fn read_failure(what: &str, e: &reqwest::Error) -> Option<ApiError> {
    let mut cause = e.source();
    while let Some(err) = cause {
        if let Some(ReadFailed(read)) = err.downcast_ref::<ReadFailed>() {
            return Some(match PackageError::changed_in(read) {
                Some(changed) => ApiError::Package(changed),
                None => ApiError::Local {
                    what: what.into(),
                    detail: format!("reading the APK: {read}"),
                },
            });
        }
        cause = err.source();
    }
    None
}

/// `segment` percent-encoded so that it stays one path segment: every byte outside RFC 3986's
/// unreserved set is escaped.
fn path_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// S3 answers errors in XML (`<Code>`, `<Message>`); anything else by its first line.
fn storage_error(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let tag = |name: &str| {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = text[start..].find(&format!("</{name}>"))? + start;
        Some(text[start..end].to_owned())
    };
    match (tag("Code"), tag("Message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        _ => first_line(body),
    }
}

/// Turns an answer into `T`, or into the error its status and body describe.
fn decode<T: DeserializeOwned>(
    what: &str,
    status: StatusCode,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<T, ApiError> {
    let code = status.as_u16();
    let what = what.to_owned();
    let not_json = |what| ApiError::NotJson {
        what,
        status: code,
        first_line: first_line(body),
        retry_after,
    };
    if status.is_success() {
        return serde_json::from_slice(body).map_err(|e| {
            if serde_json::from_slice::<serde_json::Value>(body).is_ok() {
                ApiError::BadAnswer {
                    what: what.clone(),
                    status: code,
                    detail: e.to_string(),
                }
            } else {
                not_json(what.clone())
            }
        });
    }
    Err(match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody {
            requested: Some(requested),
            remaining: Some(remaining),
            ..
        }) => ApiError::Quota {
            requested,
            remaining,
        },
        Ok(e) => ApiError::Api {
            what,
            status: code,
            message: with_hint(code, e.error),
            retry_after,
            documented: true,
        },
        Err(_) if serde_json::from_slice::<serde_json::Value>(body).is_ok() => ApiError::Api {
            what,
            status: code,
            message: first_line(body),
            retry_after,
            documented: false,
        },
        Err(_) => ApiError::NotJson {
            what,
            status: code,
            first_line: with_hint(code, first_line(body)),
            retry_after,
        },
    })
}

/// What a person should check after an answer that usually means a setting is wrong.
fn with_hint(status: u16, message: String) -> String {
    match status {
        401 | 403 => {
            format!("{message} (check DOKSI_API_KEY: is it this account's, for this base URL?)")
        }
        404 if message == "(empty body)" || message.starts_with('<') => format!(
            "{message} (is the base URL right? it usually ends in /external/integration/cicd)"
        ),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn presigned_urls_lose_their_secrets_when_shown() {
        let url = "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abcd&X-Amz-Security-Token=tok&X-Amz-Expires=900";
        assert_eq!(redact_url(url), "https://b.s3.amazonaws.com/k?…(redacted)");
    }

    #[test]
    fn error_bodies_decode_to_typed_errors() {
        let quota = decode::<serde_json::Value>(
            "POST /runs",
            StatusCode::PAYMENT_REQUIRED,
            None,
            br#"{"error":"quota","requested":12,"remaining":3}"#,
        );
        assert!(matches!(
            quota,
            Err(ApiError::Quota {
                requested: 12,
                remaining: 3
            })
        ));
        let api = decode::<serde_json::Value>(
            "GET /runs/x",
            StatusCode::NOT_FOUND,
            None,
            br#"{"error":"run x not found"}"#,
        )
        .unwrap_err();
        assert_eq!(api.to_string(), "GET /runs/x: HTTP 404: run x not found");
        let html = decode::<serde_json::Value>(
            "POST /uploads",
            StatusCode::BAD_GATEWAY,
            None,
            b"\n<html><title>502 Bad Gateway</title>\n</html>",
        )
        .unwrap_err();
        assert_eq!(
            html.to_string(),
            "POST /uploads: HTTP 502 with a body that is not JSON: <html><title>502 Bad Gateway</title>"
        );
        let truncated =
            decode::<UploadMinted>("POST /uploads", StatusCode::OK, None, br#"{"upload_id":"u"#)
                .unwrap_err();
        assert!(matches!(truncated, ApiError::NotJson { .. }));
        let wrong = decode::<UploadMinted>(
            "POST /uploads",
            StatusCode::OK,
            None,
            br#"{"upload_id":"u"}"#,
        )
        .unwrap_err();
        assert!(matches!(wrong, ApiError::BadAnswer { .. }), "{wrong}");
    }

    /// What a test server does with one connection: answer 200 once the whole body is in, close
    /// after reading `n` body bytes, or read everything and never answer.
    #[derive(Clone, Copy)]
    enum Conn {
        Answer,
        CutAfter(usize),
        Silent,
    }

    /// One connection as the server saw it: the request head, lower-cased, and the body read.
    type Seen = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

    /// An HTTP/1.1 server on 127.0.0.1 that treats connection `n` as `script[n]` (the last entry
    /// for any later one). Returns its URL and what it saw.
    fn storage(script: Vec<Conn>) -> (String, Seen) {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/upload?X-Amz-Signature=s",
            listener.local_addr().unwrap()
        );
        let seen: Seen = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for (n, stream) in listener.incoming().enumerate() {
                let Ok(mut stream) = stream else { return };
                let conn = script[n.min(script.len() - 1)];
                let log = log.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut head = String::new();
                    while reader.read_line(&mut head).unwrap_or(0) > 2 {}
                    let head = head.to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = Vec::new();
                    let want = match conn {
                        Conn::CutAfter(n) => n,
                        Conn::Answer => length,
                        Conn::Silent => usize::MAX,
                    };
                    let _ = reader.by_ref().take(want as u64).read_to_end(&mut body);
                    log.lock().unwrap().push((head, body));
                    if let Conn::Answer = conn {
                        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
                    }
                });
            }
        });
        (url, seen)
    }

    fn client(timeouts: Timeouts, attempts: u32) -> Client {
        Client::new(
            BaseUrl::parse("http://127.0.0.1:9", super::super::Transport::HttpsOnly).unwrap(),
            ApiKey::parse(&format!("dk_live_{}", "a".repeat(40))).unwrap(),
            timeouts,
            RetryPolicy {
                attempts,
                base_delay: Duration::from_millis(1),
                ..RetryPolicy::default()
            },
        )
    }

    /// An APK of `size` bytes that are not all alike, and its upload zip.
    fn apk(size: usize) -> (tempfile::TempDir, std::path::PathBuf, UploadZip) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.apk");
        let content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, content).unwrap();
        let zip = UploadZip::new(&path, crate::package::Fingerprint::of(&path).unwrap()).unwrap();
        (dir, path, zip)
    }

    fn zip_bytes(zip: &UploadZip) -> Vec<u8> {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut zip.reader().unwrap(), &mut v).unwrap();
        v
    }

    #[tokio::test]
    async fn the_put_sends_the_zip_with_its_exact_length_no_key_and_reports_progress() {
        let (_dir, _path, zip) = apk(3 << 20);
        let (url, seen) = storage(vec![Conn::Answer]);
        let told = Mutex::new(Vec::new());
        let progress = |sent, total| told.lock().unwrap().push((sent, total));
        client(Timeouts::default(), 1)
            .put_upload(&url, &zip, None, &progress)
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        let (head, body) = &seen[0];
        assert!(head.starts_with("put /upload?"), "{head}");
        assert!(
            head.contains(&format!("\r\ncontent-length: {}\r\n", zip.len())),
            "{head}"
        );
        assert!(
            head.contains("\r\ncontent-type: application/zip\r\n"),
            "{head}"
        );
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(!head.contains("authorization"), "{head}");
        assert!(*body == zip_bytes(&zip));
        let told = told.lock().unwrap();
        assert_eq!(told.last(), Some(&(zip.len(), zip.len())));
        assert!(told.windows(2).all(|w| w[0].0 <= w[1].0), "{told:?}");
    }

    #[tokio::test]
    async fn a_put_cut_off_midway_starts_again_from_the_first_byte() {
        let (_dir, _path, zip) = apk(3 << 20);
        let (url, seen) = storage(vec![Conn::CutAfter(1 << 20), Conn::Answer]);
        client(Timeouts::default(), 3)
            .put_upload(&url, &zip, None, &|_, _| {})
            .await
            .unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(seen[1].1 == zip_bytes(&zip));
    }

    #[tokio::test]
    async fn an_apk_that_changes_during_the_put_is_a_package_error_and_not_retried() {
        let (_dir, path, zip) = apk(3 << 20);
        std::fs::write(&path, vec![7u8; 3 << 20]).unwrap();
        let (url, seen) = storage(vec![Conn::Silent]);
        let err = client(Timeouts::default(), 3)
            .put_upload(&url, &zip, None, &|_, _| {})
            .await
            .unwrap_err();
        assert!(
            matches!(err, ApiError::Package(PackageError::Changed { .. })),
            "{err:?}"
        );
        // The server may log the connection after the client gave up on it; none comes later.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(seen.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_put_that_gets_no_answer_times_out() {
        let (_dir, _path, zip) = apk(1 << 20);
        let (url, _seen) = storage(vec![Conn::Silent]);
        let timeouts = Timeouts {
            request: Duration::from_millis(300),
            min_upload_rate: u64::MAX,
            ..Timeouts::default()
        };
        let started = Instant::now();
        let err = client(timeouts, 1)
            .put_upload(&url, &zip, None, &|_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::NoAnswer { .. }), "{err:?}");
        assert!(err.to_string().contains("no answer within"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn sockets_outlast_the_request_they_carry() {
        for (deadline, probes) in [(60, 5), (120, 9), (1, 1), (3600, 127)] {
            let t = socket_timeouts(Duration::from_secs(deadline));
            assert_eq!(t.user_timeout, Duration::from_secs(deadline) + SOCKET_SLACK);
            assert_eq!(t.keepalive_retries, probes, "{deadline}");
            let silent = t.keepalive_idle + t.keepalive_interval * t.keepalive_retries;
            assert!(
                silent >= Duration::from_secs(deadline).min(Duration::from_secs(1900)),
                "{deadline}: keepalive gives up after {silent:?}"
            );
        }
    }

    #[test]
    fn a_presigned_url_says_when_it_expires() {
        let asked = Instant::now();
        // 2026-04-14T14:22:10Z
        let wall = UNIX_EPOCH + Duration::from_secs(1_776_176_530);
        assert_eq!(amz_date("20260414T142210Z"), Some(1_776_176_530));
        assert_eq!(amz_date("20261314T142210Z"), None);
        assert_eq!(amz_date("2026-04-14"), None);
        let s3 = |date: &str, expires: u64| {
            format!("https://b.s3/k?X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-Signature=s")
        };
        // Signed as it was asked for: its whole lifetime.
        assert_eq!(
            expiry(&s3("20260414T142210Z", 900), asked, wall),
            Some(asked + Duration::from_secs(900))
        );
        // Signed 10 minutes before it was handed out: 5 minutes left.
        assert_eq!(
            expiry(&s3("20260414T141210Z", 900), asked, wall),
            Some(asked + Duration::from_secs(300))
        );
        // This machine's clock an hour ahead of the signer's: the lifetime, counted from now.
        assert_eq!(
            expiry(&s3("20260414T132210Z", 900), asked, wall),
            Some(asked + Duration::from_secs(900))
        );
        let v2 = "https://b.s3/k?AWSAccessKeyId=A&Expires=1776176590&Signature=s";
        assert_eq!(
            expiry(v2, asked, wall),
            Some(asked + Duration::from_secs(60))
        );
        // Expired by this machine's clock already: the clock is not trusted over the storage.
        let past = "https://b.s3/k?Expires=1776176000&Signature=s";
        assert_eq!(expiry(past, asked, wall), None);
        for unknown in [
            "https://b.s3/k",
            "https://b.s3/k?X-Amz-Expires=soon",
            "https://b/k?a=1",
        ] {
            assert_eq!(expiry(unknown, asked, wall), None, "{unknown}");
        }
    }

    #[tokio::test]
    async fn a_put_whose_url_expired_is_not_sent() {
        let (_dir, _path, zip) = apk(1 << 20);
        let (url, seen) = storage(vec![Conn::Answer]);
        let err = client(Timeouts::default(), 3)
            .put_upload(&url, &zip, Some(Instant::now()), &|_, _| {})
            .await
            .unwrap_err();
        assert!(matches!(err, ApiError::UrlExpired), "{err:?}");
        std::thread::sleep(Duration::from_millis(100));
        assert!(seen.lock().unwrap().is_empty());
    }

    #[test]
    fn s3_xml_errors_are_summarised() {
        let body = b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(storage_error(body), "AccessDenied: Request has expired");
    }
}
