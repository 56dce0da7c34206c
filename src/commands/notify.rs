//! `--notify`: whether a verdict is posted to the team's webhook, and what is said of it on
//! stderr. The message and its delivery are the library's (`crate::notify`). A webhook that
//! fails is a warning naming its host: the verdict's exit code stands whatever the chat did.

use crate::api::model::Run;
use crate::cli::NotifyArgs;
use crate::notify::{self, Ci, Delivery, Summary, Verdict};
use crate::select::ApkLabel;

use super::output::{note, warning};

/// The summary of `run` ended as `verdict`, with the APKs it ran on and the CI job around it.
pub(super) fn summary(run: &Run, verdict: Verdict, apks: Vec<ApkLabel>) -> Summary {
    Summary {
        apks,
        ci: Ci::from_env(),
        ..Summary::of_run(run, verdict)
    }
}

/// Posts `summary` if a webhook is configured and `--notify-on` wants this verdict.
pub(super) async fn tell(args: &NotifyArgs, summary: &Summary) {
    let Some(url) = &args.notify else {
        return;
    };
    if !args.notify_on.wants(summary.verdict) {
        return;
    }
    match notify::send(url, summary, Delivery::default()).await {
        Ok(_) => note!("doksi: told the team (webhook at {})", url.host()),
        Err(e) => warning!("{e}; the team was not told, the verdict stands"),
    }
}
