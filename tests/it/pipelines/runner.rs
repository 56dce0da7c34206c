//! GitHub's runner, as far as a composite action needs it: the steps in order, `${{ }}`
//! substituted, `if:` evaluated, bash steps with GITHUB_OUTPUT/GITHUB_ENV/GITHUB_PATH/
//! GITHUB_STEP_SUMMARY as files (what a step appends to GITHUB_ENV and GITHUB_PATH applies to the
//! later steps), `::add-mask::` read from the log, and actions/cache/restore|save played by
//! folders kept between the runs of one test. Any other `uses:` or shell fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use yaml_rust2::Yaml;

use super::{clean_path, copy_tree, load, s};
use crate::sandbox::path_str;

/// `name=value` lines and `name<<DELIMITER` blocks, as GitHub reads GITHUB_OUTPUT and GITHUB_ENV.
pub(super) fn key_values(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let value: Vec<&str> = lines.by_ref().take_while(|l| *l != delimiter).collect();
            found.push((name.to_owned(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            found.push((name.to_owned(), value.to_owned()));
        } else {
            assert!(
                line.is_empty(),
                "not a GITHUB_OUTPUT/GITHUB_ENV line: {line:?}"
            );
        }
    }
    found
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// actions/cache as the runs of one test see it: folders saved under a key, never overwritten,
/// restored by the exact key or the newest one a restore-key prefixes.
#[derive(Default)]
pub(super) struct Caches {
    pub(super) dir: Option<tempfile::TempDir>,
    pub(super) saved: Vec<String>,
}

impl Caches {
    pub(super) fn stash(&mut self, key: &str) -> PathBuf {
        let dir = self.dir.get_or_insert_with(|| tempfile::tempdir().unwrap());
        dir.path().join(key)
    }

    pub(super) fn save(&mut self, key: &str, path: &Path) -> &'static str {
        if self.saved.iter().any(|k| k == key) {
            return "not saved: the key exists";
        }
        if !path.exists() {
            return "not saved: no such path";
        }
        let stash = self.stash(key);
        copy_tree(path, &stash);
        self.saved.push(key.to_owned());
        "saved"
    }

    /// Restores into `path`; `cache-hit` is true for the exact key only.
    pub(super) fn restore(
        &mut self,
        key: &str,
        prefixes: &[&str],
        path: &Path,
    ) -> (bool, Option<String>) {
        let found = if self.saved.iter().any(|k| k == key) {
            Some(key.to_owned())
        } else {
            prefixes
                .iter()
                .find_map(|p| self.saved.iter().rev().find(|k| k.starts_with(p)).cloned())
        };
        if let Some(k) = &found {
            let stash = self.stash(k);
            copy_tree(&stash, path);
        }
        (found.as_deref() == Some(key), found)
    }
}

/// One job on a Linux runner that runs the action once, in folders of its own.
pub(super) struct Job<'a> {
    pub(super) action: PathBuf,
    pub(super) inputs: Vec<(&'a str, String)>,
    pub(super) env: Vec<(&'a str, String)>,
    pub(super) root: tempfile::TempDir,
    pub(super) run_id: u32,
}

/// What running the action gave.
pub(super) struct Ran {
    pub(super) steps: Vec<(String, Outcome)>,
    pub(super) conclusion: Outcome,
    pub(super) outputs: BTreeMap<String, String>,
    /// Every step's stdout and stderr, as the job's log has them before masking.
    pub(super) log: String,
    pub(super) masks: Vec<String>,
    pub(super) exit_codes: BTreeMap<String, i32>,
    /// The job summary: what the steps appended to GITHUB_STEP_SUMMARY.
    pub(super) summary: String,
}

impl Ran {
    /// The log less the lines the runner consumes (`::add-mask::`), as a reader sees it before
    /// masking: a secret found here was printed by a step.
    pub(super) fn unmasked(&self) -> String {
        self.log
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(super) fn outcome(&self, name: &str) -> Outcome {
        self.steps
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}: {:?}", self.steps))
            .1
    }
}

/// The state the expressions of the running action read.
pub(super) struct Contexts<'a> {
    pub(super) job: &'a Job<'a>,
    pub(super) defaults: BTreeMap<String, String>,
    pub(super) steps: BTreeMap<String, (Outcome, BTreeMap<String, String>)>,
    pub(super) env: BTreeMap<String, String>,
    pub(super) failed: bool,
}

impl Contexts<'_> {
    pub(super) fn value(&self, name: &str) -> String {
        let parts: Vec<&str> = name.split('.').collect();
        let job = self.job;
        match parts.as_slice() {
            ["inputs", input] => job
                .inputs
                .iter()
                .find(|(k, _)| k == input)
                .map(|(_, v)| v.clone())
                .or_else(|| self.defaults.get(*input).cloned())
                .unwrap_or_else(|| panic!("action.yml reads an undeclared input {input}")),
            ["github", "action_path"] => path_str(&job.action).to_owned(),
            ["github", "workspace"] => path_str(&job.workspace()).to_owned(),
            ["github", "run_id"] => job.run_id.to_string(),
            ["github", "run_attempt"] => "1".into(),
            ["github", "job"] => "smoke".into(),
            ["runner", "os"] => "Linux".into(),
            ["runner", "arch"] => "X64".into(),
            ["runner", "temp"] => path_str(&job.temp()).to_owned(),
            ["steps", id, "outputs", output] => self
                .steps
                .get(*id)
                .and_then(|(_, o)| o.get(*output).cloned())
                .unwrap_or_default(),
            ["steps", id, "outcome"] => self.steps.get(*id).map_or("", |(o, _)| o.as_str()).into(),
            ["env", var] => self.env.get(*var).cloned().unwrap_or_default(),
            _ => panic!("the runner here does not know the context {name}"),
        }
    }

    /// `text` with each `${{ context.path }}` replaced by its value.
    pub(super) fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${{") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("}}").expect("an unclosed ${{") + start;
            out.push_str(&self.value(rest[start + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }

    /// An `if:`: GitHub's `success() && (…)` unless it names a status function itself.
    pub(super) fn condition(&self, expr: &str) -> bool {
        let expr = expr.trim();
        let expr = expr
            .strip_prefix("${{")
            .and_then(|e| e.strip_suffix("}}"))
            .unwrap_or(expr);
        let tokens = tokens(expr);
        let mut parser = Parser {
            tokens: &tokens,
            at: 0,
            ctx: self,
        };
        let value = parser.or();
        assert_eq!(parser.at, tokens.len(), "cannot evaluate the if: {expr}");
        let status = ["success()", "always()", "failure()", "cancelled()"]
            .iter()
            .any(|f| expr.replace(' ', "").contains(f));
        truthy(&value) && (status || !self.failed)
    }
}

/// The `if:` expressions' tokens: names (with dots and dashes), 'strings', operators, parens.
pub(super) fn tokens(expr: &str) -> Vec<String> {
    let mut found = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' {
            let end = chars[i + 1..].iter().position(|&c| c == '\'').unwrap() + i + 1;
            found.push(chars[i..=end].iter().collect());
            i = end + 1;
        } else if ["==", "!=", "&&", "||"].contains(
            &chars[i..(i + 2).min(chars.len())]
                .iter()
                .collect::<String>()
                .as_str(),
        ) {
            found.push(chars[i..i + 2].iter().collect());
            i += 2;
        } else if "!()".contains(c) {
            found.push(c.to_string());
            i += 1;
        } else {
            let end = chars[i..]
                .iter()
                .position(|c| !(c.is_alphanumeric() || "._-".contains(*c)))
                .map_or(chars.len(), |p| p + i);
            assert!(end > i, "cannot read the if: {expr}");
            found.push(chars[i..end].iter().collect());
            i = end;
        }
    }
    found
}

/// A value of an `if:`: `Some(bool)` from a function or an operator, else a string.
pub(super) enum Value {
    Bool(bool),
    Text(String),
}

pub(super) fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Text(t) => !t.is_empty(),
    }
}

pub(super) fn as_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Text(t) => t.clone(),
    }
}

pub(super) struct Parser<'a> {
    pub(super) tokens: &'a [String],
    pub(super) at: usize,
    pub(super) ctx: &'a Contexts<'a>,
}

impl Parser<'_> {
    pub(super) fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    pub(super) fn next(&mut self) -> String {
        self.at += 1;
        self.tokens[self.at - 1].clone()
    }

    pub(super) fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.peek() == Some("||") {
            self.next();
            let right = self.and();
            v = Value::Bool(truthy(&v) || truthy(&right));
        }
        v
    }

    pub(super) fn and(&mut self) -> Value {
        let mut v = self.unary();
        while self.peek() == Some("&&") {
            self.next();
            let right = self.unary();
            v = Value::Bool(truthy(&v) && truthy(&right));
        }
        v
    }

    pub(super) fn unary(&mut self) -> Value {
        if self.peek() == Some("!") {
            self.next();
            return Value::Bool(!truthy(&self.unary()));
        }
        let left = self.primary();
        match self.peek() {
            Some(op @ ("==" | "!=")) => {
                let equal = op == "==";
                self.next();
                let right = self.primary();
                // GitHub compares strings ignoring case.
                let same = as_text(&left).eq_ignore_ascii_case(&as_text(&right));
                Value::Bool(same == equal)
            }
            _ => left,
        }
    }

    pub(super) fn primary(&mut self) -> Value {
        let token = self.next();
        if token == "(" {
            let v = self.or();
            assert_eq!(self.next(), ")");
            return v;
        }
        if let Some(literal) = token.strip_prefix('\'') {
            return Value::Text(literal.trim_end_matches('\'').to_owned());
        }
        if self.peek() == Some("(") {
            self.next();
            assert_eq!(self.next(), ")", "functions here take no arguments");
            let failed = self.ctx.failed;
            return Value::Bool(match token.as_str() {
                "success" => !failed,
                "failure" => failed,
                "always" => true,
                // Nothing cancels a job here.
                "cancelled" => false,
                f => panic!("the runner here does not know {f}()"),
            });
        }
        Value::Text(self.ctx.value(&token))
    }
}

impl Job<'_> {
    pub(super) fn new(action: &Path) -> Job<'static> {
        let root = tempfile::tempdir().unwrap();
        for dir in ["workspace", "temp", "tools", "home"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        Job {
            action: action.to_owned(),
            inputs: Vec::new(),
            env: Vec::new(),
            root,
            run_id: 1,
        }
    }

    pub(super) fn dir(&self, name: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(name)
    }

    pub(super) fn workspace(&self) -> PathBuf {
        self.dir("workspace")
    }

    pub(super) fn temp(&self) -> PathBuf {
        self.dir("temp")
    }

    /// A new job of a later workflow run: fresh runner folders (RUNNER_TEMP, the tool cache,
    /// the workspace), so only what actions/cache restores is carried over.
    pub(super) fn next_run(&mut self) {
        self.root = tempfile::tempdir().unwrap();
        for dir in ["workspace", "temp", "tools", "home"] {
            std::fs::create_dir_all(self.root.path().join(dir)).unwrap();
        }
        self.run_id += 1;
    }

    pub(super) fn run(&self, caches: &mut Caches) -> Ran {
        let action = load(&self.action.join("action.yml"));
        assert_eq!(s(&action["runs"]["using"]), "composite");
        let defaults: BTreeMap<String, String> = action["inputs"]
            .as_hash()
            .unwrap()
            .iter()
            .map(|(k, v)| (s(k).to_owned(), s(&v["default"]).to_owned()))
            .collect();
        for (input, _) in &self.inputs {
            assert!(
                defaults.contains_key(*input),
                "action.yml has no input {input}"
            );
        }
        let mut ctx = Contexts {
            job: self,
            defaults,
            steps: BTreeMap::new(),
            env: self
                .env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
            failed: false,
        };
        let mut path_added: Vec<String> = Vec::new();
        let mut ran = Ran {
            steps: Vec::new(),
            conclusion: Outcome::Success,
            outputs: BTreeMap::new(),
            log: String::new(),
            masks: Vec::new(),
            exit_codes: BTreeMap::new(),
            summary: String::new(),
        };
        let files = self.dir("files");
        std::fs::create_dir_all(&files).unwrap();
        for (n, step) in action["runs"]["steps"].as_vec().unwrap().iter().enumerate() {
            let id = step["id"].as_str().map_or(format!("__{n}"), str::to_owned);
            let name = step["name"].as_str().unwrap_or(&id).to_owned();
            let wanted = step["if"]
                .as_str()
                .map_or(!ctx.failed, |c| ctx.condition(c));
            if !wanted {
                ctx.steps.insert(id, (Outcome::Skipped, BTreeMap::new()));
                ran.steps.push((name, Outcome::Skipped));
                continue;
            }
            if let Some(uses) = step["uses"].as_str() {
                let outputs = self.cache_step(&ctx, uses, &step["with"], caches, &mut ran.log);
                ctx.steps.insert(id, (Outcome::Success, outputs));
                ran.steps.push((name, Outcome::Success));
                continue;
            }
            assert_eq!(
                s(&step["shell"]),
                "bash",
                "step {name}: only bash steps run here"
            );
            let script = s(&step["run"]);
            assert!(
                !script.contains("${{"),
                "step {name}: an expression in run:"
            );
            let file_of = |what: &str| files.join(format!("{n}-{what}"));
            let script_file = file_of("script.sh");
            std::fs::write(&script_file, ctx.substitute(script)).unwrap();
            let (output, github_env, github_path) =
                (file_of("output"), file_of("env"), file_of("path"));
            let summary = file_of("summary");
            for f in [&output, &github_env, &github_path, &summary] {
                std::fs::write(f, "").unwrap();
            }
            let log_file = file_of("log");
            let log = std::fs::File::create(&log_file).unwrap();
            let mut cmd = Command::new("bash");
            cmd.args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .current_dir(self.workspace())
                .env_clear()
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log);
            let mut path = path_added.clone();
            path.reverse();
            path.push(clean_path());
            cmd.env("PATH", path.join(":"))
                .env("HOME", self.dir("home"))
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_WORKSPACE", self.workspace())
                .env("GITHUB_ACTION_PATH", &self.action)
                .env("RUNNER_OS", "Linux")
                .env("RUNNER_ARCH", "X64")
                .env("RUNNER_TEMP", self.temp())
                .env("RUNNER_TOOL_CACHE", self.dir("tools"))
                .env("GITHUB_OUTPUT", &output)
                .env("GITHUB_ENV", &github_env)
                .env("GITHUB_PATH", &github_path)
                .env("GITHUB_STEP_SUMMARY", &summary)
                .envs(&ctx.env);
            if let Some(env) = step["env"].as_hash() {
                for (k, v) in env {
                    cmd.env(s(k), ctx.substitute(s(v)));
                }
            }
            let status = cmd.status().unwrap();
            // The log as the runner reads it; its workflow commands (::add-mask::) are not
            // written anywhere, so neither is this file kept.
            let said = std::fs::read_to_string(&log_file).unwrap();
            std::fs::remove_file(&log_file).unwrap();
            for line in said.lines() {
                if let Some(mask) = line.strip_prefix("::add-mask::") {
                    ran.masks.push(mask.to_owned());
                }
            }
            ran.log.push_str(&said);
            ran.summary
                .push_str(&std::fs::read_to_string(&summary).unwrap());
            let code = status.code().unwrap_or(-1);
            ran.exit_codes.insert(id.clone(), code);
            let outputs: BTreeMap<String, String> =
                key_values(&std::fs::read_to_string(&output).unwrap())
                    .into_iter()
                    .collect();
            ctx.env
                .extend(key_values(&std::fs::read_to_string(&github_env).unwrap()));
            path_added.extend(
                std::fs::read_to_string(&github_path)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
            let outcome = if status.success() {
                Outcome::Success
            } else {
                ctx.failed = true;
                ran.conclusion = Outcome::Failure;
                Outcome::Failure
            };
            ctx.steps.insert(id, (outcome, outputs));
            ran.steps.push((name, outcome));
        }
        for (name, output) in action["outputs"].as_hash().unwrap() {
            ran.outputs
                .insert(s(name).to_owned(), ctx.substitute(s(&output["value"])));
        }
        ran
    }

    /// actions/cache/restore and actions/cache/save, played by `caches`; any other action is
    /// not something this runner can run.
    pub(super) fn cache_step(
        &self,
        ctx: &Contexts,
        uses: &str,
        with: &Yaml,
        caches: &mut Caches,
        log: &mut String,
    ) -> BTreeMap<String, String> {
        let path = PathBuf::from(ctx.substitute(s(&with["path"])));
        let key = ctx.substitute(s(&with["key"]));
        assert!(path.is_absolute(), "{uses}: path {path:?}");
        let mut outputs = BTreeMap::new();
        match uses {
            "actions/cache/restore@v4" => {
                let prefixes = ctx.substitute(s(&with["restore-keys"]));
                let prefixes: Vec<&str> = prefixes.lines().filter(|l| !l.is_empty()).collect();
                let (hit, found) = caches.restore(&key, &prefixes, &path);
                log.push_str(&format!("(actions/cache/restore {key}: {found:?})\n"));
                outputs.insert("cache-hit".into(), hit.to_string());
            }
            "actions/cache/save@v4" => {
                let said = caches.save(&key, &path);
                log.push_str(&format!("(actions/cache/save {key}: {said})\n"));
            }
            other => panic!("the runner here runs no {other}"),
        }
        outputs
    }
}
