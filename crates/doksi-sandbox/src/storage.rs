//! The S3-like storage server on its own port: it signs the upload URLs `POST /uploads` hands
//! out and, on `PUT`, refuses what a real presigned S3 URL refuses, with S3's XML error bodies,
//! so the client's upload code meets in tests the failures it would meet in production. A body
//! that passes is streamed to the sandbox's temp dir, never held in memory (uploads reach 1 GB).
//! [`Storage::External`] puts another S3 in its place (a test's real SigV4 implementation):
//! this module then only asks it for URLs, and the server here is left idle.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncWriteExt, BufWriter};

use super::Shared;

type HmacSha256 = hmac::Hmac<Sha256>;

/// The only body type the URL is "signed" for, as `curl -H "Content-Type: application/zip"` in
/// the docs sends it; S3 treats any other as a different request.
const ZIP: &str = "application/zip";

/// Where uploads go: the sandbox's own imitation of S3, or a real S3 implementation that a
/// test serves, so that doksi's PUT also meets a store whose SigV4 checks are not ours.
#[derive(Clone, Default)]
pub enum Storage {
    #[default]
    Builtin,
    /// `POST /uploads` hands out this store's URLs and `POST /targets` reads the object it
    /// stored; `SandboxConfig::url_ttl` and the storage port play no part.
    External(Arc<dyn ExternalStorage>),
}

/// Only the variant: an external store's credentials are its own business.
impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Storage::Builtin => "Builtin",
            Storage::External(_) => "External",
        })
    }
}

/// An S3 the sandbox does not run. Calls are made from request handlers, so both are quick
/// and do no network I/O (presigning is local computation, as in every S3 SDK).
pub trait ExternalStorage: Send + Sync {
    /// The presigned PUT URL `POST /uploads` answers with for `upload_id`.
    fn presign_put(&self, upload_id: &str) -> String;

    /// Where on this machine the object stored for `upload_id` is, once a PUT has stored one.
    fn object_path(&self, upload_id: &str) -> Option<PathBuf>;
}

/// The URL `POST /uploads` hands out for `upload_id`, signed by whichever storage is in use.
pub(super) fn upload_url(shared: &Shared, upload_id: &str) -> String {
    match &shared.storage {
        Storage::Builtin => presign(shared, upload_id, SystemTime::now()),
        Storage::External(store) => store.presign_put(upload_id),
    }
}

/// An error as S3 writes it. Codes and messages are S3's own where S3 has one.
pub(super) struct S3Error {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl S3Error {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> S3Error {
        S3Error {
            status,
            code,
            message: message.into(),
        }
    }

    fn signature(message: impl Into<String>) -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", message)
    }

    /// S3's answer to a presigned URL used after its `X-Amz-Expires`; the `expire` fault sends
    /// it too.
    pub(super) fn expired() -> S3Error {
        S3Error::new(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
    }
}

impl IntoResponse for S3Error {
    fn into_response(self) -> Response {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message></Error>",
            self.code,
            xml_escape(&self.message)
        );
        (
            self.status,
            [(header::CONTENT_TYPE, "application/xml")],
            body,
        )
            .into_response()
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Our own upload URL for `upload_id`, valid from `now` for the sandbox's URL lifetime. The
/// signature covers method, path, date and lifetime, so changing any of them (or using the URL
/// for another upload) breaks it, as with S3's SigV4.
pub(super) fn presign(shared: &Shared, upload_id: &str, now: SystemTime) -> String {
    let date = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let expires = shared.url_ttl.as_secs();
    let path = format!("/uploads/{upload_id}");
    let signature = hex(&signer(&shared.secret, &path, date, expires)
        .finalize()
        .into_bytes());
    format!(
        "{}{path}?X-Amz-Date={date}&X-Amz-Expires={expires}&X-Amz-Signature={signature}",
        shared.storage_url
    )
}

fn signer(secret: &[u8], path: &str, date: u64, expires: u64) -> HmacSha256 {
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(e) => unreachable!("HMAC takes keys of any length: {e}"),
    };
    mac.update(format!("PUT\n{path}\n{date}\n{expires}").as_bytes());
    mac
}

/// Checks the query's signature and lifetime, in S3's order: a signature that does not match is
/// reported before expiry, since an altered `X-Amz-Expires` is a signature problem.
fn verify(
    shared: &Shared,
    upload_id: &str,
    query: &HashMap<String, String>,
    now: SystemTime,
) -> Result<(), S3Error> {
    let param = |name: &str| {
        query.get(name).ok_or_else(|| {
            S3Error::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!("Query-string authentication requires the {name} parameter"),
            )
        })
    };
    let (date, expires, signature) = (
        param("X-Amz-Date")?,
        param("X-Amz-Expires")?,
        param("X-Amz-Signature")?,
    );
    let mismatch = || {
        S3Error::signature(
            "The request signature we calculated does not match the signature you provided.",
        )
    };
    let date: u64 = date.parse().map_err(|_| mismatch())?;
    let expires: u64 = expires.parse().map_err(|_| mismatch())?;
    let signature = unhex(signature).ok_or_else(mismatch)?;
    let path = format!("/uploads/{upload_id}");
    signer(&shared.secret, &path, date, expires)
        .verify_slice(&signature)
        .map_err(|_| mismatch())?;
    let deadline = UNIX_EPOCH + Duration::from_secs(date.saturating_add(expires));
    if now >= deadline {
        return Err(S3Error::expired());
    }
    Ok(())
}

/// Lowercase hex, as S3 writes signatures and ETags.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `PUT /uploads/{id}?X-Amz-…`: the checks a presigned S3 PUT makes, then the body to disk.
pub(super) async fn put_upload(
    State(shared): State<Arc<Shared>>,
    Path(upload_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, S3Error> {
    let length = check_headers(&shared, &upload_id, &query, &headers)?;
    if !shared.state().uploads.contains_key(&upload_id) {
        return Err(S3Error::new(
            StatusCode::NOT_FOUND,
            "NoSuchUpload",
            format!("upload {upload_id} was never minted"),
        ));
    }
    let (stored, sha256) = receive(&shared, &upload_id, length, body).await?;
    shared.state().uploads.insert(upload_id, Some(stored));
    Ok((StatusCode::OK, [(header::ETAG, format!("\"{sha256}\""))]).into_response())
}

/// Everything decided before reading the body; returns the declared length.
fn check_headers(
    shared: &Shared,
    upload_id: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<u64, S3Error> {
    if headers.contains_key(header::AUTHORIZATION) {
        // A client that sends its API key to the bucket leaks it to a third party: S3 refuses
        // two auth mechanisms, and so do we.
        return Err(S3Error::new(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Signature query parameter or the Authorization header should be specified",
        ));
    }
    if headers.contains_key(header::TRANSFER_ENCODING) {
        // S3 stores objects of a length known up front; a chunked body has none.
        return Err(S3Error::new(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "A header you provided implies functionality that is not implemented: Transfer-Encoding",
        ));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            S3Error::new(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.",
            )
        })?;
    verify(shared, upload_id, query, SystemTime::now())?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if !content_type.is_some_and(|t| t.eq_ignore_ascii_case(ZIP)) {
        return Err(S3Error::signature(format!(
            "The request signature we calculated does not match the signature you provided: the URL was signed for Content-Type: {ZIP}, got {}",
            content_type.unwrap_or("none")
        )));
    }
    Ok(length)
}

/// Streams the body into a part file and renames it into place only once it is complete, so a
/// broken upload never replaces a good one. Returns the stored path and the body's SHA-256.
async fn receive(
    shared: &Shared,
    upload_id: &str,
    length: u64,
    body: Body,
) -> Result<(std::path::PathBuf, String), S3Error> {
    let internal = |e: std::io::Error| {
        S3Error::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("sandbox storage: {e}"),
        )
    };
    let incomplete = || {
        S3Error::new(
            StatusCode::BAD_REQUEST,
            "IncompleteBody",
            "You did not provide the number of bytes specified by the Content-Length HTTP header.",
        )
    };
    let part = tempfile::Builder::new()
        .prefix(&format!("{upload_id}-"))
        .suffix(".part")
        .tempfile_in(shared.dir.path())
        .map_err(internal)?;
    let (file, part) = part.into_parts();
    let mut out = BufWriter::with_capacity(1 << 20, tokio::fs::File::from_std(file));
    let mut sha = Sha256::new();
    let mut received = 0u64;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        // hyper ends the body with an error when the connection closes short of Content-Length.
        let chunk = chunk.map_err(|_| incomplete())?;
        received += chunk.len() as u64;
        sha.update(&chunk);
        out.write_all(&chunk).await.map_err(internal)?;
    }
    if received != length {
        return Err(incomplete());
    }
    out.flush().await.map_err(internal)?;
    drop(out);
    let stored = shared.dir.path().join(format!("{upload_id}.zip"));
    part.persist(&stored).map_err(|e| internal(e.error))?;
    Ok((stored, hex(&sha.finalize())))
}

pub(super) async fn method_not_allowed() -> S3Error {
    S3Error::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
    )
}

pub(super) async fn no_such_key() -> S3Error {
    S3Error::new(
        StatusCode::NOT_FOUND,
        "NoSuchKey",
        "The specified key does not exist.",
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_junk() {
        assert_eq!(unhex("00ff7a"), Some(vec![0, 0xff, 0x7a]));
        assert_eq!(unhex(&hex(&[1, 2, 254])), Some(vec![1, 2, 254]));
        for junk in ["0", "zz", "0g", "é0"] {
            assert_eq!(unhex(junk), None, "{junk}");
        }
    }
}
