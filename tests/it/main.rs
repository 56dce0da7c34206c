//! Integration tests: the real `doksi` binary against real APKs and real project trees.
// Tests say on stderr which checks they skipped for want of a tool; no user reads doksi there.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bundle;
mod cache_faults;
mod common;
mod config;
mod consumers;
mod discovery;
mod dist;
mod docs;
mod docs_examples;
mod e2e;
mod faults;
mod field_faults;
mod fuzz_regressions;
mod gradle;
mod hostile;
mod maven;
mod newcomer;
mod notify;
mod oracle;
mod output_faults;
mod packaging;
mod reading;
mod reports;
mod resilience;
mod retries;
mod rollup;
mod s3;
mod sandbox;
mod scripted;
mod security;
mod signing;
mod soak;
mod wheel;
