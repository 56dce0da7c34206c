//! `--notify`: the message a run's verdict posts to an incoming webhook, against a webhook
//! written here (loopback, every request recorded whole, each answered with a scripted status):
//! what the JSON says, when it is sent (`--notify-on`), its retry, a dead webhook, and that
//! neither the webhook's URL nor the API key goes anywhere it should not.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{FAST, ci, ci_with, stdout_json};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// The secret part of every webhook URL here: it must never be printed.
const TOKEN: &str = "T0NOTIFY/B0SECRET/z9y8x7w6v5u4t3s2";

/// One request as the webhook received it.
#[derive(Debug, Clone)]
struct Received {
    head: String,
    body: Vec<u8>,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The message's `text`.
    fn text(&self) -> String {
        self.json()["text"].as_str().unwrap().to_owned()
    }

    fn raw(&self) -> String {
        format!("{}{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

/// An incoming webhook on 127.0.0.1: answers the n-th request with `script[n]` (200 once the
/// script is spent) and records each.
struct Webhook {
    url: String,
    received: Arc<Mutex<Vec<Received>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
}

impl Webhook {
    fn start(script: &[u16]) -> Webhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped, script) = (received.clone(), stop.clone(), script.to_vec());
        std::thread::spawn(move || {
            for (n, conn) in listener.incoming().enumerate() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let Some(req) = read_request(&mut conn) else {
                    continue;
                };
                log.lock().unwrap().push(req);
                let status = script.get(n).copied().unwrap_or(200);
                let body = if status == 200 { "ok" } else { "no_service" };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        Webhook {
            url: format!("http://{addr}/services/{TOKEN}"),
            received,
            stop,
            addr,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// The one message posted.
    fn only(&self) -> Received {
        let all = self.received();
        assert_eq!(all.len(), 1, "{all:?}");
        all.into_iter().next().unwrap()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
    }
}

/// A request read whole: the head, then the body its Content-Length announces.
fn read_request(conn: &mut TcpStream) -> Option<Received> {
    conn.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = conn.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        seen.extend_from_slice(&buf[..n]);
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&seen[..end + 4]).into_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length").then(|| v.trim())
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if seen.len() >= end + 4 + length {
            let body = seen[end + 4..end + 4 + length].to_vec();
            return Some(Received { head, body });
        }
    }
}

/// The variables of a GitHub Actions job, whose link the message gives.
const GITHUB: [(&str, &str); 5] = [
    ("GITHUB_SERVER_URL", "https://github.com"),
    ("GITHUB_REPOSITORY", "octo/app"),
    ("GITHUB_RUN_ID", "4242"),
    ("GITHUB_REF_NAME", "nightly-branch"),
    ("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567"),
];

/// The unlock APK's package and versionName, as `doksi inspect` reads them.
fn unlock_manifest(sb: &Sandbox) -> (String, String) {
    let r = sb.run(&["inspect", "--json", path_str(&unlock_apk())]);
    let v = stdout_json(&r);
    (
        v["package"].as_str().unwrap().to_owned(),
        v["version_name"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn a_failed_run_posts_its_verdict_counts_failed_tests_run_apk_and_job() {
    let sb = Sandbox::start(&[]);
    let hook = Webhook::start(&[]);
    let r = ci_with(
        &sb,
        &[
            "--json",
            "--category",
            "cat_smoke,cat_failing",
            "--notify",
            &hook.url,
        ],
        &GITHUB,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let run = stdout_json(&r);
    let posted = hook.only();
    assert!(
        posted.head.starts_with("POST /services/"),
        "{}",
        posted.head
    );
    assert!(
        posted
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{}",
        posted.head
    );
    let text = posted.text();
    assert!(
        text.starts_with("doksi: run failed: 2 passed, 1 failed, 0 flaky\n"),
        "{text}"
    );
    let failed: Vec<&Value> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{run}");
    let (name, url) = (
        failed[0]["test_name"].as_str().unwrap(),
        failed[0]["url"].as_str().unwrap(),
    );
    assert!(
        text.contains(&format!(
            "Failed tests:\n• <{url}|{name}> on appium-unlock-2.0.0-debug.apk (io.appium.unlock)\n"
        )),
        "{text}"
    );
    let run_id = run["run_id"].as_str().unwrap();
    assert!(text.contains(&format!("\nRun: {run_id}\n")), "{text}");
    let (package, version) = unlock_manifest(&sb);
    assert!(
        text.contains(&format!("\nAPK: {package} {version}")),
        "{text}"
    );
    assert!(
        text.ends_with(
            "\nCI: <https://github.com/octo/app/actions/runs/4242|GitHub Actions job>, branch nightly-branch, commit 0123456789ab…"
        ),
        "{text}"
    );
    // The passed tests are counted, not listed.
    assert_eq!(text.matches("\n• ").count(), 1, "{text}");
    // The webhook hears nothing of the API: no key, no Authorization header.
    assert!(!posted.raw().contains(&sb.key[8..]), "{}", posted.raw());
    assert!(
        !posted.head.to_ascii_lowercase().contains("authorization"),
        "{}",
        posted.head
    );
    assert!(
        r.stderr.contains("told the team (webhook at 127.0.0.1)"),
        "{}",
        r.stderr
    );
}

#[test]
fn notify_on_decides_which_verdicts_are_posted() {
    let sb = Sandbox::start(&[]);
    // fail, the default: a passing run posts nothing, a failing one posts.
    let hook = Webhook::start(&[]);
    let r = ci(&sb, &["--category", "cat_smoke", "--notify", &hook.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(hook.received().is_empty(), "{:?}", hook.received());
    assert!(!r.stderr.contains("told the team"), "{}", r.stderr);
    let r = ci(&sb, &["--category", "cat_failing", "--notify", &hook.url]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(hook.only().text().starts_with("doksi: run failed"));

    // always, from the environment: a pass is posted too.
    let hook = Webhook::start(&[]);
    let env = [
        ("DOKSI_NOTIFY_URL", hook.url.as_str()),
        ("DOKSI_NOTIFY_ON", "always"),
    ];
    let r = ci_with(&sb, &["--category", "cat_smoke"], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        hook.only()
            .text()
            .starts_with("doksi: run passed: 2 passed, 0 failed, 0 flaky\n"),
        "{:?}",
        hook.received()
    );

    // never: not even a failure.
    let hook = Webhook::start(&[]);
    let r = ci(
        &sb,
        &[
            "--category",
            "cat_failing",
            "--notify",
            &hook.url,
            "--notify-on",
            "never",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(hook.received().is_empty(), "{:?}", hook.received());
}

#[test]
fn an_empty_notify_flag_counts_as_unset_with_a_warning_and_the_run_goes_on() {
    // `--notify "$SLACK_WEBHOOK"` with the secret unset, as on a fork: the run is not stopped.
    let sb = Sandbox::start(&[]);
    for empty in [&["--notify", ""][..], &["--notify="][..]] {
        let args = [&["--category", "cat_failing"][..], empty].concat();
        let r = ci(&sb, &args);
        assert_eq!(r.code, 1, "the run ran and failed: {}", r.stderr);
        assert!(
            r.stderr.lines().any(|l| l
                == "doksi: warning: --notify was given an empty value, which counts as unset: no notification is posted"),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("started run"), "{}", r.stderr);
    }
    // Counted as unset, the variable gives it: the message is posted there.
    let hook = Webhook::start(&[]);
    let r = ci_with(
        &sb,
        &["--category", "cat_failing", "--notify", ""],
        &[("DOKSI_NOTIFY_URL", hook.url.as_str())],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "--notify was given an empty value, which counts as unset: DOKSI_NOTIFY_URL gives it"
        ),
        "{}",
        r.stderr
    );
    assert!(hook.only().text().starts_with("doksi: run failed"));
    // A switch takes no value: the empty word after it is an argument of its own, refused as
    // such, and a flag no variable gives (`wait --auth`) is not emptied either.
    for args in [
        &["upload", "--require-signed", "", "--dry-run"][..],
        &["wait", "run_1", "--auth", ""][..],
    ] {
        let r = sb.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            !r.stderr.contains("counts as unset"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // An empty --junit: no report, and the warning says so.
    let r = ci(&sb, &["--category", "cat_smoke", "--junit", ""]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "--junit was given an empty value, which counts as unset: no JUnit report is written"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn run_wait_and_wait_post_too_and_a_timeout_counts_as_a_failure() {
    let sb = Sandbox::start(&[]);
    let hook = Webhook::start(&[]);
    let apk = unlock_apk();
    let mut args = vec![
        "run",
        "--apk",
        path_str(&apk),
        "--category",
        "cat_failing",
        "--wait",
        "--notify",
        &hook.url,
    ];
    args.extend(FAST);
    let r = sb.run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (package, _) = unlock_manifest(&sb);
    let text = hook.only().text();
    assert!(text.starts_with("doksi: run failed"), "{text}");
    assert!(text.contains(&format!("\nAPK: {package} ")), "{text}");

    // `wait` on a run started without waiting: no APK it knows of, the run's verdict all the same.
    let hook = Webhook::start(&[]);
    let started = sb.run(&["run", "--apk", path_str(&apk), "--category", "cat_failing"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let run_id = started.stdout.trim();
    let mut args = vec!["wait", run_id, "--notify", &hook.url];
    args.extend(FAST);
    let r = sb.run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let text = hook.only().text();
    assert!(text.starts_with("doksi: run failed"), "{text}");
    assert!(text.contains(&format!("\nRun: {run_id}")), "{text}");
    assert!(!text.contains("APK:"), "{text}");

    // A wait that gives up is no pass: --notify-on fail posts it.
    let slow = Sandbox::start(&["--run-step", "5s"]);
    let hook = Webhook::start(&[]);
    let r = ci(
        &slow,
        &[
            "--category",
            "cat_smoke",
            "--timeout",
            "1s",
            "--notify",
            &hook.url,
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let text = hook.only().text();
    assert!(
        text.starts_with("doksi: gave up waiting for the run (timed out): 0 passed, 0 failed, 0 flaky, 2 unfinished\n"),
        "{text}"
    );
}

#[test]
fn a_run_doksi_lost_track_of_is_posted_and_keeps_its_exit_code() {
    use crate::field_faults::{doksi_at, reply, routed};
    let (base, _) = routed(|req| match req.method.as_str() {
        "POST" => reply(
            200,
            r#"{"run_id":"run_1","results":[{"result_id":"res_1","test_id":"t_login"}]}"#,
        ),
        _ => reply(403, r#"{"error":"key revoked"}"#),
    });
    let hook = Webhook::start(&[]);
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "run", "--target", "bin_1", "--test", "t_login", "--wait", "--notify", &hook.url,
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let text = hook.only().text();
    assert!(
        text.starts_with("doksi: lost track of the run (it goes on server-side): 0 passed, 0 failed, 0 flaky, 1 unfinished\nRun: run_1"),
        "{text}"
    );
}

#[test]
fn a_webhook_answering_500_is_tried_again_and_the_exit_code_stands() {
    let sb = Sandbox::start(&[]);
    let hook = Webhook::start(&[500]);
    let r = ci(&sb, &["--category", "cat_failing", "--notify", &hook.url]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let got = hook.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].body, got[1].body);
    assert!(r.stderr.contains("told the team"), "{}", r.stderr);
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);

    // A refusal is not tried again: one request, a warning naming the host, the exit code kept.
    let hook = Webhook::start(&[404]);
    let r = ci(
        &sb,
        &[
            "--category",
            "cat_smoke",
            "--notify",
            &hook.url,
            "--notify-on",
            "always",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(hook.received().len(), 1);
    assert!(
        r.stderr.contains(
            "warning: the webhook at 127.0.0.1 answered 404 Not Found (1 attempt): no_service; the team was not told, the verdict stands"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_dead_webhook_is_a_warning_in_bounded_time_and_the_exit_code_stands() {
    let sb = Sandbox::start(&[]);
    // A port that was just free: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("http://127.0.0.1:{port}/hooks/{TOKEN}");
    for (category, code) in [("cat_smoke", 0), ("cat_failing", 1)] {
        let began = Instant::now();
        let r = ci(
            &sb,
            &[
                "--category",
                category,
                "--notify",
                &dead,
                "--notify-on",
                "always",
            ],
        );
        assert_eq!(r.code, code, "{}", r.stderr);
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "{:?}",
            began.elapsed()
        );
        let warning: Vec<&str> = r.stderr.lines().filter(|l| l.contains("warning")).collect();
        assert_eq!(warning.len(), 1, "{}", r.stderr);
        assert!(
            warning[0].contains("the webhook at 127.0.0.1 could not be reached (3 attempts)"),
            "{}",
            warning[0]
        );
        assert!(!warning[0].contains(&format!(":{port}")), "{}", warning[0]);
        assert!(!r.stderr.contains("z9y8x7"), "{}", r.stderr);
    }
}

#[test]
fn the_webhook_url_is_never_printed() {
    let sb = Sandbox::start(&[]);
    let secret = &TOKEN[TOKEN.len() - 12..];
    // -vv logs every request with its headers; a webhook that fails makes a warning too.
    let hook = Webhook::start(&[500, 500, 500]);
    let r = ci(
        &sb,
        &["-vv", "--category", "cat_failing", "--notify", &hook.url],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(hook.received().len(), 3);
    assert!(
        r.stderr
            .to_ascii_lowercase()
            .contains("authorization: bearer"),
        "no -vv trace: {}",
        r.stderr
    );
    assert!(r.stderr.contains("answered 500"), "{}", r.stderr);
    assert!(!r.stderr.contains(secret), "{}", r.stderr);
    assert!(!r.stdout.contains(secret), "{}", r.stdout);

    // doksi config shows the host and the last four characters, from a flag or the variable.
    let shown = format!(
        "http://127.0.0.1:{}/…{}",
        hook.addr.port(),
        &TOKEN[TOKEN.len() - 4..]
    );
    let r = sb.run(&["config", "--notify", &hook.url]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&shown), "{}", r.stdout);
    assert!(!r.stdout.contains(secret), "{}", r.stdout);
    let r = sb.run_with(&["config", "--json"], &[("DOKSI_NOTIFY_URL", &hook.url)]);
    let c = stdout_json(&r);
    assert_eq!(c["notify"]["value"], shown.as_str(), "{c}");
    assert_eq!(c["notify"]["source"], "env DOKSI_NOTIFY_URL");
    assert!(!r.stdout.contains(secret), "{}", r.stdout);

    // From doksi.toml: not in --help's defaults either.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("doksi.toml"),
        format!("notify = \"{}\"\nnotify-on = \"always\"\n", hook.url),
    )
    .unwrap();
    let r = sb.run_at(Some(dir.path()), &["config"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains(&shown), "{}", r.stdout);
    assert!(!r.stdout.contains(secret), "{}", r.stdout);
    let r = sb.run_at(Some(dir.path()), &["ci", "--help"], &[]);
    assert!(r.stdout.contains("--notify <URL>"), "{}", r.stdout);
    assert!(!r.stdout.contains(secret), "{}", r.stdout);

    // Refused before any request, without being quoted: plain http to another host.
    let remote = format!("http://hooks.example.com/services/{TOKEN}");
    let before = sb.total();
    let r = ci(&sb, &["--category", "cat_smoke", "--notify", &remote]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("must use https"), "{}", r.stderr);
    assert!(!r.stderr.contains(secret), "{}", r.stderr);
    assert_eq!(sb.total(), before);
}

#[test]
fn doksi_toml_may_ask_for_it_and_the_apk_is_named_with_its_module_and_variant() {
    let sb = Sandbox::start(&[]);
    let hook = Webhook::start(&[]);
    // The shop fixture's wear module: found by the layout, as module `wear`, variant `release`.
    let dir = tempfile::tempdir().unwrap();
    let apk = dir
        .path()
        .join("wear/build/outputs/apk/release/wear-release.apk");
    std::fs::create_dir_all(apk.parent().unwrap()).unwrap();
    std::fs::copy(
        crate::common::fixtures()
            .join("projects/shop/wear/build/outputs/apk/release/wear-release.apk"),
        &apk,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("doksi.toml"),
        format!(
            "notify = \"{}\"\nnotify-on = \"always\"\ncategories = [\"cat_smoke\"]\n",
            hook.url
        ),
    )
    .unwrap();
    let mut args = vec!["ci"];
    args.extend(FAST);
    let r = sb.run_at(Some(dir.path()), &args, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let m = stdout_json(&sb.run(&["inspect", "--json", path_str(&apk)]));
    let text = hook.only().text();
    assert!(
        text.contains(&format!(
            "\nAPK: {} {} ({}), wear release",
            m["package"].as_str().unwrap(),
            m["version_name"].as_str().unwrap(),
            m["version_code"]
        )),
        "{text}"
    );
}

/// After re-runs, the message counts each test once by how it came out over every attempt: the
/// flaky one as flaky, and every run's id.
#[test]
fn a_flaky_test_is_counted_flaky_and_every_run_is_named() {
    let sb = Sandbox::start(&[]);
    let hook = Webhook::start(&[]);
    let r = ci(
        &sb,
        &[
            "--category",
            "cat_flaky",
            "--retries",
            "1",
            "--notify",
            &hook.url,
            "--notify-on",
            "always",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = hook.only().text();
    assert!(
        text.starts_with("doksi: run passed: 1 passed, 0 failed, 1 flaky"),
        "{text}"
    );
    assert_eq!(sb.runs_created(), 2, "{}", r.stderr);
    for id in ["run_1", "run_2"] {
        assert!(text.contains(id), "{id}: {text}");
    }
}
