//! What can go wrong talking to Doksi, told apart by what the server may have seen: nothing (a
//! connection never made), the request without an answer, or an answer. The client makes these;
//! the retry policy and the commands read them. Messages say what was asked, what came back, and
//! never the key.

use std::time::Duration;

use crate::package::PackageError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Nothing was sent: the connection could not be made.
    #[error("{what}: cannot connect to {url}: {detail}")]
    Connect {
        what: String,
        url: String,
        detail: String,
        cause: ConnectCause,
    },
    /// The request went out and no answer came (reset, closed, or timed out).
    #[error("{what}: sent to {url}, but no answer came: {detail}")]
    NoAnswer {
        what: String,
        url: String,
        detail: String,
    },
    /// The request never reached the API: the proxy it goes through could not be reached,
    /// closed the connection, would not open a tunnel, or refused its credentials (`auth`).
    #[error("{what}: {detail}")]
    AtProxy {
        what: String,
        detail: String,
        /// A 407: the proxy's definite answer to the credentials, not worth asking again.
        auth: bool,
    },
    /// An answer longer than anything the API (or storage) sends: a base URL pointing at a file
    /// server, a captive portal, a gateway streaming without end. Reading stopped at `limit`.
    #[error(
        "{what}: HTTP {status}, but the answer goes on past {limit} bytes, far more than the API sends; doksi stopped reading it (is the base URL right, and is nothing between doksi and the API answering in its place?)"
    )]
    TooLarge {
        what: String,
        status: u16,
        limit: u64,
    },
    /// The presigned upload URL's own expiry (`X-Amz-Date` + `X-Amz-Expires`, or `Expires`)
    /// passed before an attempt could start; sending the body would only earn a 403.
    #[error(
        "the upload URL has expired, as its own expiry says (X-Amz-Expires, Expires), so the file was not sent to it again"
    )]
    UrlExpired,
    #[error("{what}: HTTP {status}, but the answer was cut off: {detail}")]
    CutOff {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("{what}: HTTP {status}: {message}")]
    Api {
        what: String,
        status: u16,
        message: String,
        retry_after: Option<Duration>,
        /// The body had the API's documented error shape (`{"error": …}`): the service itself
        /// answered, not a gateway in front of it with JSON pages of its own.
        documented: bool,
    },
    #[error(
        "test credit quota exceeded: this run needs {} and {}",
        crate::words::count(requested, "test"),
        crate::words::remain(remaining, "credit")
    )]
    Quota { requested: u64, remaining: u64 },
    #[error("{what}: HTTP {status} with a body that is not JSON: {first_line}")]
    NotJson {
        what: String,
        status: u16,
        first_line: String,
        retry_after: Option<Duration>,
    },
    #[error("{what}: HTTP {status}: unexpected answer ({detail})")]
    BadAnswer {
        what: String,
        status: u16,
        detail: String,
    },
    #[error("upload to storage refused: HTTP {status}: {detail}")]
    Storage {
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
    },
    #[error("{what}: {detail}")]
    Local { what: String, detail: String },
    #[error(
        "{detail}; the run may have been created, so doksi did not send it again (each run costs test credits): look for it in the Doksi dashboard before re-running"
    )]
    RunMayExist { detail: String },
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp { attempts: u32, last: Box<ApiError> },
    #[error(transparent)]
    Package(#[from] PackageError),
}

/// Why a connection could not be made, which decides whether trying again can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectCause {
    /// Refused, reset or timed out while connecting: the host may come back.
    Network,
    /// The host name does not resolve: a typo that five attempts will not mend.
    Dns,
    /// The TLS handshake failed (an untrusted certificate, a server that does not speak TLS).
    Tls,
}

impl ApiError {
    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Api { status, .. }
            | ApiError::CutOff { status, .. }
            | ApiError::NotJson { status, .. }
            | ApiError::BadAnswer { status, .. }
            | ApiError::TooLarge { status, .. }
            | ApiError::Storage { status, .. } => Some(*status),
            ApiError::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// The server's `Retry-After`, where it sent one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Api { retry_after, .. }
            | ApiError::NotJson { retry_after, .. }
            | ApiError::Storage { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error underneath any "gave up after N attempts".
    pub fn root(&self) -> &ApiError {
        match self {
            ApiError::GaveUp { last, .. } => last.root(),
            e => e,
        }
    }
}
