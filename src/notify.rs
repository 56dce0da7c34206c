//! Telling the team: after a verdict, one message to a Slack-compatible incoming webhook (Slack,
//! Mattermost and Rocket.Chat take the same `{"text": …}`), saying how the run ended, its
//! counts, the failed tests with their links, the run id(s), the APKs doksi uploaded for it and,
//! where the CI says so, the job, branch and commit.
//!
//! This module owns the verdict as the team hears it ([`Verdict`], and which verdicts
//! [`NotifyOn`] wants), the message ([`text`], pure), and its delivery ([`send`]: a plain HTTP
//! client of its own, never the API client, so the API key cannot reach the webhook's host).
//! The webhook's URL, a secret, is a value of its own in [`crate::webhook`], which the settings
//! read without knowing this stage. It does not decide whether to send (the pipeline does), nor
//! print (`commands` does): a webhook that fails is a warning there, never an exit code.

use std::time::Duration;

use crate::api::model::{Run, Status};
use crate::labels::{self, ApkLabel, Labels};
use crate::rerun::{Attempts, TestOutcome, outcome_of};
use crate::webhook::{NotifyOn, WebhookUrl};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("cannot set up the webhook client: {0}")]
    Client(String),
    #[error("the webhook at {host} answered {status} ({}){}", crate::words::count(attempts, "attempt"), .said.as_ref().map(|s| format!(": {s}")).unwrap_or_default())]
    Refused {
        host: String,
        status: String,
        /// The first line of the answer's body (Slack says why: `invalid_payload`, `no_service`).
        said: Option<String>,
        attempts: u32,
    },
    #[error(
        "the webhook at {host} could not be reached ({}): {detail}",
        crate::words::count(attempts, "attempt")
    )]
    Unreachable {
        host: String,
        detail: String,
        attempts: u32,
    },
}

// Whether a verdict is told is the notify stage's question, so the answer lives beside the
// verdict; the setting itself stands below the stages, in `webhook`.
impl NotifyOn {
    pub fn wants(self, verdict: Verdict) -> bool {
        match self {
            NotifyOn::Always => true,
            NotifyOn::Never => false,
            NotifyOn::Fail => verdict != Verdict::Passed,
        }
    }
}

/// How the wait ended, as the team hears it. An interrupted doksi (Ctrl-C, a cancelled job)
/// has no verdict and tells no one: a person stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
    /// doksi gave up waiting (`--timeout`); the run may still be going.
    TimedOut,
    /// doksi could not follow the run it started (a refused key, a run that vanished).
    Lost,
}

/// How many tests ended each way, counted where every other output counts them. `flaky` ones
/// failed, then passed on a re-run; `unfinished` ones were queued or running when doksi stopped
/// looking, or when their run was reported failed.
pub use crate::rerun::Counts;

/// A test that did not pass, with its result's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedTest {
    pub name: String,
    /// Where it ran, as the text and the reports name it: one test failing on two destinations
    /// must not read twice alike. `None` when the result did not say.
    pub destination: Option<String>,
    pub url: Option<String>,
    /// Ended in a status the docs do not list, rather than `failed`.
    pub errored: bool,
}

/// The CI job doksi ran in, as its variables say.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ci {
    /// `GitHub Actions`, `GitLab CI`, `Jenkins`.
    pub system: &'static str,
    pub job_url: Option<String>,
    pub branch: Option<String>,
    pub commit: Option<String>,
}

impl Ci {
    pub fn from_env() -> Option<Ci> {
        Ci::from_vars(crate::environment::var)
    }

    /// GitHub Actions, GitLab CI or Jenkins, the first whose variables are set; `get` reads one.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Option<Ci> {
        let var = |name: &str| {
            get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let (Some(server), Some(repo), Some(id)) = (
            var("GITHUB_SERVER_URL"),
            var("GITHUB_REPOSITORY"),
            var("GITHUB_RUN_ID"),
        ) {
            return Some(Ci {
                system: "GitHub Actions",
                job_url: Some(format!(
                    "{}/{repo}/actions/runs/{id}",
                    server.trim_end_matches('/')
                )),
                // A pull request's GITHUB_REF_NAME is `123/merge`; its branch is the head's.
                branch: var("GITHUB_HEAD_REF").or_else(|| var("GITHUB_REF_NAME")),
                commit: var("GITHUB_SHA"),
            });
        }
        if let Some(job) = var("CI_JOB_URL") {
            return Some(Ci {
                system: "GitLab CI",
                job_url: Some(job),
                branch: var("CI_COMMIT_REF_NAME"),
                commit: var("CI_COMMIT_SHA"),
            });
        }
        if let Some(build) = var("BUILD_URL") {
            return Some(Ci {
                system: "Jenkins",
                job_url: Some(build),
                branch: var("GIT_BRANCH"),
                commit: var("GIT_COMMIT"),
            });
        }
        None
    }
}

/// Everything the message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub verdict: Verdict,
    pub counts: Counts,
    /// Failed (and errored) tests, in the run's order.
    pub failed: Vec<FailedTest>,
    /// Every run the verdict covers (a re-run's too), first to last.
    pub run_ids: Vec<String>,
    /// The APKs doksi uploaded (or found in its cache) for the run; empty for targets given by
    /// id and for `doksi wait`.
    pub apks: Vec<ApkLabel>,
    pub ci: Option<Ci>,
}

impl Summary {
    /// One run as it ended: its counts and failed tests from its results, no flaky tests, no
    /// APKs and no CI (the caller knows those).
    pub fn of_run(run: &Run, verdict: Verdict) -> Summary {
        let counts = Counts::of_run(run);
        let failed = run
            .results
            .iter()
            .filter_map(|r| match outcome_of(&r.status) {
                TestOutcome::Failed | TestOutcome::Errored => Some(FailedTest {
                    name: labels::test_name(r).to_owned(),
                    destination: r.destination.is_some().then(|| labels::destination(r)),
                    url: r.url.clone(),
                    errored: !matches!(r.status, Status::Failed),
                }),
                TestOutcome::Passed | TestOutcome::Flaky | TestOutcome::Unfinished => None,
            })
            .collect();
        Summary {
            verdict,
            counts,
            failed,
            run_ids: vec![run.run_id.clone()],
            apks: Vec::new(),
            ci: None,
        }
    }
}

impl Summary {
    /// Every attempt (a first run and its re-runs) ended as `verdict`, on the APKs doksi
    /// uploaded for it, in the CI job around it: each test counted once by how it came out over
    /// them all, flaky ones apart.
    pub fn of_attempts(attempts: &Attempts, verdict: Verdict, apks: Vec<ApkLabel>) -> Summary {
        let labels = Labels::new(&apks);
        let failed = attempts
            .tests()
            .iter()
            .filter(|t| matches!(t.outcome, TestOutcome::Failed | TestOutcome::Errored))
            .map(|t| FailedTest {
                name: labels::test_name(t.standing.result).to_owned(),
                destination: t
                    .standing
                    .result
                    .destination
                    .is_some()
                    .then(|| labels.of(t.standing.result)),
                url: t.standing.result.url.clone(),
                errored: t.outcome == TestOutcome::Errored,
            })
            .collect();
        Summary {
            counts: attempts.counts(),
            failed,
            run_ids: attempts.run_ids().iter().map(|id| id.to_string()).collect(),
            apks,
            ci: Ci::from_env(),
            ..Summary::of_run(attempts.last(), verdict)
        }
    }
}

/// A message lists this many failed tests; the rest are counted. Slack truncates long texts,
/// and a hundred links help no one more than the first twenty and the run's page.
const MAX_LISTED: usize = 20;
/// A name longer than this is cut: a message is for reading.
const MAX_NAME: usize = 200;

/// The message's text: complete on its own (no blocks or attachments needed), in the mrkdwn
/// that Slack, Mattermost and Rocket.Chat all read: `<url|label>` links, `•` lists. Everything
/// that came from elsewhere (names, ids, branch) is escaped, so `<!channel>` in a test's name
/// mentions no one.
pub fn text(s: &Summary) -> String {
    let c = &s.counts;
    let headline = match s.verdict {
        Verdict::Passed => "doksi: run passed",
        Verdict::Failed => "doksi: run failed",
        Verdict::TimedOut => "doksi: gave up waiting for the run (timed out)",
        Verdict::Lost => "doksi: lost track of the run (it goes on server-side)",
    };
    let mut counts = format!(
        "{} passed, {} failed, {} flaky",
        c.passed, c.failed, c.flaky
    );
    if c.errored > 0 {
        counts.push_str(&format!(", {} errored", c.errored));
    }
    if c.unfinished > 0 {
        counts.push_str(&format!(", {} unfinished", c.unfinished));
    }
    let mut lines = vec![format!("{headline}: {counts}")];
    if !s.failed.is_empty() {
        lines.push("Failed tests:".into());
        for t in s.failed.iter().take(MAX_LISTED) {
            let name = escape(&cut(&t.name, MAX_NAME));
            let shown = match &t.url {
                Some(url) => link(url, &name),
                None => name,
            };
            let at = match &t.destination {
                Some(d) => format!(" on {}", escape(&cut(d, MAX_NAME))),
                None => String::new(),
            };
            let note = if t.errored { " (error)" } else { "" };
            lines.push(format!("• {shown}{at}{note}"));
        }
        if s.failed.len() > MAX_LISTED {
            lines.push(format!("• … and {} more", s.failed.len() - MAX_LISTED));
        }
    }
    if !s.run_ids.is_empty() {
        let label = if s.run_ids.len() == 1 { "Run" } else { "Runs" };
        let ids: Vec<String> = s.run_ids.iter().map(|id| escape(id)).collect();
        lines.push(format!("{label}: {}", ids.join(", ")));
    }
    for apk in &s.apks {
        lines.push(format!("APK: {}", escape(&apk_line(apk))));
    }
    if let Some(ci) = &s.ci {
        let mut parts = vec![match &ci.job_url {
            Some(url) => link(url, &format!("{} job", ci.system)),
            None => ci.system.to_owned(),
        }];
        if let Some(branch) = &ci.branch {
            parts.push(format!("branch {}", escape(&cut(branch, MAX_NAME))));
        }
        if let Some(commit) = &ci.commit {
            parts.push(format!("commit {}", escape(&cut(commit, 12))));
        }
        lines.push(format!("CI: {}", parts.join(", ")));
    }
    lines.join("\n")
}

/// The JSON body an incoming webhook takes.
pub fn message(s: &Summary) -> serde_json::Value {
    serde_json::json!({ "text": text(s) })
}

/// `com.example.app 1.4.2 (142), app release`, or the file's name when the manifest gave no
/// package.
fn apk_line(apk: &ApkLabel) -> String {
    let mut line = apk.package.clone().unwrap_or_else(|| apk.file.clone());
    if let Some(v) = &apk.version_name {
        line.push_str(&format!(" {v}"));
    }
    if let Some(code) = apk.version_code {
        line.push_str(&format!(" ({code})"));
    }
    let built: Vec<&str> = [apk.module.as_deref(), apk.variant.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    if !built.is_empty() {
        line.push_str(&format!(", {}", built.join(" ")));
    }
    cut(&line, MAX_NAME)
}

/// Slack's three control characters as its docs ask (`&amp;`, `&lt;`, `&gt;`), on one line.
pub fn escape(text: &str) -> String {
    crate::words::one_line(text)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `<url|label>` (`label` already escaped), or the label alone for a URL that is not http(s)
/// or that would break the link's syntax.
fn link(url: &str, label: &str) -> String {
    let usable = (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '|' | '<' | '>'));
    match usable {
        true => format!("<{}|{label}>", url.replace('&', "&amp;")),
        false => label.to_owned(),
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// How hard to try: each request bounded, a few attempts, a short backoff. A notification is
/// worth seconds, not minutes, of a pipeline.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    /// One request, answer included.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first pause; it doubles.
    pub backoff: Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            attempts: 3,
            backoff: Duration::from_millis(500),
        }
    }
}

/// What came of one attempt that did not succeed.
enum Failure {
    Status {
        status: reqwest::StatusCode,
        said: Option<String>,
    },
    Transport {
        connect: bool,
        detail: String,
    },
}

/// The one place that decides whether a failed attempt is tried again: a connection that was
/// never made, or a status that says "not now" (the API's set, [`crate::api::retry`]). A request
/// that timed out after it was sent may have been posted, and is not sent twice.
fn again(failure: &Failure) -> bool {
    match failure {
        Failure::Status { status, .. } => crate::api::retry::transient_status(status.as_u16()),
        Failure::Transport { connect, .. } => *connect,
    }
}

/// Posts the summary; `Ok` with the attempts it took. Never follows a redirect (the message
/// would go to a host nobody configured).
pub async fn send(
    url: &WebhookUrl,
    summary: &Summary,
    delivery: Delivery,
) -> Result<u32, NotifyError> {
    let http = reqwest::Client::builder()
        .connect_timeout(delivery.connect_timeout)
        .timeout(delivery.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("doksi/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| NotifyError::Client(crate::api::client::describe(&e)))?;
    let body = message(summary);
    let attempts = delivery.attempts.max(1);
    let mut pause = delivery.backoff;
    let mut attempt = 1;
    loop {
        let failure = match http.post(url.url().clone()).json(&body).send().await {
            Ok(answer) if answer.status().is_success() => return Ok(attempt),
            Ok(answer) => {
                let status = answer.status();
                let said = answer.text().await.ok().and_then(|t| first_line(&t));
                Failure::Status { status, said }
            }
            Err(e) => Failure::Transport {
                connect: e.is_connect(),
                detail: match e.is_timeout() {
                    true => format!(
                        "no answer within {}",
                        crate::timestamp::duration(delivery.timeout)
                    ),
                    false => crate::api::client::describe(&e),
                },
            },
        };
        if attempt >= attempts || !again(&failure) {
            let host = url.host().to_owned();
            return Err(match failure {
                Failure::Status { status, said } => NotifyError::Refused {
                    host,
                    status: status.to_string(),
                    said,
                    attempts: attempt,
                },
                Failure::Transport { detail, .. } => NotifyError::Unreachable {
                    host,
                    detail,
                    attempts: attempt,
                },
            });
        }
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2);
        attempt += 1;
    }
}

/// An answer's first line, short and on one line, or nothing.
fn first_line(body: &str) -> Option<String> {
    let line = body.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(cut(&crate::words::one_line(line), 120))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::RunResult;

    fn result(id: &str, name: &str, status: Status, url: Option<&str>) -> RunResult {
        RunResult {
            result_id: format!("res_{id}"),
            test_id: id.into(),
            test_name: Some(name.into()),
            status,
            duration_seconds: 1.0,
            url: url.map(Into::into),
            destination: None,
        }
    }

    fn run(results: Vec<RunResult>) -> Run {
        Run {
            run_id: "run_42".into(),
            status: Status::Failed,
            tests_total: results.len() as u64,
            tests_passed: 0,
            tests_failed: 0,
            tests_running: 0,
            duration_seconds: 3.0,
            results,
            extra: Default::default(),
        }
    }

    fn failing() -> Summary {
        let run = run(vec![
            result(
                "t_login",
                "Login",
                Status::Passed,
                Some("https://d.example/r/1"),
            ),
            result(
                "t_pay",
                "Pay <!channel> & more",
                Status::Failed,
                Some("https://d.example/r/2?a=1&b=2"),
            ),
            result("t_odd", "Odd", Status::Other("error".into()), None),
            result("t_slow", "Slow", Status::Running, None),
        ]);
        Summary {
            apks: vec![ApkLabel {
                package: Some("com.example.app".into()),
                version_name: Some("1.4.2".into()),
                version_code: Some(142),
                module: Some("app".into()),
                variant: Some("release".into()),
                file: "app-release.apk".into(),
                target_id: Some("bin_1".into()),
            }],
            ci: Some(Ci {
                system: "GitHub Actions",
                job_url: Some("https://github.com/o/r/actions/runs/7".into()),
                branch: Some("main".into()),
                commit: Some("0123456789abcdef0123".into()),
            }),
            ..Summary::of_run(&run, Verdict::Failed)
        }
    }

    #[test]
    fn the_text_says_verdict_counts_failures_run_apk_and_job() {
        let s = failing();
        assert_eq!(
            s.counts,
            Counts {
                passed: 1,
                failed: 1,
                flaky: 0,
                errored: 1,
                unfinished: 1
            }
        );
        assert_eq!(
            text(&s),
            "doksi: run failed: 1 passed, 1 failed, 0 flaky, 1 errored, 1 unfinished\n\
             Failed tests:\n\
             • <https://d.example/r/2?a=1&amp;b=2|Pay &lt;!channel&gt; &amp; more>\n\
             • Odd (error)\n\
             Run: run_42\n\
             APK: com.example.app 1.4.2 (142), app release\n\
             CI: <https://github.com/o/r/actions/runs/7|GitHub Actions job>, branch main, commit 0123456789ab…"
        );
        assert_eq!(message(&s), serde_json::json!({ "text": text(&s) }));
    }

    #[test]
    fn a_passing_run_lists_nothing_and_long_lists_are_cut() {
        let passed = Summary::of_run(
            &run(vec![result("a", "A", Status::Passed, None)]),
            Verdict::Passed,
        );
        assert_eq!(
            text(&passed),
            "doksi: run passed: 1 passed, 0 failed, 0 flaky\nRun: run_42"
        );
        let many: Vec<RunResult> = (0..25)
            .map(|i| result(&format!("t{i}"), &format!("T{i}"), Status::Failed, None))
            .collect();
        let s = Summary::of_run(&run(many), Verdict::Failed);
        let t = text(&s);
        assert!(t.contains("• T19\n• … and 5 more"), "{t}");
        assert!(!t.contains("T20"), "{t}");
        // A URL that would break the link syntax is left out, the name kept.
        assert_eq!(link("javascript:alert(1)", "x"), "x");
        assert_eq!(link("https://a.example/x|y", "x"), "x");
    }

    #[test]
    fn ci_links_come_from_each_systems_variables() {
        let from = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Ci::from_vars(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        let gh = from(&[
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "o/r"),
            ("GITHUB_RUN_ID", "99"),
            ("GITHUB_REF_NAME", "12/merge"),
            ("GITHUB_HEAD_REF", "feature"),
            ("GITHUB_SHA", "abc"),
        ])
        .unwrap();
        assert_eq!(
            gh.job_url.as_deref(),
            Some("https://github.com/o/r/actions/runs/99")
        );
        assert_eq!(gh.branch.as_deref(), Some("feature"));
        assert_eq!(gh.commit.as_deref(), Some("abc"));
        let gl = from(&[
            ("CI_JOB_URL", "https://gitlab.example/p/-/jobs/5"),
            ("CI_COMMIT_REF_NAME", "main"),
            ("CI_COMMIT_SHA", "def"),
        ])
        .unwrap();
        assert_eq!(
            (gl.system, gl.branch.as_deref()),
            ("GitLab CI", Some("main"))
        );
        let jenkins = from(&[
            ("BUILD_URL", "https://ci.example/job/x/3/"),
            ("GIT_COMMIT", "f00"),
        ])
        .unwrap();
        assert_eq!(
            jenkins.job_url.as_deref(),
            Some("https://ci.example/job/x/3/")
        );
        assert_eq!(jenkins.commit.as_deref(), Some("f00"));
        assert_eq!(from(&[("GITHUB_RUN_ID", "1"), ("CI_JOB_URL", "")]), None);
    }

    #[test]
    fn notify_on_fail_tells_of_everything_but_a_pass() {
        use Verdict::*;
        for v in [Failed, TimedOut, Lost] {
            assert!(NotifyOn::Fail.wants(v), "{v:?}");
        }
        assert!(!NotifyOn::Fail.wants(Passed));
        assert!(
            [Passed, Failed, TimedOut, Lost]
                .iter()
                .all(|&v| NotifyOn::Always.wants(v))
        );
        assert!(
            ![Passed, Failed, TimedOut, Lost]
                .iter()
                .any(|&v| NotifyOn::Never.wants(v))
        );
        assert_eq!("always".parse(), Ok(NotifyOn::Always));
        assert!("sometimes".parse::<NotifyOn>().is_err());
    }

    /// A server on loopback that answers each connection with the next scripted status (or
    /// holds it without answering), counting requests.
    fn webhook(script: Vec<Option<u16>>) -> (WebhookUrl, std::thread::JoinHandle<usize>) {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            for answer in script {
                let (mut conn, _) = listener.accept().unwrap();
                served += 1;
                read_request(&mut conn);
                match answer {
                    Some(code) => {
                        let reply = format!(
                            "HTTP/1.1 {code} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nno"
                        );
                        let _ = conn.write_all(reply.as_bytes());
                    }
                    None => std::thread::sleep(Duration::from_millis(1500)),
                }
            }
            served
        });
        let url = WebhookUrl::parse(&format!("http://127.0.0.1:{port}/hooks/unit")).unwrap();
        (url, handle)
    }

    /// Reads a request whole (head, then the body its content-length announces), so that
    /// closing the connection after answering resets nothing the client still sends.
    fn read_request(conn: &mut std::net::TcpStream) {
        use std::io::Read;
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = conn.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            seen.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&seen).to_ascii_lowercase();
            if let Some(end) = text.find("\r\n\r\n") {
                let len: usize = text[..end]
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if seen.len() >= end + 4 + len {
                    return;
                }
            }
        }
    }

    fn quick() -> Delivery {
        Delivery {
            timeout: Duration::from_millis(500),
            connect_timeout: Duration::from_millis(500),
            attempts: 3,
            backoff: Duration::from_millis(10),
        }
    }

    #[tokio::test]
    async fn transient_answers_are_retried_and_others_are_not() {
        let s = failing();
        let (url, server) = webhook(vec![Some(503), Some(429), Some(200)]);
        assert_eq!(send(&url, &s, quick()).await, Ok(3));
        assert_eq!(server.join().unwrap(), 3);

        let (url, server) = webhook(vec![Some(404)]);
        let e = send(&url, &s, quick()).await.unwrap_err();
        assert!(
            matches!(&e, NotifyError::Refused { attempts: 1, said: Some(said), .. } if said == "no"),
            "{e:?}"
        );
        assert_eq!(server.join().unwrap(), 1);

        let (url, server) = webhook(vec![Some(500), Some(500), Some(500)]);
        let e = send(&url, &s, quick()).await.unwrap_err();
        assert!(
            matches!(e, NotifyError::Refused { attempts: 3, .. }),
            "{e:?}"
        );
        assert_eq!(server.join().unwrap(), 3);
    }

    #[tokio::test]
    async fn a_webhook_that_never_answers_is_given_up_on_after_one_timeout() {
        let (url, server) = webhook(vec![None]);
        let began = std::time::Instant::now();
        let e = send(&url, &failing(), quick()).await.unwrap_err();
        assert!(
            matches!(&e, NotifyError::Unreachable { attempts: 1, detail, .. } if detail.contains("no answer")),
            "{e:?}"
        );
        assert!(began.elapsed() < Duration::from_secs(5));
        assert_eq!(server.join().unwrap(), 1);
        assert_eq!(e.to_string().matches("127.0.0.1").count(), 1, "{e}");
        assert!(!e.to_string().contains("/hooks/unit"), "{e}");
    }
}
