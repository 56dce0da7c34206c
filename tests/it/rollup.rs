//! A run reported `failed` before its tests have ended, against a fake API written here: the
//! docs say the top-level `status` "rolls up across every result", and a service may say
//! `failed` as soon as one result fails while the others are still running. With `--retries`
//! doksi follows the run until every test has ended and re-runs only the failed ones; without,
//! it stops at the roll-up and every output calls the tests still going unfinished, never
//! failed, and counts them alike. Also: a re-run refused for quota after a real failure, and
//! the job summary of a run of thousands of tests.

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common::github_env;
use crate::field_faults::{Done, Req, command, doksi_at, reply, routed};
use crate::sandbox::path_str;

/// What the fake API does and saw.
#[derive(Default)]
struct State {
    /// How many tests the first run has; the test at index `failing` fails.
    tests: usize,
    failing: usize,
    /// The poll of run_1 from which every other test has passed; before it (from the second
    /// poll on) the run is already `failed` while they are `running`.
    finished_from: usize,
    polls: usize,
    /// Whether a re-run is refused for the quota.
    quota: bool,
    /// The bodies of every `POST /runs`, and of every webhook message.
    runs: Vec<Value>,
    hook: Vec<Value>,
}

fn result(i: usize, status: &str) -> Value {
    json!({"result_id": format!("res_{i}"), "test_id": format!("t_{i:04}"),
           "test_name": format!("Test {i:04}"), "status": status, "duration_seconds": 1,
           "url": format!("https://app.doksi.ai/r/res_{i}"),
           "destination": {"platform": "android", "target_id": "bin_1"}})
}

/// A run object whose `tests_*` fields count its results honestly.
fn run(id: &str, status: &str, results: Vec<Value>) -> Value {
    let count = |s: &str| results.iter().filter(|r| r["status"] == s).count();
    json!({"run_id": id, "status": status, "tests_total": results.len(),
           "tests_passed": count("passed"), "tests_failed": count("failed"),
           "tests_running": count("running") + count("queued"), "duration_seconds": 5,
           "created_at": "2026-04-14T14:22:10.000Z", "results": results})
}

fn answer(state: &Mutex<State>, req: &Req) -> crate::field_faults::Reply {
    let mut s = state.lock().unwrap();
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/hook") => {
            s.hook.push(body);
            reply(200, "ok")
        }
        ("POST", "/api/runs") => {
            s.runs.push(body.clone());
            if s.runs.len() == 1 {
                let results: Vec<Value> = (0..s.tests)
                    .map(|i| json!({"result_id": format!("res_{i}"), "test_id": format!("t_{i:04}")}))
                    .collect();
                return reply(
                    200,
                    &json!({"run_id": "run_1", "results": results}).to_string(),
                );
            }
            let ids: Vec<Value> = body["matrix"][0]["test_ids"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if s.quota {
                return reply(
                    402,
                    &json!({"error": "quota exceeded", "requested": ids.len(), "remaining": 0})
                        .to_string(),
                );
            }
            let results: Vec<Value> = ids
                .iter()
                .map(|id| json!({"result_id": "res_r1", "test_id": id}))
                .collect();
            reply(
                200,
                &json!({"run_id": "run_2", "results": results}).to_string(),
            )
        }
        ("GET", "/api/runs/run_1") => {
            s.polls += 1;
            let (poll, failing, finished) = (s.polls, s.failing, s.polls >= s.finished_from);
            let results: Vec<Value> = (0..s.tests)
                .map(|i| match (poll, i == failing, finished) {
                    (1, _, _) => result(i, "running"),
                    (_, true, _) => result(i, "failed"),
                    (_, false, true) => result(i, "passed"),
                    (_, false, false) => result(i, "running"),
                })
                .collect();
            let status = if poll == 1 { "running" } else { "failed" };
            reply(200, &run("run_1", status, results).to_string())
        }
        ("GET", "/api/runs/run_2") => {
            // The re-run: the one test fails again.
            let mut r = result(s.failing, "failed");
            r["result_id"] = json!("res_r1");
            reply(200, &run("run_2", "failed", vec![r]).to_string())
        }
        _ => reply(404, r#"{"error":"not found"}"#),
    }
}

/// The fake API, and its state to look at afterwards.
fn fake(tests: usize, finished_from: usize, quota: bool) -> (String, Arc<Mutex<State>>) {
    let state = Arc::new(Mutex::new(State {
        tests,
        failing: tests / 2,
        finished_from,
        quota,
        ..State::default()
    }));
    let seen = state.clone();
    let (base, _log) = routed(move |req| answer(&seen, req));
    (base, state)
}

/// `doksi run --wait` on bin_1's category against `base`, polling fast, with `extra`.
pub(crate) fn run_wait(base: &str, home: &Path, extra: &[&str]) -> Done {
    let mut args = vec![
        "run",
        "--target",
        "bin_1",
        "--category",
        "cat_nightly",
        "--wait",
        "--poll-interval",
        "100ms",
    ];
    args.extend_from_slice(extra);
    doksi_at(base, home, &args)
}

fn attr(xml: &str, tag: &str, name: &str) -> usize {
    let at = xml.find(&format!("<{tag} ")).unwrap();
    let rest = &xml[at..];
    let key = format!(" {name}=\"");
    let start = rest.find(&key).unwrap() + key.len();
    let len = rest[start..].find('"').unwrap();
    rest[start..start + len].parse().unwrap()
}

#[test]
fn with_retries_a_run_reported_failed_early_is_followed_and_only_its_failed_test_rerun() {
    let (base, state) = fake(4, 4, false);
    let home = tempfile::tempdir().unwrap();
    let junit = home.path().join("doksi.xml");
    let r = run_wait(
        &base,
        home.path(),
        &["--retries", "1", "--json", "--junit", path_str(&junit)],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let s = state.lock().unwrap();
    assert!(s.polls >= 4, "followed until every test ended: {}", s.polls);
    // One credit for the one test that failed: not four.
    assert_eq!(s.runs.len(), 2);
    assert_eq!(s.runs[1]["matrix"][0]["test_ids"], json!(["t_0002"]));
    assert!(
        r.stderr
            .contains("run run_1: failed, 3 tests still running: waiting for them to end\n"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("started run run_2, re-run 1 of 1: 1 test that failed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.lines().last().unwrap(),
        "doksi: error: run run_1 failed: 1 of 4 tests failed on every attempt (re-run: run_2)"
    );
    let doc: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        [
            &doc["tests_total"],
            &doc["tests_passed"],
            &doc["tests_failed"],
            &doc["tests_running"]
        ],
        [&json!(4), &json!(3), &json!(1), &json!(0)]
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    let counts = ["tests", "failures", "errors", "skipped"].map(|a| attr(&xml, "testsuite", a));
    assert_eq!(counts, [4, 1, 0, 0], "{xml}");
}

/// The counts each output gives of one run: passed, failed, unfinished.
type Tally = (usize, usize, usize);

/// `N passed`, `N failed` (or `N of M tests failed`), `N unfinished` as a line says them (0
/// when it does not).
fn numbers(line: &str) -> Tally {
    let n = |word: &str| {
        line.split([',', ':', ';', '(', ')'])
            .map(str::trim)
            .find_map(|part| {
                let n = part.strip_suffix(word)?.trim();
                n.split(" of ").next()?.parse().ok()
            })
            .unwrap_or(0)
    };
    (n("passed"), n("failed"), n("unfinished"))
}

#[test]
fn without_retries_tests_still_running_are_unfinished_and_every_output_counts_them_alike() {
    const TESTS: usize = 3000;
    let (base, state) = fake(TESTS, usize::MAX, false);
    let home = tempfile::tempdir().unwrap();
    let junit = home.path().join("doksi.xml");
    let (output, summary) = (home.path().join("output"), home.path().join("summary.md"));
    let hook = format!("{}/hook", base.trim_end_matches("/api"));
    let mut args = vec![
        "run",
        "--target",
        "bin_1",
        "--category",
        "cat_nightly",
        "--wait",
    ];
    args.extend([
        "--poll-interval",
        "100ms",
        "--junit",
        path_str(&junit),
        "--notify",
        &hook,
    ]);
    let mut cmd = command(&base, home.path(), &args);
    // Stdout to a file, as `> results.txt`: a reader of its own, which gets the whole account
    // even on a CI runner (where two pipes count as one log).
    let results = home.path().join("results.txt");
    cmd.envs(github_env(&output, &summary))
        .stdout(std::fs::File::create(&results).unwrap());
    let out = cmd.output().unwrap();
    let r = Done {
        code: out.status.code().unwrap_or(-1),
        stdout: std::fs::read_to_string(&results).unwrap(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: Default::default(),
    };
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The roll-up is the gate: doksi stopped there, and started nothing more.
    assert_eq!(state.lock().unwrap().runs.len(), 1);
    let expected: Tally = (0, 1, TESTS - 1);
    // The text: the summary line counts them, and no test still running has a line.
    let stdout: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(stdout.len(), 2, "{}", r.stdout);
    assert_eq!(
        stdout[0],
        format!("run run_1: failed ({TESTS} tests: 0 passed, 1 failed, 2999 unfinished)")
    );
    assert!(
        stdout[1].starts_with("  failed   Test 1500  on bin_1"),
        "{}",
        stdout[1]
    );
    assert_eq!(numbers(stdout[0].split_once('(').unwrap().1), expected);
    // The live lines (stderr): the failed test, and the status with what was unfinished.
    assert!(
        r.stderr
            .contains("run run_1: failed, 2999 tests unfinished\n"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("  running "), "{}", r.stderr);
    // The error line.
    let error = r.stderr.lines().last().unwrap();
    assert_eq!(
        error,
        "doksi: error: run run_1 failed: 1 of 3000 tests failed, 0 passed, 2999 unfinished (still running when the run was reported failed)"
    );
    assert_eq!(
        numbers(error.split_once("failed:").unwrap().1),
        (0, 1, 2999)
    );
    // JUnit: failures and skipped, each skipped test saying why.
    let xml = std::fs::read_to_string(&junit).unwrap();
    let junit_counts = (
        attr(&xml, "testsuite", "tests")
            - attr(&xml, "testsuite", "failures")
            - attr(&xml, "testsuite", "errors")
            - attr(&xml, "testsuite", "skipped"),
        attr(&xml, "testsuite", "failures"),
        attr(&xml, "testsuite", "skipped"),
    );
    assert_eq!(junit_counts, expected);
    assert_eq!(
        xml.matches(r#"<skipped message="still running when run run_1 was reported failed"/>"#)
            .count(),
        TESTS - 1
    );
    // GitHub's job summary: the counts line, and the unfinished tests folded, not a table row
    // each among the failures.
    let md = std::fs::read_to_string(&summary).unwrap();
    let counts_line = md.lines().find(|l| l.starts_with("3000 tests:")).unwrap();
    assert_eq!(numbers(counts_line), expected, "{counts_line}");
    assert!(
        md.contains("<details><summary>⏳ 2999 unfinished (still running when run run_1 was reported failed)</summary>"),
        "{}",
        &md[..1000]
    );
    let failed_table = &md[..md.find("<details>").unwrap()];
    assert_eq!(failed_table.matches("⏳").count(), 0, "{failed_table}");
    // The webhook.
    let hook = state.lock().unwrap().hook.clone();
    assert_eq!(hook.len(), 1);
    let text = hook[0]["text"].as_str().unwrap();
    let headline = text.lines().next().unwrap();
    assert_eq!(
        headline,
        "doksi: run failed: 0 passed, 1 failed, 0 flaky, 2999 unfinished"
    );
    assert_eq!(numbers(headline.split_once("failed:").unwrap().1), expected);
    // --json, from a run of its own against the same service: its results say as much.
    let (base, _) = fake(TESTS, usize::MAX, false);
    let json_run = run_wait(&base, home.path(), &["--json"]);
    assert_eq!(json_run.code, 1, "{}", json_run.stderr);
    let doc: Value = serde_json::from_str(&json_run.stdout).unwrap();
    let of = |s: &str| {
        doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == s)
            .count()
    };
    assert_eq!((of("passed"), of("failed"), of("running")), expected);
    assert_eq!(
        (
            &doc["tests_passed"],
            &doc["tests_failed"],
            &doc["tests_running"]
        ),
        (&json!(0), &json!(1), &json!(2999))
    );
}

#[test]
fn a_rerun_refused_for_quota_after_a_real_failure_exits_1_with_a_warning() {
    let (base, state) = fake(4, 2, true);
    let home = tempfile::tempdir().unwrap();
    let r = run_wait(&base, home.path(), &["--retries", "2"]);
    assert_eq!(
        r.code, 1,
        "a test failed, that is the verdict: {}",
        r.stderr
    );
    assert_eq!(state.lock().unwrap().runs.len(), 2);
    assert!(
        r.stderr.contains("doksi: warning: re-run 1 of 2 was refused for the test credit quota: it needed 1 credit and 0 credits remain; the failed tests were not run again, and the failed verdict stands"),
        "{}",
        r.stderr
    );
    assert_eq!(
        r.stderr.lines().last().unwrap(),
        "doksi: error: run run_1 failed: 1 of 4 tests failed, 3 passed"
    );
}

#[test]
fn the_job_summary_of_thousands_of_tests_lists_the_failure_first_and_stays_under_1_mib() {
    const TESTS: usize = 6000;
    // Reported failed on the second poll, every other test passed by then.
    let (base, _state) = fake(TESTS, 2, false);
    let home = tempfile::tempdir().unwrap();
    let (output, summary) = (home.path().join("output"), home.path().join("summary.md"));
    // An earlier command of the same step wrote 900 KB of summary: it counts against the limit.
    let earlier = format!("{}\n", "x".repeat(900 * 1024));
    std::fs::write(&summary, &earlier).unwrap();
    let mut cmd = command(
        &base,
        home.path(),
        &[
            "run",
            "--target",
            "bin_1",
            "--category",
            "c",
            "--wait",
            "--poll-interval",
            "100ms",
        ],
    );
    let out = cmd.envs(github_env(&output, &summary)).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.len() <= 1 << 20, "{}", md.len());
    let ours = &md[earlier.len()..];
    assert!(ours.starts_with("## ❌ Doksi run run\\_1 failed\n\n6000 tests: 5999 passed, 1 failed, 0 errored, 0 unfinished;"), "{}", &ours[..300]);
    // The failure first, in a table of its own; the passed tests folded after it.
    let failed = ours.find("| Test 3000 | bin\\_1 | ❌ failed |").unwrap();
    let fold = ours
        .find("<details><summary>✅ 5999 passed</summary>")
        .unwrap();
    assert!(failed < fold);
    // What did not fit is counted, and the fold is closed before the note.
    let shown = ours.matches("| ✅ passed |").count();
    assert!(shown > 100 && shown < 5999, "{shown}");
    assert!(
        ours.ends_with(&format!(
            "</details>\n\nLeft out, to keep this summary within GitHub's 1 MiB limit: {} passed tests.\n\n",
            5999 - shown
        )),
        "{}",
        &ours[ours.len() - 300..]
    );
}

#[test]
fn following_a_run_reported_failed_early_still_ends_at_the_timeout() {
    // The tests that were still running never end.
    let (base, state) = fake(4, usize::MAX, false);
    let home = tempfile::tempdir().unwrap();
    let r = run_wait(&base, home.path(), &["--retries", "1", "--timeout", "2s"]);
    assert!(r.took < std::time::Duration::from_secs(8), "{:?}", r.took);
    // The failed roll-up stands: its failed test is re-run, the others stay unfinished.
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(
        state.lock().unwrap().runs[1]["matrix"][0]["test_ids"],
        json!(["t_0002"])
    );
    assert_eq!(
        r.stderr.lines().last().unwrap(),
        "doksi: error: run run_1 failed: 1 of 4 tests failed on every attempt, 3 unfinished (re-run: run_2)"
    );
    assert!(
        r.stdout.starts_with(
            "run run_1: failed after 1 re-run (run_2): 4 tests: 0 passed, 0 flaky, 1 failed, 3 unfinished\n"
        ),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("running"), "{}", r.stdout);
    // Said before the re-run starts, so the log tells why 3 tests were left.
    let told = r
        .stderr
        .find("run run_1: --timeout reached with 3 tests still running; its failed roll-up stands")
        .unwrap_or_else(|| panic!("{}", r.stderr));
    assert!(
        told < r.stderr.find("started run run_2").unwrap(),
        "{}",
        r.stderr
    );
}

#[test]
fn rerun_failed_of_a_run_reported_failed_early_leaves_out_the_tests_still_running() {
    let (base, state) = fake(4, usize::MAX, false);
    // Its first answer is already the early roll-up.
    state.lock().unwrap().polls = 1;
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(&base, home.path(), &["rerun", "run_1", "--failed"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = state.lock().unwrap();
    assert_eq!(s.runs.len(), 1);
    assert_eq!(s.runs[0]["matrix"][0]["test_ids"], json!(["t_0002"]));
}
