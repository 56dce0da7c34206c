//! `ci`: upload (cached), run and wait, the one line a Gradle hook or nightly job calls.

use crate::cli::{CiArgs, Effective, GlobalArgs};
use crate::config::ProjectConfig;
use crate::pipeline::{Destinations, Origin, RequestSource};

use super::output::note;
use super::run::{create, destinations_of, test_flags_given, tests_of};
use super::wait::{check_report, wait_and_report};
use super::{Error, context};

pub async fn run(
    global: &GlobalArgs,
    args: CiArgs,
    project: Option<&ProjectConfig>,
    settings: &[Effective],
) -> Result<(), Error> {
    let ctx = context(global)?;
    if !args.upload.dry_run {
        check_report(&args.waiting)?;
    }
    let source = source_of(&args, project, settings)?;
    let retries = args.waiting.retries;
    let Some(started) = create(&ctx, &args.upload, &source, retries, args.json).await? else {
        return Ok(());
    };
    let origin = Origin::Created(started);
    wait_and_report(&ctx.client, &args.waiting, args.json, origin).await
}

/// What the run is made of: doksi.toml's [[matrix]], unless the command line says what to run
/// on or which tests (then it is said not to be used, rather than silently dropped); else the
/// flags, on the paths given or the project's.
fn source_of(
    args: &CiArgs,
    project: Option<&ProjectConfig>,
    settings: &[Effective],
) -> Result<RequestSource, Error> {
    let selection = destinations_of(&args.selection)?;
    let tests_flagged = test_flags_given(settings);
    if let Some(p) = project.filter(|p| !p.matrix.is_empty()) {
        if args.paths.is_empty() && tests_flagged.is_empty() {
            return Ok(RequestSource::matrix(p.matrix.clone(), selection));
        }
        let given = match args.paths.is_empty() {
            true => tests_flagged.join(", "),
            false => "paths".to_owned(),
        };
        note!(
            "doksi: the [[matrix]] in {} is not used: {given} given on the command line",
            p.path.display()
        );
    }
    let (tests, auth) = tests_of(&args.tests)?;
    let destinations = Destinations {
        local: super::paths_or_project(&args.paths, project),
        ..Destinations::default()
    };
    Ok(RequestSource::flags(
        destinations,
        &tests,
        &auth,
        selection,
    )?)
}
