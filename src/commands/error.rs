//! Every way a command can fail, and what each means for the exit code and for what the server
//! holds: one enum, so that main prints one context-rich line and exits with the code
//! `cli::EXIT_CODES` documents. The library's errors are raised where they happen (each module
//! owns its own: `select::SelectError`, `context::ContextError`, `start::StartError`, `pipeline::CreateError`,
//! `upload::UploadError`, …) and wrapped here whole; the one mapping to exit codes is here.
//! It may import any library module; no library module imports it.

use crate::api::ConfigError;
use crate::api::error::ApiError;
use crate::interrupt;
use crate::pipeline::CreateError;
use crate::start::StartError;
use crate::upload::UploadError;

/// Every way a command can fail, each mapped to one exit code (see `cli::EXIT_CODES`).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Apk(#[from] crate::apk::ApkError),
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
    #[error(transparent)]
    Select(#[from] crate::select::SelectError),
    #[error("cannot write output: {0}")]
    Output(#[from] std::io::Error),
    #[error("cannot write to stdout: {0}")]
    Stdout(std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Context(#[from] crate::context::ContextError),
    #[error(transparent)]
    Runs(#[from] crate::runs::RunsError),
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error(transparent)]
    Upload(#[from] crate::upload::UploadError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error(transparent)]
    Start(#[from] crate::start::StartError),
    #[error(transparent)]
    Create(#[from] crate::pipeline::CreateError),
    /// A run that ended failed; its tests still queued or running when it was reported failed
    /// are `unfinished`, never `failed`.
    #[error("run {run_id} failed: {}", failed_counts(.counts))]
    RunFailed {
        run_id: String,
        counts: crate::rerun::Counts,
    },
    /// The verdict after re-runs of the failed tests: a test never passed, or (with
    /// `--fail-on-flaky`) one passed only on a re-run.
    #[error(transparent)]
    Retried(#[from] crate::rerun::Failure),
    /// `doksi rerun` of a run whose tests cannot be run again (none failed, or their results do
    /// not say where they ran).
    #[error(transparent)]
    Rerun(#[from] crate::rerun::Refusal),
    #[error(
        "gave up waiting for run {run_id} after {waited}; {} (doksi wait {run_id} picks it up again)",
        .status.as_ref().map_or("no poll was answered".to_owned(), |s| format!("it was still {s}"))
    )]
    TimedOut {
        run_id: String,
        waited: String,
        /// The last status a poll saw; `None` when no poll was answered.
        status: Option<String>,
    },
    /// `status --exit-status` of a run still going.
    #[error("run {run_id} has not finished: it is {status} (status --exit-status)")]
    NotFinished { run_id: String, status: String },
    /// Waiting for a run this command created failed for good: the run goes on.
    #[error(transparent)]
    Lost(#[from] crate::wait::Lost),
    /// A run id the user gave that the API does not know (`doksi wait 25`): said with what run
    /// ids are, since a typo and a build number look alike.
    #[error(
        "{source} (a run id is what doksi run or doksi ci printed when it started the run: `started run k3n2mPq9Rxyz`)"
    )]
    UnknownRun { source: ApiError },
    #[error(transparent)]
    Junit(#[from] crate::report::junit::JunitError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[cfg(feature = "sandbox")]
    #[error("cannot start the sandbox: {0}")]
    Sandbox(std::io::Error),
    #[error(transparent)]
    Interrupted(#[from] interrupt::Interrupted),
}

/// `1 of 4 tests failed, 0 passed, 3 unfinished (still running when the run was reported
/// failed)`: the zero `errored` and `unfinished` left out.
fn failed_counts(c: &crate::rerun::Counts) -> String {
    let mut line = format!(
        "{} of {} failed, {} passed",
        c.failed,
        crate::words::count(c.total(), "test"),
        c.passed
    );
    if c.errored > 0 {
        line.push_str(&format!(", {} errored", c.errored));
    }
    if c.unfinished > 0 {
        line.push_str(&format!(
            ", {} unfinished (still running when the run was reported failed)",
            c.unfinished
        ));
    }
    line
}

impl From<crate::wait::Left> for Error {
    fn from(left: crate::wait::Left) -> Error {
        match left {
            crate::wait::Left::Lost(lost) => Error::Lost(lost),
            crate::wait::Left::Interrupted(i) => Error::Interrupted(i),
        }
    }
}

impl Error {
    /// The error of reading a run whose id the user gave: a 404 is an [`Error::UnknownRun`].
    pub fn reading_given_run(source: ApiError) -> Error {
        match source.root().status() {
            Some(404) => Error::UnknownRun { source },
            _ => Error::Api(source),
        }
    }
}

/// 2 where the server said the input is wrong (400, 422: a bad id, an unknown category), since
/// CI scripts retry exit 3 as an infrastructure flake and that would not mend; 3 for the rest.
fn api_exit_code(e: &ApiError) -> u8 {
    match e.root() {
        ApiError::Quota { .. } => 5,
        ApiError::Package(_) => 2,
        ApiError::Api {
            status: 400 | 422, ..
        } => 2,
        _ => 3,
    }
}

/// An upload's: the API's code when the server answered, 2 for what is local.
fn upload_exit_code(e: &UploadError) -> u8 {
    match e {
        UploadError::Api { source, .. } => api_exit_code(source),
        _ => 2,
    }
}

/// Starting a run's: as the same failure anywhere else.
fn start_exit_code(e: &StartError) -> u8 {
    match e {
        StartError::Api(e) => api_exit_code(e),
        StartError::Interrupted(i) => i.signal.exit_code(),
    }
}

/// Creating a run's: as the same failure anywhere else; a failed re-upload by what failed.
fn create_exit_code(e: &CreateError) -> u8 {
    match e {
        CreateError::Upload(e) => upload_exit_code(e),
        CreateError::Runs(_) => 2,
        CreateError::Start(e) => start_exit_code(e),
        CreateError::Interrupted(i) => i.signal.exit_code(),
        CreateError::Reupload { then, .. } => create_exit_code(then),
    }
}

impl Error {
    /// The reader of stdout went away (`doksi man | head`): nothing is wrong that a message
    /// could help with, so main exits quietly, as `cat` and `rg` do.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Output(e) | Error::Stdout(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::RunFailed { .. } | Error::Retried(_) => 1,
            Error::Api(e) | Error::UnknownRun { source: e } => api_exit_code(e),
            Error::Upload(e) => upload_exit_code(e),
            Error::Start(e) => start_exit_code(e),
            Error::Create(e) => create_exit_code(e),
            Error::TimedOut { .. } | Error::Lost(_) | Error::NotFinished { .. } => 4,
            Error::Interrupted(i) => i.signal.exit_code(),
            Error::Runtime(_) => 3,
            // Local problems: flags, files, the cache folder, nothing found.
            _ => 2,
        }
    }
}
