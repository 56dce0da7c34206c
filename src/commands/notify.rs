//! `--notify`: whether a verdict is posted to the team's webhook, and what is said of it on
//! stderr. The message and its delivery are the library's (`crate::notify`). A webhook that
//! fails is a warning naming its host: the verdict's exit code stands whatever the chat did.

use crate::api::model::Run;
use crate::cli::NotifyArgs;
use crate::labels::{ApkLabel, Labels, test_name};
use crate::notify::{self, Ci, Delivery, FailedTest, Summary, Verdict};
use crate::rerun::{Attempts, TestOutcome};

use super::output::{note, warning};

/// The summary of `run` ended as `verdict`, with the APKs it ran on and the CI job around it.
pub(super) fn summary(run: &Run, verdict: Verdict, apks: Vec<ApkLabel>) -> Summary {
    Summary {
        apks,
        ci: Ci::from_env(),
        ..Summary::of_run(run, verdict)
    }
}

/// The summary of every attempt (a first run and its re-runs) ended as `verdict`: each test
/// counted once by how it came out over them all, flaky ones apart.
pub(super) fn of_attempts(attempts: &Attempts, verdict: Verdict, apks: Vec<ApkLabel>) -> Summary {
    let labels = Labels::new(&apks);
    let failed = attempts
        .tests()
        .iter()
        .filter(|t| matches!(t.outcome, TestOutcome::Failed | TestOutcome::Errored))
        .map(|t| FailedTest {
            name: test_name(t.standing.result).to_owned(),
            destination: t
                .standing
                .result
                .destination
                .is_some()
                .then(|| labels.of(t.standing.result)),
            url: t.standing.result.url.clone(),
            errored: t.outcome == TestOutcome::Errored,
        })
        .collect();
    Summary {
        counts: attempts.counts(),
        failed,
        run_ids: attempts.run_ids().iter().map(|id| id.to_string()).collect(),
        ..summary(attempts.last(), verdict, apks)
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
