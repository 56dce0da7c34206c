//! doksi: find the APKs a Gradle build produced, read their manifests, upload them to Doksi as
//! targets (remembered by content hash), run test categories on them and wait for the verdict.
//!
//! The work flows one way: `discover` → `apk` (and `bundle`) → `select` → `package` →
//! `upload` (behind the `cache`; `upload::batch` for a set) → `start` (the run) → `runs` (the
//! wait) → `rerun` (the failed tests again, and the flaky told from the failed) → `report` →
//! `notify` (the team's chat). `settings`, `config` and `cli` turn flags, environment and
//! doksi.toml into values, and the flags into the library's plain options
//! (`context::Connection`, `upload::Options`): no library module imports `cli` or clap.
//! Below the stages stand values that belong to none of them, which a stage and the settings
//! may share without importing each other: `webhook` (the team's webhook URL and `NotifyOn`),
//! `labels` (how a result is named: its test, where it ran, the APK behind a target; `report`
//! and `notify` are two outlets over it, side by side, neither importing the other). How a
//! result counts (`rerun::outcome_of`, `rerun::attention`) is `rerun`'s, which both read.
//! At the ground, leaves that import nothing of doksi: `words` (counted nouns, outside text
//! kept to one line, ids without repeats), `timestamp`, `atomic`, `interrupt`.
//! `context` is built once per invocation from a `Connection` (the client, the cache); `remark`
//! is how the work speaks without printing. `commands` only parses, calls and prints, and
//! `main.rs` only calls `commands`.
//! Errors are owned where they are raised: each library module has its own thiserror enum
//! (`select::SelectError`, `context::ContextError`, `upload::UploadError`, `start::StartError`,
//! `runs::RunsError`, …) and imports none above it. `commands::error::Error` wraps them whole
//! and holds the one mapping to exit codes; no library module imports `commands`.

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
