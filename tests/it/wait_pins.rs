//! Pins for the wait loop (src/wait.rs), written against the mutants cargo-mutants left alive
//! when it was moved there (issue 22): the poll made at the deadline still hears a slow answer,
//! the pause before it is cut to the deadline and a run still going then is a timeout, the
//! interval grows by half, and a 404 or a TLS failure for a run started elsewhere is an answer
//! at once, not weather to ride out. Against servers written here; the assertions are on exit
//! codes, output and request counts, and no duration is asserted tighter than several times
//! what the wait needs.

use std::io::Write;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::field_faults::{doksi_at, reply, routed};

const PASSED: &str = r#"{"run_id":"run_1","status":"passed","tests_total":1,"tests_passed":1,"tests_failed":0,"tests_running":0,"duration_seconds":3,"results":[{"result_id":"res_1","test_id":"t_login","status":"passed","duration_seconds":3}]}"#;
const RUNNING: &str = r#"{"run_id":"run_1","status":"running","tests_total":1,"tests_passed":0,"tests_failed":0,"tests_running":1,"duration_seconds":3,"results":[{"result_id":"res_1","test_id":"t_login","status":"running","duration_seconds":3}]}"#;

#[test]
fn the_poll_at_the_deadline_waits_for_a_slow_answer() {
    // Every answer takes 1.2 s; the wait has 1 s. The first poll is also the one at the
    // deadline, and it may take a few seconds more (FINAL_POLL): the verdict is heard.
    let (base, log) = routed(|_| {
        std::thread::sleep(Duration::from_millis(1200));
        reply(200, PASSED)
    });
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(&base, home.path(), &["wait", "run_1", "--timeout", "1s"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("run run_1: passed"), "{}", r.stdout);
    assert_eq!(log.count("GET /api/runs/run_1"), 1, "{:?}", log.lines());
}

#[test]
fn a_pause_longer_than_the_timeout_is_cut_to_the_deadline() {
    // The first pause (30 s) is far past the deadline (2 s): doksi sleeps only until the
    // deadline, polls once more there, and gives up, long before the pause would end. The run
    // still going then is a timeout (exit 4), not a verdict.
    let (base, log) = routed(|_| reply(200, RUNNING));
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &["wait", "run_1", "--timeout", "2s", "--poll-interval", "30s"],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("gave up waiting for run run_1 after 2s"),
        "{}",
        r.stderr
    );
    assert_eq!(
        log.count("GET /api/runs/run_1"),
        2,
        "the first poll and the one at the deadline"
    );
    assert!(r.took < Duration::from_secs(20), "{:?}", r.took);
}

#[test]
fn the_poll_interval_grows_by_half_each_time() {
    // From 100 ms growing by half, 6 s hold about ten polls (pauses .1, .15, .225, … 1.7 s,
    // then the deadline); tripling would hold five, and no growth sixty. Slowness of a loaded
    // machine only lowers the count, and not to five.
    let (base, log) = routed(|_| reply(200, RUNNING));
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "wait",
            "run_1",
            "--timeout",
            "6s",
            "--poll-interval",
            "100ms",
        ],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let polls = log.count("GET /api/runs/run_1");
    assert!(
        (7..=14).contains(&polls),
        "{polls} polls: {:?}",
        log.lines()
    );
}

#[test]
fn a_404_for_a_run_started_elsewhere_is_an_answer_at_once() {
    // Only a run this process just created may be unknown to a replica for a while; for an id
    // given to `doksi wait`, a 404 is the answer (a typo), said at once and not polled again.
    let (base, log) = routed(|_| reply(404, r#"{"error":"run not found"}"#));
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "wait",
            "run_x",
            "--timeout",
            "5s",
            "--poll-interval",
            "100ms",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 404"), "{}", r.stderr);
    assert_eq!(log.count("GET /api/runs/run_x"), 1, "{:?}", log.lines());
}

#[test]
fn a_tls_failure_for_a_run_started_elsewhere_is_an_answer_at_once() {
    // A plain-HTTP server behind an https:// URL: a TLS failure, which no retry mends. For a
    // run this process created doksi would keep looking (it exists); for `doksi wait`'s id it
    // says so at once, after one connection.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("https://{}/api", listener.local_addr().unwrap());
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let home = tempfile::tempdir().unwrap();
    let r = doksi_at(
        &base,
        home.path(),
        &[
            "wait",
            "run_1",
            "--timeout",
            "5s",
            "--poll-interval",
            "100ms",
        ],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("does not speak TLS"), "{}", r.stderr);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "{}", r.stderr);
}
