//! The request and answer bodies of the Doksi CI/CD API, as its public docs show them (the
//! create-run, upload and retrieve-run pages). Requests carry only the documented fields, and an absent optional field is
//! left out rather than sent as `null`; answers ignore fields they do not know, a run status
//! we have never seen is kept as text, because the docs promise only queued/running/passed/failed,
//! and a result's destination of a shape the docs do not show is kept as it came.

use serde::{Deserialize, Serialize};

/// `POST /uploads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadRequest {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UploadMinted {
    pub upload_id: String,
    pub upload_url: String,
}

/// `POST /targets`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetRequest {
    pub upload_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TargetCreated {
    pub target_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Web,
    Android,
}

/// How a matrix entry's tests sign in (`artifacts[].strategy`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "lowercase")]
pub enum Authentication {
    Generated,
    Specific { account_id: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Artifact {
    Authentication(Authentication),
}

/// One entry of `POST /runs`'s matrix: a destination, the tests, and how to sign in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatrixEntry {
    pub platform: Platform,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub web_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub binary_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub target_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub test_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub category_ids: Option<Vec<String>>,
    /// Omitted means no authentication, the documented default.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub artifacts: Option<Vec<Artifact>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRequest {
    pub matrix: Vec<MatrixEntry>,
}

/// `POST /runs`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RunCreated {
    pub run_id: String,
    #[serde(default)]
    pub results: Vec<CreatedResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CreatedResult {
    pub result_id: String,
    pub test_id: String,
    #[serde(default)]
    pub url: Option<String>,
}

/// A run's or a result's status. Only `passed` and `failed` end a run; anything else, known or
/// not, means it is still going.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum Status {
    Queued,
    Running,
    Passed,
    Failed,
    Other(String),
}

impl From<String> for Status {
    fn from(s: String) -> Status {
        match s.as_str() {
            "queued" => Status::Queued,
            "running" => Status::Running,
            "passed" => Status::Passed,
            "failed" => Status::Failed,
            _ => Status::Other(s),
        }
    }
}

impl From<Status> for String {
    fn from(s: Status) -> String {
        s.as_str().to_owned()
    }
}

impl Status {
    pub fn as_str(&self) -> &str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Passed => "passed",
            Status::Failed => "failed",
            Status::Other(s) => s,
        }
    }

    pub fn is_final(&self) -> bool {
        matches!(self, Status::Passed | Status::Failed)
    }

    /// Queued or running: the test has not ended, whatever its run's top-level status says.
    pub fn is_unfinished(&self) -> bool {
        matches!(self, Status::Queued | Status::Running)
    }
}

/// `GET /runs/{id}`. Kept whole (`extra`) so `--json` can print the API's object as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: String,
    pub status: Status,
    #[serde(default)]
    pub tests_total: u64,
    #[serde(default)]
    pub tests_passed: u64,
    #[serde(default)]
    pub tests_failed: u64,
    #[serde(default)]
    pub tests_running: u64,
    #[serde(default)]
    pub duration_seconds: f64,
    #[serde(default)]
    pub results: Vec<RunResult>,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub result_id: String,
    pub test_id: String,
    #[serde(default)]
    pub test_name: Option<String>,
    pub status: Status,
    #[serde(default)]
    pub duration_seconds: f64,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub destination: Option<Destination>,
}

/// Where a result ran (`results[].destination`). The docs show the web shape only,
/// `{"platform": "web", "web_url"}`; an android result names its `target_id` or `binary_url`
/// the way the matrix entry that asked for it did. Read liberally: a shape other than these
/// (another platform, a key for the wrong platform, a field that is not a non-empty string) is
/// kept whole as `Other`, so one odd result is shown as it came instead of failing the whole
/// run. Unknown extra keys beside a recognised one are ignored, as everywhere in the answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Web { url: String },
    Target { target_id: String },
    Binary { url: String },
    Other(serde_json::Value),
}

impl Destination {
    /// `platform` may be absent (the key alone says which platform it is), but not contradict
    /// the key: an android `web_url` or a web `target_id` is `Other`.
    pub fn from_value(value: serde_json::Value) -> Destination {
        use serde_json::Value;
        let Value::Object(fields) = &value else {
            return Destination::Other(value);
        };
        let text = |key: &str| match fields.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
            Some(_) => Err(()),
        };
        let (Ok(platform), Ok(web_url), Ok(target_id), Ok(binary_url)) = (
            text("platform"),
            text("web_url"),
            text("target_id"),
            text("binary_url"),
        ) else {
            return Destination::Other(value);
        };
        match (platform.as_deref(), web_url, target_id, binary_url) {
            (Some("web") | None, Some(url), None, None) => Destination::Web { url },
            (Some("android") | None, None, Some(target_id), None) => {
                Destination::Target { target_id }
            }
            (Some("android") | None, None, None, Some(url)) => Destination::Binary { url },
            _ => Destination::Other(value),
        }
    }

    /// In the API's shape: what `from_value` reads back as the same destination.
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Destination::Web { url } => json!({"platform": "web", "web_url": url}),
            Destination::Target { target_id } => {
                json!({"platform": "android", "target_id": target_id})
            }
            Destination::Binary { url } => json!({"platform": "android", "binary_url": url}),
            Destination::Other(value) => value.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Destination, D::Error> {
        serde_json::Value::deserialize(d).map(Destination::from_value)
    }
}

impl Serialize for Destination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

/// Every error body in the docs: `{"error"}`, and the quota error's `requested`/`remaining`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub requested: Option<u64>,
    #[serde(default)]
    pub remaining: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_are_omitted_not_null() {
        let entry = MatrixEntry {
            platform: Platform::Web,
            web_url: Some("https://staging.example.com".into()),
            binary_url: None,
            target_id: None,
            test_ids: Some(vec!["abc123".into()]),
            category_ids: None,
            artifacts: None,
        };
        // The docs' "single web entry" example, exactly.
        assert_eq!(
            serde_json::to_value(RunRequest {
                matrix: vec![entry]
            })
            .unwrap(),
            json!({"matrix": [{"platform": "web", "web_url": "https://staging.example.com", "test_ids": ["abc123"]}]})
        );
    }

    #[test]
    fn authentication_artifacts_match_the_docs() {
        let generated = Artifact::Authentication(Authentication::Generated);
        let specific = Artifact::Authentication(Authentication::Specific {
            account_id: "acc_789".into(),
        });
        assert_eq!(
            serde_json::to_value(generated).unwrap(),
            json!({"type": "authentication", "strategy": "generated"})
        );
        assert_eq!(
            serde_json::to_value(specific).unwrap(),
            json!({"type": "authentication", "strategy": "specific", "account_id": "acc_789"})
        );
    }

    #[test]
    fn the_docs_run_example_decodes_and_unknown_fields_are_kept_aside() {
        let body = json!({
            "run_id": "k3n2mPq9Rxyz", "status": "running", "tests_total": 3, "tests_passed": 1,
            "tests_failed": 0, "tests_running": 2, "duration_seconds": 42,
            "created_at": "2026-04-14T14:22:10.000Z", "updated_at": "2026-04-14T14:22:44.000Z",
            "results": [{"result_id": "res_aa11", "test_id": "abc123", "test_name": "Checkout flow",
                "status": "passed", "duration_seconds": 22, "url": "https://app.doksi.ai/verify/tests/abc123/runs/res_aa11",
                "destination": {"platform": "web", "web_url": "https://staging.example.com"}, "new_field": true}]
        });
        let run: Run = serde_json::from_value(body).unwrap();
        assert_eq!(run.status, Status::Running);
        assert!(!run.status.is_final());
        assert_eq!(run.results[0].status, Status::Passed);
        assert_eq!(run.extra["created_at"], "2026-04-14T14:22:10.000Z");
        assert_eq!(
            run.results[0].destination,
            Some(Destination::Web {
                url: "https://staging.example.com".into()
            })
        );
        let odd: Status = serde_json::from_value(json!("cancelled")).unwrap();
        assert_eq!(odd, Status::Other("cancelled".into()));
        assert!(!odd.is_final());
    }

    #[test]
    fn destinations_of_the_documented_shapes_are_typed() {
        let read = |v| serde_json::from_value::<Destination>(v).unwrap();
        let web = Destination::Web {
            url: "https://staging.example.com".into(),
        };
        let target = Destination::Target {
            target_id: "bin_1".into(),
        };
        let binary = Destination::Binary {
            url: "https://b.example/a.apk".into(),
        };
        for (value, typed) in [
            (
                json!({"platform": "web", "web_url": "https://staging.example.com"}),
                &web,
            ),
            (
                json!({"platform": "android", "target_id": "bin_1"}),
                &target,
            ),
            (
                json!({"platform": "android", "binary_url": "https://b.example/a.apk"}),
                &binary,
            ),
        ] {
            assert_eq!(&read(value.clone()), typed);
            assert_eq!(serde_json::to_value(typed).unwrap(), value);
        }
        // Liberal: the key alone says the platform, and keys we do not know are ignored.
        assert_eq!(read(json!({"web_url": "https://staging.example.com"})), web);
        assert_eq!(
            read(json!({"platform": "android", "target_id": "bin_1", "device": "pixel"})),
            target
        );
    }

    #[test]
    fn other_destination_shapes_are_kept_as_they_came() {
        for odd in [
            json!({"platform": "ios", "target_id": "bin_1"}),
            json!({"platform": "android", "web_url": "https://x.example"}),
            json!({"platform": "web", "target_id": "bin_1"}),
            json!({"platform": "android", "target_id": "bin_1", "binary_url": "https://b.example"}),
            json!({"platform": "android", "target_id": ""}),
            json!({"platform": "android", "target_id": 7}),
            json!({"platform": "android"}),
            json!({}),
            json!("odd"),
            json!([1]),
        ] {
            let read: Destination = serde_json::from_value(odd.clone()).unwrap();
            assert_eq!(read, Destination::Other(odd.clone()));
            assert_eq!(serde_json::to_value(&read).unwrap(), odd);
        }
        // One odd destination does not cost the run.
        let run: Run = serde_json::from_value(json!({"run_id": "run_1", "status": "passed",
            "results": [{"result_id": "res_1", "test_id": "t", "status": "passed",
                         "destination": {"platform": "ios"}},
                        {"result_id": "res_2", "test_id": "t", "status": "passed",
                         "destination": null}]}))
        .unwrap();
        assert_eq!(
            run.results[0].destination,
            Some(Destination::Other(json!({"platform": "ios"})))
        );
        assert_eq!(run.results[1].destination, None);
        // Written back (`--json` of a run never read), an absent destination is still `null`.
        assert_eq!(
            serde_json::to_value(&run.results[1])
                .unwrap()
                .get("destination"),
            Some(&serde_json::Value::Null)
        );
        assert_eq!(
            serde_json::to_value(&run.results[0]).unwrap()["destination"],
            json!({"platform": "ios"})
        );
    }

    #[test]
    fn quota_error_body_decodes() {
        let e: ErrorBody = serde_json::from_value(
            json!({"error": "quota exceeded", "requested": 12, "remaining": 3}),
        )
        .unwrap();
        assert_eq!((e.requested, e.remaining), (Some(12), Some(3)));
        let plain: ErrorBody = serde_json::from_value(json!({"error": "not found"})).unwrap();
        assert_eq!(plain.requested, None);
    }
}
