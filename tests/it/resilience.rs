//! What goes wrong in real pipelines: a proxy answering HTML, several Gradle modules uploading
//! the same APK at once, a cache file damaged by a full disk.

use std::io::{Read, Write};
use std::net::TcpListener;

use crate::common::doksi;
use crate::sandbox::{Sandbox, path_str, unlock_apk};

const KEY: &str = "dk_live_0123456789abcdef0123456789abcdef01234567";

/// A one-request HTTP server on 127.0.0.1 that answers `status` with `body`, whose
/// Content-Length is `declared` (the real length when `None`).
fn answer_once(
    status: &str,
    content_type: &str,
    body: &'static str,
    declared: Option<usize>,
) -> String {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        declared.unwrap_or(body.len())
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    format!("http://{addr}/api")
}

/// `doksi ARGS` against `base` with a well-formed key: exit code and stderr.
fn against(base: &str, args: &[&str]) -> (i32, String) {
    let home = tempfile::tempdir().unwrap();
    let out = doksi(home.path())
        .args(args)
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
    let base = answer_once(
        "502 Bad Gateway",
        "text/html",
        "\n<html><body>nginx: 502 Bad Gateway</body></html>\n<p>more</p>\n",
        None,
    );
    let (code, stderr) = against(&base, &["status", "run_1"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("HTTP 502 with a body that is not JSON: <html><body>nginx: 502 Bad Gateway</body></html>"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn a_truncated_json_answer_is_an_error_not_a_guess() {
    let base = answer_once(
        "200 OK",
        "application/json",
        "{\"run_id\":\"r\",\"statu",
        None,
    );
    let (code, stderr) = against(&base, &["status", "r"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("HTTP 200 with a body that is not JSON"),
        "{stderr}"
    );
}

#[test]
fn an_answer_cut_off_mid_body_says_so() {
    let base = answer_once(
        "200 OK",
        "application/json",
        "{\"run_id\":\"r\",",
        Some(400),
    );
    let (code, stderr) = against(&base, &["status", "r"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(
        stderr.contains("GET /runs/r: HTTP 200, but the answer was cut off"),
        "{stderr}"
    );
}

#[test]
fn nothing_listening_is_a_network_error_exit_3() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port(); // bound, then freed
    let (code, stderr) = against(&format!("http://127.0.0.1:{port}"), &["status", "run_1"]);
    assert_eq!(code, 3, "{stderr}");
    assert!(stderr.contains("cannot reach"), "{stderr}");
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
    let children: Vec<_> = (0..4)
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
    let v: serde_json::Value = serde_json::from_str(&again.stdout).unwrap();
    assert_eq!(v[0]["cached"], false);
    let healed = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    let v: serde_json::Value = serde_json::from_str(&healed.stdout).unwrap();
    assert_eq!(v[0]["cached"], true, "rebuilt: {}", healed.stderr);
}
