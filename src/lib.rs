//! doksi: find the APKs a Gradle build produced, read their manifests, upload them to Doksi as
//! targets (remembered by content hash), run test categories on them and wait for the verdict.
//!
//! The crate's map, from the top floor down; a module imports only floors below its own.
//! - `main.rs` calls `commands`: each subcommand parses what clap gave (`cli`, with `config`
//!   and `settings` turning flags, environment and doksi.toml into values, and the flags into
//!   the library's plain options), calls the library and prints. `commands::error` wraps the
//!   library's errors whole and holds the one mapping to exit codes. No library module imports
//!   `commands`, `cli` or clap.
//! - `pipeline`, the one orchestrator: `create` (select → upload → start, with the
//!   stale-target recovery), `follow` (wait → re-run over attempts), then `report` and `tell`.
//! - The stages, side by side, none importing a later one: `select` (which APKs),
//!   `upload` (behind the `cache`; `upload::batch` for a set, `upload::compress` for whether the
//!   APK goes deflated), `start` (sending the run),
//!   `wait` (one run's verdict, watched by an observer), `rerun` (the failed tests again, and
//!   the flaky told from the failed; how a result counts), `report` and `notify`, two outlets.
//! - Values that belong to no stage, which stages and settings share without importing each
//!   other: `runs` (the matrix), `labels` (how a result is named), `webhook` (the team's URL and
//!   `NotifyOn`), `context` (built once per invocation from a plain `Connection`: the client,
//!   the cache) and `remark` (how the work speaks without printing).
//! - Services: `api` (the client, its retries, the model), `cache`, `bundle`.
//! - Leaves that import nothing of doksi: `discover`, `package` (and the `apk` crate),
//!   `words`, `timestamp`, `atomic`, `interrupt`, `environment`, `path_text`.
//!
//! Errors are owned where they are raised: each library module has its own thiserror enum
//! (`select::SelectError`, `context::ContextError`, `upload::UploadError`, `start::StartError`,
//! `pipeline::CreateError`, `wait::Left`, `runs::RunsError`, …).

pub mod api;
pub mod atomic;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod discover;
pub mod environment;
pub mod interrupt;
pub mod labels;
pub mod notify;
pub mod package;
pub mod path_text;
pub mod pipeline;
pub mod remark;
pub mod report;
pub mod rerun;
pub mod runs;
pub mod select;
pub mod settings;
pub mod start;
pub mod timestamp;
pub mod upload;
pub mod wait;
pub mod webhook;
pub mod words;

// The manifest reader is a crate of its own (the sandbox uses it without depending on doksi);
// under its old module paths here, `doksi::apk` and `doksi::xml`.
pub use doksi_apk as apk;
pub use doksi_apk::xml;
