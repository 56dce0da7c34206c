//! Behaviour pinned before the library is moved into layers: one-line slips that no other test
//! would notice (issue "The house in layers"), each against a server, a file or a consumer
//! written here.

use crate::field_faults::{Req, reply, routed, uploading_server};
use crate::sandbox::{path_str, unlock_apk};

fn upload_with(base: &str, home: &std::path::Path, key: &str) -> String {
    let out = crate::common::doksi(home)
        .args(["upload", path_str(&unlock_apk()), "--retry-delay", "10ms"])
        .env("DOKSI_BASE_URL", base)
        .env("DOKSI_API_KEY", key)
        .env("DOKSI_CACHE_DIR", home.join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn two_keys_that_end_alike_never_share_a_cached_target() {
    // Two accounts' keys with the same last four characters, one cache folder: the scope is the
    // whole key (hashed), not the hint `cache list` shows.
    let (base, log) = uploading_server(|_| reply(404, r#"{"error":"no such route"}"#));
    let home = tempfile::tempdir().unwrap();
    let a = "dk_live_1111111111111111111111111111111111115a5a";
    let b = "dk_live_2222222222222222222222222222222222225a5a";
    assert!(upload_with(&base, home.path(), a).starts_with("bin_1"));
    assert!(
        upload_with(&base, home.path(), b).starts_with("bin_2"),
        "the other account's target"
    );
    assert_eq!(log.count("PUT /put"), 2);
    // Each key still finds its own.
    assert!(upload_with(&base, home.path(), a).starts_with("bin_1"));
    assert!(upload_with(&base, home.path(), b).starts_with("bin_2"));
    assert_eq!(log.count("PUT /put"), 2, "cache hits send nothing");
}

const KEY: &str = "dk_live_0123456789abcdef0123456789abcdef01234567";

#[test]
fn rerun_failed_takes_every_test_that_ended_without_passing() {
    // Failed, errored and cancelled tests are all "did not pass"; a passed one is not run again.
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let (base, _log) = routed(
        move |req: &Req| match (req.method.as_str(), req.path.as_str()) {
            ("GET", "/api/runs/run_1") => {
                let result = |id: &str, status: &str| {
                    format!(
                        r#"{{"result_id":"r_{id}","test_id":"{id}","test_name":"{id}","status":"{status}","duration_seconds":1,"destination":{{"platform":"android","target_id":"bin_1"}}}}"#
                    )
                };
                let results = [
                    result("t_pass", "passed"),
                    result("t_fail", "failed"),
                    result("t_err", "error"),
                    result("t_cancel", "cancelled"),
                ]
                .join(",");
                reply(
                    200,
                    &format!(
                        r#"{{"run_id":"run_1","status":"failed","tests_total":4,"tests_passed":1,"tests_failed":3,"tests_running":0,"duration_seconds":4,"results":[{results}]}}"#
                    ),
                )
            }
            ("POST", "/api/runs") => {
                seen.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&req.body).into_owned());
                reply(200, r#"{"run_id":"run_2","results":[]}"#)
            }
            _ => reply(404, r#"{"error":"no such route"}"#),
        },
    );
    let home = tempfile::tempdir().unwrap();
    let out = crate::common::doksi(home.path())
        .args(["rerun", "run_1", "--failed", "--retry-delay", "10ms"])
        .env("DOKSI_BASE_URL", &base)
        .env("DOKSI_API_KEY", KEY)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bodies = bodies.lock().unwrap();
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let sent: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let mut ids: Vec<&str> = sent["matrix"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            e["test_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["t_cancel", "t_err", "t_fail"], "{sent}");
}

/// The `<testcase …>…</testcase>` (or self-closed) element whose `name` is `name`.
fn testcase<'x>(xml: &'x str, name: &str) -> &'x str {
    let at = xml
        .find(&format!(r#"name="{name}""#))
        .unwrap_or_else(|| panic!("no testcase {name}: {xml}"));
    let start = xml[..at].rfind("<testcase").unwrap();
    let rest = &xml[start..];
    let head = rest.find('>').unwrap() + 1;
    let end = match rest[..head].ends_with("/>") {
        true => head,
        false => rest.find("</testcase>").unwrap() + "</testcase>".len(),
    };
    &rest[..end]
}

#[test]
fn after_a_rerun_a_test_that_failed_again_is_a_failure_and_a_flaky_one_a_flaky_failure() {
    // Read from the XML itself, without a JUnit library.
    let sb = crate::sandbox::Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let junit = dir.path().join("junit.xml");
    let r = sb.run(&[
        "ci",
        path_str(&unlock_apk()),
        "--category",
        "cat_failing,cat_flaky",
        "--retries",
        "1",
        "--junit",
        path_str(&junit),
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let failed = testcase(&xml, "Payment declined");
    assert!(
        failed.contains("<failure") && failed.contains("<rerunFailure"),
        "{failed}"
    );
    assert!(!failed.contains("flaky"), "{failed}");
    let flaky = testcase(&xml, "Add to cart");
    assert!(flaky.contains("<flakyFailure"), "{flaky}");
    assert!(
        !flaky.contains("<failure") && !flaky.contains("rerunFailure"),
        "{flaky}"
    );
    let passed = testcase(&xml, "Login");
    assert!(
        !passed.contains("<failure") && !passed.contains("flaky"),
        "{passed}"
    );
}

#[test]
fn a_run_answer_without_its_results_is_told_by_its_counts() {
    let (base, _log) = routed(|req: &Req| match req.path.as_str() {
        "/api/runs/run_9" => reply(
            200,
            r#"{"run_id":"run_9","status":"failed","tests_total":5,"tests_passed":3,"tests_failed":2,"tests_running":0}"#,
        ),
        _ => reply(404, r#"{"error":"no such route"}"#),
    });
    let home = tempfile::tempdir().unwrap();
    let out = crate::common::doksi(home.path())
        .args(["wait", "run_9", "--retry-delay", "10ms"])
        .env("DOKSI_BASE_URL", &base)
        .env("DOKSI_API_KEY", KEY)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.lines().last().unwrap_or_default()
            == "doksi: error: run run_9 failed: 2 of 5 tests failed, 3 passed",
        "{err}"
    );
}
