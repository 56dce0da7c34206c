//! A `doksi sandbox` process on 127.0.0.1 for the end-to-end tests, with its request counters.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::{Run, doksi};

pub struct Sandbox {
    child: Child,
    pub base_url: String,
    pub admin_url: String,
    pub key: String,
    home: tempfile::TempDir,
}

impl Sandbox {
    /// Starts `doksi sandbox` with extra flags (e.g. `--credits 1`) and a fast run clock.
    pub fn start(extra: &[&str]) -> Sandbox {
        Sandbox::start_in(tempfile::tempdir().unwrap(), extra)
    }

    /// Like [`Sandbox::start`], keeping `home` (and so the cache folder) of an earlier one.
    pub fn start_in(home: tempfile::TempDir, extra: &[&str]) -> Sandbox {
        Sandbox::start_to(home, extra, Stdio::null())
    }

    /// Like [`Sandbox::start`], its stderr going to `stderr` (a file the test reads).
    pub fn start_with_stderr(extra: &[&str], stderr: std::fs::File) -> Sandbox {
        Sandbox::start_to(tempfile::tempdir().unwrap(), extra, stderr.into())
    }

    fn start_to(home: tempfile::TempDir, extra: &[&str], stderr: Stdio) -> Sandbox {
        let mut cmd = doksi(home.path());
        // Any free ports: many sandboxes run at once, and the default ports are for people.
        cmd.arg("sandbox");
        for flag in ["--port", "--storage-port"] {
            if !extra.contains(&flag) {
                cmd.args([flag, "0"]);
            }
        }
        if !extra.contains(&"--run-step") {
            cmd.args(["--run-step", "100ms"]);
        }
        let mut child = cmd
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("sandbox said {line:?}: {e}"));
        Sandbox {
            child,
            base_url: v["base_url"].as_str().unwrap().to_owned(),
            admin_url: v["admin_url"].as_str().unwrap().to_owned(),
            key: v["api_key"].as_str().unwrap().to_owned(),
            home,
        }
    }

    /// A cache folder of this test's own.
    pub fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    /// `doksi ARGS` pointed at this sandbox, with its key and this test's cache.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_at(None, args, env)
    }

    /// `doksi` pointed at this sandbox, with its key and this test's cache, for a test that sets
    /// up the process itself (arguments that are not UTF-8, stdout on a file).
    pub fn command(&self) -> Command {
        let mut cmd = doksi(self.home.path());
        cmd.env("DOKSI_BASE_URL", &self.base_url)
            .env("DOKSI_API_KEY", &self.key)
            .env("DOKSI_CACHE_DIR", self.cache_dir());
        cmd
    }

    /// Like [`Sandbox::run_with`], started in `dir` (where doksi looks for doksi.toml).
    pub fn run_at(&self, dir: Option<&Path>, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command();
        if let Some(dir) = dir {
            cmd.current_dir(dir);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.args(args).output().unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The sandbox's record of every request it received.
    pub fn requests(&self) -> Value {
        serde_json::from_slice(&get(&format!("{}/requests", self.admin_url))).unwrap()
    }

    /// How many requests reached `route` (e.g. "POST /uploads").
    pub fn count(&self, route: &str) -> u64 {
        self.requests()["counts"][route].as_u64().unwrap_or(0)
    }

    pub fn total(&self) -> u64 {
        self.requests()["counts"]
            .as_object()
            .unwrap()
            .values()
            .filter_map(Value::as_u64)
            .sum()
    }

    /// Plans `count` occurrences of `fault` on `route` ("POST /runs", "PUT /uploads", …).
    pub fn fault(&self, route: &str, fault: &str, count: u32) {
        let body = serde_json::json!({"route": route, "fault": fault, "count": count});
        post_json(&format!("{}/faults", self.admin_url), &body);
    }

    /// Runs the sandbox has created, whether or not their creator heard back.
    pub fn runs_created(&self) -> u64 {
        self.requests()["runs_created"].as_u64().unwrap()
    }

    pub fn stored_upload(&self, upload_id: &str) -> Vec<u8> {
        get(&format!("{}/uploads/{upload_id}", self.admin_url))
    }
}

impl Sandbox {
    /// Stops the server and hands back its home, cache included.
    pub fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let home = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self.home, home)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The sandbox's admin API, on loopback only: no proxy, whatever the environment says, and a
/// bound on each request, so a sandbox that hangs fails its test rather than stalling the suite.
fn admin() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// The body of a GET on loopback; panics unless the answer is 200.
pub fn get(url: &str) -> Vec<u8> {
    body_of_200("GET", url, admin().get(url).call())
}

/// POSTs `body` as JSON on loopback; panics unless the answer is 200.
pub fn post_json(url: &str, body: &Value) {
    body_of_200("POST", url, admin().post(url).send_json(body));
}

/// DELETE on loopback; panics unless the answer is 200.
pub fn delete(url: &str) {
    body_of_200("DELETE", url, admin().delete(url).call());
}

fn body_of_200(
    method: &str,
    url: &str,
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Vec<u8> {
    let mut answer = answer.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    // A stored upload is as big as its APK: no limit but the test's own fixtures.
    let body = answer
        .body_mut()
        .with_config()
        .limit(u64::MAX)
        .read_to_vec()
        .unwrap_or_else(|e| panic!("{method} {url}: reading the body: {e}"));
    assert_eq!(
        answer.status(),
        200,
        "{method} {url}: {}",
        String::from_utf8_lossy(&body)
    );
    body
}

pub fn unlock_apk() -> PathBuf {
    crate::common::apk_fixtures().join("appium-unlock-2.0.0-debug.apk")
}

pub fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Without --port the sandbox takes 8787; when that is taken it says so, naming the port, and
/// listens on a free one instead of failing.
#[test]
fn a_taken_default_port_falls_back_to_a_free_one_and_says_so() {
    // Held for the test (or already held by something else: the same case).
    let _held = std::net::TcpListener::bind(("127.0.0.1", 8787));
    let home = tempfile::tempdir().unwrap();
    let mut child = doksi(home.path())
        .args(["sandbox", "--storage-port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e} {stderr}"));
    let base = v["base_url"].as_str().unwrap();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");
    assert!(!base.starts_with("http://127.0.0.1:8787"), "{base}");
    assert!(
        stderr.contains("default API port 8787 is not free"),
        "{stderr}"
    );
}

/// An explicit port that is taken is an error naming the port.
#[test]
fn a_taken_explicit_port_is_an_error_naming_it() {
    let held = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = held.local_addr().unwrap().port().to_string();
    let r = crate::common::run(&["sandbox", "--port", &port, "--storage-port", "0"]);
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains(&format!("127.0.0.1:{port}")),
        "{}",
        r.stderr
    );
}
