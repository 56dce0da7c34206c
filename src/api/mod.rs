//! Talking to Doksi: the typed values a request is built from ([`ApiKey`], [`BaseUrl`]) and the
//! request and answer bodies of the documented API ([`model`]). Flags and environment become these
//! types at the edge, so nothing malformed reaches the network code, and the key cannot be printed
//! by accident: its `Debug` and `Display` hide it.

pub mod client;
pub mod error;
pub mod model;
pub mod proxy;
pub mod retry;

use std::fmt;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

pub const DEFAULT_BASE_URL: &str = "https://api.doksi.ai/external/integration/cicd";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    // The key itself is never part of the message: it may be a real key with one typo.
    #[error("the API key is malformed: expected dk_live_ followed by 40 hex digits ({0})")]
    MalformedKey(&'static str),
    #[error("base URL {url:?} is invalid: {why}")]
    BadBaseUrl { url: String, why: &'static str },
    #[error(
        "base URL {0} uses plain http to a host that is not this machine; pass --allow-insecure-http if you mean it"
    )]
    InsecureHttp(String),
}

/// A Doksi API key, `dk_live_<40 hex>`, checked on creation.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn parse(raw: &str) -> Result<ApiKey, ConfigError> {
        let raw = raw.trim();
        let hex = raw
            .strip_prefix("dk_live_")
            .ok_or(ConfigError::MalformedKey("it does not start with dk_live_"))?;
        if hex.len() != 40 {
            return Err(ConfigError::MalformedKey("wrong length"));
        }
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ConfigError::MalformedKey(
                "non-hex characters after dk_live_",
            ));
        }
        Ok(ApiKey(raw.to_owned()))
    }

    /// The value for the `Authorization` header, and nothing else.
    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// A stable, one-way fingerprint: enough to keep two accounts' cache entries apart, useless
    /// for recovering the key.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(format!("doksi-key-v1\0{}", self.0).as_bytes());
        crate::package::hex(&digest[..8])
    }

    /// `dk_live_…` and the last four digits, as `doksi config` shows it.
    pub fn redacted(&self) -> String {
        format!("dk_live_…{}", self.last_four())
    }

    /// The key's last four hex digits: a hint at which key it is, as [`Self::redacted`] shows.
    pub fn last_four(&self) -> &str {
        // `parse` made sure of `dk_live_` and 40 ASCII hex digits.
        &self.0[self.0.len() - 4..]
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.redacted())
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Whether plain `http://` may be used for a host that is not loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    HttpsOnly,
    AllowInsecureHttp,
}

/// The API's base URL, without a trailing slash; `https`, or `http` to loopback (the sandbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn parse(raw: &str, transport: Transport) -> Result<BaseUrl, ConfigError> {
        let url = raw.trim().trim_end_matches('/');
        let bad = |why| ConfigError::BadBaseUrl {
            url: redact_secrets(raw),
            why,
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or(bad("it has no scheme (https://…)"))?;
        let host_port = rest.split('/').next().unwrap_or("");
        // Credentials in a URL end up in logs, proxies and error messages.
        if host_port.contains('@') {
            return Err(bad(
                "it has credentials in it (user:password@); the key belongs in DOKSI_API_KEY",
            ));
        }
        let host = host_port.rsplit_once(':').map_or(host_port, |(h, _)| h);
        if host.is_empty() {
            return Err(bad("it has no host"));
        }
        if url.contains(['?', '#', ' ']) {
            return Err(bad("it has a query, fragment or space"));
        }
        match scheme {
            "https" => {}
            "http" if is_loopback(host) || transport == Transport::AllowInsecureHttp => {}
            "http" => return Err(ConfigError::InsecureHttp(url.to_owned())),
            _ => return Err(bad("the scheme must be https (or http to this machine)")),
        }
        Ok(BaseUrl(url.to_owned()))
    }

    /// `base/segment`, for an API route such as `runs/abc`.
    pub fn join(&self, route: &str) -> String {
        format!("{}/{}", self.0, route.trim_start_matches('/'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `host[:port]`, as the URL spells it (`parse` refused user-info, so there is none).
    pub fn host(&self) -> &str {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Secrets known only once the command line is read (the `--notify` webhook URL), longest
/// first, each with what is shown in its place.
static REGISTERED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Has [`redact_secrets`] show `shown` wherever `secret` stands, from now on. Values shorter
/// than 8 characters are not taken: they hide nothing worth hiding, and replacing them would
/// garble ordinary words.
pub fn register_secret(secret: &str, shown: &str) {
    if secret.chars().count() < 8 {
        return;
    }
    let mut registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    if registered.iter().all(|(s, _)| s != secret) {
        registered.push((secret.to_owned(), shown.to_owned()));
        // A URL goes before its own path, which would otherwise leave its host and a stub.
        registered.sort_by_key(|(s, _)| std::cmp::Reverse(s.len()));
    }
}

/// `text` with anything shaped like an API key (`dk_live_` and the hex after it), any URL's
/// user-info (`https://user:secret@host`), an incoming webhook's secret path and every
/// [registered](register_secret) secret replaced, for every message doksi prints: a key can
/// land where it does not belong (in `DOKSI_BASE_URL`, in doksi.toml, in a URL), and the
/// message about that must not repeat it.
pub fn redact_secrets(text: &str) -> String {
    const PREFIX: &str = "dk_live_";
    let registered = redact_registered(text);
    let mut out = String::with_capacity(text.len());
    let mut rest = registered.as_str();
    while let Some(at) = rest.find(PREFIX) {
        let after = &rest[at + PREFIX.len()..];
        let hex = after
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(after.len());
        out.push_str(&rest[..at]);
        out.push_str(if hex == 0 {
            PREFIX
        } else {
            "dk_live_…(redacted)"
        });
        rest = &after[hex..];
    }
    out.push_str(rest);
    redact_signed_urls(&redact_webhooks(&redact_userinfo(&out)))
}

/// What a URL's query is shown as when it grants access.
pub const REDACTED_QUERY: &str = "…(redacted)";

/// Whether a query parameter grants access to what the URL names: the signature, credential or
/// token of a presigned URL (S3's `X-Amz-Signature`, `X-Amz-Credential` and
/// `X-Amz-Security-Token`, and S3 v2's `AWSAccessKeyId`/`Signature`; Google Cloud Storage's
/// `X-Goog-Signature`/`X-Goog-Credential` and `GoogleAccessId`; Azure's SAS `sig`; CloudFront's
/// `Signature`, `Policy` and `Key-Pair-Id`; Alibaba's `X-Oss-…`), or a token or key in a query.
fn grants_access(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let name = name.as_str();
    name.ends_with("signature")
        || name.ends_with("credential")
        || name.ends_with("security-token")
        || name.ends_with("accesskeyid")
        || name.ends_with("token")
        || matches!(
            name,
            "sig" | "googleaccessid" | "policy" | "key-pair-id" | "key" | "api_key" | "apikey"
        )
}

/// `url` with everything after its `?` shown as [`REDACTED_QUERY`] when any parameter there
/// [grants access](grants_access): a presigned URL's query is a secret, and its other
/// parameters (expiry, signed headers, a SAS's permissions) are kept from view with it, so a
/// scheme doksi does not know is covered wherever it stands beside one it knows. The scheme,
/// host and path stay readable. The one function every URL doksi shows passes through —
/// output lines, `--json`, the dry-run plan, the JUnit file, the job summary, the webhook's
/// text and `-v`'s request log; what is sent to the API is never redacted.
/// A user and password before the host (`https://qa:pw@staging…`) are hidden as `…@`, as on
/// stderr.
pub fn redact_url(url: &str) -> std::borrow::Cow<'_, str> {
    let url: std::borrow::Cow<'_, str> = match url.find("://") {
        Some(at)
            if url[at + 3..]
                .split(['/', '?', '#'])
                .next()
                .is_some_and(|authority| authority.contains('@')) =>
        {
            redact_userinfo(url).into()
        }
        _ => url.into(),
    };
    let Some((base, query)) = url.split_once('?') else {
        return url;
    };
    let query = query.split('#').next().unwrap_or(query);
    let secret = query
        .split('&')
        .any(|kv| grants_access(kv.split('=').next().unwrap_or(kv)));
    match secret {
        true => format!("{base}?{REDACTED_QUERY}").into(),
        false => url,
    }
}

/// `text` with every `http(s)://` URL in it passed through [`redact_url`]. A URL ends where
/// whitespace, a quote, `<`, `>`, a backtick or a backslash (a JSON escape) does.
pub fn redact_signed_urls(text: &str) -> String {
    // ASCII lowercasing keeps every byte where it was, so offsets in `lower` are offsets in
    // `text`; done once, as a run's JSON holds thousands of URLs.
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut done = 0;
    while let Some(at) = next_url(&lower[done..]).map(|at| done + at) {
        let tail = &text[at..];
        let end = tail
            .find(|c: char| c.is_whitespace() || "\"'<>`\\".contains(c))
            .unwrap_or(tail.len());
        out.push_str(&text[done..at]);
        out.push_str(&redact_url(&tail[..end]));
        done = at + end;
    }
    out.push_str(&text[done..]);
    out
}

/// Where the next `http://` or `https://` starts in `lower`, a lowercased text.
fn next_url(lower: &str) -> Option<usize> {
    lower
        .match_indices("http")
        .map(|(at, _)| at)
        .find(|&at| lower[at..].starts_with("https://") || lower[at..].starts_with("http://"))
}

fn redact_registered(text: &str) -> String {
    let registered = REGISTERED.lock().unwrap_or_else(PoisonError::into_inner);
    let mut out = text.to_owned();
    for (secret, shown) in registered.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), shown);
        }
    }
    out
}

/// Where an incoming webhook URL's secret begins: Slack's `hooks.slack.com/services/`, and the
/// `/hooks/` (Mattermost, Rocket.Chat, Zapier), `/webhooks/` (Discord) and `/webhookb2/`
/// (Teams) of a URL on any host.
const WEBHOOK_MARKERS: [&str; 4] = ["/services/", "/hooks/", "/webhooks/", "/webhookb2/"];

/// Every incoming webhook URL's secret part replaced, by its shape: the configured URL is
/// registered, but one pasted where it does not belong (a base URL, a matrix file) is only
/// recognisable this way.
fn redact_webhooks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, marker)) = next_webhook(rest) {
        let secret_at = at + marker.len();
        let tail = &rest[secret_at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-._~/%+=@?&#".contains(c)))
            .unwrap_or(tail.len());
        out.push_str(&rest[..secret_at]);
        if end > 0 {
            out.push_str("…(redacted)");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The first marker in `text` that stands in a URL (`/services/` only on Slack's host).
fn next_webhook(text: &str) -> Option<(usize, &'static str)> {
    WEBHOOK_MARKERS
        .iter()
        .filter_map(|&marker| {
            text.match_indices(marker)
                .find(|&(at, _)| {
                    let before = &text[..at];
                    let start = before
                        .rfind(|c: char| c.is_whitespace() || "\"'<>()[]{}|,`".contains(c))
                        .map_or(0, |i| i + 1);
                    let token = &before[start..];
                    match marker {
                        "/services/" => token.ends_with("hooks.slack.com"),
                        _ => token.contains("://"),
                    }
                })
                .map(|(at, _)| (at, marker))
        })
        .min_by_key(|&(at, _)| at)
}

/// `scheme://user:secret@host` → `scheme://…@host`, wherever it stands in `text`.
fn redact_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let authority_end = after
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(after.len());
        match after[..authority_end].rfind('@') {
            Some(amp) => {
                out.push_str("…@");
                rest = &after[amp + 1..];
            }
            None => rest = after,
        }
    }
    out.push_str(rest);
    out
}

pub(crate) fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost"
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dk_live_0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn keys_are_checked_and_never_shown() {
        let key = ApiKey::parse(KEY).unwrap();
        assert_eq!(key.bearer(), format!("Bearer {KEY}"));
        for shown in [
            format!("{key}"),
            format!("{key:?}"),
            key.redacted(),
            key.fingerprint(),
        ] {
            assert!(!shown.contains(&KEY[8..]), "{shown}");
        }
        assert_eq!(key.redacted(), "dk_live_…4567");
        assert_eq!(key.last_four(), "4567");
        for bad in [
            "",
            "dk_test_0123456789abcdef0123456789abcdef01234567",
            &KEY[..47],
            &format!("{}g", &KEY[..47]),
        ] {
            let err = ApiKey::parse(bad).unwrap_err().to_string();
            assert!(!err.contains("0123456789abcdef"), "{err}");
        }
    }

    #[test]
    fn base_urls_need_https_except_to_loopback() {
        let https = BaseUrl::parse(
            "https://api.doksi.ai/external/integration/cicd/",
            Transport::HttpsOnly,
        )
        .unwrap();
        assert_eq!(
            https.join("runs/x"),
            "https://api.doksi.ai/external/integration/cicd/runs/x"
        );
        assert!(BaseUrl::parse("http://127.0.0.1:8080", Transport::HttpsOnly).is_ok());
        assert!(BaseUrl::parse("http://[::1]:8080/api", Transport::HttpsOnly).is_ok());
        assert!(BaseUrl::parse("http://localhost", Transport::HttpsOnly).is_ok());
        assert_eq!(
            BaseUrl::parse("http://doksi.example.com", Transport::HttpsOnly),
            Err(ConfigError::InsecureHttp("http://doksi.example.com".into()))
        );
        assert!(BaseUrl::parse("http://doksi.example.com", Transport::AllowInsecureHttp).is_ok());
        assert!(BaseUrl::parse("ftp://x", Transport::HttpsOnly).is_err());
        assert!(BaseUrl::parse("api.doksi.ai", Transport::HttpsOnly).is_err());
        assert!(BaseUrl::parse("https://", Transport::HttpsOnly).is_err());
        let with_key = format!("https://user:{KEY}@api.doksi.ai/x");
        let err = BaseUrl::parse(&with_key, Transport::HttpsOnly)
            .unwrap_err()
            .to_string();
        assert!(err.contains("credentials"), "{err}");
        assert!(!err.contains(&KEY[8..]), "{err}");
        let err = BaseUrl::parse(KEY, Transport::HttpsOnly)
            .unwrap_err()
            .to_string();
        assert!(!err.contains(&KEY[8..]), "{err}");
    }

    #[test]
    fn a_base_urls_host_is_host_and_port() {
        for (url, host) in [
            (
                "https://api.doksi.ai/external/integration/cicd/",
                "api.doksi.ai",
            ),
            ("http://127.0.0.1:8787", "127.0.0.1:8787"),
            ("http://[::1]:8080/api", "[::1]:8080"),
            ("https://Doksi.Example.com:8443", "Doksi.Example.com:8443"),
        ] {
            let base = BaseUrl::parse(url, Transport::HttpsOnly).unwrap();
            assert_eq!(base.host(), host, "{url}");
        }
    }

    #[test]
    fn secrets_are_redacted_wherever_they_stand() {
        let text = format!("a {KEY}, b https://u:pw@h.example/p?q=1 c dk_live_ d");
        let shown = redact_secrets(&text);
        assert_eq!(
            shown,
            "a dk_live_…(redacted), b https://…@h.example/p?q=1 c dk_live_ d"
        );
        assert_eq!(redact_secrets("plain"), "plain");
    }

    #[test]
    fn webhook_urls_are_redacted_by_their_shape() {
        for (text, shown) in [
            (
                "POST https://hooks.slack.com/services/T0/B0/abcdef failed",
                "POST https://hooks.slack.com/services/…(redacted) failed",
            ),
            (
                "url (hooks.slack.com/services/T0/B0/abc)",
                "url (hooks.slack.com/services/…(redacted))",
            ),
            (
                "'https://mm.example.com/hooks/x7y8z9' is bad",
                "'https://mm.example.com/hooks/…(redacted)' is bad",
            ),
            (
                "https://discord.com/api/webhooks/1/tok-en_X and more",
                "https://discord.com/api/webhooks/…(redacted) and more",
            ),
            (
                "a path /hooks/abc, not a URL",
                "a path /hooks/abc, not a URL",
            ),
            (
                "https://example.com/services/abc",
                "https://example.com/services/abc",
            ),
        ] {
            assert_eq!(redact_secrets(text), shown, "{text}");
        }
    }

    #[test]
    fn a_signed_query_is_redacted_whole_and_host_and_path_stay() {
        let shown = "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?…(redacted)";
        for url in [
            "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1&X-Amz-Date=20260101T000000Z&X-Amz-Expires=900&X-Amz-Signature=abcd",
            "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?x-amz-security-token=tok&utm_source=x",
            "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=sa%40p&X-Goog-Signature=ff",
            "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?sv=2022-11-02&se=2026-01-01&sp=r&sig=abc%3D",
            "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?Expires=1&Signature=x&Key-Pair-Id=K",
            "https://b.s3.amazonaws.com/builds/shop_v2/app.apk?AWSAccessKeyId=AKIA&Expires=1&Signature=x#frag",
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
        for plain in [
            "https://shop.example.com/a_b?utm_source=x&page=2",
            "https://shop.example.com/designs?signed=yes",
            "https://b.example/app.apk",
        ] {
            assert_eq!(redact_url(plain), plain);
        }
        assert_eq!(
            redact_signed_urls(
                "on https://b.example/a.apk?X-Amz-Signature=abc (0s)\n\"https://c.example/?sig=1\", HTTPS://D.example/?Token=z"
            ),
            "on https://b.example/a.apk?…(redacted) (0s)\n\"https://c.example/?…(redacted)\", HTTPS://D.example/?…(redacted)"
        );
        assert_eq!(
            redact_secrets("PUT https://s.example/u?X-Amz-Credential=AKIA failed"),
            "PUT https://s.example/u?…(redacted) failed"
        );
    }

    #[test]
    fn registered_secrets_are_redacted_longest_first() {
        register_secret(
            "https://relay.example.net/x/0123456789",
            "https://relay.example.net/…",
        );
        register_secret("/x/0123456789", "/…");
        register_secret("short", "never");
        assert_eq!(
            redact_secrets("to https://relay.example.net/x/0123456789 and /x/0123456789; short"),
            "to https://relay.example.net/… and /…; short"
        );
    }
}
