//! `ci`: upload (cached), run and wait, the one line a Gradle hook or nightly job calls.

use std::path::PathBuf;

use crate::cli::{CiArgs, GlobalArgs};
use crate::config::ProjectConfig;
use crate::start::{Destinations, RequestSource};

use super::run::{create, destinations_of, tests_of};
use super::wait::{Origin, check_report, wait_and_report};
use super::{Error, context};

pub async fn run(
    global: &GlobalArgs,
    args: CiArgs,
    project: Option<&ProjectConfig>,
) -> Result<(), Error> {
    let ctx = context(global)?;
    let (tests, auth) = tests_of(&args.tests)?;
    if !args.upload.dry_run {
        check_report(&args.waiting)?;
    }
    let paths = if args.paths.is_empty() {
        // The project doksi.toml stands for, wherever in it doksi was started.
        vec![project.map_or_else(|| PathBuf::from("."), |p| p.root.clone())]
    } else {
        args.paths.clone()
    };
    let selection = destinations_of(&args.selection)?;
    let destinations = Destinations {
        local: paths,
        ..Destinations::default()
    };
    let source = RequestSource::Flags {
        selection,
        destinations,
        tests,
        auth,
    };
    let Some(started) = create(&ctx, &args.upload, &source, args.json).await? else {
        return Ok(());
    };
    wait_and_report(
        &ctx.client,
        &args.waiting,
        args.json,
        Origin::Created(started),
    )
    .await
}
