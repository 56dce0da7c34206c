//! Runs: `POST /runs` charges credits (all or nothing) and plans one result per (matrix entry ×
//! test); `GET /runs/{id}` plays the run forward on the wall clock, so a polling client sees
//! queued → running → passed/failed with no test hook. With step `s`, every result is queued
//! until `s`, result `i` runs from `s` and ends at `(2 + i)·s`, failed if its test id starts
//! with `fail`, or, for a test id that starts with `flaky`, if it is that test's first run on
//! that destination in this sandbox (it passes on every later run: what a re-run should find).
//! The matrix itself is read by `matrix`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Json;
use serde_json::{Value, json};

use super::{ApiError, Shared, matrix, next_id, parse_json};
use crate::timestamp::rfc3339_millis;

/// A run's or a result's status, as the docs spell it.
#[derive(Debug, Clone, Copy)]
enum Status {
    Queued,
    Running,
    Passed,
    Failed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Passed => "passed",
            Status::Failed => "failed",
        }
    }
}

pub(super) struct Run {
    id: String,
    /// For progress: monotonic, so a clock change cannot move a run backwards.
    started: Instant,
    /// For the timestamps the API shows.
    created_at: SystemTime,
    results: Vec<Planned>,
}

struct Planned {
    result_id: String,
    test_id: String,
    url: String,
    destination: Value,
    /// Decided when the run is created, since a flaky test's outcome depends on the runs before.
    fails: bool,
}

/// `POST /runs {"matrix"}`.
pub(super) async fn create(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = parse_json(&body)?;
    // One lock for validation, charge and insert: two concurrent runs cannot both spend the
    // last credits.
    let mut state = shared.state();
    let entries = matrix::parse(&body, &state.targets)?;
    let requested: u64 = entries.iter().map(|e| e.tests.len() as u64).sum();
    if requested > state.credits {
        return Err(ApiError {
            status: StatusCode::PAYMENT_REQUIRED,
            body: json!({
                "error": "test credit quota exceeded",
                "requested": requested,
                "remaining": state.credits,
            }),
        });
    }
    state.credits -= requested;
    let run_id = next_id(&mut state.ids.run, "run");
    let mut results = Vec::new();
    for entry in entries {
        for test_id in entry.tests {
            let result_id = next_id(&mut state.ids.result, "res");
            let fails = test_id.starts_with("fail")
                || (test_id.starts_with("flaky")
                    && state
                        .flaky_seen
                        .insert((test_id.clone(), entry.destination.to_string())));
            results.push(Planned {
                fails,
                url: format!(
                    "{}/verify/tests/{test_id}/runs/{result_id}",
                    shared.admin_url
                ),
                result_id,
                test_id,
                destination: entry.destination.clone(),
            });
        }
    }
    let created: Vec<Value> = results
        .iter()
        .map(|r| json!({ "result_id": r.result_id, "test_id": r.test_id, "url": r.url }))
        .collect();
    let run = Run {
        id: run_id.clone(),
        started: Instant::now(),
        created_at: SystemTime::now(),
        results,
    };
    state.runs.insert(run_id.clone(), run);
    Ok(Json(json!({ "run_id": run_id, "results": created })))
}

/// `GET /runs/{id}`.
pub(super) async fn retrieve(
    State(shared): State<Arc<Shared>>,
    Path(run_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let state = shared.state();
    let run = state
        .runs
        .get(&run_id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("run {run_id} not found")))?;
    Ok(Json(run.snapshot(run.started.elapsed(), shared.run_step)))
}

/// One result as `GET /runs/{id}` would show it now, with its `run_id`, for the admin page a
/// result's `url` points at.
pub(super) fn find_result(shared: &Shared, result_id: &str) -> Option<Value> {
    let state = shared.state();
    let run = state
        .runs
        .values()
        .find(|run| run.results.iter().any(|r| r.result_id == result_id))?;
    let Value::Object(mut snapshot) = run.snapshot(run.started.elapsed(), shared.run_step) else {
        return None;
    };
    let Some(Value::Array(results)) = snapshot.remove("results") else {
        return None;
    };
    let mut result = results.into_iter().find(|r| r["result_id"] == result_id)?;
    result["run_id"] = json!(run.id);
    Some(result)
}

/// `step × k`, saturating: a run of many results with a long step must not overflow.
fn steps(step: Duration, k: u128) -> Duration {
    Duration::from_nanos(u64::try_from(step.as_nanos().saturating_mul(k)).unwrap_or(u64::MAX))
}

impl Run {
    /// The run as the API shows it `elapsed` after creation; pure, so the schedule is tested
    /// without sleeping.
    fn snapshot(&self, elapsed: Duration, step: Duration) -> Value {
        // A zero step means "finish at once" rather than a division by zero.
        let done_steps = elapsed
            .as_nanos()
            .checked_div(step.as_nanos())
            .unwrap_or(u128::MAX);
        let last_change = done_steps.min(self.results.len() as u128 + 1);
        let (mut passed, mut failed, mut running) = (0u64, 0u64, 0u64);
        let results: Vec<Value> = (0u128..)
            .zip(&self.results)
            .map(|(i, r)| {
                let (status, duration) = if done_steps < 1 {
                    (Status::Queued, Duration::ZERO)
                } else if done_steps < 2 + i {
                    running += 1;
                    (Status::Running, elapsed.saturating_sub(step))
                } else if r.fails {
                    failed += 1;
                    (Status::Failed, steps(step, 1 + i))
                } else {
                    passed += 1;
                    (Status::Passed, steps(step, 1 + i))
                };
                json!({
                    "result_id": r.result_id,
                    "test_id": r.test_id,
                    "test_name": matrix::test_name(&r.test_id),
                    "status": status.as_str(),
                    "duration_seconds": duration.as_secs(),
                    "url": r.url,
                    "destination": r.destination,
                })
            })
            .collect();
        let total = self.results.len() as u64;
        let status = if done_steps < 1 {
            Status::Queued
        } else if passed + failed < total {
            Status::Running
        } else if failed > 0 {
            Status::Failed
        } else {
            Status::Passed
        };
        let duration = elapsed.min(steps(step, self.results.len() as u128 + 1));
        json!({
            "run_id": self.id,
            "status": status.as_str(),
            "tests_total": total,
            "tests_passed": passed,
            "tests_failed": failed,
            "tests_running": running,
            "duration_seconds": duration.as_secs(),
            "created_at": rfc3339_millis(self.created_at),
            "updated_at": rfc3339_millis(self.created_at + steps(step, last_change)),
            "results": results,
        })
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn run(test_ids: &[&str]) -> Run {
        Run {
            id: "run_1".into(),
            started: Instant::now(),
            created_at: std::time::UNIX_EPOCH + Duration::from_secs(1_776_176_530),
            results: test_ids
                .iter()
                .enumerate()
                .map(|(i, t)| Planned {
                    result_id: format!("res_{i}"),
                    test_id: (*t).into(),
                    url: String::new(),
                    destination: json!({"platform": "web", "web_url": "https://x.example"}),
                    fails: t.starts_with("fail"),
                })
                .collect(),
        }
    }

    fn statuses(snapshot: &Value) -> Vec<&str> {
        let results = snapshot["results"].as_array().unwrap();
        let mut all = vec![snapshot["status"].as_str().unwrap()];
        all.extend(results.iter().map(|r| r["status"].as_str().unwrap()));
        all
    }

    #[test]
    fn results_start_after_one_step_and_end_one_step_apart() {
        let run = run(&["t_login", "fail_payment", "t_search"]);
        let step = Duration::from_secs(10);
        let at = |secs| run.snapshot(Duration::from_secs(secs), step);
        assert_eq!(statuses(&at(9)), ["queued", "queued", "queued", "queued"]);
        assert_eq!(
            statuses(&at(10)),
            ["running", "running", "running", "running"]
        );
        assert_eq!(
            statuses(&at(20)),
            ["running", "passed", "running", "running"]
        );
        assert_eq!(
            statuses(&at(30)),
            ["running", "passed", "failed", "running"]
        );
        assert_eq!(statuses(&at(40)), ["failed", "passed", "failed", "passed"]);
        let end = at(1000);
        assert_eq!(
            (
                &end["tests_total"],
                &end["tests_passed"],
                &end["tests_failed"]
            ),
            (&json!(3), &json!(2), &json!(1))
        );
        assert_eq!(end["tests_running"], 0);
        assert_eq!(end["duration_seconds"], 40);
        assert_eq!(end["results"][2]["duration_seconds"], 30);
        assert_eq!(end["results"][1]["test_name"], "Payment declined");
        assert_eq!(end["created_at"], "2026-04-14T14:22:10.000Z");
        assert_eq!(end["updated_at"], "2026-04-14T14:22:50.000Z");
        assert_eq!(at(25)["tests_running"], 2);
        assert_eq!(at(25)["updated_at"], "2026-04-14T14:22:30.000Z");
    }

    #[test]
    fn a_zero_step_finishes_at_once_and_all_passing_passes() {
        let run = run(&["t_login"]);
        let now = run.snapshot(Duration::ZERO, Duration::ZERO);
        assert_eq!(statuses(&now), ["passed", "passed"]);
    }
}
