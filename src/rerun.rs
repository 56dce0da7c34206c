//! Re-running what failed, and what several attempts at one set of tests add up to. A failed
//! run's re-run holds, per matrix entry of the first run (its platform, destination and
//! authentication), only the test ids that have not passed yet; a test that passes on a later
//! attempt is flaky, one that never passes failed. Results are matched to entries by their typed
//! destination, never by position: the API does not promise an order.
//!
//! This module decides and counts; it neither sends nor prints. `commands` sends the re-run the
//! [`Attempts`] ask for, waits for it and pushes it back; `report` renders the outcome. It owns
//! what a test came to ([`TestOutcome`]), one result's outcome alone ([`outcome_of`], the one
//! mapping from a status that the reports, the text and the team's message all count by) and
//! which tests are listed first ([`attention`]). It imports `api`, `runs` and `words`, never
//! `report` or `notify`.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::api::model::{Destination, MatrixEntry, Platform, Run, RunRequest, RunResult, Status};
use crate::runs::Auth;
use crate::words::unique;

/// How many times to re-run the failed tests of a failed run, and whether a test that passed
/// only on a re-run fails the build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Policy {
    pub retries: u8,
    pub fail_on_flaky: bool,
}

/// What doksi knows of the first run's matrix.
#[derive(Debug, Clone)]
pub enum Known {
    /// The request this doksi sent, each entry with its authentication.
    Sent(RunRequest),
    /// A run started elsewhere: its entries are the destinations its results name, each signing
    /// in as `--auth` says. `None` when no `--auth` was given: it cannot be re-run.
    Foreign(Option<Auth>),
}

/// Why a failed run is not re-run; said as a warning, and the failed verdict stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "run {run_id}: {} ({tests}) without a destination that names one matrix entry (none, one doksi cannot read, or one several entries share), so doksi cannot tell which entry to re-run them in",
        crate::words::count(.count, "failed test")
    )]
    Unplaced {
        run_id: String,
        count: usize,
        tests: String,
    },
    #[error(
        "run {run_id} was not started by this doksi, and without --auth doksi does not know how its tests signed in"
    )]
    NoAuth { run_id: String },
    #[error("run {run_id} failed, but none of its tests did: there is no test to re-run")]
    NothingFailed { run_id: String },
    #[error("run {run_id} has no {}test to re-run", if *.failed_only { "failed " } else { "" })]
    NothingToRerun { run_id: String, failed_only: bool },
}

/// Which tests `doksi rerun` runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// Those that ended without passing: never one still queued or running.
    Failed,
    All,
}

/// What one test came to over every attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestOutcome {
    /// Passed the first time it ended.
    Passed,
    /// Failed (or errored), then passed on a re-run.
    Flaky,
    /// Never passed; it failed at least once.
    Failed,
    /// Never passed; it ended with a status the docs do not list ("cancelled") first.
    Errored,
    /// Never ended: still queued or running when doksi stopped looking.
    Unfinished,
}

/// One test's attempt: the run it was in and its result there.
#[derive(Debug, Clone, Copy)]
pub struct Try<'a> {
    /// 0 for the first run, `k` for re-run `k`.
    pub attempt: usize,
    pub run_id: &'a str,
    /// Its run's top-level status: a final one beside an unfinished result means the run was
    /// reported (rolled up) before that test ended.
    pub run_status: &'a Status,
    pub result: &'a RunResult,
    /// Where `result` is in its run's results.
    index: usize,
}

/// One test over every attempt.
#[derive(Debug, Clone)]
pub struct Test<'a> {
    pub outcome: TestOutcome,
    /// The try that stands for the test: the one that passed, else the last one that ended,
    /// else the last.
    pub standing: Try<'a>,
    /// The tries that ended without passing (failed, or a status the docs do not list), first
    /// first.
    pub failures: Vec<Try<'a>>,
}

/// A re-run to send: the request and, for each of its entries, the first run's entry it repeats.
#[derive(Debug, Clone, PartialEq)]
pub struct Rerun {
    pub request: RunRequest,
    entries: Vec<usize>,
    /// 1 for the first re-run.
    pub number: usize,
    /// How many tests it runs (over every entry).
    pub tests: usize,
}

/// One run doksi waited for: as typed, and as the API gave it (for `--json`).
#[derive(Debug, Clone)]
struct Attempt {
    run: Run,
    raw: Value,
}

/// A test, as first seen: where it ran and its tries as (attempt, result index in that run).
#[derive(Debug, Clone)]
struct Record {
    entry: Option<usize>,
    test_id: String,
    tries: Vec<(usize, usize)>,
}

/// The first run and its re-runs, and every test over them.
#[derive(Debug, Clone)]
pub struct Attempts {
    policy: Policy,
    /// The first run's matrix entries, as sent or as its results name them.
    entries: Vec<MatrixEntry>,
    /// Whether the entries' authentication is known: not for a run doksi did not start, unless
    /// `--auth` said it.
    auth_known: bool,
    attempts: Vec<Attempt>,
    records: Vec<Record>,
}

impl Attempts {
    /// The first run, as its wait ended (finished, or the last state seen).
    pub fn new(known: Known, policy: Policy, run: Run, raw: Value) -> Attempts {
        // What was sent: a result without a readable destination in a one-entry run can only
        // have run in that entry.
        let (entries, sent, auth_known) = match known {
            Known::Sent(request) => (request.matrix, true, true),
            Known::Foreign(Some(auth)) => (entries_of(&run, &auth), false, true),
            Known::Foreign(None) => (entries_of(&run, &Auth::None), false, false),
        };
        let records = run
            .results
            .iter()
            .enumerate()
            .map(|(i, r)| Record {
                entry: place(&entries, r.destination.as_ref(), sent),
                test_id: r.test_id.clone(),
                tries: vec![(0, i)],
            })
            .collect();
        Attempts {
            policy,
            entries,
            auth_known,
            attempts: vec![Attempt { run, raw }],
            records,
        }
    }

    /// One run on its own, without a retry policy (`doksi status`, a test).
    pub fn alone(run: Run) -> Attempts {
        let raw = serde_json::to_value(&run).unwrap_or_default();
        Attempts::new(Known::Foreign(None), Policy::default(), run, raw)
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// How many runs there were: 1 without a re-run.
    pub fn len(&self) -> usize {
        self.attempts.len()
    }

    /// Never: there is always the first run.
    pub fn is_empty(&self) -> bool {
        self.attempts.is_empty()
    }

    /// The first run.
    pub fn first(&self) -> &Run {
        &self.attempts[0].run
    }

    /// The latest run.
    pub fn last(&self) -> &Run {
        &self.last_attempt().run
    }

    fn last_attempt(&self) -> &Attempt {
        // `new` makes one and nothing removes any.
        &self.attempts[self.attempts.len() - 1]
    }

    /// Every attempt's run id, the first run's first.
    pub fn run_ids(&self) -> Vec<&str> {
        self.attempts
            .iter()
            .map(|a| a.run.run_id.as_str())
            .collect()
    }

    /// The re-run due now: `Ok(None)` when the latest run did not fail (or has not finished) or
    /// the retries are spent; a [`Refusal`] when the failed tests cannot be placed in the first
    /// run's matrix. It holds the tests whose latest try ended without passing, never one still
    /// queued or running: a run may be reported failed while some of its tests go on.
    pub fn next(&self) -> Result<Option<Rerun>, Refusal> {
        let last = self.last();
        if last.status != Status::Failed || self.attempts.len() > usize::from(self.policy.retries) {
            return Ok(None);
        }
        let run_id = self.first().run_id.clone();
        if !self.auth_known {
            return Err(Refusal::NoAuth { run_id });
        }
        let failing: Vec<&Record> = self
            .records
            .iter()
            .filter(|r| !self.ever_passed(r) && self.latest_ended(r))
            .collect();
        if failing.is_empty() {
            return match self.attempts.len() {
                1 => Err(Refusal::NothingFailed { run_id }),
                _ => Ok(None),
            };
        }
        let unplaced: Vec<&str> = failing
            .iter()
            .filter(|r| r.entry.is_none())
            .map(|r| r.test_id.as_str())
            .collect();
        if !unplaced.is_empty() {
            return Err(Refusal::Unplaced {
                run_id,
                count: unplaced.len(),
                tests: unplaced.join(", "),
            });
        }
        let mut request = RunRequest { matrix: Vec::new() };
        let mut entries = Vec::new();
        for (j, entry) in self.entries.iter().enumerate() {
            let ids: Vec<String> = unique(
                failing
                    .iter()
                    .filter(|r| r.entry == Some(j))
                    .map(|r| r.test_id.clone()),
            );
            if ids.is_empty() {
                continue;
            }
            request.matrix.push(only(entry, ids));
            entries.push(j);
        }
        Ok(Some(Rerun {
            tests: count_tests(&request),
            request,
            entries,
            number: self.attempts.len(),
        }))
    }

    /// A re-run, as its wait ended. Its results are matched to the tests by the entry they ran
    /// in and their test id; a result that matches no test (none was asked for) is kept in the
    /// run, for `--json`, and counts for nothing.
    pub fn push(&mut self, rerun: &Rerun, run: Run, raw: Value) {
        let attempt = self.attempts.len();
        for (i, r) in run.results.iter().enumerate() {
            let Some(k) = place(&rerun.request.matrix, r.destination.as_ref(), true) else {
                continue;
            };
            let Some(&entry) = rerun.entries.get(k) else {
                continue;
            };
            let found = self.records.iter().position(|rec| {
                rec.entry == Some(entry)
                    && rec.test_id == r.test_id
                    && !rec.tries.iter().any(|&(a, _)| a == attempt)
                    && !self.ever_passed(rec)
            });
            if let Some(found) = found {
                self.records[found].tries.push((attempt, i));
            }
        }
        self.attempts.push(Attempt { run, raw });
    }

    fn result(&self, (attempt, i): (usize, usize)) -> Option<&RunResult> {
        self.attempts.get(attempt)?.run.results.get(i)
    }

    /// Whether the test's latest try ended (with any status but queued or running).
    fn latest_ended(&self, record: &Record) -> bool {
        record
            .tries
            .last()
            .and_then(|&t| self.result(t))
            .is_some_and(|r| !r.status.is_unfinished())
    }

    fn ever_passed(&self, record: &Record) -> bool {
        record
            .tries
            .iter()
            .filter_map(|&t| self.result(t))
            .any(|r| r.status == Status::Passed)
    }

    /// Every test, in the first run's order.
    pub fn tests(&self) -> Vec<Test<'_>> {
        self.records
            .iter()
            .filter_map(|rec| self.test(rec))
            .collect()
    }

    fn test<'a>(&'a self, rec: &Record) -> Option<Test<'a>> {
        let tries: Vec<Try<'a>> = rec
            .tries
            .iter()
            .filter_map(|&(attempt, i)| {
                let a = self.attempts.get(attempt)?;
                Some(Try {
                    attempt,
                    run_id: &a.run.run_id,
                    run_status: &a.run.status,
                    result: a.run.results.get(i)?,
                    index: i,
                })
            })
            .collect();
        let failures: Vec<Try<'a>> = tries
            .iter()
            .filter(|t| matches!(t.result.status, Status::Failed | Status::Other(_)))
            .copied()
            .collect();
        let passed = tries.iter().find(|t| t.result.status == Status::Passed);
        let ended = tries.iter().rev().find(|t| t.result.status.is_final());
        let (outcome, standing) = match (passed, failures.first()) {
            (Some(p), None) => (TestOutcome::Passed, p),
            (Some(p), Some(_)) => (TestOutcome::Flaky, p),
            (None, Some(f)) if f.result.status == Status::Failed => {
                (TestOutcome::Failed, ended.unwrap_or(f))
            }
            (None, Some(f)) => (TestOutcome::Errored, ended.unwrap_or(f)),
            (None, None) => (TestOutcome::Unfinished, tries.last()?),
        };
        Some(Test {
            outcome,
            standing: *standing,
            failures,
        })
    }

    /// How the tests came out, counted.
    pub fn counts(&self) -> Counts {
        Counts::of(self.tests().iter().map(|t| t.outcome))
    }

    /// The verdict on a finished wait. Without a re-run it is the run's own status, as it always
    /// was; after re-runs, every test has to have passed once (and, with `fail_on_flaky`, the
    /// first time).
    pub fn verdict(&self) -> Verdict {
        if self.attempts.len() == 1 {
            return match self.first().status {
                Status::Failed => Verdict::Failed,
                _ => Verdict::Passed,
            };
        }
        let c = self.counts();
        match (c.failed + c.errored + c.unfinished, c.flaky) {
            (0, 0) => Verdict::Passed,
            (0, _) if !self.policy.fail_on_flaky => Verdict::Passed,
            _ => Verdict::Failed,
        }
    }

    /// What the verdict's failure says, for the error line: `None` when the tests passed.
    pub fn failure(&self) -> Option<Failure> {
        if self.verdict() == Verdict::Passed || self.attempts.len() == 1 {
            return None;
        }
        let c = self.counts();
        Some(Failure {
            run_id: self.first().run_id.clone(),
            reruns: self.run_ids()[1..].join(", "),
            never_passed: c.not_passed(),
            unfinished: c.unfinished,
            flaky: c.flaky,
            total: c.total(),
        })
    }

    /// The run as `--json` prints it. Without a re-run, the API's object as it came. After one,
    /// the first run's object with each test's standing result in place of its first (the one
    /// that passed, else the latest), the status and counts of the verdict (while the latest
    /// run goes on, its status), and the duration of every attempt added up. With a retry
    /// policy, whether or not a re-run was needed, `attempts` (each run's object as the API gave
    /// it) and `flaky` (the tests that passed only on a re-run) beside.
    pub fn to_json(&self) -> Value {
        let first = &self.attempts[0];
        let mut doc = first.raw.clone();
        if self.attempts.len() > 1
            && let Value::Object(fields) = &mut doc
        {
            let c = self.counts();
            let results: Vec<Value> = self
                .tests()
                .iter()
                .filter_map(|t| self.raw_result(&t.standing))
                .collect();
            fields.insert("status".into(), json!(self.status()));
            fields.insert("tests_total".into(), json!(c.total()));
            fields.insert("tests_passed".into(), json!(c.passed + c.flaky));
            fields.insert("tests_failed".into(), json!(c.failed + c.errored));
            fields.insert("tests_running".into(), json!(c.unfinished));
            fields.insert("duration_seconds".into(), json!(self.duration_seconds()));
            fields.insert("results".into(), Value::Array(results));
        }
        if self.policy.retries > 0
            && let Value::Object(fields) = &mut doc
        {
            let attempts: Vec<Value> = self.attempts.iter().map(|a| a.raw.clone()).collect();
            fields.insert("attempts".into(), Value::Array(attempts));
            fields.insert("flaky".into(), Value::Array(self.flaky_json()));
        }
        doc
    }

    /// A try's result as the API gave it.
    fn raw_result(&self, t: &Try<'_>) -> Option<Value> {
        let raw = &self.attempts.get(t.attempt)?.raw;
        raw.get("results")?.get(t.index).cloned()
    }

    fn flaky_json(&self) -> Vec<Value> {
        self.tests()
            .into_iter()
            .filter(|t| t.outcome == TestOutcome::Flaky)
            .map(|t| {
                let passed = t.standing.result;
                json!({
                    "test_id": passed.test_id,
                    "test_name": passed.test_name,
                    "destination": passed.destination,
                    "passed_in": t.standing.run_id,
                    "url": passed.url,
                    "failed_in": t.failures.iter().map(|f| json!({
                        "run_id": f.run_id, "result_id": f.result.result_id,
                        "status": f.result.status, "url": f.result.url,
                    })).collect::<Vec<_>>(),
                })
            })
            .collect()
    }

    /// Every attempt's duration, added up.
    pub fn duration_seconds(&self) -> f64 {
        self.attempts.iter().map(|a| a.run.duration_seconds).sum()
    }

    /// The status the attempts add up to: the verdict's (`passed`/`failed`) once the latest run
    /// has ended, else the latest run's (`queued`, `running`); without a re-run, the run's own.
    pub fn status(&self) -> Status {
        let last = self.last();
        if self.attempts.len() == 1 || !last.status.is_final() {
            return last.status.clone();
        }
        match self.verdict() {
            Verdict::Passed => Status::Passed,
            Verdict::Failed => Status::Failed,
        }
    }
}

/// Whether the tests passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed,
}

/// How many tests came out each way over every attempt; counted from the results rather than
/// taken from the runs' `tests_*` fields, so a report's totals always agree with the rows it
/// lists.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub flaky: usize,
    pub failed: usize,
    pub errored: usize,
    pub unfinished: usize,
}

impl Counts {
    /// The one place outcomes are counted: every output (the text, the error line, the live
    /// line, JUnit, `--json` after re-runs, GitHub's summary, the webhook) reads its numbers
    /// from here, so no two of them can disagree about one run.
    pub fn of(outcomes: impl IntoIterator<Item = TestOutcome>) -> Counts {
        let mut c = Counts::default();
        for outcome in outcomes {
            match outcome {
                TestOutcome::Passed => c.passed += 1,
                TestOutcome::Flaky => c.flaky += 1,
                TestOutcome::Failed => c.failed += 1,
                TestOutcome::Errored => c.errored += 1,
                TestOutcome::Unfinished => c.unfinished += 1,
            }
        }
        c
    }

    /// One run's results, each as its own test (no re-runs): what the live line and a run's
    /// summary count.
    /// An answer that lists no results but counts its tests (the docs' fields, a roll-up the
    /// service sends before the list) is taken at its counts: "0 of 0 tests" would say nothing
    /// failed of a run that says two did.
    pub fn of_run(run: &Run) -> Counts {
        if run.results.is_empty() && run.tests_total > 0 {
            let n = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
            let (passed, failed, running) = (
                n(run.tests_passed),
                n(run.tests_failed),
                n(run.tests_running),
            );
            let counted = passed.saturating_add(failed).saturating_add(running);
            return Counts {
                passed,
                failed,
                // Counted but neither passed, failed nor running: ended some other way.
                errored: n(run.tests_total).saturating_sub(counted),
                unfinished: running,
                flaky: 0,
            };
        }
        Counts::of(run.results.iter().map(|r| outcome_of(&r.status)))
    }

    /// Those that ended without passing: failed, or with a status the docs do not list.
    pub fn not_passed(&self) -> usize {
        self.failed + self.errored
    }

    pub fn total(&self) -> usize {
        self.passed + self.flaky + self.failed + self.errored + self.unfinished
    }
}

/// A failed verdict after re-runs, as the error line says it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.line())]
pub struct Failure {
    pub run_id: String,
    /// The re-runs' ids, comma-separated.
    pub reruns: String,
    /// Ended without passing on every attempt.
    pub never_passed: usize,
    /// Never ended: still queued or running when doksi stopped looking (never "failed").
    pub unfinished: usize,
    pub flaky: usize,
    pub total: usize,
}

impl Failure {
    fn reruns_word(&self) -> &'static str {
        match self.reruns.contains(',') {
            true => "re-runs",
            false => "re-run",
        }
    }

    fn line(&self) -> String {
        let (run_id, tests) = (&self.run_id, crate::words::count(self.total, "test"));
        let runs = format!("({}: {})", self.reruns_word(), self.reruns);
        match (self.never_passed, self.unfinished) {
            (0, 0) => format!(
                "run {run_id} and its {} {}: every test passed, but {} of {} only on a re-run (--fail-on-flaky)",
                self.reruns_word(),
                self.reruns,
                self.flaky,
                self.total
            ),
            (0, u) => format!("run {run_id} failed: {u} of {tests} unfinished {runs}"),
            (n, 0) => format!("run {run_id} failed: {n} of {tests} failed on every attempt {runs}"),
            (n, u) => format!(
                "run {run_id} failed: {n} of {tests} failed on every attempt, {u} unfinished {runs}"
            ),
        }
    }
}

/// A finished run's tests again (`doksi rerun`): per destination its results name, those tests,
/// signing in as `auth` says. Results that do not name a destination cannot be placed.
pub fn request_for(run: &Run, auth: &Auth, which: Which) -> Result<RunRequest, Refusal> {
    let entries = entries_of(run, auth);
    let wanted: Vec<&RunResult> = run
        .results
        .iter()
        .filter(|r| {
            which == Which::All || !(r.status == Status::Passed || r.status.is_unfinished())
        })
        .collect();
    if wanted.is_empty() {
        return Err(Refusal::NothingToRerun {
            run_id: run.run_id.clone(),
            failed_only: which == Which::Failed,
        });
    }
    let placed: Vec<(Option<usize>, &RunResult)> = wanted
        .iter()
        .map(|r| (place(&entries, r.destination.as_ref(), false), *r))
        .collect();
    let unplaced: Vec<&str> = placed
        .iter()
        .filter(|(at, _)| at.is_none())
        .map(|(_, r)| r.test_id.as_str())
        .collect();
    if !unplaced.is_empty() {
        return Err(Refusal::Unplaced {
            run_id: run.run_id.clone(),
            count: unplaced.len(),
            tests: unplaced.join(", "),
        });
    }
    let matrix = entries
        .iter()
        .enumerate()
        .filter_map(|(j, entry)| {
            let ids = unique(
                placed
                    .iter()
                    .filter(|(at, _)| *at == Some(j))
                    .map(|(_, r)| r.test_id.clone()),
            );
            (!ids.is_empty()).then(|| only(entry, ids))
        })
        .collect();
    Ok(RunRequest { matrix })
}

/// The most a retry policy could cost: every test of the run, failing every time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cost {
    pub retries: u8,
    /// The test ids the request names, over every entry.
    pub tests: usize,
    /// The categories it names, whose size only the server knows.
    pub categories: Vec<String>,
}

impl Cost {
    pub fn of(request: &RunRequest, retries: u8) -> Cost {
        Cost {
            retries,
            tests: count_tests(request),
            categories: unique(
                request
                    .matrix
                    .iter()
                    .flat_map(|e| e.category_ids.iter().flatten().cloned()),
            ),
        }
    }

    /// `tests × retries` when the request names its tests; with categories, not known here.
    pub fn most(&self) -> Option<usize> {
        self.categories
            .is_empty()
            .then_some(self.tests * usize::from(self.retries))
    }
}

impl std::fmt::Display for Cost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.retries;
        match self.most() {
            Some(most) => write!(
                f,
                "up to {} of the failed tests: at most {n} × {} = {}",
                crate::words::count(n, "re-run"),
                self.tests,
                crate::words::count(most, "more test credit")
            ),
            None => {
                let ids = match self.tests {
                    0 => String::new(),
                    t => format!("{} and ", crate::words::count(t, "test id")),
                };
                write!(
                    f,
                    "up to {} of the failed tests: at most {n} × the run's own size in more test credits ({ids}the tests of {}, which the server counts)",
                    crate::words::count(n, "re-run"),
                    self.categories.join(", ")
                )
            }
        }
    }
}

/// How many test ids a request names, over every entry (its categories not counted).
pub fn count_tests(request: &RunRequest) -> usize {
    request
        .matrix
        .iter()
        .map(|e| e.test_ids.as_ref().map_or(0, Vec::len))
        .sum()
}

/// `entry` with only `test_ids` to run: the same platform, destination and authentication.
fn only(entry: &MatrixEntry, test_ids: Vec<String>) -> MatrixEntry {
    MatrixEntry {
        test_ids: Some(test_ids),
        category_ids: None,
        ..entry.clone()
    }
}

/// One entry per destination the results name (first seen first), each signing in as `auth`.
fn entries_of(run: &Run, auth: &Auth) -> Vec<MatrixEntry> {
    let mut seen = HashSet::new();
    run.results
        .iter()
        .filter_map(|r| {
            let (platform, web_url, target_id, binary_url) = match r.destination.as_ref()? {
                Destination::Web { url } => (Platform::Web, Some(url), None, None),
                Destination::Target { target_id } => {
                    (Platform::Android, None, Some(target_id), None)
                }
                Destination::Binary { url } => (Platform::Android, None, None, Some(url)),
                Destination::Other(_) => return None,
            };
            let entry = MatrixEntry {
                platform,
                web_url: web_url.cloned(),
                binary_url: binary_url.cloned(),
                target_id: target_id.cloned(),
                test_ids: None,
                category_ids: None,
                artifacts: auth.artifacts(),
            };
            let key = (
                entry.web_url.clone(),
                entry.target_id.clone(),
                entry.binary_url.clone(),
            );
            seen.insert(key).then_some(entry)
        })
        .collect()
}

/// The entry a result ran in: the one entry at its destination; or, when it names none (or one
/// doksi cannot read) and the request sent had one entry only, that one.
fn place(entries: &[MatrixEntry], at: Option<&Destination>, sent: bool) -> Option<usize> {
    let matching: Vec<usize> = (0..entries.len())
        .filter(|&i| at.is_some_and(|d| runs_at(&entries[i], d)))
        .collect();
    match matching[..] {
        [i] => Some(i),
        [] if sent && entries.len() == 1 => match at {
            None | Some(Destination::Other(_)) => Some(0),
            Some(_) => None,
        },
        _ => None,
    }
}

/// Whether a matrix entry's destination is the one a result names.
fn runs_at(entry: &MatrixEntry, at: &Destination) -> bool {
    match at {
        Destination::Web { url } => {
            entry.platform == Platform::Web && entry.web_url.as_ref() == Some(url)
        }
        Destination::Target { target_id } => {
            entry.platform == Platform::Android && entry.target_id.as_ref() == Some(target_id)
        }
        Destination::Binary { url } => {
            entry.platform == Platform::Android && entry.binary_url.as_ref() == Some(url)
        }
        Destination::Other(_) => false,
    }
}

/// One result's outcome as a test's, for a run without re-runs (so never flaky); what the
/// reports, the text and the team's message count a result as. A status the docs do not list
/// ("error", "cancelled") is an error: it did not pass, but nor did the test find a bug. It is
/// never taken for "still running": a run whose results never left it would then look like a
/// clean timeout.
pub fn outcome_of(status: &Status) -> TestOutcome {
    match status {
        Status::Passed => TestOutcome::Passed,
        Status::Failed => TestOutcome::Failed,
        Status::Queued | Status::Running => TestOutcome::Unfinished,
        Status::Other(_) => TestOutcome::Errored,
    }
}

/// Where a test is listed in an account of a run, the text's or the job summary's: those that
/// need a look first — failed or errored, then unfinished, then flaky, then passed.
pub fn attention(outcome: TestOutcome) -> u8 {
    match outcome {
        TestOutcome::Failed | TestOutcome::Errored => 0,
        TestOutcome::Unfinished => 1,
        TestOutcome::Flaky => 2,
        TestOutcome::Passed => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_statuses_are_errors_not_unfinished() {
        assert_eq!(outcome_of(&Status::Running), TestOutcome::Unfinished);
        assert_eq!(outcome_of(&Status::Queued), TestOutcome::Unfinished);
        assert_eq!(
            outcome_of(&Status::Other("cancelled".into())),
            TestOutcome::Errored
        );
    }

    #[test]
    fn a_run_that_lists_no_results_is_counted_by_its_fields() {
        let run: Run = serde_json::from_value(json!({"run_id": "run_9", "status": "failed",
            "tests_total": 6, "tests_passed": 3, "tests_failed": 2, "tests_running": 0}))
        .unwrap();
        let c = Counts::of_run(&run);
        assert_eq!((c.passed, c.failed, c.errored, c.unfinished), (3, 2, 1, 0));
        assert_eq!(c.total(), 6);
    }

    fn run(id: &str, status: &str, results: Value) -> (Run, Value) {
        let raw =
            json!({"run_id": id, "status": status, "duration_seconds": 10, "results": results});
        (serde_json::from_value(raw.clone()).unwrap(), raw)
    }

    fn result(id: &str, test: &str, status: &str, at: Value) -> Value {
        json!({"result_id": id, "test_id": test, "status": status, "url": format!("https://x.example/{id}"),
               "destination": at})
    }

    fn target(id: &str) -> Value {
        json!({"platform": "android", "target_id": id})
    }

    fn web(url: &str) -> Value {
        json!({"platform": "web", "web_url": url})
    }

    /// Two entries with their own authentication, as a matrix file could give them.
    fn sent() -> Known {
        let request: RunRequest = serde_json::from_value(json!({"matrix": [
            {"platform": "android", "target_id": "bin_1", "category_ids": ["cat_smoke"],
             "artifacts": [{"type": "authentication", "strategy": "generated"}]},
            {"platform": "web", "web_url": "https://w.example", "test_ids": ["t_a", "t_b"],
             "artifacts": [{"type": "authentication", "strategy": "specific", "account_id": "acc_9"}]},
        ]}))
        .unwrap();
        Known::Sent(request)
    }

    fn policy(retries: u8) -> Policy {
        Policy {
            retries,
            fail_on_flaky: false,
        }
    }

    #[test]
    fn a_rerun_holds_only_the_failed_tests_of_each_entry_with_its_authentication() {
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([
                result("r1", "t_login", "passed", target("bin_1")),
                result("r2", "t_cart", "failed", target("bin_1")),
                result("r3", "t_a", "passed", web("https://w.example")),
                result("r4", "t_b", "cancelled", web("https://w.example")),
            ]),
        );
        let attempts = Attempts::new(sent(), policy(2), r, raw);
        let rerun = attempts.next().unwrap().unwrap();
        assert_eq!((rerun.number, rerun.tests), (1, 2));
        assert_eq!(
            serde_json::to_value(&rerun.request).unwrap(),
            json!({"matrix": [
                {"platform": "android", "target_id": "bin_1", "test_ids": ["t_cart"],
                 "artifacts": [{"type": "authentication", "strategy": "generated"}]},
                {"platform": "web", "web_url": "https://w.example", "test_ids": ["t_b"],
                 "artifacts": [{"type": "authentication", "strategy": "specific", "account_id": "acc_9"}]},
            ]})
        );
    }

    #[test]
    fn a_run_reported_failed_early_reruns_only_what_ended_failed() {
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([
                result("r1", "t_a", "failed", web("https://w.example")),
                result("r2", "t_b", "running", web("https://w.example")),
                result("r3", "t_login", "queued", target("bin_1")),
            ]),
        );
        let attempts = Attempts::new(sent(), policy(1), r.clone(), raw);
        let rerun = attempts.next().unwrap().unwrap();
        assert_eq!(rerun.tests, 1);
        assert_eq!(rerun.request.matrix.len(), 1);
        assert_eq!(
            rerun.request.matrix[0].test_ids.as_deref().unwrap(),
            ["t_a"]
        );
        let c = attempts.counts();
        assert_eq!((c.failed, c.unfinished, c.total()), (1, 2, 3));
        assert_eq!(Counts::of_run(&r), c);
        // `doksi rerun --failed` alike.
        let again = request_for(&r, &Auth::None, Which::Failed).unwrap();
        assert_eq!(again.matrix.len(), 1);
        assert_eq!(again.matrix[0].test_ids.as_deref().unwrap(), ["t_a"]);
    }

    #[test]
    fn the_failure_line_tells_unfinished_tests_from_failed_ones() {
        let line = |never_passed, unfinished| {
            Failure {
                run_id: "run_1".into(),
                reruns: "run_2".into(),
                never_passed,
                unfinished,
                flaky: 0,
                total: 4,
            }
            .to_string()
        };
        assert_eq!(
            line(1, 0),
            "run run_1 failed: 1 of 4 tests failed on every attempt (re-run: run_2)"
        );
        assert_eq!(
            line(1, 2),
            "run run_1 failed: 1 of 4 tests failed on every attempt, 2 unfinished (re-run: run_2)"
        );
        assert_eq!(
            line(0, 2),
            "run run_1 failed: 2 of 4 tests unfinished (re-run: run_2)"
        );
    }

    #[test]
    fn a_test_that_passes_on_a_rerun_is_flaky_and_one_that_never_does_failed() {
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([
                result("r1", "t_login", "passed", target("bin_1")),
                result("r2", "t_cart", "failed", target("bin_1")),
                result("r3", "t_pay", "failed", target("bin_1")),
            ]),
        );
        let known = Known::Sent(
            serde_json::from_value(json!({"matrix": [
                {"platform": "android", "target_id": "bin_1", "category_ids": ["c"]}]}))
            .unwrap(),
        );
        let mut attempts = Attempts::new(known, policy(2), r, raw);
        let first = attempts.next().unwrap().unwrap();
        assert_eq!(
            first.request.matrix[0].test_ids.as_deref().unwrap(),
            ["t_cart", "t_pay"]
        );
        let (r, raw) = run(
            "run_2",
            "failed",
            json!([
                result("r4", "t_cart", "passed", target("bin_1")),
                result("r5", "t_pay", "failed", target("bin_1")),
            ]),
        );
        attempts.push(&first, r, raw);
        // Only what still fails goes again.
        let second = attempts.next().unwrap().unwrap();
        assert_eq!(second.number, 2);
        assert_eq!(
            second.request.matrix[0].test_ids.as_deref().unwrap(),
            ["t_pay"]
        );
        let (r, raw) = run(
            "run_3",
            "failed",
            json!([result("r6", "t_pay", "failed", target("bin_1"))]),
        );
        attempts.push(&second, r, raw);
        assert_eq!(attempts.next(), Ok(None), "the retries are spent");
        let tests = attempts.tests();
        let outcomes: Vec<_> = tests.iter().map(|t| t.outcome).collect();
        assert_eq!(
            outcomes,
            [TestOutcome::Passed, TestOutcome::Flaky, TestOutcome::Failed]
        );
        assert_eq!(tests[1].standing.run_id, "run_2");
        assert_eq!(tests[1].failures.len(), 1);
        let pay: Vec<&str> = tests[2].failures.iter().map(|f| f.run_id).collect();
        assert_eq!(pay, ["run_1", "run_2", "run_3"]);
        assert_eq!(tests[2].standing.result.result_id, "r6");
        assert_eq!(attempts.verdict(), Verdict::Failed);
        assert_eq!(attempts.run_ids(), ["run_1", "run_2", "run_3"]);
        let failure = attempts.failure().unwrap().to_string();
        assert_eq!(
            failure,
            "run run_1 failed: 1 of 3 tests failed on every attempt (re-runs: run_2, run_3)"
        );
        let doc = attempts.to_json();
        assert_eq!(doc["run_id"], "run_1");
        assert_eq!(doc["status"], "failed");
        assert_eq!(
            (
                &doc["tests_total"],
                &doc["tests_passed"],
                &doc["tests_failed"]
            ),
            (&json!(3), &json!(2), &json!(1))
        );
        assert_eq!(doc["duration_seconds"], 30.0);
        let standing: Vec<&str> = doc["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["result_id"].as_str().unwrap())
            .collect();
        assert_eq!(standing, ["r1", "r4", "r6"]);
        assert_eq!(doc["attempts"].as_array().unwrap().len(), 3);
        assert_eq!(doc["attempts"][1]["run_id"], "run_2");
        assert_eq!(doc["flaky"][0]["test_id"], "t_cart");
        assert_eq!(doc["flaky"][0]["passed_in"], "run_2");
        assert_eq!(doc["flaky"][0]["failed_in"][0]["run_id"], "run_1");
    }

    #[test]
    fn flaky_passes_unless_fail_on_flaky() {
        let make = |fail_on_flaky| {
            let (r, raw) = run(
                "run_1",
                "failed",
                json!([result("r1", "t", "failed", target("bin_1"))]),
            );
            let known = Known::Foreign(Some(Auth::None));
            let policy = Policy {
                retries: 1,
                fail_on_flaky,
            };
            let mut attempts = Attempts::new(known, policy, r, raw);
            let rerun = attempts.next().unwrap().unwrap();
            let (r, raw) = run(
                "run_2",
                "passed",
                json!([result("r2", "t", "passed", target("bin_1"))]),
            );
            attempts.push(&rerun, r, raw);
            attempts
        };
        let lenient = make(false);
        assert_eq!(lenient.verdict(), Verdict::Passed);
        assert_eq!(lenient.status(), Status::Passed);
        assert_eq!(lenient.failure(), None);
        assert_eq!(lenient.counts().flaky, 1);
        let strict = make(true);
        assert_eq!(strict.verdict(), Verdict::Failed);
        assert!(
            strict
                .failure()
                .unwrap()
                .to_string()
                .ends_with("every test passed, but 1 of 1 only on a re-run (--fail-on-flaky)")
        );
    }

    #[test]
    fn without_a_rerun_everything_is_the_run_as_it_came() {
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([result("r1", "t", "failed", target("bin_1"))]),
        );
        let attempts = Attempts::new(sent(), policy(0), r, raw.clone());
        assert_eq!(attempts.next(), Ok(None));
        assert_eq!(attempts.to_json(), raw);
        assert_eq!(attempts.verdict(), Verdict::Failed);
        assert_eq!(attempts.failure(), None, "the run's own error says it");
        let with_policy = Attempts::new(sent(), policy(2), attempts.first().clone(), raw.clone());
        let doc = with_policy.to_json();
        assert_eq!(doc["results"], raw["results"]);
        assert_eq!(
            (doc["attempts"][0].clone(), doc["flaky"].clone()),
            (raw, json!([]))
        );
    }

    #[test]
    fn results_that_name_no_single_entry_are_not_rerun() {
        // No destination, two entries: which one?
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([{"result_id": "r1", "test_id": "t_x", "status": "failed"}]),
        );
        let refused = Attempts::new(sent(), policy(1), r, raw).next();
        assert!(
            matches!(&refused, Err(Refusal::Unplaced { count: 1, tests, .. }) if tests == "t_x"),
            "{refused:?}"
        );
        // Two entries at one destination (two ways of signing in): which one?
        let twice: RunRequest = serde_json::from_value(json!({"matrix": [
            {"platform": "android", "target_id": "bin_1", "test_ids": ["t"]},
            {"platform": "android", "target_id": "bin_1", "test_ids": ["t"],
             "artifacts": [{"type": "authentication", "strategy": "generated"}]}]}))
        .unwrap();
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([result("r1", "t", "failed", target("bin_1"))]),
        );
        let refused = Attempts::new(Known::Sent(twice), policy(1), r, raw).next();
        assert!(
            matches!(refused, Err(Refusal::Unplaced { .. })),
            "{refused:?}"
        );
        // One entry sent: a result that says nothing of where it ran ran there.
        let one: RunRequest = serde_json::from_value(json!({"matrix": [
            {"platform": "web", "web_url": "https://w.example", "test_ids": ["t"]}]}))
        .unwrap();
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([{"result_id": "r1", "test_id": "t", "status": "failed", "destination": {"platform": "ios"}}]),
        );
        let rerun = Attempts::new(Known::Sent(one), policy(1), r, raw).next();
        assert_eq!(
            rerun.unwrap().unwrap().request.matrix[0]
                .test_ids
                .as_deref()
                .unwrap(),
            ["t"]
        );
        // Nothing failed, though the run did.
        let (r, raw) = run(
            "run_1",
            "failed",
            json!([result("r1", "t", "passed", target("bin_1"))]),
        );
        let refused = Attempts::new(sent(), policy(1), r, raw).next();
        assert!(matches!(refused, Err(Refusal::NothingFailed { .. })));
    }

    #[test]
    fn a_foreign_run_is_rerun_at_the_destinations_its_results_name_with_the_auth_given() {
        let results = json!([
            result("r1", "t_a", "failed", web("https://w.example")),
            result("r2", "t_b", "failed", target("bin_2")),
            result("r3", "t_c", "failed", web("https://w.example")),
            result(
                "r4",
                "t_d",
                "passed",
                json!({"platform": "android", "binary_url": "https://b.example/a.apk"})
            ),
        ]);
        let (r, raw) = run("run_1", "failed", results);
        let refused = Attempts::new(Known::Foreign(None), policy(1), r.clone(), raw.clone()).next();
        assert!(matches!(refused, Err(Refusal::NoAuth { .. })));
        let auth = Auth::Specific("acc_7".into());
        let rerun = Attempts::new(
            Known::Foreign(Some(auth.clone())),
            policy(1),
            r.clone(),
            raw,
        )
        .next()
        .unwrap()
        .unwrap();
        let specific =
            json!([{"type": "authentication", "strategy": "specific", "account_id": "acc_7"}]);
        assert_eq!(
            serde_json::to_value(&rerun.request).unwrap(),
            json!({"matrix": [
                {"platform": "web", "web_url": "https://w.example", "test_ids": ["t_a", "t_c"], "artifacts": specific},
                {"platform": "android", "target_id": "bin_2", "test_ids": ["t_b"], "artifacts": specific},
            ]})
        );
        // `doksi rerun`: the same, or every test.
        assert_eq!(
            request_for(&r, &auth, Which::Failed).unwrap(),
            rerun.request
        );
        let all = request_for(&r, &Auth::None, Which::All).unwrap();
        assert_eq!(all.matrix.len(), 3);
        assert_eq!(
            all.matrix[2].binary_url.as_deref(),
            Some("https://b.example/a.apk")
        );
        assert_eq!(all.matrix[2].artifacts, None);
        let (passed, _) = run(
            "run_9",
            "passed",
            json!([result("r1", "t", "passed", target("bin_1"))]),
        );
        assert_eq!(
            request_for(&passed, &Auth::None, Which::Failed)
                .unwrap_err()
                .to_string(),
            "run run_9 has no failed test to re-run"
        );
    }

    #[test]
    fn the_most_retries_can_cost_is_every_test_every_time() {
        let ids: RunRequest = serde_json::from_value(json!({"matrix": [
            {"platform": "android", "target_id": "a", "test_ids": ["t1", "t2"]},
            {"platform": "android", "target_id": "b", "test_ids": ["t1", "t2"]}]}))
        .unwrap();
        let cost = Cost::of(&ids, 3);
        assert_eq!(cost.most(), Some(12));
        assert_eq!(
            cost.to_string(),
            "up to 3 re-runs of the failed tests: at most 3 × 4 = 12 more test credits"
        );
        let Known::Sent(categories) = sent() else {
            unreachable!()
        };
        let cost = Cost::of(&categories, 2);
        assert_eq!(cost.most(), None);
        assert!(
            cost.to_string()
                .contains("2 test ids and the tests of cat_smoke"),
            "{cost}"
        );
    }
}
