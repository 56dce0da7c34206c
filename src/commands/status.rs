//! `status`: a run's current state, once.

use crate::cli::{GlobalArgs, StatusArgs};

use super::wait::{Shape, print_final};
use super::{Error, context};

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> Result<(), Error> {
    let client = context(global)?.client;
    let (run, raw) = client
        .get_run(&args.run_id)
        .await
        .map_err(Error::reading_given_run)?;
    let shape = if args.json { Shape::Json } else { Shape::Text };
    // gh's way: reading the run is the command's success; its verdict is the exit code only
    // when asked for.
    let printed = print_final(&run, &raw, shape);
    if !args.exit_status {
        return Ok(());
    }
    printed?;
    match run.status.is_final() {
        true => Ok(()),
        false => Err(Error::NotFinished {
            run_id: run.run_id.clone(),
            status: run.status.as_str().to_owned(),
        }),
    }
}
