//! The pipeline's (src/pipeline.rs) behaviour that cargo-mutants found no other test pinning,
//! against a server written here: a re-run whose request is lost ends the command with that
//! loss (exit 3), it is not the quota's warning; a run doksi created names in its step outputs
//! the targets it sent, not only those its results happen to name.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use crate::common::github_env;
use crate::field_faults::{command, reply, routed};

/// A gateway's page: after it the re-run may exist, so it is not asked for again.
const GATEWAY_504: &str = "<html><head><title>504 Gateway Time-out</title></head></html>";

#[test]
fn a_rerun_whose_request_is_lost_ends_with_exit_3_and_is_no_quota_warning() {
    // run_1: t_a passed, t_b failed. Its re-run's POST /runs meets a gateway's 504.
    let hook: Arc<Mutex<Vec<Value>>> = Arc::default();
    let heard = hook.clone();
    let (base, log) = routed(move |req| {
        match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/runs") if !req.body.windows(4).any(|w| w == b"t_b\"") => reply(
            200,
            &json!({"run_id": "run_1", "results": [
                {"result_id": "res_a", "test_id": "t_a"},
                {"result_id": "res_b", "test_id": "t_b"}]})
            .to_string(),
        ),
        ("POST", "/api/runs") => reply(504, GATEWAY_504),
        ("GET", "/api/runs/run_1") => reply(
            200,
            &json!({"run_id": "run_1", "status": "failed", "tests_total": 2, "tests_passed": 1,
                "tests_failed": 1, "tests_running": 0, "duration_seconds": 4, "results": [
                {"result_id": "res_a", "test_id": "t_a", "test_name": "A", "status": "passed",
                 "duration_seconds": 2, "destination": {"platform": "android", "target_id": "bin_1"}},
                {"result_id": "res_b", "test_id": "t_b", "test_name": "B", "status": "failed",
                 "duration_seconds": 2, "destination": {"platform": "android", "target_id": "bin_1"}}]})
            .to_string(),
        ),
        ("POST", "/hook") => {
            heard
                .lock()
                .unwrap()
                .push(serde_json::from_slice(&req.body).unwrap_or(Value::Null));
            reply(200, "ok")
        }
        _ => reply(404, r#"{"error":"not found"}"#),
    }
    });
    let home = tempfile::tempdir().unwrap();
    let url = format!("{}/hook", base.trim_end_matches("/api"));
    let r = crate::rollup::run_wait(&base, home.path(), &["--retries", "1", "--notify", &url]);
    assert_eq!(r.code, 3, "the re-run's request was lost: {}", r.stderr);
    assert_eq!(log.count("POST /api/runs"), 2, "{:?}", log.lines());
    assert!(
        r.stderr.contains("the run may have been created"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("quota"),
        "no quota was refused: {}",
        r.stderr
    );
    // What the first run came to is said before the loss ends the command, and the team hears it.
    assert!(r.stderr.contains("run run_1 failed"), "{}", r.stderr);
    let hook = hook.lock().unwrap();
    assert_eq!(hook.len(), 1, "{hook:?}");
    let text = hook[0]["text"].as_str().unwrap_or_default();
    assert!(text.starts_with("doksi: run failed: "), "{text}");
}

#[test]
fn a_created_runs_step_outputs_name_the_targets_it_sent_even_where_its_results_do_not() {
    // The results carry no destination (the docs do not promise one): `target_ids` is still the
    // matrix sent, in its order, not what the results name.
    let (base, _log) = routed(|req| {
        match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/api/runs") => reply(
            200,
            &json!({"run_id": "run_1", "results": [
                {"result_id": "res_1", "test_id": "t_a"},
                {"result_id": "res_2", "test_id": "t_a"}]})
            .to_string(),
        ),
        ("GET", "/api/runs/run_1") => reply(
            200,
            &json!({"run_id": "run_1", "status": "passed", "tests_total": 2, "tests_passed": 2,
                "tests_failed": 0, "tests_running": 0, "duration_seconds": 4, "results": [
                {"result_id": "res_1", "test_id": "t_a", "status": "passed", "duration_seconds": 2},
                {"result_id": "res_2", "test_id": "t_a", "status": "passed", "duration_seconds": 2}]})
            .to_string(),
        ),
        _ => reply(404, r#"{"error":"not found"}"#),
    }
    });
    let home = tempfile::tempdir().unwrap();
    let (output, summary) = (home.path().join("output"), home.path().join("summary.md"));
    let out = command(
        &base,
        home.path(),
        &[
            "run",
            "--target",
            "bin_2",
            "--target",
            "bin_1",
            "--test",
            "t_a",
            "--wait",
            "--poll-interval",
            "100ms",
        ],
    )
    .envs(github_env(&output, &summary))
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&output).unwrap(),
        "run_id=run_1\nstatus=passed\ntarget_ids=bin_2,bin_1\nrun_ids=run_1\nflaky=0\n"
    );
}
