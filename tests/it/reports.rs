//! Reports for CI: the `--junit` file, read back by a real XML parser (Python's ElementTree) and
//! checked against what the JUnit schema requires, and the GitHub Actions outputs, job summary
//! and annotations, through temporary files standing in for the runner's.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::common::{FAST, ci, ci_with, github_env, stdout_json, target};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// The document as Python's ElementTree parsed it: `{tag, attrib, text, children}` all the way
/// down. `None` (with a note) where there is no python3 to parse with.
fn parse_xml(path: &Path) -> Option<Value> {
    const SCRIPT: &str = "
import json, sys, xml.etree.ElementTree as ET
def tree(e):
    return {'tag': e.tag, 'attrib': e.attrib, 'text': e.text or '', 'children': [tree(c) for c in e]}
print(json.dumps(tree(ET.parse(sys.argv[1]).getroot())))
";
    let python = crate::common::needed_tool("python3", "python3")?;
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ElementTree refused {}: {}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn children<'a>(e: &'a Value, tag: &str) -> Vec<&'a Value> {
    e["children"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["tag"] == tag)
        .collect()
}

fn attr<'a>(e: &'a Value, name: &str) -> &'a str {
    e["attrib"][name]
        .as_str()
        .unwrap_or_else(|| panic!("<{}> has no {name}: {e}", e["tag"]))
}

fn count(e: &Value, name: &str) -> usize {
    attr(e, name)
        .parse()
        .unwrap_or_else(|_| panic!("{name}={:?} is not a count", attr(e, name)))
}

/// Parses the report and checks what the JUnit schemas (and the tools reading it) require:
/// a `<testsuite name tests failures errors skipped>` root (Surefire's schema declares no
/// `<testsuites>`), each `<testcase>` with a name, a classname and a decimal `time`, and counts
/// that agree with the cases. Returns the cases. (tests/it/consumers.rs validates the file
/// against the schemas themselves.)
fn junit_cases(path: &Path) -> Option<Vec<Value>> {
    let doc = parse_xml(path)?;
    assert_eq!(doc["tag"], "testsuite");
    let suite = &doc;
    assert!(attr(suite, "name").starts_with("doksi run "));
    let cases: Vec<Value> = children(suite, "testcase").into_iter().cloned().collect();
    let with = |tag: &str| {
        cases
            .iter()
            .filter(|c| !children(c, tag).is_empty())
            .count()
    };
    assert_eq!(count(suite, "tests"), cases.len(), "{suite}");
    assert_eq!(count(suite, "failures"), with("failure"));
    assert_eq!(count(suite, "errors"), with("error"));
    assert_eq!(count(suite, "skipped"), with("skipped"));
    attr(suite, "time").parse::<f64>().unwrap();
    for c in &cases {
        assert!(!attr(c, "name").is_empty(), "{c}");
        assert!(!attr(c, "classname").is_empty(), "{c}");
        let time: f64 = attr(c, "time").parse().unwrap();
        assert!(time >= 0.0);
    }
    let run_id = children(children(suite, "properties")[0], "property")
        .into_iter()
        .find(|p| p["attrib"]["name"] == "run_id")
        .map(|p| attr(p, "value"));
    assert_eq!(
        run_id.map(|id| format!("doksi run {id}")).as_deref(),
        Some(attr(suite, "name"))
    );
    Some(cases)
}

fn case<'a>(cases: &'a [Value], name: &str) -> &'a Value {
    cases
        .iter()
        .find(|c| c["attrib"]["name"] == name)
        .unwrap_or_else(|| panic!("no testcase {name:?} in {cases:?}"))
}

#[test]
fn junit_of_a_passing_run_lists_each_test_under_its_destination() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    // A folder that does not exist yet, as CI configs name them.
    let file = dir.path().join("build/test-results/doksi.xml");
    let r = ci(
        &sb,
        &[
            "--json",
            "--category",
            "cat_smoke",
            "--junit",
            path_str(&file),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let run = stdout_json(&r);
    let target = run["results"][0]["destination"]["target_id"]
        .as_str()
        .unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(&format!(
        r#"<property name="run_id" value="{}"/>"#,
        run["run_id"].as_str().unwrap()
    )));
    let Some(cases) = junit_cases(&file) else {
        return;
    };
    assert_eq!(cases.len(), 2);
    for name in ["Login", "Checkout flow"] {
        let c = case(&cases, name);
        // Jenkins splits it at the last dot: package io.appium.unlock, class the APK.
        assert_eq!(
            attr(c, "classname"),
            "io.appium.unlock.appium-unlock-2_0_0-debug"
        );
        assert!(c["children"].as_array().unwrap().is_empty(), "{c}");
    }
    // The classname's target id, a property of the suite.
    assert!(text.contains(&format!(
        r#"<property name="target_id: io.appium.unlock.appium-unlock-2_0_0-debug" value="{target}"/>"#
    )));
    // Nothing but the report is left in its folder: the temporary file was renamed.
    let left: Vec<_> = std::fs::read_dir(file.parent().unwrap()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn junit_of_a_failing_run_exists_at_exit_1_and_links_the_failure() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doksi.xml");
    let r = ci(
        &sb,
        &[
            "--json",
            "--category",
            "cat_failing",
            "--junit",
            path_str(&file),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(file.is_file(), "no report at exit code 1");
    let url = stdout_json(&r)["results"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let Some(cases) = junit_cases(&file) else {
        return;
    };
    let failure = children(case(&cases, "Payment declined"), "failure")[0];
    assert_eq!(attr(failure, "type"), "failed");
    assert_eq!(
        attr(failure, "message"),
        "Payment declined failed on appium-unlock-2.0.0-debug.apk (io.appium.unlock)"
    );
    assert_eq!(failure["text"], url);
}

#[test]
fn junit_escapes_markup_and_drops_control_characters_in_names() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doksi.xml");
    // The sandbox names a test it does not know by its id, and fails ids starting with "fail".
    let id = "fail_<&\"'>\u{1}end";
    let r = ci(&sb, &["--json", "--test", id, "--junit", path_str(&file)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let url = stdout_json(&r)["results"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let Some(cases) = junit_cases(&file) else {
        return;
    };
    let c = case(&cases, "fail_<&\"'>end");
    let failure = children(c, "failure")[0];
    assert_eq!(failure["text"], url.replace('\u{1}', ""));
    assert!(attr(failure, "message").starts_with("fail_<&\"'>end failed on"));
}

#[test]
fn a_timed_out_run_still_leaves_its_reports_with_unfinished_tests_skipped() {
    // Results stay queued for 5s, so a 1s wait gives up with none of them finished.
    let sb = Sandbox::start(&["--run-step", "5s"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("doksi.xml");
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    let r = ci_with(
        &sb,
        &[
            "--json",
            "--category",
            "cat_smoke",
            "--timeout",
            "1s",
            "--junit",
            path_str(&file),
        ],
        &github_env(&output, &summary),
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let outputs = std::fs::read_to_string(&output).unwrap();
    assert!(outputs.contains("\nstatus=queued\n"), "{outputs}");
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains(": timed out, still queued\n"), "{summary}");
    let Some(cases) = junit_cases(&file) else {
        return;
    };
    assert_eq!(cases.len(), 2);
    for c in &cases {
        let skipped = children(c, "skipped");
        assert_eq!(skipped.len(), 1, "{c}");
        assert_eq!(
            attr(skipped[0], "message"),
            "still queued when doksi stopped waiting"
        );
    }
}

#[test]
fn an_unwritable_junit_path_is_exit_code_2_naming_the_file() {
    let sb = Sandbox::start(&["--run-step", "300ms"]);
    let dir = tempfile::tempdir().unwrap();
    // A folder that cannot be made, whoever runs the test: its parent is a file.
    let blocker = dir.path().join("not-a-folder");
    std::fs::write(&blocker, "").unwrap();
    let file = blocker.join("doksi.xml");
    let r = ci(
        &sb,
        &[
            "--json",
            "--category",
            "cat_smoke",
            "--junit",
            path_str(&file),
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let last = r.stderr.lines().last().unwrap();
    assert!(
        last.starts_with("doksi: error: cannot write the JUnit report ")
            && last.contains(path_str(&file)),
        "{}",
        r.stderr
    );
    assert_eq!(sb.total(), 0, "checked before any request: {}", r.stderr);

    // Writable when the run starts, a file in its folder's place by the time it ends: a failed
    // run keeps its exit code 1 and its error line; the report's error comes first.
    let folder = dir.path().join("reports");
    let file = folder.join("doksi.xml");
    let mut cmd = crate::common::doksi(&sb.cache_dir());
    cmd.env("DOKSI_BASE_URL", &sb.base_url)
        .env("DOKSI_API_KEY", &sb.key)
        .env("DOKSI_CACHE_DIR", sb.cache_dir())
        .args(["ci", path_str(&unlock_apk()), "--category", "cat_failing"])
        .args(["--junit", path_str(&file)])
        .args(FAST)
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let (mut stderr, mut seen) = crate::common::stderr_until(&mut child, "started run");
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, "").unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(1), "{seen}");
    let errors: Vec<&str> = seen
        .lines()
        .filter(|l| l.starts_with("doksi: error:"))
        .collect();
    assert_eq!(errors.len(), 2, "{seen}");
    assert!(
        errors[0].contains("JUnit") && errors[1].contains("failed: 1 of 1"),
        "{errors:?}"
    );
}

#[test]
fn on_github_actions_a_run_leaves_outputs_a_summary_and_annotations() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    // The runner's files hold earlier steps' lines: ours are appended.
    std::fs::write(&output, "earlier=1\n").unwrap();
    let r = ci_with(
        &sb,
        &[
            "--json",
            "--category",
            "cat_smoke",
            "--category",
            "cat_failing",
        ],
        &github_env(&output, &summary),
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // stdout stays the run object alone: annotations went to stderr.
    let run = stdout_json(&r);
    let target = run["results"][0]["destination"]["target_id"]
        .as_str()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!(
            "earlier=1\nrun_id={id}\nstatus=failed\ntarget_ids={target}\nrun_ids={id}\nflaky=0\n",
            id = run["run_id"].as_str().unwrap()
        )
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.starts_with("## ❌ Doksi run "), "{summary}");
    assert!(summary.contains("| test | destination | status | duration | link |\n"));
    for (name, status) in [
        ("Login", "✅ passed"),
        ("Checkout flow", "✅ passed"),
        ("Payment declined", "❌ failed"),
    ] {
        let row = format!("| {name} | appium-unlock-2.0.0-debug.apk (io.appium.unlock) |");
        let line = summary
            .lines()
            .find(|l| l.starts_with(&row))
            .unwrap_or_else(|| panic!("no row for {name}: {summary}"));
        assert!(line.contains(&format!(" | {status} | ")), "{line}");
        assert!(
            line.ends_with(") |") && line.contains("[result](http://"),
            "{line}"
        );
    }
    let failed = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == "failed")
        .unwrap();
    let annotation = format!(
        "::error title=Doksi test failed::Payment declined failed on appium-unlock-2.0.0-debug.apk (io.appium.unlock): {}",
        failed["url"].as_str().unwrap()
    );
    let annotations: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(annotations, [annotation.as_str()], "{}", r.stderr);
}

#[test]
fn wait_takes_target_ids_from_the_results() {
    let sb = Sandbox::start(&[]);
    let target = target(&sb);
    let started = sb.run(&["run", "--target", &target, "--category", "cat_smoke"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let run_id = started.stdout.trim();
    let dir = tempfile::tempdir().unwrap();
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    let mut args = vec!["wait", run_id];
    args.extend(FAST);
    let r = sb.run_with(&args, &github_env(&output, &summary));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("run_id={run_id}\nstatus=passed\ntarget_ids={target}\nrun_ids={run_id}\nflaky=0\n")
    );
    assert!(!r.stderr.contains("::error"), "{}", r.stderr);
}

#[test]
fn an_unwritable_summary_is_a_warning_and_the_build_still_passes() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let summary = dir.path().join("missing-folder/summary.md");
    let r = ci_with(
        &sb,
        &["--json", "--category", "cat_smoke"],
        &github_env(&output, &summary),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.lines().any(|l| l
            .starts_with("doksi: warning: cannot append the job summary to ")
            && l.contains(path_str(&summary))),
        "{}",
        r.stderr
    );
    assert!(
        std::fs::read_to_string(&output)
            .unwrap()
            .contains("status=passed\n")
    );
}

#[test]
fn outside_github_actions_nothing_is_written() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    // A shell that exported the runner's file names, but is not on GitHub Actions.
    let env = [
        ("GITHUB_OUTPUT", path_str(&output)),
        ("GITHUB_STEP_SUMMARY", path_str(&summary)),
    ];
    let r = ci_with(&sb, &["--json", "--category", "cat_failing"], &env);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!output.exists() && !summary.exists());
    assert!(!r.stderr.contains("::error"), "{}", r.stderr);
}
