//! The first ten minutes, as a newcomer meets them: the sandbox's line pasted into a shell,
//! the sandbox stopped as a server is, the demo's pointer to one's own build.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use crate::common::{doksi, needed_tool, stderr_until};
use crate::sandbox::{path_str, unlock_apk};

#[test]
fn the_sandbox_line_pasted_into_sh_bash_zsh_and_fish_points_them_at_it() {
    let home = tempfile::tempdir().unwrap();
    let mut child = doksi(home.path())
        .args([
            "sandbox",
            "--port",
            "0",
            "--storage-port",
            "0",
            "--run-step",
            "100ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let said: serde_json::Value = serde_json::from_str(&first).unwrap();
    let (base, key) = (
        said["base_url"].as_str().unwrap(),
        said["api_key"].as_str().unwrap(),
    );
    let (mut rest, seen) = stderr_until(&mut child, "Ctrl-C");
    let line = seen
        .lines()
        .find(|l| l.trim_start().starts_with("export "))
        .unwrap_or_else(|| panic!("no line to paste: {seen}"))
        .trim()
        .to_owned();

    let mut shells = vec![std::path::PathBuf::from("sh"), "bash".into()];
    shells.extend(needed_tool("zsh", "zsh"));
    shells.extend(needed_tool("fish", "fish"));
    for shell in &shells {
        // The line as pasted, then `env`, in a shell that inherits no DOKSI_* variable.
        let out = Command::new(shell)
            .args(["-c", &format!("{line}\nenv")])
            .env_remove("DOKSI_BASE_URL")
            .env_remove("DOKSI_API_KEY")
            .output()
            .unwrap();
        let env = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{shell:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for want in [
            format!("DOKSI_BASE_URL={base}"),
            format!("DOKSI_API_KEY={key}"),
        ] {
            assert!(
                env.lines().any(|l| l == want),
                "{shell:?} lacks {want}: {env}"
            );
        }
    }

    // And used for real: the pasted line, then a run, in one bash.
    let apk = unlock_apk();
    let out = Command::new("bash")
        .args([
            "-c",
            &format!("{line}\nexec \"$0\" ci \"$1\" --category cat_smoke"),
            env!("CARGO_BIN_EXE_doksi"),
            path_str(&apk),
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("XDG_CACHE_HOME", home.path().join(".cache"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("passed"), "{err}");

    // SIGTERM is how a service manager or a CI job stops a server: a normal stop.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let mut tail = String::new();
    rest.read_to_string(&mut tail).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(0), "{tail}");
    assert!(tail.contains("doksi sandbox stopped (SIGTERM)"), "{tail}");
    assert!(!tail.contains("error"), "{tail}");
}

#[test]
fn the_demo_ends_by_saying_how_to_do_the_same_on_ones_own_build() {
    let home = tempfile::tempdir().unwrap();
    let out = doksi(home.path()).arg("demo").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(
        last.contains("doksi sandbox")
            && last.contains("paste the line it prints")
            && last.contains("doksi ci path/to/project --variant release --category cat_smoke"),
        "{err}"
    );
}
