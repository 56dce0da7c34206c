//! One module per subcommand: each turns parsed flags into library calls and prints the result.
//! Results go to stdout, warnings and progress to stderr, so `--json | jq` always works.

mod apks;
mod inspect;
mod package;

use std::path::PathBuf;

use crate::cli::{Cli, Command};

/// Every way a command can fail, each mapped to one exit code (see `cli::EXIT_CODES`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Apk(#[from] crate::apk::ApkError),
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
    #[error("no APKs found{filters} (looked in {})", looked_in(.searched))]
    NothingFound {
        searched: Vec<PathBuf>,
        filters: String,
    },
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
}

fn looked_in(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            // A closed stdout (`doksi apks | head`) is not the user's input being wrong, but it is
            // not success either; 2 keeps every local failure in one class.
            Error::Apk(_)
            | Error::Discover(_)
            | Error::Package(_)
            | Error::NothingFound { .. }
            | Error::Output(_) => 2,
        }
    }
}

pub fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Apks(args) => apks::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Package(args) => package::run(args),
    }
}

/// Prints notes about a manifest (an unresolvable label, say) as warnings.
fn warn_notes(path: &std::path::Path, notes: &[String]) {
    for note in notes {
        eprintln!("doksi: warning: {}: {note}", path.display());
    }
}
