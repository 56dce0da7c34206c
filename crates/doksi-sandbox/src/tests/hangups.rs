//! Faults that leave the client without a whole answer: resets before, during and after the
//! request is handled, a stall, a body cut short. Each test checks what the client sees (a
//! transport error, never a status) and what the sandbox did (or did not) create.

use std::time::Instant;

use serde_json::json;

use super::*;

/// A client that gives up as a real one would, long before a stall ends.
fn impatient() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
}

/// Asserts `result` is a transport error that came at once: no status, not a timeout.
fn assert_hung_up(result: reqwest::Result<reqwest::Response>) {
    match result {
        Ok(res) => panic!("got an answer: {}", res.status()),
        Err(e) => {
            assert!(e.status().is_none(), "{e:?}");
            assert!(!e.is_timeout(), "a hang-up, not a timeout: {e:?}");
        }
    }
}

/// The log entry of the request that met `fault`, polled for up to five seconds: a request
/// that got no answer is logged when its connection ends.
async fn entry_for(sb: &Sandbox, fault: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let seen = requests(sb).await;
        let log = seen["log"].as_array().unwrap();
        if let Some(entry) = log.iter().find(|e| e["fault"] == fault) {
            return entry.clone();
        }
        assert!(Instant::now() < deadline, "no {fault} in {seen}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reset_hangs_up_before_the_request_is_handled() {
    let sb = sandbox_with(faulting(&[
        "POST /uploads=reset",
        "POST /runs=reset",
        "GET /runs=reset",
        "PUT /uploads=reset",
    ]))
    .await;
    assert_hung_up(
        send(
            &client(),
            &sb,
            "POST",
            "uploads",
            Some(json!({"name": "app"})),
        )
        .await,
    );
    assert_hung_up(send(&client(), &sb, "POST", "runs", Some(web_run())).await);
    assert_hung_up(send(&client(), &sb, "GET", "runs/run_1", None).await);
    assert_eq!(sb.runs_created(), 0);
    let minted = mint(&sb).await;
    assert_eq!(minted.upload_id, "upl_1", "the reset mint minted nothing");
    let zip = upload_zip(&unlock_apk());
    let put = client()
        .put(&minted.upload_url)
        .header("Content-Type", "application/zip")
        .body(zip.clone())
        .send()
        .await;
    assert_hung_up(put);
    assert_eq!(
        admin(&sb, "GET", "uploads/upl_1").await.status().as_u16(),
        409
    );
    assert_eq!(
        put_zip(&minted.upload_url, zip).await.0,
        200,
        "the next PUT goes through"
    );
}

#[tokio::test]
async fn reset_after_create_makes_the_run_but_never_answers() {
    let sb = sandbox_with(faulting(&["POST /runs=reset-after-create"])).await;
    assert_hung_up(send(&client(), &sb, "POST", "runs", Some(web_run())).await);
    assert_eq!(sb.runs_created(), 1);
    let (status, body) = call(&sb, "GET", "runs/run_1", None).await;
    assert_eq!((status, &body["run_id"]), (200, &json!("run_1")));
    let entry = entry_for(&sb, "reset-after-create").await;
    assert_eq!(
        (&entry["method"], &entry["status"]),
        (&json!("POST"), &json!(499))
    );
}

#[tokio::test]
async fn stall_after_create_makes_exactly_one_run_while_the_client_times_out() {
    let sb = sandbox_with(SandboxConfig {
        credits: 1,
        ..faulting(&["POST /runs=stall-after-create"])
    })
    .await;
    let started = Instant::now();
    let stalled = send(&impatient(), &sb, "POST", "runs", Some(web_run())).await;
    let error = stalled.expect_err("no answer comes");
    assert!(error.is_timeout(), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    assert_eq!(sb.runs_created(), 1);
    let (status, body) = call(&sb, "GET", "runs/run_1", None).await;
    assert_eq!((status, &body["tests_total"]), (200, &json!(1)));
    let (status, body) = call(&sb, "POST", "runs", Some(web_run())).await;
    assert_eq!(
        (status, &body["remaining"]),
        (402, &json!(0)),
        "the stalled run was charged: {body}"
    );
    // The client giving up ended the stall: the request is logged, nothing is left holding on.
    let entry = entry_for(&sb, "stall-after-create").await;
    assert_eq!(
        (&entry["method"], &entry["status"]),
        (&json!("POST"), &json!(499))
    );
    assert_eq!(requests(&sb).await["runs_created"], 1);
}

#[tokio::test]
async fn a_stalled_request_does_not_hold_up_stop() {
    let sb = sandbox_with(faulting(&["POST /runs=stall-after-create"])).await;
    let url = format!("{}/runs", sb.base_url);
    let patient = tokio::spawn(async move {
        client()
            .post(url)
            .header("Authorization", crate::sandbox_key().bearer())
            .json(&web_run())
            .send()
            .await
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while sb.runs_created() == 0 {
        assert!(Instant::now() < deadline, "the stalled run was never made");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopping = Instant::now();
    sb.stop().await;
    assert!(
        stopping.elapsed() < Duration::from_secs(2),
        "{:?}",
        stopping.elapsed()
    );
    assert_hung_up(patient.await.unwrap());
}

#[tokio::test]
async fn truncate_handles_the_request_then_cuts_the_body_short() {
    let sb = sandbox_with(faulting(&["POST /runs=truncate", "PUT /uploads=truncate"])).await;
    let res = send(&client(), &sb, "POST", "runs", Some(web_run()))
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let promised: usize = res.headers()["content-length"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(promised > 20, "the whole answer's length: {promised}");
    assert!(
        res.bytes().await.is_err(),
        "the body ends short of its length"
    );
    assert_eq!(sb.runs_created(), 1, "the run was made");

    let minted = mint(&sb).await;
    let zip = upload_zip(&unlock_apk());
    let res = client()
        .put(&minted.upload_url)
        .header("Content-Type", "application/zip")
        .body(zip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.bytes().await.is_err(), "even an empty body is cut");
    let stored = admin(&sb, "GET", "uploads/upl_1").await;
    assert_eq!(stored.bytes().await.unwrap(), zip, "the upload was stored");
    let seen = requests(&sb).await;
    let truncated: Vec<_> = seen["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fault"] == "truncate")
        .map(|e| (e["method"].clone(), e["status"].clone()))
        .collect();
    assert_eq!(
        truncated,
        [(json!("POST"), json!(200)), (json!("PUT"), json!(200))]
    );
}

#[tokio::test]
async fn reset_mid_body_drops_the_upload_and_stores_nothing() {
    let sb = sandbox_with(faulting(&["PUT /uploads=reset-mid-body"])).await;
    let minted = mint(&sb).await;
    // Larger than the socket buffers, so the client is still sending when the reset comes.
    let big = vec![7u8; 8 << 20];
    let put = client()
        .put(&minted.upload_url)
        .header("Content-Type", "application/zip")
        .body(big.clone())
        .send()
        .await;
    assert_hung_up(put);
    assert_eq!(
        admin(&sb, "GET", "uploads/upl_1").await.status().as_u16(),
        409
    );
    let entry = entry_for(&sb, "reset-mid-body").await;
    assert_eq!(
        (&entry["method"], &entry["status"], &entry["content_length"]),
        (&json!("PUT"), &json!(499), &json!(big.len()))
    );
    let zip = upload_zip(&unlock_apk());
    assert_eq!(
        put_zip(&minted.upload_url, zip).await.0,
        200,
        "the retry goes through"
    );
}
