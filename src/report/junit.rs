//! A run as a JUnit XML file, the one test-report format GitHub (dorny/test-reporter,
//! mikepenz/action-junit-report), GitLab (`artifacts:reports:junit`) and Jenkins (`junit`) all
//! read. Hand-written rather than through an XML crate: the document is four elements deep and
//! the only hard part, escaping, is a dozen lines tested below.
//!
//! One `<testsuite>` per run, not one per destination: the run is what has an id, a start time
//! and a duration, and each testcase's `classname` already names its destination, which is what
//! GitLab and Jenkins group by. Counts come from the results themselves, so they always agree
//! with the testcases listed.
//!
//! After re-runs of the failed tests it is still one `<testcase>` per test, not per attempt, in
//! Maven Surefire's words for re-runs (its surefire-test-report-3.0.xsd), which the GitHub JUnit
//! actions and Jenkins read: a test that passed on a re-run passes and carries a
//! `<flakyFailure>` per attempt it failed in; one that never passed has its `<failure>` (the
//! first attempt's) and a `<rerunFailure>` per re-run; a `flakes` property counts them. Each of
//! those names its run, and its `<stackTrace>` (which the schema requires) is the result's URL,
//! where the failure can be looked at.
//!
//! The file is valid against both schemas CI systems check JUnit files with: Jenkins xunit's
//! `junit-10.xsd` (which allows no `skipped` on `<testsuites>` and no `flakes` on
//! `<testsuite>`) and Maven Surefire's `surefire-test-report.xsd` (a `<testsuite>` root, a
//! required `skipped`, a testcase's elements in a fixed order).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::model::{Run, RunResult, Status};
use crate::labels::{Labels, target_id, test_name};
use crate::rerun::{Attempts, Counts, Test, TestOutcome, Try};
use crate::xml::escape;

#[derive(Debug, thiserror::Error)]
pub enum JunitError {
    #[error("cannot write the JUnit report {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Checks, before anything is sent, that the report can be written at `path`: its folder is
/// made (as [`write`] would make it) and a file created and removed there, and `path` is not a
/// folder. A report that fails only after the run has spent credits for a red build.
pub fn check(path: &Path) -> Result<(), JunitError> {
    let folder = folder_for(path)?;
    tempfile::Builder::new()
        .prefix(".doksi-junit-check")
        .tempfile_in(folder)
        .map(drop)
        .map_err(|e| write_error(path, crate::atomic::without_temp_path(e)))
}

/// Writes through a temporary file beside `path` and renames it into place, so a reader (or a
/// crash) never sees half a report; missing parent folders are created, since CI configs name
/// paths like `build/test-results/doksi.xml` before anything made them.
pub fn write(path: &Path, attempts: &Attempts, labels: &Labels) -> Result<(), JunitError> {
    folder_for(path)?;
    let xml = render(attempts, labels);
    crate::atomic::write(path, crate::atomic::Readers::Everyone, xml.as_bytes())
        .map_err(|e| write_error(path, e))
}

/// `path`'s folder, made where missing. A file standing where a folder should be is named
/// (`File exists (os error 17)` says neither which nor what to do), and so is a folder given
/// as the report.
fn folder_for(path: &Path) -> Result<&Path, JunitError> {
    let refuse = |why: String| JunitError::Write {
        path: path.to_owned(),
        source: std::io::Error::other(why),
    };
    if path.is_dir() {
        return Err(refuse(
            "it is a folder; name a file such as junit.xml".into(),
        ));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Some(file) = folder
        .ancestors()
        .find(|a| !a.as_os_str().is_empty() && a.exists() && !a.is_dir())
    {
        return Err(refuse(format!(
            "{} is a file, not a folder",
            crate::path_text::escaped(file)
        )));
    }
    std::fs::create_dir_all(folder).map_err(|e| write_error(path, e))?;
    Ok(folder)
}

fn write_error(path: &Path, source: std::io::Error) -> JunitError {
    JunitError::Write {
        path: path.to_owned(),
        source,
    }
}

/// The `<testsuite>`'s count attributes.
fn counts(t: Counts) -> String {
    format!(
        r#"tests="{}" failures="{}" errors="{}" skipped="{}""#,
        t.total(),
        t.failed,
        t.errored,
        t.unfinished
    )
}

/// The whole document: the first run's, with every attempt's time added up. Its root is the
/// `<testsuite>` itself, as Surefire writes it: Surefire's schema (surefire-test-report.xsd)
/// declares no `<testsuites>`, and Jenkins xunit's junit-10.xsd takes either root.
pub fn render(attempts: &Attempts, labels: &Labels) -> String {
    let run = attempts.first();
    let tests = attempts.tests();
    let tally = attempts.counts();
    let counts = counts(tally);
    let time = seconds(attempts.duration_seconds());
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let timestamp = timestamp(run)
        .map(|t| format!(r#" timestamp="{t}""#))
        .unwrap_or_default();
    // `write!` into a String cannot fail.
    let _ = writeln!(
        xml,
        r#"<testsuite name="doksi run {}" {counts} time="{time}"{timestamp}>"#,
        escape(&run.run_id)
    );
    xml.push_str("  <properties>\n");
    property(&mut xml, "run_id", &run.run_id);
    property(&mut xml, "run_status", attempts.status().as_str());
    if let Some(url) = run.extra.get("url").and_then(Value::as_str) {
        property(&mut xml, "run_url", url);
    }
    if attempts.len() > 1 {
        property(&mut xml, "run_ids", &attempts.run_ids().join(","));
        // Surefire's `flakes` attribute, as a property: junit-10.xsd allows no `flakes` on a
        // `<testsuite>`, and Jenkins' xunit refuses a file that has one.
        property(&mut xml, "flakes", &tally.flaky.to_string());
    }
    // Each classname's target id, for tools that look targets up. Kept at the suite: the JUnit
    // schemas that CI systems validate against allow no <properties> in a <testcase>.
    let mut seen = std::collections::HashSet::new();
    for t in &tests {
        let r = t.standing.result;
        if let Some(target) = target_id(r)
            && seen.insert(target)
        {
            property(
                &mut xml,
                &format!("target_id: {}", labels.classname(r)),
                target,
            );
        }
    }
    xml.push_str("  </properties>\n");
    for t in &tests {
        testcase(&mut xml, t, labels);
    }
    xml.push_str("</testsuite>\n");
    xml
}

fn property(xml: &mut String, name: &str, value: &str) {
    let _ = writeln!(
        xml,
        r#"    <property name="{}" value="{}"/>"#,
        escape(name),
        escape(value)
    );
}

/// One test: its standing result, and for a test run more than once, what each earlier (or
/// later) attempt said, in Surefire's elements. Its `classname` is the destination by name,
/// what GitLab and Jenkins group by.
fn testcase(xml: &mut String, t: &Test<'_>, labels: &Labels) {
    let r = t.standing.result;
    let name = test_name(r);
    let at = labels.of(r);
    let _ = write!(
        xml,
        r#"  <testcase classname="{}" name="{}" time="{}""#,
        escape(&labels.classname(r)),
        escape(name),
        seconds(r.duration_seconds)
    );
    let mut inner = Vec::new();
    match t.outcome {
        TestOutcome::Passed => {}
        TestOutcome::Flaky => {
            inner.extend(t.failures.iter().map(|f| interim("flaky", f, name, &at)));
        }
        TestOutcome::Failed | TestOutcome::Errored => {
            // The first failure is the test's; each later one a re-run's.
            let (first, reruns) = match t.failures.split_first() {
                Some((first, reruns)) => (first.result, reruns),
                None => (r, &[][..]),
            };
            inner.push(final_element(first, name, &at));
            inner.extend(reruns.iter().map(|f| interim("rerun", f, name, &at)));
        }
        TestOutcome::Unfinished => {
            let why = escape(&super::unfinished(&t.standing));
            inner.push(format!(r#"<skipped message="{why}"/>"#));
        }
    }
    if inner.is_empty() {
        xml.push_str("/>\n");
        return;
    }
    inner.sort_by_key(|element| schema_rank(element));
    xml.push_str(">\n");
    for element in inner {
        let _ = writeln!(xml, "    {element}");
    }
    xml.push_str("  </testcase>\n");
}

/// Where an element stands in a `<testcase>`: Surefire's schema takes them in this order only
/// (failure, rerunFailure, flakyFailure, skipped, error, rerunError, flakyError), so a test
/// whose attempts failed and errored in turn lists each kind together, each still naming its run.
fn schema_rank(element: &str) -> usize {
    const ORDER: [&str; 7] = [
        "<failure ",
        "<rerunFailure ",
        "<flakyFailure ",
        "<skipped ",
        "<error ",
        "<rerunError ",
        "<flakyError ",
    ];
    ORDER
        .iter()
        .position(|tag| element.starts_with(tag))
        .unwrap_or(ORDER.len())
}

/// The `<failure>` or `<error>` of a test that did not pass.
fn final_element(r: &RunResult, name: &str, at: &str) -> String {
    let url = escape(r.url.as_deref().unwrap_or_default());
    let status = escape(r.status.as_str());
    match r.status {
        Status::Failed => format!(
            r#"<failure message="{} failed on {}" type="failed">{url}</failure>"#,
            escape(name),
            escape(at)
        ),
        _ => {
            format!(r#"<error message="ended with status {status}" type="{status}">{url}</error>"#)
        }
    }
}

/// A `<flakyFailure>`/`<rerunFailure>` (or `…Error` for a status the docs do not list) for one
/// attempt that did not pass: the message names the attempt's run, `<stackTrace>` holds the
/// result's URL, `<system-out>` the run and result ids.
fn interim(kind: &str, f: &Try<'_>, name: &str, at: &str) -> String {
    let r = f.result;
    let status = escape(r.status.as_str());
    let (tag, message) = match r.status {
        Status::Failed => (
            format!("{kind}Failure"),
            format!("{name} failed on {at} in run {}", f.run_id),
        ),
        _ => (
            format!("{kind}Error"),
            format!(
                "{name} ended with status {} on {at} in run {}",
                r.status.as_str(),
                f.run_id
            ),
        ),
    };
    format!(
        r#"<{tag} message="{}" type="{status}"><stackTrace>{}</stackTrace><system-out>run {} result {}</system-out></{tag}>"#,
        escape(&message),
        escape(r.url.as_deref().unwrap_or_default()),
        escape(f.run_id),
        escape(&r.result_id)
    )
}

/// JUnit's `time`: seconds as a decimal. A negative or absent duration is 0, never `NaN`, which
/// Jenkins refuses.
fn seconds(s: f64) -> String {
    let s = if s.is_finite() && s > 0.0 { s } else { 0.0 };
    format!("{s:.3}")
}

/// The run's `created_at` in the form the JUnit schema's `timestamp` takes: ISO 8601 without a
/// zone (`2026-04-14T14:22:10`); the API's times are UTC. Left out when the API sent none or
/// something else.
fn timestamp(run: &Run) -> Option<&str> {
    let at = run.extra.get("created_at")?.as_str()?.get(..19)?;
    let shape = at.bytes().enumerate().all(|(i, b)| match i {
        4 | 7 => b == b'-',
        10 => b == b'T',
        13 | 16 => b == b':',
        _ => b.is_ascii_digit(),
    });
    shape.then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(results: Value) -> Run {
        serde_json::from_value(json!({
            "run_id": "run_1", "status": "failed", "duration_seconds": 12,
            "created_at": "2026-04-14T14:22:10.000Z", "results": results,
        }))
        .unwrap()
    }

    fn render_one(run: Run) -> String {
        render(&Attempts::alone(run), &Labels::default())
    }

    #[test]
    fn durations_are_decimals_and_never_negative() {
        assert_eq!(seconds(22.0), "22.000");
        assert_eq!(seconds(0.25), "0.250");
        assert_eq!(seconds(-3.0), "0.000");
        assert_eq!(seconds(f64::NAN), "0.000");
    }

    #[test]
    fn the_timestamp_drops_the_zone_and_refuses_other_shapes() {
        let mut r = run(json!([]));
        assert_eq!(timestamp(&r), Some("2026-04-14T14:22:10"));
        r.extra.insert("created_at".into(), json!("yesterday"));
        assert_eq!(timestamp(&r), None);
        r.extra
            .insert("created_at".into(), json!("2026-04-14 14:22:10"));
        assert_eq!(timestamp(&r), None);
        r.extra.remove("created_at");
        assert_eq!(timestamp(&r), None);
    }

    #[test]
    fn each_outcome_gets_its_element_and_the_counts_agree() {
        let xml = render_one(run(json!([
            {"result_id": "r1", "test_id": "t_login", "test_name": "Login", "status": "passed",
             "duration_seconds": 2, "destination": {"platform": "android", "target_id": "bin_1"}},
            {"result_id": "r2", "test_id": "fail_pay", "status": "failed", "url": "https://x/r2?a=1&b=2"},
            {"result_id": "r3", "test_id": "t_odd", "status": "cancelled"},
            {"result_id": "r4", "test_id": "t_slow", "status": "running"},
        ])));
        assert!(xml.contains(
            r#"tests="4" failures="1" errors="1" skipped="1" time="12.000" timestamp="2026-04-14T14:22:10">"#
        ), "{xml}");
        assert!(
            xml.contains(r#"<testcase classname="bin_1" name="Login" time="2.000"/>"#),
            "{xml}"
        );
        assert!(xml.contains(r#"<property name="target_id: bin_1" value="bin_1"/>"#));
        assert!(xml.contains(
            r#"<failure message="fail_pay failed on doksi" type="failed">https://x/r2?a=1&amp;b=2</failure>"#
        ));
        assert!(xml.contains(r#"<error message="ended with status cancelled" type="cancelled">"#));
        // The run was reported failed while this test went on.
        assert!(
            xml.contains(
                r#"<skipped message="still running when run run_1 was reported failed"/>"#
            )
        );
        assert!(xml.contains(r#"<property name="run_id" value="run_1"/>"#));
        assert!(!xml.contains("run_url"));
    }

    #[test]
    fn a_test_still_going_when_doksi_stopped_waiting_says_so() {
        let mut r = run(json!([{"result_id": "r1", "test_id": "t", "status": "queued"}]));
        r.status = Status::Running;
        assert!(
            render_one(r)
                .contains(r#"<skipped message="still queued when doksi stopped waiting"/>"#)
        );
    }

    #[test]
    fn a_testcases_elements_stand_in_surefires_order() {
        let mut inner = [
            r#"<flakyError message="m" type="x">"#,
            r#"<rerunError message="m" type="x">"#,
            r#"<error message="m" type="x">"#,
            r#"<rerunFailure message="m" type="failed">"#,
            r#"<flakyFailure message="m" type="failed">"#,
            r#"<failure message="m" type="failed">"#,
        ];
        inner.sort_by_key(|e| schema_rank(e));
        let tags: Vec<&str> = inner
            .iter()
            .map(|e| e[1..].split(' ').next().unwrap())
            .collect();
        assert_eq!(
            tags,
            [
                "failure",
                "rerunFailure",
                "flakyFailure",
                "error",
                "rerunError",
                "flakyError"
            ]
        );
    }

    #[test]
    fn a_run_url_becomes_a_property() {
        let mut r = run(json!([]));
        r.extra
            .insert("url".into(), json!("https://app.example/runs/run_1"));
        assert!(
            render_one(r)
                .contains(r#"<property name="run_url" value="https://app.example/runs/run_1"/>"#)
        );
    }
}
