//! GitHub Actions' three ways for a step to speak to its workflow: step outputs (lines appended
//! to `$GITHUB_OUTPUT`), the job summary (markdown appended to `$GITHUB_STEP_SUMMARY`) and
//! annotations (`::error ...` workflow commands on a log line; `::warning` for a flaky test,
//! which passed on a re-run and so fails nothing). This module renders and appends;
//! printing the annotations is the caller's, on stderr, because the runner reads workflow
//! commands from both streams and stdout must stay clean for `--json`.
//!
//! Formats: <https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands>.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use crate::api::model::{RunResult, Status};
use crate::labels::{Labels, test_name};
use crate::rerun::{Attempts, Test, TestOutcome, outcome_of};
use crate::wait::Ending;

/// Where the runner wants a step's outputs and summary, as it sets them in the environment.
/// Either may be missing (an old runner, a container step): that part is then skipped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    pub output: Option<PathBuf>,
    pub step_summary: Option<PathBuf>,
}

impl Context {
    /// `None` unless `GITHUB_ACTIONS=true`, so a developer's shell that happens to export
    /// `GITHUB_OUTPUT` gets nothing appended to it.
    pub fn from_env() -> Option<Context> {
        if crate::environment::var_os("GITHUB_ACTIONS").is_none_or(|v| v != "true") {
            return None;
        }
        let path = |name| {
            crate::environment::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Some(Context {
            output: path("GITHUB_OUTPUT"),
            step_summary: path("GITHUB_STEP_SUMMARY"),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("cannot append the {what} to {}: {source}", .path.display())]
    Append {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Appends the step outputs and the job summary. What could not be written is returned for the
/// caller to warn about, not raised: a reporting problem must not turn a passing build red.
pub fn publish(
    ctx: &Context,
    attempts: &Attempts,
    ending: Ending,
    target_ids: &[String],
    labels: &Labels,
) -> Vec<GithubError> {
    let mut problems = Vec::new();
    if let Some(path) = &ctx.output {
        problems.extend(append(path, "step outputs", &outputs(attempts, target_ids)).err());
    }
    if let Some(path) = &ctx.step_summary {
        // The limit is the step's file: what an earlier command of the step wrote counts too.
        let written = std::fs::metadata(path).map_or(0, |m| m.len());
        let room = SUMMARY_LIMIT.saturating_sub(usize::try_from(written).unwrap_or(usize::MAX));
        let text = summary_within(attempts, ending, labels, room);
        problems.extend(append(path, "job summary", &text).err());
    }
    problems
}

/// One `write` in append mode: what other steps wrote stays, and our lines land whole.
fn append(path: &Path, what: &'static str, text: &str) -> Result<(), GithubError> {
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|source| GithubError::Append {
            what,
            path: path.to_owned(),
            source,
        })
}

/// `run_id` (the first run's), `status` (the API's, so `queued`/`running` after a timeout; after
/// re-runs, the verdict's), `target_ids` and `run_ids` (every attempt's, the first run's first;
/// both comma-separated) and `flaky` (how many tests passed only on a re-run), for later steps
/// as `steps.<id>.outputs.<name>`.
pub fn outputs(attempts: &Attempts, target_ids: &[String]) -> String {
    let mut text = String::new();
    output(&mut text, "run_id", &attempts.first().run_id);
    output(&mut text, "status", attempts.status().as_str());
    output(&mut text, "target_ids", &target_ids.join(","));
    output(&mut text, "run_ids", &attempts.run_ids().join(","));
    output(&mut text, "flaky", &attempts.counts().flaky.to_string());
    text
}

/// `name=value`, or the multi-line form `name<<DELIM` … `DELIM` when the value holds a line break
/// (none of ours should, but they come from the API), with a delimiter the value does not contain.
fn output(text: &mut String, name: &str, value: &str) {
    if !value.contains(['\n', '\r']) {
        text.push_str(&format!("{name}={value}\n"));
        return;
    }
    let delimiter = (0u64..)
        .map(|n| format!("ghadelimiter_doksi_{n}"))
        .find(|d| !value.contains(d.as_str()))
        .unwrap_or_default();
    text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
}

/// GitHub refuses a step summary over 1 MiB outright; rows past this budget are left out.
const SUMMARY_LIMIT: usize = 1 << 20;
/// Room kept for the closing note when rows are left out.
const SUMMARY_TAIL: usize = 512;

const TABLE_HEAD: &str =
    "| test | destination | status | duration | link |\n| --- | --- | --- | --- | --- |\n";

/// One part of the summary: its opening (a heading and a table head, or a `<details>` fold),
/// its rows, its closing, and what its rows are, for the note on what was left out.
struct Section {
    open: String,
    rows: Vec<String>,
    close: &'static str,
    what: &'static str,
}

/// A markdown section: the verdict as a heading, the counts, then the tests that need a look
/// in a table (failed and errored), the flaky ones with the runs they failed in, and the
/// unfinished and passed ones folded in `<details>`: a run of thousands of tests reads as its
/// failures, not as a table of passes.
pub fn summary(attempts: &Attempts, ending: Ending, labels: &Labels) -> String {
    summary_within(attempts, ending, labels, SUMMARY_LIMIT)
}

/// [`summary`] in at most `room` bytes (GitHub's limit, less what the step already wrote): rows
/// that do not fit are left out, the failed ones last, and a closing line counts them.
fn summary_within(attempts: &Attempts, ending: Ending, labels: &Labels, room: usize) -> String {
    let run = attempts.first();
    let id = cell(&run.run_id);
    let status = attempts.status();
    let heading = match (ending, &status) {
        (Ending::TimedOut, status) => format!(
            "⏱️ Doksi run {id}: timed out, still {}",
            cell(status.as_str())
        ),
        (Ending::Interrupted, status) => format!(
            "⏹️ Doksi run {id}: doksi was stopped while it was still {}",
            cell(status.as_str())
        ),
        (Ending::Finished, Status::Passed) => format!("✅ Doksi run {id} passed"),
        (Ending::Finished, Status::Failed) => format!("❌ Doksi run {id} failed"),
        (Ending::Finished, status) => format!("Doksi run {id}: {}", cell(status.as_str())),
    };
    let ids = attempts.run_ids();
    let heading = match ids.len() {
        1 => heading,
        n => format!("{heading} after {}", crate::words::count(n - 1, "re-run")),
    };
    let t = attempts.counts();
    let flaky = match ids.len() {
        1 => String::new(),
        _ => format!("{} flaky, ", t.flaky),
    };
    let mut text = format!(
        "## {heading}\n\n{}: {} passed, {flaky}{} failed, {} errored, {} unfinished; {:.0}s\n\n",
        crate::words::count(t.total(), "test"),
        t.passed,
        t.failed,
        t.errored,
        t.unfinished,
        non_negative(attempts.duration_seconds())
    );
    if ids.len() > 1 {
        let runs: Vec<String> = ids.iter().map(|id| cell(id)).collect();
        text.push_str(&format!("Runs: {}\n\n", runs.join(", ")));
    }
    let tests = attempts.tests();
    let of = |outcomes: &[TestOutcome]| -> Vec<&Test<'_>> {
        tests
            .iter()
            .filter(|t| outcomes.contains(&t.outcome))
            .collect()
    };
    let failed = of(&[TestOutcome::Failed, TestOutcome::Errored]);
    let flaky = of(&[TestOutcome::Flaky]);
    let unfinished = of(&[TestOutcome::Unfinished]);
    let passed = of(&[TestOutcome::Passed]);
    let rows = |tests: &[&Test<'_>]| tests.iter().map(|t| row(t, labels)).collect();
    let fold = |summary: String| format!("<details><summary>{summary}</summary>\n\n{TABLE_HEAD}");
    let mut sections = vec![
        Section {
            open: TABLE_HEAD.into(),
            rows: rows(&failed),
            close: "\n",
            what: "failed test",
        },
        Section {
            open: "### 🔁 Flaky: failed, then passed on a re-run\n\n| test | destination | passed in | failed in |\n| --- | --- | --- | --- |\n".into(),
            rows: flaky.iter().map(|t| flaky_row(t, labels)).collect(),
            close: "\n",
            what: "flaky test",
        },
    ];
    if let Some(first) = unfinished.first() {
        sections.push(Section {
            // The fold's line is an HTML block, where markdown escapes would show as written.
            open: fold(format!(
                "⏳ {} unfinished ({})",
                unfinished.len(),
                crate::xml::escape(&crate::words::one_line(&super::unfinished(&first.standing)))
            )),
            rows: rows(&unfinished),
            close: "\n</details>\n\n",
            what: "unfinished test",
        });
    }
    sections.push(Section {
        open: fold(format!("✅ {} passed", passed.len())),
        rows: rows(&passed),
        close: "\n</details>\n\n",
        what: "passed test",
    });
    let mut left: Vec<String> = Vec::new();
    for section in sections.into_iter().filter(|s| !s.rows.is_empty()) {
        let total = section.rows.len();
        if !left.is_empty()
            || text.len() + section.open.len() + section.close.len() + SUMMARY_TAIL > room
        {
            left.push(crate::words::count(total, section.what));
            continue;
        }
        text.push_str(&section.open);
        for (shown, row) in section.rows.iter().enumerate() {
            if text.len() + row.len() + section.close.len() + SUMMARY_TAIL > room {
                left.push(crate::words::count(total - shown, section.what));
                break;
            }
            text.push_str(row);
        }
        text.push_str(section.close);
    }
    if !left.is_empty() {
        text.push_str(&format!(
            "Left out, to keep this summary within GitHub's 1 MiB limit: {}.\n\n",
            left.join(", ")
        ));
    }
    text
}

fn row(t: &Test<'_>, labels: &Labels) -> String {
    let r = t.standing.result;
    // A status alone is never flaky (that takes two attempts): `outcome_of` says passed.
    let (mark, status) = match (t.outcome, outcome_of(&r.status)) {
        (TestOutcome::Flaky, _) => ("🔁", "flaky"),
        (_, TestOutcome::Passed | TestOutcome::Flaky) => ("✅", r.status.as_str()),
        (_, TestOutcome::Failed) => ("❌", r.status.as_str()),
        (_, TestOutcome::Errored) => ("⚠️", r.status.as_str()),
        (_, TestOutcome::Unfinished) => ("⏳", r.status.as_str()),
    };
    format!(
        "| {} | {} | {mark} {} | {:.0}s | {} |\n",
        cell(test_name(r)),
        cell(&labels.of(r)),
        cell(status),
        non_negative(r.duration_seconds),
        link("result", r)
    )
}

/// A flaky test: the run it passed in and each run it did not, linked to those results.
fn flaky_row(t: &Test<'_>, labels: &Labels) -> String {
    let r = t.standing.result;
    let failed: Vec<String> = t
        .failures
        .iter()
        .map(|f| link(f.run_id, f.result))
        .collect();
    format!(
        "| {} | {} | {} | {} |\n",
        cell(test_name(r)),
        cell(&labels.of(r)),
        link(t.standing.run_id, r),
        failed.join(", ")
    )
}

/// `[text](result URL)`, or the URL as plain text when it is not http(s), or `text` alone.
fn link(text: &str, r: &RunResult) -> String {
    match r.url.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            format!("[{}]({})", cell(text), link_target(url))
        }
        Some(other) => cell(other),
        None if text == "result" => String::new(),
        None => cell(text),
    }
}

fn non_negative(s: f64) -> f64 {
    if s.is_finite() && s > 0.0 { s } else { 0.0 }
}

/// `s` as the text of one table cell: line breaks become `<br>` (a raw line break would end the
/// row), other control characters go, and the characters markdown or the table would read as
/// syntax are backslash-escaped, `|` first among them, so a test named `<b>*x*|y` shows as
/// written. A URL in it (a destination) is written by [`url_cell`] instead: GFM's autolinks
/// keep backslash escapes, so an escaped `shop\_v2` would link to `shop%5C_v2`.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((at, end)) = next_url(rest) {
        out.push_str(&text_cell(&rest[..at]));
        out.push_str(&url_cell(&rest[at..end]));
        rest = &rest[end..];
    }
    out.push_str(&text_cell(rest));
    out
}

/// Where the next `http(s)://` URL in `s` starts and ends: at whitespace, `<`, `>`, a quote or
/// a backtick, less the trailing punctuation that GFM leaves out of an autolink (`.`, `,`, `:`,
/// `;`, `!`, `?`, `'`, and a `)` that closes nothing in the URL) — unless the URL is the whole
/// cell (a destination column): written as `<…>`, it is linked whole, and
/// `https://example.com/search?` must not lose its `?`.
fn next_url(s: &str) -> Option<(usize, usize)> {
    let lower = s.to_ascii_lowercase();
    let at = lower
        .match_indices("http")
        .map(|(at, _)| at)
        .find(|&at| lower[at..].starts_with("https://") || lower[at..].starts_with("http://"))?;
    let tail = &s[at..];
    let mut end = tail
        .find(|c: char| c.is_whitespace() || c.is_control() || "<>\"'`".contains(c))
        .unwrap_or(tail.len());
    if at == 0 && end == tail.len() {
        return Some((0, end));
    }
    loop {
        let url = &tail[..end];
        let unbalanced = url.ends_with(')') && url.matches(')').count() > url.matches('(').count();
        match url.chars().last() {
            Some('.' | ',' | ':' | ';' | '!' | '?') => end -= 1,
            Some(_) if unbalanced => end -= 1,
            _ => break,
        }
    }
    Some((at, at + end))
}

/// A URL as GitHub's renderer (cmark-gfm) links to exactly it: an autolink `<…>`, whose
/// content takes no backslash escapes, with the bytes an autolink or a table cell cannot hold
/// (space, `<`, `>`, `|`, backtick, non-ASCII) percent-encoded as cmark-gfm would encode them
/// in the link anyway. A URL whose query was [redacted](crate::api::redact_url) is no link one
/// could follow: it is shown as code, which no autolink reaches.
fn url_cell(url: &str) -> String {
    // cmark-gfm's own set of bytes it leaves as they are in a link (houdini's HREF_SAFE).
    const AS_IS: &[u8] = b"-_.+!*'(),%#@?=;:/&$~";
    let redacted = format!("?{}", crate::api::REDACTED_QUERY);
    match url.strip_suffix(redacted.as_str()) {
        Some(base) => format!("`{}{redacted}`", percent_encoded(base, AS_IS)),
        None => format!("<{}>", percent_encoded(url, AS_IS)),
    }
}

/// Text that is no URL, escaped as [`cell`] says.
fn text_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' if chars.peek() == Some(&'\n') => {}
            '\r' | '\n' => out.push_str("<br>"),
            '|' | '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '<' | '>' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A URL as a markdown link destination: bytes outside the URL-safe set are percent-encoded,
/// among them the space and parentheses that would end the link and the `|` that would end the
/// cell.
fn link_target(url: &str) -> String {
    percent_encoded(url, b"-._~:/?#@!$&'*+,;=%")
}

/// `url` with every byte but ASCII letters, digits and `safe` percent-encoded.
fn percent_encoded(url: &str, safe: &[u8]) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// One `::error` workflow command per failed test, and one `::warning` per flaky one, so they
/// show on the run's page without opening the log.
pub fn annotations(attempts: &Attempts, labels: &Labels) -> Vec<String> {
    let reruns = attempts.len() > 1;
    attempts
        .tests()
        .iter()
        .filter_map(|t| {
            let r = t.standing.result;
            let (command, title, mut message) = match t.outcome {
                TestOutcome::Failed => (
                    "error",
                    "Doksi test failed",
                    format!("{} failed on {}", test_name(r), labels.of(r)),
                ),
                TestOutcome::Flaky => {
                    let runs: Vec<&str> = t.failures.iter().map(|f| f.run_id).collect();
                    let message = format!(
                        "{} on {} failed in run {}, then passed in run {}",
                        test_name(r),
                        labels.of(r),
                        runs.join(", "),
                        t.standing.run_id
                    );
                    ("warning", "Doksi test flaky", message)
                }
                _ => return None,
            };
            // The flaky test's failure is the link worth following; a failed one's its latest.
            let url = match t.outcome {
                TestOutcome::Flaky => t.failures.last().and_then(|f| f.result.url.as_ref()),
                _ => r.url.as_ref(),
            };
            if let Some(url) = url {
                message.push_str(": ");
                message.push_str(url);
            }
            if reruns && t.outcome == TestOutcome::Failed {
                message.push_str(&format!(" (failed in all {} attempts)", t.failures.len()));
            }
            Some(format!(
                "::{command} title={}::{}",
                command_property(title),
                command_data(&message)
            ))
        })
        .collect()
}

/// A workflow command's message: `%`, CR and LF encoded, as the runner decodes them; an
/// unencoded line break would end the command and start a new log line that could itself be
/// read as a command.
pub fn command_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow command's property value: as [`command_data`], plus `:` and `,`, which separate
/// properties.
pub fn command_property(s: &str) -> String {
    command_data(s).replace(':', "%3A").replace(',', "%2C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(status: &str, results: serde_json::Value) -> Attempts {
        Attempts::alone(
            serde_json::from_value(json!({
                "run_id": "run_1", "status": status, "duration_seconds": 7, "results": results,
            }))
            .unwrap(),
        )
    }

    #[test]
    fn workflow_command_data_encodes_percent_and_line_breaks() {
        assert_eq!(command_data("50% done\r\nnext"), "50%25 done%0D%0Anext");
        assert_eq!(command_data("a: b, c"), "a: b, c");
    }

    #[test]
    fn workflow_command_properties_also_encode_colon_and_comma() {
        assert_eq!(command_property("a: b, c%\n"), "a%3A b%2C c%25%0A");
    }

    #[test]
    fn table_cells_escape_pipes_markdown_and_line_breaks() {
        assert_eq!(cell("a|b"), r"a\|b");
        assert_eq!(
            cell("one\r\ntwo\nthree\rfour"),
            "one<br>two<br>three<br>four"
        );
        assert_eq!(cell("<b>*x*</b> & _y_"), r"\<b\>\*x\*\</b\> \& \_y\_");
        assert_eq!(
            cell(r"back\slash `code` [l](u) ~s~"),
            r"back\\slash \`code\` \[l\](u) \~s\~"
        );
        assert_eq!(cell("bell\u{7}tab\t"), "belltab");
    }

    #[test]
    fn urls_in_cells_are_autolinks_unescaped_and_redacted_ones_code() {
        assert_eq!(
            cell("https://shop.example/shop_v2/?a=1&utm_source=x"),
            "<https://shop.example/shop_v2/?a=1&utm_source=x>"
        );
        assert_eq!(
            cell("on https://x.example/a|b c_d (https://y.example/p_q)."),
            r"on <https://x.example/a%7Cb> c\_d (<https://y.example/p_q>)."
        );
        assert_eq!(
            cell("android:https://b.example/app_v2.apk?…(redacted)"),
            "android:`https://b.example/app_v2.apk?…(redacted)`"
        );
        // A URL that is the whole cell keeps what prose would leave out of a link.
        assert_eq!(
            cell("https://example.com/search?"),
            "<https://example.com/search?>"
        );
        assert_eq!(cell("https://example.com/a."), "<https://example.com/a.>");
    }

    #[test]
    fn link_targets_cannot_end_the_link_or_the_cell() {
        assert_eq!(
            link_target("https://x.example/a b(c)|d?q=1&r=é"),
            "https://x.example/a%20b%28c%29%7Cd?q=1&r=%C3%A9"
        );
    }

    #[test]
    fn outputs_are_one_line_each_unless_a_value_breaks_lines() {
        let r = run("failed", json!([]));
        let ids = ["bin_1".to_owned(), "bin_2".to_owned()];
        assert_eq!(
            outputs(&r, &ids),
            "run_id=run_1\nstatus=failed\ntarget_ids=bin_1,bin_2\nrun_ids=run_1\nflaky=0\n"
        );
        let mut text = String::new();
        output(&mut text, "x", "a\nghadelimiter_doksi_0\nb");
        assert_eq!(
            text,
            "x<<ghadelimiter_doksi_1\na\nghadelimiter_doksi_0\nb\nghadelimiter_doksi_1\n"
        );
    }

    #[test]
    fn the_summary_has_a_heading_and_a_row_per_result() {
        let r = run(
            "failed",
            json!([
                {"result_id": "r1", "test_id": "t1", "test_name": "Lo|gin", "status": "passed",
                 "duration_seconds": 3, "url": "https://x.example/r1",
                 "destination": {"platform": "android", "target_id": "bin_1"}},
                {"result_id": "r2", "test_id": "t2", "status": "failed"},
            ]),
        );
        let text = summary(&r, Ending::Finished, &Labels::default());
        assert!(
            text.starts_with("## ❌ Doksi run run\\_1 failed\n"),
            "{text}"
        );
        assert!(text.contains("2 tests: 1 passed, 1 failed, 0 errored, 0 unfinished; 7s"));
        assert!(text.contains(
            "| Lo\\|gin | bin\\_1 | ✅ passed | 3s | [result](https://x.example/r1) |\n"
        ));
        assert!(text.contains("| t2 | doksi | ❌ failed | 0s |  |\n"));
        let late = summary(
            &run("running", json!([])),
            Ending::TimedOut,
            &Labels::default(),
        );
        assert!(late.starts_with("## ⏱️ Doksi run run\\_1: timed out, still running\n"));
    }

    #[test]
    fn a_huge_summary_stops_under_the_limit_and_says_what_it_left_out() {
        let name = "n".repeat(10_000);
        let mut results: Vec<_> = (0..200)
            .map(|i| json!({"result_id": format!("r{i}"), "test_id": name, "status": "passed"}))
            .collect();
        results.push(json!({"result_id": "rf", "test_id": "t_fail", "status": "failed"}));
        let attempts = run("failed", json!(results));
        let text = summary(&attempts, Ending::Finished, &Labels::default());
        assert!(text.len() <= SUMMARY_LIMIT);
        // The failure is in, the passes that did not fit are counted, the fold is closed.
        assert!(
            text.contains("| t\\_fail | doksi | ❌ failed |"),
            "{}",
            &text[..2000]
        );
        let shown = text.matches(&name).count();
        assert!(shown > 50 && shown < 200, "{shown}");
        assert!(
            text.ends_with(&format!(
                "\n</details>\n\nLeft out, to keep this summary within GitHub's 1 MiB limit: {} passed tests.\n\n",
                200 - shown
            )),
            "{}",
            &text[text.len() - 300..]
        );
        // What the step wrote before counts against the limit.
        let small = summary_within(&attempts, Ending::Finished, &Labels::default(), 100_000);
        assert!(small.len() <= 100_000);
    }

    #[test]
    fn passed_and_unfinished_tests_are_folded_after_the_failed_ones() {
        let mut results: Vec<_> = (0..3000)
            .map(|i| json!({"result_id": format!("r{i}"), "test_id": format!("t_{i}"), "status": "passed"}))
            .collect();
        results[1500]["status"] = json!("failed");
        results[2999]["status"] = json!("running");
        let text = summary(
            &run("failed", json!(results)),
            Ending::Finished,
            &Labels::default(),
        );
        let failed = text.find("| t\\_1500 | doksi | ❌ failed |").unwrap();
        let unfinished = text
            .find("<details><summary>⏳ 1 unfinished (still running when run run_1 was reported failed)</summary>\n\n| test |")
            .unwrap();
        let passed = text
            .find("<details><summary>✅ 2998 passed</summary>\n\n| test |")
            .unwrap();
        assert!(failed < unfinished && unfinished < passed, "{text}");
        assert!(text.ends_with("\n</details>\n\n"));
        assert!(!text.contains("Left out"));
    }

    #[test]
    fn annotations_name_only_failed_tests() {
        let r = run(
            "failed",
            json!([
                {"result_id": "r1", "test_id": "t1", "status": "passed"},
                {"result_id": "r2", "test_id": "t2", "test_name": "Pay\n100%", "status": "failed",
                 "url": "https://x.example/r2",
                 "destination": {"platform": "web", "web_url": "https://shop.example"}},
            ]),
        );
        assert_eq!(
            annotations(&r, &Labels::default()),
            [
                "::error title=Doksi test failed::Pay%0A100%25 failed on https://shop.example: https://x.example/r2"
            ]
        );
    }
}
