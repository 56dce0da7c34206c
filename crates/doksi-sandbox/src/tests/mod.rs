//! The sandbox over real loopback HTTP: reqwest for well-formed requests, a raw TCP stream for
//! the ones reqwest will not send (no length, chunked, a body cut short).

mod faults;
mod hangups;
mod runs;
mod uploads;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Sandbox, SandboxConfig, start};
use doksi::api::model::UploadMinted;
use doksi::package::{Fingerprint, UploadZip};

/// A run clock fast enough for tests to wait out.
const STEP: Duration = Duration::from_millis(50);

async fn sandbox_with(config: SandboxConfig) -> Sandbox {
    start(config).await.expect("sandbox starts")
}

async fn sandbox() -> Sandbox {
    sandbox_with(SandboxConfig {
        run_step: STEP,
        ..SandboxConfig::default()
    })
    .await
}

/// The test config with `faults` (in their text form) as the initial plan.
fn faulting(faults: &[&str]) -> SandboxConfig {
    SandboxConfig {
        run_step: STEP,
        faults: faults.iter().map(|f| f.parse().unwrap()).collect(),
        ..SandboxConfig::default()
    }
}

/// The smallest run: one web test, one credit, no target needed.
fn web_run() -> Value {
    serde_json::json!({"matrix": [{"platform": "web", "web_url": "https://s.example.com", "test_ids": ["t_login"]}]})
}

fn unlock_apk() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/apks/appium-unlock-2.0.0-debug.apk")
}

/// The exact bytes `doksi upload` would PUT for `apk`.
fn upload_zip(apk: &Path) -> Vec<u8> {
    let zip = UploadZip::new(apk, Fingerprint::of(apk).unwrap()).unwrap();
    let mut bytes = Vec::new();
    zip.reader().unwrap().read_to_end(&mut bytes).unwrap();
    assert_eq!(bytes.len() as u64, zip.len());
    bytes
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// An API request with the sandbox key through `client`; `None` sends no body. Returns what
/// reqwest makes of it, transport errors included.
async fn send(
    client: &reqwest::Client,
    sb: &Sandbox,
    method: &str,
    route: &str,
    body: Option<Value>,
) -> reqwest::Result<reqwest::Response> {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client
        .request(method, format!("{}/{route}", sb.base_url))
        .header("Authorization", super::sandbox_key().bearer());
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await
}

/// An API call that gets an answer. Returns the status and JSON body.
async fn call(sb: &Sandbox, method: &str, route: &str, body: Option<Value>) -> (u16, Value) {
    let res = send(&client(), sb, method, route, body).await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    (status, json)
}

async fn mint(sb: &Sandbox) -> UploadMinted {
    let (status, body) = call(
        sb,
        "POST",
        "uploads",
        Some(serde_json::json!({"name": "app"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_value(body).unwrap()
}

/// A PUT as the docs' curl sends it: `Content-Type: application/zip` and a known length.
async fn put_zip(url: &str, bytes: Vec<u8>) -> (u16, String) {
    let res = client()
        .put(url)
        .header("Content-Type", "application/zip")
        .body(bytes)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn admin(sb: &Sandbox, method: &str, route: &str) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    client()
        .request(method, format!("{}/{route}", sb.admin_url))
        .send()
        .await
        .unwrap()
}

async fn requests(sb: &Sandbox) -> Value {
    admin(sb, "GET", "requests").await.json().await.unwrap()
}

/// `POST /_sandbox/faults` with `body`; returns the status and JSON answer.
async fn add_fault(sb: &Sandbox, body: Value) -> (u16, Value) {
    let res = client()
        .post(format!("{}/faults", sb.admin_url))
        .json(&body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.json().await.unwrap())
}

/// Sends `head` (request line and headers, no blank line) and `body` as raw bytes to the
/// upload URL's server, then half-closes so a short body ends there. Returns the whole answer.
async fn raw_put(url: &str, extra_headers: &str, body: &[u8]) -> String {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let head =
        format!("PUT /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra_headers}\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("the storage server answers")
        .unwrap();
    answer
}

/// The S3 error code in an XML error body.
fn s3_code(body: &str) -> &str {
    body.split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or("", |(code, _)| code)
}
