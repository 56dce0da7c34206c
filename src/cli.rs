//! The command line: clap's definitions (with the value parsers of `settings`), and the merge
//! of doksi.toml's values as clap defaults with each setting's provenance (which settings there
//! are is `settings::SETTINGS`). `commands` receives the typed result.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[cfg(feature = "sandbox")]
use crate::settings::parse_run_step;
use crate::settings::{
    parse_abi, parse_compress, parse_id, parse_notify_on, parse_notify_url, parse_poll_interval,
    parse_request_timeout, parse_retries, parse_retry_delay, parse_run_id, parse_timeout,
};

pub const EXIT_CODES: &str = "\
Exit codes:
    0  success (run passed)
    1  the run finished and failed
    2  usage error, bad input, or nothing found
    3  API or network error (when POST /runs was sent, the message says if the run may exist)
    4  gave up waiting (timeout); status --exit-status: the run has not finished
    5  test-credit quota exceeded (a re-run refused for it, after a test failed, is exit 1)
  130  interrupted (Ctrl-C); the message says what the server holds
  143  terminated (SIGTERM); likewise";

#[derive(Debug, Parser)]
#[command(
    name = "doksi",
    version,
    about = "Upload the APKs a Gradle build produced to Doksi, run UI tests on them, and gate the build on the verdict.",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// The flags every subcommand takes (how much to say, in which colours, which doksi.toml):
/// global, so they may come before or after the subcommand.
#[derive(Debug, Clone, Args)]
pub struct GlobalOpts {
    /// List passed tests too, and log each request on stderr (-v), with headers (-vv); the key is shown redacted.
    #[arg(short, long, global = true, help_heading = "Output", action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Print errors only: no progress, no live results, no warnings, no run summary.
    #[arg(
        short,
        long,
        global = true,
        help_heading = "Output",
        conflicts_with = "verbose"
    )]
    pub quiet: bool,
    /// When to colour the output (auto: on a terminal, unless NO_COLOR; CLICOLOR_FORCE forces it).
    #[arg(
        long,
        global = true,
        help_heading = "Output",
        value_name = "WHEN",
        default_value = "auto"
    )]
    pub color: ColorWhen,
    /// The project file (default: the nearest doksi.toml in this folder or one above it).
    #[arg(
        long,
        global = true,
        env = "DOKSI_CONFIG",
        value_name = "FILE",
        value_hint = clap::ValueHint::FilePath
    )]
    pub config: Option<PathBuf>,
}

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// The flags of the subcommands that talk to the API: where it is, who we are, how patiently.
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The API base URL.
    #[arg(long, help_heading = "Connection", env = "DOKSI_BASE_URL", default_value = crate::api::DEFAULT_BASE_URL, value_hint = clap::ValueHint::Url)]
    pub base_url: String,
    /// The API key (dk_live_ + 40 hex digits). Prefer the environment variable to the flag.
    #[arg(
        long,
        help_heading = "Connection",
        env = "DOKSI_API_KEY",
        hide_env_values = true,
        value_hint = clap::ValueHint::Other
    )]
    pub api_key: Option<String>,
    /// Where uploaded targets are remembered (default: $XDG_CACHE_HOME/doksi, else ~/.cache/doksi).
    #[arg(
        long,
        help_heading = "Connection",
        env = "DOKSI_CACHE_DIR",
        value_hint = clap::ValueHint::DirPath
    )]
    pub cache_dir: Option<PathBuf>,
    /// Allow a plain-http base URL to a host other than this machine.
    #[arg(long, help_heading = "Connection")]
    pub allow_insecure_http: bool,
    /// Attempts per request when the failure is transient: a connection that failed, no answer
    /// in time, 408, 429, 500, 502, 503, 504 (creating a run: only where it cannot exist yet).
    #[arg(long, help_heading = "Connection", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,
    /// How long one API request may wait for its answer.
    #[arg(long, help_heading = "Connection", default_value = "60s", value_parser = parse_request_timeout)]
    pub request_timeout: Duration,
    /// The first retry delay; it doubles, with jitter, up to 10s.
    #[arg(long, help_heading = "Connection", default_value = "500ms", value_parser = parse_retry_delay)]
    pub retry_delay: Duration,
}

/// What a command that talks to the API is given: the global flags and the connection ones.
#[derive(Debug, Clone)]
pub struct GlobalArgs {
    pub base_url: String,
    pub api_key: Option<String>,
    pub cache_dir: Option<PathBuf>,
    pub allow_insecure_http: bool,
    pub attempts: u32,
    pub verbose: u8,
    pub quiet: bool,
    pub config: Option<PathBuf>,
    pub request_timeout: Duration,
    pub retry_delay: Duration,
}

impl GlobalArgs {
    pub fn new(global: &GlobalOpts, connection: &ConnectionArgs) -> GlobalArgs {
        let c = connection.clone();
        GlobalArgs {
            base_url: c.base_url,
            api_key: c.api_key,
            cache_dir: c.cache_dir,
            allow_insecure_http: c.allow_insecure_http,
            attempts: c.attempts,
            verbose: global.verbose,
            quiet: global.quiet,
            config: global.config.clone(),
            request_timeout: c.request_timeout,
            retry_delay: c.retry_delay,
        }
    }
}

impl From<&GlobalArgs> for crate::context::Connection {
    fn from(g: &GlobalArgs) -> Self {
        use crate::api::client::Trace;
        crate::context::Connection {
            base_url: g.base_url.clone(),
            api_key: g.api_key.clone(),
            cache_dir: g.cache_dir.clone(),
            allow_insecure_http: g.allow_insecure_http,
            attempts: g.attempts,
            request_timeout: g.request_timeout,
            retry_delay: g.retry_delay,
            trace: match g.verbose {
                0 => Trace::Off,
                1 => Trace::Requests,
                _ => Trace::Headers,
            },
        }
    }
}

/// What `--auth` takes, for completion (`specific:` is followed by an account id).
const AUTH_VALUES: &[&str] = &["none", "generated", "specific:"];

/// `parser`, with `values` offered to shell completion; the parser alone decides what is valid
/// (so `specific:acc_…` passes though only `specific:` is offered).
fn hinted<P: clap::builder::TypedValueParser>(
    parser: P,
    values: &'static [&'static str],
) -> Hinted<P> {
    Hinted { parser, values }
}

#[derive(Clone)]
struct Hinted<P> {
    parser: P,
    values: &'static [&'static str],
}

impl<P: clap::builder::TypedValueParser> clap::builder::TypedValueParser for Hinted<P> {
    type Value = P::Value;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Self::Value, clap::Error> {
        self.parser.parse_ref(cmd, arg, value)
    }

    fn possible_values(
        &self,
    ) -> Option<Box<dyn Iterator<Item = clap::builder::PossibleValue> + '_>> {
        Some(Box::new(
            self.values
                .iter()
                .map(|v| clap::builder::PossibleValue::new(*v)),
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the APKs in a Gradle project's build outputs.
    Apks(ApksArgs),
    /// Decode an APK's manifest: package, versions, SDKs, label, permissions, launcher, ABIs.
    Inspect(InspectArgs),
    /// Write the zip doksi uploads for an APK (stored, reproducible) to a file.
    Package(PackageArgs),
    /// Upload APKs (found as by `apks`) and register them as targets; cached by content hash.
    #[command(after_help = EXIT_CODES)]
    Upload(UploadArgs),
    /// Start a run from flags or a matrix file; with --wait, wait for the verdict.
    #[command(after_help = EXIT_CODES)]
    Run(RunArgs),
    /// Print a run's current state once; exit 0 when it could be read (see --exit-status).
    #[command(after_help = EXIT_CODES)]
    Status(StatusArgs),
    /// Wait for a run to finish; exit 0 if it passed, 1 if it failed.
    #[command(after_help = EXIT_CODES)]
    Wait(WaitArgs),
    /// Start a new run of a finished run's tests (--failed: only those that did not pass), on
    /// the destinations its results name; prints the new run's id, or with --wait waits for it.
    #[command(after_help = EXIT_CODES)]
    Rerun(RerunArgs),
    /// Upload (cached), run and wait: the one line a Gradle hook or nightly job calls.
    #[command(after_help = EXIT_CODES)]
    Ci(CiArgs),
    /// Show or clear the target cache.
    Cache(CacheArgs),
    /// Run a local Doksi-compatible server (API and S3-like storage) on 127.0.0.1.
    ///
    /// With -v, it prints each request it serves on stderr: method, path (query values masked),
    /// status and time taken.
    #[cfg(feature = "sandbox")]
    Sandbox(SandboxArgs),
    /// Start the sandbox in-process and run `ci` on a bundled example build, twice.
    #[cfg(feature = "sandbox")]
    Demo,
    /// Print the effective settings and where each came from (flag, environment, doksi.toml, default).
    Config(ConfigArgs),
    /// Print a shell completion script (e.g. `doksi completions bash > /etc/bash_completion.d/doksi`).
    Completions {
        /// The shell to complete in.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), or with DIR write doksi.1 and a page per subcommand there.
    Man {
        /// Where to write the pages (e.g. ~/.local/share/man/man1); without it, the top page
        /// goes to stdout.
        dir: Option<PathBuf>,
    },
}

impl Command {
    /// Whether the command uses settings a doksi.toml may give (connection, selection, tests).
    pub fn reads_settings(&self) -> bool {
        match self {
            Command::Inspect(_)
            | Command::Package(_)
            | Command::Completions { .. }
            | Command::Man { .. } => false,
            #[cfg(feature = "sandbox")]
            Command::Sandbox(_) | Command::Demo => false,
            _ => true,
        }
    }
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub tests: TestArgs,
    #[command(flatten)]
    pub waiting: WaitOptions,
    /// Print a JSON object: setting → {value, source}.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Project folders to search and/or APK files (default: the current folder).
    #[arg(value_name = "APK|PROJECT_DIR")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub upload: UploadOptions,
    /// Print a JSON array: path, sha256, target_id, cached.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Clone, Default, Args)]
pub struct UploadOptions {
    /// The upload's name (default: "<package> <versionName> (<versionCode>)").
    #[arg(long)]
    pub name: Option<String>,
    /// Upload even when the cache already knows the APK.
    #[arg(long)]
    pub force: bool,
    /// Print what would be sent (upload names, cache hits, the run's matrix) and send nothing;
    /// with --json, as one JSON document.
    #[arg(long)]
    pub dry_run: bool,
    /// The keystore that signs the universal APK made from an .aab (default: bundletool's own,
    /// the debug key); its passwords come from DOKSI_KS_PASS and DOKSI_KEY_PASS.
    #[arg(long, value_name = "FILE", env = "DOKSI_KS", value_hint = clap::ValueHint::FilePath)]
    pub ks: Option<PathBuf>,
    /// The key's alias in --ks.
    #[arg(long, value_name = "ALIAS", env = "DOKSI_KS_KEY_ALIAS")]
    pub ks_key_alias: Option<String>,
    /// Refuse unsigned APKs (which no device installs) instead of warning about them.
    #[arg(long, env = "DOKSI_REQUIRE_SIGNED")]
    pub require_signed: bool,
    /// Send the APK deflated in the upload zip: auto (when its uncompressed native code would
    /// reach the server sooner so, on the link measured before), always, or never.
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "auto",
        env = "DOKSI_COMPRESS",
        value_parser = hinted(parse_compress, &["auto", "always", "never"]),
        hide_possible_values = true
    )]
    pub compress: crate::package::Compress,
    /// Content hashes whose cached targets the server said it does not know: uploaded again
    /// whatever the cache says. Not a flag; set by the stale-target recovery.
    #[arg(skip)]
    pub stale: Vec<String>,
}

impl From<&UploadOptions> for crate::upload::Options {
    fn from(o: &UploadOptions) -> Self {
        crate::upload::Options {
            name: o.name.clone(),
            force: o.force,
            dry_run: o.dry_run,
            ks: o.ks.clone(),
            ks_key_alias: o.ks_key_alias.clone(),
            require_signed: o.require_signed,
            stale: o.stale.clone(),
            compress: o.compress,
        }
    }
}

/// Which tests each matrix entry runs, and how they sign in.
#[derive(Debug, Clone, Default, Args)]
pub struct TestArgs {
    /// A test id (repeatable, or comma-separated).
    #[arg(
        long = "test",
        value_name = "ID",
        env = "DOKSI_TESTS",
        value_delimiter = ',',
        value_parser = parse_id
    )]
    pub tests: Vec<String>,
    /// A category id: every non-hidden test in it (repeatable, or comma-separated).
    #[arg(
        long = "category",
        value_name = "ID",
        env = "DOKSI_CATEGORIES",
        value_delimiter = ',',
        value_parser = parse_id
    )]
    pub categories: Vec<String>,
    /// none, generated, or specific:acc_ID.
    #[arg(long, default_value = "none", env = "DOKSI_AUTH", value_parser = hinted(clap::builder::StringValueParser::new(), AUTH_VALUES), hide_possible_values = true, value_hint = clap::ValueHint::Other)]
    pub auth: String,
}

#[derive(Debug, Clone, Args)]
pub struct WaitOptions {
    #[command(flatten)]
    pub notify: NotifyArgs,
    /// Give up waiting after this long (e.g. 30m, 90s, 1h).
    #[arg(long, default_value = "30m", value_parser = parse_timeout, env = "DOKSI_TIMEOUT")]
    pub timeout: Duration,
    /// First poll interval; it grows gently up to 15s (e.g. 2s, 500ms).
    #[arg(long, default_value = "2s", value_parser = parse_poll_interval, env = "DOKSI_POLL_INTERVAL")]
    pub poll_interval: Duration,
    /// Also write the results as a JUnit XML file (for GitHub, GitLab, Jenkins test reports),
    /// whether the run passed, failed or timed out.
    #[arg(long, value_name = "FILE", env = "DOKSI_JUNIT", value_hint = clap::ValueHint::FilePath)]
    pub junit: Option<PathBuf>,
    /// When the run fails, run its failed tests again once every test has ended (each on the
    /// destination and with the authentication it had), up to N times; a test that passes on a re-run is flaky, and the
    /// verdict passes when every test passed once. A timed-out run is not re-run. 0 to 5.
    #[arg(long, value_name = "N", default_value = "0", value_parser = parse_retries, env = "DOKSI_RETRIES")]
    pub retries: u8,
    /// With --retries: fail the verdict when a test passed only on a re-run (it is still
    /// reported as flaky).
    #[arg(long, env = "DOKSI_FAIL_ON_FLAKY", value_parser = clap::builder::BoolishValueParser::new())]
    pub fail_on_flaky: bool,
}

impl From<&WaitOptions> for crate::wait::Options {
    fn from(w: &WaitOptions) -> crate::wait::Options {
        crate::wait::Options {
            timeout: w.timeout,
            poll_interval: w.poll_interval,
        }
    }
}

/// Telling the team the verdict (`ci`, `run --wait`, `wait`).
#[derive(Debug, Clone, Default, Args)]
pub struct NotifyArgs {
    /// After the verdict, post it to this Slack-compatible incoming webhook (Slack, Mattermost,
    /// Rocket.Chat): https, or http to this machine. A secret: prefer the environment variable.
    #[arg(
        long = "notify",
        value_name = "URL",
        env = "DOKSI_NOTIFY_URL",
        hide_env_values = true,
        hide_default_value = true,
        value_parser = parse_notify_url
    )]
    pub notify: Option<crate::webhook::WebhookUrl>,
    /// When to post: fail (failed, timed out, or lost track of), always, or never.
    #[arg(
        long,
        value_name = "WHEN",
        default_value = "fail",
        env = "DOKSI_NOTIFY_ON",
        value_parser = hinted(parse_notify_on, &["fail", "always", "never"]),
        hide_possible_values = true
    )]
    pub notify_on: crate::webhook::NotifyOn,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// A registered target id (repeatable).
    #[arg(long = "target", value_name = "ID", value_hint = clap::ValueHint::Other)]
    pub targets: Vec<String>,
    /// An APK to upload (cached) and run on (repeatable).
    #[arg(long = "apk", value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    pub apks: Vec<PathBuf>,
    /// A Gradle project whose APKs to upload (cached) and run on (repeatable).
    #[arg(long = "project", value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub projects: Vec<PathBuf>,
    /// A publicly hosted APK URL (repeatable).
    #[arg(long = "binary-url", value_name = "URL", value_parser = |s: &str| crate::runs::check_url("--binary-url", s).map_err(|e| e.to_string()))]
    pub binary_urls: Vec<String>,
    /// A web app URL (repeatable).
    #[arg(long = "web-url", value_name = "URL", value_parser = |s: &str| crate::runs::check_url("--web-url", s).map_err(|e| e.to_string()))]
    pub web_urls: Vec<String>,
    #[command(flatten)]
    pub tests: TestArgs,
    /// A JSON matrix file, as in the API docs; entries may use "apk" or "project" in place of "target_id".
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath, conflicts_with_all = ["targets", "apks", "projects", "binary_urls", "web_urls"])]
    pub matrix: Option<PathBuf>,
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub upload: UploadOptions,
    /// Wait for the verdict.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub waiting: WaitOptions,
    /// Print the final run object from the API as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The run's id, as `run` and `ci` print it (run_…).
    #[arg(value_parser = parse_run_id, value_hint = clap::ValueHint::Other)]
    pub run_id: String,
    /// Exit 1 if the run failed and 4 if it has not finished, as `wait` would.
    #[arg(long)]
    pub exit_status: bool,
    /// Print the run object from the API as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The run's id, as `run` and `ci` print it (run_…).
    #[arg(value_parser = parse_run_id, value_hint = clap::ValueHint::Other)]
    pub run_id: String,
    #[command(flatten)]
    pub waiting: WaitOptions,
    /// How the run's tests signed in (none, generated, specific:acc_ID), for --retries: doksi
    /// did not start the run, so only this flag tells it (not DOKSI_AUTH nor doksi.toml's auth).
    #[arg(long, default_value = "none", value_parser = hinted(clap::builder::StringValueParser::new(), AUTH_VALUES), hide_possible_values = true, value_hint = clap::ValueHint::Other)]
    pub auth: String,
    /// Print the final run object from the API as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct RerunArgs {
    /// The finished run's id (run_…).
    #[arg(value_parser = parse_run_id, value_hint = clap::ValueHint::Other)]
    pub run_id: String,
    /// Only the tests that ended without passing, not those still queued or running (default:
    /// every test of the run).
    #[arg(long)]
    pub failed: bool,
    /// How the tests sign in: none, generated, or specific:acc_ID. A run's answer does not say
    /// how its tests signed in, so this is not taken from the run.
    #[arg(long, default_value = "none", env = "DOKSI_AUTH", value_parser = hinted(clap::builder::StringValueParser::new(), AUTH_VALUES), hide_possible_values = true, value_hint = clap::ValueHint::Other)]
    pub auth: String,
    /// Wait for the verdict.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub waiting: WaitOptions,
    /// Print the new run object from the API as JSON (with --wait, the final one).
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct CiArgs {
    /// The Gradle project (default: the current folder), or APK files.
    #[arg(value_name = "PROJECT_DIR|APK")]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub selection: Selection,
    #[command(flatten)]
    pub tests: TestArgs,
    #[command(flatten)]
    pub upload: UploadOptions,
    #[command(flatten)]
    pub waiting: WaitOptions,
    /// Print the final run object from the API as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Where uploaded targets are remembered (default: $XDG_CACHE_HOME/doksi, else ~/.cache/doksi).
    #[arg(long, global = true, env = "DOKSI_CACHE_DIR", value_hint = clap::ValueHint::DirPath)]
    pub cache_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: CacheCommand,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the cached targets.
    List {
        /// Print a JSON array: target_id, sha256, package, version, uploaded_at, scope, host,
        /// key_hint (host and key_hint null for entries cached before doksi recorded them).
        #[arg(long)]
        json: bool,
    },
    /// Forget every cached target.
    Clear,
}

#[cfg(feature = "sandbox")]
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// API port (0: any free port). Without it, 8787, or a free port when 8787 is taken.
    #[arg(long)]
    pub port: Option<u16>,
    /// Storage (presigned upload) port (0: any free port). Without it, 8788, or a free port when
    /// 8788 is taken.
    #[arg(long)]
    pub storage_port: Option<u16>,
    /// Test credits available.
    #[arg(long, default_value_t = 1000)]
    pub credits: u64,
    /// Inject failures: ROUTE=FAULT[xCOUNT], e.g. "POST /runs=503x2", "PUT /uploads=reset-mid-body",
    /// "GET /runs=429:5" (repeatable; also POST /_sandbox/faults while running).
    #[arg(long = "fault", value_name = "SPEC")]
    pub faults: Vec<doksi_sandbox::FaultSpec>,
    /// How long each step of a simulated run takes (queued → running → each result).
    #[arg(long, default_value = "1s", value_parser = parse_run_step)]
    pub run_step: Duration,
}

/// Which APKs of a project to take; shared by every command that discovers APKs.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Only this variant (e.g. release, freeRelease).
    #[arg(long, env = "DOKSI_VARIANT")]
    pub variant: Option<String>,
    /// Only this module (e.g. app, or feature/login).
    #[arg(long, env = "DOKSI_MODULE")]
    pub module: Option<String>,
    /// Pick the split APK for this ABI (default: the universal APK when splits exist).
    #[arg(long, env = "DOKSI_ABI", value_parser = hinted(parse_abi, &crate::settings::ABIS), hide_possible_values = true)]
    pub abi: Option<String>,
    /// Include instrumentation (androidTest) APKs.
    #[arg(long)]
    pub include_tests: bool,
    /// Run on every variant a module built, not just one.
    #[arg(long)]
    pub all_variants: bool,
    /// Where a variant has both, take the universal APK built from its App Bundle
    /// (build/outputs/apk_from_bundle) instead of its regular APK.
    #[arg(long, env = "DOKSI_FROM_BUNDLE", value_parser = clap::builder::BoolishValueParser::new())]
    pub from_bundle: bool,
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
    /// Where to write the zip (written to a temporary file beside it, then renamed); `-` for
    /// stdout.
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
            all_variants: s.all_variants,
            from_bundle: s.from_bundle,
            purpose: crate::discover::Purpose::Any,
        }
    }
}

/// The parsed command line, with the project file it read and where each setting came from.
#[derive(Debug)]
pub struct Parsed {
    pub cli: Cli,
    pub project: Option<crate::config::ProjectConfig>,
    pub settings: Vec<Effective>,
    /// Flags given an empty value (`--notify ""`, `--junit=`) where a variable could have given
    /// them, which count as unset: the long names, for a warning each.
    pub emptied: Vec<String>,
}

/// Whether `key` (a setting's flag name) was given on the command line: the one source that may
/// not be overridden, so that a flag a matrix would silently drop is refused instead.
pub fn given_as_flag(settings: &[Effective], key: &str) -> bool {
    settings
        .iter()
        .any(|e| e.key == key && e.source == Source::Flag)
}

/// One setting's effective value, for `doksi config`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// The long flag's name, which is also the doksi.toml key.
    pub key: &'static str,
    pub values: Vec<String>,
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env(String),
    File(PathBuf),
    Default,
    Unset,
}

/// Parses the process's arguments, with the nearest doksi.toml's values as defaults.
pub fn parse() -> Result<Parsed, crate::config::ConfigError> {
    parse_from(std::env::args_os(), std::env::current_dir().ok().as_deref())
}

/// Parses `args` (program name first) as run from `cwd`. clap prints usage errors and `--help`
/// itself and exits; a bad doksi.toml is returned, to be reported like any other error.
pub fn parse_from(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    cwd: Option<&std::path::Path>,
) -> Result<Parsed, crate::config::ConfigError> {
    use clap::FromArgMatches;
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let named = explicit_config(&args).or_else(|| {
        std::env::var_os("DOKSI_CONFIG")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let loaded = match named {
        Some(path) if path.as_os_str().is_empty() => Err(crate::config::ConfigError::EmptyPath),
        Some(path) => crate::config::load(&path).map(Some),
        None => cwd
            .and_then(crate::config::find)
            .map(|path| crate::config::load(&path))
            .transpose(),
    };
    // A broken file must not stand between the user and `--help`, nor break commands that
    // never read settings; the ones that do report it once the command is known.
    let (project, broken) = match loaded {
        Ok(project) => (project, None),
        Err(e) => (None, Some(e)),
    };
    let (args, emptied) = without_empty_values(args);
    let mut cmd = command_for(project.as_ref());
    // The name doksi was called by, as clap would take it, so that usage lines name it.
    if let Some(name) = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .and_then(|f| f.to_str())
    {
        cmd = cmd.bin_name(name);
    }
    let mut cmd = with_fixed_usage(built(cmd));
    let matches = cmd
        .try_get_matches_from_mut(&args)
        .unwrap_or_else(|e| exit_usage(e, &args, &cmd));
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| exit_usage(e, &args, &cmd));
    if let Some(e) = broken.filter(|_| cli.command.reads_settings()) {
        return Err(e);
    }
    let settings = provenance(&cmd, &matches, project.as_ref());
    Ok(Parsed {
        cli,
        project,
        settings,
        emptied,
    })
}

/// `args` less each long flag that a variable could give and that is given an empty value here,
/// and those flags' names. A pipeline's `--notify "$SLACK_WEBHOOK"` with the secret unset (a
/// fork, a new repository) means "not set", as an empty variable does, not a value to refuse
/// before anything runs.
fn without_empty_values(args: Vec<std::ffi::OsString>) -> (Vec<std::ffi::OsString>, Vec<String>) {
    use clap::CommandFactory;
    // The flags of the subcommand being run (and the global ones), that take a value a
    // variable could give: a switch (`--require-signed`) takes no value, so the empty word after
    // it is an argument of its own, and `wait --auth` has no variable.
    let mut top = Cli::command();
    top.build();
    let leaf = leaf_command(&top, &args);
    let longs: Vec<String> = leaf
        .get_arguments()
        .chain(top.get_arguments())
        .filter(|a| a.get_env().is_some() && a.get_action().takes_values())
        .filter_map(|a| a.get_long().map(str::to_owned))
        .collect();
    let named = |a: &std::ffi::OsString| {
        a.to_str()
            .and_then(|s| s.strip_prefix("--"))
            .filter(|name| longs.iter().any(|l| l == name))
            .map(str::to_owned)
    };
    let (mut kept, mut emptied) = (Vec::with_capacity(args.len()), Vec::new());
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        if a == "--" {
            kept.push(a);
            kept.extend(it);
            break;
        }
        if let Some(name) = named(&a)
            && it.peek().is_some_and(|v| v.is_empty())
        {
            it.next();
            emptied.push(name);
            continue;
        }
        if let Some(name) = a
            .to_str()
            .and_then(|s| s.strip_suffix('='))
            .and_then(|s| named(&std::ffi::OsString::from(s)))
        {
            emptied.push(name);
            continue;
        }
        kept.push(a);
    }
    (kept, emptied)
}

/// Exits as clap would for `--help` and `--version`; a usage error is one `doksi: error:` line
/// (and a hint line at most) that names where the bad value came from — the flag, or the
/// variable when no flag was typed — with anything shaped like a key redacted: a key pasted in
/// the wrong place is still a key.
fn exit_usage(e: clap::Error, args: &[std::ffi::OsString], cmd: &clap::Command) -> ! {
    // --help and --version (stdout), and the help `doksi` alone shows: as clap prints them.
    if !e.use_stderr()
        || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    {
        e.exit()
    }
    let text = crate::api::redact_secrets(&usage_error(&e, args, cmd));
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    std::process::exit(e.exit_code())
}

/// The lines [`exit_usage`] prints for `e`, ending in a newline.
fn usage_error(e: &clap::Error, args: &[std::ffi::OsString], cmd: &clap::Command) -> String {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let context = |kind: ContextKind| -> Vec<String> {
        match e.get(kind) {
            Some(ContextValue::String(s)) => vec![s.clone()],
            Some(ContextValue::Strings(v)) => v.clone(),
            Some(ContextValue::StyledStr(s)) => vec![s.to_string()],
            Some(ContextValue::StyledStrs(v)) => v.iter().map(|s| s.to_string()).collect(),
            _ => Vec::new(),
        }
    };
    let first = |kind: ContextKind| context(kind).into_iter().next().unwrap_or_default();
    let leaf = leaf_command(cmd, args);
    let help = format!("{} --help", leaf.get_bin_name().unwrap_or("doksi"));
    let (line, hint) = match e.kind() {
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let shown = first(ContextKind::InvalidArg);
            let why = match std::error::Error::source(e) {
                Some(source) => source.to_string(),
                None => match context(ContextKind::ValidValue) {
                    valid if valid.is_empty() => {
                        format!(
                            "{:?} is not a value it takes",
                            first(ContextKind::InvalidValue)
                        )
                    }
                    valid => format!(
                        "{:?} is not one of {}",
                        first(ContextKind::InvalidValue),
                        valid.join(", ")
                    ),
                },
            };
            (format!("{}: {why}", value_origin(&shown, args, cmd)), None)
        }
        ErrorKind::UnknownArgument => {
            let given = first(ContextKind::InvalidArg);
            let what = if given.starts_with('-') {
                "flag"
            } else {
                "argument"
            };
            match context(ContextKind::SuggestedArg).first() {
                Some(like) => (
                    format!("unknown {what} {given}; did you mean {}?", like.trim()),
                    None,
                ),
                None => (
                    format!("unknown {what} {given}"),
                    Some(format!("{help} lists what it takes")),
                ),
            }
        }
        ErrorKind::InvalidSubcommand => {
            let given = first(ContextKind::InvalidSubcommand);
            match context(ContextKind::SuggestedSubcommand).first() {
                Some(like) => (
                    format!("unknown command {given}; did you mean {like}?"),
                    None,
                ),
                None => (
                    format!("unknown command {given}"),
                    Some(format!("{help} lists the commands")),
                ),
            }
        }
        ErrorKind::MissingRequiredArgument => (
            format!(
                "{} needs {}",
                leaf.get_bin_name().unwrap_or("doksi"),
                context(ContextKind::InvalidArg).join(" and ")
            ),
            Some(format!("usage: {}", leaf_usage(leaf))),
        ),
        ErrorKind::MissingSubcommand => (
            format!("{} needs a command", leaf.get_bin_name().unwrap_or("doksi")),
            Some(format!("{help} lists them")),
        ),
        _ => {
            // clap's own first line, less its prefix; its tips and usage are left to --help.
            let rendered = e.render().to_string();
            let line = rendered.lines().next().unwrap_or_default();
            (line.trim_start_matches("error: ").to_owned(), None)
        }
    };
    let mut out = format!("doksi: error: {line}\n");
    if let Some(hint) = hint {
        out.push_str(&format!("  hint: {hint}\n"));
    }
    out
}

/// The innermost subcommand `args` name, as built (so its bin name is its whole path).
fn leaf_command<'c>(cmd: &'c clap::Command, args: &[std::ffi::OsString]) -> &'c clap::Command {
    let mut leaf = cmd;
    for a in args.iter().skip(1) {
        let Some(a) = a.to_str() else { continue };
        if let Some(sub) = leaf.find_subcommand(a) {
            leaf = sub;
        }
    }
    leaf
}

fn leaf_usage(leaf: &clap::Command) -> String {
    let usage = leaf.clone().render_usage().to_string();
    usage.trim_start_matches("Usage: ").trim().to_owned()
}

/// Where the value of the argument clap shows as `shown` (`--timeout <TIMEOUT>`) came from: the
/// flag when it was typed, else its variable when that is set (clap checks a variable's value as
/// it checks a flag's, and names the flag); doksi.toml's values are checked before clap sees them.
fn value_origin(shown: &str, args: &[std::ffi::OsString], cmd: &clap::Command) -> String {
    let leaf = leaf_command(cmd, args);
    let arg = leaf
        .get_arguments()
        .chain(cmd.get_arguments())
        .find(|a| a.to_string() == shown || a.get_id().as_str() == shown);
    let Some(arg) = arg else {
        return format!("invalid value for {shown}");
    };
    let long = arg.get_long().map(|l| format!("--{l}"));
    let short = arg.get_short().map(|c| format!("-{c}"));
    let typed = args.iter().skip(1).take_while(|a| *a != "--").any(|a| {
        let Some(a) = a.to_str() else { return false };
        [&long, &short].into_iter().flatten().any(|f| {
            a == f
                || a.strip_prefix(f.as_str())
                    .is_some_and(|rest| rest.starts_with('='))
        })
    });
    let env = arg
        .get_env()
        .map(|v| v.to_string_lossy().into_owned())
        .filter(|v| std::env::var_os(v).is_some());
    match (typed, env, long) {
        (false, Some(var), _) => format!("invalid {var} (from the environment)"),
        (_, _, Some(long)) => format!("invalid {long}"),
        _ => format!("invalid {shown}"),
    }
}

/// The clap command, in one pass over every argument of every subcommand: variables' values are
/// hidden from `--help`, an empty variable
/// counts as unset (as shells and CI templates, `DOKSI_VARIANT: ""`, mean it; clap would take it
/// as an empty value, which no setting accepts), and the project file's values become defaults.
fn command_for(project: Option<&crate::config::ProjectConfig>) -> clap::Command {
    use clap::CommandFactory;
    map_args(Cli::command(), &|a: clap::Arg| {
        let empty = a
            .get_env()
            .is_some_and(|name| std::env::var_os(name).is_some_and(|v| v.is_empty()));
        let a = if empty { a.env(None::<&str>) } else { a };
        // `--help` names each variable but never shows its value: `[env: DOKSI_BASE_URL=]` for
        // an unset one reads as set to nothing, and a set one may be a secret.
        let a = a.hide_env_values(true);
        match project.and_then(|p| p.value_of(a.get_id().as_str())) {
            Some(values) => a.default_values(values.to_vec()),
            None => a,
        }
    })
}

/// `cmd` built (each global flag copied into every subcommand, each usage named after its
/// parents), with a global flag hidden from the help of the subcommands that do nothing with it:
/// `--config` where no setting a doksi.toml may give is read, `-v` where no request is made or
/// served. They still take it, as any subcommand takes a global flag.
pub fn built(mut cmd: clap::Command) -> clap::Command {
    cmd.build();
    cmd.mut_subcommands(|sub| {
        let top = sub.get_name().to_owned();
        #[cfg(feature = "sandbox")]
        let sub = match top.as_str() {
            "sandbox" => sub.after_long_help(doksi_sandbox::rehearsal_guide()),
            _ => sub,
        };
        hide_unused_globals(sub, &top)
    })
}

/// The subcommands that make requests or serve them, and so log them with -v.
fn logs_requests(top: &str) -> bool {
    matches!(
        top,
        "upload" | "run" | "status" | "wait" | "rerun" | "ci" | "sandbox" | "demo"
    )
}

/// The subcommands that follow a run, and so list its tests and end with its summary.
fn follows_runs(top: &str) -> bool {
    matches!(top, "run" | "status" | "wait" | "rerun" | "ci" | "demo")
}

/// Each shared flag shown where it applies, described for the subcommand it is shown in: the
/// global ones (see [`built`]), and the selection's `--include-tests` (which a run refuses) and
/// `--all-variants` (which only a run's destinations need).
fn hide_unused_globals(sub: clap::Command, top: &str) -> clap::Command {
    use crate::settings::{FileKind, SETTINGS};
    let reads_file = sub.get_arguments().any(|a| {
        SETTINGS
            .iter()
            .any(|s| s.id == a.get_id() && !matches!(s.file, FileKind::Never))
    });
    let logs = logs_requests(top);
    let runs = follows_runs(top);
    sub.mut_args(|a| match a.get_id().as_str() {
        "config" if !reads_file => a.hide(true),
        "verbose" if !logs => a.hide(true),
        "verbose" if top == "sandbox" => a.help(
            "Print each request served on stderr: method, path (query values masked), status and time",
        ),
        "verbose" if !runs => {
            a.help("Log each request on stderr (-v), with headers (-vv); the key is shown redacted")
        }
        "quiet" if top == "sandbox" => {
            a.help("Print errors only (the JSON line and the line to paste are always printed)")
        }
        "quiet" if !runs => a.help("Print errors only: no progress, no notes, no warnings"),
        "include_tests" if matches!(top, "run" | "ci") => a.hide(true),
        "all_variants" if !matches!(top, "run" | "ci") => a.hide(true),
        _ => a,
    })
    .mut_subcommands(|s| hide_unused_globals(s, top))
}

/// Sets each command's usage line to the one clap renders when nothing is given, the line
/// `--help` shows; `cmd` is built. Without it, clap's usage errors list every argument that has
/// a value, and a value from a DOKSI_* variable counts: `doksi wait` with DOKSI_TIMEOUT set
/// would be shown as `doksi wait --timeout <TIMEOUT> <RUN_ID>`, as if the flag were required.
fn with_fixed_usage(mut cmd: clap::Command) -> clap::Command {
    let rendered = cmd.render_usage().ansi().to_string();
    // The rendered line starts with the (styled) title, "Usage:" and a space; clap adds it back.
    let usage = match rendered.find("Usage:") {
        Some(at) => rendered[at..]
            .split_once(' ')
            .map_or(rendered.as_str(), |(_, rest)| rest),
        None => rendered.as_str(),
    };
    let usage = clap::builder::StyledStr::from(usage.to_owned());
    cmd.override_usage(usage).mut_subcommands(with_fixed_usage)
}

fn map_args(cmd: clap::Command, f: &impl Fn(clap::Arg) -> clap::Arg) -> clap::Command {
    cmd.mut_args(f).mut_subcommands(|sub| map_args(sub, f))
}

/// `--config FILE` has to be known before clap runs, because the file supplies clap's defaults.
fn explicit_config(args: &[std::ffi::OsString]) -> Option<PathBuf> {
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        if a == "--" {
            break;
        }
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = a.to_str().and_then(|s| s.strip_prefix("--config=")) {
            return Some(PathBuf::from(v));
        }
    }
    None
}

fn provenance(
    cmd: &clap::Command,
    matches: &clap::ArgMatches,
    project: Option<&crate::config::ProjectConfig>,
) -> Vec<Effective> {
    use clap::parser::ValueSource;
    // The innermost subcommand's matches hold every argument, the global ones included.
    let (mut leaf_cmd, mut leaf) = (cmd, matches);
    while let Some((name, sub)) = leaf.subcommand() {
        match leaf_cmd.find_subcommand(name) {
            Some(c) => (leaf_cmd, leaf) = (c, sub),
            None => break,
        }
    }
    let env_of = |id: &str| {
        [leaf_cmd, cmd]
            .iter()
            .flat_map(|c| c.get_arguments())
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    crate::settings::SETTINGS
        .iter()
        .filter_map(|&crate::settings::Setting { id, key, .. }| {
            let values: Vec<String> = leaf
                .try_get_raw(id)
                .ok()?
                .map(|v| v.map(|s| s.to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            let source = match leaf.value_source(id) {
                Some(ValueSource::CommandLine) => Source::Flag,
                Some(ValueSource::EnvVariable) => Source::Env(env_of(id)),
                Some(ValueSource::DefaultValue) => match project {
                    Some(p) if p.value_of(id).is_some() => Source::File(p.path.clone()),
                    _ => Source::Default,
                },
                _ => Source::Unset,
            };
            Some(Effective {
                key,
                values,
                source,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
