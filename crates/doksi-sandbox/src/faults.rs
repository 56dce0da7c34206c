//! The fault plan: which of the next requests fail, and how. A plan is a queue of
//! [`FaultSpec`]s (route, fault, count), seeded from `SandboxConfig::faults` and edited under
//! `/_sandbox/faults`; each request to a route takes the first spec for that route, `count`
//! times over. This module owns the specs, their text form (`POST /runs=503x2`) and the plan;
//! what each fault does to a request is `inject`'s business, the request log's is `admin`'s.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::Method;
use axum::response::Json;
use serde_json::{Value, json};

use super::Server;
use super::{API_PATH, ApiError, Shared, parse_json};

/// One line of a fault plan: the next `count` requests to `route` meet `fault`. Its text form
/// is `ROUTE=FAULT[xCOUNT]`, e.g. `POST /runs=503x2`, `GET /runs=429:2x3`; count defaults to 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultSpec {
    pub route: Route,
    pub fault: Fault,
    pub count: u32,
}

/// The routes a fault can hit, named as the request log counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// `POST /uploads`
    Uploads,
    /// `PUT /uploads/{id}`, on the storage server.
    Put,
    /// `POST /targets`
    Targets,
    /// `POST /runs`
    Runs,
    /// `GET /runs/{id}`
    GetRun,
}

/// What a request meets instead of (or on top of) its normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `429[:SECS]`: 429 with `Retry-After: SECS` (default 1); nothing happens.
    TooMany { retry_after_secs: u64 },
    /// `500`, `503`…: that status with a JSON error; nothing happens. Any 4xx or 5xx but 404
    /// and 429, which have faults of their own.
    Status(u16),
    /// `502-html`: a proxy's HTML error page; nothing happens.
    HtmlBadGateway,
    /// `reset`: the connection is reset before the request is handled; no answer.
    Reset,
    /// `stall-after-create`: the request is handled (a run is created), then no answer ever
    /// comes, until the client gives up or ten minutes pass.
    StallAfterCreate,
    /// `reset-after-create`: the request is handled, then the connection is reset.
    ResetAfterCreate,
    /// `serve-then-N` (N a 4xx or 5xx status): the request is handled (a run is created), then
    /// a gateway's HTML page with status N comes back, as nginx or a cloud load balancer sends
    /// when the backend answered too late or hung up.
    ServeThen(u16),
    /// `truncate`: the request is handled; the answer's headers promise more body than comes
    /// before the connection closes.
    Truncate,
    /// `not-json`: 200 with a plain-text body; nothing happens.
    NotJson,
    /// `404` (`GET /runs` only): the run is reported missing even if it exists.
    NotFound,
    /// `expire` (`PUT /uploads` only): S3's 403 for an expired URL; nothing is stored.
    Expire,
    /// `reset-mid-body` (`PUT /uploads` only): part of the body is read, then the connection
    /// is reset; nothing is stored.
    ResetMidBody,
}

/// Why a fault spec did not parse; each message names the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    #[error("fault spec {0:?} has no `=`: want ROUTE=FAULT[xCOUNT], e.g. \"POST /runs=503x2\"")]
    NoEquals(String),
    #[error("unknown route {0:?}: want one of {ROUTES}")]
    Route(String),
    #[error("unknown fault {0:?}: want {FAULTS}")]
    Fault(String),
    #[error("bad Retry-After {0:?} in a 429 fault: want whole seconds, e.g. 429:2")]
    RetryAfter(String),
    #[error("bad count {0:?}: want a whole number from 1 up, e.g. x2")]
    Count(String),
    #[error("fault {fault} applies to {only} only, not to {route}")]
    Misplaced {
        fault: Fault,
        route: Route,
        only: Route,
    },
}

pub(super) const ROUTES: &str = "POST /uploads, PUT /uploads, POST /targets, POST /runs, GET /runs";
pub(super) const FAULTS: &str = "429[:SECS], a 4xx or 5xx status, 502-html, reset, stall-after-create, \
     reset-after-create, serve-then-N, truncate, not-json, 404 (GET /runs), expire or reset-mid-body (PUT /uploads)";

impl Route {
    const ALL: [Route; 5] = [
        Route::Uploads,
        Route::Put,
        Route::Targets,
        Route::Runs,
        Route::GetRun,
    ];

    fn as_str(self) -> &'static str {
        match self {
            Route::Uploads => "POST /uploads",
            Route::Put => "PUT /uploads",
            Route::Targets => "POST /targets",
            Route::Runs => "POST /runs",
            Route::GetRun => "GET /runs",
        }
    }

    /// The route a request to `server` is for, if a fault can hit it. Requests the routers
    /// would refuse anyway (`GET /uploads`, `/runs/a/b`) match none.
    pub(super) fn of(server: Server, method: &Method, path: &str) -> Option<Route> {
        let below = match server {
            Server::Api => path.strip_prefix(API_PATH)?,
            Server::Storage => path,
        };
        let below = below.strip_prefix('/')?;
        let (first, id) = match below.split_once('/') {
            Some((first, id)) if !id.is_empty() && !id.contains('/') => (first, Some(id)),
            Some(_) => return None,
            None => (below, None),
        };
        let route = match (server, first, id.is_some()) {
            (Server::Api, "uploads", false) => Route::Uploads,
            (Server::Api, "targets", false) => Route::Targets,
            (Server::Api, "runs", false) => Route::Runs,
            (Server::Api, "runs", true) => Route::GetRun,
            (Server::Storage, "uploads", true) => Route::Put,
            _ => return None,
        };
        (*method == route.method()).then_some(route)
    }

    fn method(self) -> Method {
        match self {
            Route::Put => Method::PUT,
            Route::GetRun => Method::GET,
            Route::Uploads | Route::Targets | Route::Runs => Method::POST,
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Route {
    type Err = FaultSpecError;

    /// `POST /runs`; the method in any case, and `GET /runs/{id}` as the docs write it.
    fn from_str(s: &str) -> Result<Route, FaultSpecError> {
        let unknown = || FaultSpecError::Route(s.trim().to_owned());
        let (method, path) = s.trim().split_once(' ').ok_or_else(unknown)?;
        let wanted = format!("{} {}", method.to_ascii_uppercase(), path.trim());
        if wanted == "GET /runs/{id}" {
            return Ok(Route::GetRun);
        }
        Route::ALL
            .into_iter()
            .find(|route| route.as_str() == wanted)
            .ok_or_else(unknown)
    }
}

impl Fault {
    /// The one route a fault is meant for, if it makes sense on one only.
    fn only_route(self) -> Option<Route> {
        match self {
            Fault::NotFound => Some(Route::GetRun),
            Fault::Expire | Fault::ResetMidBody => Some(Route::Put),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::TooMany {
                retry_after_secs: 1,
            } => f.write_str("429"),
            Fault::TooMany { retry_after_secs } => write!(f, "429:{retry_after_secs}"),
            Fault::Status(code) => write!(f, "{code}"),
            Fault::HtmlBadGateway => f.write_str("502-html"),
            Fault::Reset => f.write_str("reset"),
            Fault::StallAfterCreate => f.write_str("stall-after-create"),
            Fault::ResetAfterCreate => f.write_str("reset-after-create"),
            Fault::ServeThen(code) => write!(f, "serve-then-{code}"),
            Fault::Truncate => f.write_str("truncate"),
            Fault::NotJson => f.write_str("not-json"),
            Fault::NotFound => f.write_str("404"),
            Fault::Expire => f.write_str("expire"),
            Fault::ResetMidBody => f.write_str("reset-mid-body"),
        }
    }
}

impl FromStr for Fault {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Fault, FaultSpecError> {
        let fault = match s.trim() {
            "429" => Fault::TooMany {
                retry_after_secs: 1,
            },
            "404" => Fault::NotFound,
            "502-html" => Fault::HtmlBadGateway,
            "reset" => Fault::Reset,
            "stall-after-create" => Fault::StallAfterCreate,
            "reset-after-create" => Fault::ResetAfterCreate,
            "truncate" => Fault::Truncate,
            "not-json" => Fault::NotJson,
            "expire" => Fault::Expire,
            "reset-mid-body" => Fault::ResetMidBody,
            other => {
                if let Some(secs) = other.strip_prefix("429:") {
                    let retry_after_secs = secs
                        .parse()
                        .map_err(|_| FaultSpecError::RetryAfter(secs.to_owned()))?;
                    return Ok(Fault::TooMany { retry_after_secs });
                }
                let (then, code) = match other.strip_prefix("serve-then-") {
                    Some(code) => (true, code),
                    None => (false, other),
                };
                let code = code.parse::<u16>().ok().filter(|c| (400..600).contains(c));
                match (code, then) {
                    (Some(code), true) => Fault::ServeThen(code),
                    (Some(code), false) => Fault::Status(code),
                    (None, _) => return Err(FaultSpecError::Fault(other.to_owned())),
                }
            }
        };
        Ok(fault)
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.route, self.fault)?;
        if self.count != 1 {
            write!(f, "x{}", self.count)?;
        }
        Ok(())
    }
}

impl FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<FaultSpec, FaultSpecError> {
        let (route, fault) = s
            .split_once('=')
            .ok_or_else(|| FaultSpecError::NoEquals(s.to_owned()))?;
        let route = route.parse()?;
        let (fault, count) = fault_and_count(fault.trim())?;
        FaultSpec::new(route, fault, count)
    }
}

/// `FAULT[xCOUNT]`. `expire` holds an `x`, so the whole is tried as a fault first; after that
/// the error names the part that is wrong.
fn fault_and_count(s: &str) -> Result<(Fault, u32), FaultSpecError> {
    let whole = match s.parse() {
        Ok(fault) => return Ok((fault, 1)),
        Err(e) => e,
    };
    let Some((fault, count)) = s.rsplit_once('x') else {
        return Err(whole);
    };
    match (fault.parse(), count.parse::<u32>()) {
        (Ok(fault), Ok(count)) => Ok((fault, count)),
        (Err(e), Ok(_)) => Err(e),
        (Ok(_), Err(_)) => Err(FaultSpecError::Count(count.to_owned())),
        (Err(_), Err(_)) => Err(whole),
    }
}

impl FaultSpec {
    /// Checks what the text and JSON forms share: a count from 1, a fault on a route it fits.
    fn new(route: Route, fault: Fault, count: u32) -> Result<FaultSpec, FaultSpecError> {
        if count == 0 {
            return Err(FaultSpecError::Count("0".into()));
        }
        match fault.only_route() {
            Some(only) if only != route => Err(FaultSpecError::Misplaced { fault, route, only }),
            _ => Ok(FaultSpec {
                route,
                fault,
                count,
            }),
        }
    }

    fn to_json(&self) -> Value {
        json!({ "route": self.route.to_string(), "fault": self.fault.to_string(), "count": self.count })
    }

    /// `{"route": "POST /runs", "fault": "503", "count": 2}`, count optional; the error names
    /// the field, as the API's own 400s do.
    fn from_json(body: &Value) -> Result<FaultSpec, ApiError> {
        let text = |field: &str, example: &str| {
            body.get(field).and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request(format!("{field}: required, a string like {example:?}"))
            })
        };
        let bad = |field: &str, e: FaultSpecError| ApiError::bad_request(format!("{field}: {e}"));
        let route = text("route", "POST /runs")?
            .parse()
            .map_err(|e| bad("route", e))?;
        let fault = text("fault", "503")?.parse().map_err(|e| bad("fault", e))?;
        let count = match body.get("count") {
            None | Some(Value::Null) => 1,
            Some(count) => count
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .filter(|c| *c > 0)
                .ok_or_else(|| bad("count", FaultSpecError::Count(count.to_string())))?,
        };
        FaultSpec::new(route, fault, count).map_err(|e| bad("fault", e))
    }
}

/// The pending specs, in the order they were added.
#[derive(Debug, Default)]
pub(super) struct Plan(Vec<FaultSpec>);

impl Plan {
    pub(super) fn new(specs: Vec<FaultSpec>) -> Plan {
        let mut plan = Plan::default();
        specs.into_iter().for_each(|spec| plan.push(spec));
        plan
    }

    /// Appends `spec`; one built by hand with a count of 0 would never fire, so it is dropped.
    fn push(&mut self, spec: FaultSpec) {
        if spec.count > 0 {
            self.0.push(spec);
        }
    }

    /// The fault the next request to `route` meets, used up as it is drawn.
    pub(super) fn draw(&mut self, route: Route) -> Option<Fault> {
        let at = self.0.iter().position(|spec| spec.route == route)?;
        let spec = self.0.get_mut(at)?;
        spec.count -= 1;
        let fault = spec.fault;
        if spec.count == 0 {
            self.0.remove(at);
        }
        Some(fault)
    }

    fn to_json(&self) -> Value {
        json!({ "pending": self.0.iter().map(FaultSpec::to_json).collect::<Vec<_>>() })
    }
}

/// `GET /_sandbox/faults`: what is still pending, with the counts left.
pub(super) async fn list(State(shared): State<Arc<Shared>>) -> Json<Value> {
    Json(shared.faults().to_json())
}

/// `POST /_sandbox/faults {"route", "fault", "count"}`: appends to the plan; answers with it.
pub(super) async fn add(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let spec = FaultSpec::from_json(&parse_json(&body)?)?;
    let mut plan = shared.faults();
    plan.push(spec);
    Ok(Json(plan.to_json()))
}

/// `DELETE /_sandbox/faults`: drops every pending fault.
pub(super) async fn clear(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let mut plan = shared.faults();
    *plan = Plan::default();
    Json(plan.to_json())
}

/// Beside this file (`faults/unit.rs`), to keep this one short.
#[cfg(test)]
mod unit;
