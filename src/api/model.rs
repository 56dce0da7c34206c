//! The request and answer bodies of the Doksi CI/CD API, as its public docs show them (the
//! create-run, upload and retrieve-run pages). Requests carry only the documented fields, and an absent optional field is
//! left out rather than sent as `null`; answers ignore fields they do not know, and a run status
//! we have never seen is kept as text, because the docs promise only queued/running/passed/failed.

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
    pub destination: Option<serde_json::Value>,
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
        let odd: Status = serde_json::from_value(json!("cancelled")).unwrap();
        assert_eq!(odd, Status::Other("cancelled".into()));
        assert!(!odd.is_final());
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
