//! `status`: a run's current state, once.

use crate::cli::{GlobalArgs, StatusArgs};

use super::wait::{Shape, print_final};
use super::{Error, context};

pub async fn run(global: &GlobalArgs, args: StatusArgs) -> Result<(), Error> {
    let client = context(global)?.client;
    let (run, raw) = client.get_run(&args.run_id).await?;
    let shape = if args.json { Shape::Json } else { Shape::Text };
    print_final(&run, &raw, shape)
}
