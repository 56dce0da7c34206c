//! What goes wrong in real pipelines: a proxy answering HTML, several Gradle modules uploading
//! the same APK at once, a cache file damaged by a full disk.

use std::net::TcpListener;

use crate::common::{doksi, stdout_json, target};
use crate::sandbox::{Sandbox, path_str, unlock_apk};
use crate::scripted::{Answer, answer, serve};

const KEY: &str = "dk_live_0123456789abcdef0123456789abcdef01234567";

/// `doksi ARGS` against `base` with a well-formed key and fast retries: exit code and stderr.
fn against(base: &str, args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let out = doksi(home.path())
        .args(args)
        .args(["--retry-delay", "10ms"])
        .env("DOKSI_BASE_URL", base)
        .env("DOKSI_API_KEY", KEY)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn an_html_answer_is_reported_with_status_and_first_line() {
    let (base, hits) = serve(vec![answer(
        "502 Bad Gateway",
        "text/html",
        "\n<html><body>nginx: 502 Bad Gateway</body></html>\n<p>more</p>\n",
    )]);
    let (code, stderr) = against(&base, &["status", "run_1"]);
    assert_eq!(code, 3, "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(last.contains("HTTP 502 with a body that is not JSON: <html><body>nginx: 502 Bad Gateway</body></html>"), "{stderr}");
    assert!(last.contains("(gave up after 5 attempts)"), "{stderr}");
    assert_eq!(hits.len(), 5, "a 502 is retried up to --attempts");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("retrying in")).count(),
        4,
        "{stderr}"
    );
}

#[test]
fn a_truncated_json_answer_is_an_error_not_a_guess() {
    let (base, hits) = serve(vec![answer(
        "200 OK",
        "application/json",
        "{\"run_id\":\"r\",\"statu",
    )]);
    let (code, stderr) = against(&base, &["status", "r"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("HTTP 200 with a body that is not JSON"),
        "{stderr}"
    );
    assert_eq!(hits.len(), 1, "a complete but broken answer is not retried");
}

#[test]
fn an_answer_cut_off_mid_body_says_so() {
    let cut = Answer {
        declared: Some(400),
        ..answer("200 OK", "application/json", "{\"run_id\":\"r\",")
    };
    let (base, hits) = serve(vec![cut]);
    let (code, stderr) = against(&base, &["status", "r", "--attempts", "2"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("GET /runs/r: HTTP 200, but the answer was cut off"),
        "{stderr}"
    );
    assert_eq!(hits.len(), 2, "a GET is safe to repeat");
}

#[test]
fn nothing_listening_is_a_network_error_exit_3() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // bound, then freed
    let (code, stderr) = against(
        &format!("http://127.0.0.1:{port}"),
        &["status", "run_1", "--attempts", "3"],
    );
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("cannot connect") && stderr.contains("gave up after 3 attempts"),
        "{stderr}"
    );
    assert!(!stderr.contains(KEY), "{stderr}");
}

#[test]
fn non_loopback_plain_http_is_refused_before_sending() {
    let (code, stderr) = against("http://doksi.example.com/api", &["status", "run_1"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--allow-insecure-http"), "{stderr}");
}

#[test]
fn parallel_uploads_of_one_apk_send_it_once() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let children: Vec<_> = (0..8)
        .map(|_| {
            let mut cmd = doksi(&sb.cache_dir());
            cmd.env("DOKSI_BASE_URL", &sb.base_url)
                .env("DOKSI_API_KEY", &sb.key)
                .env("DOKSI_CACHE_DIR", sb.cache_dir());
            cmd.args(["upload", "--json", path_str(&apk)])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut targets = Vec::new();
    for c in children {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        targets.push(v[0]["target_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(sb.count("PUT /uploads"), 1, "exactly one process uploads");
    assert_eq!(sb.count("POST /targets"), 1);
    targets.dedup();
    assert_eq!(targets.len(), 1, "all reuse one target: {targets:?}");
}

#[test]
fn a_corrupt_cache_file_is_set_aside_and_the_upload_goes_on() {
    let sb = Sandbox::start(&[]);
    let first = sb.run(&["upload", path_str(&unlock_apk())]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let scope_file = std::fs::read_dir(sb.cache_dir().join("targets-v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a scope file");
    std::fs::write(&scope_file, "{\"version\":1,\"entries\":{\"tr").unwrap();
    let again = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stderr.contains(scope_file.to_str().unwrap()),
        "the warning names the file: {}",
        again.stderr
    );
    assert_eq!(stdout_json(&again)[0]["cached"], false);
    let healed = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    assert_eq!(
        stdout_json(&healed)[0]["cached"],
        true,
        "rebuilt: {}",
        healed.stderr
    );
}

#[test]
fn a_cached_target_the_server_forgot_is_uploaded_again_once() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let first = Sandbox::start(&["--port", &port]);
    let t1 = target(&first);
    // Same address and key, new server: it has never heard of the cached target.
    let second = Sandbox::start_in(first.stop(), &["--port", &port]);
    let r = second.run(&["run", "--apk", path_str(&unlock_apk()), "--test", "t_login"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the server does not know cached target bin_"),
        "{}",
        r.stderr
    );
    assert_eq!(
        second.count("POST /runs"),
        2,
        "the run is tried once more, no more"
    );
    assert_eq!(second.count("PUT /uploads"), 1);
    // The cache now holds the new server's target: the next run needs one request.
    let again = second.run(&["run", "--apk", path_str(&unlock_apk()), "--test", "t_login"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(
        (second.count("POST /runs"), second.count("PUT /uploads")),
        (3, 1)
    );
    assert!(t1.starts_with("bin_"), "{t1}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_while_waiting_leaves_the_run_going_and_says_how_to_find_it() {
    let sb = Sandbox::start(&["--run-step", "5s"]);
    let t = target(&sb);
    let run_id = sb
        .run(&["run", "--target", &t, "--test", "t_login"])
        .stdout
        .trim()
        .to_owned();
    let mut cmd = doksi(&sb.cache_dir());
    cmd.env("DOKSI_BASE_URL", &sb.base_url)
        .env("DOKSI_API_KEY", &sb.key);
    cmd.args(["wait", &run_id, "--poll-interval", "100ms"]);
    // Interrupted once it is surely waiting: it has printed the run's first state.
    let (code, seen) = crate::common::signal_when(cmd, &format!("run {run_id}: "), "-INT");
    assert_eq!(code, 130, "{seen}");
    assert!(
        seen.contains(&format!("interrupted by SIGINT; run {run_id} goes on")),
        "{seen}"
    );
    let status = sb.run(&["status", &run_id, "--json"]);
    assert_eq!(status.code, 0, "the run still exists: {}", status.stderr);
}
