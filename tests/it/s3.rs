//! The real binary's upload against a real S3 implementation: an s3s-fs bucket that checks AWS
//! SigV4 presigned URLs with its own code, behind the in-process sandbox's API, with URLs minted
//! by rusty-s3 as an S3 SDK mints them. Our own storage imitation cannot prove that doksi's PUT
//! leaves such a URL intact and sends nothing S3 refuses; this does. s3s-fs takes chunked
//! bodies, which S3 refuses, so the Content-Length checks stay with the sandbox's tests.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use doksi_sandbox::{self as sandbox, ExternalStorage, Sandbox, SandboxConfig, Storage};
use hyper_util::rt::TokioIo;
use jiff::{SignedDuration, Timestamp};
use reqwest::Url;
use rusty_s3::actions::{PutObject, S3Action};
use rusty_s3::{Bucket, Credentials, UrlStyle};
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::common::doksi;
use crate::sandbox::{path_str, unlock_apk};

const ACCESS_KEY: &str = "AKIADOKSITESTKEY0001";
const SECRET_KEY: &str = "doksi/test/secret/not/a/real/one/0000000";
const BUCKET: &str = "doksi-uploads";
const REGION: &str = "us-east-1";
/// How long a good URL lives, as the real API's would: long enough for any test.
const TTL: Duration = Duration::from_secs(15 * 60);

/// An s3s-fs bucket on 127.0.0.1 that accepts only URLs signed with [`ACCESS_KEY`] and
/// [`SECRET_KEY`]. Dropping it stops the server and deletes the bucket.
struct S3Server {
    endpoint: Url,
    root: tempfile::TempDir,
    server: JoinHandle<()>,
}

impl S3Server {
    async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let mut builder =
            s3s::service::S3ServiceBuilder::new(s3s_fs::FileSystem::new(root.path()).unwrap());
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service.clone());
                tokio::spawn(connection);
            }
        });
        S3Server {
            endpoint: endpoint.parse().unwrap(),
            root,
            server,
        }
    }

    /// The object's bytes as s3s-fs stored them, or `None` if no PUT stored one.
    fn object(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(BUCKET).join(key)).ok()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// What kind of URL a mint hands out.
#[derive(Debug, Clone, Copy)]
enum Mint {
    Good,
    /// One hex digit of `X-Amz-Signature` changed.
    Tampered,
    /// Signed an hour ago, valid for a minute.
    Expired,
}

/// The sandbox's [`ExternalStorage`]: rusty-s3 presigns PUTs to the s3s-fs bucket, the `n`th
/// mint getting `plan[n]` (the last entry repeats), and `POST /targets` reads the object
/// straight from the bucket's directory.
struct RealS3 {
    bucket: Bucket,
    credentials: Credentials,
    objects: PathBuf,
    plan: Vec<Mint>,
    mints: AtomicUsize,
}

impl RealS3 {
    fn new(s3: &S3Server, plan: &[Mint]) -> Arc<RealS3> {
        let bucket = Bucket::new(s3.endpoint.clone(), UrlStyle::Path, BUCKET, REGION).unwrap();
        Arc::new(RealS3 {
            bucket,
            credentials: Credentials::new(ACCESS_KEY, SECRET_KEY),
            objects: s3.root.path().join(BUCKET),
            plan: plan.to_vec(),
            mints: AtomicUsize::new(0),
        })
    }

    fn url(&self, key: &str, mint: Mint) -> String {
        let put = PutObject::new(&self.bucket, Some(&self.credentials), key);
        match mint {
            Mint::Good => put.sign(TTL).to_string(),
            Mint::Tampered => tamper(put.sign(TTL).as_str()),
            Mint::Expired => {
                let an_hour_ago = Timestamp::now() - SignedDuration::from_hours(1);
                put.sign_with_time(Duration::from_secs(60), &an_hour_ago)
                    .to_string()
            }
        }
    }
}

impl ExternalStorage for RealS3 {
    fn presign_put(&self, upload_id: &str) -> String {
        let n = self.mints.fetch_add(1, Ordering::SeqCst);
        let mint = self.plan.get(n).or(self.plan.last()).copied();
        self.url(upload_id, mint.unwrap_or(Mint::Good))
    }

    fn object_path(&self, upload_id: &str) -> Option<PathBuf> {
        let path = self.objects.join(upload_id);
        path.is_file().then_some(path)
    }
}

/// `url` with the first hex digit of its `X-Amz-Signature` changed.
fn tamper(url: &str) -> String {
    let at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let digit = if url.as_bytes()[at] == b'0' { "1" } else { "0" };
    let tampered = format!("{}{digit}{}", &url[..at], &url[at + 1..]);
    assert_ne!(tampered, url);
    tampered
}

/// A sandbox whose uploads go to `store`, and the s3s-fs bucket behind it.
async fn sandbox(store: &Arc<RealS3>) -> Sandbox {
    sandbox::start(SandboxConfig {
        storage: Storage::External(store.clone()),
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

/// The real binary pointed at `sb`, with the environment cleared and a cache of its own.
async fn doksi_at(sb: &Sandbox, home: &Path, args: &[&str]) -> Output {
    let mut cmd = doksi(home);
    cmd.env("DOKSI_BASE_URL", &sb.base_url)
        .env("DOKSI_API_KEY", sandbox::SANDBOX_KEY)
        .env("DOKSI_CACHE_DIR", home.join("cache"))
        .args(args);
    tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap()
}

async fn upload(sb: &Sandbox, home: &Path) -> Output {
    let apk = unlock_apk();
    let args = ["upload", "--json", path_str(&apk), "--retry-delay", "10ms"];
    doksi_at(sb, home, &args).await
}

/// What `doksi package` writes for the unlock APK: the bytes every upload must store.
async fn packaged(sb: &Sandbox, home: &Path) -> Vec<u8> {
    let zip = home.join("expected.zip");
    let out = doksi_at(
        sb,
        home,
        &["package", path_str(&unlock_apk()), "-o", path_str(&zip)],
    )
    .await;
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::read(zip).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

async fn admin(sb: &Sandbox, route: &str) -> Value {
    reqwest::get(format!("{}/{route}", sb.admin_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// How often the sandbox saw `POST /uploads`, our own storage's `PUT /uploads` and
/// `POST /targets`.
async fn counts(sb: &Sandbox) -> (u64, u64, u64) {
    let requests = admin(sb, "requests").await;
    let count = |route: &str| requests["counts"][route].as_u64().unwrap();
    (
        count("POST /uploads"),
        count("PUT /uploads"),
        count("POST /targets"),
    )
}

/// A PUT of `body` to `url` as S3 clients send one; returns the status and S3's error code.
async fn put(url: &str, body: Vec<u8>) -> (u16, String) {
    let res = reqwest::Client::new()
        .put(url)
        .header("Content-Type", "application/zip")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map_or(String::new(), |(code, _)| code.to_owned());
    (status, code)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_real_s3_stores_exactly_the_zip_doksi_packages() {
    let s3 = S3Server::start().await;
    let store = RealS3::new(&s3, &[Mint::Good]);
    let sb = sandbox(&store).await;
    let home = tempfile::tempdir().unwrap();

    let out = upload(&sb, home.path()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let uploaded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(uploaded[0]["target_id"], "bin_1", "{uploaded}");
    assert_eq!(uploaded[0]["cached"], false);

    let stored = s3.object("upl_1").expect("s3s-fs stored upl_1");
    assert!(
        stored == packaged(&sb, home.path()).await,
        "the object differs from `doksi package`'s zip"
    );
    // `POST /targets` decoded the APK out of the object s3s-fs stored.
    let targets = admin(&sb, "targets").await;
    assert_eq!(targets["bin_1"]["package"], "io.appium.unlock", "{targets}");
    assert_eq!(counts(&sb).await, (1, 0, 1), "our own storage saw nothing");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_url_refused_by_s3_is_minted_again_once() {
    let s3 = S3Server::start().await;
    let store = RealS3::new(&s3, &[Mint::Tampered, Mint::Good]);
    let sb = sandbox(&store).await;
    let home = tempfile::tempdir().unwrap();

    let out = upload(&sb, home.path()).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let uploaded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(uploaded[0]["target_id"], "bin_1", "{uploaded}");
    assert_eq!(counts(&sb).await, (2, 0, 1));
    assert_eq!(s3.object("upl_1"), None, "the tampered URL stored nothing");
    let stored = s3.object("upl_2").expect("s3s-fs stored upl_2");
    assert!(stored == packaged(&sb, home.path()).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn urls_that_s3_keeps_refusing_fail_the_upload_after_one_fresh_mint() {
    let s3 = S3Server::start().await;
    let store = RealS3::new(&s3, &[Mint::Expired]);
    let sb = sandbox(&store).await;
    let home = tempfile::tempdir().unwrap();

    let out = upload(&sb, home.path()).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("403"), "the refusal is named: {err}");
    assert!(
        err.contains("Request has expired"),
        "S3's reason is passed on: {err}"
    );
    assert_eq!(counts(&sb).await, (2, 0, 0));
    assert_eq!((s3.object("upl_1"), s3.object("upl_2")), (None, None));
}

/// The cases above prove something only because s3s really checks signatures and expiry: the
/// same body to the same key is stored with a good URL and refused with a bad one.
#[tokio::test(flavor = "multi_thread")]
async fn s3s_itself_refuses_tampered_and_expired_urls() {
    let s3 = S3Server::start().await;
    let store = RealS3::new(&s3, &[]);
    let body = b"PK\x05\x06 not much of a zip".to_vec();

    for (mint, code) in [
        (Mint::Tampered, "SignatureDoesNotMatch"),
        (Mint::Expired, "AccessDenied"),
    ] {
        let refused = put(&store.url("direct", mint), body.clone()).await;
        assert_eq!(refused, (403, code.to_owned()), "{mint:?}");
        assert_eq!(s3.object("direct"), None, "{mint:?}");
    }
    let unsigned = s3.endpoint.join(&format!("{BUCKET}/direct")).unwrap();
    assert_eq!(put(unsigned.as_str(), body.clone()).await.0, 403);

    assert_eq!(
        put(&store.url("direct", Mint::Good), body.clone()).await,
        (200, String::new())
    );
    assert_eq!(s3.object("direct"), Some(body));
}
