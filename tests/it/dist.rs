//! Installing without Rust: `dist/archive.sh` (release archives, byte for byte reproducible),
//! `doksiw` downloading, verifying and caching a release from a mirror on 127.0.0.1, and the
//! release workflow, checked against GitHub's workflow schema and for its jobs and targets.
//!
//! The archives hold this build's debug binary, labelled as the release target doksiw asks for
//! here: what is tested is the packing and the wrapper, not a release build.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::{needed_tool, needed_tool_from, tool};
use crate::sandbox::path_str;

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
/// 2023-11-14 22:13:20 UTC: the date of every archive these tests make.
const EPOCH: &str = "1700000000";

pub(crate) fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The release target doksiw asks for on this machine: on Linux, the static musl build.
fn this_target() -> String {
    format!("{}-unknown-linux-musl", std::env::consts::ARCH)
}

pub(crate) fn archive_name() -> String {
    format!("doksi-{VERSION}-{}.tar.gz", this_target())
}

fn sh() -> PathBuf {
    tool("sh").unwrap_or_else(|| PathBuf::from("/bin/sh"))
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `dist/archive.sh ARGS` with SOURCE_DATE_EPOCH=`epoch`; the paths it printed.
fn archive_sh(epoch: &str, args: &[&str]) -> Vec<PathBuf> {
    let out = Command::new(repo().join("dist/archive.sh"))
        .env("SOURCE_DATE_EPOCH", epoch)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dist/archive.sh {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).lines().map(PathBuf::from).collect()
}

/// The release these tests serve: this build's doksi packed by dist/archive.sh, once per test
/// process. Test processes running at once (nextest) share the folder: each writes the same
/// bytes, each file by a rename.
pub(crate) struct Release {
    pub(crate) archive: PathBuf,
    pub(crate) sums: PathBuf,
}

pub(crate) fn release() -> &'static Release {
    static RELEASE: OnceLock<Release> = OnceLock::new();
    RELEASE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dist-release");
        std::fs::create_dir_all(&dir).unwrap();
        let dir = dir.canonicalize().unwrap();
        let target = this_target();
        let made = archive_sh(
            EPOCH,
            &[
                "--binary",
                env!("CARGO_BIN_EXE_doksi"),
                "--target",
                &target,
                "--out",
                path_str(&dir),
            ],
        );
        let (archive, sums) = (dir.join(archive_name()), dir.join("SHA256SUMS"));
        assert_eq!(made, vec![archive.clone(), sums.clone()]);
        Release { archive, sums }
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A release mirror on 127.0.0.1.

/// Request paths in arrival order, and a signal for each arrival.
type Seen = Arc<(Mutex<Vec<String>>, Condvar)>;

/// Serves `files` (URL path → bytes), 404 for anything else, and logs each request's path.
/// With `gate` n, it holds every answer until n requests have come in (or 20 s went by), so n
/// clients are downloading at the same time.
pub(crate) struct Mirror {
    pub(crate) url: String,
    seen: Seen,
}

impl Mirror {
    pub(crate) fn serve(files: Vec<(String, Vec<u8>)>, gate: usize) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Seen = Arc::default();
        let files: Arc<BTreeMap<String, Vec<u8>>> = Arc::new(files.into_iter().collect());
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (files, log) = (files.clone(), log.clone());
                std::thread::spawn(move || answer(stream, &files, &log, gate));
            }
        });
        Mirror { url, seen }
    }

    /// A mirror with this release's archive at its place, `/v<version>/<archive>`.
    pub(crate) fn of(archive: Vec<u8>, gate: usize) -> Mirror {
        Mirror::serve(
            vec![(format!("/v{VERSION}/{}", archive_name()), archive)],
            gate,
        )
    }

    pub(crate) fn requests(&self) -> Vec<String> {
        self.seen.0.lock().unwrap().clone()
    }
}

fn answer(stream: TcpStream, files: &BTreeMap<String, Vec<u8>>, seen: &Seen, gate: usize) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
            break;
        }
    }
    let (log, arrived) = &**seen;
    let mut requests = log.lock().unwrap();
    requests.push(path.clone());
    arrived.notify_all();
    let (requests, _) = arrived
        .wait_timeout_while(requests, Duration::from_secs(20), |r| r.len() < gate)
        .unwrap();
    drop(requests);
    let mut stream = reader.into_inner();
    let (status, body) = match files.get(&path) {
        Some(body) => ("200 OK", body.as_slice()),
        None => ("404 Not Found", &b""[..]),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(body);
}

/// A URL where nothing listens: a port just bound on 127.0.0.1 and given back.
fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    url
}

// ---------------------------------------------------------------------------------------------
// doksiw in a project of its own.

/// A project folder with a copy of doksiw, pinned by its own `--update` to a SHA256SUMS, and a
/// TMPDIR of its own beside it, to see that nothing is left there.
struct Project {
    root: tempfile::TempDir,
}

impl Project {
    fn pinned_to(sums: &Path) -> Project {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proj")).unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let p = Project { root };
        std::fs::copy(
            repo().join("gradle-wrapper-snippet/doksiw"),
            p.dir().join("doksiw"),
        )
        .unwrap();
        let out = p.run(&dead_url(), &[], &["--update", path_str(sums)]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        p
    }

    fn dir(&self) -> PathBuf {
        self.root.path().canonicalize().unwrap().join("proj")
    }

    fn script(&self) -> PathBuf {
        self.dir().join("doksiw")
    }

    fn tmp(&self) -> PathBuf {
        self.root.path().join("tmp")
    }

    fn install(&self) -> PathBuf {
        self.dir().join(".doksi").join(VERSION)
    }

    /// `sh doksiw ARGS` with nothing inherited but PATH (`front` first, then this process's
    /// PATH less any folder with a doksi in it), and DOKSI_DIST_URL=`url`.
    fn command(&self, url: &str, front: &[&Path], args: &[&str]) -> Command {
        let inherited = std::env::var_os("PATH").unwrap_or_default();
        let path: Vec<PathBuf> = front
            .iter()
            .map(|p| p.to_path_buf())
            .chain(std::env::split_paths(&inherited).filter(|d| !d.join("doksi").exists()))
            .collect();
        let mut cmd = Command::new(sh());
        cmd.env_clear()
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", self.root.path())
            .env("TMPDIR", self.tmp())
            .env("DOKSI_DIST_URL", url)
            .current_dir(self.dir())
            .arg(self.script())
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, url: &str, front: &[&Path], args: &[&str]) -> Output {
        self.command(url, front, args).output().unwrap()
    }

    /// Nothing installed and nothing left behind: no .doksi/ at all, an empty TMPDIR.
    fn assert_nothing_kept(&self) {
        assert!(
            !self.dir().join(".doksi").exists(),
            "left behind: {:?}",
            walk(&self.dir().join(".doksi"))
        );
        assert_eq!(walk(&self.tmp()), Vec::<String>::new(), "left in TMPDIR");
    }
}

/// Every path under `dir`, relative to it, sorted.
pub(crate) fn walk(dir: &Path) -> Vec<String> {
    let mut found: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| path_str(e.path().strip_prefix(dir).unwrap()).to_owned())
        .collect();
    found.sort();
    found
}

/// doksiw exited 127 with one line on stderr, `doksiw: ` then something containing `expect`.
fn one_line_127(out: &Output, expect: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{stderr}");
    assert_eq!(text(&out.stdout), "", "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("doksiw: "), "{stderr}");
    assert!(stderr.contains(expect), "want {expect:?} in {stderr}");
}

fn needs_curl() -> bool {
    needed_tool("curl", "curl").is_some()
}

#[test]
fn doksiw_downloads_verifies_and_then_runs_the_installed_doksi() {
    if !needs_curl() {
        return;
    }
    let release = release();
    let mirror = Mirror::of(std::fs::read(&release.archive).unwrap(), 1);
    let project = Project::pinned_to(&release.sums);

    let started = Instant::now();
    let first = project.run(&mirror.url, &[], &["--version"]);
    let cold = started.elapsed();
    assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
    assert_eq!(text(&first.stdout), format!("doksi {VERSION}\n"));
    assert!(
        text(&first.stderr).contains("checked against its pinned SHA-256"),
        "{}",
        text(&first.stderr)
    );
    assert_eq!(
        mirror.requests(),
        vec![format!("/v{VERSION}/{}", archive_name())]
    );
    assert_eq!(
        walk(&project.dir().join(".doksi")),
        [
            VERSION.to_owned(),
            format!("{VERSION}/LICENSE-APACHE"),
            format!("{VERSION}/LICENSE-MIT"),
            format!("{VERSION}/README.md"),
            format!("{VERSION}/doksi"),
        ]
    );
    assert_eq!(
        std::fs::read(project.install().join("doksi")).unwrap(),
        std::fs::read(env!("CARGO_BIN_EXE_doksi")).unwrap()
    );
    assert_eq!(walk(&project.tmp()), Vec::<String>::new());
    eprintln!("cold doksiw --version against 127.0.0.1: {cold:?}");

    let second = project.run(&mirror.url, &[], &["--version"]);
    assert_eq!(second.status.code(), Some(0), "{}", text(&second.stderr));
    assert_eq!(text(&second.stdout), format!("doksi {VERSION}\n"));
    assert_eq!(text(&second.stderr), "", "the second run says nothing");
    assert_eq!(
        mirror.requests().len(),
        1,
        "the second run downloaded again"
    );
}

#[test]
fn doksiw_refuses_a_tampered_archive_and_keeps_nothing() {
    if !needs_curl() {
        return;
    }
    let release = release();
    let mut tampered = std::fs::read(&release.archive).unwrap();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    let mirror = Mirror::of(tampered, 1);
    let project = Project::pinned_to(&release.sums);
    let out = project.run(&mirror.url, &[], &["--version"]);
    one_line_127(&out, "deleted, not run");
    assert!(text(&out.stderr).contains(&format!(
        "pins {}",
        sha256_hex(&std::fs::read(&release.archive).unwrap())
    )));
    assert_eq!(mirror.requests().len(), 1);
    project.assert_nothing_kept();
}

#[test]
fn doksiw_on_an_unknown_platform_or_windows_says_what_to_do() {
    let release = release();
    let mirror = Mirror::of(std::fs::read(&release.archive).unwrap(), 1);
    let project = Project::pinned_to(&release.sums);
    let fake = tempfile::tempdir().unwrap();
    for (os, arch, expect) in [
        (
            "Plan9",
            "x86_64",
            "no doksi build for this platform (Plan9 x86_64)",
        ),
        (
            "Linux",
            "riscv64",
            "no doksi build for this platform (Linux riscv64)",
        ),
        (
            "MINGW64_NT-10.0-19045",
            "x86_64",
            "x86_64-pc-windows-msvc.zip",
        ),
    ] {
        let uname = fake.path().join("uname");
        std::fs::write(
            &uname,
            format!("#!/bin/sh\ncase $1 in -s) echo '{os}' ;; -m) echo '{arch}' ;; esac\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = project.run(&mirror.url, &[fake.path()], &["--version"]);
        one_line_127(&out, expect);
    }
    assert_eq!(mirror.requests(), Vec::<String>::new());
    project.assert_nothing_kept();
}

#[test]
fn doksiw_with_a_dead_server_or_a_missing_file_says_so() {
    if !needs_curl() {
        return;
    }
    let release = release();
    let project = Project::pinned_to(&release.sums);
    let dead = project.run(&dead_url(), &[], &["--version"]);
    one_line_127(&dead, "(cannot connect to the server)");
    assert!(text(&dead.stderr).contains("DOKSI_DIST_URL"));
    project.assert_nothing_kept();

    let empty = Mirror::serve(Vec::new(), 1);
    let missing = project.run(&empty.url, &[], &["--version"]);
    one_line_127(&missing, "(the server answered HTTP 404)");
    assert_eq!(empty.requests().len(), 1);
    project.assert_nothing_kept();
}

#[test]
fn doksiw_without_a_hash_for_this_platform_downloads_nothing() {
    let other = tempfile::tempdir().unwrap();
    let sums = other.path().join("SHA256SUMS");
    std::fs::write(
        &sums,
        format!(
            "{}  doksi-{VERSION}-aarch64-apple-darwin.tar.gz\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    let project = Project::pinned_to(&sums);
    let mirror = Mirror::of(std::fs::read(&release().archive).unwrap(), 1);
    let out = project.run(&mirror.url, &[], &["--version"]);
    one_line_127(
        &out,
        &format!("pins no SHA-256 for {}: run ", archive_name()),
    );
    assert!(text(&out.stderr).contains(&format!("--update {VERSION}")));
    assert_eq!(mirror.requests(), Vec::<String>::new());
    project.assert_nothing_kept();
}

#[test]
fn two_doksiw_started_at_once_both_succeed_and_leave_one_install() {
    if !needs_curl() {
        return;
    }
    let release = release();
    // Neither gets an answer before both have asked: both download, both rename into place.
    let mirror = Mirror::of(std::fs::read(&release.archive).unwrap(), 2);
    let project = Project::pinned_to(&release.sums);
    let children: Vec<_> = (0..2)
        .map(|_| {
            project
                .command(&mirror.url, &[], &["--version"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        assert_eq!(text(&out.stdout), format!("doksi {VERSION}\n"));
    }
    assert_eq!(mirror.requests().len(), 2, "both downloaded at once");
    assert_eq!(
        walk(&project.dir().join(".doksi")),
        [
            VERSION.to_owned(),
            format!("{VERSION}/LICENSE-APACHE"),
            format!("{VERSION}/LICENSE-MIT"),
            format!("{VERSION}/README.md"),
            format!("{VERSION}/doksi"),
        ]
    );
    assert_eq!(walk(&project.tmp()), Vec::<String>::new());
    let again = project.run(&mirror.url, &[], &["--version"]);
    assert_eq!(text(&again.stdout), format!("doksi {VERSION}\n"));
    assert_eq!(mirror.requests().len(), 2);
}

/// The lines of doksiw that are not its pin (DOKSI_VERSION and the SHA256SUMS block).
fn unpinned_lines(script: &str) -> Vec<&str> {
    let mut in_sums = false;
    script
        .lines()
        .filter(|l| {
            if *l == "DOKSI_SHA256SUMS='" {
                in_sums = true;
                return false;
            }
            if in_sums {
                in_sums = *l != "'";
                return false;
            }
            !l.starts_with("DOKSI_VERSION=")
        })
        .collect()
}

#[test]
fn doksiw_update_pins_a_release_from_its_sha256sums() {
    let a = "0a".repeat(32);
    let b = "1b".repeat(32);
    let c = "2c".repeat(32);
    let sums = format!(
        "{a}  doksi-0.2.0-x86_64-unknown-linux-musl.tar.gz\n\
         {b} *doksi-0.2.0-aarch64-apple-darwin.tar.gz\n\
         {c}  doksi-0.2.0-x86_64-pc-windows-msvc.zip\n\
         {a}  doksi-0.2.0.pom\n"
    );
    let pinned = format!(
        "DOKSI_VERSION=0.2.0\n\
         # The SHA-256 of each platform's archive, as the release's SHA256SUMS lists them.\n\
         DOKSI_SHA256SUMS='\n\
         {a}  doksi-0.2.0-x86_64-unknown-linux-musl.tar.gz\n\
         {b}  doksi-0.2.0-aarch64-apple-darwin.tar.gz\n\
         {c}  doksi-0.2.0-x86_64-pc-windows-msvc.zip\n\
         '\n"
    );
    let original = std::fs::read_to_string(repo().join("gradle-wrapper-snippet/doksiw")).unwrap();

    // From a file.
    let file = tempfile::tempdir().unwrap();
    std::fs::write(file.path().join("SHA256SUMS"), &sums).unwrap();
    let project = Project::pinned_to(&file.path().join("SHA256SUMS"));
    let updated = std::fs::read_to_string(project.script()).unwrap();
    assert!(updated.contains(&pinned), "{updated}");
    assert_eq!(unpinned_lines(&updated), unpinned_lines(&original));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(project.script())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755, "{mode:o}");
    assert_eq!(walk(&project.dir()), ["doksiw"]);

    // From the mirror, by version: DOKSI_DIST_URL/v0.2.0/SHA256SUMS.
    let mirror = Mirror::serve(vec![("/v0.2.0/SHA256SUMS".into(), sums.into_bytes())], 1);
    std::fs::write(project.script(), &original).unwrap();
    let out = project.run(&mirror.url, &[], &["--update", "0.2.0"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        format!(
            "doksiw: pinned doksi 0.2.0, 3 archive(s), in {}\n",
            path_str(&project.script())
        )
    );
    assert!(
        std::fs::read_to_string(project.script())
            .unwrap()
            .contains(&pinned)
    );
    assert_eq!(mirror.requests(), ["/v0.2.0/SHA256SUMS"]);

    // What is not a release's SHA256SUMS changes nothing.
    let before = std::fs::read_to_string(project.script()).unwrap();
    for (bad, expect) in [
        (
            format!(
                "{}  doksi-0.3.0-x86_64-apple-darwin.tar.gz\n",
                "zz".repeat(32)
            ),
            "not a SHA256SUMS line",
        ),
        (
            format!(
                "{a}  doksi-0.3.0-x86_64-apple-darwin.tar.gz\n{b}  doksi-0.4.0-x86_64-apple-darwin.tar.gz\n"
            ),
            "lists two versions, 0.3.0 and 0.4.0",
        ),
        (
            "<html>rate limited</html>\n".to_owned(),
            "not a SHA256SUMS line",
        ),
        (format!("{a}  notes.txt\n"), "lists no doksi archive"),
    ] {
        std::fs::write(file.path().join("SHA256SUMS"), &bad).unwrap();
        let out = project.run(
            &dead_url(),
            &[],
            &["--update", path_str(&file.path().join("SHA256SUMS"))],
        );
        one_line_127(&out, expect);
        assert_eq!(std::fs::read_to_string(project.script()).unwrap(), before);
        assert_eq!(walk(&project.dir()), ["doksiw"]);
    }
}

// ---------------------------------------------------------------------------------------------
// dist/archive.sh.

/// `tar -tv` of an archive, in UTC with numeric owners.
fn tar_listing(archive: &Path) -> String {
    let out = Command::new("tar")
        .env("TZ", "UTC")
        .args(["--numeric-owner", "-tvzf"])
        .arg(archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn archive_script_gives_the_same_bytes_twice_and_its_binary_runs() {
    let release = release();
    let again = tempfile::tempdir().unwrap();
    let dir = again.path().canonicalize().unwrap();
    let made = archive_sh(
        EPOCH,
        &[
            "--binary",
            env!("CARGO_BIN_EXE_doksi"),
            "--target",
            &this_target(),
            "--out",
            path_str(&dir),
        ],
    );
    assert_eq!(made, [dir.join(archive_name()), dir.join("SHA256SUMS")]);
    let first = std::fs::read(&release.archive).unwrap();
    assert!(
        first == std::fs::read(&made[0]).unwrap(),
        "the second archive differs from the first"
    );
    assert_eq!(
        std::fs::read_to_string(&release.sums).unwrap(),
        format!("{}  {}\n", sha256_hex(&first), archive_name())
    );
    assert_eq!(
        std::fs::read(&made[1]).unwrap(),
        std::fs::read(&release.sums).unwrap()
    );

    // Sorted entries, owner 0, the epoch's date, modes 755 and 644, under one folder.
    let top = format!("doksi-{VERSION}-{}", this_target());
    let listing = tar_listing(&release.archive);
    let entries: Vec<(String, String)> = listing
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 6, "{l}");
            assert_eq!(f[1], "0/0", "{l}");
            assert_eq!((f[3], f[4]), ("2023-11-14", "22:13"), "{l}");
            (f[5].to_owned(), f[0].to_owned())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("/", "drwxr-xr-x"),
        ("/LICENSE-APACHE", "-rw-r--r--"),
        ("/LICENSE-MIT", "-rw-r--r--"),
        ("/README.md", "-rw-r--r--"),
        ("/doksi", "-rwxr-xr-x"),
    ]
    .iter()
    .map(|(name, mode)| (format!("{top}{name}"), mode.to_string()))
    .collect();
    assert_eq!(entries, want);

    // The packed binary runs.
    let out = Command::new("tar")
        .args(["-xzf"])
        .arg(&release.archive)
        .arg("-C")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let version = Command::new(dir.join(&top).join("doksi"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(text(&version.stdout), format!("doksi {VERSION}\n"));

    // Another SOURCE_DATE_EPOCH, other bytes: the date is the epoch's, not the files'.
    let later = tempfile::tempdir().unwrap();
    let other = archive_sh(
        "1800000000",
        &[
            "--binary",
            env!("CARGO_BIN_EXE_doksi"),
            "--target",
            &this_target(),
            "--out",
            path_str(later.path()),
        ],
    );
    assert!(std::fs::read(&other[0]).unwrap() != first);
    assert!(tar_listing(&other[0]).contains("2027-01-15 08:00"));
}

#[test]
fn windows_archives_are_reproducible_zips_with_doksi_exe() {
    if needed_tool("zip", "zip").is_none() || needed_tool("unzip", "unzip").is_none() {
        return;
    }
    // Any file stands for doksi.exe: what is tested is the packing.
    let stand_in = repo().join("LICENSE-MIT");
    let name = format!("doksi-{VERSION}-x86_64-pc-windows-msvc");
    let mut zips = Vec::new();
    for _ in 0..2 {
        let out = tempfile::tempdir().unwrap();
        let made = archive_sh(
            EPOCH,
            &[
                "--binary",
                path_str(&stand_in),
                "--target",
                "x86_64-pc-windows-msvc",
                "--out",
                path_str(out.path()),
            ],
        );
        assert_eq!(made.len(), 2, "{made:?}");
        assert!(made[0].ends_with(format!("{name}.zip")), "{made:?}");
        let sums = std::fs::read_to_string(&made[1]).unwrap();
        let bytes = std::fs::read(&made[0]).unwrap();
        assert_eq!(sums, format!("{}  {name}.zip\n", sha256_hex(&bytes)));
        let listing = Command::new("unzip")
            .env("TZ", "UTC")
            .arg("-Z")
            .arg(&made[0])
            .output()
            .unwrap();
        let listing = text(&listing.stdout);
        let names: Vec<&str> = listing
            .lines()
            .filter(|l| l.starts_with('-') || l.starts_with('d'))
            .filter_map(|l| l.split_whitespace().last())
            .collect();
        assert_eq!(
            names,
            [
                format!("{name}/"),
                format!("{name}/LICENSE-APACHE"),
                format!("{name}/LICENSE-MIT"),
                format!("{name}/README.md"),
                format!("{name}/doksi.exe"),
            ]
        );
        assert!(listing.contains("23-Nov-14 22:13"), "{listing}");
        zips.push(bytes);
    }
    assert!(zips[0] == zips[1], "the second zip differs from the first");
}

// ---------------------------------------------------------------------------------------------
// The release workflow.

fn workflow_path() -> PathBuf {
    repo().join(".github/workflows/release.yml")
}

/// check-jsonschema's verdict on `file` against one of the schemas it vendors (`schema`:
/// `vendor.github-workflows`, `vendor.github-actions`, `vendor.gitlab-ci`).
pub(crate) fn check_jsonschema(checker: &Path, schema: &str, file: &Path) -> Output {
    Command::new(checker)
        .args(["--builtin-schema", schema])
        .arg(file)
        .output()
        .unwrap()
}

#[test]
fn release_workflow_passes_githubs_workflow_schema() {
    let Some(checker) = needed_tool_from(
        "check-jsonschema",
        "pip install check-jsonschema; .ci/run installs it",
    ) else {
        return;
    };
    let ok = check_jsonschema(&checker, "vendor.github-workflows", &workflow_path());
    assert!(
        ok.status.success(),
        "{}{}",
        text(&ok.stdout),
        text(&ok.stderr)
    );

    // The same check refuses what GitHub would refuse: a step list misspelt.
    let workflow = std::fs::read_to_string(workflow_path()).unwrap();
    let broken_dir = tempfile::tempdir().unwrap();
    let broken = broken_dir.path().join("release.yml");
    std::fs::write(&broken, workflow.replacen("    steps:\n", "    step:\n", 1)).unwrap();
    let refused = check_jsonschema(&checker, "vendor.github-workflows", &broken);
    assert!(!refused.status.success(), "{}", text(&refused.stdout));
}

fn workflow() -> Yaml {
    let text = std::fs::read_to_string(workflow_path()).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

/// The `target` of each entry of a job's matrix.
fn matrix_targets(job: &Yaml) -> BTreeSet<String> {
    job["strategy"]["matrix"]["include"]
        .as_vec()
        .expect("a matrix with include")
        .iter()
        .map(|e| e["target"].as_str().unwrap().to_owned())
        .collect()
}

/// A job's `needs`, one name or a list.
fn needs(job: &Yaml) -> BTreeSet<String> {
    match &job["needs"] {
        Yaml::String(one) => BTreeSet::from([one.clone()]),
        Yaml::Array(list) => list
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect(),
        _ => BTreeSet::new(),
    }
}

/// What a job's steps run and use, one line each.
fn steps(job: &Yaml) -> String {
    job["steps"]
        .as_vec()
        .expect("steps")
        .iter()
        .flat_map(|s| [s["uses"].as_str(), s["run"].as_str()])
        .flatten()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn release_workflow_builds_five_platforms_and_publishes_archives_wheels_and_maven() {
    let w = workflow();
    assert_eq!(w["on"]["push"]["tags"][0].as_str(), Some("v*"));
    let jobs: BTreeSet<&str> = w["jobs"]
        .as_hash()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        BTreeSet::from([
            "version",
            "build",
            "archives",
            "pin",
            "github-release",
            "wheels",
            "sdist",
            "pypi",
            "maven"
        ])
    );
    let job = |name: &str| w["jobs"][name].clone();

    let archive_targets = BTreeSet::from([
        "x86_64-unknown-linux-musl".to_owned(),
        "aarch64-unknown-linux-musl".to_owned(),
        "x86_64-apple-darwin".to_owned(),
        "aarch64-apple-darwin".to_owned(),
        "x86_64-pc-windows-msvc".to_owned(),
    ]);
    let build = job("build");
    assert_eq!(matrix_targets(&build), archive_targets);
    for entry in build["strategy"]["matrix"]["include"].as_vec().unwrap() {
        let target = entry["target"].as_str().unwrap();
        let (os, zig) = match target {
            t if t.ends_with("-linux-musl") => ("ubuntu-latest", true),
            t if t.ends_with("-apple-darwin") => ("macos-latest", false),
            _ => ("windows-latest", false),
        };
        assert_eq!(entry["os"].as_str(), Some(os), "{target}");
        assert_eq!(entry["zigbuild"].as_bool(), Some(zig), "{target}");
    }
    assert!(steps(&build).contains("cargo zigbuild --release --locked --target"));

    let archives = job("archives");
    assert_eq!(
        needs(&archives),
        BTreeSet::from(["version".into(), "build".into()])
    );
    assert!(
        steps(&archives)
            .contains("dist/archive.sh --binary \"$bin\" --target \"$target\" --out out")
    );

    // The tag is moved onto the commit that pins this release before the release is made.
    let pin = job("pin");
    assert_eq!(
        needs(&pin),
        BTreeSet::from(["version".into(), "archives".into()])
    );
    assert_eq!(pin["permissions"]["contents"].as_str(), Some("write"));
    let pinning = steps(&pin);
    assert!(
        pinning.contains("dist/pin.sh release/SHA256SUMS"),
        "{pinning}"
    );
    assert!(
        pinning.contains("git push -f origin \"refs/tags/$GITHUB_REF_NAME\""),
        "{pinning}"
    );
    let release = job("github-release");
    assert_eq!(
        needs(&release),
        BTreeSet::from(["version".into(), "archives".into(), "pin".into()])
    );
    assert_eq!(release["permissions"]["contents"].as_str(), Some("write"));
    assert!(steps(&release).contains(
        "gh release upload \"$GITHUB_REF_NAME\" --clobber doksi-\"$VERSION\"-* SHA256SUMS"
    ));

    let wheels = job("wheels");
    assert_eq!(
        matrix_targets(&wheels),
        BTreeSet::from([
            "x86_64-unknown-linux-gnu".to_owned(),
            "aarch64-unknown-linux-gnu".to_owned(),
            "x86_64-apple-darwin".to_owned(),
            "aarch64-apple-darwin".to_owned(),
            "x86_64-pc-windows-msvc".to_owned(),
        ])
    );
    assert!(steps(&wheels).contains("PyO3/maturin-action@v1"));
    let pypi = job("pypi");
    assert!(needs(&pypi).is_superset(&BTreeSet::from([
        "github-release".into(),
        "wheels".into(),
        "sdist".into()
    ])));
    assert!(steps(&pypi).contains("pypa/gh-action-pypi-publish@release/v1"));
    assert_eq!(pypi["permissions"]["id-token"].as_str(), Some("write"));

    let maven = job("maven");
    assert!(needs(&maven).contains("github-release"));
    let run = steps(&maven);
    assert!(
        run.contains("dist/maven.sh --version \"$VERSION\" --out maven"),
        "{run}"
    );
    for (target, classifier) in [
        ("x86_64-unknown-linux-musl", "doksi:linux-x86_64"),
        ("aarch64-unknown-linux-musl", "doksi:linux-aarch_64"),
        ("x86_64-apple-darwin", "doksi:osx-x86_64"),
        ("aarch64-apple-darwin", "doksi:osx-aarch_64"),
        ("x86_64-pc-windows-msvc", "doksi.exe:windows-x86_64"),
    ] {
        let arg = format!("\"release/doksi-$VERSION-{target}/{classifier}\"");
        assert!(run.contains(&arg), "maven.sh is not given {arg}");
    }
    let deploy = maven["steps"]
        .as_vec()
        .unwrap()
        .iter()
        .find(|s| {
            s["run"]
                .as_str()
                .is_some_and(|r| r.contains("central.sonatype.com"))
        })
        .expect("a step that uploads to Maven Central");
    for secret in [
        "MAVEN_GPG_PRIVATE_KEY",
        "CENTRAL_TOKEN_USER",
        "CENTRAL_TOKEN_PASSWORD",
    ] {
        assert_eq!(
            deploy["env"][secret].as_str(),
            Some(format!("${{{{ secrets.{secret} }}}}").as_str()),
            "{secret}"
        );
    }
}
