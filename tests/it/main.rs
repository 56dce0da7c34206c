//! Integration tests: the real `doksi` binary against real APKs and real project trees.

mod common;
mod config;
mod discovery;
mod e2e;
mod faults;
mod field_faults;
mod fuzz_regressions;
mod gradle;
mod hostile;
mod oracle;
mod packaging;
mod reports;
mod resilience;
mod s3;
mod sandbox;
mod scripted;
mod security;
mod soak;
