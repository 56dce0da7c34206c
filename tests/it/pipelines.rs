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
use std::process::Command;

use yaml_rust2::{Yaml, YamlLoader};

use crate::common::{needed_tool, needed_tool_from};
use crate::dist::{Mirror, VERSION, archive_name, check_jsonschema, release, repo, text, walk};
use crate::field_faults::{reply, routed};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

mod gitlab;
mod runner;

use gitlab::{component, included, run_gitlab_job, to_json};
use runner::{Caches, Job, Outcome};

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

// ---------------------------------------------------------------------------------------------
// The docs' pipelines.

/// The fenced `yaml` blocks of README.md and docs/*.md, each with where it starts.
fn yaml_blocks() -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    for file in crate::docs::doc_files() {
        let name = file.strip_prefix(repo()).unwrap().display().to_string();
        let mut open: Option<(usize, String)> = None;
        for (i, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            match (&mut open, line.trim_start()) {
                (None, "```yaml") => open = Some((i + 1, String::new())),
                (Some((at, body)), "```") => {
                    blocks.push((format!("{name}:{at}"), std::mem::take(body)));
                    open = None;
                }
                (Some((_, body)), _) => {
                    body.push_str(line);
                    body.push('\n');
                }
                (None, _) => {}
            }
        }
    }
    blocks
}

/// The keys of a mapping.
fn keys(y: &Yaml) -> Vec<String> {
    y.as_hash()
        .map(|h| h.keys().map(|k| s(k).to_owned()).collect())
        .unwrap_or_default()
}

/// Every workflow and GitLab pipeline the docs show passes the schema its CI publishes, and each
/// use of the action or the component names this release and only inputs (and outputs) they
/// declare: a renamed input or a version bump that the docs missed fails here. Fragments (a step
/// list, Bitrise's steps) are not whole files and are left out, counted.
#[test]
fn the_docs_pipelines_pass_their_schemas_and_use_the_action_and_component_as_declared() {
    let Some(checker) = checker() else {
        return;
    };
    let action = load(&repo().join("action.yml"));
    let (action_inputs, action_outputs) = (keys(&action["inputs"]), keys(&action["outputs"]));
    let (component_inputs, _) = component(&repo().join("templates/doksi.yml"));
    let dir = tempfile::tempdir().unwrap();
    let (mut workflows, mut pipelines, mut actions, mut components) = (0, 0, 0, 0);
    for (at, body) in yaml_blocks() {
        let doc = YamlLoader::load_from_str(&body)
            .unwrap_or_else(|e| panic!("{at}: not YAML: {e}"))
            .remove(0);
        let top = keys(&doc);
        let file = dir.path().join("pipeline.json");
        std::fs::write(&file, to_json(&doc).to_string()).unwrap();
        if top.iter().any(|k| k == "jobs") && top.iter().any(|k| k == "on") {
            workflows += 1;
            let out = check_jsonschema(&checker, "vendor.github-workflows", &file);
            assert!(out.status.success(), "{at}: {}", text(&out.stdout));
            for job in doc["jobs"].as_hash().unwrap().values() {
                for step in job["steps"].as_vec().into_iter().flatten() {
                    let Some(version) = s(&step["uses"]).strip_prefix("doksi-ai/doksi@") else {
                        continue;
                    };
                    actions += 1;
                    assert_eq!(version, format!("v{VERSION}"), "{at}: the action's version");
                    for input in keys(&step["with"]) {
                        assert!(action_inputs.contains(&input), "{at}: no input {input}");
                    }
                    let id = s(&step["id"]);
                    let used = format!("steps.{id}.outputs.");
                    for (rest, _) in body.match_indices(&used) {
                        let name: String = body[rest + used.len()..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                            .collect();
                        assert!(
                            !id.is_empty() && action_outputs.contains(&name),
                            "{at}: no output {name}"
                        );
                    }
                }
            }
        } else if top.iter().any(|k| k == "include")
            || doc.as_hash().is_some_and(|h| {
                h.values()
                    .any(|job| !matches!(job["script"], Yaml::BadValue))
            })
        {
            pipelines += 1;
            let out = check_jsonschema(&checker, "vendor.gitlab-ci", &file);
            assert!(out.status.success(), "{at}: {}", text(&out.stdout));
            for include in doc["include"].as_vec().into_iter().flatten() {
                let Some((_, version)) =
                    s(&include["component"]).split_once("/doksi-ai/doksi/doksi@")
                else {
                    continue;
                };
                components += 1;
                assert_eq!(version, VERSION, "{at}: the component's version");
                for input in keys(&include["inputs"]) {
                    assert!(
                        component_inputs.contains_key(&input),
                        "{at}: no input {input}"
                    );
                }
            }
        }
    }
    assert!(
        workflows >= 3 && actions >= 3,
        "{workflows} workflows, {actions} uses of the action"
    );
    assert!(
        pipelines >= 3 && components >= 2,
        "{pipelines} GitLab pipelines, {components} includes"
    );
}
