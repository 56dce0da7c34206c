//! What lies between doksi and the API, written here: a proxy that asks for credentials, refuses
//! connections or closes them; servers whose answer never ends; presigned URLs that expire
//! between two attempts; a CA renewed under the same name.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::field_faults::{doksi_at, reply, routed};

const USER: &str = "builder";
const PASSWORD: &str = "s3cr3t-proxy-pw";

/// A request's first line and, lower-cased, its headers; its body is read and dropped.
struct Head {
    line: String,
}

/// Serves each connection on a thread of its own with `handler`, after reading the request's
/// head and `Content-Length` body. Returns `127.0.0.1:PORT` and how many connections came.
fn serve(
    handler: impl Fn(&Head, &mut TcpStream) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let (seen, handler) = (count.clone(), Arc::new(handler));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let mut length = 0u64;
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
                let _ = std::io::copy(&mut reader.by_ref().take(length), &mut std::io::sink());
                handler(&Head { line }, &mut stream);
            });
        }
    });
    (addr, count)
}

/// Writes `head` and then a body without end, until the reader goes away; counts what it wrote.
fn endless(stream: &mut TcpStream, head: &str, start: &[u8], sent: &AtomicU64) {
    if stream.write_all(head.as_bytes()).is_err() || stream.write_all(start).is_err() {
        return;
    }
    let chunk = vec![b'a'; 64 << 10];
    while stream.write_all(&chunk).is_ok() {
        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

fn doksi_via(base: &str, env: &[(&str, String)], args: &[&str]) -> crate::field_faults::Done {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = crate::common::doksi(home.path());
    cmd.args(args)
        .args(["--retry-delay", "10ms"])
        .env("DOKSI_BASE_URL", base)
        .env(
            "DOKSI_API_KEY",
            "dk_live_0123456789abcdef0123456789abcdef01234567",
        )
        .env("DOKSI_CACHE_DIR", home.path().join("cache"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    let done = crate::field_faults::Done {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    };
    assert!(!done.stderr.contains("panicked"), "{}", done.stderr);
    done
}

#[test]
fn a_proxy_that_refuses_the_credentials_is_named_once_and_asked_once() {
    let (proxy, connections) = serve(|head, stream| {
        assert!(
            head.line.starts_with("CONNECT 127.0.0.1:9 "),
            "{}",
            head.line
        );
        let _ = stream.write_all(
            b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n",
        );
    });
    // The API is never reached: nothing listens on port 9, and the proxy opens no tunnel.
    let r = doksi_via(
        "https://127.0.0.1:9/api",
        &[("HTTPS_PROXY", format!("http://{USER}:{PASSWORD}@{proxy}"))],
        &["status", "run_1"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "said once: {}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the proxy {proxy} (from HTTPS_PROXY) refused the credentials in HTTPS_PROXY (407 Proxy Authentication Required)"
        )),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(PASSWORD) && !r.stderr.contains(USER),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);

    // Without credentials, the proxy's question is answered with what to set.
    let (proxy, _) = serve(|_, stream| {
        let _ = stream
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    });
    let r = doksi_via(
        "https://127.0.0.1:9/api",
        &[("https_proxy", format!("http://{proxy}"))],
        &["status", "run_1"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the proxy {proxy} (from https_proxy) asks for credentials"
        )),
        "{}",
        r.stderr
    );

    // Plain http through HTTP_PROXY: the 407 comes back as an answer, and says the same.
    let (proxy, connections) = serve(|head, stream| {
        assert!(
            head.line
                .starts_with("GET http://127.0.0.1:9/api/runs/run_1 "),
            "{}",
            head.line
        );
        let _ = stream
            .write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n");
    });
    let r = doksi_via(
        "http://127.0.0.1:9/api",
        &[("HTTP_PROXY", format!("http://{USER}:{PASSWORD}@{proxy}"))],
        &["status", "run_1"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "the proxy {proxy} (from HTTP_PROXY) refused the credentials in HTTP_PROXY"
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
}

#[test]
fn a_dead_or_closing_proxy_is_named_and_not_taken_for_the_api() {
    // Nothing listens: the port of a listener just closed.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    // Accepts, reads the CONNECT, closes without a word.
    let (closing, connections) = serve(|_, _| {});
    for (proxy, problem) in [
        (dead.as_str(), "could not be reached: "),
        (closing.as_str(), "closed the connection without answering"),
    ] {
        let r = doksi_via(
            "https://127.0.0.1:9/api",
            &[("HTTPS_PROXY", format!("http://{USER}:{PASSWORD}@{proxy}"))],
            &["status", "run_1", "--attempts", "2"],
        );
        assert_eq!(r.code, 3, "{}", r.stderr);
        let last = r.stderr.lines().last().unwrap_or("");
        assert!(
            last.contains(&format!("the proxy {proxy} (from HTTPS_PROXY) {problem}"))
                && last.contains("so https://127.0.0.1:9/api/runs/run_1 was never reached"),
            "{}",
            r.stderr
        );
        assert!(
            !last.contains("cannot connect to https://127.0.0.1:9"),
            "{last}"
        );
        // Like a refused connection: a proxy may come back.
        assert!(r.stderr.contains("retrying"), "{}", r.stderr);
        assert!(!r.stderr.contains(PASSWORD), "{}", r.stderr);
    }
    assert_eq!(connections.load(Ordering::SeqCst), 2);
}

#[test]
fn an_answer_without_end_is_an_error_and_doksi_stops_reading() {
    let sent = Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    // A 200 that starts like a run and never ends (a file server, a broken gateway).
    let (api, _) = serve(move |_, stream| {
        endless(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
            br#"{"run_id":"run_1","status":"running","results":[],"x":""#,
            &counter,
        )
    });
    let r = doksi_via(
        &format!("http://{api}/api"),
        &[],
        &["status", "run_1", "--request-timeout", "30s"],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("GET /runs/run_1: HTTP 200, but the answer goes on past 33554432 bytes"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
    assert!(r.took < Duration::from_secs(20), "{:?}", r.took);
    // What doksi read, and what the socket buffers held: far from everything the server had.
    std::thread::sleep(Duration::from_millis(300));
    let total = sent.load(Ordering::Relaxed);
    assert!(total < 128 << 20, "the server wrote {total} bytes");

    // An error page without end, with a Content-Length that says so: not read at all.
    let (api, _) = serve(|_, stream| {
        let _ = stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 9000000000\r\n\r\n<html>",
        );
        std::thread::sleep(Duration::from_secs(2));
    });
    let r = doksi_via(&format!("http://{api}/api"), &[], &["status", "run_1"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("GET /runs/run_1: HTTP 404, but the answer goes on past 1048576 bytes"),
        "{}",
        r.stderr
    );

    // The storage's answer to the PUT, the same.
    let storage_sent = Arc::new(AtomicU64::new(0));
    let counter = storage_sent.clone();
    let (storage, _) = serve(move |_, stream| {
        endless(
            stream,
            "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nConnection: close\r\n\r\n",
            b"<Error><Code>",
            &counter,
        )
    });
    let (base, _) = routed(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/uploads") => reply(
            200,
            &format!(
                r#"{{"upload_id":"upl_1","upload_url":"http://{storage}/put?X-Amz-Signature=s"}}"#
            ),
        ),
        _ => reply(404, r#"{"error":"no"}"#),
    });
    let home = tempfile::tempdir().unwrap();
    let apk = crate::sandbox::unlock_apk();
    let r = doksi_at(
        &base,
        home.path(),
        &["upload", crate::sandbox::path_str(&apk)],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "upload to storage refused: HTTP 400: (an answer over 1048576 bytes, not read)"
        ),
        "{}",
        r.stderr
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(storage_sent.load(Ordering::Relaxed) < 128 << 20);
}

/// `YYYYMMDDTHHMMSSZ` for now, as AWS's `X-Amz-Date` has it.
fn amz_now() -> String {
    jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string()
}

#[test]
fn an_upload_url_past_its_expiry_is_replaced_before_the_body_is_sent_again() {
    // The URL lives 5 s; the first PUT is read whole and left unanswered for 6 s, a cut.
    let mints = Arc::new(AtomicUsize::new(0));
    let puts = Arc::new(Mutex::new(Vec::new()));
    let (m, p) = (mints.clone(), puts.clone());
    let (base, log) = routed(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/uploads") => {
            let n = m.fetch_add(1, Ordering::SeqCst) + 1;
            reply(
                200,
                &format!(
                    r#"{{"upload_id":"upl_{n}","upload_url":"{}/put/{n}?X-Amz-Date={}&X-Amz-Expires=5&X-Amz-Signature=s"}}"#,
                    req.origin,
                    amz_now()
                ),
            )
        }
        ("PUT", path) => {
            p.lock().unwrap().push((path.to_owned(), req.body.len()));
            if path.starts_with("/put/1?") {
                std::thread::sleep(Duration::from_secs(6));
                // Dropped without an answer.
                crate::field_faults::Reply {
                    stall: Some(Duration::ZERO),
                    ..reply(200, "")
                }
            } else {
                reply(200, "")
            }
        }
        ("POST", "/api/targets") => reply(200, r#"{"target_id":"bin_7"}"#),
        _ => reply(404, r#"{"error":"no"}"#),
    });
    let home = tempfile::tempdir().unwrap();
    // 18 MB: large enough for the CI log's quarter lines.
    let apk = crate::common::apk_fixtures().join("appium-uiautomator2-server-10.6.6.apk");
    let r = doksi_at(
        &base,
        home.path(),
        &["upload", crate::sandbox::path_str(&apk)],
    );
    assert_eq!(r.code, 0, "{}\n{:?}", r.stderr, log.lines());
    assert!(r.stdout.starts_with("bin_7\t"), "{}", r.stdout);
    let puts = puts.lock().unwrap().clone();
    assert_eq!(
        puts.iter()
            .map(|(p, _)| p.split('?').next().unwrap())
            .collect::<Vec<_>>(),
        ["/put/1", "/put/2"],
        "the expired URL was not sent the body again: {puts:?}\n{}",
        r.stderr
    );
    assert_eq!(mints.load(Ordering::SeqCst), 2);
    assert!(
        r.stderr.contains(
            "10.6.6.apk: the upload URL has expired, as its own expiry says (X-Amz-Expires, Expires), so the file was not sent to it again; minting a fresh upload URL"
        ),
        "{}",
        r.stderr
    );
    // The CI log counts each attempt from 0 and says it restarted.
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("uploading appium-uiautomator2-server-10.6.6.apk: "))
        .map(|l| l.trim_start_matches("uploading appium-uiautomator2-server-10.6.6.apk: "))
        .collect();
    let shown: Vec<&str> = lines
        .iter()
        .map(|l| l.split(" (").next().unwrap_or(l))
        .collect();
    assert_eq!(
        shown,
        [
            "25%",
            "50%",
            "75%",
            "100%",
            "restarted from the first byte",
            "25%",
            "50%",
            "75%",
            "100%"
        ],
        "{}",
        r.stderr
    );
}

/// Two CAs of the same name and their own keys (a CA renewed), and a server certificate for
/// 127.0.0.1 from the second, made with the openssl CLI.
fn renewed_ca(dir: &Path) -> bool {
    let same_name = "Corp Proxy CA";
    crate::security::certs_signed_by(dir, &[("old", same_name), ("new", same_name)], "new")
}

#[test]
fn a_tls_failure_names_the_ca_bundle_in_use() {
    let (Some(_), Some(_)) = (
        crate::common::needed_tool("openssl", "openssl"),
        crate::common::needed_tool("python3", "python3"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    assert!(
        renewed_ca(dir.path()),
        "openssl could not make the certificates"
    );
    let server = r#"
import http.server, ssl
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain("server.pem", "server.key")
s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", server])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    // The bundle still holds the old CA: same name, another key.
    let bundle = dir.path().join("corp-ca.pem");
    std::fs::copy(dir.path().join("old.pem"), &bundle).unwrap();
    let r = doksi_via(
        &format!("https://127.0.0.1:{}/api", port.trim()),
        &[("SSL_CERT_FILE", bundle.display().to_string())],
        &["status", "run_1"],
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("BadSignature"), "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("a CA found in SSL_CERT_FILE={}", bundle.display()))
            && r.stderr.contains("renewed under the same name"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
}

/// On a terminal (`script` gives doksi one): no bar before the size is known, and a PUT that
/// starts again says so and counts from 0.
#[test]
fn a_terminal_bar_waits_for_the_size_and_starts_again_with_the_put() {
    let Some(script) = crate::common::needed_tool("script", "bsdutils") else {
        return;
    };
    let puts = Arc::new(AtomicUsize::new(0));
    let p = puts.clone();
    let (base, _) = routed(move |req| match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/uploads") => reply(
            200,
            &format!(
                r#"{{"upload_id":"upl_1","upload_url":"{}/put?X-Amz-Signature=s"}}"#,
                req.origin
            ),
        ),
        // The first PUT is read whole and dropped without an answer: a cut.
        ("PUT", _) if p.fetch_add(1, Ordering::SeqCst) == 0 => crate::field_faults::Reply {
            stall: Some(Duration::from_millis(500)),
            ..reply(200, "")
        },
        ("PUT", _) => reply(200, ""),
        ("POST", "/api/targets") => reply(200, r#"{"target_id":"bin_7"}"#),
        _ => reply(404, r#"{"error":"no"}"#),
    });
    let home = tempfile::tempdir().unwrap();
    let typescript = home.path().join("typescript");
    let apk = crate::common::apk_fixtures().join("appium-uiautomator2-server-10.6.6.apk");
    let command = format!(
        "stty cols 100 rows 24; {} upload {} --retry-delay 10ms",
        env!("CARGO_BIN_EXE_doksi"),
        crate::sandbox::path_str(&apk)
    );
    let status = std::process::Command::new(script)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("TERM", "xterm")
        .env("DOKSI_BASE_URL", &base)
        .env(
            "DOKSI_API_KEY",
            "dk_live_0123456789abcdef0123456789abcdef01234567",
        )
        .env("DOKSI_CACHE_DIR", home.path().join("cache"))
        .args(["-qec", &command])
        .arg(&typescript)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    let screen = std::fs::read_to_string(&typescript).unwrap();
    assert_eq!(status.code(), Some(0), "{screen:?}");
    assert_eq!(puts.load(Ordering::SeqCst), 2);
    assert!(
        !screen.contains("0 B/0 B"),
        "a bar before the size: {screen:?}"
    );
    assert!(
        screen.contains(
            "uploading appium-uiautomator2-server-10.6.6.apk: restarted from the first byte"
        ),
        "{screen:?}"
    );
    // The first frame after the restart counts from the start again.
    let after = screen
        .split("restarted from the first byte")
        .nth(1)
        .unwrap_or("");
    let frame = after
        .split("\r\x1b[2K")
        .find(|f| f.contains("/17.14 MiB"))
        .unwrap_or("");
    assert!(frame.contains("] 0 B/17.14 MiB"), "{frame:?} in {screen:?}");
    // Each attempt took under 3 s: no time left was guessed from its first moments.
    assert!(!screen.contains(" left"), "{screen:?}");
}

unsafe extern "C" {
    /// unshare(2): here, `CLONE_NEWNET` for the calling thread alone.
    fn unshare(flags: std::ffi::c_int) -> std::ffi::c_int;
}

const CLONE_NEWNET: std::ffi::c_int = 0x4000_0000;

/// `nft ARGS` (in the calling thread's network namespace); whether it worked.
fn nft(args: &str) -> bool {
    std::process::Command::new("nft")
        .args(args.split(' '))
        .status()
        .is_ok_and(|s| s.success())
}

/// A link that goes dark for 35 s right after `POST /runs` was sent, in a network namespace of
/// the test's own, where nftables drops every TCP packet on loopback: reqwest's default
/// `TCP_USER_TIMEOUT` of 30 s would abort the connection there, and a paid run would go
/// unfollowed. Within a 90 s `--request-timeout` the answer that comes after the blackout is
/// read. The one slow test here (about 36 s).
#[test]
fn a_blackout_longer_than_30s_within_the_request_timeout_is_waited_out() {
    if crate::common::needed_tool("nft", "nftables").is_none()
        || crate::common::needed_tool("ip", "iproute2").is_none()
    {
        return;
    }
    // A thread of its own: the namespace is the thread's, and the test harness's threads and the
    // other tests keep the machine's.
    let outcome = std::thread::spawn(|| {
        // SAFETY: unshare(2) with a flag only; it changes the calling thread's namespace.
        if unsafe { unshare(CLONE_NEWNET) } != 0 {
            return None;
        }
        let up = std::process::Command::new("ip")
            .args(["link", "set", "lo", "up"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(up, "ip link set lo up");
        assert!(nft("add table inet blackout"));
        assert!(nft(
            "add chain inet blackout in { type filter hook input priority 0 ; }"
        ));
        let dark = Arc::new(Mutex::new(None::<Instant>));
        let seen = dark.clone();
        let (api, _) = serve(move |head, stream| {
            if !head.line.starts_with("POST /api/runs ") {
                let _ = stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                return;
            }
            // The request is in; from now on nothing on loopback gets through, either way.
            assert!(nft("add rule inet blackout in meta l4proto tcp drop"));
            *seen.lock().unwrap() = Some(Instant::now());
            std::thread::sleep(Duration::from_secs(35));
            assert!(nft("flush chain inet blackout in"));
            let body = r#"{"run_id":"run_1","results":[{"result_id":"res_1","test_id":"t_login","url":"https://app.doksi.ai/r/res_1"}]}"#;
            let _ = stream.write_all(
                format!(
                    "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            );
        });
        let r = doksi_via(
            &format!("http://{api}/api"),
            &[],
            &[
                "run",
                "--target",
                "bin_1",
                "--test",
                "t_login",
                "--request-timeout",
                "90s",
            ],
        );
        let dark = *dark.lock().unwrap();
        Some((r, dark))
    })
    .join()
    .unwrap();
    let Some((r, dark)) = crate::common::needed(
        outcome,
        "a network namespace of the test's own (unshare(CLONE_NEWNET) as root)",
        "run the tests as root",
    ) else {
        return;
    };
    assert!(dark.is_some(), "the blackout began: {}", r.stderr);
    // reqwest's default ended it at 30 s: `no answer`, exit 3, a run that may exist.
    assert_eq!(r.code, 0, "after {:?}: {}", r.took, r.stderr);
    assert!(r.stdout.contains("run_1"), "{}", r.stdout);
    assert!(r.took >= Duration::from_secs(35), "{:?}", r.took);
    assert!(!r.stderr.contains("retrying"), "{}", r.stderr);
}
