//! Matrix validation, credits, a run's progress as a polling client sees it, and the counts.

use std::time::Instant;

use serde_json::json;

use super::*;
use doksi::api::model::{Destination, Run, Status};

/// Mints, PUTs and registers the unlock APK; returns the target id.
async fn target(sb: &Sandbox) -> String {
    let minted = mint(sb).await;
    assert_eq!(
        put_zip(&minted.upload_url, upload_zip(&unlock_apk()))
            .await
            .0,
        200
    );
    let (status, body) = call(
        sb,
        "POST",
        "targets",
        Some(json!({"upload_id": minted.upload_id})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["target_id"].as_str().unwrap().to_owned()
}

fn web(tests: &[&str]) -> serde_json::Value {
    json!({"platform": "web", "web_url": "https://staging.example.com", "test_ids": tests})
}

#[tokio::test]
async fn bad_matrices_are_400_naming_the_field() {
    let sb = sandbox().await;
    let auth = |a: serde_json::Value| json!({"platform": "web", "web_url": "https://s.example.com", "test_ids": ["a"], "artifacts": [a]});
    let cases = [
        (json!({}), "matrix: required"),
        (json!({"matrix": []}), "matrix: must not be empty"),
        (
            json!({"matrix": [web(&["a"]), {"platform": "ios", "test_ids": ["a"]}]}),
            "matrix[1].platform: unknown platform \"ios\"",
        ),
        (
            json!({"matrix": [{"test_ids": ["a"]}]}),
            "matrix[0].platform: required",
        ),
        (
            json!({"matrix": [{"platform": "web", "test_ids": ["a"]}]}),
            "matrix[0].web_url: required",
        ),
        (
            json!({"matrix": [{"platform": "android", "test_ids": ["a"]}]}),
            "matrix[0]: platform android needs target_id or binary_url",
        ),
        (
            json!({"matrix": [{"platform": "web", "web_url": "https://s.example.com"}]}),
            "matrix[0]: needs a non-empty test_ids or category_ids",
        ),
        (
            json!({"matrix": [{"platform": "web", "web_url": "https://s.example.com", "test_ids": []}]}),
            "matrix[0]: needs a non-empty test_ids or category_ids",
        ),
        (
            json!({"matrix": [{"platform": "web", "web_url": "https://s.example.com", "category_ids": ["cat_smoke", "cat_nope"]}]}),
            "matrix[0].category_ids[1]: unknown category \"cat_nope\"",
        ),
        (
            json!({"matrix": [auth(json!({"type": "authentication", "strategy": "specific", "account_id": "789"}))]}),
            "matrix[0].artifacts[0].account_id",
        ),
        (
            json!({"matrix": [auth(json!({"type": "authentication", "strategy": "specific"}))]}),
            "matrix[0].artifacts[0].account_id: required",
        ),
        (
            json!({"matrix": [auth(json!({"type": "authentication", "strategy": "magic"}))]}),
            "matrix[0].artifacts[0].strategy: unknown strategy \"magic\"",
        ),
        (
            json!({"matrix": [auth(json!({"type": "cookie"}))]}),
            "matrix[0].artifacts[0].type",
        ),
    ];
    for (body, message) in cases {
        let (status, answer) = call(&sb, "POST", "runs", Some(body.clone())).await;
        assert_eq!(status, 400, "{body} → {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.starts_with(message),
            "{error:?} should start with {message:?}"
        );
    }
    let (_, after) = call(&sb, "POST", "runs", Some(json!({"matrix": [web(&["a"])]}))).await;
    assert_eq!(after["run_id"], "run_1", "no refused matrix made a run");
}

#[tokio::test]
async fn unknown_targets_and_runs_are_404() {
    let sb = sandbox().await;
    let entry = json!({"platform": "android", "target_id": "bin_x", "test_ids": ["a"]});
    let (status, body) = call(&sb, "POST", "runs", Some(json!({"matrix": [entry]}))).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "target bin_x not found"}))
    );
    let (status, body) = call(&sb, "GET", "runs/run_x", None).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "run run_x not found"}))
    );
}

#[tokio::test]
async fn over_quota_is_402_with_requested_and_remaining_and_charges_nothing() {
    let sb = sandbox_with(SandboxConfig {
        credits: 5,
        ..SandboxConfig::default()
    })
    .await;
    // Two entries of three tests: six credits, one too many.
    let six = json!({"matrix": [web(&["a", "b", "c"]), web(&["a", "b", "c"])]});
    let (status, body) = call(&sb, "POST", "runs", Some(six)).await;
    assert_eq!(
        (status, body),
        (
            402,
            json!({"error": "test credit quota exceeded", "requested": 6, "remaining": 5})
        )
    );
    let (status, _) = call(
        &sb,
        "POST",
        "runs",
        Some(json!({"matrix": [web(&["a", "b"])]})),
    )
    .await;
    assert_eq!(status, 200, "the refused run cost nothing");
    let four = json!({"matrix": [{"platform": "web", "web_url": "https://s.example.com", "category_ids": ["cat_regression"], "test_ids": ["x"]}]});
    let (status, body) = call(&sb, "POST", "runs", Some(four)).await;
    assert_eq!(
        (status, &body["requested"], &body["remaining"]),
        (402, &json!(4), &json!(3))
    );
}

#[tokio::test]
async fn a_run_with_a_failing_test_goes_from_queued_through_running_to_failed() {
    let sb = sandbox().await;
    let bin = target(&sb).await;
    let matrix = json!({"matrix": [
        {"platform": "android", "target_id": bin, "category_ids": ["cat_smoke"],
         "artifacts": [{"type": "authentication", "strategy": "generated"}]},
        {"platform": "web", "web_url": "https://staging.example.com", "test_ids": ["fail_payment"]},
    ]});
    let (status, created) = call(&sb, "POST", "runs", Some(matrix)).await;
    assert_eq!(status, 200, "{created}");
    let run_id = created["run_id"].as_str().unwrap().to_owned();
    let tests: Vec<_> = created["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["test_id"].clone())
        .collect();
    assert_eq!(
        tests,
        [json!("t_login"), json!("t_checkout"), json!("fail_payment")]
    );
    assert_eq!(created["results"][2]["result_id"], "res_3");

    // Statuses may only move forward: queued → running → final.
    let rank = |s: &Status| match s {
        Status::Queued => 0,
        Status::Running => 1,
        _ => 2,
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let run: Run = loop {
        let (status, body) = call(&sb, "GET", &format!("runs/{run_id}"), None).await;
        assert_eq!(status, 200, "{body}");
        let run: Run = serde_json::from_value(body).unwrap();
        if seen.last() != Some(&run.status) {
            seen.push(run.status.clone());
        }
        if run.status.is_final() {
            break run;
        }
        assert!(
            Instant::now() < deadline,
            "still {:?} after 10 s",
            run.status
        );
        tokio::time::sleep(STEP / 5).await;
    };
    assert!(
        seen.windows(2).all(|w| rank(&w[0]) < rank(&w[1])),
        "{seen:?}"
    );
    assert!(seen.contains(&Status::Running), "{seen:?}");
    assert_eq!(run.status, Status::Failed);
    assert_eq!(
        (
            run.tests_total,
            run.tests_passed,
            run.tests_failed,
            run.tests_running
        ),
        (3, 2, 1, 0)
    );
    let statuses: Vec<_> = run.results.iter().map(|r| r.status.clone()).collect();
    assert_eq!(statuses, [Status::Passed, Status::Passed, Status::Failed]);
    assert_eq!(run.results[1].test_name.as_deref(), Some("Checkout flow"));
    assert_eq!(
        run.results[0].destination,
        Some(Destination::Target { target_id: bin })
    );
    let created_at = run.extra["created_at"].as_str().unwrap();
    assert!(
        created_at.len() == 24 && created_at.ends_with('Z'),
        "{created_at}"
    );

    // The result's url leads to the result.
    let url = created["results"][2]["url"].as_str().unwrap();
    let page: serde_json::Value = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&page["status"], &page["run_id"]),
        (&json!("failed"), &json!(run_id))
    );
}

#[tokio::test]
async fn counts_cover_refused_requests_and_the_log_never_holds_the_key() {
    let sb = sandbox().await;
    let key = crate::SANDBOX_KEY;
    let no_key = client()
        .post(format!("{}/uploads", sb.base_url))
        .send()
        .await
        .unwrap();
    assert_eq!(no_key.status().as_u16(), 401);
    let minted = mint(&sb).await;
    let zip = upload_zip(&unlock_apk());
    let with_key = client()
        .put(&minted.upload_url)
        .header("Authorization", format!("Bearer {key}"))
        .header("Content-Type", "application/zip")
        .body(zip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(with_key.status().as_u16(), 400);
    assert_eq!(put_zip(&minted.upload_url, zip.clone()).await.0, 200);
    call(&sb, "GET", "runs/run_7", None).await;
    admin(&sb, "GET", "targets").await;

    let seen = requests(&sb).await;
    assert_eq!(
        seen["counts"],
        json!({"POST /uploads": 2, "PUT /uploads": 2, "POST /targets": 0, "POST /runs": 0, "GET /runs": 1})
    );
    let log = seen["log"].as_array().unwrap();
    let summary: Vec<_> = log
        .iter()
        .map(|e| (e["status"].clone(), e["authorization"].clone()))
        .collect();
    assert_eq!(
        summary,
        [
            (json!(401), json!(false)),
            (json!(200), json!(true)),
            (json!(400), json!(true)),
            (json!(200), json!(false)),
            (json!(404), json!(true))
        ]
    );
    assert_eq!(log[3]["content_type"], "application/zip");
    assert_eq!(log[3]["content_length"], zip.len());
    assert_eq!(log[3]["route"], "/uploads");
    assert!(
        !seen.to_string().contains(&key[8..]),
        "the log holds the key"
    );

    let reset = admin(&sb, "POST", "reset-counts").await;
    assert_eq!(reset.status().as_u16(), 200);
    let after = requests(&sb).await;
    assert_eq!(after["counts"]["PUT /uploads"], 0);
    assert_eq!(after["log"], json!([]));
}

/// Polls until the run has ended.
async fn finished(sb: &Sandbox, run_id: &str) -> Run {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = call(sb, "GET", &format!("runs/{run_id}"), None).await;
        assert_eq!(status, 200, "{body}");
        let run: Run = serde_json::from_value(body).unwrap();
        if run.status.is_final() {
            return run;
        }
        assert!(Instant::now() < deadline, "still {:?}", run.status);
        tokio::time::sleep(STEP / 5).await;
    }
}

#[tokio::test]
async fn a_flaky_test_fails_on_its_first_run_at_each_destination_and_the_log_keeps_each_matrix() {
    let sb = sandbox().await;
    let at = |url: &str, tests: serde_json::Value| json!({"platform": "web", "web_url": url, "category_ids": tests});
    let first = json!({"matrix": [at("https://a.example", json!(["cat_flaky"]))]});
    let again = json!({"matrix": [
        {"platform": "web", "web_url": "https://a.example", "test_ids": ["flaky_cart"],
         "artifacts": [{"type": "authentication", "strategy": "generated"}]},
        at("https://b.example", json!(["cat_flaky"])),
    ]});
    let mut statuses = Vec::new();
    for matrix in [&first, &again] {
        let (status, created) = call(&sb, "POST", "runs", Some(matrix.clone())).await;
        assert_eq!(status, 200, "{created}");
        let run = finished(&sb, created["run_id"].as_str().unwrap()).await;
        statuses.push(
            run.results
                .iter()
                .map(|r| format!("{} {}", r.test_id, r.status.as_str()))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        statuses,
        [
            vec!["t_login passed", "flaky_cart failed"],
            // Passed where it ran before; failed where it had not.
            vec!["flaky_cart passed", "t_login passed", "flaky_cart failed"],
        ]
    );
    let log = requests(&sb).await;
    let bodies: Vec<&serde_json::Value> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "POST" && e["route"] == "/runs")
        .map(|e| &e["body"])
        .collect();
    assert_eq!(bodies, [&first, &again]);
    // Only a run's body is kept.
    let gets = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["method"] == "GET");
    assert!(gets.clone().count() > 0 && gets.clone().all(|e| e.get("body").is_none()));
}
