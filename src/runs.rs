//! Runs: the matrix built from flags or a matrix file, each entry checked before anything is
//! uploaded (the waiting is `wait`'s). Owns [`RunsError`]; imports only `api`.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::api::model::{Artifact, Authentication, MatrixEntry, Platform, RunRequest};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunsError {
    #[error("--auth {0:?} is not one of none, generated, specific:acc_ID")]
    BadAuth(String),
    #[error("--auth specific needs an account id that starts with acc_ (got {0:?})")]
    BadAccount(String),
    #[error("nothing to run: give at least one --test or --category")]
    NoTests,
    #[error(
        "nowhere to run: give --project, --apk, --target, --binary-url or --web-url (or --matrix)"
    )]
    NoDestination,
    #[error("matrix file {path}: {problem}")]
    MatrixFile { path: PathBuf, problem: String },
    #[error("{what} {url:?} is not an http(s) URL with a host: {why}")]
    BadUrl {
        what: &'static str,
        url: String,
        why: String,
    },
}

/// A `web_url` or `binary_url` as the server will need it: `http`/`https` with a host. Checked
/// before anything is uploaded, because the server's refusal would come after the uploads.
pub fn check_url(what: &'static str, raw: &str) -> Result<String, RunsError> {
    let bad = |why: String| RunsError::BadUrl {
        what,
        url: raw.to_owned(),
        why,
    };
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("the scheme is {}", url.scheme())));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host".into()));
    }
    Ok(raw.trim().to_owned())
}

/// How each entry's tests sign in (`--auth`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Auth {
    #[default]
    None,
    Generated,
    Specific(String),
}

impl std::str::FromStr for Auth {
    type Err = RunsError;

    fn from_str(s: &str) -> Result<Auth, RunsError> {
        match s {
            "none" => Ok(Auth::None),
            "generated" => Ok(Auth::Generated),
            _ => match s.strip_prefix("specific:") {
                Some(acc) if acc.starts_with("acc_") && acc.len() > 4 => {
                    Ok(Auth::Specific(acc.to_owned()))
                }
                Some(acc) => Err(RunsError::BadAccount(acc.to_owned())),
                None => Err(RunsError::BadAuth(s.to_owned())),
            },
        }
    }
}

impl Auth {
    /// The entry's `artifacts`: none for `none`, the documented default.
    pub fn artifacts(&self) -> Option<Vec<Artifact>> {
        match self {
            Auth::None => None,
            Auth::Generated => Some(vec![Artifact::Authentication(Authentication::Generated)]),
            Auth::Specific(id) => Some(vec![Artifact::Authentication(Authentication::Specific {
                account_id: id.clone(),
            })]),
        }
    }
}

/// Where one matrix entry's tests run, with uploads already turned into target ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Target(String),
    BinaryUrl(String),
    WebUrl(String),
}

/// The tests every entry gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tests {
    pub test_ids: Vec<String>,
    pub category_ids: Vec<String>,
}

fn non_empty(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// One entry per destination, each with every test and category and the same auth.
pub fn matrix(
    destinations: &[Destination],
    tests: &Tests,
    auth: &Auth,
) -> Result<RunRequest, RunsError> {
    if destinations.is_empty() {
        return Err(RunsError::NoDestination);
    }
    check_tests(tests)?;
    let entries = destinations.iter().map(|d| entry(d, tests, auth)).collect();
    Ok(RunRequest { matrix: entries })
}

/// A run needs a test or a category.
pub fn check_tests(tests: &Tests) -> Result<(), RunsError> {
    match tests.test_ids.is_empty() && tests.category_ids.is_empty() {
        true => Err(RunsError::NoTests),
        false => Ok(()),
    }
}

/// The entry of one destination, with every test and category and the auth.
pub fn entry(destination: &Destination, tests: &Tests, auth: &Auth) -> MatrixEntry {
    let (platform, web_url, binary_url, target_id) = match destination {
        Destination::Target(t) => (Platform::Android, None, None, Some(t.clone())),
        Destination::BinaryUrl(u) => (Platform::Android, None, Some(u.clone()), None),
        Destination::WebUrl(u) => (Platform::Web, Some(u.clone()), None, None),
    };
    MatrixEntry {
        platform,
        web_url,
        binary_url,
        target_id,
        test_ids: non_empty(&tests.test_ids),
        category_ids: non_empty(&tests.category_ids),
        artifacts: auth.artifacts(),
    }
}

/// An entry of a `--matrix` file: the documented entry, where `apk` or `project` may stand in
/// for `target_id` (doksi uploads it through the cache first).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub platform: Platform,
    #[serde(default)]
    pub web_url: Option<String>,
    #[serde(default)]
    pub binary_url: Option<String>,
    #[serde(default)]
    pub target_id: Option<String>,
    #[serde(default)]
    pub apk: Option<PathBuf>,
    #[serde(default)]
    pub project: Option<PathBuf>,
    #[serde(default)]
    pub test_ids: Option<Vec<String>>,
    #[serde(default)]
    pub category_ids: Option<Vec<String>>,
    #[serde(default)]
    pub artifacts: Option<Vec<Artifact>>,
}

impl FileEntry {
    /// The documented entry, once `apk`/`project` has become `target_id`.
    pub fn into_entry(self, target_id: Option<String>) -> MatrixEntry {
        MatrixEntry {
            platform: self.platform,
            web_url: self.web_url,
            binary_url: self.binary_url,
            target_id: target_id.or(self.target_id),
            test_ids: self.test_ids,
            category_ids: self.category_ids,
            artifacts: self.artifacts,
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum MatrixDoc {
    Body { matrix: Vec<serde_json::Value> },
    Bare(Vec<serde_json::Value>),
}

/// Reads a matrix file (the documented `{"matrix": [...]}` body, or just the array) and checks
/// every entry, naming the entry and field at fault. Relative `apk`/`project` paths are taken
/// relative to the file.
pub fn read_matrix_file(path: &Path) -> Result<Vec<FileEntry>, RunsError> {
    let fail = |problem: String| RunsError::MatrixFile {
        path: path.to_owned(),
        problem,
    };
    let text = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let doc: MatrixDoc =
        serde_json::from_slice(&text).map_err(|e| fail(format!("not a matrix: {e}")))?;
    let (MatrixDoc::Body { matrix: raw } | MatrixDoc::Bare(raw)) = doc;
    check_entries(raw, path.parent().unwrap_or(Path::new(".")), path)
}

/// Checks matrix entries read from `file` (a `--matrix` file or `doksi.toml`), resolving `apk`
/// and `project` against `base`.
pub fn check_entries(
    raw: Vec<serde_json::Value>,
    base: &Path,
    file: &Path,
) -> Result<Vec<FileEntry>, RunsError> {
    let fail = |problem: String| RunsError::MatrixFile {
        path: file.to_owned(),
        problem,
    };
    if raw.is_empty() {
        return Err(fail("the matrix is empty".into()));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, v)| {
            let at = |p: &str| fail(format!("entry {i}: {p}"));
            let mut e: FileEntry = serde_json::from_value(v).map_err(|e| at(&e.to_string()))?;
            let android = [
                e.target_id.is_some(),
                e.binary_url.is_some(),
                e.apk.is_some(),
                e.project.is_some(),
            ]
            .iter()
            .filter(|b| **b)
            .count();
            match e.platform {
                Platform::Web if e.web_url.is_none() => {
                    return Err(at("a web entry needs web_url"));
                }
                Platform::Web if android > 0 => {
                    return Err(at(
                        "a web entry takes web_url only, not a target, APK or binary URL",
                    ));
                }
                Platform::Android if android != 1 => {
                    return Err(at(
                        "an android entry needs exactly one of target_id, binary_url, apk, project",
                    ));
                }
                Platform::Android if e.web_url.is_some() => {
                    return Err(at("an android entry does not take web_url"));
                }
                _ => {}
            }
            for (what, url) in [("web_url", &e.web_url), ("binary_url", &e.binary_url)] {
                if let Some(url) = url {
                    check_url(what, url).map_err(|problem| at(&problem.to_string()))?;
                }
            }
            let empty = |v: &Option<Vec<String>>| {
                v.as_ref()
                    .is_none_or(|v| v.is_empty() || v.iter().any(|s| s.trim().is_empty()))
            };
            if empty(&e.test_ids) && empty(&e.category_ids) {
                return Err(at(
                    "needs a non-empty test_ids or category_ids list (without blank ids)",
                ));
            }
            for a in e.artifacts.iter().flatten() {
                let Artifact::Authentication(Authentication::Specific { account_id }) = a else {
                    continue;
                };
                if !account_id.starts_with("acc_") || account_id.len() <= 4 {
                    return Err(at(&format!(
                        "account_id {account_id:?} must start with acc_"
                    )));
                }
            }
            e.apk = e.apk.map(|p| base.join(p));
            e.project = e.project.map(|p| base.join(p));
            Ok(e)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn urls_need_http_or_https_and_a_host() {
        assert!(check_url("--web-url", "https://staging.example.com").is_ok());
        assert!(check_url("--web-url", "http://127.0.0.1:8080/app").is_ok());
        for bad in [
            "staging.example.com",
            "ftp://x/app.apk",
            "https://",
            "mailto:a@b",
        ] {
            assert!(
                matches!(check_url("--web-url", bad), Err(RunsError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn auth_strategies_parse_and_reject_bad_accounts() {
        assert_eq!("none".parse::<Auth>(), Ok(Auth::None));
        assert_eq!("generated".parse::<Auth>(), Ok(Auth::Generated));
        assert_eq!(
            "specific:acc_789".parse::<Auth>(),
            Ok(Auth::Specific("acc_789".into()))
        );
        assert!(matches!(
            "specific:789".parse::<Auth>(),
            Err(RunsError::BadAccount(_))
        ));
        assert!(matches!(
            "sometimes".parse::<Auth>(),
            Err(RunsError::BadAuth(_))
        ));
    }

    #[test]
    fn matrix_fans_out_one_entry_per_destination() {
        let tests = Tests {
            test_ids: vec!["abc123".into()],
            category_ids: vec![],
        };
        let req = matrix(
            &[
                Destination::WebUrl("https://staging.example.com".into()),
                Destination::Target("bin_1".into()),
            ],
            &tests,
            &Auth::Specific("acc_789".into()),
        )
        .unwrap();
        assert_eq!(
            serde_json::to_value(req).unwrap(),
            json!({"matrix": [
                {"platform": "web", "web_url": "https://staging.example.com", "test_ids": ["abc123"],
                 "artifacts": [{"type": "authentication", "strategy": "specific", "account_id": "acc_789"}]},
                {"platform": "android", "target_id": "bin_1", "test_ids": ["abc123"],
                 "artifacts": [{"type": "authentication", "strategy": "specific", "account_id": "acc_789"}]}
            ]})
        );
        assert_eq!(
            matrix(&[], &tests, &Auth::None),
            Err(RunsError::NoDestination)
        );
        assert_eq!(
            matrix(
                &[Destination::Target("b".into())],
                &Tests::default(),
                &Auth::None
            ),
            Err(RunsError::NoTests)
        );
    }

    #[test]
    fn matrix_files_are_checked_entry_by_entry() {
        let dir = tempfile::tempdir().unwrap();
        let write = |body: &str| {
            let p = dir.path().join("m.json");
            std::fs::write(&p, body).unwrap();
            p
        };
        let ok = write(
            r#"{"matrix":[{"platform":"android","apk":"app.apk","category_ids":["cat_smoke"]}]}"#,
        );
        let entries = read_matrix_file(&ok).unwrap();
        assert_eq!(
            entries[0].apk.as_deref(),
            Some(dir.path().join("app.apk").as_path())
        );
        for (body, want) in [
            ("[]", "the matrix is empty"),
            ("{", "not a matrix"),
            (
                r#"[{"platform":"ios","target_id":"b","test_ids":["t"]}]"#,
                "entry 0: unknown variant `ios`",
            ),
            (
                r#"[{"platform":"web","test_ids":["t"]}]"#,
                "entry 0: a web entry needs web_url",
            ),
            (
                r#"[{"platform":"android","target_id":"b","test_ids":[]}]"#,
                "needs a non-empty test_ids",
            ),
            (
                r#"[{"platform":"android","target_id":"b","apk":"x","test_ids":["t"]}]"#,
                "exactly one of",
            ),
            (
                r#"[{"platform":"android","target_id":"b","test_ids":["t"],"artifacts":[{"type":"authentication","strategy":"specific","account_id":"789"}]}]"#,
                "must start with acc_",
            ),
            (
                r#"[{"platform":"android","target_id":"b","test_ids":["t"],"colour":"red"}]"#,
                "unknown field `colour`",
            ),
        ] {
            let err = read_matrix_file(&write(body)).unwrap_err().to_string();
            assert!(err.contains(want), "{body}: {err}");
        }
        assert!(
            read_matrix_file(&dir.path().join("missing.json"))
                .unwrap_err()
                .to_string()
                .contains("cannot read it")
        );
    }
}
