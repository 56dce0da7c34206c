//! Reading a `POST /runs` body into what a run needs: per matrix entry, a destination and the
//! test ids (categories expanded). Validation is by hand over `serde_json::Value` so each 400
//! names the field at fault (`matrix[1].platform: unknown platform "ios"`) the way the API's
//! own errors do. The category catalogue is fixed: the tests and the demo rely on it.

use std::collections::{HashMap, HashSet};

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::{ApiError, Target};

/// Category → its tests, as the sandbox's pretend dashboard has them.
const CATEGORIES: [(&str, &[&str]); 4] = [
    ("cat_smoke", &["t_login", "t_checkout"]),
    ("cat_regression", &["t_login", "t_checkout", "t_search"]),
    ("cat_failing", &["fail_payment"]),
    // A test that passes beside one that fails on its first run on each destination only.
    ("cat_flaky", &["t_login", "flaky_cart"]),
];

const TEST_NAMES: [(&str, &str); 5] = [
    ("t_login", "Login"),
    ("t_checkout", "Checkout flow"),
    ("fail_payment", "Payment declined"),
    ("t_search", "Search"),
    ("flaky_cart", "Add to cart"),
];

/// The catalogue as a person reads it: each category, its tests' ids and names, and what fails.
pub(super) fn catalogue() -> String {
    let named = |id: &str| format!("{id} ({})", test_name(id));
    let mut out = String::new();
    for (category, tests) in CATEGORIES {
        let tests: Vec<String> = tests.iter().map(|t| named(t)).collect();
        out.push_str(&format!("  {category:<15} {}\n", tests.join(", ")));
    }
    out
}

/// A test's display name; tests the catalogue does not know are named by their id.
pub(super) fn test_name(test_id: &str) -> String {
    TEST_NAMES
        .iter()
        .find(|(id, _)| *id == test_id)
        .map_or(test_id, |(_, name)| name)
        .to_owned()
}

/// One validated matrix entry.
#[derive(Debug, PartialEq)]
pub(super) struct Entry {
    /// As `GET /runs/{id}` shows it: `{"platform", "web_url" | "target_id" | "binary_url"}`.
    pub(super) destination: Value,
    /// Unique, `test_ids` first, then each category's tests in order.
    pub(super) tests: Vec<String>,
}

fn bad(message: String) -> ApiError {
    ApiError::bad_request(message)
}

pub(super) fn parse(
    body: &Value,
    targets: &HashMap<String, Target>,
) -> Result<Vec<Entry>, ApiError> {
    let matrix = match body.get("matrix") {
        None | Some(Value::Null) => {
            return Err(bad("matrix: required, a non-empty array of entries".into()));
        }
        Some(Value::Array(m)) if m.is_empty() => {
            return Err(bad("matrix: must not be empty".into()));
        }
        Some(Value::Array(m)) => m,
        Some(_) => return Err(bad("matrix: must be an array of entries".into())),
    };
    matrix
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let at = format!("matrix[{i}]");
            let Value::Object(entry) = entry else {
                return Err(bad(format!("{at}: must be an object")));
            };
            let destination = destination(&at, entry, targets)?;
            let tests = tests(&at, entry)?;
            artifacts(&at, entry)?;
            Ok(Entry { destination, tests })
        })
        .collect()
}

/// A string field: absent and `null` are `None`; anything but a non-empty string is a 400.
fn text<'a>(
    at: &str,
    entry: &'a Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>, ApiError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s)),
        Some(_) => Err(bad(format!("{at}.{key}: must be a non-empty string"))),
    }
}

fn url<'a>(at: &str, key: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.starts_with("https://") || value.starts_with("http://") {
        Ok(value)
    } else {
        Err(bad(format!("{at}.{key}: {value:?} is not an http(s) URL")))
    }
}

/// A destination field the platform does not take is refused rather than ignored: it means the
/// client built the entry for the other platform.
fn destination(
    at: &str,
    entry: &Map<String, Value>,
    targets: &HashMap<String, Target>,
) -> Result<Value, ApiError> {
    let platform = match entry.get("platform") {
        None | Some(Value::Null) => {
            return Err(bad(format!("{at}.platform: required (web or android)")));
        }
        Some(p) => p,
    };
    let web_url = text(at, entry, "web_url")?;
    let target_id = text(at, entry, "target_id")?;
    let binary_url = text(at, entry, "binary_url")?;
    let refuse = |key: &str, platform: &str| {
        Err(bad(format!(
            "{at}.{key}: not allowed for platform {platform}"
        )))
    };
    match platform.as_str() {
        Some("web") => {
            if target_id.is_some() {
                return refuse("target_id", "web");
            }
            if binary_url.is_some() {
                return refuse("binary_url", "web");
            }
            let web_url =
                web_url.ok_or_else(|| bad(format!("{at}.web_url: required for platform web")))?;
            Ok(json!({ "platform": "web", "web_url": url(at, "web_url", web_url)? }))
        }
        Some("android") => {
            if web_url.is_some() {
                return refuse("web_url", "android");
            }
            match (target_id, binary_url) {
                (Some(_), Some(_)) => {
                    Err(bad(format!("{at}: give target_id or binary_url, not both")))
                }
                (Some(id), None) if !targets.contains_key(id) => Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("target {id} not found"),
                )),
                (Some(id), None) => Ok(json!({ "platform": "android", "target_id": id })),
                (None, Some(b)) => {
                    Ok(json!({ "platform": "android", "binary_url": url(at, "binary_url", b)? }))
                }
                (None, None) => Err(bad(format!(
                    "{at}: platform android needs target_id or binary_url"
                ))),
            }
        }
        _ => Err(bad(format!("{at}.platform: unknown platform {platform}"))),
    }
}

fn ids(at: &str, entry: &Map<String, Value>, key: &str) -> Result<Vec<String>, ApiError> {
    match entry.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(ids)) => ids
            .iter()
            .enumerate()
            .map(|(j, id)| match id {
                Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
                _ => Err(bad(format!("{at}.{key}[{j}]: must be a non-empty string"))),
            })
            .collect(),
        Some(_) => Err(bad(format!("{at}.{key}: must be an array of ids"))),
    }
}

/// `test_ids` and `category_ids` may both be given; the entry runs their union, once each.
fn tests(at: &str, entry: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let mut tests = ids(at, entry, "test_ids")?;
    let categories = ids(at, entry, "category_ids")?;
    if tests.is_empty() && categories.is_empty() {
        return Err(bad(format!(
            "{at}: needs a non-empty test_ids or category_ids"
        )));
    }
    for (j, category) in categories.iter().enumerate() {
        let (_, members) = CATEGORIES
            .iter()
            .find(|(id, _)| id == category)
            .ok_or_else(|| {
                bad(format!(
                    "{at}.category_ids[{j}]: unknown category {category:?}"
                ))
            })?;
        tests.extend(members.iter().map(|t| t.to_string()));
    }
    let mut seen = HashSet::new();
    tests.retain(|t| seen.insert(t.clone()));
    Ok(tests)
}

/// The docs' three strategies: `none` is the default when `artifacts` is omitted, and is
/// accepted spelled out too.
fn artifacts(at: &str, entry: &Map<String, Value>) -> Result<(), ApiError> {
    let artifacts = match entry.get("artifacts") {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Array(a)) => a,
        Some(_) => return Err(bad(format!("{at}.artifacts: must be an array"))),
    };
    for (k, artifact) in artifacts.iter().enumerate() {
        let here = format!("{at}.artifacts[{k}]");
        let Value::Object(artifact) = artifact else {
            return Err(bad(format!("{here}: must be an object")));
        };
        match artifact.get("type") {
            Some(t) if t == "authentication" => {}
            Some(t) => return Err(bad(format!("{here}.type: unknown artifact type {t}"))),
            None => return Err(bad(format!("{here}.type: required (authentication)"))),
        }
        if k > 0 {
            return Err(bad(format!(
                "{here}: only one authentication artifact per entry"
            )));
        }
        match artifact.get("strategy") {
            Some(s) if s == "none" || s == "generated" => {}
            Some(s) if s == "specific" => match artifact.get("account_id") {
                Some(Value::String(id)) if id.len() > 4 && id.starts_with("acc_") => {}
                None | Some(Value::Null) => {
                    return Err(bad(format!(
                        "{here}.account_id: required for strategy specific"
                    )));
                }
                Some(id) => {
                    return Err(bad(format!(
                        "{here}.account_id: {id} is not an account id (acc_…)"
                    )));
                }
            },
            Some(s) => {
                return Err(bad(format!(
                    "{here}.strategy: unknown strategy {s} (none, generated or specific)"
                )));
            }
            None => return Err(bad(format!("{here}.strategy: required"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod unit {
    use super::*;

    fn targets() -> HashMap<String, Target> {
        let target = Target {
            upload_id: "upl_1".into(),
            package: "io.example".into(),
            version_name: None,
            version_code: None,
        };
        HashMap::from([("bin_1".to_owned(), target)])
    }

    #[test]
    fn categories_expand_after_test_ids_without_repeats() {
        let body = json!({"matrix": [
            {"platform": "android", "target_id": "bin_1", "test_ids": ["t_search", "x"],
             "category_ids": ["cat_smoke", "cat_regression"],
             "artifacts": [{"type": "authentication", "strategy": "generated"}]},
            {"platform": "web", "web_url": "https://staging.example.com", "category_ids": ["cat_failing"]}
        ]});
        let entries = parse(&body, &targets()).unwrap();
        assert_eq!(entries[0].tests, ["t_search", "x", "t_login", "t_checkout"]);
        assert_eq!(
            entries[0].destination,
            json!({"platform": "android", "target_id": "bin_1"})
        );
        assert_eq!(entries[1].tests, ["fail_payment"]);
        assert_eq!(test_name("t_checkout"), "Checkout flow");
        assert_eq!(test_name("abc123"), "abc123");
    }

    #[test]
    fn the_docs_examples_are_accepted() {
        for entry in [
            json!({"platform": "web", "web_url": "https://staging.example.com", "test_ids": ["abc123"]}),
            json!({"platform": "android", "binary_url": "https://builds.example.com/app.apk", "test_ids": ["abc123"]}),
            json!({"platform": "web", "web_url": "https://staging.example.com", "test_ids": ["abc123"],
                   "artifacts": [{"type": "authentication", "strategy": "specific", "account_id": "acc_789"}]}),
            json!({"platform": "web", "web_url": "https://s.example.com", "test_ids": ["a"],
                   "artifacts": [{"type": "authentication", "strategy": "none"}]}),
        ] {
            let body = json!({ "matrix": [entry] });
            assert!(parse(&body, &targets()).is_ok(), "{body}");
        }
    }
}
