//! doksi.toml and its precedence (flag > environment > file > default), `doksi config`,
//! `--dry-run` (the sandbox must see nothing), `-q`, completions and the man page.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::common::{fixtures, ok_json, run_in, target};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// A project tree with one APK (the shop fixture's wear module) and this doksi.toml at its root;
/// returns the temp dir and a subfolder to start doksi in.
fn project(toml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let from = fixtures().join("projects/shop/wear/build/outputs/apk/release");
    let to = dir.path().join("wear/build/outputs/apk/release");
    std::fs::create_dir_all(&to).unwrap();
    std::fs::copy(from.join("wear-release.apk"), to.join("wear-release.apk")).unwrap();
    std::fs::write(dir.path().join("doksi.toml"), toml).unwrap();
    let sub = dir.path().join("wear/src/main");
    std::fs::create_dir_all(&sub).unwrap();
    (dir, sub)
}

fn config_json(sb: &Sandbox, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Value {
    let all = [&["config", "--json"][..], args].concat();
    ok_json(&sb.run_at(Some(dir), &all, env))
}

#[test]
fn flags_beat_environment_beats_doksi_toml_beats_defaults() {
    let sb = Sandbox::start(&[]);
    let (dir, sub) =
        project("categories = [\"cat_failing\"]\ntimeout = \"7m\"\nvariant = \"release\"\n");
    let file = dir.path().join("doksi.toml");
    let file = file.to_str().unwrap();

    let c = config_json(&sb, &sub, &[], &[]);
    assert_eq!(c["config-file"], file);
    assert_eq!(c["categories"]["value"], serde_json::json!(["cat_failing"]));
    assert_eq!(c["categories"]["source"], file);
    assert_eq!(c["timeout"]["value"], "7m");
    assert_eq!(c["poll-interval"]["source"], "default");
    assert_eq!(c["base-url"]["source"], "env DOKSI_BASE_URL");

    // An empty variable is unset (CI templates export them), not an empty value.
    let c = config_json(
        &sb,
        &sub,
        &[],
        &[("DOKSI_CATEGORIES", ""), ("DOKSI_TIMEOUT", "")],
    );
    assert_eq!(c["categories"]["source"], file);
    assert_eq!(c["timeout"]["value"], "7m");

    let env = [("DOKSI_CATEGORIES", "cat_smoke"), ("DOKSI_TIMEOUT", "3m")];
    let c = config_json(&sb, &sub, &[], &env);
    assert_eq!(c["categories"]["value"], serde_json::json!(["cat_smoke"]));
    assert_eq!(c["categories"]["source"], "env DOKSI_CATEGORIES");
    assert_eq!(c["timeout"]["source"], "env DOKSI_TIMEOUT");
    assert_eq!(c["variant"]["source"], file);

    let c = config_json(&sb, &sub, &["--timeout", "90s", "--variant", "debug"], &env);
    assert_eq!(c["timeout"]["value"], "90s");
    assert_eq!(c["timeout"]["source"], "flag");
    assert_eq!(c["variant"]["value"], "debug");

    // The key: its source, and never more of it than the last four characters.
    let key = sb.key.clone();
    let c = config_json(&sb, &sub, &[], &[]);
    assert_eq!(c["api-key"]["source"], "env DOKSI_API_KEY");
    let shown = c["api-key"]["value"].as_str().unwrap();
    assert_eq!(shown, format!("dk_live_…{}", &key[key.len() - 4..]));
    let text = sb.run_at(Some(&sub), &["config"], &[]);
    assert!(!text.stdout.contains(&key[8..20]), "{}", text.stdout);
    assert!(
        text.stdout.contains("categories     cat_failing"),
        "{}",
        text.stdout
    );
}

#[test]
fn the_precedence_decides_what_really_runs() {
    let sb = Sandbox::start(&[]);
    // The file asks for a failing category; run from a subfolder, `ci` takes the project root.
    let (_dir, sub) = project("categories = [\"cat_failing\"]\npoll-interval = \"100ms\"\n");
    let r = sb.run_at(Some(&sub), &["ci"], &[]);
    assert_eq!(
        r.code, 1,
        "the file's category should run and fail: {}",
        r.stderr
    );
    assert!(r.stdout.contains("Payment declined"), "{}", r.stdout);

    let r = sb.run_at(Some(&sub), &["ci"], &[("DOKSI_CATEGORIES", "cat_smoke")]);
    assert_eq!(r.code, 0, "the environment beats the file: {}", r.stderr);

    let env = [("DOKSI_CATEGORIES", "cat_failing")];
    let r = sb.run_at(Some(&sub), &["ci", "--category", "cat_smoke"], &env);
    assert_eq!(r.code, 0, "the flag beats the environment: {}", r.stderr);
    assert_eq!(sb.runs_created(), 3);
}

#[test]
fn a_matrix_in_doksi_toml_stands_in_for_destinations() {
    let sb = Sandbox::start(&[]);
    let toml = "poll-interval = \"100ms\"\n\n[[matrix]]\nplatform = \"android\"\nproject = \".\"\ncategory_ids = [\"cat_smoke\"]\n\n[[matrix]]\nplatform = \"web\"\nweb_url = \"https://staging.example.com\"\ncategory_ids = [\"cat_smoke\"]\n";
    let (_dir, sub) = project(toml);
    let r = sb.run_at(Some(&sub), &["run", "--wait", "--json"], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(run["status"], "passed");
    assert_eq!(run["tests_total"], 4, "two tests on each of two entries");
    assert_eq!(sb.count("POST /uploads"), 1);
}

#[test]
fn ci_runs_the_matrix_in_doksi_toml_or_says_why_not() {
    let sb = Sandbox::start(&[]);
    let toml = "[[matrix]]\nplatform = \"android\"\nproject = \".\"\ncategory_ids = [\"cat_smoke\"]\n\n[[matrix]]\nplatform = \"web\"\nweb_url = \"https://staging.example.com\"\ncategory_ids = [\"cat_smoke\"]\n";
    let (_dir, sub) = project(toml);
    let plan = ok_json(&sb.run_at(Some(&sub), &["ci", "--dry-run", "--json"], &[]));
    let matrix = &plan["run"]["body"]["matrix"];
    assert_eq!(matrix.as_array().map(Vec::len), Some(2), "{plan}");
    assert_eq!(matrix[1]["web_url"], "https://staging.example.com");

    // Tests named on the command line are the run; the file's matrix is said not to be.
    let r = sb.run_at(
        Some(&sub),
        &["ci", "--category", "cat_login", "--dry-run", "--json"],
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("[[matrix]] in") && r.stderr.contains("is not used: --category"),
        "{}",
        r.stderr
    );
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let matrix = &plan["run"]["body"]["matrix"];
    assert_eq!(matrix.as_array().map(Vec::len), Some(1), "{plan}");
    assert_eq!(matrix[0]["category_ids"][0], "cat_login");
    assert_eq!(sb.total(), 0);
}

#[test]
fn from_a_subfolder_apks_and_upload_search_the_project_of_doksi_toml() {
    let sb = Sandbox::start(&[]);
    let (_dir, sub) = project("variant = \"release\"\n");
    let listed = ok_json(&sb.run_at(Some(&sub), &["apks", "--json"], &[]));
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert!(
        listed[0]["path"]
            .as_str()
            .unwrap()
            .ends_with("wear-release.apk")
    );
    let plan = ok_json(&sb.run_at(Some(&sub), &["upload", "--dry-run", "--json"], &[]));
    assert_eq!(plan["uploads"].as_array().map(Vec::len), Some(1), "{plan}");
}

#[test]
fn a_bad_doksi_toml_is_one_line_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doksi.toml");
    for (text, expect) in [
        ("categorys = [\"x\"]", "categorys"),
        ("timeout = \"soon\"", "`timeout`"),
        (
            "api-key = \"dk_live_0123456789abcdef0123456789abcdef01234567\"",
            "DOKSI_API_KEY",
        ),
        ("variant = [", "doksi.toml"),
    ] {
        std::fs::write(&file, text).unwrap();
        let r = run_in(Some(dir.path()), &["apks"]);
        assert_eq!(r.code, 2, "{text}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{text}: {}", r.stderr);
        assert!(r.stderr.contains(expect), "{text}: {}", r.stderr);
        assert!(r.stderr.contains(file.to_str().unwrap()), "{}", r.stderr);
        assert!(!r.stderr.contains("0123456789abcdef"), "{}", r.stderr);
    }
    // An explicit --config that does not exist is an error, not a silent default.
    let r = run_in(Some(dir.path()), &["--config", "nope.toml", "config"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nope.toml"), "{}", r.stderr);
}

#[test]
fn dry_run_sends_nothing_and_shows_every_request() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let r = sb.run(&["ci", path_str(&apk), "--category", "cat_smoke", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        sb.total(),
        0,
        "the sandbox saw a request: {}",
        sb.requests()
    );
    assert!(
        r.stdout.contains("/uploads {\"name\":\"io.appium.unlock"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("no Authorization header"), "{}", r.stdout);
    let json_at = r.stdout.find("/runs {").expect("the run request") + "/runs ".len();
    let body = &r.stdout[json_at..r.stdout.rfind('}').unwrap() + 1];
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["matrix"][0]["category_ids"][0], "cat_smoke");
    assert_eq!(
        body["matrix"][0]["target_id"],
        "<target of appium-unlock-2.0.0-debug.apk>"
    );

    // Once uploaded for real, a dry run shows the cache hit and the real target id.
    let target = target(&sb);
    let before = sb.total();
    for args in [
        vec!["upload", path_str(&apk), "--dry-run"],
        vec![
            "run",
            "--apk",
            path_str(&apk),
            "--category",
            "cat_smoke",
            "--dry-run",
        ],
        vec!["ci", path_str(&apk), "--category", "cat_smoke", "--dry-run"],
    ] {
        let r = sb.run(&args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.contains(&format!("→ target {target}")),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("nothing was sent"), "{}", r.stdout);
    }
    // --json: one document a script can read, the same facts.
    let r = sb.run(&[
        "ci",
        path_str(&apk),
        "--category",
        "cat_smoke",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["dry_run"], true);
    assert_eq!(plan["uploads"][0]["cached"], true);
    assert_eq!(plan["uploads"][0]["target_id"], target.as_str());
    assert_eq!(
        plan["run"]["body"]["matrix"][0]["target_id"],
        target.as_str()
    );
    let r = sb.run(&["upload", path_str(&apk), "--dry-run", "--json", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    let requests = plan["uploads"][0]["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 3, "{plan}");
    assert_eq!(requests[1]["method"], "PUT");
    assert_eq!(requests[1]["authorization"], false);
    assert!(plan.get("run").is_none(), "{plan}");
    assert_eq!(sb.total(), before, "{}", sb.requests());
}

#[test]
fn quiet_prints_errors_only() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let fast = ["--poll-interval", "100ms"];
    let mut args = vec!["-q", "ci", path_str(&apk), "--category", "cat_smoke"];
    args.extend(fast);
    let r = sb.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "quiet success should say nothing on stderr");
    assert_eq!(r.stdout, "", "nor a summary on stdout");

    let mut args = vec!["-q", "ci", path_str(&apk), "--category", "cat_failing"];
    args.extend(fast);
    let r = sb.run(&args);
    assert_eq!(r.code, 1);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.starts_with("doksi: error: run "), "{}", r.stderr);
    // No terminal here: no escape sequences, even in the error line.
    assert!(!r.stderr.contains('\x1b'), "{:?}", r.stderr);
}

#[test]
fn colour_only_when_forced_and_never_with_no_color() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let args = [
        "ci",
        path_str(&apk),
        "--category",
        "cat_failing",
        "--poll-interval",
        "100ms",
    ];
    let r = sb.run_with(&args, &[("CLICOLOR_FORCE", "1")]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("\x1b["), "forced colour: {:?}", r.stderr);
    assert!(r.stdout.contains("\x1b["), "forced colour: {:?}", r.stdout);
    let r = sb.run_with(&args, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(r.code, 1);
    assert!(
        !r.stderr.contains('\x1b') && !r.stdout.contains('\x1b'),
        "{:?}",
        r.stderr
    );
}

/// On a real terminal (a pty from util-linux's `script`) doksi colours its error line, unless
/// NO_COLOR is set; skipped where there is no `script`.
#[test]
fn colour_on_a_terminal_unless_no_color() {
    let on_tty = |env: &str| {
        let home = tempfile::tempdir().unwrap();
        let shell = format!(
            "{env} {} --config /nonexistent apks",
            env!("CARGO_BIN_EXE_doksi")
        );
        std::process::Command::new("script")
            .args(["-qec", &shell, "/dev/null"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("TERM", "xterm-256color")
            .output()
    };
    if crate::common::needed_tool("script", "bsdutils").is_none() {
        return;
    }
    let plain = on_tty("").expect("script runs doksi on a terminal");
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.contains("error") && text.contains("\x1b["), "{text:?}");
    let no_color = on_tty("NO_COLOR=1").unwrap();
    let text = String::from_utf8_lossy(&no_color.stdout);
    assert!(
        text.contains("doksi: error: ") && !text.contains('\x1b'),
        "{text:?}"
    );
}

#[test]
fn completions_and_man_page_come_from_the_flag_definitions() {
    let r = run_in(None, &["completions", "bash"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for flag in ["--dry-run", "--category", "--poll-interval", "--junit"] {
        assert!(r.stdout.contains(flag), "bash completion lacks {flag}");
    }
    // bash itself accepts the script, when there is a bash.
    if let Ok(out) = std::process::Command::new("bash")
        .args(["-n", "-c", &r.stdout])
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let r = run_in(None, &["completions", shell]);
        assert_eq!(r.code, 0, "{shell}: {}", r.stderr);
        assert!(r.stdout.contains("doksi"), "{shell}");
    }
    let r = run_in(None, &["completions", "tcsh"]);
    assert_eq!(r.code, 2);

    let r = run_in(None, &["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(".ie") || r.stdout.contains(".TH doksi"),
        "{}",
        &r.stdout[..200]
    );
    assert!(
        r.stdout.contains("completions"),
        "the man page lists subcommands"
    );
    // man(1) renders it without complaint, when installed.
    let page = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(page.path(), &r.stdout).unwrap();
    let rendered = std::process::Command::new("man")
        .args(["--warnings", "-l", "-Tutf8"])
        .arg(page.path())
        .output();
    if let Some(out) = rendered.ok().filter(|o| o.status.success()) {
        assert!(String::from_utf8_lossy(&out.stdout).contains("doksi"));
    }
}

#[test]
fn flags_a_matrix_would_drop_are_refused_and_blank_ids_never_sent() {
    let sb = Sandbox::start(&[]);
    let toml = "[[matrix]]\nplatform = \"web\"\nweb_url = \"https://staging.example.com\"\ncategory_ids = [\"cat_smoke\"]\n";
    let (dir, sub) = project(toml);
    let r = sb.run_at(
        Some(&sub),
        &["run", "--category", "cat_failing", "--dry-run"],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--category cannot be combined with the [[matrix]] in doksi.toml"),
        "{}",
        r.stderr
    );
    // The environment is a default, which a matrix overrides; it does not break --matrix.
    let matrix = dir.path().join("m.json");
    std::fs::write(
        &matrix,
        r#"[{"platform":"web","web_url":"https://x.example","category_ids":["cat_smoke"]}]"#,
    )
    .unwrap();
    let env = [("DOKSI_CATEGORIES", "cat_failing")];
    for args in [
        vec!["run", "--dry-run"],
        vec!["run", "--matrix", path_str(&matrix), "--dry-run"],
    ] {
        let r = sb.run_at(Some(&sub), &args, &env);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.contains("cat_smoke") && !r.stdout.contains("cat_failing"),
            "{}",
            r.stdout
        );
    }
    let r = sb.run_at(
        Some(&sub),
        &["run", "--matrix", path_str(&matrix), "--test", "t_login"],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Spaces around ids are dropped; a blank id is a usage error before anything is sent.
    let apk = unlock_apk();
    let r = sb.run_with(
        &["ci", path_str(&apk), "--dry-run"],
        &[("DOKSI_CATEGORIES", "cat_smoke, cat_regression")],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("\"cat_regression\""), "{}", r.stdout);
    let r = sb.run_with(
        &["ci", path_str(&apk)],
        &[("DOKSI_CATEGORIES", "cat_smoke,")],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("blank"), "{}", r.stderr);
    // An empty flag counts as unset (as an empty variable does), said in a warning: here that
    // leaves nothing to run, still refused before anything is sent.
    let r = sb.run(&["ci", path_str(&apk), "--category="]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--category was given an empty value, which counts as unset")
            && r.stderr.contains("nothing to run"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.total(), 0, "{}", sb.requests());
}

#[test]
fn a_broken_doksi_toml_does_not_block_help_or_commands_that_ignore_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("doksi.toml"), "variant = ").unwrap();
    let apk = unlock_apk();
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["completions", "bash"],
        vec!["inspect", path_str(&apk)],
    ] {
        let r = run_in(Some(dir.path()), &args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }
    let r = run_in(Some(dir.path()), &["apks"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("doksi.toml"), "{}", r.stderr);
}

#[test]
fn the_file_selection_filters_searched_folders_not_named_apks() {
    let sb = Sandbox::start(&[]);
    let (_dir, sub) = project("variant = \"debug\"\n");
    let r = sb.run_at(Some(&sub), &["apks"], &[]);
    assert_eq!(
        r.code, 2,
        "the project has a release APK only: {}",
        r.stdout
    );
    let apk = unlock_apk();
    let r = sb.run_at(Some(&sub), &["apks", path_str(&apk)], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("io.appium.unlock"), "{}", r.stdout);
}

#[test]
fn man_pages_for_every_subcommand_with_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(None, &["man", path_str(dir.path())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ci = std::fs::read_to_string(dir.path().join("doksi-ci.1")).unwrap();
    for flag in ["dry\\-run", "junit", "category", "poll\\-interval"] {
        assert!(ci.contains(flag), "doksi-ci.1 lacks {flag}");
    }
    assert!(dir.path().join("doksi.1").is_file());
    assert!(dir.path().join("doksi-cache-list.1").is_file());
}

#[test]
fn help_names_each_variable_but_never_its_value() {
    let home = tempfile::tempdir().unwrap();
    for env in [None, Some("http://127.0.0.1:9/hidden")] {
        let mut cmd = crate::common::doksi(home.path());
        if let Some(v) = env {
            cmd.env("DOKSI_BASE_URL", v);
        }
        let out = cmd.args(["status", "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("[env: DOKSI_BASE_URL]"), "{help}");
        assert!(
            !help.contains("DOKSI_BASE_URL=") && !help.contains("hidden"),
            "{help}"
        );
    }
}

/// The connection flags belong to the subcommands that talk to the API: the others neither
/// show them in their help nor accept them (a key given to `sandbox` was once silently dropped).
#[test]
fn each_subcommand_shows_and_takes_only_the_flags_it_uses() {
    let paths: Vec<Vec<String>> = subcommand_paths()
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| !path.is_empty())
        .collect();
    for sub in API_SUBCOMMANDS {
        assert!(paths.contains(&vec![sub.to_owned()]), "no subcommand {sub}");
        let r = run_in(None, &[sub, "--help"]);
        assert_eq!(r.code, 0, "{sub}: {}", r.stderr);
        for flag in [
            "--base-url",
            "--api-key",
            "--cache-dir",
            "--attempts",
            "-v",
            "--color",
        ] {
            assert!(r.stdout.contains(flag), "{sub} --help lacks {flag}");
        }
    }
    // Every other one, nested ones included: walked, so a new subcommand is checked too.
    let others: Vec<&Vec<String>> = paths
        .iter()
        .filter(|path| !API_SUBCOMMANDS.contains(&path[0].as_str()))
        .collect();
    assert!(others.len() >= 10, "{others:?}");
    for path in others {
        let sub = path.join(" ");
        let args: Vec<&str> = path.iter().map(String::as_str).chain(["--help"]).collect();
        let r = run_in(None, &args);
        assert_eq!(r.code, 0, "{sub}: {}", r.stderr);
        for flag in ["--base-url", "--api-key", "--attempts", "--request-timeout"] {
            assert!(!r.stdout.contains(flag), "{sub} --help shows {flag}");
        }
        assert!(r.stdout.contains("--quiet"), "{sub} --help lacks --quiet");
    }
    let r = run_in(None, &["sandbox", "--api-key", "dk_live_x"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().next(),
        Some("doksi: error: unknown flag --api-key"),
        "{}",
        r.stderr
    );
    let r = run_in(None, &["cache", "--help"]);
    assert!(r.stdout.contains("--cache-dir"), "{}", r.stdout);
    let dir = tempfile::tempdir().unwrap();
    let r = run_in(
        None,
        &["cache", "list", "--cache-dir", path_str(dir.path())],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// `--color always` styles even a pipe, `--color never` never does, whatever the environment.
#[test]
fn color_flag_overrides_the_terminal_test() {
    let home = tempfile::tempdir().unwrap();
    let styled = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = crate::common::doksi(home.path());
        c.args(args).envs(env.iter().copied());
        let out = c.output().unwrap();
        String::from_utf8_lossy(&out.stderr).contains('\u{1b}')
    };
    let bad = ["status", "not-a-run-id"];
    assert!(!styled(&bad, &[]), "a pipe gets plain text by default");
    assert!(styled(
        &["--color", "always", "status", "not-a-run-id"],
        &[]
    ));
    assert!(styled(
        &["status", "not-a-run-id", "--color=always"],
        &[("NO_COLOR", "1")]
    ));
    assert!(!styled(
        &["--color", "never", "status", "not-a-run-id"],
        &[("CLICOLOR_FORCE", "1")]
    ));
    assert!(styled(&bad, &[("CLICOLOR_FORCE", "1")]));
}

/// The top man page says what `--help` cannot fit: the variables, the exit codes, the files.
#[test]
fn the_man_page_has_environment_exit_status_files_and_examples() {
    let r = run_in(None, &["man"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = &r.stdout;
    for section in [
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
        ".SH FILES",
        ".SH EXAMPLES",
    ] {
        assert!(page.contains(section), "no {section} in\n{page}");
    }
    assert!(!page.contains(".SH EXTRA"), "{page}");
    let env =
        &page[page.find(".SH ENVIRONMENT").unwrap()..page.find(".SH \"EXIT STATUS\"").unwrap()];
    for var in [
        "DOKSI_API_KEY",
        "DOKSI_BASE_URL",
        "DOKSI_CACHE_DIR",
        "DOKSI_CONFIG",
        "DOKSI_KS_PASS",
        "DOKSI_KEY_PASS",
        "DOKSI_BUNDLETOOL",
        "DOKSI_TIMEOUT",
    ] {
        assert!(
            env.contains(&format!("\\fB{var}\\fR")),
            "{var} missing from\n{env}"
        );
    }
    let exit = &page[page.find(".SH \"EXIT STATUS\"").unwrap()..page.find(".SH FILES").unwrap()];
    for code in ["0", "1", "2", "3", "4", "5", "130", "143"] {
        assert!(
            exit.contains(&format!(".TP\n\\fB{code}\\fR\n")),
            "{code} missing from\n{exit}"
        );
    }
    assert!(page.contains("doksi.toml"));
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), page).unwrap();
    let rendered = std::process::Command::new("man")
        .args(["--warnings", "-l", "-Tutf8"])
        .arg(file.path())
        .output();
    if let Some(out) = rendered.ok().filter(|o| o.status.success()) {
        // Overstrike bold (`E\x08E`) undone: a backspace takes back the character before it.
        let mut text = String::new();
        for c in String::from_utf8_lossy(&out.stdout).chars() {
            if c == '\x08' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(
            text.contains("EXIT STATUS") && text.contains("DOKSI_API_KEY"),
            "{text}"
        );
    }
}

/// Enum-like flags complete to their values, never to file names.
#[test]
fn completion_offers_values_not_files_for_enum_like_flags() {
    let r = run_in(None, &["completions", "bash"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let script = &r.stdout;
    for (flag, values) in [
        ("--auth", &["none", "generated", "specific:"][..]),
        ("--notify-on", &["fail", "always", "never"][..]),
        ("--abi", &["arm64-v8a", "x86_64"][..]),
    ] {
        let cases: Vec<&str> = script
            .split(&format!("                {flag})\n"))
            .skip(1)
            .map(|rest| rest.split(";;").next().unwrap())
            .collect();
        assert!(!cases.is_empty(), "no completion case for {flag}");
        for case in cases {
            assert!(
                !case.contains("compgen -f"),
                "{flag} completes files: {case}"
            );
            for v in values {
                assert!(case.contains(v), "{flag} does not offer {v}: {case}");
            }
        }
    }
}

/// Every subcommand's path from the root (the root itself first), walked from the clap
/// definitions as doksi builds them (global flags copied into each subcommand): a subcommand
/// added later is covered without anyone listing it here.
fn subcommand_paths() -> Vec<(Vec<String>, clap::Command)> {
    fn walk(path: Vec<String>, cmd: &clap::Command, into: &mut Vec<(Vec<String>, clap::Command)>) {
        into.push((path.clone(), cmd.clone()));
        // clap's own `help` subcommand is clap's to describe.
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut p = path.clone();
            p.push(sub.get_name().to_owned());
            walk(p, sub, into);
        }
    }
    use clap::CommandFactory;
    let mut all = Vec::new();
    walk(
        Vec::new(),
        &doksi::cli::built(doksi::cli::Cli::command()),
        &mut all,
    );
    all
}

fn usage_line(text: &str) -> Option<&str> {
    text.lines().find(|l| l.starts_with("Usage:"))
}

/// A value from a DOKSI_* variable is not something the user typed: clap used to list such
/// flags in a usage error's `Usage:` line as if they were required
/// (`doksi wait --timeout <TIMEOUT> --base-url <BASE_URL> --api-key <API_KEY> <RUN_ID>`).
#[test]
fn usage_lines_ignore_the_environment() {
    let home = tempfile::tempdir().unwrap();
    let toml = home.path().join("doksi.toml");
    std::fs::write(&toml, "").unwrap();
    let env = [
        ("DOKSI_BASE_URL", "http://127.0.0.1:1/x"),
        (
            "DOKSI_API_KEY",
            "dk_live_5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a",
        ),
        ("DOKSI_TIMEOUT", "5m"),
        ("DOKSI_POLL_INTERVAL", "3s"),
        ("DOKSI_CACHE_DIR", path_str(home.path())),
        ("DOKSI_VARIANT", "release"),
        ("DOKSI_TESTS", "t1"),
        ("DOKSI_AUTH", "generated"),
        ("DOKSI_KS_KEY_ALIAS", "key0"),
        ("DOKSI_CONFIG", path_str(&toml)),
    ];
    let run = |args: &[String], with_env: bool| {
        let mut c = crate::common::doksi(home.path());
        c.args(args);
        if with_env {
            c.envs(env);
        }
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let paths = subcommand_paths();
    assert!(paths.len() > 15, "{}", paths.len());
    for (path, cmd) in paths {
        let help = [&path[..], &["--help".to_owned()]].concat();
        let (code, stdout, stderr) = run(&help, false);
        assert_eq!(code, Some(0), "{help:?}: {stderr}");
        let expected = usage_line(&stdout).unwrap_or_else(|| panic!("{help:?}: {stdout}"));
        let (_, with_env, _) = run(&help, true);
        assert_eq!(
            usage_line(&with_env),
            Some(expected),
            "{help:?} with DOKSI_*"
        );
        // A conflict (-v with -q, global): an error line (and a hint at most), naming only
        // what was typed.
        let conflict = [&path[..], &["-v".to_owned(), "-q".to_owned()]].concat();
        for with_env in [false, true] {
            let (code, _, stderr) = run(&conflict, with_env);
            assert_eq!(code, Some(2), "{conflict:?} (env: {with_env}): {stderr}");
            assert!(stderr.lines().count() <= 2, "{conflict:?}: {stderr}");
            assert!(
                stderr.starts_with("doksi: error: ") && !stderr.contains("--timeout"),
                "{conflict:?} (env: {with_env}): {stderr}"
            );
        }
        // Where a positional is required, its absence: the error and the usage line as a hint.
        if cmd.get_arguments().any(|a| a.is_required_set()) {
            for with_env in [false, true] {
                let (code, _, stderr) = run(&path, with_env);
                assert_eq!(code, Some(2), "{path:?} (env: {with_env}): {stderr}");
                let hint = stderr
                    .lines()
                    .find_map(|l| l.strip_prefix("  hint: usage: "))
                    .map(|u| format!("Usage: {u}"));
                assert_eq!(
                    hint.as_deref(),
                    Some(expected),
                    "{path:?} (env: {with_env}): {stderr}"
                );
                assert_eq!(stderr.lines().count(), 2, "{path:?}: {stderr}");
            }
        }
    }
}

/// The subcommands that talk to the API, and so show and take the connection flags.
const API_SUBCOMMANDS: [&str; 7] = ["upload", "run", "status", "wait", "rerun", "ci", "config"];

/// The subcommands that make or serve requests, and so show -v (`config` only shows the
/// connection settings).
const LOGGING_SUBCOMMANDS: [&str; 8] = [
    "upload", "run", "status", "wait", "rerun", "ci", "sandbox", "demo",
];

/// Help that fits, for every subcommand walked from the clap definitions: an about text, help
/// for each argument shown, no global flag shown where it does nothing (-v where no request is
/// made or served, --config where no setting a doksi.toml gives is read), and never a
/// variable's value, whatever is set. Every misfit is listed at once.
#[test]
fn help_fits_every_subcommand() {
    let home = tempfile::tempdir().unwrap();
    let secret = "sEcReT-VaLuE";
    let paths = subcommand_paths();
    let mut env: Vec<(String, String)> = Vec::new();
    for (_, cmd) in &paths {
        for var in cmd.get_arguments().filter_map(|a| a.get_env()) {
            let var = var.to_string_lossy().into_owned();
            if !env.iter().any(|(n, _)| *n == var) {
                env.push((var, secret.to_owned()));
            }
        }
    }
    assert!(env.len() > 10, "{env:?}");
    let file_settings: Vec<&str> = doksi::settings::SETTINGS
        .iter()
        .filter(|s| !matches!(s.file, doksi::settings::FileKind::Never))
        .map(|s| s.id)
        .collect();
    let mut misfits = Vec::new();
    for (path, cmd) in &paths {
        if cmd.get_about().is_none() {
            misfits.push(format!("{path:?} has no about text"));
        }
        let mut c = crate::common::doksi(home.path());
        c.args(path)
            .arg("--help")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let out = c.output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{path:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        if help.contains(secret) {
            misfits.push(format!("{path:?} --help shows a variable's value"));
        }
        // The arguments as --help shows them: the global ones are defined on the root.
        let shown = |id: &str| {
            let arg = cmd
                .get_arguments()
                .chain(paths[0].1.get_arguments().filter(|a| a.is_global_set()))
                .find(|a| a.get_id() == id);
            arg.and_then(|a| a.get_long())
                .is_some_and(|long| help.contains(&format!("--{long}")))
        };
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if arg.get_help().is_none() && arg.get_long_help().is_none() {
                misfits.push(format!("{path:?}: {} has no help text", arg.get_id()));
            }
            if let Some(var) = arg.get_env() {
                let named = format!("[env: {}]", var.to_string_lossy());
                if !help.contains(&named) {
                    misfits.push(format!("{path:?} --help lacks {named}"));
                }
            }
        }
        let Some(top) = path.first().map(String::as_str) else {
            continue;
        };
        if shown("verbose") != LOGGING_SUBCOMMANDS.contains(&top) {
            misfits.push(format!("{path:?}: --verbose shown: {}", shown("verbose")));
        }
        let reads_file = cmd
            .get_arguments()
            .any(|a| file_settings.contains(&a.get_id().as_str()));
        if shown("config") != reads_file {
            misfits.push(format!("{path:?}: --config shown: {}", shown("config")));
        }
    }
    assert!(misfits.is_empty(), "{misfits:#?}");
}
