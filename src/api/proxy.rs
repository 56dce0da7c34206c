//! Which proxy a request goes through, so that an error that happens there names it. reqwest
//! picks the proxy from `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (or their
//! lower-case forms) with hyper-util's matcher; this asks the same matcher, reading the same
//! variables (through `environment`, which the man page lists), so the proxy named is the one that was used. It shows a proxy as `host:port` and
//! the variable it came from, never its user or password.

use hyper_util::client::proxy::matcher::Matcher;

/// The proxies the environment configures, read once per client.
pub struct Proxies {
    matcher: Matcher,
}

/// The proxy a URL goes through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// `host:port` of the proxy, without its credentials.
    pub proxy: String,
    /// The variable it came from (`HTTPS_PROXY`, `all_proxy`, …).
    pub var: &'static str,
    /// The variable's URL carries a user (and maybe a password).
    pub has_credentials: bool,
}

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the proxy {} (from {})", self.proxy, self.var)
    }
}

impl Proxies {
    pub fn from_env() -> Proxies {
        Proxies {
            matcher: Matcher::from_env(),
        }
    }

    /// The proxy `url` goes through, or `None` when it goes direct (no proxy set, `NO_PROXY`).
    pub fn for_url(&self, url: &str) -> Option<Via> {
        let uri: http::Uri = url.parse().ok()?;
        let intercept = self.matcher.intercept(&uri)?;
        let authority = intercept.uri().authority()?;
        let scheme = uri.scheme_str()?;
        let var = source_var(scheme)?;
        let value = crate::environment::var(var).unwrap_or_default();
        let rest = value.split_once("://").map_or(value.as_str(), |(_, r)| r);
        let has_credentials = rest.split('/').next().unwrap_or("").contains('@');
        Some(Via {
            proxy: authority.to_string(),
            var,
            has_credentials,
        })
    }
}

/// The variable hyper-util takes a `scheme` URL's proxy from: the first of the scheme's own pair
/// that is set, if it holds a usable proxy, else the first of `ALL_PROXY`/`all_proxy` that is
/// set (hyper-util's `from_env`, in the same order).
fn source_var(scheme: &str) -> Option<&'static str> {
    let first_set = |names: [&'static str; 2]| {
        names
            .into_iter()
            .find(|n| crate::environment::var(n).is_some())
    };
    let own = match scheme {
        "https" => first_set(["HTTPS_PROXY", "https_proxy"]),
        "http" => first_set(["HTTP_PROXY", "http_proxy"]),
        _ => None,
    };
    let usable = |name: &str| {
        let value = crate::environment::var(name).unwrap_or_default();
        let probe: http::Uri = "http://probe.invalid/".parse().ok()?;
        Matcher::builder()
            .http(value)
            .build()
            .intercept(&probe)
            .map(|_| ())
    };
    match own {
        Some(name) if usable(name).is_some() => Some(name),
        _ => first_set(["ALL_PROXY", "all_proxy"]),
    }
}
