//! When to try a request again, decided in exactly one function ([`decide`]), and how long to
//! wait ([`RetryPolicy::delay`]). Transient means the server did not act on the request, or acting
//! twice is harmless: connection failures before anything was sent, 408, 429 and 5xx for requests
//! that are safe to repeat. Never TLS failures or other 4xx.
//!
//! `POST /runs` is different: each run costs test credits, and a gateway in front of the API
//! answers 502/504 (or its own HTML page, or nothing) when the backend was merely slow, after
//! the run was created. So run creation is repeated only when it provably was not received: the
//! connection was refused before anything was sent, or the API itself (a JSON error body, not a
//! gateway's page) said 429 or 503. Everything else after sending may have created the run
//! ([`may_have_created_run`]), and the error says so instead of trying again.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use super::error::{ApiError, ConnectCause};

/// How many times, how fast, and for how long in all.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff; it doubles each time up to `max_delay`, with jitter.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// No retry starts once this much time has passed since the first attempt.
    pub budget: Duration,
    /// A server's `Retry-After` is honoured up to this.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            budget: Duration::from_secs(120),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

/// What a request does if the server sees it twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Reads, uploads and target registrations: a duplicate costs nothing.
    Repeatable,
    /// `POST /runs`: a duplicate is a second run, paid for in test credits.
    CreatesRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Stop,
    /// Wait as the server asked (`Retry-After`), capped by the policy.
    After(Duration),
    /// Wait the policy's backoff.
    Backoff,
}

/// The one place that decides whether a failed attempt may be repeated.
pub fn decide(error: &ApiError, effect: Effect) -> Decision {
    let told = |e: &ApiError| e.retry_after().map_or(Decision::Backoff, Decision::After);
    match (error, effect) {
        (ApiError::Connect { cause, .. }, _) => match cause {
            ConnectCause::Network => Decision::Backoff,
            ConnectCause::Dns | ConnectCause::Tls => Decision::Stop,
        },
        // Nothing reached the API; a proxy that refused the credentials will refuse them again.
        (ApiError::AtProxy { auth: true, .. }, _) => Decision::Stop,
        (ApiError::AtProxy { auth: false, .. }, _) => Decision::Backoff,
        // Only the service's own refusal, in its documented shape, proves the run was not
        // created; a gateway's page, HTML or JSON, says nothing of what the backend did.
        (
            ApiError::Api {
                status: 429 | 503,
                documented: true,
                ..
            },
            Effect::CreatesRun,
        ) => told(error),
        (_, Effect::CreatesRun) => Decision::Stop,
        (ApiError::NoAnswer { .. } | ApiError::CutOff { .. }, Effect::Repeatable) => {
            Decision::Backoff
        }
        (_, Effect::Repeatable) => match error.status() {
            Some(429) => told(error),
            Some(code) if transient_status(code) => Decision::Backoff,
            _ => Decision::Stop,
        },
    }
}

/// The statuses that say "not now" rather than "no": 408, 429 and 5xx. Also what the webhook
/// of `notify` retries, so the two cannot drift apart.
pub fn transient_status(code: u16) -> bool {
    matches!(code, 408 | 429 | 500..=599)
}

/// Whether a failed `POST /runs` may nonetheless have created the run: the request went out and
/// no definite refusal came back. A 4xx other than 408 (and a 429/503 from the API itself) is
/// a refusal; a 5xx, a 408, a gateway's page, a reset, a timeout, or a success whose body is cut
/// off or not the documented JSON is not.
pub fn may_have_created_run(error: &ApiError) -> bool {
    let error = error.root();
    match error {
        ApiError::Connect { .. }
        | ApiError::AtProxy { .. }
        | ApiError::Local { .. }
        | ApiError::UrlExpired
        | ApiError::Package(_) => false,
        ApiError::Quota { .. } => false,
        ApiError::NoAnswer { .. } | ApiError::CutOff { .. } | ApiError::RunMayExist { .. } => true,
        ApiError::Api {
            status: 429 | 503,
            documented: true,
            ..
        } => false,
        // A gateway's page: only its "no such route" proves nothing was forwarded.
        ApiError::NotJson { status, .. } => *status != 404,
        _ => match error.status() {
            Some(408) => true,
            Some(400..=499) => false,
            _ => true,
        },
    }
}

impl RetryPolicy {
    /// How long to wait before attempt `attempt + 1` (attempts count from 1).
    pub fn delay(&self, decision: Decision, attempt: u32) -> Duration {
        match decision {
            Decision::After(d) => d.min(self.max_retry_after),
            Decision::Stop => Duration::ZERO,
            Decision::Backoff => {
                let exp = self
                    .base_delay
                    .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
                // Full backoff between half and all of the step, so parallel clients spread out.
                let step = exp.min(self.max_delay);
                step / 2 + step.mul_f64(jitter() / 2.0)
            }
        }
    }
}

/// A number in [0, 1), different in each call and process; enough to spread retries, no more.
fn jitter() -> f64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> ApiError {
        ApiError::Api {
            what: "x".into(),
            status: code,
            message: String::new(),
            retry_after: None,
            documented: true,
        }
    }

    fn page(code: u16) -> ApiError {
        ApiError::NotJson {
            what: "x".into(),
            status: code,
            first_line: "<html>".into(),
            retry_after: None,
        }
    }

    #[test]
    fn the_set_of_retried_statuses() {
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(
                decide(&status(code), Effect::Repeatable),
                Decision::Backoff,
                "{code}"
            );
            assert_eq!(decide(&page(code), Effect::Repeatable), Decision::Backoff);
        }
        for code in [400, 401, 402, 403, 404, 409, 422] {
            for effect in [Effect::Repeatable, Effect::CreatesRun] {
                assert_eq!(decide(&status(code), effect), Decision::Stop, "{code}");
            }
        }
        // A run is asked for again only when the API itself said it is busy.
        for code in [429, 503] {
            assert_eq!(
                decide(&status(code), Effect::CreatesRun),
                Decision::Backoff,
                "{code}"
            );
            assert!(!may_have_created_run(&status(code)));
        }
        for code in [408, 500, 502, 504] {
            assert_eq!(
                decide(&status(code), Effect::CreatesRun),
                Decision::Stop,
                "{code} may have created the run"
            );
            assert!(may_have_created_run(&status(code)), "{code}");
        }
        // A gateway's page, even a 503 or 429, says nothing about what the backend did.
        for code in [429, 502, 503, 504] {
            assert_eq!(decide(&page(code), Effect::CreatesRun), Decision::Stop);
        }
        for code in [429, 500, 502, 503, 504, 200] {
            assert!(may_have_created_run(&page(code)), "{code}");
        }
        assert!(
            !may_have_created_run(&page(404)),
            "no such route: not forwarded"
        );
        // JSON, but not the API's shape (Envoy's, Kong's): a gateway's page too.
        let gateway_json = ApiError::Api {
            what: "x".into(),
            status: 503,
            message: "{\"message\":\"Service Unavailable\"}".into(),
            retry_after: None,
            documented: false,
        };
        assert_eq!(decide(&gateway_json, Effect::CreatesRun), Decision::Stop);
        assert!(may_have_created_run(&gateway_json));
        for code in [400, 401, 403, 404, 422] {
            assert!(!may_have_created_run(&status(code)), "{code}");
        }
        let cut = ApiError::BadAnswer {
            what: "POST /runs".into(),
            status: 200,
            detail: "missing field run_id".into(),
        };
        assert!(may_have_created_run(&cut));
    }

    #[test]
    fn a_run_is_not_requested_twice_once_it_may_exist() {
        let sent = ApiError::NoAnswer {
            what: "POST /runs".into(),
            url: String::new(),
            detail: String::new(),
        };
        assert_eq!(decide(&sent, Effect::CreatesRun), Decision::Stop);
        assert!(may_have_created_run(&sent));
        assert_eq!(decide(&sent, Effect::Repeatable), Decision::Backoff);
        let refused = ApiError::Connect {
            what: "POST /runs".into(),
            url: String::new(),
            detail: String::new(),
            cause: ConnectCause::Network,
        };
        assert_eq!(
            decide(&refused, Effect::CreatesRun),
            Decision::Backoff,
            "nothing was sent"
        );
        for cause in [ConnectCause::Tls, ConnectCause::Dns] {
            let e = ApiError::Connect {
                what: "GET".into(),
                url: String::new(),
                detail: String::new(),
                cause,
            };
            assert_eq!(decide(&e, Effect::Repeatable), Decision::Stop, "{cause:?}");
        }
    }

    #[test]
    fn a_proxy_is_asked_again_unless_it_refused_the_credentials() {
        let at_proxy = |auth| ApiError::AtProxy {
            what: "POST /runs".into(),
            detail: String::new(),
            auth,
        };
        for effect in [Effect::Repeatable, Effect::CreatesRun] {
            assert_eq!(decide(&at_proxy(true), effect), Decision::Stop);
            assert_eq!(decide(&at_proxy(false), effect), Decision::Backoff);
        }
        assert!(!may_have_created_run(&at_proxy(false)));
        assert_eq!(
            decide(&ApiError::UrlExpired, Effect::Repeatable),
            Decision::Stop
        );
    }

    #[test]
    fn an_answer_past_its_limit_is_not_read_again() {
        let endless = |status| ApiError::TooLarge {
            what: "GET /runs/r".into(),
            status,
            limit: 1,
        };
        assert_eq!(decide(&endless(200), Effect::Repeatable), Decision::Stop);
        // A gateway's 502 page without end is still a 502.
        assert_eq!(decide(&endless(502), Effect::Repeatable), Decision::Backoff);
        // A 200 to POST /runs, however long: the run was created.
        assert!(may_have_created_run(&endless(200)));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let e = ApiError::Api {
            what: "x".into(),
            status: 429,
            message: String::new(),
            retry_after: Some(Duration::from_secs(3)),
            documented: true,
        };
        let p = RetryPolicy::default();
        assert_eq!(
            decide(&e, Effect::CreatesRun),
            Decision::After(Duration::from_secs(3))
        );
        assert_eq!(
            p.delay(Decision::After(Duration::from_secs(3600)), 1),
            p.max_retry_after
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = p.delay(Decision::Backoff, 1);
            assert!(
                d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100),
                "{d1:?}"
            );
            let d2 = p.delay(Decision::Backoff, 2);
            assert!(
                d2 >= Duration::from_millis(100) && d2 <= Duration::from_millis(200),
                "{d2:?}"
            );
            let d9 = p.delay(Decision::Backoff, 9);
            assert!(d9 <= Duration::from_millis(350), "{d9:?}");
        }
    }
}
