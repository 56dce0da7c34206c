//! doksi: find the APKs a Gradle build produced, read their manifests, upload them to Doksi as
//! targets (remembered by content hash), run test categories on them and wait for the verdict.
//! The binary (`main.rs`) only parses flags and prints; the work lives here, flowing one way:
//! discover → apk (and bundle) → package → upload (behind the cache) → runs → report.

pub mod api;
pub mod atomic;
pub mod bundle;
pub mod cache;
pub mod cli;
pub mod commands;
pub mod config;
pub mod discover;
pub mod package;
pub mod path_text;
pub mod report;
pub mod runs;
pub mod timestamp;
pub mod upload;

// The manifest reader is a crate of its own (the sandbox uses it without depending on doksi);
// under its old module paths here, `doksi::apk` and `doksi::xml`.
pub use doksi_apk as apk;
pub use doksi_apk::xml;
