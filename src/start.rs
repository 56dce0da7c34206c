//! Starting a run: a request built already is sent once, with signals listened for, since a
//! signal during `POST /runs` may leave a run behind (the error says so). What the run was
//! created from is kept in [`Started`] for the wait, the re-runs and the reports. Building the
//! request (uploading first, the stale-target recovery) is the pipeline's. Owns [`StartError`];
//! imports `api`, `labels` and `interrupt`.

use crate::api::client::Client;
use crate::api::error::ApiError;
use crate::api::model::{CreatedResult, RunRequest};
use crate::interrupt::{self, During};
use crate::labels::ApkLabel;

/// Every way sending a run's request can fail.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Interrupted(#[from] interrupt::Interrupted),
}

/// A run this command created, with the targets of the matrix it was created from (for the
/// reports' `target_ids`), the results `POST /runs` announced (the state to report if no poll
/// ever succeeds), the request itself (what a re-run of its failed tests repeats) and the APKs
/// doksi uploaded for it (for the notification).
pub struct Started {
    pub run_id: String,
    pub target_ids: Vec<String>,
    pub results: Vec<CreatedResult>,
    pub request: RunRequest,
    pub apks: Vec<ApkLabel>,
}

/// Creates a run of `request`, built already (its APKs uploaded, or a re-run of failed tests,
/// whose targets exist), on the APKs `apks` names: sent once. A signal meanwhile means the run
/// may exist, and the error says so.
pub async fn post(
    client: &Client,
    request: RunRequest,
    apks: Vec<ApkLabel>,
) -> Result<Started, StartError> {
    let claim = interrupt::Claim::take();
    let created = tokio::select! {
        // An answer that came with the signal is the better account: it has the run id.
        biased;
        created = client.create_run(&request) => created?,
        signal = claim.interrupted() => return Err(interrupt::Interrupted {
            signal,
            during: During::CreatingRun,
        }
        .into()),
    };
    let ids = request.matrix.iter().filter_map(|e| e.target_id.clone());
    Ok(Started {
        run_id: created.run_id,
        target_ids: crate::words::unique(ids),
        results: created.results,
        request,
        apks,
    })
}
