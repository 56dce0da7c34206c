//! Faults that answer: the canned statuses and bodies, each leaving no trace in the sandbox;
//! the plan's order and counts; the admin hooks that edit it; the log's record of each fault.

use serde_json::json;

use super::*;

/// The status, the `Content-Type` and the body text of an answer.
async fn answer(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
    (status, content_type, res.text().await.unwrap())
}

#[tokio::test]
async fn a_429_says_when_to_retry_and_charges_nothing() {
    let sb = sandbox_with(SandboxConfig {
        credits: 1,
        ..faulting(&["POST /runs=429:2", "POST /uploads=429"])
    })
    .await;
    let res = send(&client(), &sb, "POST", "runs", Some(web_run()))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(res.headers()["retry-after"], "2");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"error": "rate limited"}));
    let res = send(
        &client(),
        &sb,
        "POST",
        "uploads",
        Some(json!({"name": "app"})),
    )
    .await
    .unwrap();
    assert_eq!(res.status().as_u16(), 429);
    assert_eq!(res.headers()["retry-after"], "1", "429 alone means 429:1");

    assert_eq!(sb.runs_created(), 0);
    assert_eq!(mint(&sb).await.upload_id, "upl_1", "the 429 minted nothing");
    let (status, body) = call(&sb, "POST", "runs", Some(web_run())).await;
    assert_eq!(
        (status, &body["run_id"]),
        (200, &json!("run_1")),
        "the one credit is still there: {body}"
    );
}

#[tokio::test]
async fn status_faults_answer_json_errors_and_do_nothing() {
    let sb = sandbox_with(SandboxConfig {
        credits: 1,
        ..faulting(&[
            "POST /uploads=500",
            "POST /targets=502",
            "POST /runs=503",
            "GET /runs=504",
            "PUT /uploads=503",
        ])
    })
    .await;
    let (status, body) = call(&sb, "POST", "uploads", Some(json!({"name": "app"}))).await;
    assert_eq!(
        (status, body),
        (500, json!({"error": "internal server error"}))
    );
    let (status, body) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_9"}))).await;
    assert_eq!((status, body), (502, json!({"error": "bad gateway"})));
    let (status, body) = call(&sb, "POST", "runs", Some(web_run())).await;
    assert_eq!(
        (status, body),
        (503, json!({"error": "service unavailable"}))
    );
    let (status, body) = call(&sb, "GET", "runs/run_1", None).await;
    assert_eq!((status, body), (504, json!({"error": "gateway timeout"})));

    let minted = mint(&sb).await;
    assert_eq!(minted.upload_id, "upl_1");
    let zip = upload_zip(&unlock_apk());
    let (status, body) = put_zip(&minted.upload_url, zip.clone()).await;
    assert_eq!(
        (status, body.as_str()),
        (503, r#"{"error":"service unavailable"}"#)
    );
    let stored = admin(&sb, "GET", "uploads/upl_1").await;
    assert_eq!(stored.status().as_u16(), 409, "the 503 stored nothing");
    assert_eq!(put_zip(&minted.upload_url, zip).await.0, 200);
    let (status, body) = call(&sb, "POST", "runs", Some(web_run())).await;
    assert_eq!((status, &body["run_id"]), (200, &json!("run_1")), "{body}");
}

#[tokio::test]
async fn a_502_html_is_an_nginx_page() {
    let sb = sandbox_with(faulting(&["POST /targets=502-html"])).await;
    let res = send(
        &client(),
        &sb,
        "POST",
        "targets",
        Some(json!({"upload_id": "upl_1"})),
    )
    .await
    .unwrap();
    let (status, content_type, body) = answer(res).await;
    assert_eq!((status, content_type.as_str()), (502, "text/html"));
    assert!(body.contains("<h1>502 Bad Gateway</h1>"), "{body}");
    assert!(body.contains("nginx"), "{body}");
}

#[tokio::test]
async fn not_json_is_a_plain_text_200_that_creates_nothing() {
    let sb = sandbox_with(faulting(&["POST /runs=not-json"])).await;
    let res = send(&client(), &sb, "POST", "runs", Some(web_run()))
        .await
        .unwrap();
    let (status, content_type, body) = answer(res).await;
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (200, "text/plain", "upstream says hi")
    );
    assert_eq!(sb.runs_created(), 0);
}

#[tokio::test]
async fn a_404_fault_hides_a_run_that_exists() {
    let sb = sandbox_with(faulting(&["GET /runs=404"])).await;
    let (status, _) = call(&sb, "POST", "runs", Some(web_run())).await;
    assert_eq!(status, 200);
    let (status, body) = call(&sb, "GET", "runs/run_1", None).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "run run_1 not found"}))
    );
    let (status, body) = call(&sb, "GET", "runs/run_1", None).await;
    assert_eq!((status, &body["run_id"]), (200, &json!("run_1")));
}

#[tokio::test]
async fn expire_is_s3s_access_denied_and_stores_nothing() {
    let sb = sandbox_with(faulting(&["PUT /uploads=expire"])).await;
    let minted = mint(&sb).await;
    let zip = upload_zip(&unlock_apk());
    let (status, body) = put_zip(&minted.upload_url, zip.clone()).await;
    assert_eq!((status, s3_code(&body)), (403, "AccessDenied"));
    assert!(
        body.contains("<Message>Request has expired</Message>"),
        "{body}"
    );
    let stored = admin(&sb, "GET", "uploads/upl_1").await;
    assert_eq!(stored.status().as_u16(), 409, "nothing was stored");
    assert_eq!(put_zip(&minted.upload_url, zip).await.0, 200);
}

#[tokio::test]
async fn faults_meet_requests_in_plan_order_count_times_on_their_route_only() {
    let sb = sandbox().await;
    for (route, fault, count) in [
        ("POST /runs", "503", 2),
        ("GET /runs", "404", 1),
        ("POST /runs", "429", 1),
    ] {
        let (status, _) =
            add_fault(&sb, json!({"route": route, "fault": fault, "count": count})).await;
        assert_eq!(status, 200);
    }
    assert_eq!(
        mint(&sb).await.upload_id,
        "upl_1",
        "other routes are spared"
    );
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(call(&sb, "POST", "runs", Some(web_run())).await.0);
    }
    assert_eq!(statuses, [503, 503, 429, 200]);
    let pending: Value = admin(&sb, "GET", "faults").await.json().await.unwrap();
    assert_eq!(
        pending,
        json!({"pending": [{"route": "GET /runs", "fault": "404", "count": 1}]})
    );
    assert_eq!(call(&sb, "GET", "runs/run_1", None).await.0, 404);
    assert_eq!(call(&sb, "GET", "runs/run_1", None).await.0, 200);
}

#[tokio::test]
async fn admin_adds_lists_and_clears_faults() {
    let sb = sandbox_with(faulting(&["PUT /uploads=reset-mid-bodyx2"])).await;
    let listed: Value = admin(&sb, "GET", "faults").await.json().await.unwrap();
    assert_eq!(
        listed,
        json!({"pending": [{"route": "PUT /uploads", "fault": "reset-mid-body", "count": 2}]})
    );
    let (status, body) = add_fault(&sb, json!({"route": "get /runs/{id}", "fault": "429:3"})).await;
    assert_eq!(status, 200);
    assert_eq!(
        body["pending"][1],
        json!({"route": "GET /runs", "fault": "429:3", "count": 1})
    );

    let bad = [
        (
            json!({"route": "POST /runz", "fault": "503"}),
            "route: unknown route \"POST /runz\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "418x"}),
            "fault: unknown fault \"418x\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "503", "count": 0}),
            "count: bad count \"0\"",
        ),
        (
            json!({"route": "POST /runs", "fault": "404"}),
            "fault: fault 404 applies to GET /runs only",
        ),
        (json!({"route": "POST /runs"}), "fault: required"),
    ];
    for (body, message) in bad {
        let (status, answer) = add_fault(&sb, body.clone()).await;
        assert_eq!(status, 400, "{body}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.starts_with(message),
            "{error:?} should start with {message:?}"
        );
    }
    let not_json = client()
        .post(format!("{}/faults", sb.admin_url))
        .body("POST /runs=503")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status().as_u16(), 400);
    let listed: Value = admin(&sb, "GET", "faults").await.json().await.unwrap();
    assert_eq!(
        listed["pending"].as_array().unwrap().len(),
        2,
        "no bad spec got in"
    );

    let cleared: Value = admin(&sb, "DELETE", "faults").await.json().await.unwrap();
    assert_eq!(cleared, json!({"pending": []}));
    let minted = mint(&sb).await;
    assert_eq!(
        put_zip(&minted.upload_url, upload_zip(&unlock_apk()))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn the_log_names_each_fault_and_counts_every_request() {
    let sb = sandbox_with(faulting(&["POST /runs=503", "POST /runs=reset"])).await;
    assert_eq!(call(&sb, "POST", "runs", Some(web_run())).await.0, 503);
    let reset = send(&client(), &sb, "POST", "runs", Some(web_run())).await;
    assert!(reset.is_err(), "{reset:?}");
    assert_eq!(call(&sb, "POST", "runs", Some(web_run())).await.0, 200);

    let seen = requests(&sb).await;
    assert_eq!(
        seen["counts"]["POST /runs"], 3,
        "the reset request counts too"
    );
    assert_eq!(seen["runs_created"], 1);
    let log: Vec<_> = seen["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["status"].clone(), e["fault"].clone()))
        .collect();
    assert_eq!(
        log,
        [
            (json!(503), json!("503")),
            (json!(499), json!("reset")),
            (json!(200), Value::Null),
        ]
    );
}
