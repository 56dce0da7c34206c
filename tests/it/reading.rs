//! What a person reads of a run: each destination by the name they know it by, in the text and
//! GitHub's job summary alike, and in the JUnit file as its package and class; the tests that did not pass listed, the passed ones
//! counted unless `-v`; each result told once in one stream, even after re-runs; a live line on
//! a terminal; counted nouns without "(s)".

use crate::common::{FAST, ci, fixtures, github_env, merged_ci, needed_tool, ok_json};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// The `  failed …` lines of a text, as a person reads them.
fn failed_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.starts_with("  failed "))
        .collect()
}

#[test]
fn each_destination_is_named_alike_in_the_text_the_junit_file_and_the_summary() {
    let sb = Sandbox::start(&[]);
    // A target from elsewhere: uploaded by an earlier command, given by its id.
    let up = ok_json(&sb.run(&["upload", "--json", path_str(&unlock_apk())]));
    let elsewhere = up[0]["target_id"].as_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("doksi.xml");
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    let project = fixtures().join("projects/shop");
    let mut args = vec![
        "run",
        "--wait",
        "--project",
        path_str(&project),
        "--module",
        "wear",
        "--target",
        &elsewhere,
        "--web-url",
        "https://shop.example/",
        "--binary-url",
        "https://cdn.example/app.apk",
        "--category",
        "cat_failing",
        "--junit",
        path_str(&junit),
    ];
    args.extend(FAST);
    let r = sb.run_with(&args, &github_env(&output, &summary));
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The wear module's release APK, by module, variant and package; the others as given.
    let wear = "wear release (io.appium.android.ime)";
    let expected = [
        elsewhere.as_str(),
        wear,
        "https://cdn.example/app.apk",
        "https://shop.example/",
    ];
    // On GitHub Actions the two streams are one log: the failed tests are told live on stderr,
    // and only there.
    assert_eq!(r.stdout, "");
    let lines = failed_lines(&r.stderr);
    assert_eq!(lines.len(), 4, "{}", r.stderr);
    for label in expected {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(&format!("  on {label}  (")))
                .count(),
            1,
            "{label} is not one line's destination:\n{}",
            r.stderr
        );
    }

    let xml = std::fs::read_to_string(&junit).unwrap();
    let mut classnames: Vec<&str> = xml
        .split("<testcase classname=\"")
        .skip(1)
        .map(|s| s.split('"').next().unwrap())
        .collect();
    classnames.sort();
    // The JUnit classname is the same destination put for Jenkins, which splits it at its last
    // dot into package and class: the app's package and the module and variant; a URL's host
    // and path; a target id as it is.
    let wear_class = "io.appium.android.ime.wear release";
    let mut want = vec![
        elsewhere.as_str(),
        wear_class,
        "cdn.example.app_apk",
        "shop.example./",
    ];
    want.sort();
    assert_eq!(classnames, want, "{xml}");
    // The target ids stay, as the suite's properties, each by the classname it names.
    let github_outputs = std::fs::read_to_string(&output).unwrap();
    let targets = github_outputs
        .lines()
        .find_map(|l| l.strip_prefix("target_ids="))
        .unwrap();
    let targets: Vec<&str> = targets.split(',').collect();
    assert_eq!(targets.len(), 2, "{github_outputs}");
    for target in targets {
        let named = match target == elsewhere {
            true => target,
            false => wear_class,
        };
        assert!(
            xml.contains(&format!(
                "<property name=\"target_id: {named}\" value=\"{target}\"/>"
            )),
            "{target}: {xml}"
        );
    }

    // The job summary's destination column: markdown-escaped, so read without the escapes; a
    // URL is an autolink, `<…>`.
    let text = std::fs::read_to_string(&summary).unwrap().replace('\\', "");
    for label in expected {
        assert!(
            text.lines().any(|l| l.starts_with("| Payment declined | ")
                && (l.contains(&format!("| {label} |")) || l.contains(&format!("| <{label}> |")))),
            "{label}:\n{text}"
        );
    }
    assert!(
        !r.stderr.contains("(s)") && !r.stdout.contains("(s)"),
        "{}{}",
        r.stdout,
        r.stderr
    );
}

#[test]
fn passed_tests_are_counted_and_listed_only_with_v() {
    let sb = Sandbox::start(&[]);
    let args = ["--category", "cat_failing", "--category", "cat_smoke"];
    let r = ci(&sb, &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The failed test in both streams, with its link; the passed ones in the count alone.
    let summary = r.stdout.lines().next().unwrap();
    assert!(
        summary.starts_with("run run_1: failed (3 tests: 2 passed, 1 failed)"),
        "{}",
        r.stdout
    );
    for stream in [&r.stdout, &r.stderr] {
        assert!(!stream.contains("  passed "), "{stream}");
        let failed = failed_lines(stream);
        assert_eq!(failed.len(), 1, "{stream}");
        assert!(failed[0].contains("Payment declined") && failed[0].contains("/runs/res_1"));
    }
    assert_eq!(
        r.stderr.lines().last().unwrap(),
        "doksi: error: run run_1 failed: 1 of 3 tests failed, 2 passed"
    );

    let r = ci(&sb, &[&args[..], &["-v"]].concat());
    assert_eq!(r.code, 1, "{}", r.stderr);
    for stream in [&r.stdout, &r.stderr] {
        for name in ["Login", "Checkout flow"] {
            assert_eq!(
                stream
                    .lines()
                    .filter(|l| l.starts_with("  passed ") && l.contains(name))
                    .count(),
                1,
                "{name}: {stream}"
            );
        }
    }
    // The failed test still first in the summary.
    let listed: Vec<&str> = r.stdout.lines().skip(1).collect();
    assert!(listed[0].starts_with("  failed "), "{}", r.stdout);
}

#[test]
fn after_re_runs_one_stream_tells_each_result_once_and_the_verdict_last() {
    let sb = Sandbox::start(&[]);
    let (code, log) = merged_ci(
        &sb,
        &[
            "--category",
            "cat_flaky",
            "--category",
            "cat_failing",
            "--retries",
            "1",
        ],
    );
    assert_eq!(code, 1, "{log}");
    // Every result's link once, though the summary after re-runs names the tests again.
    let links: Vec<&str> = log
        .split_whitespace()
        .filter(|w| w.contains("/runs/res_"))
        .collect();
    assert!(links.len() >= 3, "{log}");
    for link in &links {
        assert_eq!(log.matches(link).count(), 1, "{link} told twice:\n{log}");
    }
    assert!(
        log.contains("flaky    Add to cart  on appium-unlock-2.0.0-debug.apk (io.appium.unlock)  passed in run run_2"),
        "{log}"
    );
    let last = log.lines().last().unwrap();
    assert!(
        last.starts_with("doksi: error: run run_1 failed: 1 of 3 tests failed on every attempt"),
        "the verdict is not last:\n{log}"
    );
    assert!(!log.contains("(s)"), "{log}");
}

/// On a terminal (`script` gives doksi one), the wait is one line redrawn in place, and it is
/// gone before the verdict.
#[test]
fn a_terminal_gets_one_live_line_that_is_cleared_before_the_verdict() {
    let Some(script) = needed_tool("script", "bsdutils") else {
        return;
    };
    let sb = Sandbox::start(&["--run-step", "300ms"]);
    let dir = tempfile::tempdir().unwrap();
    let typescript = dir.path().join("typescript");
    let apk = unlock_apk();
    // An 80-column terminal, whatever the one running the tests.
    let command = format!(
        "stty cols 80 rows 24; {} ci {} --category cat_failing --category cat_smoke --poll-interval 100ms",
        env!("CARGO_BIN_EXE_doksi"),
        path_str(&apk)
    );
    // doksi's environment as the sandbox sets it, nothing inherited (NO_COLOR, say).
    let mut cmd = std::process::Command::new(script);
    cmd.env_clear();
    for (k, v) in sb.command().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    let status = cmd
        .args(["-qec", &command])
        .arg(&typescript)
        .env("TERM", "xterm")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(1));
    let screen = std::fs::read_to_string(&typescript).unwrap();
    // Redrawn in place: the line starts again after a carriage return and an erase.
    let frames: Vec<&str> = screen
        .split("\r\x1b[2K")
        .filter(|f| f.contains(" done, ") && f.contains(" failed · "))
        .collect();
    assert!(frames.len() >= 3, "{screen:?}");
    assert!(
        frames.iter().any(|f| f.contains("run run_1: running, ")),
        "{screen:?}"
    );
    // Each frame leaves the last columns free, so the terminal's echo of a typed Ctrl-C (`^C`)
    // stays on the line's row, which clearing the line takes away, rather than wrapping below.
    for frame in &frames {
        for line in strip(frame).lines().filter(|l| l.contains(" done, ")) {
            let width = line.chars().count();
            assert!(
                (40..=77).contains(&width),
                "a {width}-column frame on an 80-column terminal: {line:?}"
            );
        }
    }
    // No line of its own: every progress frame is overdrawn, and the verdict ends the screen.
    // `script` frames the session with lines of its own (util-linux writes them even under -q).
    let plain: String = strip(&screen)
        .lines()
        .filter(|l| !l.starts_with("Script started") && !l.starts_with("Script done"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        plain.lines().all(|l| !l.contains(" done, ")),
        "a live frame was left on screen:\n{plain}"
    );
    assert!(
        plain
            .trim_end()
            .ends_with("doksi: error: run run_1 failed: 1 of 3 tests failed, 2 passed"),
        "{plain}"
    );
}

/// What a terminal shows in the end: each line as its last carriage return left it, without
/// styles or cursor moves.
fn strip(screen: &str) -> String {
    let mut out = String::new();
    for line in screen.split('\n') {
        let line = line.trim_end_matches('\r');
        let shown = line.rsplit('\r').next().unwrap_or_default();
        let mut plain = String::new();
        let mut chars = shown.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                // CSI: ESC [ params final-byte.
                if chars.next() == Some('[') {
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
                continue;
            }
            plain.push(c);
        }
        if !plain.trim().is_empty() {
            out.push_str(&plain);
            out.push('\n');
        }
    }
    out
}

/// A CI runner that reads stdout and stderr on two pipes and interleaves them into one log
/// (GitHub Actions' does) gets what `2>&1` gets; stdout on a file of its own keeps the account.
#[test]
fn on_a_ci_runner_two_pipes_are_one_log_and_a_file_keeps_the_account() {
    let sb = Sandbox::start(&[]);
    let args = ["--category", "cat_failing", "--category", "cat_smoke"];
    let r = crate::common::ci_with(&sb, &args, &[("CI", "true")]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "", "told on stderr already");
    assert_eq!(failed_lines(&r.stderr).len(), 1, "{}", r.stderr);
    assert!(
        r.stderr
            .ends_with("doksi: error: run run_1 failed: 1 of 3 tests failed, 2 passed\n"),
        "{}",
        r.stderr
    );

    // `> results.txt` in the same job: the file is read on its own.
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.txt");
    let apk = unlock_apk();
    let mut all = vec!["ci", path_str(&apk)];
    all.extend(args);
    all.extend(FAST);
    let out = sb
        .command()
        .env("CI", "true")
        .args(&all)
        .stdout(std::fs::File::create(&results).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&results).unwrap();
    assert!(
        text.starts_with("run run_2: failed (3 tests: 2 passed, 1 failed)\n"),
        "{text}"
    );
    assert_eq!(failed_lines(&text).len(), 1, "{text}");
}
