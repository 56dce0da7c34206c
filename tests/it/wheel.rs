//! The PyPI wheel (pyproject.toml: maturin, `bindings = "bin"`): built by maturin as the release
//! builds it for Linux (`--zig --compatibility manylinux2014`, glibc 2.17), installed offline
//! into a fresh venv, and its `doksi` run.
//!
//! maturin and ziglang come from PyPI into a venv that `.ci/run` makes (`target/ci-venv`, or
//! `DOKSI_CI_VENV`); without it the test is skipped, except under `CI=true`. The wheel's build is
//! the suite's one release build, and the slowest thing in it: this file builds it once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::common::needed;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The venv holding maturin and ziglang, when it has them.
fn build_venv() -> Option<PathBuf> {
    let venv = std::env::var_os("DOKSI_CI_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv"),
        PathBuf::from,
    );
    let ready = venv.join("bin/maturin").is_file()
        && Command::new(venv.join("bin/python3"))
            .args(["-c", "import ziglang"])
            .output()
            .is_ok_and(|o| o.status.success());
    ready.then_some(venv)
}

/// Runs `cmd`, asserting that it exits 0.
fn succeeds(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds the wheel into `out` and returns its path. Cargo works offline, which needs every
/// platform's crates of the lock file (`cargo metadata` wants them; `cargo fetch --locked`, as
/// `.ci/run` runs it, gets them), in a target folder of its own, since `cargo test` holds the
/// usual one.
fn build_wheel(venv: &Path, out: &Path) -> PathBuf {
    let path = std::env::join_paths(std::iter::once(venv.join("bin")).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let start = Instant::now();
    succeeds(
        Command::new(venv.join("bin/maturin"))
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            // zig is found as `python3 -m ziglang`, the venv's python3 first on PATH.
            .env("PATH", path)
            .args([
                "build",
                "--release",
                "--zig",
                "--compatibility",
                "manylinux2014",
            ])
            .args(["--locked", "--offline", "--quiet", "--out"])
            .arg(out)
            .arg("--target-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wheel-target"))
            // What the wheel is, not how fast its doksi runs, is tested: link-time optimisation
            // (the release profile's, for the wheels published) would cost minutes here.
            .env("CARGO_PROFILE_RELEASE_LTO", "false")
            .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16"),
    );
    eprintln!("maturin build: {:?}", start.elapsed());
    let wheels: Vec<PathBuf> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "whl"))
        .collect();
    assert_eq!(wheels.len(), 1, "{wheels:?}");
    wheels.into_iter().next().unwrap()
}

/// The names in the wheel (a zip), and its METADATA file's text.
fn wheel_contents(wheel: &Path) -> (Vec<String>, String) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(wheel).unwrap()).unwrap();
    let names: Vec<String> = zip.file_names().map(|n| n.unwrap().into_owned()).collect();
    let mut metadata = String::new();
    std::io::Read::read_to_string(
        &mut zip
            .by_name(&format!("doksi-{VERSION}.dist-info/METADATA"))
            .unwrap(),
        &mut metadata,
    )
    .unwrap();
    (names, metadata)
}

#[test]
fn the_wheel_installs_offline_and_its_doksi_runs_the_demo() {
    let Some(python) = crate::common::needed_tool("python3", "python3-venv") else {
        return;
    };
    let Some(venv) = needed(
        build_venv(),
        "maturin (with ziglang)",
        ".ci/run installs it: python3 -m venv target/ci-venv && target/ci-venv/bin/pip install maturin ziglang",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let wheels = dir.path().join("wheels");
    let wheel = build_wheel(&venv, &wheels);

    // A glibc-2.17 wheel for any Python 3, holding one program, doksi, and the project's
    // metadata, its version Cargo's.
    let name = wheel.file_name().unwrap().to_str().unwrap();
    eprintln!("{name}: {} bytes", std::fs::metadata(&wheel).unwrap().len());
    let arch = std::env::consts::ARCH;
    assert_eq!(
        name,
        format!("doksi-{VERSION}-py3-none-manylinux2014_{arch}.manylinux_2_17_{arch}.whl")
    );
    let (names, metadata) = wheel_contents(&wheel);
    let scripts: Vec<&String> = names
        .iter()
        .filter(|n| n.starts_with(&format!("doksi-{VERSION}.data/scripts/")))
        .collect();
    assert_eq!(
        scripts,
        [&format!("doksi-{VERSION}.data/scripts/doksi")],
        "{names:?}"
    );
    for line in [
        "Name: doksi".to_owned(),
        format!("Version: {VERSION}"),
        "License-Expression: MIT OR Apache-2.0".to_owned(),
        "Project-URL: Homepage, https://doksi.ai".to_owned(),
        "Project-URL: Repository, https://github.com/doksi-ai/doksi".to_owned(),
        "Description-Content-Type: text/markdown; charset=UTF-8; variant=GFM".to_owned(),
    ] {
        assert!(
            metadata.lines().any(|l| l == line),
            "no {line:?} in METADATA:\n{metadata}"
        );
    }
    assert!(
        metadata.contains("\n# doksi\n"),
        "the README is not the description"
    );

    // A fresh venv, no index: pip can only take the wheel from the folder.
    let env = dir.path().join("env");
    succeeds(Command::new(&python).arg("-m").arg("venv").arg(&env));
    succeeds(
        Command::new(env.join("bin/python3"))
            .args(["-m", "pip", "install", "--no-index", "--no-cache-dir"])
            .args(["--disable-pip-version-check", "--find-links"])
            .arg(&wheels)
            .arg("doksi"),
    );
    let doksi = env.join("bin/doksi");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(&doksi)
            .env_clear()
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["--version"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), format!("doksi {VERSION}"));

    // The demo needs the default features (the sandbox) and no network beyond loopback.
    let (code, stdout, stderr) = run(&["demo"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("uploaded: target bin_"), "{stderr}");
    assert!(stderr.contains("cached: target bin_"), "{stderr}");
    assert_eq!(stdout.matches(": passed (").count(), 2, "{stdout}");
}
