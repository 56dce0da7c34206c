//! Secrets and transport: the key reaches nothing but the API's Authorization header; redirects
//! and presigned uploads carry no credentials; proxies are honoured; cache files are private and
//! never torn; and every bad input is refused before anything is sent.

use std::path::Path;

use crate::common::{apk_fixtures, doksi, fixtures, github_env};
use crate::field_faults::{reply, routed};
use crate::sandbox::{Sandbox, path_str, unlock_apk};
use crate::scripted::{Answer, answer, serve};

const KEY: &str = "dk_live_0123456789abcdef0123456789abcdef01234567";
const RUN_JSON: &str = r#"{"run_id":"run_9","status":"passed","tests_total":1,"tests_passed":1,"tests_failed":0,"tests_running":0,"duration_seconds":3,"results":[]}"#;

fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn the_key_appears_nowhere_but_the_authorization_header() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let shop = fixtures().join("projects/shop");
    let mut transcript = String::new();
    let mut record = |args: &[&str]| {
        let r = sb.run(args);
        transcript.push_str(&r.stdout);
        transcript.push_str(&r.stderr);
        r
    };
    let up = record(&["-vv", "upload", "--json", path_str(&apk)]);
    let target = serde_json::from_str::<serde_json::Value>(&up.stdout).unwrap()[0]["target_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let run_id = record(&["-vv", "run", "--target", &target, "--test", "t_login"])
        .stdout
        .trim()
        .to_owned();
    for args in [
        vec!["-vv", "status", run_id.as_str()],
        vec!["-vv", "wait", run_id.as_str(), "--poll-interval", "100ms"],
        vec![
            "-vv",
            "ci",
            path_str(&shop),
            "--module",
            "wear",
            "--category",
            "cat_smoke",
            "--poll-interval",
            "100ms",
            "--json",
        ],
        vec!["-vv", "upload", "--force", path_str(&apk)],
        vec!["-vv", "run", "--target", "bin_404", "--test", "t"],
        vec!["-vv", "status", "run_404"],
        vec!["cache", "list", "--json"],
        vec!["apks", path_str(&shop)],
        vec!["inspect", path_str(&apk)],
    ] {
        record(&args);
    }
    let bad_key = sb.run_with(
        &["-vv", "status", "run_1"],
        &[("DOKSI_API_KEY", &format!("{}0", sb.key))],
    );
    transcript.push_str(&bad_key.stderr);
    assert!(
        transcript.contains("authorization: Bearer dk_live_…"),
        "-vv shows the header, redacted"
    );
    // The presigned upload URL's query is a secret as a whole: -vv shows its host and path.
    assert!(
        transcript.contains("?…(redacted)") && !transcript.contains("X-Amz-Signature="),
        "presigned URLs are masked in logs"
    );
    assert!(!transcript.contains(&sb.key), "the key leaked into output");
    assert!(
        !transcript.contains(&sb.key[8..]),
        "the key's digits leaked into output"
    );
    for f in files_under(&sb.cache_dir()) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&sb.key[8..]),
            "{} holds the key",
            f.display()
        );
    }
    let log = serde_json::to_string(&sb.requests()).unwrap();
    assert!(
        !log.contains(&sb.key[8..]),
        "the sandbox's request log holds the key"
    );
}

#[test]
fn a_redirect_to_another_host_loses_the_authorization_header() {
    let (target, seen_by_target) = serve(vec![answer("200 OK", "application/json", RUN_JSON)]);
    let location = format!("{target}/runs/run_9");
    let redirect = Answer {
        extra_headers: format!("Location: {location}\r\n"),
        ..answer("307 Temporary Redirect", "text/plain", "")
    };
    let (origin, seen_by_origin) = serve(vec![redirect]);
    let home = tempfile::tempdir().unwrap();
    let out = doksi(home.path())
        .args(["status", "run_9"])
        .env("DOKSI_BASE_URL", &origin)
        .env("DOKSI_API_KEY", KEY)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        seen_by_origin.heads()[0]
            .to_ascii_lowercase()
            .contains("authorization: bearer")
    );
    let followed = seen_by_target.heads();
    assert_eq!(followed.len(), 1);
    assert!(
        !followed[0].to_ascii_lowercase().contains("authorization"),
        "{}",
        followed[0]
    );
}

#[test]
fn http_proxy_and_no_proxy_are_honoured() {
    // The "proxy" answers as if it were the origin; what matters is which request line it saw.
    let (proxy, seen_by_proxy) = serve(vec![answer("200 OK", "application/json", RUN_JSON)]);
    let proxy_addr = proxy.trim_end_matches("/api").to_owned();
    let (origin, seen_by_origin) = serve(vec![answer("200 OK", "application/json", RUN_JSON)]);
    let home = tempfile::tempdir().unwrap();
    let via = |no_proxy: &str| {
        doksi(home.path())
            .args(["status", "run_9"])
            .env("DOKSI_BASE_URL", &origin)
            .env("DOKSI_API_KEY", KEY)
            .env("HTTP_PROXY", &proxy_addr)
            .env("NO_PROXY", no_proxy)
            .output()
            .unwrap()
    };
    let out = via("");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = &seen_by_proxy.heads()[0];
    assert!(
        head.starts_with(&format!("GET {origin}/runs/run_9 ")),
        "absolute-form request through the proxy: {head}"
    );
    assert_eq!(seen_by_origin.len(), 0);
    let out = via("127.0.0.1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seen_by_origin.len(), 1, "NO_PROXY goes direct");
    assert_eq!(seen_by_proxy.len(), 1);
}

#[cfg(unix)]
#[test]
fn cache_files_are_private_and_survive_sigkill_mid_write() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start(&[]);
    let up = sb.run(&["upload", path_str(&unlock_apk())]);
    assert_eq!(up.code, 0, "{}", up.stderr);
    let scope_file = files_under(&sb.cache_dir().join("targets-v1"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    assert_eq!(
        std::fs::metadata(&scope_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Swell the file so each rewrite takes a while, then kill writers at random moments.
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&scope_file).unwrap()).unwrap();
    let template = doc["entries"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .clone();
    for i in 0..30_000u32 {
        let mut e = template.clone();
        let sha = format!("{i:064x}");
        e["sha256"] = sha.clone().into();
        doc["entries"][sha] = e;
    }
    std::fs::write(&scope_file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let apks = [
        "appium-android-ime-2.0.0-debug.apk",
        "io.appium.settings-2.0.0-debug.apk",
        "appium-unlock-2.0.0-debug.apk",
    ];
    // A kill that lands mid-write leaves the writer's temporary file (`.<scope>.json.XXXX`)
    // behind: counted, so the test proves it reached what it tests rather than hoping.
    let temps = || {
        files_under(&sb.cache_dir().join("targets-v1"))
            .iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .count()
    };
    let mut mid_write = 0;
    for round in 0..60u64 {
        if mid_write >= 3 {
            break;
        }
        let before = temps();
        let mut cmd = doksi(&sb.cache_dir());
        cmd.env("DOKSI_BASE_URL", &sb.base_url)
            .env("DOKSI_API_KEY", &sb.key)
            .env("DOKSI_CACHE_DIR", sb.cache_dir());
        let apk = apk_fixtures().join(apks[round as usize % apks.len()]);
        let mut child = cmd
            .args(["upload", "--force", path_str(&apk)])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Killed the moment its temporary file shows (or at a varied moment, if it never does).
        let started = std::time::Instant::now();
        let deadline = std::time::Duration::from_millis(5000);
        while temps() == before
            && started.elapsed() < deadline
            && child.try_wait().ok().flatten().is_none()
        {
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        if temps() > before {
            mid_write += 1;
        }
        let bytes = std::fs::read(&scope_file).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("round {round}: torn cache file: {e}"));
        assert!(
            parsed["entries"].as_object().unwrap().len() >= 30_001,
            "round {round}: entries lost"
        );
    }
    assert!(mid_write > 0, "no kill landed mid-write in 60 rounds");
    // Each such kill left a temporary file and the data file whole, as checked above.
}

#[test]
fn bad_input_is_a_one_line_error_with_exit_2_and_nothing_sent() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_owned()
    };
    let unknown_platform = write(
        "ios.json",
        r#"[{"platform":"ios","target_id":"bin_1","test_ids":["t"]}]"#,
    );
    let empty_ids = write(
        "empty.json",
        r#"{"matrix":[{"platform":"android","target_id":"bin_1","test_ids":[],"category_ids":[]}]}"#,
    );
    let bad_account = write(
        "acc.json",
        r#"[{"platform":"web","web_url":"https://x.example","test_ids":["t"],"artifacts":[{"type":"authentication","strategy":"specific","account_id":"789"}]}]"#,
    );
    let not_json = write("broken.json", "{\"matrix\": [");
    let ftp_binary = write(
        "ftp.json",
        r#"[{"platform":"android","binary_url":"ftp://builds.example.com/app.apk","test_ids":["t"]}]"#,
    );
    let a_folder = dir.path().to_str().unwrap().to_owned();
    // The first entry is fine; the second is not, and is found before the first is uploaded.
    let second_bad = write(
        "second-bad.json",
        &format!(
            r#"[{{"platform":"android","apk":"{}","test_ids":["t"]}},{{"platform":"android","apk":"nope.apk","test_ids":["t"]}}]"#,
            path_str(&unlock_apk())
        ),
    );
    let missing_apk = write(
        "missing-apk.json",
        r#"[{"platform":"android","apk":"nope.apk","test_ids":["t"]}]"#,
    );
    let text_apk = write("text.apk", "not a zip");
    let empty_dir = tempfile::tempdir().unwrap();
    let apk = unlock_apk();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "--matrix", &unknown_platform],
            "entry 0: unknown variant `ios`",
        ),
        (
            vec!["run", "--matrix", &empty_ids],
            "entry 0: needs a non-empty test_ids or category_ids",
        ),
        (
            vec!["run", "--matrix", &bad_account],
            "must start with acc_",
        ),
        (vec!["run", "--matrix", &not_json], "not a matrix"),
        (
            vec!["run", "--matrix", "/nonexistent/m.json"],
            "cannot read it",
        ),
        (
            vec!["run", "--matrix", &missing_apk],
            "nope.apk: no such file or directory",
        ),
        (
            vec!["run", "--target", "bin_1"],
            "give at least one --test or --category",
        ),
        (vec!["run", "--test", "t_login"], "nowhere to run"),
        (
            vec!["ci", path_str(empty_dir.path()), "--category", "cat_smoke"],
            "no APKs found",
        ),
        (
            vec!["ci", &text_apk, "--category", "cat_smoke"],
            "is not an APK",
        ),
        (
            vec!["upload", "/nonexistent/app.apk"],
            "no such file or directory",
        ),
        (
            vec![
                "ci",
                path_str(&apk),
                "--category",
                "c",
                "--auth",
                "specific:nope",
            ],
            "acc_",
        ),
        (
            vec![
                "ci",
                path_str(&apk),
                "--category",
                "c",
                "--auth",
                "sometimes",
            ],
            "not one of none, generated",
        ),
        (
            vec!["wait", "run_1", "--timeout", "banana"],
            "not a duration",
        ),
        (
            vec!["ci", path_str(&apk), "--category", "c", "--timeout", "0"],
            "out of range: give 1s to 7days",
        ),
        (
            vec!["run", "--web-url", "staging.example.com", "--test", "t"],
            "is not an http(s) URL with a host",
        ),
        (
            vec![
                "run",
                "--binary-url",
                "ftp://builds.example.com/a.apk",
                "--test",
                "t",
            ],
            "the scheme is ftp",
        ),
        (vec!["run", "--matrix", &ftp_binary], "entry 0: binary_url"),
        (vec!["run", "--matrix", &second_bad], "nope.apk"),
        (
            vec![
                "ci",
                path_str(&apk),
                "--category",
                "c",
                "--junit",
                "/proc/doksi/x.xml",
            ],
            "cannot write the JUnit report /proc/doksi/x.xml",
        ),
        (
            vec![
                "ci",
                path_str(&apk),
                "--category",
                "c",
                "--junit",
                &a_folder,
            ],
            "it is a folder",
        ),
        (
            vec!["wait", "run_1", "--junit", "/proc/x.xml"],
            "cannot write the JUnit report",
        ),
        (
            vec!["wait", "run_1", "--poll-interval", "0"],
            "out of range: give 100ms to 1h",
        ),
        (
            vec!["status", "run_1", "--request-timeout", "0s"],
            "out of range",
        ),
        (
            vec!["status", "run_1", "--retry-delay", "2h"],
            "out of range",
        ),
    ];
    for (args, want) in cases {
        let r = sb.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{args:?}");
        // clap's own usage errors add a "try --help" line; ours are one line.
        if r.stderr.starts_with("doksi: error:") {
            assert_eq!(r.stderr.trim().lines().count(), 1, "{args:?}: {}", r.stderr);
        }
    }
    assert_eq!(sb.total(), 0, "nothing reached the server");
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl CLI.
fn make_certs(dir: &Path) -> bool {
    certs_signed_by(dir, &[("ca", "doksi test CA")], "ca")
}

/// With the openssl CLI in `dir`: a CA per `(stem, common name)` (`stem.pem`, `stem.key`; two
/// of one name are a CA renewed), and a server certificate for 127.0.0.1 (`server.pem`,
/// `server.key`) signed by the CA `signer`.
pub fn certs_signed_by(dir: &Path, cas: &[(&str, &str)], signer: &str) -> bool {
    let run = |args: &[&str]| {
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let ca = |stem: &str, name: &str| {
        run(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{stem}.key"),
            "-out",
            &format!("{stem}.pem"),
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
        ])
    };
    cas.iter().all(|(stem, name)| ca(stem, name))
        && run(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ])
        && run(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &format!("{signer}.pem"),
            "-CAkey",
            &format!("{signer}.key"),
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ])
}

#[test]
fn an_extra_ca_from_ssl_cert_file_is_trusted_through_https_proxy_too_and_tls_failures_are_not_retried()
 {
    let (Some(_), Some(_)) = (
        crate::common::needed_tool("openssl", "openssl"),
        crate::common::needed_tool("python3", "python3"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    assert!(
        make_certs(dir.path()),
        "openssl could not make the test certificates"
    );
    // A one-file HTTPS server answering every GET with a finished run.
    let server = r#"
import http.server, ssl, sys
body = sys.argv[1].encode()
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("server.pem", "server.key")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", server, RUN_JSON])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let base = format!("https://127.0.0.1:{}/api", line.trim());
    let home = tempfile::tempdir().unwrap();
    let status = |ca: Option<&Path>| {
        let mut cmd = doksi(home.path());
        cmd.args(["status", "run_9", "--retry-delay", "10ms"])
            .env("DOKSI_BASE_URL", &base)
            .env("DOKSI_API_KEY", KEY);
        if let Some(ca) = ca {
            cmd.env("SSL_CERT_FILE", ca);
        }
        cmd.output().unwrap()
    };
    let trusted = status(Some(&dir.path().join("ca.pem")));
    let untrusted = status(None);
    // No bundled roots to fall back on: a CA store that holds nothing is named as the cause.
    let no_roots = status(Some(&dir.path().join("missing.pem")));
    // The same through an HTTPS proxy: a CONNECT tunnel that logs what it was asked for.
    let proxy = r#"
import socket, threading, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8)
print(srv.getsockname()[1], flush=True)
log = open(sys.argv[1], "a")
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d: break
            b.sendall(d)
    except Exception: pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except Exception: pass
def handle(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d: return
        head += d
    line = head.split(b"\r\n")[0].decode()
    log.write(line + "\n"); log.flush()
    host, port = line.split()[1].rsplit(":", 1)
    u = socket.create_connection((host, int(port)))
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    pipe(u, c)
while True:
    c, _ = srv.accept(); threading.Thread(target=handle, args=(c,), daemon=True).start()
"#;
    let proxy_log = dir.path().join("proxy.log");
    let mut proxy_child = std::process::Command::new("python3")
        .args(["-c", proxy])
        .arg(&proxy_log)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut pline = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(proxy_child.stdout.take().unwrap()),
        &mut pline,
    )
    .unwrap();
    let tunnelled = doksi(home.path())
        .args(["status", "run_9"])
        .env("DOKSI_BASE_URL", &base)
        .env("DOKSI_API_KEY", KEY)
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .env("HTTPS_PROXY", format!("http://127.0.0.1:{}", pline.trim()))
        .output()
        .unwrap();
    let _ = proxy_child.kill();
    let _ = proxy_child.wait();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        tunnelled.status.success(),
        "HTTPS_PROXY: {}",
        String::from_utf8_lossy(&tunnelled.stderr)
    );
    let seen = std::fs::read_to_string(&proxy_log).unwrap_or_default();
    assert!(
        seen.starts_with(&format!("CONNECT 127.0.0.1:{} ", line.trim())),
        "the proxy was asked to tunnel: {seen:?}"
    );
    assert!(
        trusted.status.success(),
        "SSL_CERT_FILE: {}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    let stderr = String::from_utf8_lossy(&untrusted.stderr);
    assert_eq!(untrusted.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.to_ascii_lowercase().contains("certificate"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("retrying"),
        "a TLS failure is not transient: {stderr}"
    );
    assert!(stderr.contains("CA certificates"), "{stderr}");
    let stderr = String::from_utf8_lossy(&no_roots.stderr);
    assert_eq!(no_roots.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("no CA certificates were found in SSL_CERT_FILE")
            && stderr.contains("missing.pem"),
        "{stderr}"
    );
    assert!(!stderr.contains("retrying"), "{stderr}");
}

/// A presigned S3 URL as a release pipeline passes it for a build in its own bucket: access key
/// id, session token and signature in its query.
const SIGNED: &str = "https://builds.s3.us-east-1.amazonaws.com/nightly/shop_v2/app.apk?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Security-Token=FwoGZXIvYXdzEXAMPLETOKEN&X-Amz-Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
/// What is shown of it: host and path, the query redacted.
const SHOWN: &str = "https://builds.s3.us-east-1.amazonaws.com/nightly/shop_v2/app.apk?…(redacted)";
const SIGNED_SECRETS: [&str; 4] = [
    "AKIAIOSFODNN7EXAMPLE",
    "FwoGZXIvYXdzEXAMPLETOKEN",
    "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
    "X-Amz-Signature=",
];

#[test]
fn a_signed_binary_url_is_sent_whole_and_shown_nowhere() {
    // A server of the test's own: each run's result names the binary URL exactly as POST /runs
    // sent it (so a re-run takes it from the API's answer), every run fails, and the webhook
    // records what it is posted.
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let posted = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (seen, hooked) = (sent.clone(), posted.clone());
    let (base, _log) = routed(move |req| {
        let body = String::from_utf8_lossy(&req.body).into_owned();
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/runs") => {
                let v: serde_json::Value = serde_json::from_str(&body).unwrap();
                let url = v["matrix"][0]["binary_url"].as_str().unwrap().to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push(url);
                let created = serde_json::json!({"run_id": format!("run_{}", seen.len()),
                    "results": [{"result_id": "res_1", "test_id": "t_pay"}]});
                reply(200, &created.to_string())
            }
            ("GET", path) if path.starts_with("/api/runs/run_") => {
                let id = path.trim_start_matches("/api/runs/");
                let n: usize = id.trim_start_matches("run_").parse().unwrap();
                let url = seen.lock().unwrap().get(n - 1).cloned().unwrap_or_default();
                let run = serde_json::json!({
                    "run_id": id, "status": "failed", "duration_seconds": 4,
                    "results": [{"result_id": "res_1", "test_id": "t_pay", "test_name": "Pay",
                        "status": "failed", "duration_seconds": 4,
                        "url": "https://app.doksi.example/r/res_1",
                        "destination": {"platform": "android", "binary_url": url}}],
                });
                reply(200, &run.to_string())
            }
            ("POST", path) if path.starts_with("/hooks/") => {
                hooked.lock().unwrap().push(body);
                reply(200, "ok")
            }
            _ => reply(404, r#"{"error":"no such route"}"#),
        }
    });
    let origin = base.trim_end_matches("/api");
    let hook = format!("{origin}/hooks/x7y8z9w6v5u4");
    let dir = tempfile::tempdir().unwrap();
    let (junit, output, summary) = (
        dir.path().join("junit.xml"),
        dir.path().join("output"),
        dir.path().join("summary.md"),
    );
    let run = |extra: &[&str]| {
        let out = doksi(dir.path())
            .args(["-v", "run", "--binary-url", SIGNED, "--test", "t_pay"])
            .args(extra)
            .args(["--retry-delay", "10ms"])
            .env("DOKSI_BASE_URL", &base)
            .env("DOKSI_API_KEY", KEY)
            .env("DOKSI_CACHE_DIR", dir.path().join("cache"))
            .envs(github_env(&output, &summary))
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let waited = [
        "--wait",
        "--retries",
        "1",
        "--poll-interval",
        "100ms",
        "--junit",
        path_str(&junit),
        "--notify",
        &hook,
        "--notify-on",
        "always",
    ];
    let (code, text_out, text_err) = run(&waited);
    assert_eq!(code, Some(1), "{text_err}");
    let (code, json_out, json_err) = run(&[&waited[..], &["--json"]].concat());
    assert_eq!(code, Some(1), "{json_err}");
    let (code, plan, plan_err) = run(&["--dry-run"]);
    assert_eq!(code, Some(0), "{plan_err}");
    let (code, plan_json, _) = run(&["--dry-run", "--json"]);
    assert_eq!(code, Some(0));

    // The API was sent the URL whole, each time, the re-runs too.
    assert_eq!(*sent.lock().unwrap(), [SIGNED; 4]);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let hooks = posted.lock().unwrap().join("\n");
    assert_eq!(posted.lock().unwrap().len(), 2);
    let everything = [
        ("stdout", text_out.as_str()),
        ("stderr", &text_err),
        ("--json stdout", &json_out),
        ("--json stderr", &json_err),
        ("dry-run plan", &plan),
        ("dry-run stderr", &plan_err),
        ("dry-run --json", &plan_json),
        ("JUnit", &read(&junit)),
        ("job summary", &read(&summary)),
        ("step outputs", &read(&output)),
        ("webhook", &hooks),
    ];
    for (what, text) in everything {
        for secret in SIGNED_SECRETS {
            assert!(!text.contains(secret), "{what} shows {secret}:\n{text}");
        }
    }
    // Host and path stay readable wherever the destination is named.
    for (what, text) in [
        ("stderr", text_err.as_str()),
        ("JUnit", &read(&junit)),
        ("job summary", &read(&summary)),
        ("webhook", &hooks),
        ("dry-run plan", &plan),
    ] {
        assert!(
            text.contains(SHOWN),
            "{what} does not name {SHOWN}:\n{text}"
        );
    }
    // --json and the dry run say it was redacted, where the value stands.
    let doc: serde_json::Value = serde_json::from_str(&json_out).unwrap();
    let shown = doc
        .pointer("/results/0/destination/binary_url")
        .or_else(|| doc.pointer("/attempts/0/results/0/destination/binary_url"));
    assert_eq!(shown.and_then(|v| v.as_str()), Some(SHOWN), "{doc}");
    let planned: serde_json::Value = serde_json::from_str(&plan_json).unwrap();
    assert_eq!(planned["run"]["body"]["matrix"][0]["binary_url"], SHOWN);
    assert!(
        planned["redacted"]
            .as_str()
            .is_some_and(|s| s.contains("the request sends it whole")),
        "{planned}"
    );
    assert!(plan.contains("the request sends it whole"), "{plan}");
}

#[test]
fn a_password_in_a_destination_url_is_shown_nowhere() {
    // Basic auth in a staging URL is a secret as a signature is: the API gets it, nobody reads it.
    let sb = crate::sandbox::Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (junit, output, summary) = (
        dir.path().join("junit.xml"),
        dir.path().join("output"),
        dir.path().join("summary.md"),
    );
    let url = "https://qa:Hunter2pw@staging.example.com/shop";
    let args = |json: bool| {
        let mut a = vec![
            "run",
            "--web-url",
            url,
            "--category",
            "cat_failing",
            "--wait",
            "--poll-interval",
            "100ms",
            "--junit",
            path_str(&junit),
        ];
        if json {
            a.push("--json");
        }
        a
    };
    let mut everything = Vec::new();
    for json in [false, true] {
        let r = sb.run_with(&args(json), &github_env(&output, &summary));
        assert_eq!(r.code, 1, "{}", r.stderr);
        everything.push((format!("stdout (json: {json})"), r.stdout));
        everything.push((format!("stderr (json: {json})"), r.stderr));
        everything.push(("JUnit".into(), std::fs::read_to_string(&junit).unwrap()));
    }
    let r = sb.run(&[
        "run",
        "--web-url",
        url,
        "--category",
        "cat_smoke",
        "--dry-run",
    ]);
    everything.push(("dry run".into(), r.stdout + &r.stderr));
    everything.push((
        "job summary".into(),
        std::fs::read_to_string(&summary).unwrap(),
    ));
    for (what, text) in &everything {
        assert!(
            !text.contains("Hunter2pw"),
            "{what} shows the password:\n{text}"
        );
    }
    let junit = std::fs::read_to_string(&junit).unwrap();
    assert!(junit.contains("staging.example.com"), "{junit}");
    // The API was sent it whole.
    assert!(
        sb.requests()
            .to_string()
            .contains("qa:Hunter2pw@staging.example.com")
    );
}
