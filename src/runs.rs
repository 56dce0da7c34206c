//! Runs: the matrix built from flags or a matrix file, and waiting for the verdict. Waiting
//! polls with a gently growing interval and always ends by its deadline, handing back the last
//! state it saw when time runs out (as saucectl's `PollJob` does), so the caller can print it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{Artifact, Authentication, MatrixEntry, Platform, Run, RunRequest};
use crate::api::retry::{self, Decision, Effect};

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
    if tests.test_ids.is_empty() && tests.category_ids.is_empty() {
        return Err(RunsError::NoTests);
    }
    let entries = destinations
        .iter()
        .map(|d| {
            let (platform, web_url, binary_url, target_id) = match d {
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
        })
        .collect();
    Ok(RunRequest { matrix: entries })
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

/// How often to poll: starting at `initial`, growing by half each time up to `max`; and when the
/// run counts as over.
#[derive(Debug, Clone, Copy)]
pub struct PollPolicy {
    pub initial: Duration,
    pub max: Duration,
    /// When the run counts as over.
    pub until: Until,
}

impl Default for PollPolicy {
    fn default() -> Self {
        PollPolicy {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(15),
            until: Until::RollUp,
        }
    }
}

/// The end of a wait: the final run, or the last one seen (if any poll succeeded) when the
/// deadline came.
#[derive(Debug)]
pub enum WaitOutcome {
    Finished {
        run: Run,
        raw: serde_json::Value,
    },
    TimedOut {
        last: Option<(Run, serde_json::Value)>,
    },
}

/// When a wait is over. The docs say the top-level `status` "rolls up across every result" and
/// to poll until it is `passed` or `failed`; a service may say `failed` as soon as one result
/// fails, while others are still queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// At the roll-up: the gate's answer, whatever its results still do.
    RollUp,
    /// Once the roll-up is final and every result has ended too, so a re-run holds only what
    /// really failed and the verdict counts what happened. Should the deadline come first, the
    /// final roll-up already seen is the answer, its unfinished results unfinished.
    EveryResult,
}

impl Until {
    /// Whether `run` is as far as this wait goes.
    pub fn reached(self, run: &Run) -> bool {
        run.status.is_final()
            && (self == Until::RollUp || !run.results.iter().any(|r| is_unfinished(&r.status)))
    }
}

/// Queued or running: the test has not ended, whatever its run's top-level status says.
pub fn is_unfinished(status: &crate::api::model::Status) -> bool {
    use crate::api::model::Status;
    matches!(status, Status::Queued | Status::Running)
}

/// Whether the run was created a moment ago: right after `POST /runs` a read replica may not know
/// it yet, so a 404 then is a reason to look again, not an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    JustCreated,
    Existing,
}

/// How long a just-created run may answer 404 before that is believed.
const NEW_RUN_GRACE: Duration = Duration::from_secs(30);

/// The longest pause a server's `Retry-After` buys while waiting; anything longer is a server
/// bug or a gateway's default, and must not freeze a job until its deadline.
pub const MAX_POLL_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The time the poll made at the deadline may take: long enough for one answer, short enough
/// that `--timeout` stays the promise it is.
const FINAL_POLL: Duration = Duration::from_secs(3);

/// Polls `GET /runs/{id}` until the run is passed or failed (and, as `until` says, every result
/// has ended), or `timeout` has passed.
/// `on_update` sees every state fetched, to print results as they finish; `on_trouble` hears
/// about polls that failed in a way worth riding out (the client has already retried them).
/// No poll, retry or pause outlives the deadline by more than the one final poll made at it.
pub async fn wait(
    client: &Client,
    run_id: &str,
    timeout: Duration,
    policy: PollPolicy,
    freshness: Freshness,
    mut on_update: impl FnMut(&Run),
    on_trouble: impl Fn(&ApiError),
) -> Result<WaitOutcome, ApiError> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut interval = policy.initial;
    let mut last: Option<(Run, serde_json::Value)> = None;
    loop {
        let mut pause = interval;
        let answer_by = deadline.max(Instant::now() + FINAL_POLL);
        match client.get_run_until(run_id, Some(answer_by)).await {
            Ok((run, raw)) => {
                on_update(&run);
                if policy.until.reached(&run) {
                    return Ok(WaitOutcome::Finished { run, raw });
                }
                last = Some((run, raw));
            }
            Err(e) => {
                let young =
                    freshness == Freshness::JustCreated && started.elapsed() < NEW_RUN_GRACE;
                // A run this process created exists: a host that stopped resolving or a TLS
                // hiccup is weather too, and giving up would leave it unreported.
                let ours = freshness == Freshness::JustCreated
                    && matches!(e.root(), ApiError::Connect { .. });
                if !ours && !worth_riding_out(e.root(), young) {
                    return Err(e);
                }
                on_trouble(&e);
                // Told to slow down: do, for the rest of the wait, within reason.
                if let Some(after) = e.root().retry_after() {
                    let after = after.min(MAX_POLL_RETRY_AFTER);
                    interval = interval.max(after);
                    pause = after;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(match last {
                // The run has its verdict; only some of its results were still going.
                Some((run, raw)) if run.status.is_final() => WaitOutcome::Finished { run, raw },
                last => WaitOutcome::TimedOut { last },
            });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        interval = (interval.saturating_mul(3) / 2).min(policy.max.max(interval));
    }
}

/// Whether a failed poll is weather rather than an answer: what the client retries, a 404 for a
/// run created a moment ago, and a success whose body was not the run (a proxy's page, a cut-off
/// body). Looking again costs nothing, and the run goes on regardless.
fn worth_riding_out(error: &ApiError, young: bool) -> bool {
    if retry::decide(error, Effect::Repeatable) != Decision::Stop {
        return true;
    }
    match error {
        ApiError::NotJson { status, .. } | ApiError::BadAnswer { status, .. } => {
            (200..300).contains(status)
        }
        _ => young && error.status() == Some(404),
    }
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
