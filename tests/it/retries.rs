//! `--retries`: a failed run's failed tests run again, on their destinations with their
//! authentication (asserted from the sandbox's request log); a test that passes on a re-run is
//! flaky, and says so in the text, the JSON, the JUnit file (read by junitparser, a real JUnit
//! reader) and GitHub's outputs, summary and annotations.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{FAST, ci, ci_with, github_env, needed, ok_json, stdout_json, target};
use crate::sandbox::{Sandbox, path_str};

/// The matrices of every `POST /runs` the sandbox received, in order.
fn run_requests(sb: &Sandbox) -> Vec<Value> {
    sb.requests()["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "POST" && e["route"] == "/runs")
        .map(|e| e["body"].clone())
        .collect()
}

/// The CI venv's python with junitparser (`.ci/run` installs it into target/ci-venv, or where
/// DOKSI_CI_VENV says); `None`, with a note, where it is missing outside CI.
fn junitparser() -> Option<PathBuf> {
    let venv = std::env::var_os("DOKSI_CI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv"));
    let python = venv.join("bin/python3");
    let works = Command::new(&python)
        .args(["-c", "import junitparser.xunit2"])
        .output()
        .is_ok_and(|o| o.status.success());
    needed(
        works.then_some(python),
        "junitparser",
        ".ci/run installs it into target/ci-venv",
    )
}

/// The JUnit file as junitparser's xunit2 flavour (Surefire's, with rerun and flaky results)
/// reads it: the suite's counts and, per testcase, its final result and interim results.
fn read_junit(path: &Path) -> Option<Value> {
    const SCRIPT: &str = "
import json, sys
from junitparser.xunit2 import JUnitXml, RerunFailure, FlakyFailure
xml = JUnitXml.fromfile(sys.argv[1])
suites = list(xml)
assert len(suites) == 1, suites
suite = suites[0]
def interim(i):
    return {'message': i.message, 'type': i.type, 'stack_trace': i.stack_trace, 'system_out': i.system_out}
print(json.dumps({
    'name': suite.name, 'tests': suite.tests, 'failures': suite.failures, 'errors': suite.errors,
    'skipped': suite.skipped,
    'flakes': next((p.value for p in suite.properties() if p.name == 'flakes'), None),
    'cases': [{
        'name': c.name, 'classname': c.classname, 'passed': c.is_passed,
        'result': [{'tag': r._tag, 'message': r.message, 'text': r.text} for r in c.result],
        'flaky': [interim(i) for i in c.flaky_failures()],
        'rerun': [interim(i) for i in c.rerun_failures()],
    } for c in suite],
}))
";
    let python = junitparser()?;
    let out = Command::new(python)
        .args(["-c", SCRIPT])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "junitparser refused {}: {}\n{}",
        path.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(path).unwrap_or_default()
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

fn case<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no testcase {name:?}: {doc}"))
}

fn result_url<'a>(run: &'a Value, test_id: &str) -> &'a str {
    run["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["test_id"] == test_id)
        .and_then(|r| r["url"].as_str())
        .unwrap_or_else(|| panic!("no result for {test_id}: {run}"))
}

#[test]
fn a_flaky_test_passes_and_is_reported_flaky_in_json_junit_and_github() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("doksi.xml");
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    let r = ci_with(
        &sb,
        &[
            "--json",
            "--category",
            "cat_flaky",
            "--retries",
            "2",
            "--junit",
            path_str(&junit),
        ],
        &github_env(&output, &summary),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("started run run_2, re-run 1 of 2: 1 test that failed\n"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("run_3"), "{}", r.stderr);

    // JSON: the first run's object with the standing results, and the attempts beside it.
    let doc = stdout_json(&r);
    assert_eq!(
        (&doc["run_id"], &doc["status"]),
        (&json!("run_1"), &json!("passed"))
    );
    assert_eq!(
        (
            &doc["tests_total"],
            &doc["tests_passed"],
            &doc["tests_failed"]
        ),
        (&json!(2), &json!(2), &json!(0))
    );
    let attempts = doc["attempts"].as_array().unwrap();
    let ids: Vec<&Value> = attempts.iter().map(|a| &a["run_id"]).collect();
    assert_eq!(ids, [&json!("run_1"), &json!("run_2")]);
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[1]["results"].as_array().unwrap().len(), 1);
    let flaky = doc["flaky"].as_array().unwrap();
    assert_eq!(flaky.len(), 1, "{doc}");
    assert_eq!(
        (&flaky[0]["test_id"], &flaky[0]["passed_in"]),
        (&json!("flaky_cart"), &json!("run_2"))
    );
    let failed_url = result_url(&attempts[0], "flaky_cart");
    assert_eq!(flaky[0]["failed_in"][0]["url"], failed_url);
    assert_eq!(
        result_url(&doc, "flaky_cart"),
        result_url(&attempts[1], "flaky_cart")
    );

    // GitHub: outputs, a flaky group in the summary, a warning and no error.
    let target = doc["results"][0]["destination"]["target_id"]
        .as_str()
        .unwrap();
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        format!("run_id=run_1\nstatus=passed\ntarget_ids={target}\nrun_ids=run_1,run_2\nflaky=1\n")
    );
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with("## ✅ Doksi run run\\_1 passed after 1 re-run\n"),
        "{summary}"
    );
    assert!(
        summary.contains("2 tests: 1 passed, 1 flaky, 0 failed"),
        "{summary}"
    );
    // The flaky test is listed once, in its group; the passed one folded.
    assert!(!summary.contains("| 🔁 flaky |"), "{summary}");
    assert!(
        summary.contains("<details><summary>✅ 1 passed</summary>"),
        "{summary}"
    );
    let group = summary.split("### 🔁 Flaky").nth(1).expect(&summary);
    assert!(
        group.contains(
            "| Add to cart | appium-unlock-2.0.0-debug.apk (io.appium.unlock) | [run\\_2]("
        ) && group.contains(&format!("[run\\_1]({failed_url})")),
        "{group}"
    );
    let annotations: Vec<&str> = r.stderr.lines().filter(|l| l.starts_with("::")).collect();
    assert_eq!(
        annotations,
        [format!(
            "::warning title=Doksi test flaky::Add to cart on appium-unlock-2.0.0-debug.apk (io.appium.unlock) failed in run run_1, then passed in run run_2: {failed_url}"
        )],
        "{}",
        r.stderr
    );

    // JUnit, as a JUnit reader sees it: one case per test, the flaky one passed with a
    // flakyFailure naming the run and holding the result's URL.
    let Some(report) = read_junit(&junit) else {
        return;
    };
    assert_eq!(
        (&report["tests"], &report["failures"], &report["flakes"]),
        (&json!(2), &json!(0), &json!("1")),
        "{report}"
    );
    let cart = case(&report, "Add to cart");
    assert_eq!(cart["passed"], true, "{cart}");
    assert_eq!(cart["rerun"], json!([]));
    let flaky = cart["flaky"].as_array().unwrap();
    assert_eq!(flaky.len(), 1, "{cart}");
    assert_eq!(flaky[0]["type"], "failed");
    assert_eq!(flaky[0]["stack_trace"], failed_url);
    assert!(
        flaky[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("in run run_1"),
        "{cart}"
    );
    let login = case(&report, "Login");
    assert_eq!(
        (&login["passed"], &login["flaky"]),
        (&json!(true), &json!([]))
    );
}

#[test]
fn a_test_failing_on_every_attempt_exits_1_and_only_failed_tests_are_rerun_with_their_auth() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("doksi.xml");
    let r = ci(
        &sb,
        &[
            "--category",
            "cat_flaky",
            "--category",
            "cat_failing",
            "--auth",
            "specific:acc_42",
            "--retries",
            "2",
            "--junit",
            path_str(&junit),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().last().unwrap(),
        "doksi: error: run run_1 failed: 1 of 3 tests failed on every attempt (re-runs: run_2, run_3)"
    );
    // Text: the failed test among the others, the flaky one in a group of its own.
    assert!(
        r.stdout.starts_with("run run_1: failed after 2 re-runs (run_2, run_3): 3 tests: 1 passed, 1 flaky, 1 failed\n"),
        "{}",
        r.stdout
    );
    let flaky_group = r
        .stdout
        .split("\nflaky (failed, then passed on a re-run):\n")
        .nth(1);
    assert!(
        flaky_group.is_some_and(|g| g.contains(
            "Add to cart  on appium-unlock-2.0.0-debug.apk (io.appium.unlock)  passed in run run_2"
        ) && !g.contains("Payment declined")),
        "{}",
        r.stdout
    );

    // Each re-run asked for what still failed, on the same target, signing in the same way.
    let requests = run_requests(&sb);
    let auth = json!([{"type": "authentication", "strategy": "specific", "account_id": "acc_42"}]);
    let bin = requests[0]["matrix"][0]["target_id"].clone();
    assert_eq!(
        requests,
        [
            json!({"matrix": [{"platform": "android", "target_id": bin,
                "category_ids": ["cat_flaky", "cat_failing"], "artifacts": auth}]}),
            json!({"matrix": [{"platform": "android", "target_id": bin,
                "test_ids": ["flaky_cart", "fail_payment"], "artifacts": auth}]}),
            json!({"matrix": [{"platform": "android", "target_id": bin,
                "test_ids": ["fail_payment"], "artifacts": auth}]}),
        ]
    );

    let Some(report) = read_junit(&junit) else {
        return;
    };
    assert_eq!(
        (&report["tests"], &report["failures"], &report["flakes"]),
        (&json!(3), &json!(1), &json!("1")),
        "{report}"
    );
    let pay = case(&report, "Payment declined");
    assert_eq!(pay["passed"], false);
    assert_eq!(pay["result"][0]["tag"], "failure", "{pay}");
    let reruns: Vec<&str> = pay["rerun"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["message"].as_str().unwrap())
        .collect();
    assert_eq!(reruns.len(), 2, "{pay}");
    assert!(reruns[0].ends_with("in run run_2") && reruns[1].ends_with("in run run_3"));
    assert!(
        pay["rerun"][1]["system_out"]
            .as_str()
            .unwrap()
            .starts_with("run run_3 result res_")
    );
    assert_eq!(case(&report, "Add to cart")["passed"], true);
}

#[test]
fn fail_on_flaky_fails_the_verdict_and_still_calls_the_test_flaky() {
    let sb = Sandbox::start(&[]);
    let r = ci_with(
        &sb,
        &["--category", "cat_flaky", "--retries", "1"],
        &[("DOKSI_FAIL_ON_FLAKY", "true")],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        r.stderr.lines().last().unwrap(),
        "doksi: error: run run_1 and its re-run run_2: every test passed, but 1 of 2 only on a re-run (--fail-on-flaky)"
    );
    assert!(
        r.stdout.starts_with("run run_1: failed after 1 re-run "),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("\nflaky (failed, then passed on a re-run):\n")
    );
    // Without it, the same tests pass.
    let sb = Sandbox::start(&[]);
    let r = ci(&sb, &["--category", "cat_flaky", "--retries", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("run run_1: passed after 1 re-run "),
        "{}",
        r.stdout
    );
}

#[test]
fn retries_for_a_run_doksi_did_not_start_need_the_auth_flag() {
    let sb = Sandbox::start(&[]);
    for env in [&[][..], &[("DOKSI_AUTH", "generated")][..]] {
        let r = sb.run_with(&["wait", "run_1", "--retries", "1"], env);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(
            r.stderr.contains("--retries needs --auth for run run_1"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(sb.total(), 0, "refused before anything was sent");

    // With it: the re-run goes where the results ran, signing in as told.
    let target = target(&sb);
    let started = sb.run(&["run", "--target", &target, "--category", "cat_flaky"]);
    assert_eq!(started.code, 0, "{}", started.stderr);
    let run_id = started.stdout.trim();
    let mut args = vec![
        "wait",
        run_id,
        "--retries",
        "1",
        "--auth",
        "generated",
        "--json",
    ];
    args.extend(FAST);
    let r = sb.run(&args);
    let doc = ok_json(&r);
    assert_eq!(doc["flaky"][0]["test_id"], "flaky_cart");
    assert_eq!(
        run_requests(&sb)[1],
        json!({"matrix": [{"platform": "android", "target_id": target, "test_ids": ["flaky_cart"],
            "artifacts": [{"type": "authentication", "strategy": "generated"}]}]})
    );
}

#[test]
fn quota_during_a_rerun_is_exit_1_for_the_failure_seen_with_what_is_known_reported() {
    // Three credits: the first run takes them all, the re-run of two tests finds none.
    let sb = Sandbox::start(&["--credits", "3"]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("doksi.xml");
    let r = ci(
        &sb,
        &[
            "--json",
            "--category",
            "cat_flaky",
            "--category",
            "cat_failing",
            "--retries",
            "1",
            "--junit",
            path_str(&junit),
        ],
    );
    // Two tests failed: that decides the exit code, not the billing of the re-run.
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("doksi: warning: re-run 1 of 1 was refused for the test credit quota: it needed 2 credits and 0 credits remain"),
        "{}",
        r.stderr
    );
    let last = r.stderr.lines().last().unwrap();
    assert_eq!(
        last, "doksi: error: run run_1 failed: 2 of 3 tests failed, 1 passed",
        "{}",
        r.stderr
    );
    let doc = stdout_json(&r);
    assert_eq!(
        (
            &doc["run_id"],
            &doc["status"],
            doc["attempts"].as_array().unwrap().len()
        ),
        (&json!("run_1"), &json!("failed"), 1)
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains(r#"tests="3" failures="2""#), "{xml}");
    assert_eq!(sb.runs_created(), 1);
}

#[test]
fn a_failed_run_whose_results_name_no_single_entry_is_not_rerun() {
    let sb = Sandbox::start(&[]);
    let target = target(&sb);
    let dir = tempfile::tempdir().unwrap();
    // One target twice, signing in two ways: a result says its target, not its entry.
    let matrix = dir.path().join("matrix.json");
    let entry = |auth: Value| {
        json!({"platform": "android", "target_id": target, "test_ids": ["fail_payment"],
               "artifacts": [auth]})
    };
    let generated = json!({"type": "authentication", "strategy": "generated"});
    let specific = json!({"type": "authentication", "strategy": "specific", "account_id": "acc_1"});
    std::fs::write(
        &matrix,
        json!({"matrix": [entry(generated), entry(specific)]}).to_string(),
    )
    .unwrap();
    let mut args = vec![
        "run",
        "--matrix",
        path_str(&matrix),
        "--wait",
        "--retries",
        "2",
    ];
    args.extend(FAST);
    let r = sb.run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("doksi: warning: run run_1: 2 failed tests (fail_payment, fail_payment) without a destination that names one matrix entry")
            && r.stderr.contains("it is not re-run, and its verdict stands"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.runs_created(), 1);
}

#[test]
fn a_timed_out_run_is_not_rerun() {
    let sb = Sandbox::start(&["--run-step", "5s"]);
    let r = ci(
        &sb,
        &[
            "--category",
            "cat_failing",
            "--retries",
            "2",
            "--timeout",
            "1s",
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert_eq!(sb.runs_created(), 1);
}

#[test]
fn retries_are_checked_before_anything_is_sent() {
    let sb = Sandbox::start(&[]);
    let r = ci(&sb, &["--category", "cat_smoke", "--retries", "6"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("0 to 5"), "{}", r.stderr);
    let r = sb.run(&[
        "run",
        "--target",
        "bin_1",
        "--category",
        "cat_smoke",
        "--retries",
        "1",
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--retries needs --wait"), "{}", r.stderr);
    assert_eq!(sb.total(), 0);
}

#[test]
fn rerun_starts_a_new_run_of_a_finished_runs_failed_or_all_tests() {
    let sb = Sandbox::start(&[]);
    let target = target(&sb);
    let mut first = vec!["run", "--target", &target, "--category", "cat_flaky"];
    first.extend(["--category", "cat_failing", "--auth", "generated", "--wait"]);
    first.extend(FAST);
    assert_eq!(sb.run(&first).code, 1);

    let r = sb.run(&["rerun", "run_1", "--failed", "--auth", "generated"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "run_2\n"), "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "started run run_2, a re-run of run run_1: 2 tests on 1 destination, signing in: generated"
        ),
        "{}",
        r.stderr
    );
    let r = sb.run(&["rerun", "run_1"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, "run_3\n"), "{}", r.stderr);
    let requests = run_requests(&sb);
    assert_eq!(
        requests[1..],
        [
            json!({"matrix": [{"platform": "android", "target_id": target,
                "test_ids": ["flaky_cart", "fail_payment"],
                "artifacts": [{"type": "authentication", "strategy": "generated"}]}]}),
            json!({"matrix": [{"platform": "android", "target_id": target,
                "test_ids": ["t_login", "flaky_cart", "fail_payment"]}]}),
        ]
    );

    // With --wait, as run --wait: the verdict is the exit code, the JSON the new run.
    let mut args = vec!["rerun", "run_1", "--failed", "--wait", "--json"];
    args.extend(FAST);
    let r = sb.run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let run = stdout_json(&r);
    assert_eq!(
        (&run["run_id"], &run["status"]),
        (&json!("run_4"), &json!("failed"))
    );
    assert_eq!(run["tests_total"], 2);

    // Nothing to re-run: said, and nothing started.
    let mut passed = vec![
        "run",
        "--target",
        &target,
        "--category",
        "cat_smoke",
        "--wait",
    ];
    passed.extend(FAST);
    assert_eq!(sb.run(&passed).code, 0);
    let r = sb.run(&["rerun", "run_5", "--failed"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "doksi: error: run run_5 has no failed test to re-run\n"
    );
    assert_eq!(sb.runs_created(), 5);

    // A run still going (results queued for 5 s) is not re-run.
    let slow = Sandbox::start(&["--run-step", "5s"]);
    let going = slow.run(&["run", "--web-url", "https://x.example", "--test", "t_login"]);
    assert_eq!(going.code, 0, "{}", going.stderr);
    let r = slow.run(&["rerun", going.stdout.trim()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("is still queued: only a finished run can be re-run"),
        "{}",
        r.stderr
    );
    assert_eq!(slow.runs_created(), 1);
}

#[test]
fn a_dry_run_says_how_many_reruns_there_may_be_and_what_they_could_cost() {
    let sb = Sandbox::start(&[]);
    let r = ci(
        &sb,
        &[
            "--dry-run",
            "--test",
            "t_a",
            "--test",
            "t_b",
            "--retries",
            "2",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "\nthen up to 2 re-runs of the failed tests: at most 2 × 2 = 4 more test credits\ndry run: nothing was sent\n"
        ),
        "{}",
        r.stdout
    );
    let doc = ok_json(&ci(
        &sb,
        &[
            "--dry-run",
            "--json",
            "--category",
            "cat_smoke",
            "--retries",
            "3",
        ],
    ));
    assert_eq!(
        doc["retries"],
        json!({"up_to": 3, "most_test_credits": null, "test_ids": 0, "categories": ["cat_smoke"]})
    );
    let plain = ok_json(&ci(
        &sb,
        &["--dry-run", "--json", "--category", "cat_smoke"],
    ));
    assert_eq!(plain.get("retries"), None);
    assert_eq!(sb.total(), 0);
}
