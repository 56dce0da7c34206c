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

#[test]
fn a_usage_error_is_one_line_that_names_where_the_value_came_from() {
    let home = tempfile::tempdir().unwrap();
    let fails = |args: &[&str], env: &[(&str, &str)]| -> String {
        let out = doksi(home.path())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {err}");
        assert!(err.lines().count() <= 2, "{args:?} {env:?}: {err}");
        assert!(!err.contains("For more information"), "{err}");
        err
    };
    // From the environment: the variable is named, never a flag nobody typed.
    for (var, value, args) in [
        ("DOKSI_TIMEOUT", "soon", &["wait", "run_1"][..]),
        ("DOKSI_RETRIES", "x", &["ci"][..]),
        ("DOKSI_NOTIFY_ON", "sometimes", &["ci"][..]),
    ] {
        let err = fails(args, &[(var, value)]);
        assert!(
            err.starts_with(&format!(
                "doksi: error: invalid {var} (from the environment): "
            )),
            "{err}"
        );
        assert!(!err.contains("--"), "{err}");
    }
    // A secret's variable is named; its value is not repeated.
    let hook = "http://hooks.example.com/services/T0SECRET/B0SECRET/xyzsecret";
    let err = fails(&["ci"], &[("DOKSI_NOTIFY_URL", hook)]);
    assert!(
        err.starts_with("doksi: error: invalid DOKSI_NOTIFY_URL (from the environment): "),
        "{err}"
    );
    assert!(!err.contains("SECRET"), "{err}");
    // The flag when it was typed, also over a variable.
    let err = fails(
        &["wait", "run_1", "--timeout", "soon"],
        &[("DOKSI_TIMEOUT", "5m")],
    );
    assert!(
        err.starts_with("doksi: error: invalid --timeout: \"soon\" is not a duration"),
        "{err}"
    );
    let err = fails(&["wait", "run_1", "--timeout=soon"], &[]);
    assert!(
        err.starts_with("doksi: error: invalid --timeout: "),
        "{err}"
    );
    // A typo'd flag or command: what to type instead.
    assert_eq!(
        fails(&["ci", "--catgory", "cat_smoke"], &[]),
        "doksi: error: unknown flag --catgory; did you mean --category?\n"
    );
    assert_eq!(
        fails(&["statsu"], &[]),
        "doksi: error: unknown command statsu; did you mean status?\n"
    );
    // doksi.toml: its file and line.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doksi.toml"), "\ntimeout = \"soon\"\n").unwrap();
    let out = doksi(home.path())
        .arg("ci")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with("doksi: error: ")
            && err.contains("doksi.toml: line 2")
            && err.contains("`timeout`"),
        "{err}"
    );
}

#[test]
fn on_a_flavored_app_variant_release_says_which_variants_to_type() {
    let sb = crate::sandbox::Sandbox::start(&[]);
    let project = tempfile::tempdir().unwrap();
    for flavor in ["free", "paid"] {
        let dir = project
            .path()
            .join(format!("app/build/outputs/apk/{flavor}/release"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(unlock_apk(), dir.join(format!("app-{flavor}-release.apk"))).unwrap();
    }
    let root = path_str(project.path());
    let r = sb.run(&[
        "ci",
        root,
        "--variant",
        "release",
        "--category",
        "cat_smoke",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "doksi: error: --variant release matches several variants of app (freeRelease, paidRelease): \
         type --variant freeRelease or --variant paidRelease, or --all-variants to run on each\n"
    );
    assert_eq!(sb.total(), 0, "nothing sent: {}", sb.requests());
    // What it says to type works.
    let r = sb.run(&[
        "ci",
        root,
        "--variant",
        "freeRelease",
        "--category",
        "cat_smoke",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = sb.run(&[
        "ci",
        root,
        "--variant",
        "release",
        "--all-variants",
        "--category",
        "cat_smoke",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn each_command_shows_the_flags_that_apply_described_for_it() {
    let help = |cmd: &str| crate::common::run(&[cmd, "--help"]).stdout;
    for cmd in ["ci", "run"] {
        let h = help(cmd);
        assert!(!h.contains("--include-tests"), "{cmd} refuses it: {h}");
        assert!(h.contains("--all-variants"), "{cmd}: {h}");
    }
    for cmd in ["apks", "upload"] {
        let h = help(cmd);
        assert!(
            !h.contains("--all-variants"),
            "{cmd} takes every variant anyway: {h}"
        );
        assert!(h.contains("--include-tests"), "{cmd}: {h}");
    }
    let h = help("sandbox");
    assert!(h.contains("Print each request served"), "{h}");
    for other in ["passed tests", "run summary", "live results"] {
        assert!(!h.contains(other), "sandbox --help speaks of {other}: {h}");
    }
    for cmd in ["apks", "inspect", "upload", "cache", "config"] {
        let h = help(cmd);
        assert!(!h.contains("run summary"), "{cmd}: {h}");
        assert!(!h.contains("ci and run:"), "{cmd}: {h}");
    }
    // --attempts names every status the retry table (docs/reliability.md) retries.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reliability.md"))
            .unwrap();
    let table: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with('|') && l.contains("| retried"))
        .collect();
    assert!(table.len() >= 3, "{table:?}");
    let h = help("ci");
    let attempts = h
        .lines()
        .skip_while(|l| !l.contains("--attempts"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    for row in table {
        for code in row
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| w.len() == 3 && (w.starts_with('4') || w.starts_with('5')))
        {
            assert!(
                attempts.contains(code),
                "--attempts lacks {code}: {attempts}"
            );
        }
    }
}

#[test]
fn rehearsing_failures_is_told_in_both_the_help_and_the_docs() {
    let help = crate::common::run(&["sandbox", "--help"]).stdout;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/sandbox.md")).unwrap();
    for both in [
        "cat_smoke",
        "cat_regression",
        "cat_failing",
        "cat_flaky",
        "fail_payment",
        "flaky_cart",
        "ROUTE=FAULT[xCOUNT]",
        "/_sandbox/faults",
        "reset-mid-body",
        "sandbox start",
    ] {
        assert!(help.contains(both), "sandbox --help lacks {both}: {help}");
        assert!(readme.contains(both), "docs/sandbox.md lacks {both}");
    }
    // The syntax the help gives is what the sandbox takes.
    let sb = crate::sandbox::Sandbox::start(&[
        "--fault",
        "POST /runs=503x2",
        "--fault",
        "GET /runs=429:5",
    ]);
    let plan: serde_json::Value =
        serde_json::from_slice(&crate::sandbox::get(&format!("{}/faults", sb.admin_url))).unwrap();
    assert_eq!(plan["pending"].as_array().map(Vec::len), Some(2), "{plan}");
    crate::sandbox::post_json(
        &format!("{}/faults", sb.admin_url),
        &serde_json::json!({"route": "POST /runs", "fault": "503", "count": 2}),
    );
    let plan: serde_json::Value =
        serde_json::from_slice(&crate::sandbox::get(&format!("{}/faults", sb.admin_url))).unwrap();
    assert_eq!(plan["pending"].as_array().map(Vec::len), Some(3), "{plan}");
}

#[test]
fn a_junit_path_that_cannot_be_written_is_told_plainly_before_anything_is_sent() {
    let sb = crate::sandbox::Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("reports");
    std::fs::write(&file, "a file where a folder is meant").unwrap();
    let apk = unlock_apk();
    for junit in [file.join("doksi.xml"), file.join("deeper/doksi.xml")] {
        let r = sb.run(&[
            "ci",
            path_str(&apk),
            "--category",
            "cat_smoke",
            "--junit",
            path_str(&junit),
        ]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(
            r.stderr,
            format!(
                "doksi: error: cannot write the JUnit report {}: {} is a file, not a folder\n",
                junit.display(),
                file.display()
            )
        );
    }
    // Where the OS refuses, its words, without the temporary file doksi tried.
    let r = sb.run(&[
        "ci",
        path_str(&apk),
        "--category",
        "cat_smoke",
        "--junit",
        "/proc/doksi.xml",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .starts_with("doksi: error: cannot write the JUnit report /proc/doksi.xml: "),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains(".doksi-junit") && !r.stderr.contains("at path"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.total(), 0, "{}", sb.requests());
}

/// Every file under `dir` ending in `.rs`, with its text.
fn rust_sources(dir: &std::path::Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push((path, text));
        }
    }
    out
}

#[test]
fn the_man_page_lists_every_variable_the_code_reads() {
    let dir = tempfile::tempdir().unwrap();
    let r = crate::common::run(&["man", path_str(dir.path())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(dir.path().join("doksi.1")).unwrap();
    let environment = page
        .split(".SH ENVIRONMENT")
        .nth(1)
        .and_then(|s| s.split(".SH ").next())
        .unwrap_or_else(|| panic!("no ENVIRONMENT section: {page}"));
    let listed = |name: &str| environment.contains(&format!("\\fB{name}\\fR"));

    // Every read in the code: through `environment` by a literal name, or (cli.rs only) a
    // setting's variable as clap declares it.
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut read = Vec::new();
    for (path, text) in rust_sources(&src) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        if !matches!(name.as_str(), "environment.rs" | "cli.rs") {
            assert!(
                !code.contains("std::env::var"),
                "{}: reads the environment around environment::var",
                path.display()
            );
        }
        for call in ["var(\"", "var_os(\""] {
            for (at, _) in code.match_indices(call) {
                let rest = &code[at + call.len()..];
                let var = &rest[..rest.find('"').unwrap()];
                read.push((path.display().to_string(), var.to_owned()));
            }
        }
    }
    assert!(read.len() >= 10, "{read:?}");
    for (file, var) in &read {
        assert!(
            listed(var),
            "{file} reads {var}, which the man page's ENVIRONMENT lacks"
        );
    }
    for group in doksi::environment::GROUPS {
        for var in group.names {
            assert!(listed(var), "{var} is not in the man page");
        }
    }
    for var in [
        "DOKSI_PROGRESS_INTERVAL",
        "HTTPS_PROXY",
        "NO_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "XDG_CACHE_HOME",
        "DOKSI_API_KEY",
        "DOKSI_CONFIG",
    ] {
        assert!(listed(var), "{var}: {environment}");
    }
}

#[test]
fn a_run_id_the_service_does_not_know_says_what_run_ids_are() {
    let sb = crate::sandbox::Sandbox::start(&[]);
    for args in [
        &["wait", "25"][..],
        &["status", "25"][..],
        &["rerun", "25"][..],
    ] {
        let r = sb.run(args);
        assert_eq!(r.code, 3, "{args:?}: {}", r.stderr);
        let last = r.stderr.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("doksi: error: GET /runs/25: HTTP 404")
                && last.ends_with(
                    "(a run id is what doksi run or doksi ci printed when it started the run: `started run k3n2mPq9Rxyz`)"
                ),
            "{args:?}: {}",
            r.stderr
        );
    }
}
