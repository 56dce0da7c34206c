//! The field's faults, against a server written here (not the sandbox, which shares doksi's
//! assumptions): a gateway's page after the run was created, a 404 about a category, a poll
//! told to come back in an hour, a server that stalls, a signal mid-run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::common::{doksi, signal_when};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

const KEY: &str = "dk_live_0123456789abcdef0123456789abcdef01234567";

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// `http://127.0.0.1:PORT`, for answers that point back at this server.
    pub origin: String,
}

impl Req {
    fn is(&self, method: &str, path: &str) -> bool {
        self.method == method && self.path == path
    }
}

/// An answer: status, JSON or HTML body, extra headers; or no answer for `stall`.
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
    pub stall: Option<Duration>,
}

pub fn reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        body: body.to_owned(),
        headers: Vec::new(),
        stall: None,
    }
}

fn stall(d: Duration) -> Reply {
    Reply {
        stall: Some(d),
        ..reply(200, "")
    }
}

/// What the server saw: `METHOD /path` per request, in order.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }
}

/// Serves each connection on its own thread with `handler`, one request per connection.
/// Returns the API base URL (`http://127.0.0.1:PORT/api`) and the log.
pub fn routed(handler: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> (String, Log) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let log = Log::default();
    let (seen, base) = (log.clone(), format!("{origin}/api"));
    let handler = Arc::new(handler);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (handler, seen, origin) = (handler.clone(), seen.clone(), origin.clone());
            std::thread::spawn(move || serve_one(stream, &*handler, &seen, origin));
        }
    });
    (base, log)
}

fn serve_one(stream: TcpStream, handler: &dyn Fn(&Req) -> Reply, seen: &Log, origin: String) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or("").to_owned(),
        parts.next().unwrap_or("").to_owned(),
    );
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    seen.0.lock().unwrap().push(format!("{method} {path}"));
    let req = Req {
        method,
        path,
        body,
        origin,
    };
    let r = handler(&req);
    if let Some(d) = r.stall {
        std::thread::sleep(d);
        return;
    }
    let mut head = format!(
        "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        r.body.len()
    );
    let html = r.body.starts_with('<');
    head.push_str(if html {
        "Content-Type: text/html\r\n"
    } else {
        "Content-Type: application/json\r\n"
    });
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = reader.into_inner();
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(r.body.as_bytes());
}

const CREATED: &str = r#"{"run_id":"run_1","results":[{"result_id":"res_1","test_id":"t_login","url":"https://app.doksi.ai/r/res_1"}]}"#;
const PASSED: &str = r#"{"run_id":"run_1","status":"passed","tests_total":1,"tests_passed":1,"tests_failed":0,"tests_running":0,"duration_seconds":3,"results":[{"result_id":"res_1","test_id":"t_login","status":"passed","duration_seconds":3}]}"#;
const RUNNING: &str = r#"{"run_id":"run_1","status":"running","tests_total":1,"tests_passed":0,"tests_failed":0,"tests_running":1,"duration_seconds":3,"results":[{"result_id":"res_1","test_id":"t_login","status":"running","duration_seconds":3}]}"#;

/// A finished doksi: exit code, stdout, stderr, and how long it took.
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// `doksi ARGS` against `base` with a well-formed key, fast retries and `cache` as its cache.
pub fn doksi_at(base: &str, cache: &Path, args: &[&str]) -> Done {
    let started = Instant::now();
    let out = command(base, cache, args).output().unwrap();
    let done = Done {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    };
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    assert!(!done.stderr.contains(&KEY[8..]), "{}", done.stderr);
    done
}

/// The command [`doksi_at`] runs, for a test that sets more of its environment.
pub fn command(base: &str, cache: &Path, args: &[&str]) -> Command {
    let mut cmd = doksi(cache);
    cmd.args(args)
        .args(["--retry-delay", "10ms"])
        .env("DOKSI_BASE_URL", base)
        .env("DOKSI_API_KEY", KEY)
        .env("DOKSI_CACHE_DIR", cache.join("doksi"));
    cmd
}

fn run_once(base: &str) -> Done {
    let home = tempfile::tempdir().unwrap();
    doksi_at(
        base,
        home.path(),
        &["run", "--target", "bin_1", "--test", "t_login"],
    )
}

#[test]
fn run_creation_is_not_repeated_after_a_gateway_answer_or_a_refusal() {
    // After these, the run may exist: exactly one POST /runs, exit 3, and the line that says so.
    // The API's own 429 and 503 are asked again: see
    // faults::run_creation_refused_at_the_front_door_is_retried, which counts the runs created.
    let html_504 = "<html><head><title>504 Gateway Time-out</title></head></html>";
    let elb_502 =
        "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>awselb/2.0</body></html>";
    for (status, body) in [
        (504, html_504),
        (502, elb_502),
        (500, r#"{"error":"internal error"}"#),
        (408, r#"{"error":"request timeout"}"#),
        (503, "<html>down for maintenance</html>"),
        (200, "upstream says hi"),
        (200, r#"{"run_i"#),
        (200, r#"{"results":[]}"#),
    ] {
        let (base, log) = routed(move |_| reply(status, body));
        let r = run_once(&base);
        assert_eq!(r.code, 3, "{status} {body}: {}", r.stderr);
        assert!(
            r.stderr.contains("the run may have been created")
                && r.stderr.contains("look for it in the Doksi dashboard"),
            "{status}: {}",
            r.stderr
        );
        assert_eq!(log.count("POST /api/runs"), 1, "{status} {body}: sent once");
    }
    // A definite refusal is the server's answer about the input: said with its status, once.
    let (base, log) = routed(|_| reply(422, r#"{"error":"unknown test t_login"}"#));
    let r = run_once(&base);
    assert_eq!(
        r.code, 2,
        "the input is wrong, not the network: {}",
        r.stderr
    );
    assert_eq!(log.count("POST /api/runs"), 1);
    assert!(
        r.stderr.contains("HTTP 422: unknown test t_login"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("may have been created"), "{}", r.stderr);
}

#[test]
fn a_gateway_answering_after_the_run_was_created_never_makes_a_second_run() {
    for fault in ["serve-then-504", "serve-then-502"] {
        let sb = Sandbox::start(&[]);
        sb.fault("POST /runs", fault, 5);
        let r = sb.run(&[
            "ci",
            path_str(&unlock_apk()),
            "--category",
            "cat_smoke",
            "--retry-delay",
            "10ms",
        ]);
        assert_eq!(r.code, 3, "{fault}: {}", r.stderr);
        assert!(
            r.stderr.contains("the run may have been created"),
            "{fault}: {}",
            r.stderr
        );
        assert_eq!(sb.count("POST /runs"), 1, "{fault}");
        assert_eq!(sb.runs_created(), 1, "{fault}: exactly one run");
    }
}

/// A server that registers uploads as `bin_<n>` and answers `POST /runs` with `runs`.
pub fn uploading_server(runs: impl Fn(&Req) -> Reply + Send + Sync + 'static) -> (String, Log) {
    registering_server(|n| format!("bin_{n}"), runs)
}

/// A server that registers the n-th upload (from 1) as `target(n)` and answers `POST /runs`
/// with `runs`.
fn registering_server(
    target: impl Fn(usize) -> String + Send + Sync + 'static,
    runs: impl Fn(&Req) -> Reply + Send + Sync + 'static,
) -> (String, Log) {
    let n = Mutex::new(0);
    routed(move |req| {
        if req.is("POST", "/api/uploads") {
            let up = format!(
                r#"{{"upload_id":"up_1","upload_url":"{}/put/up_1"}}"#,
                req.origin
            );
            reply(200, &up)
        } else if req.is("PUT", "/put/up_1") {
            reply(200, "")
        } else if req.is("POST", "/api/targets") {
            let mut n = n.lock().unwrap();
            *n += 1;
            reply(200, &format!(r#"{{"target_id":"{}"}}"#, target(*n)))
        } else if req.is("POST", "/api/runs") {
            runs(req)
        } else {
            reply(404, r#"{"error":"no such route"}"#)
        }
    })
}

#[test]
fn a_404_about_a_category_keeps_the_cache_and_uploads_nothing() {
    let home = tempfile::tempdir().unwrap();
    let (base, log) = uploading_server(|req| {
        if String::from_utf8_lossy(&req.body).contains("cat_typo") {
            reply(404, r#"{"error":"category cat_typo not found"}"#)
        } else {
            reply(200, CREATED)
        }
    });
    let apk = unlock_apk();
    let args = |cat: &'static str| ["run", "--apk", path_str(&apk), "--category", cat];
    assert_eq!(doksi_at(&base, home.path(), &args("cat_smoke")).code, 0);
    assert_eq!(log.count("PUT /put"), 1);
    let r = doksi_at(&base, home.path(), &args("cat_typo"));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("HTTP 404: category cat_typo not found"),
        "{}",
        r.stderr
    );
    assert_eq!(log.count("PUT /put"), 1, "nothing uploaded again");
    assert_eq!(log.count("POST /api/uploads"), 1);
    // The cache still knows the target: the next good run sends only POST /runs.
    let before = log.lines().len();
    assert_eq!(doksi_at(&base, home.path(), &args("cat_smoke")).code, 0);
    assert_eq!(log.lines()[before..], ["POST /api/runs".to_owned()]);
}

#[test]
fn a_404_naming_a_cached_target_uploads_that_one_again_once() {
    let home = tempfile::tempdir().unwrap();
    // bin_1 (the first upload) is forgotten by the server; any other target is fine.
    let (base, log) = uploading_server(|req| {
        if String::from_utf8_lossy(&req.body).contains("\"bin_1\"") {
            reply(404, r#"{"error":"target bin_1 not found"}"#)
        } else {
            reply(200, CREATED)
        }
    });
    let apk = unlock_apk();
    let args = ["run", "--apk", path_str(&apk), "--test", "t_login"];
    // The first upload gets bin_1, which the server refuses at once: not cached, so an error.
    let r = doksi_at(&base, home.path(), &args);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(log.count("PUT /put"), 1, "a fresh upload is not stale");
    // Cached now; the 404 names it: uploaded again (bin_2), and the run created.
    let r = doksi_at(&base, home.path(), &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not know cached target bin_1"),
        "{}",
        r.stderr
    );
    assert_eq!(log.count("PUT /put"), 2);
    assert_eq!(log.count("POST /api/runs"), 3);
    // A server that refuses every target: one more upload, then its answer.
    let (base, log) = uploading_server(|_| reply(404, ""));
    let home = tempfile::tempdir().unwrap();
    doksi_at(&base, home.path(), &["upload", path_str(&apk)]);
    let r = doksi_at(&base, home.path(), &args);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(log.count("POST /api/runs"), 2, "tried again once, no more");
    assert_eq!(log.count("PUT /put"), 2);
}

/// A server that registers the n-th upload as `ids[n]` and answers `POST /runs` with 404
/// naming the first id of `stale` that the request holds, or creates the run.
fn forgetful_server(ids: &'static [&'static str], stale: &'static [&'static str]) -> (String, Log) {
    registering_server(
        |n| ids[n - 1].to_owned(),
        |req| {
            let body = String::from_utf8_lossy(&req.body);
            match stale.iter().find(|id| body.contains(&format!("\"{id}\""))) {
                Some(id) => reply(404, &format!(r#"{{"error":"target {id} not found"}}"#)),
                None => reply(200, CREATED),
            }
        },
    )
}

/// `doksi run` on both of [`two_apks`], with `home` as its cache.
fn run_on_both(base: &str, home: &Path) -> Done {
    let [a, b] = two_apks();
    let args = [
        "run",
        "--apk",
        path_str(&a),
        "--apk",
        path_str(&b),
        "--test",
        "t_login",
    ];
    doksi_at(base, home, &args)
}

fn two_apks() -> [std::path::PathBuf; 2] {
    let dir = crate::common::apk_fixtures();
    [
        dir.join("appium-unlock-2.0.0-debug.apk"),
        dir.join("io.appium.settings-2.0.0-debug.apk"),
    ]
}

#[test]
fn every_stale_target_is_uploaded_again_however_many_answers_name_them() {
    // Two cached targets the server has both forgotten; each 404 names only the first it sees.
    let home = tempfile::tempdir().unwrap();
    let (base, log) = forgetful_server(&["bin_1", "bin_2", "bin_3", "bin_4"], &["bin_1", "bin_2"]);
    let [a, b] = two_apks();
    let up = doksi_at(&base, home.path(), &["upload", path_str(&a), path_str(&b)]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    assert_eq!(log.count("PUT /put"), 2);
    let r = run_on_both(&base, home.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    for id in ["bin_1", "bin_2"] {
        assert!(
            r.stderr.contains(&format!(
                "does not know cached target {id}: uploading again"
            )),
            "{}",
            r.stderr
        );
    }
    assert_eq!(
        log.count("PUT /put"),
        4,
        "each stale target uploaded again once"
    );
    assert_eq!(log.count("POST /api/runs"), 3, "two 404s, then the run");
    // The cache now holds the new targets: the next run sends only POST /runs.
    let before = log.lines().len();
    let r = run_on_both(&base, home.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(log.lines()[before..], ["POST /api/runs".to_owned()]);
}

#[test]
fn a_404_naming_one_of_two_cached_targets_uploads_only_that_one() {
    // `bin_12` is named; `bin_1`, a prefix of it, is not stale and stays cached.
    let home = tempfile::tempdir().unwrap();
    let (base, log) = forgetful_server(&["bin_1", "bin_12", "bin_13"], &["bin_12"]);
    let [a, b] = two_apks();
    assert_eq!(
        doksi_at(&base, home.path(), &["upload", path_str(&a), path_str(&b)]).code,
        0
    );
    let r = run_on_both(&base, home.path());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("does not know cached target bin_12: uploading again"),
        "{}",
        r.stderr
    );
    assert_eq!(log.count("PUT /put"), 3, "only bin_12's APK uploaded again");
    assert_eq!(log.count("POST /api/runs"), 2);
}

#[test]
fn a_huge_retry_after_on_a_poll_neither_panics_nor_outlives_the_timeout() {
    for after in ["3600", "18446744073709551615"] {
        let first = Mutex::new(true);
        let (base, log) = routed(move |_| {
            if std::mem::take(&mut *first.lock().unwrap()) {
                Reply {
                    headers: vec![("Retry-After", after.to_owned())],
                    ..reply(429, r#"{"error":"slow down"}"#)
                }
            } else {
                reply(200, PASSED)
            }
        });
        let home = tempfile::tempdir().unwrap();
        let r = doksi_at(&base, home.path(), &["wait", "run_1", "--timeout", "3s"]);
        assert_eq!(r.code, 0, "{after}: {}", r.stderr);
        assert!(r.took < Duration::from_secs(8), "{after}: {:?}", r.took);
        assert_eq!(
            log.count("GET /api/runs/run_1"),
            2,
            "polled again at the deadline"
        );
    }
}

#[test]
fn a_stalling_server_cannot_hold_a_wait_past_its_timeout() {
    let (base, _log) = routed(|_| stall(Duration::from_secs(60)));
    let home = tempfile::tempdir().unwrap();
    let junit = home.path().join("out/junit.xml");
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "wait",
            "run_1",
            "--timeout",
            "4s",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 4, "no poll succeeded: a timeout: {}", r.stderr);
    assert!(
        r.stderr
            .contains("gave up waiting for run run_1 after 4s; no poll was answered"),
        "{}",
        r.stderr
    );
    assert!(r.took < Duration::from_secs(12), "{:?}", r.took);
    assert!(r.stderr.contains("run_1"), "{}", r.stderr);
    let xml = std::fs::read_to_string(&junit).expect("the report is written");
    assert!(xml.contains("run_1"), "{xml}");
}

#[test]
fn a_malformed_poll_answer_is_ridden_out() {
    let n = Mutex::new(0);
    let (base, log) = routed(move |_| {
        let mut n = n.lock().unwrap();
        *n += 1;
        match *n {
            1 => reply(200, "<html>proxy hiccup</html>"),
            2 => reply(200, r#"{"status":"#),
            _ => reply(200, PASSED),
        }
    });
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &["wait", "run_1", "--poll-interval", "100ms"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(log.count("GET /api/runs/run_1"), 3);
    assert!(r.stderr.contains("still waiting"), "{}", r.stderr);
    assert!(r.stdout.contains("run run_1: passed"), "{}", r.stdout);
}

#[test]
fn run_ids_stay_one_path_segment() {
    let (base, log) = routed(|_| reply(200, PASSED));
    let home = tempfile::tempdir().unwrap();
    for id in ["../uploads", "x?y=1"] {
        doksi_at(&base, home.path(), &["status", id]);
    }
    for id in ["..", "."] {
        let r = doksi_at(&base, home.path(), &["status", id]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("is not a run id"), "{}", r.stderr);
    }
    assert_eq!(
        log.lines(),
        ["GET /api/runs/..%2Fuploads", "GET /api/runs/x%3Fy%3D1"]
    );
}

#[cfg(unix)]
#[test]
fn sigterm_while_waiting_names_the_run_and_writes_the_report() {
    let (base, _log) = routed(|req| match req.method.as_str() {
        "POST" => reply(200, CREATED),
        _ => reply(200, RUNNING),
    });
    let home = tempfile::tempdir().unwrap();
    let junit = home.path().join("junit.xml");
    let mut cmd = command(
        &base,
        home.path(),
        &["run", "--target", "bin_1", "--test", "t_login", "--wait"],
    );
    cmd.args([
        "--poll-interval",
        "100ms",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let (code, stderr) = signal_when(cmd, "run run_1: running", "-TERM");
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains("interrupted by SIGTERM; run run_1 goes on without us: `doksi wait run_1`"),
        "{stderr}"
    );
    let xml = std::fs::read_to_string(&junit).expect("the report is written");
    assert!(
        xml.contains("<skipped"),
        "unfinished tests are skipped: {xml}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_while_creating_a_run_says_it_may_exist() {
    let (base, _log) = routed(|_| stall(Duration::from_secs(30)));
    let home = tempfile::tempdir().unwrap();
    // The connection flags `command` adds belong after the subcommand.
    let cmd = command(
        &base,
        home.path(),
        &["run", "--target", "bin_1", "--test", "t_login", "-v"],
    );
    let (code, stderr) = signal_when(cmd, "> POST", "-TERM");
    assert_eq!(code, 143, "{stderr}");
    assert!(
        stderr.contains(
            "interrupted by SIGTERM; POST /runs was in flight: the run may have been created"
        ),
        "{stderr}"
    );
}

#[test]
fn a_key_where_it_does_not_belong_is_never_printed() {
    let home = tempfile::tempdir().unwrap();
    for base in [KEY.to_owned(), format!("https://user:{KEY}@api.doksi.ai/x")] {
        let r = doksi_at(&base, home.path(), &["status", "run_1"]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("base URL"), "{}", r.stderr);
    }
    let r = doksi_at(
        &format!("https://user:{KEY}@api.doksi.ai/x"),
        home.path(),
        &["status", "run_1"],
    );
    assert!(r.stderr.contains("credentials"), "{}", r.stderr);
    // Pasted where clap quotes it back: a stray argument, a flag's value.
    for args in [
        &["run", "--apk", "x.apk", KEY][..],
        &["wait", "run_1", "--timeout", KEY],
    ] {
        let r = doksi_at("https://api.doksi.ai", home.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("dk_live_…(redacted)"), "{}", r.stderr);
    }
    // doksi.toml's base-url holding the key: `doksi config` shows neither it nor its digits.
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("doksi.toml"),
        format!("base-url = \"{KEY}\"\n"),
    )
    .unwrap();
    for args in [&["config"][..], &["config", "--json"], &["status", "run_1"]] {
        let out = doksi(home.path())
            .current_dir(project.path())
            .args(args)
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(&KEY[8..]), "{args:?}: {all}");
    }
}

#[test]
fn a_failed_upload_after_a_stale_404_says_what_the_server_answered() {
    let home = tempfile::tempdir().unwrap();
    let apk = home.path().join("app.apk");
    std::fs::copy(unlock_apk(), &apk).unwrap();
    let apk_in_handler = apk.clone();
    let (base, log) = uploading_server(move |_| {
        // The server has forgotten the cached target, and the APK is gone bad meanwhile.
        std::fs::write(&apk_in_handler, b"not a zip any more").unwrap();
        reply(404, r#"{"error":"target bin_1 not found"}"#)
    });
    doksi_at(&base, home.path(), &["upload", apk.to_str().unwrap()]);
    let r = doksi_at(
        &base,
        home.path(),
        &["run", "--apk", apk.to_str().unwrap(), "--test", "t_login"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let last = r.stderr.lines().last().unwrap_or_default();
    assert!(
        last.contains("POST /runs: HTTP 404: target bin_1 not found; no run was started, and uploading the cached targets again failed:")
            // Uploaded again from the APK read before the first request, not selected anew: the
            // file that changed since is told as changed.
            && last.contains("changed while it was being read"),
        "{}",
        r.stderr
    );
    assert_eq!(log.count("POST /api/runs"), 1);
}

#[test]
fn answers_that_mean_a_setting_is_wrong_say_which() {
    let home = tempfile::tempdir().unwrap();
    // 400 and 422 are the server saying the input is wrong: exit 2, which CI does not retry.
    for status in [400, 422] {
        let (base, _) = routed(move |_| reply(status, r#"{"error":"bad id"}"#));
        let r = doksi_at(&base, home.path(), &["status", "run_1"]);
        assert_eq!(r.code, 2, "{status}: {}", r.stderr);
    }
    // A refused key stays 3, with where to look.
    for status in [401, 403] {
        let (base, _) = routed(move |_| reply(status, r#"{"error":"invalid api key"}"#));
        let r = doksi_at(&base, home.path(), &["status", "run_1"]);
        assert_eq!(r.code, 3, "{status}: {}", r.stderr);
        assert!(r.stderr.contains("check DOKSI_API_KEY"), "{}", r.stderr);
    }
    // A base URL without the API path: the host answers an empty 404.
    let (base, _) = routed(|_| reply(404, ""));
    let r = doksi_at(
        base.trim_end_matches("/api"),
        home.path(),
        &["status", "run_1"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is the base URL right? it usually ends in /external/integration/cicd"),
        "{}",
        r.stderr
    );
    // https:// to a plain-http server: said in words, not retried.
    let plain = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}/api", plain.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in plain.incoming().flatten() {
            // A plain-http server answers whatever came, a TLS hello included.
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let r = doksi_at(&base, home.path(), &["status", "run_1"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the server does not speak TLS; is the URL http://?"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn each_retry_is_one_short_line() {
    let (base, _) = routed(|_| reply(503, r#"{"error":"busy"}"#));
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(&base, home.path(), &["status", "run_1", "--attempts", "3"]);
    let retries: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("retrying"))
        .collect();
    assert_eq!(retries.len(), 2, "{}", r.stderr);
    for line in retries {
        assert!(
            line.starts_with("doksi: GET /runs/run_1: HTTP 503: busy; retrying in "),
            "{line}"
        );
        assert_eq!(line.matches("run_1").count(), 1, "{line}");
        assert!(line.len() < 120, "{line}");
        // `--retry-delay 10ms` (doksi_at's) is the delay waited, not the 500 ms default.
        assert!(line.contains("retrying in 0.0s"), "{line}");
    }
}

#[test]
fn request_timeout_is_how_long_one_request_waits() {
    // A server that never answers: `--request-timeout 1s` gives up after a second, not the
    // 60 s default.
    let (base, _) = routed(|_| stall(Duration::from_secs(20)));
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "status",
            "run_1",
            "--request-timeout",
            "1s",
            "--attempts",
            "1",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("no answer within 1s"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(10), "{:?}", r.took);
}

#[test]
fn a_404_page_that_is_not_the_apis_about_a_run_uploads_nothing_again() {
    // A gateway's HTML 404 names no target: the cache is kept, nothing is uploaded again. Only
    // an empty 404 is taken to mean "every cached target".
    let home = tempfile::tempdir().unwrap();
    let (base, log) = uploading_server(|_| reply(404, "<html><body>404 Not Found</body></html>"));
    let apk = unlock_apk();
    doksi_at(&base, home.path(), &["upload", path_str(&apk)]);
    assert_eq!(log.count("PUT /put"), 1);
    let r = doksi_at(
        &base,
        home.path(),
        &["run", "--apk", path_str(&apk), "--test", "t_login"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(
        log.count("PUT /put"),
        1,
        "nothing uploaded again: {}",
        r.stderr
    );
    assert_eq!(log.count("POST /api/runs"), 1);
}

#[test]
fn a_run_that_cannot_be_followed_is_named_and_not_exit_3() {
    // Created, then every poll refused for good: the run exists, so no retried exit 3.
    let (base, log) = routed(|req| match req.method.as_str() {
        "POST" => reply(200, CREATED),
        _ => reply(403, r#"{"error":"key revoked"}"#),
    });
    let home = tempfile::tempdir().unwrap();
    let junit = home.path().join("junit.xml");
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "run",
            "--target",
            "bin_1",
            "--test",
            "t_login",
            "--wait",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("run run_1 was started and goes on, but doksi cannot follow it"),
        "{}",
        r.stderr
    );
    assert!(
        std::fs::read_to_string(&junit)
            .unwrap()
            .contains("<skipped")
    );
    assert_eq!(log.count("POST /api/runs"), 1);
    // Without --wait, --json still prints the run it started when reading it back fails.
    let r = doksi_at(
        &base,
        home.path(),
        &["run", "--target", "bin_1", "--test", "t_login", "--json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["run_id"], "run_1");
    assert!(
        r.stderr
            .contains("run run_1 was started, but reading it back failed"),
        "{}",
        r.stderr
    );
}
