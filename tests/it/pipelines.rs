//! Where pipelines meet doksi: the GitHub Action (`action.yml`) and the GitLab CI/CD component
//! (`templates/doksi.yml`). Each is checked against the schema its CI publishes (check-jsonschema's
//! vendored copies), and run as its CI would run it, on this machine (Linux), against a release
//! mirror on 127.0.0.1 (dist.rs's, serving this build packed by dist/archive.sh) and the sandbox.
//!
//! The action runs on a small runner written here: its steps in order, `${{ }}` substituted,
//! `if:` evaluated, bash steps with GITHUB_OUTPUT/GITHUB_ENV/GITHUB_PATH/GITHUB_STEP_SUMMARY as
//! files, and `actions/cache/restore|save` played by a cache of folders kept between the runs of
//! one test (the real actions/cache is not run: only the paths and keys it is given are). The
//! component's job runs as GitLab's runner would: its inputs interpolated, its variables set
//! (project variables winning over the job's), its script under `sh -e`. Neither GitHub's nor
//! GitLab's own runner, macOS or Windows runs here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::{needed_tool, needed_tool_from};
use crate::dist::{Mirror, VERSION, archive_name, check_jsonschema, release, repo, text, walk};
use crate::field_faults::{reply, routed};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// Fast retries and polls, through the `args` input.
const FAST: &str = "--retry-delay 10ms --poll-interval 100ms";

fn load(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

fn s(y: &Yaml) -> &str {
    y.as_str().unwrap_or("")
}

/// The action and the component as a release ships them: a copy of action.yml,
/// gradle-wrapper-snippet/doksiw and templates/doksi.yml, pinned by dist/pin.sh to the SHA256SUMS
/// of the release these tests serve.
struct Pinned {
    dir: tempfile::TempDir,
}

impl Pinned {
    fn new() -> Pinned {
        let dir = tempfile::tempdir().unwrap();
        for file in [
            "action.yml",
            "gradle-wrapper-snippet/doksiw",
            "templates/doksi.yml",
        ] {
            let to = dir.path().join(file);
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(repo().join(file), &to).unwrap();
        }
        let out = Command::new(repo().join("dist/pin.sh"))
            .arg(&release().sums)
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "dist/pin.sh: {}", text(&out.stderr));
        Pinned { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }
}

/// PATH without any folder holding a `doksi`, so only what the action installs is found.
fn clean_path() -> String {
    let inherited = std::env::var_os("PATH").unwrap_or_default();
    let dirs: Vec<PathBuf> = std::env::split_paths(&inherited)
        .filter(|d| !d.join("doksi").exists())
        .collect();
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// `name=value` lines and `name<<DELIMITER` blocks, as GitHub reads GITHUB_OUTPUT and GITHUB_ENV.
fn key_values(text: &str) -> Vec<(String, String)> {
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

// ---------------------------------------------------------------------------------------------
// GitHub's runner, for a composite action.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    fn as_str(self) -> &'static str {
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
struct Caches {
    dir: Option<tempfile::TempDir>,
    saved: Vec<String>,
}

impl Caches {
    fn stash(&mut self, key: &str) -> PathBuf {
        let dir = self.dir.get_or_insert_with(|| tempfile::tempdir().unwrap());
        dir.path().join(key)
    }

    fn save(&mut self, key: &str, path: &Path) -> &'static str {
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
    fn restore(&mut self, key: &str, prefixes: &[&str], path: &Path) -> (bool, Option<String>) {
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

fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// One job on a Linux runner that runs the action once, in folders of its own.
struct Job<'a> {
    action: PathBuf,
    inputs: Vec<(&'a str, String)>,
    env: Vec<(&'a str, String)>,
    root: tempfile::TempDir,
    run_id: u32,
}

/// What running the action gave.
struct Ran {
    steps: Vec<(String, Outcome)>,
    conclusion: Outcome,
    outputs: BTreeMap<String, String>,
    /// Every step's stdout and stderr, as the job's log has them before masking.
    log: String,
    masks: Vec<String>,
    exit_codes: BTreeMap<String, i32>,
    /// The job summary: what the steps appended to GITHUB_STEP_SUMMARY.
    summary: String,
}

impl Ran {
    /// The log less the lines the runner consumes (`::add-mask::`), as a reader sees it before
    /// masking: a secret found here was printed by a step.
    fn unmasked(&self) -> String {
        self.log
            .lines()
            .filter(|l| !l.starts_with("::add-mask::"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn outcome(&self, name: &str) -> Outcome {
        self.steps
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| panic!("no step {name}: {:?}", self.steps))
            .1
    }
}

/// The state the expressions of the running action read.
struct Contexts<'a> {
    job: &'a Job<'a>,
    defaults: BTreeMap<String, String>,
    steps: BTreeMap<String, (Outcome, BTreeMap<String, String>)>,
    env: BTreeMap<String, String>,
    failed: bool,
}

impl Contexts<'_> {
    fn value(&self, name: &str) -> String {
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
    fn substitute(&self, text: &str) -> String {
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
    fn condition(&self, expr: &str) -> bool {
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
fn tokens(expr: &str) -> Vec<String> {
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
enum Value {
    Bool(bool),
    Text(String),
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Text(t) => !t.is_empty(),
    }
}

fn as_text(v: &Value) -> String {
    match v {
        Value::Bool(b) => b.to_string(),
        Value::Text(t) => t.clone(),
    }
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    ctx: &'a Contexts<'a>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> String {
        self.at += 1;
        self.tokens[self.at - 1].clone()
    }

    fn or(&mut self) -> Value {
        let mut v = self.and();
        while self.peek() == Some("||") {
            self.next();
            let right = self.and();
            v = Value::Bool(truthy(&v) || truthy(&right));
        }
        v
    }

    fn and(&mut self) -> Value {
        let mut v = self.unary();
        while self.peek() == Some("&&") {
            self.next();
            let right = self.unary();
            v = Value::Bool(truthy(&v) && truthy(&right));
        }
        v
    }

    fn unary(&mut self) -> Value {
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

    fn primary(&mut self) -> Value {
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
    fn new(action: &Path) -> Job<'static> {
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

    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().canonicalize().unwrap().join(name)
    }

    fn workspace(&self) -> PathBuf {
        self.dir("workspace")
    }

    fn temp(&self) -> PathBuf {
        self.dir("temp")
    }

    /// A new job of a later workflow run: fresh runner folders (RUNNER_TEMP, the tool cache,
    /// the workspace), so only what actions/cache restores is carried over.
    fn next_run(&mut self) {
        self.root = tempfile::tempdir().unwrap();
        for dir in ["workspace", "temp", "tools", "home"] {
            std::fs::create_dir_all(self.root.path().join(dir)).unwrap();
        }
        self.run_id += 1;
    }

    fn run(&self, caches: &mut Caches) -> Ran {
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
    fn cache_step(
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

/// What the pipelines here meet: the sandbox, a mirror serving `archive` as this release's
/// archive, and the action and component pinned to the release's sums.
struct World {
    sb: Sandbox,
    mirror: Mirror,
    pinned: Pinned,
}

impl World {
    fn serving(archive: Vec<u8>) -> World {
        World {
            sb: Sandbox::start(&[]),
            mirror: Mirror::of(archive, 1),
            pinned: Pinned::new(),
        }
    }

    /// A job running the action, its env pointing doksiw at the mirror and doksi at the sandbox.
    fn job<'a>(&self) -> Job<'a> {
        let mut job = Job::new(&self.pinned.root());
        job.env = vec![
            ("DOKSI_DIST_URL", self.mirror.url.clone()),
            ("DOKSI_BASE_URL", self.sb.base_url.clone()),
        ];
        job
    }

    /// The project's CI/CD variables for a GitLab job: the key, the sandbox, the mirror.
    fn gitlab_variables(&self) -> [(&'static str, String); 3] {
        [
            ("DOKSI_API_KEY", self.sb.key.clone()),
            ("DOKSI_BASE_URL", self.sb.base_url.clone()),
            ("DOKSI_DIST_URL", self.mirror.url.clone()),
        ]
    }

    fn template(&self) -> PathBuf {
        self.pinned.root().join("templates/doksi.yml")
    }
}

fn good_archive() -> Vec<u8> {
    std::fs::read(&release().archive).unwrap()
}

/// The release's archive with one bit flipped.
fn tampered_archive() -> Vec<u8> {
    let mut tampered = good_archive();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 1;
    tampered
}

fn bash_and_curl() -> bool {
    needed_tool("bash", "bash").is_some() && needed_tool("curl", "curl").is_some()
}

/// Every file the job left (runner folders, the step files), read for `secret`; the doksi
/// binary, checked as the very bytes of this build, is the one file not read.
fn assert_nowhere(root: &Path, secret: &str) {
    let binary = std::fs::read(env!("CARGO_BIN_EXE_doksi")).unwrap();
    for entry in walkdir::WalkDir::new(root) {
        let entry = entry.unwrap();
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        if bytes.len() == binary.len() && bytes == binary {
            continue;
        }
        let found = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!found, "the secret is in {}", entry.path().display());
    }
}

#[test]
fn github_action_installs_the_pinned_release_runs_doksi_ci_and_gives_its_outputs() {
    if !bash_and_curl() {
        return;
    }
    let world = World::serving(good_archive());
    let (sb, mirror) = (&world.sb, &world.mirror);
    let mut caches = Caches::default();
    let mut job = world.job();
    job.inputs = vec![
        ("project", path_str(&unlock_apk()).to_owned()),
        // Commas and a line break between the items, blanks around them.
        ("categories", "cat_flaky,\n cat_smoke ".to_owned()),
        ("retries", "1".to_owned()),
        ("junit", "reports/TEST-doksi.xml".to_owned()),
        // Split as a shell would: split at the blank inside the quotes, `build'` would be one
        // more APK to look for, and doksi would stop there.
        ("args", format!("{FAST} --name 'Nightly build'")),
        ("api-key", sb.key.clone()),
    ];
    let ran = job.run(&mut caches);
    assert_eq!(ran.conclusion, Outcome::Success, "{}", ran.log);
    let steps: Vec<(&str, Outcome)> = ran.steps.iter().map(|(n, o)| (n.as_str(), *o)).collect();
    assert_eq!(
        steps,
        [
            ("The doksi release this action pins", Outcome::Success),
            ("The installed doksi, from an earlier run", Outcome::Success),
            (
                "Install doksi (the pinned release, SHA-256 checked by doksiw)",
                Outcome::Success
            ),
            (
                "Install doksi on Windows (the pinned release's zip, SHA-256 checked)",
                Outcome::Skipped
            ),
            ("Keep the installed doksi for later runs", Outcome::Success),
            (
                "The target cache, from the newest earlier run",
                Outcome::Success
            ),
            ("doksi ci", Outcome::Success),
            ("Keep the target cache for later runs", Outcome::Success),
        ]
    );
    let want = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        ran.outputs,
        want(&[
            ("run-id", "run_1"),
            ("status", "passed"),
            ("target-ids", "bin_1"),
            ("run-ids", "run_1,run_2"),
            ("flaky", "1"),
        ]),
        "{}",
        ran.log
    );
    assert!(
        ran.log.contains("checked against its pinned SHA-256"),
        "{}",
        ran.log
    );
    assert_eq!(
        mirror.requests(),
        [format!("/v{VERSION}/{}", archive_name())]
    );
    let junit = std::fs::read_to_string(job.workspace().join("reports/TEST-doksi.xml")).unwrap();
    assert!(
        ran.summary
            .contains("Doksi run run\\_1 passed after 1 re-run"),
        "{}",
        ran.summary
    );
    assert!(junit.contains("<testsuite"), "{junit}");
    // The key is masked, and written nowhere: not in the log (masking aside), not in a file.
    assert_eq!(ran.masks, [sb.key.as_str()]);
    assert!(!ran.unmasked().contains(&sb.key), "{}", ran.log);
    assert_nowhere(job.root.path(), &sb.key);

    // A later workflow run, on fresh runner folders, the key from the job's environment: the
    // binary and the target cache come back from actions/cache, nothing is downloaded or
    // uploaded again.
    job.next_run();
    job.inputs = vec![
        ("project", path_str(&unlock_apk()).to_owned()),
        ("categories", "cat_smoke".to_owned()),
        ("args", FAST.to_owned()),
    ];
    job.env.push(("DOKSI_API_KEY", sb.key.clone()));
    let again = job.run(&mut caches);
    assert_eq!(again.conclusion, Outcome::Success, "{}", again.log);
    assert_eq!(
        mirror.requests().len(),
        1,
        "downloaded again: {}",
        again.log
    );
    assert_eq!(sb.count("POST /uploads"), 1, "{}", again.log);
    assert!(again.log.contains("cached: target bin_1"), "{}", again.log);
    assert_eq!(
        again.outcome("Keep the installed doksi for later runs"),
        Outcome::Skipped
    );
    assert_eq!(again.outputs["run-id"], "run_3");
    assert_eq!(again.masks, [sb.key.as_str()]);
    assert_nowhere(job.root.path(), &sb.key);
}

#[test]
fn github_action_fails_with_a_failing_run_posts_to_the_masked_webhook_and_keeps_the_target_cache() {
    if !bash_and_curl() {
        return;
    }
    let world = World::serving(good_archive());
    let sb = &world.sb;
    let (hooks, posted) = routed(|_| reply(200, "ok"));
    let webhook = format!("{hooks}/hooks/T0001/B0002/webhook-secret-path");
    let mut caches = Caches::default();
    let mut job = world.job();
    job.inputs = vec![
        ("project", path_str(&unlock_apk()).to_owned()),
        ("categories", "cat_failing".to_owned()),
        ("args", FAST.to_owned()),
        ("notify", webhook.clone()),
    ];
    job.env.push(("DOKSI_API_KEY", sb.key.clone()));
    let ran = job.run(&mut caches);
    assert_eq!(ran.conclusion, Outcome::Failure);
    assert_eq!(
        posted.lines(),
        ["POST /api/hooks/T0001/B0002/webhook-secret-path"],
        "{}",
        ran.log
    );
    assert_eq!(ran.masks, [sb.key.as_str(), webhook.as_str()]);
    for secret in [&sb.key, &webhook] {
        assert!(!ran.unmasked().contains(secret.as_str()), "{}", ran.log);
        assert_nowhere(job.root.path(), secret);
    }
    assert_eq!(ran.outcome("doksi ci"), Outcome::Failure);
    assert_eq!(ran.exit_codes["doksi"], 1, "{}", ran.log);
    assert_eq!(ran.outputs["status"], "failed");
    assert_eq!(ran.outputs["run-id"], "run_1");
    assert_eq!(ran.outputs["flaky"], "0");
    assert_eq!(
        ran.outcome("Keep the target cache for later runs"),
        Outcome::Success
    );
    assert!(
        caches
            .saved
            .iter()
            .any(|k| k.starts_with("doksi-targets-Linux-")),
        "{:?}",
        caches.saved
    );
}

#[test]
fn github_action_refuses_a_tampered_archive_and_runs_nothing() {
    if !bash_and_curl() {
        return;
    }
    let world = World::serving(tampered_archive());
    let sb = &world.sb;
    let mut caches = Caches::default();
    let mut job = world.job();
    job.inputs = vec![
        ("project", path_str(&unlock_apk()).to_owned()),
        ("categories", "cat_smoke".to_owned()),
        ("api-key", sb.key.clone()),
    ];
    let ran = job.run(&mut caches);
    assert_eq!(ran.conclusion, Outcome::Failure);
    assert_eq!(ran.exit_codes["install"], 127, "{}", ran.log);
    assert!(ran.log.contains("deleted, not run"), "{}", ran.log);
    assert_eq!(ran.outcome("doksi ci"), Outcome::Skipped);
    assert_eq!(
        ran.outcome("Keep the target cache for later runs"),
        Outcome::Skipped
    );
    assert_eq!(ran.outputs["run-id"], "");
    assert_eq!(sb.total(), 0, "doksi reached the API");
    assert!(caches.saved.is_empty(), "{:?}", caches.saved);
    let tools = job.dir("tools");
    assert!(
        !walk(&tools).iter().any(|f| f.ends_with("/doksi")),
        "{:?}",
        walk(&tools)
    );
}

// ---------------------------------------------------------------------------------------------
// Schemas.

fn checker() -> Option<PathBuf> {
    needed_tool_from(
        "check-jsonschema",
        "pip install check-jsonschema; .ci/run installs it",
    )
}

fn assert_valid(checker: &Path, schema: &str, file: &Path) {
    let out = check_jsonschema(checker, schema, file);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn assert_refused(checker: &Path, schema: &str, file: &Path) {
    let out = check_jsonschema(checker, schema, file);
    assert!(!out.status.success(), "{}", text(&out.stdout));
}

#[test]
fn action_passes_githubs_action_schema_and_a_broken_copy_does_not() {
    let Some(checker) = checker() else {
        return;
    };
    assert_valid(
        &checker,
        "vendor.github-actions",
        &repo().join("action.yml"),
    );
    let action = std::fs::read_to_string(repo().join("action.yml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("action.yml");
    // A composite step without its shell, which GitHub refuses.
    std::fs::write(&broken, action.replacen("      shell: bash\n", "", 1)).unwrap();
    assert_refused(&checker, "vendor.github-actions", &broken);
}

// ---------------------------------------------------------------------------------------------
// The GitLab component.

/// The component's two documents: its spec's input defaults, and the job document.
fn component(path: &Path) -> (BTreeMap<String, String>, Yaml) {
    let docs = YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(docs.len(), 2, "spec, ---, then the jobs");
    let defaults = docs[0]["spec"]["inputs"]
        .as_hash()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let default = match &v["default"] {
                Yaml::String(s) => s.clone(),
                Yaml::Integer(i) => i.to_string(),
                other => panic!("input {k:?} has the default {other:?}"),
            };
            (s(k).to_owned(), default)
        })
        .collect();
    (defaults, docs[1].clone())
}

/// `$[[ inputs.NAME ]]` replaced in every key and string of `doc`, as GitLab interpolates an
/// included component: the given inputs, else the spec's defaults; an unknown one fails.
fn interpolate(doc: &Yaml, inputs: &BTreeMap<String, String>) -> Yaml {
    let text = |t: &str| {
        let mut out = String::new();
        let mut rest = t;
        while let Some(start) = rest.find("$[[") {
            out.push_str(&rest[..start]);
            let end = rest[start..].find("]]").unwrap() + start;
            let name = rest[start + 3..end].trim();
            let input = name.strip_prefix("inputs.").unwrap();
            out.push_str(
                inputs
                    .get(input)
                    .unwrap_or_else(|| panic!("no input {input}")),
            );
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    };
    match doc {
        Yaml::String(t) => Yaml::String(text(t)),
        Yaml::Array(items) => Yaml::Array(items.iter().map(|i| interpolate(i, inputs)).collect()),
        Yaml::Hash(map) => Yaml::Hash(
            map.iter()
                .map(|(k, v)| (interpolate(k, inputs), interpolate(v, inputs)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn to_json(doc: &Yaml) -> serde_json::Value {
    match doc {
        Yaml::String(t) => t.clone().into(),
        Yaml::Integer(i) => (*i).into(),
        Yaml::Boolean(b) => (*b).into(),
        Yaml::Array(items) => items.iter().map(to_json).collect(),
        Yaml::Hash(map) => map
            .iter()
            .map(|(k, v)| (s(k).to_owned(), to_json(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Yaml::Null => serde_json::Value::Null,
        other => panic!("{other:?} in the component"),
    }
}

/// The component as a project including it sees it: the template's inputs given `inputs`
/// over its defaults.
fn included(template: &Path, inputs: &[(&str, &str)]) -> Yaml {
    let (mut all, doc) = component(template);
    for (k, v) in inputs {
        assert!(all.contains_key(*k), "the component has no input {k}");
        all.insert((*k).to_owned(), (*v).to_owned());
    }
    interpolate(&doc, &all)
}

#[test]
fn component_as_included_passes_gitlabs_ci_schema_and_a_broken_copy_does_not() {
    let Some(checker) = checker() else {
        return;
    };
    let doc = included(
        &repo().join("templates/doksi.yml"),
        &[("variant", "release"), ("categories", "cat_smoke")],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gitlab-ci.json");
    let mut json = to_json(&doc);
    std::fs::write(&file, json.to_string()).unwrap();
    assert_valid(&checker, "vendor.gitlab-ci", &file);
    // `when` misspelt in the artifacts, which GitLab refuses.
    json["doksi"]["artifacts"]["whn"] = json["doksi"]["artifacts"]["when"].take();
    json["doksi"]["artifacts"]
        .as_object_mut()
        .unwrap()
        .remove("when");
    std::fs::write(&file, json.to_string()).unwrap();
    assert_refused(&checker, "vendor.gitlab-ci", &file);
}

/// `$NAME` and `${NAME}` in a variable's value, from `env`, as GitLab expands them.
fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let (name, len) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced.find('}').unwrap();
            (&braced[..end], end + 2)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..end], end)
        };
        out.push_str(env.get(name).map_or("", String::as_str));
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// What a GitLab job run gave.
struct Gitlab {
    code: i32,
    log: String,
}

/// Runs the `doksi` job of `doc` as GitLab's runner does: in the project folder, its variables
/// set (expanded from the predefined ones; `project` variables, the CI/CD settings', win), its
/// script's lines as one `sh -e` script.
fn run_gitlab_job(doc: &Yaml, project_dir: &Path, project: &[(&str, String)]) -> Gitlab {
    let job = &doc["doksi"];
    let mut env: BTreeMap<String, String> = BTreeMap::from([
        ("PATH".into(), clean_path()),
        ("HOME".into(), path_str(&project_dir.join(".home")).into()),
        ("CI".into(), "true".into()),
        ("GITLAB_CI".into(), "true".into()),
        ("CI_PROJECT_DIR".into(), path_str(project_dir).into()),
    ]);
    for (k, v) in job["variables"].as_hash().unwrap() {
        let value = expand(s(v), &env);
        env.insert(s(k).to_owned(), value);
    }
    env.extend(project.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    let script: Vec<&str> = job["script"].as_vec().unwrap().iter().map(s).collect();
    let file = project_dir.join(".gitlab-script.sh");
    std::fs::write(&file, script.join("\n")).unwrap();
    let out = Command::new("sh")
        .arg("-e")
        .arg(&file)
        .current_dir(project_dir)
        .env_clear()
        .envs(&env)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    std::fs::remove_file(&file).unwrap();
    Gitlab {
        code: out.status.code().unwrap_or(-1),
        log: format!("{}{}", text(&out.stdout), text(&out.stderr)),
    }
}

#[test]
fn component_job_installs_the_pin_runs_doksi_ci_and_leaves_the_junit_report_for_gitlab() {
    if needed_tool("curl", "curl").is_none() {
        return;
    }
    let world = World::serving(good_archive());
    let (sb, mirror) = (&world.sb, &world.mirror);
    let template = world.template();
    let apk = unlock_apk();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().canonicalize().unwrap();
    let variables = world.gitlab_variables();
    let job = |categories: &str| {
        included(
            &template,
            &[
                ("project", path_str(&apk)),
                ("categories", categories),
                ("args", FAST),
                ("junit", "reports/doksi-junit.xml"),
            ],
        )
    };

    let passing = job("cat_smoke");
    let junit_path = s(&passing["doksi"]["artifacts"]["reports"]["junit"]).to_owned();
    assert_eq!(junit_path, "reports/doksi-junit.xml");
    assert_eq!(s(&passing["doksi"]["artifacts"]["when"]), "always");
    let ran = run_gitlab_job(&passing, &dir, &variables);
    assert_eq!(ran.code, 0, "{}", ran.log);
    assert!(
        ran.log.contains("checked against its SHA-256"),
        "{}",
        ran.log
    );
    assert!(
        std::fs::read_to_string(dir.join(&junit_path))
            .unwrap()
            .contains("<testsuite")
    );
    assert!(!ran.log.contains(&sb.key), "{}", ran.log);

    // What the job's cache keeps is all a later job needs: a job that starts with the cached
    // paths alone downloads and uploads nothing. It fails, exit 1, and the report is there.
    let kept: Vec<&str> = passing["doksi"]["cache"]
        .as_vec()
        .unwrap()
        .iter()
        .flat_map(|c| c["paths"].as_vec().unwrap().iter().map(s))
        .collect();
    assert_eq!(kept, [".doksi-cache/bin/", ".doksi-cache/targets/"]);
    let later = tempfile::tempdir().unwrap();
    let later_dir = later.path().canonicalize().unwrap();
    for path in &kept {
        copy_tree(&dir.join(path), &later_dir.join(path));
    }
    let failing = job("cat_failing");
    let ran = run_gitlab_job(&failing, &later_dir, &variables);
    assert_eq!(ran.code, 1, "{}", ran.log);
    assert!(ran.log.contains("cached: target bin_1"), "{}", ran.log);
    assert_eq!(mirror.requests().len(), 1, "downloaded again");
    assert_eq!(sb.count("POST /uploads"), 1);
    assert!(
        std::fs::read_to_string(later_dir.join(&junit_path))
            .unwrap()
            .contains("<failure")
    );
}

#[test]
fn component_job_refuses_a_tampered_archive_and_another_version_without_its_sums() {
    if needed_tool("curl", "curl").is_none() {
        return;
    }
    let world = World::serving(tampered_archive());
    let (sb, mirror) = (&world.sb, &world.mirror);
    let template = world.template();
    let project = tempfile::tempdir().unwrap();
    let dir = project.path().canonicalize().unwrap();
    let variables = world.gitlab_variables();
    let apk = unlock_apk();
    let ran = run_gitlab_job(
        &included(&template, &[("project", path_str(&apk))]),
        &dir,
        &variables,
    );
    assert_eq!(ran.code, 127, "{}", ran.log);
    assert!(ran.log.contains("deleted, not run"), "{}", ran.log);
    assert_eq!(walk(&dir), Vec::<String>::new());
    assert_eq!(sb.total(), 0);

    let other = run_gitlab_job(
        &included(
            &template,
            &[("project", path_str(&apk)), ("version", "9.9.9")],
        ),
        &dir,
        &variables,
    );
    assert_eq!(other.code, 127, "{}", other.log);
    assert!(
        other
            .log
            .contains(&format!("it pins doksi {VERSION}, not 9.9.9")),
        "{}",
        other.log
    );
    assert_eq!(mirror.requests().len(), 1);
}

/// Inputs reach the scripts through the environment only: no `${{ }}` in an action's `run:` (a
/// test id or a branch name given as an input could otherwise become a command), no `$[[ ]]` in
/// the component's `script:`.
#[test]
fn no_input_is_pasted_into_a_script() {
    let action = load(&repo().join("action.yml"));
    for step in action["runs"]["steps"].as_vec().unwrap() {
        if let Some(run) = step["run"].as_str() {
            assert!(!run.contains("${{"), "an expression in a script: {run}");
        }
    }
    let (_, doc) = component(&repo().join("templates/doksi.yml"));
    for line in doc["doksi"]["script"].as_vec().unwrap() {
        assert!(
            !s(line).contains("$[["),
            "an input in the script: {}",
            s(line)
        );
    }
}

#[test]
fn dist_pin_writes_a_release_into_doksiw_and_the_component_and_refuses_what_is_no_sha256sums() {
    let pinned = Pinned::new();
    let a = "0a".repeat(32);
    let b = "1b".repeat(32);
    let sums = pinned.root().join("SHA256SUMS");
    std::fs::write(
        &sums,
        format!(
            "{a}  doksi-0.2.0-x86_64-unknown-linux-musl.tar.gz\n{b}  doksi-0.2.0-x86_64-pc-windows-msvc.zip\n"
        ),
    )
    .unwrap();
    let pin = |sums: &Path| {
        Command::new(repo().join("dist/pin.sh"))
            .arg(sums)
            .arg(pinned.root())
            .output()
            .unwrap()
    };
    let out = pin(&sums);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let template = pinned.root().join("templates/doksi.yml");
    let (defaults, doc) = component(&template);
    assert_eq!(defaults["version"], "0.2.0");
    let variables = &doc["doksi"]["variables"];
    assert_eq!(s(&variables["DOKSI_PINNED_VERSION"]), "0.2.0");
    assert_eq!(
        s(&variables["DOKSI_PINNED_SHA256SUMS"]),
        format!(
            "{a}  doksi-0.2.0-x86_64-unknown-linux-musl.tar.gz\n{b}  doksi-0.2.0-x86_64-pc-windows-msvc.zip\n"
        )
    );
    let doksiw =
        std::fs::read_to_string(pinned.root().join("gradle-wrapper-snippet/doksiw")).unwrap();
    assert!(doksiw.contains("DOKSI_VERSION=0.2.0\n"));
    assert!(doksiw.contains(&format!("{b}  doksi-0.2.0-x86_64-pc-windows-msvc.zip\n")));

    // What is not a release's SHA256SUMS changes neither file.
    let before = std::fs::read_to_string(&template).unwrap();
    std::fs::write(&sums, "<html>rate limited</html>\n").unwrap();
    let out = pin(&sums);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not a SHA256SUMS line"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&template).unwrap(), before);
    assert!(
        std::fs::read_to_string(pinned.root().join("gradle-wrapper-snippet/doksiw"))
            .unwrap()
            .contains("DOKSI_VERSION=0.2.0\n")
    );
}
