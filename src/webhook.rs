//! The team's webhook as a setting: its URL ([`WebhookUrl`], a secret like the API key: its
//! `Debug` and `Display` show the host only, and it is registered with
//! [`crate::api::register_secret`] the moment it is parsed, so no message doksi prints can
//! repeat it), how it may be shown ([`redacted`], for `doksi config`), and when to use it
//! ([`NotifyOn`]). These are values that belong to no stage: `settings` and `cli` read them from
//! flags, environment and doksi.toml, and `notify` posts to the URL. This module may import
//! `api` (the secret registry, what counts as loopback) and nothing above it: never `notify` nor
//! any other stage.

use std::fmt;

/// A webhook URL doksi will not use; the URL itself is never part of the message, since it is
/// the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("the notify URL {0}")]
    BadUrl(&'static str),
}

/// An incoming webhook's URL: `https`, or `http` to this machine; no credentials. A secret.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

impl WebhookUrl {
    /// Registers `raw` as a secret before anything else (a message refusing it may quote it),
    /// then checks it.
    pub fn parse(raw: &str) -> Result<WebhookUrl, WebhookError> {
        let raw = raw.trim();
        crate::api::register_secret(raw, &redacted(raw));
        let url = reqwest::Url::parse(raw)
            .map_err(|_| WebhookError::BadUrl("is not a URL (https://…)"))?;
        crate::api::register_secret(url.as_str(), &redacted(raw));
        crate::api::register_secret(&path_and_query(&url), "/…(redacted)");
        let host = url.host_str().ok_or(WebhookError::BadUrl("has no host"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(WebhookError::BadUrl(
                "has credentials in it (user:password@)",
            ));
        }
        match url.scheme() {
            "https" => {}
            "http" if crate::api::is_loopback(host) => {}
            _ => {
                return Err(WebhookError::BadUrl(
                    "must use https (or http to this machine)",
                ));
            }
        }
        Ok(WebhookUrl(url))
    }

    /// The host alone, the one part of the URL a message may name.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or_default()
    }

    /// The whole URL, to post to and for nothing else: it is the secret.
    pub(crate) fn url(&self) -> &reqwest::Url {
        &self.0
    }

    /// `https://hooks.slack.com/…` and the last four characters, as `doksi config` shows it.
    pub fn redacted(&self) -> String {
        redacted(self.0.as_str())
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.redacted())
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// A webhook URL as it may be shown: scheme and host, then `…` and the last four characters of
/// the rest when the rest is long enough that four of them give nothing away. Works on text that
/// is no URL at all, which is then hidden whole.
pub fn redacted(raw: &str) -> String {
    let Ok(url) = reqwest::Url::parse(raw.trim()) else {
        return "(set, not a URL)".into();
    };
    let origin = match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        (None, _) => return "(set, not a URL)".into(),
    };
    let rest: Vec<char> = path_and_query(&url).chars().collect();
    let last4: String = match rest.len() {
        n if n >= 16 => rest[n - 4..].iter().collect(),
        _ => String::new(),
    };
    format!("{origin}/…{last4}")
}

/// Where an incoming webhook keeps its secret: `/services/T…/B…/…`, `/hooks/…`, `?token=…`.
fn path_and_query(url: &reqwest::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// When to tell the team.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifyOn {
    /// When the run did not pass: failed, timed out, or lost.
    #[default]
    Fail,
    Always,
    Never,
}

impl std::str::FromStr for NotifyOn {
    type Err = String;

    fn from_str(s: &str) -> Result<NotifyOn, String> {
        match s.trim() {
            "fail" => Ok(NotifyOn::Fail),
            "always" => Ok(NotifyOn::Always),
            "never" => Ok(NotifyOn::Never),
            other => Err(format!("{other:?} is not one of fail, always, never")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_checked_and_never_shown() {
        let secret = "T0000/B0000/XXXXXXXXXXXXXXXXXXXXabcd";
        let url = WebhookUrl::parse(&format!("https://hooks.slack.com/services/{secret}")).unwrap();
        assert_eq!(url.host(), "hooks.slack.com");
        assert_eq!(url.redacted(), "https://hooks.slack.com/…abcd");
        for shown in [format!("{url}"), format!("{url:?}")] {
            assert!(!shown.contains("XXXX"), "{shown}");
        }
        assert!(WebhookUrl::parse("http://127.0.0.1:9/hook").is_ok());
        for (bad, why) in [
            ("http://hooks.example.com/hooks/abcdefgh", "https"),
            ("hooks.slack.com/services/T/B/abcdefgh", "not a URL"),
            ("https://u:p@hooks.example.com/x", "credentials"),
            ("ftp://hooks.example.com/x", "https"),
        ] {
            let e = WebhookUrl::parse(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
            assert!(!e.contains("abcdefgh") && !e.contains("example"), "{e}");
        }
        // Registered on parsing: any message that quotes it shows it redacted.
        let raw = "https://chat.example.org/hooks/a1b2c3d4e5f6g7h8i9j0";
        let _ = WebhookUrl::parse(raw);
        let shown = crate::api::redact_secrets(&format!("posting to {raw} failed"));
        assert!(!shown.contains("a1b2c3d4e5f6"), "{shown}");
        assert!(shown.contains("chat.example.org"), "{shown}");
        assert_eq!(redacted("no url"), "(set, not a URL)");
    }
}
