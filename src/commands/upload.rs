//! `upload`, and the printing of a dry run's plan (which `run` and `ci` share).

use crate::api::BaseUrl;
use crate::api::model::RunRequest;
use crate::cli::{GlobalArgs, UploadArgs};
use crate::config::ProjectConfig;
use crate::rerun::Cost;
use crate::upload::Planned;
use crate::upload::batch::{Plan, PlannedUpload, upload_all};

use super::output::outln;
use super::{Error, context, context_without_steps, paths_or_project, print_json};

pub async fn run(
    global: &GlobalArgs,
    args: UploadArgs,
    project: Option<&ProjectConfig>,
) -> Result<(), Error> {
    // Each upload's target is printed on stdout for scripts; in one stream (`2>&1`) the same
    // fact is not told a second time on stderr.
    let ctx = match !args.json && !args.upload.dry_run && super::output::merged() {
        true => context_without_steps(global)?,
        false => context(global)?,
    };
    let paths = paths_or_project(&args.paths, project);
    let plan = Plan::default();
    let selection = args.selection.into();
    let options = (&args.upload).into();
    let claim = super::interrupt::Claim::take();
    let done = tokio::select! {
        biased;
        done = upload_all(&ctx, &paths, selection, &options, &plan) => done?,
        signal = claim.interrupted() => return Err(super::interrupt::Interrupted {
            signal,
            during: super::During::Uploading,
        }
        .into()),
    };
    if args.upload.dry_run {
        return print_plan(&plan, ctx.client.base_url(), None, 0, args.json);
    }
    if args.json {
        print_json(&done)?;
    } else {
        for u in &done {
            outln!("{}\t{}", u.target_id, u.path.display());
        }
    }
    Ok(())
}

/// A dry run's account of what it would send: step by step for a person, or one JSON document
/// (`--json`); then the run's request, if there is one, the most `--retries` could add to it,
/// and that nothing was sent.
pub(super) fn print_plan(
    plan: &Plan,
    base: &BaseUrl,
    run: Option<&RunRequest>,
    retries: u8,
    json: bool,
) -> Result<(), Error> {
    let cost = run
        .filter(|_| retries > 0)
        .map(|request| Cost::of(request, retries));
    let uploads = plan.uploads();
    // The request goes out whole; what is printed of it hides a signed URL's query.
    let redacted = run
        .and_then(|request| serde_json::to_string(request).ok())
        .is_some_and(|text| crate::api::redact_signed_urls(&text) != text);
    if json {
        let uploads: Vec<serde_json::Value> =
            uploads.iter().map(|u| upload_json(base, u)).collect();
        let mut doc = serde_json::json!({ "dry_run": true, "uploads": uploads });
        if let Some(request) = run {
            doc["run"] = serde_json::json!({
                "method": "POST", "url": base.join("runs"), "body": request,
            });
        }
        if redacted {
            doc["redacted"] = serde_json::json!(REDACTED_NOTE);
        }
        if let Some(cost) = &cost {
            doc["retries"] = serde_json::json!({
                "up_to": cost.retries, "most_test_credits": cost.most(),
                "test_ids": cost.tests, "categories": cost.categories,
            });
        }
        return print_json(&doc);
    }
    for u in &uploads {
        let path = u.path.display();
        match &u.step {
            Planned::Cached { target_id } => {
                outln!("cached   {path} → target {target_id} (nothing to send)")
            }
            Planned::Upload {
                name,
                zip_len,
                body,
            } => {
                outln!("upload   {path}");
                outln!("  the APK {body}");
                let body = serde_json::json!({ "name": name });
                outln!("  POST {} {body}", base.join("uploads"));
                outln!(
                    "  PUT  <upload_url from that answer> (application/zip, {zip_len} bytes, no Authorization header)"
                );
                outln!(
                    "  POST {} {{\"upload_id\":\"<upload_id from that answer>\"}}",
                    base.join("targets")
                );
            }
        }
    }
    if let Some(request) = run {
        let body = serde_json::to_string_pretty(request).map_err(std::io::Error::from)?;
        outln!("run");
        outln!("  POST {} {body}", base.join("runs"));
        if redacted {
            outln!("  ({REDACTED_NOTE})");
        }
    }
    if let Some(cost) = &cost {
        outln!("then {cost}");
    }
    outln!("dry run: nothing was sent");
    Ok(())
}

/// What a dry run says when the run's request holds a signed URL.
const REDACTED_NOTE: &str = "a URL whose query carries a signature or credential is shown with its query as …(redacted); the request sends it whole";

fn upload_json(base: &BaseUrl, u: &PlannedUpload) -> serde_json::Value {
    let path = crate::path_text::escaped(&u.path);
    match &u.step {
        Planned::Cached { target_id } => serde_json::json!({
            "path": path, "sha256": u.sha256, "cached": true,
            "target_id": target_id, "requests": [],
        }),
        Planned::Upload {
            name,
            zip_len,
            body,
        } => serde_json::json!({
            "path": path, "sha256": u.sha256, "cached": false,
            "target_id": u.target_id, "name": name, "zip_bytes": zip_len, "compress": body,
            "requests": [
                {"method": "POST", "url": base.join("uploads"), "body": {"name": name}},
                {"method": "PUT", "url": "<upload_url from POST /uploads>",
                 "content_type": "application/zip", "bytes": zip_len, "authorization": false},
                {"method": "POST", "url": base.join("targets"),
                 "body": {"upload_id": "<upload_id from POST /uploads>"}},
            ],
        }),
    }
}
