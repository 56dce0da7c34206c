//! Output after the work is done: stdout on a full disk, a path that is not UTF-8. Neither may
//! panic, hide a run's verdict, or lose the ids of what was uploaded.

use std::fs::File;
use std::process::Stdio;

use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// `doksi ARGS` against `sb` with stdout on /dev/full, where every write fails with ENOSPC.
fn to_full_disk(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String) {
    let full = File::options().write(true).open("/dev/full").unwrap();
    let out = sb
        .command()
        .args(args)
        .stdout(Stdio::from(full))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[cfg(target_os = "linux")]
#[test]
fn ci_with_stdout_on_a_full_disk_says_so_and_keeps_the_verdict() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let ci = |category| {
        to_full_disk(
            &sb,
            &[
                "ci",
                path_str(&apk),
                "--category",
                category,
                "--poll-interval",
                "100ms",
            ],
        )
    };

    let (code, stderr) = ci("cat_smoke");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The run passed, but its summary went nowhere: that is the command's failure.
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains(": passed"), "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        "doksi: error: cannot write to stdout: No space left on device (os error 28)"
    );

    let (code, stderr) = ci("cat_failing");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(1), "a failed run stays a failed run: {stderr}");
    assert!(
        stderr.contains("doksi: error: cannot write to stdout: No space left on device"),
        "{stderr}"
    );
    assert!(
        stderr
            .lines()
            .last()
            .unwrap()
            .contains("failed: 1 of 1 test failed, 0 passed"),
        "{stderr}"
    );
    assert_eq!(sb.runs_created(), 2);
}

#[cfg(target_os = "linux")]
#[test]
fn every_command_that_prints_survives_a_full_disk() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let package = tempfile::tempdir().unwrap();
    let zip = package.path().join("out.zip");
    for args in [
        vec!["apks", path_str(&apk)],
        vec!["inspect", path_str(&apk)],
        vec!["package", path_str(&apk), "-o", path_str(&zip)],
        vec!["upload", path_str(&apk)],
        vec!["cache", "list"],
        vec!["config"],
        vec!["completions", "bash"],
        vec!["run", "--apk", path_str(&apk), "--test", "t_login"],
    ] {
        let (code, stderr) = to_full_disk(&sb, &args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.ends_with(
                "doksi: error: cannot write to stdout: No space left on device (os error 28)\n"
            ),
            "{args:?}: {stderr}"
        );
    }
}

#[cfg(unix)]
#[test]
fn upload_json_of_a_path_that_is_not_utf8_escapes_it() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join(OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir(&folder).unwrap();
    let apk = folder.join("app.apk");
    std::fs::copy(unlock_apk(), &apk).unwrap();
    let escaped = format!("{}/caf\\xE9/app.apk", path_str(dir.path()));

    let out = sb
        .command()
        .arg("upload")
        .arg("--json")
        .arg(&apk)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let target = v[0]["target_id"].as_str().unwrap();
    assert!(target.starts_with("bin_"), "{v}");
    assert_eq!(v[0]["path"], escaped.as_str());
    assert_eq!(v[0]["cached"], false);

    // Text shows it as the terminal would (U+FFFD); `apks --json` escapes it as upload does.
    let out = sb.command().arg("upload").arg(&apk).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{target}\t{}/caf\u{FFFD}/app.apk\n", path_str(dir.path()))
    );
    let out = sb
        .command()
        .arg("apks")
        .arg("--json")
        .arg(&apk)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["path"], escaped.as_str());
}
