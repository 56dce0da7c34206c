//! `doksi sandbox`: the local Doksi-compatible server, until Ctrl-C. `doksi demo`: the sandbox
//! in-process, and `ci` run twice on an example Gradle build (the second run shows the cache hit).
//! Only with the `sandbox` feature (default), like their flags in `cli.rs`: the sandbox is a crate
//! of its own (`doksi-sandbox`), and doksi builds without it.

use std::path::Path;
use std::time::Duration;

use crate::cli::{
    CiArgs, ConnectionArgs, GlobalArgs, SandboxArgs, Selection, TestArgs, UploadOptions,
    WaitOptions,
};
use doksi_sandbox::{self as sandbox, SandboxConfig};

use super::Error;
use super::output::{always, note, outln};

/// A real APK (appium-unlock 2.0.0, Apache-2.0) carried in the binary, so the demo needs no
/// checkout and no network.
const DEMO_APK: &[u8] = include_bytes!("../../tests/fixtures/apks/appium-unlock-2.0.0-debug.apk");

/// The ports `doksi sandbox` listens on unless told otherwise, so that the URL to export stays
/// the same from one start to the next.
const DEFAULT_PORTS: (u16, u16) = (8787, 8788);

/// `port` if given; else `default` if it is free, else any free port, said on stderr.
fn port_or_default(port: Option<u16>, default: u16, what: &str) -> u16 {
    if let Some(port) = port {
        return port;
    }
    match std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, default)) {
        Ok(_) => default,
        Err(e) => {
            always!(
                "doksi: the default {what} port {default} is not free ({e}); using any free port (--{} picks one)",
                if what == "API" {
                    "port"
                } else {
                    "storage-port"
                }
            );
            0
        }
    }
}

/// `doksi sandbox -v`: a line per request served. The sandbox masks the query's values and shows
/// no header; a key pasted into a path is redacted here, as in every line doksi prints.
fn print_served(served: &sandbox::Served) {
    note!(
        "sandbox: {}",
        crate::api::redact_secrets(&served.to_string())
    );
}

/// Serves until Ctrl-C; `verbose` (-v) prints each request served on stderr.
pub async fn serve(args: SandboxArgs, verbose: bool) -> Result<(), Error> {
    let config = SandboxConfig {
        api_port: port_or_default(args.port, DEFAULT_PORTS.0, "API"),
        storage_port: port_or_default(args.storage_port, DEFAULT_PORTS.1, "storage"),
        credits: args.credits,
        run_step: args.run_step,
        faults: args.faults,
        on_served: verbose.then_some(print_served as fn(&sandbox::Served)),
        ..SandboxConfig::default()
    };
    let key = config.key.clone();
    let sandbox = sandbox::start(config).await.map_err(Error::Sandbox)?;
    // One JSON line first, for scripts and tests; then the human version on stderr.
    let line = serde_json::json!({
        "base_url": sandbox.base_url, "storage_url": sandbox.storage_url, "admin_url": sandbox.admin_url,
        "api_key": key.as_str(),
    });
    outln!("{line}");
    always!("doksi sandbox listening; paste this line into another shell (sh, bash, zsh or fish):");
    // Printed whole: the key is the sandbox's published one, and a redacted line cannot be
    // pasted. One `export NAME=VALUE` per variable, which all four shells read alike.
    super::output::pasteable_line(format_args!(
        "  {}",
        export_line(&sandbox.base_url, key.as_str())
    ));
    always!("Ctrl-C (or SIGTERM) stops it.");
    // A stop asked for is the normal end of a server's life, not an error.
    let claim = crate::interrupt::Claim::take();
    let signal = claim.interrupted().await;
    sandbox.stop().await;
    always!("doksi sandbox stopped ({})", signal.name());
    Ok(())
}

/// The line that points another shell at the sandbox. Its values hold no character any of sh,
/// bash, zsh or fish treats specially (`http://127.0.0.1:PORT/…`, `dk_live_` and hex).
pub fn export_line(base_url: &str, key: &str) -> String {
    format!("export DOKSI_BASE_URL={base_url}; export DOKSI_API_KEY={key}")
}

/// Lays out `<dir>/app/build/outputs/apk/release/` as the Android Gradle Plugin does.
fn example_project(dir: &Path) -> std::io::Result<()> {
    let out = dir.join("app/build/outputs/apk/release");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("app-release.apk"), DEMO_APK)?;
    std::fs::write(
        out.join("output-metadata.json"),
        r#"{"version":3,"artifactType":{"type":"APK","kind":"Directory"},"applicationId":"io.appium.unlock","variantName":"release","elements":[{"type":"SINGLE","filters":[],"attributes":[],"versionCode":2,"versionName":"2.0.0","outputFile":"app-release.apk"}],"elementType":"File"}"#,
    )
}

/// `verbose` (-v, -vv) logs the requests of the demo's `ci` runs, as `ci -v` would.
pub async fn demo(verbose: u8) -> Result<(), Error> {
    let config = SandboxConfig {
        run_step: Duration::from_millis(400),
        ..SandboxConfig::default()
    };
    let key = config.key.clone();
    let sandbox = sandbox::start(config).await.map_err(Error::Sandbox)?;
    let work = tempfile::tempdir()?;
    example_project(work.path())?;
    let connection = ConnectionArgs {
        base_url: sandbox.base_url.clone(),
        api_key: Some(key.as_str().to_owned()),
        cache_dir: Some(work.path().join("cache")),
        allow_insecure_http: false,
        attempts: 5,
        request_timeout: Duration::from_secs(60),
        retry_delay: Duration::from_millis(500),
    };
    let conn = GlobalArgs {
        base_url: sandbox.base_url.clone(),
        api_key: Some(key.as_str().to_owned()),
        cache_dir: Some(work.path().join("cache")),
        allow_insecure_http: false,
        attempts: 5,
        verbose,
        quiet: false,
        config: None,
        request_timeout: Duration::from_secs(60),
        retry_delay: Duration::from_millis(500),
    };
    let ci = || CiArgs {
        paths: vec![work.path().to_owned()],
        selection: Selection::default(),
        tests: TestArgs {
            tests: vec![],
            categories: vec!["cat_smoke".into()],
            auth: "generated".into(),
        },
        upload: UploadOptions::default(),
        waiting: WaitOptions {
            notify: Default::default(),
            timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(300),
            junit: None,
            retries: 0,
            fail_on_flaky: false,
        },
        json: false,
        connection: connection.clone(),
    };
    always!(
        "== doksi demo: a sandbox at {} and an example build in {}",
        sandbox.base_url,
        work.path().display()
    );
    always!(
        "== 1. doksi ci --category cat_smoke --auth generated   (uploads the APK, runs, waits)"
    );
    super::ci::run(&conn, ci(), None, &[]).await?;
    always!(
        "== 2. the same again: the APK is unchanged, so the cache answers and nothing is uploaded"
    );
    super::ci::run(&conn, ci(), None, &[]).await?;
    always!(
        "== done. The same on your own build: start `doksi sandbox`, paste the line it prints into another shell, then run `doksi ci path/to/project --variant release --category cat_smoke` there (on a flavored app, --variant freeRelease or the like)"
    );
    Ok(())
}
