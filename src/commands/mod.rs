//! The subcommands, one module each (`wait` also prints the wait `run --wait` and `ci` share,
//! `run` the run creation `ci` shares; `watch` is what a person sees while a run is waited
//! for): each parses what clap gave into the library's values, calls the library (the
//! `pipeline`, mostly), and prints. Here: the dispatch, the runtime, and the [`Terminal`] that
//! turns the library's remarks and progress into stderr lines; in `error`, the top [`Error`]
//! that wraps the library's errors and maps each to its exit code. Results go to stdout, warnings
//! and progress to stderr, so `--json | jq` always works.

mod apks;
mod cache;
mod ci;
mod config;
pub mod error;
mod inspect;
mod notify;
pub mod output;
mod package;
mod progress;
mod rerun;
mod run;
#[cfg(feature = "sandbox")]
mod sandbox;
mod status;
mod upload;
mod wait;
mod watch;

use std::sync::Arc;

use crate::cli::{Command, GlobalArgs, Parsed};
use crate::remark::Remark;

use crate::interrupt;
pub use crate::interrupt::During;
pub use error::Error;
use output::{note, print_bytes, print_json, warning};

pub fn run(parsed: Parsed) -> Result<(), Error> {
    let Parsed {
        cli,
        project,
        settings,
        emptied,
    } = parsed;
    let opts = cli.global;
    output::set_quiet(opts.quiet);
    output::set_verbose(opts.verbose > 0);
    output::set_color(opts.color);
    for flag in &emptied {
        output::warning_once(config::emptied(flag, &settings));
    }
    let global = |c: &crate::cli::ConnectionArgs| GlobalArgs::new(&opts, c);
    let project = project.as_ref();
    let result = match cli.command {
        Command::Apks(args) => apks::run(args, project),
        Command::Inspect(args) => inspect::run(args),
        Command::Package(args) => package::run(args),
        Command::Upload(args) => block_on(upload::run(&global(&args.connection), args, project)),
        Command::Run(args) => block_on(run::run(
            &global(&args.connection),
            args,
            project,
            &settings,
        )),
        Command::Status(args) => block_on(status::run(&global(&args.connection), args)),
        Command::Wait(args) => block_on(wait::run(&global(&args.connection), args, &settings)),
        Command::Rerun(args) => block_on(rerun::run(&global(&args.connection), args, &settings)),
        Command::Ci(args) => block_on(ci::run(&global(&args.connection), args, project, &settings)),
        Command::Cache(args) => cache::run(args.cache_dir, args.command),
        #[cfg(feature = "sandbox")]
        Command::Sandbox(args) => block_on(sandbox::serve(args, opts.verbose > 0)),
        #[cfg(feature = "sandbox")]
        Command::Demo => block_on(sandbox::demo(opts.verbose)),
        Command::Config(args) => config::show(&settings, project, args.json),
        Command::Completions { shell } => config::completions(shell),
        Command::Man { dir } => config::man(dir.as_deref()),
    };
    output::finish(result)
}

/// Network commands run on a small multi-threaded runtime (two workers: this tool waits on I/O).
/// A signal the command did not handle itself ends it here, with the signal's exit code.
fn block_on<F: std::future::Future<Output = Result<(), Error>>>(f: F) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(Error::Runtime)?;
    let done = runtime.block_on(async {
        interrupt::listen();
        tokio::select! {
            done = f => done,
            signal = interrupt::unclaimed() => Err(interrupt::Interrupted {
                signal,
                during: During::Other,
            }
            .into()),
        }
    });
    // A blocking task still running (bundletool, a file read) is not waited for long: the
    // command has its answer.
    runtime.shutdown_timeout(std::time::Duration::from_millis(500));
    done
}

/// The paths a command searches: those given, else the project doksi.toml stands for (wherever
/// in it doksi was started, so that the file's `variant` applies to its own project), else the
/// current folder.
fn paths_or_project(
    paths: &[std::path::PathBuf],
    project: Option<&crate::config::ProjectConfig>,
) -> Vec<std::path::PathBuf> {
    match (paths, project) {
        ([], Some(p)) => vec![p.root.clone()],
        ([], None) => vec![std::path::PathBuf::from(".")],
        (paths, _) => paths.to_vec(),
    }
}

/// The context of a command that talks to the API, reporting to the terminal.
fn context(global: &GlobalArgs) -> Result<crate::context::Context, Error> {
    Ok(crate::context::Context::new(
        &global.into(),
        Arc::new(Terminal { steps: true }),
    )?)
}

/// As [`context`], but the steps (`app.apk uploaded: target bin_7`) are left out: the command
/// prints the same fact on stdout, and both streams go to one place.
fn context_without_steps(global: &GlobalArgs) -> Result<crate::context::Context, Error> {
    Ok(crate::context::Context::new(
        &global.into(),
        Arc::new(Terminal { steps: false }),
    )?)
}

/// Where the library's remarks and upload progress go: stderr, silenced by `-q`; a warning is
/// said once however often it is met (a cache folder that cannot be read is met by each APK of
/// a matrix). `steps: false` leaves out the steps a command repeats on stdout.
struct Terminal {
    steps: bool,
}

impl crate::remark::Reporter for Terminal {
    fn remark(&self, remark: Remark) {
        match remark {
            Remark::Step(line) => {
                if self.steps {
                    note!("{line}")
                }
            }
            Remark::Note(message) => note!("doksi: {message}"),
            Remark::Detail(message) => {
                if output::verbose() {
                    note!("doksi: {message}")
                }
            }
            Remark::Warning(message) => output::warning_once(message),
        }
    }

    fn progress(&self, name: &str) -> Box<dyn crate::remark::Progress + '_> {
        Box::new(progress::Progress::new(name))
    }
}
