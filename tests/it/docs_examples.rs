//! The API docs' own request and response bodies (tests/fixtures/api/, copied verbatim; its README
//! says from where) against the client's model and against the sandbox, so that neither drifts
//! from the docs unnoticed. The model must decode every documented answer with the documented
//! values and send exactly the documented requests; the sandbox, sent each documented request,
//! must answer in the documented shape (the same keys at every level, the same JSON types: its ids
//! and times are its own, so values are not compared).

use std::collections::BTreeSet;

use doksi::api::model::{
    Destination, ErrorBody, Run, RunCreated, RunRequest, Status, TargetRequest, UploadRequest,
};
use doksi::runs::{self, Auth, Tests};
use serde_json::Value;

use crate::common::fixtures;
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// The `POST /runs` request examples.
const RUN_REQUESTS: [&str; 9] = [
    "create-run.request.json",
    "create-run.request.single-web-entry.json",
    "create-run.request.android-binary-url.json",
    "create-run.request.android-uploaded-target.json",
    "create-run.request.category-expansion.json",
    "create-run.request.auth-none.json",
    "create-run.request.auth-generated.json",
    "create-run.request.auth-specific.json",
    "create-run.request.fan-out.json",
];

const OTHER_FIXTURES: [&str; 8] = [
    "create-upload.request.json",
    "create-target.request.json",
    "create-run.response.json",
    "create-run.response.error.json",
    "create-run.response.quota-error.json",
    "retrieve-run.response.json",
    "retrieve-run.response.example.json",
    "retrieve-run.response.error.json",
];

fn path(name: &str) -> std::path::PathBuf {
    fixtures().join("api").join(name)
}

fn text(name: &str) -> String {
    std::fs::read_to_string(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn example(name: &str) -> Value {
    serde_json::from_str(&text(name)).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn decode<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(example(name)).unwrap_or_else(|e| {
        panic!(
            "{name} does not decode into {}: {e}",
            std::any::type_name::<T>()
        )
    })
}

#[test]
fn every_fixture_is_checked_here() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixtures().join("api"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md")
        .collect();
    let checked: BTreeSet<String> = RUN_REQUESTS
        .iter()
        .chain(&OTHER_FIXTURES)
        .map(|n| n.to_string())
        .collect();
    assert_eq!(on_disk, checked);
}

// The model.

#[test]
fn the_docs_run_answers_decode_with_their_values() {
    let created: RunCreated = decode("create-run.response.json");
    assert_eq!(created.run_id, "string");
    assert_eq!(created.results.len(), 1);
    let r = &created.results[0];
    assert_eq!(
        (r.result_id.as_str(), r.test_id.as_str()),
        ("string", "string")
    );
    assert_eq!(r.url.as_deref(), Some("http://example.com"));

    let run: Run = decode("retrieve-run.response.json");
    assert_eq!(
        (run.run_id.as_str(), &run.status),
        ("string", &Status::Queued)
    );
    assert_eq!(run.extra["created_at"], "2019-08-24T14:15:22Z");
    let r = &run.results[0];
    assert_eq!(r.test_name.as_deref(), Some("string"));
    assert_eq!(
        r.destination,
        Some(Destination::Web {
            url: "http://example.com".into()
        })
    );

    let run: Run = decode("retrieve-run.response.example.json");
    assert_eq!(run.run_id, "k3n2mPq9Rxyz");
    assert_eq!(run.status, Status::Running);
    assert_eq!(
        (
            run.tests_total,
            run.tests_passed,
            run.tests_failed,
            run.tests_running
        ),
        (3, 1, 0, 2)
    );
    assert_eq!(run.duration_seconds, 42.0);
    assert_eq!(run.extra["created_at"], "2026-04-14T14:22:10.000Z");
    assert_eq!(run.extra["updated_at"], "2026-04-14T14:22:44.000Z");
    assert_eq!(run.results.len(), 1);
    let r = &run.results[0];
    assert_eq!(
        (r.result_id.as_str(), r.test_id.as_str()),
        ("res_aa11", "abc123")
    );
    assert_eq!(r.test_name.as_deref(), Some("Checkout flow"));
    assert_eq!(r.status, Status::Passed);
    assert_eq!(r.duration_seconds, 22.0);
    assert_eq!(
        r.url.as_deref(),
        Some("https://app.doksi.ai/verify/tests/abc123/runs/res_aa11")
    );
    assert_eq!(
        r.destination,
        Some(Destination::Web {
            url: "https://staging.example.com".into()
        })
    );
}

#[test]
fn the_docs_error_answers_decode_with_their_values() {
    for name in [
        "create-run.response.error.json",
        "retrieve-run.response.error.json",
    ] {
        let e: ErrorBody = decode(name);
        assert_eq!(
            (e.error.as_str(), e.requested, e.remaining),
            ("string", None, None),
            "{name}"
        );
    }
    let quota: ErrorBody = decode("create-run.response.quota-error.json");
    assert_eq!(
        (quota.error.as_str(), quota.requested, quota.remaining),
        ("string", Some(0), Some(0))
    );
}

/// `a` and `b` as the same JSON, numbers compared by value (the model reads durations as
/// floats, so `42` comes back as `42.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn the_model_keeps_every_field_of_the_docs_runs() {
    for name in [
        "retrieve-run.response.json",
        "retrieve-run.response.example.json",
    ] {
        let run: Run = decode(name);
        let again = serde_json::to_value(&run).unwrap();
        assert!(
            same_json(&again, &example(name)),
            "{name} read and written back differs: {again:#}"
        );
    }
}

/// What `doksi run` sends for the flags that say the same as the example, where flags can (one
/// auth for every entry: the fan-out example needs a matrix file).
fn from_flags(name: &str) -> Option<RunRequest> {
    use runs::Destination::{BinaryUrl, Target, WebUrl};
    let web = || WebUrl("https://staging.example.com".into());
    let test = || Tests {
        test_ids: vec!["abc123".into()],
        category_ids: Vec::new(),
    };
    let auth = |flag: &str| flag.parse::<Auth>().unwrap();
    let (destination, tests, auth) = match name {
        "create-run.request.json"
        | "create-run.request.single-web-entry.json"
        | "create-run.request.auth-none.json" => (web(), test(), auth("none")),
        "create-run.request.android-binary-url.json" => (
            BinaryUrl("https://builds.example.com/app.apk".into()),
            test(),
            auth("none"),
        ),
        "create-run.request.android-uploaded-target.json" => {
            (Target("$TARGET_ID".into()), test(), auth("none"))
        }
        "create-run.request.category-expansion.json" => (
            Target("bin_abc123".into()),
            Tests {
                test_ids: Vec::new(),
                category_ids: vec!["cat_smoke".into()],
            },
            auth("none"),
        ),
        "create-run.request.auth-generated.json" => {
            (Target("bin_abc123".into()), test(), auth("generated"))
        }
        "create-run.request.auth-specific.json" => (web(), test(), auth("specific:acc_789")),
        _ => return None,
    };
    Some(runs::matrix(&[destination], &tests, &auth).unwrap())
}

#[test]
fn the_docs_run_requests_are_what_doksi_sends() {
    for name in RUN_REQUESTS {
        let documented = example(name);
        // The example as a `--matrix` file.
        let entries = runs::read_matrix_file(&path(name))
            .unwrap_or_else(|e| panic!("{name} is refused as a matrix file: {e}"));
        let request = RunRequest {
            matrix: entries.into_iter().map(|e| e.into_entry(None)).collect(),
        };
        assert_eq!(
            serde_json::to_value(&request).unwrap(),
            documented,
            "{name} as a matrix file"
        );
        if let Some(request) = from_flags(name) {
            assert_eq!(
                serde_json::to_value(&request).unwrap(),
                documented,
                "{name} from flags"
            );
        }
    }
    assert!(from_flags("create-run.request.fan-out.json").is_none());
}

#[test]
fn the_docs_upload_and_target_requests_are_what_doksi_sends() {
    let upload = UploadRequest {
        name: "storefront".into(),
    };
    assert_eq!(
        serde_json::to_value(upload).unwrap(),
        example("create-upload.request.json")
    );
    let target = TargetRequest {
        upload_id: "$UPLOAD_ID".into(),
    };
    assert_eq!(
        serde_json::to_value(target).unwrap(),
        example("create-target.request.json")
    );
}

// The sandbox.

/// Where `actual` differs in shape from `documented`: a key one has and the other lacks, or a
/// value of another JSON type. An array's elements are each held to the docs' first element, and
/// an array the docs show with elements must have some.
fn shape_differences(actual: &Value, documented: &Value, at: &str) -> Vec<String> {
    match (actual, documented) {
        (Value::Object(a), Value::Object(d)) => {
            let mut out = Vec::new();
            for key in d.keys().filter(|k| !a.contains_key(*k)) {
                out.push(format!("{at}.{key}: missing"));
            }
            for key in a.keys().filter(|k| !d.contains_key(*k)) {
                out.push(format!("{at}.{key}: not in the docs"));
            }
            for (key, value) in a {
                if let Some(doc) = d.get(key) {
                    out.extend(shape_differences(value, doc, &format!("{at}.{key}")));
                }
            }
            out
        }
        (Value::Array(a), Value::Array(d)) => match d.first() {
            None => Vec::new(),
            Some(_) if a.is_empty() => vec![format!("{at}: empty, the docs show elements")],
            Some(doc) => (0..)
                .zip(a)
                .flat_map(|(i, v)| shape_differences(v, doc, &format!("{at}[{i}]")))
                .collect(),
        },
        _ if json_type(actual) == json_type(documented) => Vec::new(),
        _ => vec![format!(
            "{at}: {} {actual}, the docs show {} {documented}",
            json_type(actual),
            json_type(documented)
        )],
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[track_caller]
fn assert_shape(actual: &Value, fixture: &str, context: &str) {
    let differences = shape_differences(actual, &example(fixture), "");
    assert!(
        differences.is_empty(),
        "{context}: the answer is not shaped like {fixture}:\n{}\nanswer: {actual:#}",
        differences.join("\n")
    );
}

struct Api {
    client: reqwest::Client,
    base_url: String,
    key: String,
}

impl Api {
    fn of(sb: &Sandbox) -> Api {
        Api {
            client: reqwest::Client::builder().no_proxy().build().unwrap(),
            base_url: sb.base_url.clone(),
            key: sb.key.clone(),
        }
    }

    /// `METHOD /route` with the sandbox key and `body` sent as it is: the status and the JSON
    /// answer.
    async fn call(&self, method: &str, route: &str, body: Option<String>) -> (u16, Value) {
        self.send(method, route, body, true).await
    }

    async fn send(
        &self,
        method: &str,
        route: &str,
        body: Option<String>,
        with_key: bool,
    ) -> (u16, Value) {
        let url = format!("{}/{route}", self.base_url);
        let mut req = self
            .client
            .request(method.parse().unwrap(), &url)
            .header("Content-Type", "application/json");
        if with_key {
            req = req.bearer_auth(&self.key);
        }
        if let Some(body) = body {
            req = req.body(body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{method} {route}: {status}, not JSON ({e}): {text}"));
        (status, json)
    }
}

fn string<'a>(v: &'a Value, key: &str, what: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: no string {key}: {v}"))
}

/// The walk-through's first three steps, as its shell runs them: mint an upload with the docs'
/// body, PUT the zip to its URL, register it with the docs' body holding the minted id. Returns
/// the target id.
async fn register_target(sb: &Sandbox, api: &Api) -> String {
    let (status, minted) = api
        .call("POST", "uploads", Some(text("create-upload.request.json")))
        .await;
    assert_eq!(status, 200, "POST /uploads: {minted}");
    let upload_id = string(&minted, "upload_id", "POST /uploads");
    let upload_url = string(&minted, "upload_url", "POST /uploads");

    let dir = tempfile::tempdir().unwrap();
    let zip = dir.path().join("app.zip");
    let r = sb.run(&["package", path_str(&unlock_apk()), "-o", path_str(&zip)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let put = api
        .client
        .put(upload_url)
        .header("Content-Type", "application/zip")
        .body(std::fs::read(&zip).unwrap())
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "PUT: {}", put.status());

    let body = text("create-target.request.json").replace("$UPLOAD_ID", upload_id);
    let (status, target) = api.call("POST", "targets", Some(body)).await;
    assert_eq!(status, 200, "POST /targets: {target}");
    string(&target, "target_id", "POST /targets").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_answers_the_docs_run_requests_in_the_docs_shapes() {
    let sb = Sandbox::start(&[]);
    let api = Api::of(&sb);
    let target_id = register_target(&sb, &api).await;

    for name in RUN_REQUESTS {
        let body = text(name)
            .replace("$TARGET_ID", &target_id)
            .replace("bin_abc123", &target_id);
        let (status, created) = api.call("POST", "runs", Some(body.clone())).await;
        assert_eq!(status, 200, "{name}: {created}");
        assert_shape(&created, "create-run.response.json", name);

        let run_id = string(&created, "run_id", name);
        let (status, mut run) = api.call("GET", &format!("runs/{run_id}"), None).await;
        assert_eq!(status, 200, "{name}: {run}");

        // The docs show a web destination only; each result's must be the one its entry asked
        // for, which the model reads (an android one included) as a typed destination.
        let mut asked = Vec::new();
        for entry in serde_json::from_str::<Value>(&body).unwrap()["matrix"]
            .as_array()
            .unwrap()
        {
            let destination = Destination::from_value(entry.clone());
            assert!(
                !matches!(destination, Destination::Other(_)),
                "{name}: {entry}"
            );
            if !asked.contains(&destination) {
                asked.push(destination);
            }
        }
        let mut got = Vec::new();
        for result in run["results"].as_array_mut().unwrap() {
            let Some(destination) = result.as_object_mut().unwrap().remove("destination") else {
                panic!("{name}: a result without a destination: {result}");
            };
            let typed = Destination::from_value(destination.clone());
            assert!(
                asked.contains(&typed),
                "{name}: {destination} was not asked for"
            );
            if matches!(typed, Destination::Web { .. }) {
                let doc = &example("retrieve-run.response.json")["results"][0]["destination"];
                let differences = shape_differences(&destination, doc, ".destination");
                assert!(differences.is_empty(), "{name}: {differences:?}");
            }
            if !got.contains(&typed) {
                got.push(typed);
            }
        }
        assert_eq!(got.len(), asked.len(), "{name}: {got:?} for {asked:?}");
        for fixture in [
            "retrieve-run.response.json",
            "retrieve-run.response.example.json",
        ] {
            let mut doc = example(fixture);
            doc["results"][0]
                .as_object_mut()
                .unwrap()
                .remove("destination");
            let differences = shape_differences(&run, &doc, "");
            assert!(
                differences.is_empty(),
                "{name}: GET /runs/{run_id} is not shaped like {fixture}:\n{}\nanswer: {run:#}",
                differences.join("\n")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sandbox_errors_are_shaped_like_the_docs_errors() {
    let sb = Sandbox::start(&[]);
    let api = Api::of(&sb);
    let request = text("create-run.request.json");

    let (status, refused) = api.send("POST", "runs", Some(request.clone()), false).await;
    assert_eq!(status, 401, "{refused}");
    assert_shape(
        &refused,
        "create-run.response.error.json",
        "POST /runs without a key",
    );

    let (status, bad) = api
        .call("POST", "runs", Some(r#"{"matrix": []}"#.into()))
        .await;
    assert_eq!(status, 400, "{bad}");
    assert_shape(
        &bad,
        "create-run.response.error.json",
        "POST /runs, empty matrix",
    );

    let (status, missing) = api.call("GET", "runs/run_nope", None).await;
    assert_eq!(status, 404, "{missing}");
    assert_shape(
        &missing,
        "retrieve-run.response.error.json",
        "GET /runs/run_nope",
    );

    let (status, refused) = api.send("GET", "runs/run_nope", None, false).await;
    assert_eq!(status, 401, "{refused}");
    assert_shape(
        &refused,
        "retrieve-run.response.error.json",
        "GET /runs without a key",
    );

    let broke = Sandbox::start(&["--credits", "0"]);
    let (status, quota) = Api::of(&broke).call("POST", "runs", Some(request)).await;
    assert_eq!(status, 402, "{quota}");
    assert_shape(
        &quota,
        "create-run.response.quota-error.json",
        "POST /runs, no credits",
    );
}
