//! What the tests see of the sandbox from outside the API: a log and per-route counts of every
//! request that reached either server (rejected ones included, so a test can prove the client
//! did not retry a 4xx or re-upload a cached APK; a `POST /runs` with the matrix it sent, so a
//! test can prove what a re-run asked for), and hooks under `/_sandbox` to read stored
//! uploads and targets and to edit the fault plan. The hooks need no key and are not themselves
//! logged. The recorder is also where a request draws its fault, so the log names it.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::json;

use super::faults::{self, Route};
use super::{API_PATH, ApiError, Server, Shared, Stored, inject, runs};

/// The log keeps the latest entries only, so a long `doksi sandbox` session stays small; the
/// counts are never trimmed.
const LOG_LIMIT: usize = 10_000;

/// The largest `POST /runs` body read for the log: axum's own limit for a body the handler takes
/// whole, so the handler sees what it would have seen (a matrix is a few kilobytes).
const BODY_LIMIT: usize = 2 << 20;

/// The routes tests count, shown even before their first hit so a test can read a zero.
const KNOWN_ROUTES: [&str; 5] = [
    "POST /uploads",
    "PUT /uploads",
    "POST /targets",
    "POST /runs",
    "GET /runs",
];

/// One request as the log shows it. Header values that could be secret are never kept: of
/// `Authorization`, only whether it was sent.
#[derive(Debug, Clone, Serialize)]
struct Entry {
    server: Server,
    method: String,
    /// The path's first segment below the API base (`/uploads`, `/runs`): ids are left out so
    /// requests to the same route count together.
    route: String,
    /// 499 when no whole answer went out: the client hung up, or a fault hung up on it.
    status: u16,
    /// The fault the request met, in its plan form (`503`, `reset`), or null.
    fault: Option<String>,
    authorization: bool,
    content_length: Option<u64>,
    transfer_encoding: Option<String>,
    content_type: Option<String>,
    /// `POST /runs` only: the JSON body as it came (a matrix holds no secret); absent when it
    /// was not JSON or the client hung up while sending it.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<serde_json::Value>,
    /// The whole path, its query's values masked; for [`Served`], not the log's readers.
    #[serde(skip)]
    path: String,
    #[serde(skip)]
    started: Instant,
}

/// One request once answered, as `doksi sandbox -v` shows it:
/// `POST /external/integration/cicd/uploads 200 3ms`. It holds no header, and of the query
/// only the names (a presigned URL's signature is in a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served {
    pub method: String,
    /// The path, with each query value replaced by `…`.
    pub path: String,
    /// 499 when no whole answer went out (the client hung up, or a fault hung up on it).
    pub status: u16,
    /// From the request's arrival to its answer's headers.
    pub duration: Duration,
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}ms",
            self.method,
            self.path,
            self.status,
            self.duration.as_millis()
        )
    }
}

/// `path?query` with the query's values masked (`?X-Amz-Signature=…`), and items with no
/// value masked whole.
fn masked(path: &str, query: Option<&str>) -> String {
    let Some(query) = query else {
        return path.to_owned();
    };
    let names: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((name, _)) => format!("{name}=…"),
            // A bare item may be a token: masked whole.
            None => "…".to_owned(),
        })
        .collect();
    format!("{path}?{}", names.join("&"))
}

pub(super) struct Traffic {
    counts: BTreeMap<String, u64>,
    log: VecDeque<Entry>,
}

impl Default for Traffic {
    fn default() -> Traffic {
        Traffic {
            counts: KNOWN_ROUTES.iter().map(|r| (r.to_string(), 0)).collect(),
            log: VecDeque::new(),
        }
    }
}

impl Traffic {
    fn push(&mut self, entry: Entry) {
        *self
            .counts
            .entry(format!("{} {}", entry.method, entry.route))
            .or_default() += 1;
        if self.log.len() == LOG_LIMIT {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }
}

/// The state of the logging middleware: which server it sits in front of.
#[derive(Clone)]
pub(super) struct Recorder {
    shared: Arc<Shared>,
    server: Server,
}

impl Recorder {
    pub(super) fn new(shared: &Arc<Shared>, server: Server) -> Recorder {
        Recorder {
            shared: shared.clone(),
            server,
        }
    }
}

/// Logs a request when it is answered, or, if the client hangs up first and hyper drops the
/// handler, with status 499 (nginx's "client closed request"), so no request goes uncounted.
struct Pending {
    shared: Arc<Shared>,
    entry: Option<Entry>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(entry) = self.entry.take() {
            let served = self.shared.on_served.map(|tell| {
                let served = Served {
                    method: entry.method.clone(),
                    path: entry.path.clone(),
                    status: entry.status,
                    duration: entry.started.elapsed(),
                };
                (tell, served)
            });
            self.shared.traffic().push(entry);
            // Told with no lock held: the listener may take its time writing.
            if let Some((tell, served)) = served {
                tell(&served);
            }
        }
    }
}

/// Logs the request and hands it on, through the fault it draws from the plan if any.
pub(super) async fn record(State(recorder): State<Recorder>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/_sandbox" || path.starts_with("/_sandbox/") {
        return next.run(req).await;
    }
    let route = Route::of(recorder.server, req.method(), path);
    let fault = route.and_then(|route| recorder.shared.faults().draw(route));
    let headers = req.headers();
    let mut pending = Pending {
        shared: recorder.shared,
        entry: Some(Entry {
            server: recorder.server,
            method: req.method().to_string(),
            route: route_of(path),
            status: 499,
            fault: fault.map(|f| f.to_string()),
            authorization: headers.contains_key(header::AUTHORIZATION),
            content_length: text(headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            transfer_encoding: text(headers, header::TRANSFER_ENCODING),
            content_type: text(headers, header::CONTENT_TYPE),
            body: None,
            path: masked(path, req.uri().query()),
            started: Instant::now(),
        }),
    };
    // Read after `pending` exists: a client that hangs up mid-body is still logged.
    let req = match route {
        Some(Route::Runs) => {
            let (req, body) = read_body(req).await;
            if let Some(entry) = &mut pending.entry {
                entry.body = body;
            }
            req
        }
        _ => req,
    };
    let response = match fault {
        None => next.run(req).await,
        Some(fault) => inject::inflict(fault, req, next).await,
    };
    if let Some(entry) = &mut pending.entry {
        entry.status = response.status().as_u16();
    }
    // `pending` is logged as it drops here, before the client can read the answer.
    response
}

/// The request with its body read whole (and handed on unchanged), and that body as JSON. A body
/// that cannot be read goes on empty, which the handler refuses as it would any bad body.
async fn read_body(req: Request) -> (Request, Option<serde_json::Value>) {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .unwrap_or_default();
    let json = serde_json::from_slice(&bytes).ok();
    (Request::from_parts(parts, Body::from(bytes)), json)
}

fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

fn route_of(path: &str) -> String {
    let below = path.strip_prefix(API_PATH).unwrap_or(path);
    let first = below
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or("");
    format!("/{first}")
}

pub(super) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/requests", get(requests))
        .route("/reset-counts", post(reset_counts))
        .route("/uploads/{id}", get(stored_upload))
        .route("/targets", get(targets))
        .route("/verify/tests/{test_id}/runs/{result_id}", get(result_page))
        .route(
            "/faults",
            get(faults::list).post(faults::add).delete(faults::clear),
        )
}

/// The counts, the log, and how many runs exist (a run whose answer a fault swallowed
/// included).
async fn requests(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    // The state lock is taken and released first: no lock is ever held while taking another.
    let runs_created = shared.state().runs.len();
    let traffic = shared.traffic();
    Json(json!({ "counts": traffic.counts, "log": traffic.log, "runs_created": runs_created }))
}

/// Clears the log with the counts: a test resets to look at what happens next, and a log
/// that disagreed with the counts would only confuse it. Answers with the zeroed counts.
async fn reset_counts(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let mut traffic = shared.traffic();
    *traffic = Traffic::default();
    Json(json!({ "counts": traffic.counts, "log": traffic.log }))
}

/// The stored zip, byte for byte, streamed (uploads can be a gigabyte).
async fn stored_upload(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let path = match shared.stored(&id) {
        Stored::Unknown => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("upload {id} not found"),
            ));
        }
        Stored::Pending => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("upload {id} has not been uploaded yet"),
            ));
        }
        Stored::At(path) => path,
    };
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot open {}: {e}", path.display()),
        )
    })?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok(([(header::CONTENT_TYPE, "application/zip")], body).into_response())
}

/// Every registered target with the package and version its manifest gave.
async fn targets(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let state = shared.state();
    let targets: BTreeMap<_, _> = state.targets.iter().collect();
    Json(json!(targets))
}

/// Where a result's `url` points, so the links `doksi run` prints lead somewhere.
async fn result_page(
    State(shared): State<Arc<Shared>>,
    Path((_test_id, result_id)): Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    runs::find_result(&shared, &result_id)
        .map(Json)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("result {result_id} not found"),
            )
        })
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn routes_drop_ids_and_the_api_prefix() {
        assert_eq!(route_of("/external/integration/cicd/runs/run_1"), "/runs");
        assert_eq!(route_of("/external/integration/cicd/uploads"), "/uploads");
        assert_eq!(route_of("/uploads/upl_3"), "/uploads");
        assert_eq!(route_of("/"), "/");
    }

    #[test]
    fn counts_start_at_zero_and_survive_the_log_limit() {
        let mut traffic = Traffic::default();
        assert_eq!(traffic.counts["GET /runs"], 0);
        for _ in 0..LOG_LIMIT + 3 {
            traffic.push(Entry {
                server: Server::Api,
                method: "GET".into(),
                route: "/runs".into(),
                status: 200,
                fault: None,
                authorization: true,
                content_length: None,
                transfer_encoding: None,
                content_type: None,
                body: None,
                path: "/external/integration/cicd/runs/run_1".into(),
                started: Instant::now(),
            });
        }
        assert_eq!(traffic.counts["GET /runs"], (LOG_LIMIT + 3) as u64);
        assert_eq!(traffic.log.len(), LOG_LIMIT);
    }

    #[test]
    fn a_served_line_masks_every_query_value() {
        let served = Served {
            method: "PUT".into(),
            path: masked(
                "/uploads/upl_1",
                Some("X-Amz-Date=1&X-Amz-Signature=00ff&flag"),
            ),
            status: 200,
            duration: Duration::from_micros(3_900),
        };
        assert_eq!(
            served.to_string(),
            "PUT /uploads/upl_1?X-Amz-Date=…&X-Amz-Signature=…&… 200 3ms"
        );
        assert_eq!(masked("/runs", None), "/runs");
    }
}
