//! The sandbox's fault plan against the real binary: each row of the "Survive the real world"
//! table, with the request counts and created runs read from the sandbox itself.

use std::time::{Duration, Instant};

use crate::common::{ci, target};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// `doksi run` of one test on target `t`, with fast retries and `extra` flags.
fn start_run(sb: &Sandbox, t: &str, extra: &[&str]) -> crate::common::Run {
    let mut args = vec![
        "run",
        "--target",
        t,
        "--test",
        "t_login",
        "--retry-delay",
        "10ms",
    ];
    args.extend(extra);
    sb.run(&args)
}

#[test]
fn rate_limits_are_waited_out_as_told() {
    let sb = Sandbox::start(&[]);
    sb.fault("POST /uploads", "429:1", 1);
    let started = Instant::now();
    let r = ci(&sb, &["--category", "cat_smoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was honoured"
    );
    assert_eq!(sb.count("POST /uploads"), 2);
}

#[test]
fn gateway_errors_on_uploads_targets_and_polls_are_retried() {
    let sb = Sandbox::start(&[]);
    sb.fault("POST /uploads", "503", 2);
    sb.fault("POST /targets", "502-html", 1);
    sb.fault("GET /runs", "504", 2);
    sb.fault("PUT /uploads", "500", 1);
    let r = ci(&sb, &["--category", "cat_smoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (
            sb.count("POST /uploads"),
            sb.count("POST /targets"),
            sb.count("PUT /uploads")
        ),
        (3, 2, 2)
    );
    assert_eq!(sb.runs_created(), 1);
}

#[test]
fn a_persistent_outage_gives_up_within_its_attempts_with_exit_3() {
    let sb = Sandbox::start(&[]);
    sb.fault("POST /uploads", "503", 10);
    let r = ci(&sb, &["--category", "cat_smoke", "--attempts", "3"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("gave up after 3 attempts"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.count("POST /uploads"), 3);
}

#[test]
fn run_creation_refused_at_the_front_door_is_retried() {
    let sb = Sandbox::start(&[]);
    let t = target(&sb);
    sb.fault("POST /runs", "503", 1);
    sb.fault("POST /runs", "429:0", 1);
    let r = start_run(&sb, &t, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sb.count("POST /runs"), 3);
    assert_eq!(sb.runs_created(), 1);
}

#[test]
fn a_run_created_without_an_answer_is_never_created_twice() {
    for fault in ["stall-after-create", "reset-after-create", "truncate"] {
        let sb = Sandbox::start(&[]);
        let t = target(&sb);
        sb.fault("POST /runs", fault, 1);
        let r = start_run(&sb, &t, &["--request-timeout", "1s"]);
        assert_eq!(r.code, 3, "{fault}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("the run may have been created, so doksi did not send it again"),
            "{fault}: {}",
            r.stderr
        );
        assert_eq!(sb.count("POST /runs"), 1, "{fault}: sent once");
        assert_eq!(sb.runs_created(), 1, "{fault}: exactly one run");
    }
}

#[test]
fn a_reset_before_any_answer_on_run_creation_is_not_guessed_at() {
    // The client cannot tell a reset before processing from one after: it must not resend.
    let sb = Sandbox::start(&[]);
    let t = target(&sb);
    sb.fault("POST /runs", "reset", 1);
    let r = start_run(&sb, &t, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(sb.count("POST /runs"), 1);
    assert_eq!(sb.runs_created(), 0);
}

#[test]
fn an_expired_presigned_url_is_minted_again() {
    let sb = Sandbox::start(&[]);
    sb.fault("PUT /uploads", "expire", 1);
    let r = sb.run(&["upload", path_str(&unlock_apk()), "--retry-delay", "10ms"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (
            sb.count("POST /uploads"),
            sb.count("PUT /uploads"),
            sb.count("POST /targets")
        ),
        (2, 2, 1)
    );
}

#[test]
fn a_connection_reset_mid_put_restarts_it_from_the_start() {
    let sb = Sandbox::start(&[]);
    sb.fault("PUT /uploads", "reset-mid-body", 2);
    let r = sb.run(&["upload", path_str(&unlock_apk()), "--retry-delay", "10ms"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        (sb.count("POST /uploads"), sb.count("PUT /uploads")),
        (1, 3)
    );
    // The stored object is whole.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("z.zip");
    assert_eq!(
        sb.run(&["package", path_str(&unlock_apk()), "-o", path_str(&local)])
            .code,
        0
    );
    assert!(sb.stored_upload("upl_1") == std::fs::read(&local).unwrap());
}

#[test]
fn polling_rides_out_early_404s_bad_answers_and_rate_limits() {
    let sb = Sandbox::start(&[]);
    sb.fault("GET /runs", "404", 2);
    sb.fault("GET /runs", "truncate", 1);
    sb.fault("GET /runs", "429:1", 1);
    sb.fault("GET /runs", "reset", 1);
    let r = ci(&sb, &["--category", "cat_smoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("started run run_1"),
        "the id is printed before waiting: {}",
        r.stderr
    );
}

#[test]
fn a_non_json_answer_is_reported_not_retried() {
    let sb = Sandbox::start(&[]);
    sb.fault("POST /uploads", "not-json", 1);
    let r = sb.run(&["upload", path_str(&unlock_apk())]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("HTTP 200 with a body that is not JSON: upstream says hi"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.count("POST /uploads"), 1);
}
