//! What each [`Fault`] does to the request that drew it: the canned answers (429, 5xx, a proxy's
//! HTML, plain text, a missing run, an expired URL), the hang-ups before, during or after the
//! real handler, the stall, the cut-off body. Which request draws which fault is `faults`'
//! business; the hang-up itself is `serve`'s.

use std::io;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use futures_util::StreamExt;
use serde_json::json;

use super::ApiError;
use super::faults::Fault;
use super::serve::Connection;
use super::storage::S3Error;

/// How long `stall-after-create` holds a connection when the client never gives up: longer
/// than any sane client timeout, short of leaking it for the sandbox's life.
const STALL_LIMIT: Duration = Duration::from_secs(10 * 60);

/// `reset-mid-body` reads up to this much, or half the declared length if less: enough that
/// the client is surely mid-upload, never the whole of a small body.
const MID_BODY: u64 = 16 << 10;

/// How long a truncated answer waits, after its partial body, before failing: hyper flushes
/// what it has while the body is pending, so the client gets the head and the part.
const TRUNCATE_FLUSH: Duration = Duration::from_millis(50);

/// Answers `req` as `fault` says, running the real handler (`next`) only for the faults that
/// let the request take effect.
pub(super) async fn inflict(fault: Fault, req: Request, next: Next) -> Response {
    let connection = req.extensions().get::<Connection>().cloned();
    match fault {
        Fault::TooMany { retry_after_secs } => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after_secs.to_string())],
            Json(json!({ "error": "rate limited" })),
        )
            .into_response(),
        Fault::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let reason = status.canonical_reason().unwrap_or("sandbox fault");
            ApiError::new(status, reason.to_ascii_lowercase()).into_response()
        }
        // What a load balancer in front of the API sends when it is down.
        Fault::HtmlBadGateway => gateway_page(502),
        Fault::NotJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain")],
            "upstream says hi",
        )
            .into_response(),
        Fault::NotFound => {
            let id = req.uri().path().rsplit('/').next().unwrap_or_default();
            ApiError::new(StatusCode::NOT_FOUND, format!("run {id} not found")).into_response()
        }
        Fault::Expire => S3Error::expired().into_response(),
        Fault::Reset => hang_up(connection).await,
        Fault::ResetMidBody => {
            let _partly_read = read_part(req).await;
            hang_up(connection).await
        }
        Fault::ServeThen(code) => {
            drop(next.run(req).await);
            gateway_page(code)
        }
        Fault::ResetAfterCreate => {
            drop(next.run(req).await);
            hang_up(connection).await
        }
        Fault::StallAfterCreate => {
            drop(next.run(req).await);
            if let Some(connection) = &connection {
                // The client giving up ends the connection, and this future with it.
                tokio::select! {
                    () = tokio::time::sleep(STALL_LIMIT) => {}
                    () = connection.stopping() => {}
                }
            }
            hang_up(connection).await
        }
        Fault::Truncate => truncate(next.run(req).await).await,
    }
}

/// A load balancer's own error page for `code`, in nginx's shape.
fn gateway_page(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], page).into_response()
}

/// Resets the request's connection; the answer never comes, since the connection task drops
/// this future with it.
async fn hang_up(connection: Option<Connection>) -> Response {
    let Some(connection) = connection else {
        // Every request the sandbox serves has one; a router driven some other way cannot
        // hang up, and says so rather than hanging.
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "sandbox fault: this request has no connection to reset",
        )
        .into_response();
    };
    connection.hang_up();
    std::future::pending().await
}

/// Reads the first part of the body (see [`MID_BODY`]) and returns the rest unread, so the
/// client is still sending when the connection goes.
async fn read_part(req: Request) -> axum::body::BodyDataStream {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let wanted = (declared / 2).min(MID_BODY);
    let mut body = req.into_body().into_data_stream();
    let mut read = 0u64;
    while read < wanted {
        match body.next().await {
            Some(Ok(chunk)) => read += chunk.len() as u64,
            _ => break,
        }
    }
    body
}

/// The handler's answer with its head intact and a `Content-Length` of the whole body (at
/// least 1, so an empty one is cut too), but only the first half of the body before the
/// connection closes.
async fn truncate(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let whole = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(whole) => whole,
        Err(e) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("sandbox fault: cannot read the answer to truncate: {e}"),
            )
            .into_response();
        }
    };
    let declared = whole.len().max(1);
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(declared));
    let part = whole.slice(..whole.len() / 2);
    let cut = futures_util::stream::once(async move { Ok::<Bytes, io::Error>(part) }).chain(
        futures_util::stream::once(async {
            tokio::time::sleep(TRUNCATE_FLUSH).await;
            // hyper ends a connection whose body fails mid-way; the client sees EOF short
            // of the promised length.
            Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "sandbox fault: truncated answer",
            ))
        }),
    );
    Response::from_parts(parts, Body::from_stream(cut))
}
