//! doksi as Maven artifacts: `dist/maven.sh`'s repository layout, and the Gradle snippet with
//! `doksi.version` resolving doksi from such a repository (as protobuf's plugin resolves protoc)
//! and running it, on Debian's Gradle 4.4.1 against the sandbox.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::gradle::{gradle_command, gradle_project, groovy_str, run_limited, snippets};
use crate::sandbox::{Sandbox, path_str};

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn maven_sh() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dist/maven.sh")
}

/// This machine's classifier, in protoc's names, as the snippet works it out from Java's
/// `os.name` and `os.arch`.
fn host_classifier() -> &'static str {
    match (std::env::consts::OS, std::env::consts::ARCH) {
        ("linux", "x86_64") => "linux-x86_64",
        ("linux", "aarch64") => "linux-aarch_64",
        ("macos", "x86_64") => "osx-x86_64",
        ("macos", "aarch64") => "osx-aarch_64",
        ("windows", "x86_64") => "windows-x86_64",
        other => panic!("doksi is not published for {other:?}"),
    }
}

struct Ran {
    code: Option<i32>,
    stderr: String,
}

/// `dist/maven.sh ARGS` with `SOURCE_DATE_EPOCH` as given.
fn maven(args: &[&str], source_date_epoch: Option<&str>) -> Ran {
    let mut cmd = Command::new(maven_sh());
    cmd.env_remove("SOURCE_DATE_EPOCH").args(args);
    if let Some(epoch) = source_date_epoch {
        cmd.env("SOURCE_DATE_EPOCH", epoch);
    }
    let out = cmd.output().unwrap();
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `root`, by its path relative to it, with its bytes; sorted.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(root).unwrap();
            (path_str(rel).to_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn maven_sh_writes_the_same_repository_twice_with_checksums_beside_each_file() {
    let dir = tempfile::tempdir().unwrap();
    let linux = dir.path().join("doksi");
    let windows = dir.path().join("doksi.exe");
    std::fs::write(&linux, b"\x7fELF linux binary").unwrap();
    std::fs::write(&windows, b"MZ windows binary").unwrap();
    let inputs = [
        format!("{}:linux-x86_64", path_str(&linux)),
        format!("{}:windows-x86_64", path_str(&windows)),
    ];
    let write = |out: &Path, epoch: Option<&str>| {
        let mut args = vec!["--version", "1.2.3", "--out", path_str(out)];
        args.extend(inputs.iter().map(String::as_str));
        let r = maven(&args, epoch);
        assert_eq!(r.code, Some(0), "{}", r.stderr);
    };
    let first = dir.path().join("first");
    let second = dir.path().join("second");
    write(&first, Some("1700000000"));
    write(&second, Some("1700000000"));
    let files = tree(&first);
    assert_eq!(files, tree(&second), "two runs wrote different bytes");

    let mut expected: Vec<String> = Vec::new();
    for file in [
        "ai/doksi/doksi/1.2.3/doksi-1.2.3-linux-x86_64.exe",
        "ai/doksi/doksi/1.2.3/doksi-1.2.3-windows-x86_64.exe",
        "ai/doksi/doksi/1.2.3/doksi-1.2.3.pom",
        "ai/doksi/doksi/maven-metadata.xml",
    ] {
        expected.push(file.to_owned());
        for ext in ["md5", "sha1", "sha256"] {
            expected.push(format!("{file}.{ext}"));
        }
    }
    expected.sort();
    let names: Vec<&String> = files.iter().map(|f| &f.0).collect();
    assert_eq!(names, expected.iter().collect::<Vec<_>>());

    // The artifacts are the binaries; each checksum file holds the hex digest alone.
    let file = |name: &str| &files.iter().find(|f| f.0 == name).unwrap().1;
    assert_eq!(
        file("ai/doksi/doksi/1.2.3/doksi-1.2.3-windows-x86_64.exe"),
        b"MZ windows binary"
    );
    for (name, bytes) in &files {
        let Some(of) = name.strip_suffix(".sha256") else {
            continue;
        };
        assert_eq!(
            String::from_utf8_lossy(bytes),
            Sha256::digest(file(of))
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            "{name}"
        );
    }
    for (name, len) in [(".sha1", 40), (".md5", 32)] {
        for (_, bytes) in files.iter().filter(|f| f.0.ends_with(name)) {
            assert_eq!(bytes.len(), len, "{name}");
            assert!(bytes.iter().all(u8::is_ascii_hexdigit), "{name}");
        }
    }
    let pom = String::from_utf8_lossy(file("ai/doksi/doksi/1.2.3/doksi-1.2.3.pom"));
    for part in [
        "<groupId>ai.doksi</groupId>",
        "<artifactId>doksi</artifactId>",
        "<version>1.2.3</version>",
        "<packaging>pom</packaging>",
    ] {
        assert!(pom.contains(part), "no {part} in\n{pom}");
    }
    // lastUpdated is SOURCE_DATE_EPOCH's time, the only time in the output.
    let metadata = String::from_utf8_lossy(file("ai/doksi/doksi/maven-metadata.xml"));
    for part in [
        "<release>1.2.3</release>",
        "<versions>\n      <version>1.2.3</version>\n    </versions>",
        "<lastUpdated>20231114221320</lastUpdated>",
    ] {
        assert!(metadata.contains(part), "no {part} in\n{metadata}");
    }

    // A second version joins the first in the metadata; without SOURCE_DATE_EPOCH, no time.
    let r = maven(
        &["--version", "1.10.0", "--out", path_str(&first), &inputs[0]],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let metadata =
        std::fs::read_to_string(first.join("ai/doksi/doksi/maven-metadata.xml")).unwrap();
    assert!(
        metadata.contains(
            "<release>1.10.0</release>\n    <versions>\n      <version>1.2.3</version>\n      <version>1.10.0</version>\n"
        ),
        "{metadata}"
    );
    assert!(!metadata.contains("lastUpdated"), "{metadata}");
}

#[test]
fn maven_sh_refuses_a_classifier_the_snippet_never_asks_for() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("doksi");
    std::fs::write(&binary, b"binary").unwrap();
    let out = dir.path().join("repo");
    for (input, expected) in [
        (
            format!("{}:linux-aarch64", path_str(&binary)),
            "maven.sh: unknown classifier 'linux-aarch64' (one of: linux-x86_64 linux-aarch_64",
        ),
        (
            format!("{}:linux-x86_64", path_str(&dir.path().join("missing"))),
            "/missing: no such file",
        ),
        (path_str(&binary).to_owned(), "is not BINARY:CLASSIFIER"),
    ] {
        let r = maven(
            &["--version", "1.0.0", "--out", path_str(&out), &input],
            None,
        );
        assert_eq!(r.code, Some(2), "{input}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(expected), "{input}: {}", r.stderr);
        assert!(!out.exists(), "{input}: wrote {out:?}");
    }
}

/// PATH without any folder that holds a `doksi`, so that only the resolved artifact can be
/// the doksi that runs.
fn path_without_doksi() -> std::ffi::OsString {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::join_paths(std::env::split_paths(&path).filter(|d| !d.join("doksi").exists()))
        .unwrap()
}

/// `doksi.version` in gradle.properties: the snippet resolves `ai.doksi:doksi:V:<host>@exe`
/// from the build's repositories (a file repository `dist/maven.sh` wrote from the test's
/// doksi), makes it executable and runs it; a version the repository lacks fails its task with
/// what to do. One build with `--continue` does both, in two projects.
#[test]
fn the_groovy_snippet_runs_the_doksi_version_it_resolves_from_the_builds_repositories() {
    let Some(gradle_bin) = crate::common::needed_tool("gradle", "gradle") else {
        return;
    };
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (project, app) = gradle_project(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();

    let repo = dir.path().join("repo");
    let classifier = host_classifier();
    let input = format!("{}:{classifier}", env!("CARGO_BIN_EXE_doksi"));
    let r = maven(
        &["--version", VERSION, "--out", path_str(&repo), &input],
        None,
    );
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let artifact = repo.join(format!(
        "ai/doksi/doksi/{VERSION}/doksi-{VERSION}-{classifier}.exe"
    ));
    let mode = || std::fs::metadata(&artifact).unwrap().permissions().mode();
    // As a download into Gradle's cache would be: not executable.
    assert_eq!(mode() & 0o111, 0, "{:o}", mode());

    // The root pins the version; `stale` pins one the repository does not have.
    std::fs::write(
        project.join("build.gradle"),
        format!(
            "allprojects {{\n    repositories {{ maven {{ url {} }} }}\n    apply from: {}\n}}\n",
            groovy_str(&repo),
            groovy_str(&snippets().join("doksi.gradle"))
        ),
    )
    .unwrap();
    std::fs::write(
        project.join("gradle.properties"),
        format!("doksi.version={VERSION}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(project.join("stale")).unwrap();
    std::fs::write(
        project.join("stale/gradle.properties"),
        "doksi.version=0.0.1\ndoksi.variants=release\n",
    )
    .unwrap();
    std::fs::write(
        project.join("settings.gradle"),
        "rootProject.name = 'shop'\ninclude 'app', 'lib', 'tool', 'stale'\n",
    )
    .unwrap();
    assert!(!project.join("doksiw").exists() && !app.join("doksiw").exists());
    let path = path_without_doksi();
    let found = std::env::split_paths(&path).find(|d| d.join("doksi").exists());
    assert_eq!(found, None);

    let mut cmd = gradle_command(&gradle_bin, &project, &home, Some(&sb));
    cmd.env("PATH", &path).args([
        "--continue",
        ":app:doksiSmokeRelease",
        ":stale:doksiSmokeRelease",
        "-Pdoksi.categories=cat_smoke",
        "-Pdoksi.pollInterval=100ms",
    ]);
    let start = Instant::now();
    let out = run_limited(cmd, Duration::from_secs(300));
    eprintln!("gradle: {:?}", start.elapsed());

    // :app ran the resolved doksi (nothing else could run: no doksiw, no doksi on PATH), which
    // the snippet made executable; the sandbox saw its one run.
    assert_eq!(sb.runs_created(), 1, "{}", out.text);
    assert!(out.text.contains("passed"), "{}", out.text);
    assert!(
        app.join("build/test-results/doksiSmokeRelease/TEST-doksi.xml")
            .is_file(),
        "{}",
        out.text
    );
    assert_eq!(mode() & 0o100, 0o100, "{:o}", mode());
    // :stale failed, saying which artifact it could not find and what to do.
    assert_ne!(out.code, Some(0), "{}", out.text);
    let expected = format!(
        "Cannot resolve doksi 0.0.1 (ai.doksi:doksi:0.0.1:{classifier}@exe) from this build's repositories"
    );
    assert!(
        out.text.contains(&expected),
        "no {expected:?} in\n{}",
        out.text
    );
    assert!(
        out.text.contains("Add a repository that has it")
            && out.text.contains("Could not find ai.doksi:doksi:0.0.1."),
        "{}",
        out.text
    );
    assert!(
        !out.text.contains(&sb.key),
        "the API key reached the build log"
    );
}
