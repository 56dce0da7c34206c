//! `rerun`: a new run of a finished run's tests (or, with `--failed`, of those that did not
//! pass), on the destinations its results name: for the person who looks at last night's failure
//! in the morning. Prints the new run's id, or with `--wait` waits for it as `run --wait` does.

use crate::cli::{Effective, GlobalArgs, RerunArgs, given_as_flag};
use crate::rerun::{self, Which};
use crate::runs::Auth;
use crate::words::count;
use crate::words::one_line as clean;

use super::interrupt;
use super::output::note;
use super::run::wait_or_print;
use super::wait::check_report;
use super::{During, Error, context};

pub async fn run(
    global: &GlobalArgs,
    args: RerunArgs,
    settings: &[Effective],
) -> Result<(), Error> {
    let ctx = context(global)?;
    let auth: Auth = args.auth.parse()?;
    for (key, flag) in [("junit", "--junit"), ("retries", "--retries")] {
        if !args.wait && given_as_flag(settings, key) {
            return Err(Error::Usage(format!(
                "{flag} needs --wait: without waiting there is no verdict"
            )));
        }
    }
    if args.wait {
        check_report(&args.waiting)?;
    }
    let run_id = args.run_id.as_str();
    let claim = interrupt::Claim::take();
    let (run, _) = tokio::select! {
        biased;
        read = ctx.client.get_run(run_id) => read.map_err(Error::reading_given_run)?,
        signal = claim.interrupted() => return Err(interrupt::Interrupted { signal, during: During::Other }.into()),
    };
    drop(claim);
    if !run.status.is_final() {
        return Err(Error::Usage(format!(
            "run {} is still {}: only a finished run can be re-run (doksi wait {} waits for it)",
            clean(run_id),
            clean(run.status.as_str()),
            clean(run_id)
        )));
    }
    let which = match args.failed {
        true => Which::Failed,
        false => Which::All,
    };
    let request = rerun::request_for(&run, &auth, which)?;
    let tests = rerun::count_tests(&request);
    let started = crate::start::post(&ctx.client, request, Vec::new()).await?;
    note!(
        "started run {}, a re-run of run {}: {} on {}, signing in: {}",
        clean(&started.run_id),
        clean(run_id),
        count(tests, "test"),
        count(started.request.matrix.len(), "destination"),
        clean(&args.auth)
    );
    wait_or_print(&ctx.client, started, args.wait, &args.waiting, args.json).await
}
