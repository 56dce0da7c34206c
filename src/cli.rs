//! Flag definitions only: clap parses them here and `commands` receives the typed result.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub const EXIT_CODES: &str = "\
Exit codes:
  0  success (run passed)
  1  the run finished and failed
  2  usage error, bad input, or nothing found
  3  API or network error
  4  gave up waiting (timeout)
  5  test-credit quota exceeded";

#[derive(Debug, Parser)]
#[command(name = "doksi", version, about = "Find, inspect and package the APKs a Gradle build produced, for Doksi UI test runs.", after_help = EXIT_CODES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the APKs in a Gradle project's build outputs.
    Apks(ApksArgs),
    /// Decode an APK's manifest: package, versions, SDKs, label, permissions, launcher, ABIs.
    Inspect(InspectArgs),
    /// Write the zip doksi uploads for an APK (stored, reproducible) to a file.
    Package(PackageArgs),
}

/// Which APKs of a project to take; shared by every command that discovers APKs.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Only this variant (e.g. release, freeRelease).
    #[arg(long)]
    pub variant: Option<String>,
    /// Only this module (e.g. app, or feature/login).
    #[arg(long)]
    pub module: Option<String>,
    /// Pick the split APK for this ABI (default: the universal APK when splits exist).
    #[arg(long)]
    pub abi: Option<String>,
    /// Include instrumentation (androidTest) APKs.
    #[arg(long)]
    pub include_tests: bool,
}

#[derive(Debug, Args)]
pub struct ApksArgs {
    /// Project folders to search and/or APK files (default: the current folder).
    #[arg(value_name = "PROJECT_DIR|APK")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: Selection,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The APK file.
    pub apk: PathBuf,
    /// Print the manifest fields as JSON.
    #[arg(long, conflicts_with_all = ["xml", "xmltree"])]
    pub json: bool,
    /// Print the whole manifest as XML text.
    #[arg(long, conflicts_with = "xmltree")]
    pub xml: bool,
    /// Print the manifest in the node listing of `aapt dump xmltree`.
    #[arg(long)]
    pub xmltree: bool,
}

#[derive(Debug, Args)]
pub struct PackageArgs {
    /// The APK file.
    pub apk: PathBuf,
    /// Where to write the zip (written to a temporary file beside it, then renamed).
    #[arg(long, short)]
    pub output: PathBuf,
}

impl From<Selection> for crate::discover::Selection {
    fn from(s: Selection) -> Self {
        crate::discover::Selection {
            variant: s.variant,
            module: s.module,
            abi: s.abi,
            include_tests: s.include_tests,
        }
    }
}
