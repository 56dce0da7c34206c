//! Keys, minting, the presigned PUT and its rejections, and target registration.

use serde_json::json;
use sha2::{Digest, Sha256};

use super::*;
use crate::storage::hex;

#[tokio::test]
async fn every_api_route_wants_the_bearer_key() {
    let sb = sandbox().await;
    let other_key = format!("Bearer dk_live_{}", "0".repeat(40));
    let basic = "Basic dXNlcjpwYXNz".to_owned();
    for (method, route) in [
        ("POST", "uploads"),
        ("POST", "targets"),
        ("POST", "runs"),
        ("GET", "runs/run_1"),
        ("GET", "nowhere"),
    ] {
        for auth in [None, Some(&other_key), Some(&basic)] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = client().request(method.clone(), format!("{}/{route}", sb.base_url));
            if let Some(auth) = auth {
                req = req.header("Authorization", auth);
            }
            let res = req.json(&json!({"name": "x"})).send().await.unwrap();
            assert_eq!(res.status().as_u16(), 401, "{method} {route} with {auth:?}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert!(body["error"].is_string(), "{body}");
        }
    }
    let (status, _) = call(&sb, "GET", "nowhere", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn minting_needs_a_name() {
    let sb = sandbox().await;
    for body in [
        json!({}),
        json!({"name": ""}),
        json!({"name": 3}),
        json!([1]),
    ] {
        let (status, answer) = call(&sb, "POST", "uploads", Some(body.clone())).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            answer["error"].as_str().unwrap().starts_with("name:"),
            "{answer}"
        );
    }
    let res = client()
        .post(format!("{}/uploads", sb.base_url))
        .header("Authorization", crate::sandbox_key().bearer())
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
}

#[tokio::test]
async fn the_upload_zip_goes_up_intact_and_becomes_a_target() {
    let sb = sandbox().await;
    let minted = mint(&sb).await;
    assert_eq!(minted.upload_id, "upl_1");
    let prefix = format!("{}/uploads/upl_1?X-Amz-Date=", sb.storage_url);
    assert!(
        minted.upload_url.starts_with(&prefix),
        "{}",
        minted.upload_url
    );
    assert!(
        minted
            .upload_url
            .contains("&X-Amz-Expires=900&X-Amz-Signature=")
    );

    let zip = upload_zip(&unlock_apk());
    let res = client()
        .put(&minted.upload_url)
        .header("Content-Type", "application/zip")
        .body(zip.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let etag = res.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(etag, format!("\"{}\"", hex(&Sha256::digest(&zip))));

    let stored = admin(&sb, "GET", "uploads/upl_1").await;
    assert_eq!(stored.status().as_u16(), 200);
    assert!(stored.bytes().await.unwrap() == zip, "stored bytes differ");

    let (status, target) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_1"}))).await;
    assert_eq!((status, &target), (200, &json!({"target_id": "bin_1"})));
    let targets: serde_json::Value = admin(&sb, "GET", "targets").await.json().await.unwrap();
    assert_eq!(
        targets["bin_1"],
        json!({"upload_id": "upl_1", "package": "io.appium.unlock", "version_name": "2.0.0", "version_code": 2})
    );
    sb.stop().await;
}

#[tokio::test]
async fn storage_refuses_the_api_key() {
    let sb = sandbox().await;
    let minted = mint(&sb).await;
    let res = client()
        .put(&minted.upload_url)
        .header("Authorization", crate::sandbox_key().bearer())
        .header("Content-Type", "application/zip")
        .body(upload_zip(&unlock_apk()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert_eq!(s3_code(&res.text().await.unwrap()), "InvalidArgument");
    let (status, _) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_1"}))).await;
    assert_eq!(status, 409, "a refused PUT stores nothing");
}

#[tokio::test]
async fn storage_refuses_altered_urls_and_urls_of_other_uploads() {
    let sb = sandbox().await;
    let first = mint(&sb).await.upload_url;
    let second = mint(&sb).await.upload_url;
    let flipped = flip_last_digit(&first);
    let longer = first.replace("X-Amz-Expires=900", "X-Amz-Expires=9000");
    let elsewhere = first.replace("/uploads/upl_1?", "/uploads/upl_2?");
    let zip = upload_zip(&unlock_apk());
    for url in [&flipped, &longer, &elsewhere] {
        let (status, body) = put_zip(url, zip.clone()).await;
        assert_eq!(
            (status, s3_code(&body)),
            (403, "SignatureDoesNotMatch"),
            "{url}"
        );
    }
    let unsigned = first.split_once("&X-Amz-Signature").unwrap().0;
    let (status, body) = put_zip(unsigned, zip.clone()).await;
    assert_eq!((status, s3_code(&body)), (403, "AccessDenied"));
    assert_eq!(
        put_zip(&second, zip).await.0,
        200,
        "the real URL still works"
    );
}

/// The URL with its signature's last hex digit changed.
fn flip_last_digit(url: &str) -> String {
    let (rest, last) = url.split_at(url.len() - 1);
    format!("{rest}{}", if last == "0" { "1" } else { "0" })
}

#[tokio::test]
async fn storage_refuses_an_expired_url() {
    let sb = sandbox_with(SandboxConfig {
        url_ttl: Duration::ZERO,
        ..SandboxConfig::default()
    })
    .await;
    let minted = mint(&sb).await;
    assert!(minted.upload_url.contains("X-Amz-Expires=0&"));
    let (status, body) = put_zip(&minted.upload_url, upload_zip(&unlock_apk())).await;
    assert_eq!((status, s3_code(&body)), (403, "AccessDenied"));
    assert!(body.contains("Request has expired"), "{body}");
}

#[tokio::test]
async fn storage_wants_a_length_and_no_chunks() {
    let sb = sandbox().await;
    let url = mint(&sb).await.upload_url;
    let chunked = raw_put(
        &url,
        "Content-Type: application/zip\r\nTransfer-Encoding: chunked\r\n",
        b"5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(chunked.starts_with("HTTP/1.1 501"), "{chunked}");
    assert_eq!(s3_code(&chunked), "NotImplemented");
    let no_length = raw_put(&url, "Content-Type: application/zip\r\n", b"").await;
    assert!(no_length.starts_with("HTTP/1.1 411"), "{no_length}");
    assert_eq!(s3_code(&no_length), "MissingContentLength");
}

#[tokio::test]
async fn storage_wants_application_zip() {
    let sb = sandbox().await;
    let url = mint(&sb).await.upload_url;
    for content_type in [Some("application/octet-stream"), None] {
        let mut req = client().put(&url).body(upload_zip(&unlock_apk()));
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status().as_u16(), 403, "{content_type:?}");
        assert_eq!(s3_code(&res.text().await.unwrap()), "SignatureDoesNotMatch");
    }
}

#[tokio::test]
async fn storage_refuses_a_body_shorter_than_its_length_and_keeps_nothing() {
    let sb = sandbox().await;
    let url = mint(&sb).await.upload_url;
    let zip = upload_zip(&unlock_apk());
    let headers = format!(
        "Content-Type: application/zip\r\nContent-Length: {}\r\n",
        zip.len()
    );
    let answer = raw_put(&url, &headers, &zip[..zip.len() / 2]).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(s3_code(&answer), "IncompleteBody");
    let (status, _) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_1"}))).await;
    assert_eq!(status, 409);
    let log = requests(&sb).await["log"].clone();
    assert_eq!(log[1]["content_length"], zip.len());
}

#[tokio::test]
async fn targets_need_a_known_and_uploaded_upload() {
    let sb = sandbox().await;
    let (status, body) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_9"}))).await;
    assert_eq!(
        (status, body),
        (404, json!({"error": "upload upl_9 not found"}))
    );
    let (status, _) = call(&sb, "POST", "targets", Some(json!({}))).await;
    assert_eq!(status, 400);
    mint(&sb).await;
    let (status, _) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_1"}))).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn targets_are_422_when_the_zip_holds_no_readable_apk() {
    let sb = sandbox().await;
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "not an app").unwrap();
    let fake = dir.path().join("fake.APK");
    std::fs::write(&fake, "not a zip either").unwrap();
    let cases = [
        (b"PK but not really".to_vec(), "is not a zip archive"),
        (upload_zip(&notes), "holds no .apk file"),
        (upload_zip(&fake), "fake.APK is not an APK"),
    ];
    for (zip, why) in cases {
        let minted = mint(&sb).await;
        assert_eq!(put_zip(&minted.upload_url, zip).await.0, 200);
        let request = json!({"upload_id": minted.upload_id});
        let (status, body) = call(&sb, "POST", "targets", Some(request)).await;
        assert_eq!(status, 422, "{body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(why), "{error:?} should say {why:?}");
    }
}

/// A store that is only a directory: its URLs are made up, its objects are files a test writes.
struct Directory(PathBuf);

impl crate::ExternalStorage for Directory {
    fn presign_put(&self, upload_id: &str) -> String {
        format!("https://s3.example.com/bucket/{upload_id}?X-Amz-Signature=00")
    }

    fn object_path(&self, upload_id: &str) -> Option<PathBuf> {
        let path = self.0.join(upload_id);
        path.is_file().then_some(path)
    }
}

#[tokio::test]
async fn an_external_store_mints_the_urls_and_holds_the_objects() {
    let objects = tempfile::tempdir().unwrap();
    let sb = sandbox_with(SandboxConfig {
        storage: crate::Storage::External(std::sync::Arc::new(Directory(
            objects.path().to_owned(),
        ))),
        ..SandboxConfig::default()
    })
    .await;
    let minted = mint(&sb).await;
    assert_eq!(
        minted.upload_url,
        "https://s3.example.com/bucket/upl_1?X-Amz-Signature=00"
    );
    let (status, _) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_1"}))).await;
    assert_eq!(status, 409, "nothing stored yet");

    let zip = upload_zip(&unlock_apk());
    std::fs::write(objects.path().join("upl_1"), &zip).unwrap();
    let (status, target) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_1"}))).await;
    assert_eq!((status, &target), (200, &json!({"target_id": "bin_1"})));
    let stored = admin(&sb, "GET", "uploads/upl_1").await;
    assert!(stored.bytes().await.unwrap() == zip, "stored bytes differ");
    let (status, _) = call(&sb, "POST", "targets", Some(json!({"upload_id": "upl_7"}))).await;
    assert_eq!(status, 404, "only minted ids are looked up");
    sb.stop().await;
}
