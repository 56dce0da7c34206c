//! Running the binary in a clean environment, reading what it printed, and locating fixtures.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::sandbox::{Sandbox, path_str, unlock_apk};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn apk_fixtures() -> PathBuf {
    fixtures().join("apks")
}

/// Every APK under tests/fixtures/apks, sorted by name.
pub fn fixture_apks() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(apk_fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "apk"))
        .collect();
    v.sort();
    assert!(v.len() >= 11, "fixture APKs missing: {v:?}");
    v
}

/// The oracle file beside an APK: `NAME.apk` → `NAME.<suffix>`.
pub fn oracle(apk: &Path, suffix: &str) -> Option<String> {
    std::fs::read_to_string(apk.with_extension(suffix)).ok()
}

/// `doksi` with nothing inherited but PATH: no DOKSI_* variables, a throwaway HOME.
pub fn doksi(home: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_doksi"));
    c.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        c.env("PATH", path);
    }
    c.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"));
    c
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(args: &[&str]) -> Run {
    run_in(None, args)
}

pub fn run_in(dir: Option<&Path>, args: &[&str]) -> Run {
    let home = tempfile::tempdir().unwrap();
    let mut cmd = doksi(home.path());
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn json(args: &[&str]) -> Value {
    let r = run(args);
    assert_eq!(r.code, 0, "doksi {args:?} failed: {}", r.stderr);
    stdout_json(&r)
}

/// What `doksi` printed on stdout, as JSON, whatever its exit code: a failed run's `--json`
/// prints the run too.
pub fn stdout_json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            r.stdout, r.stderr
        )
    })
}

/// What a `doksi` that exited 0 printed on stdout, as JSON.
pub fn ok_json(r: &Run) -> Value {
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    stdout_json(r)
}

/// Fast retries and polls, so a test's backoff and waiting cost milliseconds.
pub const FAST: [&str; 4] = ["--retry-delay", "10ms", "--poll-interval", "100ms"];

/// Uploads the unlock APK to `sb` and returns its target id.
pub fn target(sb: &Sandbox) -> String {
    let up = ok_json(&sb.run(&["upload", "--json", path_str(&unlock_apk())]));
    up[0]["target_id"].as_str().unwrap().to_owned()
}

/// `doksi ci <the unlock APK> ARGS`, fast.
pub fn ci(sb: &Sandbox, args: &[&str]) -> Run {
    ci_with(sb, args, &[])
}

/// [`ci`] with `env` set too.
pub fn ci_with(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Run {
    let apk = unlock_apk();
    let mut all = vec!["ci", path_str(&apk)];
    all.extend(args);
    all.extend(FAST);
    sb.run_with(&all, env)
}

/// `which`, without a crate.
pub fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// Reads `child`'s stderr (piped) until it has printed `ready`, so a test acts at a known point
/// rather than after a guessed sleep. Returns the reader, for the rest, and what was read.
pub fn stderr_until(
    child: &mut std::process::Child,
    ready: &str,
) -> (std::io::BufReader<std::process::ChildStderr>, String) {
    use std::io::BufRead;
    let mut stderr = std::io::BufReader::new(child.stderr.take().expect("stderr is piped"));
    let mut seen = String::new();
    while !seen.contains(ready) {
        let before = seen.len();
        stderr.read_line(&mut seen).unwrap();
        assert!(
            seen.len() > before,
            "ended before printing {ready:?}: {seen}"
        );
    }
    (stderr, seen)
}

/// `name` on PATH; where it is missing, `None` with a "skipped" note, except under `CI=true`,
/// whose image installs it (`.ci/run`): there a missing tool fails the test.
pub fn needed_tool(name: &str, package: &str) -> Option<PathBuf> {
    needed_tool_from(name, &format!("apt-get install {package}"))
}

/// [`needed_tool`] for a tool that comes from elsewhere than Debian's packages; `install` says
/// how to get it (`pip install check-jsonschema`).
pub fn needed_tool_from(name: &str, install: &str) -> Option<PathBuf> {
    let found = tool(name);
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{name} is not installed, and CI=true needs it ({install})"
        );
        eprintln!("skipped: {name} is not installed ({install})");
    }
    found
}

/// `doksi ARGS` fails with exit 2 and one line on stderr that contains `expect`, and no panic.
pub fn one_line_error(args: &[&str], expect: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(expect),
        "{args:?}: want {expect:?} in {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
}

/// `found`, or, where it is `None`, a "skipped" note saying how to `install` `what`, except
/// under `CI=true`, whose `.ci/run` installs it: there a missing tool fails the test. For what
/// is not a command on PATH (a venv's, a jar); [`needed_tool`] is the same for PATH's.
pub fn needed<T>(found: Option<T>, what: &str, install: &str) -> Option<T> {
    if found.is_none() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "{what} is not installed, and CI=true needs it ({install})"
        );
        eprintln!("skipped: {what} is not installed ({install})");
    }
    found
}

/// Runs `args` against `sb` with stdout and stderr on one file, as `2>&1` in a CI log does, and
/// returns the exit code and what the file holds.
pub fn merged(sb: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let file = std::fs::File::create(&path).unwrap();
    let status = sb
        .command()
        .envs(env.iter().copied())
        .args(args)
        .stdout(std::process::Stdio::from(file.try_clone().unwrap()))
        .stderr(std::process::Stdio::from(file))
        .status()
        .unwrap();
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&path).unwrap(),
    )
}

/// [`ci`] with stdout and stderr on one file, as [`merged`] runs it.
pub fn merged_ci(sb: &Sandbox, args: &[&str]) -> (i32, String) {
    let apk = unlock_apk();
    let mut all = vec!["ci", path_str(&apk)];
    all.extend(args);
    all.extend(FAST);
    merged(sb, &all, &[])
}

/// Starts `doksi ARGS`, waits for a stderr line containing `ready`, sends `signal`, and
/// returns the exit code and all of stderr.
pub fn signal_when(mut cmd: Command, ready: &str, signal: &str) -> (i32, String) {
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let (mut stderr, mut seen) = crate::common::stderr_until(&mut child, ready);
    let sent = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    (code, seen)
}

/// The variables GitHub Actions' runner sets for a step: doksi writes its step outputs to
/// `output` and its job summary to `summary`.
pub fn github_env<'a>(output: &'a Path, summary: &'a Path) -> [(&'a str, &'a str); 3] {
    [
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_OUTPUT", path_str(output)),
        ("GITHUB_STEP_SUMMARY", path_str(summary)),
    ]
}
