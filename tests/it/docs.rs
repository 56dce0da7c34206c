//! The docs cannot drift from the binary.
//!
//! - Every ```console example of README.md and docs/*.md (`$ doksi …` lines, each followed by what
//!   it prints, stdout and stderr together as a terminal shows them, and `? CODE` when it does not
//!   exit 0) is run by trycmd against a sandbox of its own, from the repository's root, on the
//!   example project shipped in examples/shop. An example whose output changes fails here until the
//!   docs say what the binary says. What varies from run to run is written as trycmd's wildcards:
//!   `[PORT]` the sandbox's port, `[CACHE]` the target cache's folder, `[..]` any text in a line
//!   (a temporary folder, a time), `...` any lines.
//! - docs/reference.md's flag table and variable list hold exactly the flags and `DOKSI_*`
//!   variables clap defines, walked from `doksi::cli::Cli::command()`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::CommandFactory;

use crate::sandbox::Sandbox;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every docs/*.md.
pub(crate) fn doc_files() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// The info string of each fenced block's opening line, with its line number.
fn fences(text: &str) -> Vec<(usize, String)> {
    let mut open = None::<String>;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        if ticks < 3 {
            continue;
        }
        match &open {
            Some(fence) if line.trim_end() == fence => open = None,
            Some(_) => {}
            None => {
                open = Some("`".repeat(ticks));
                out.push((n + 1, line[ticks..].trim().to_owned()));
            }
        }
    }
    out
}

/// The command lines (`$ …`) of the ```console blocks trycmd runs.
fn console_commands(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut inside = false;
    for (n, line) in text.lines().enumerate() {
        if line.starts_with("```") {
            inside = !inside && line.trim_start_matches('`').trim() == "console";
            continue;
        }
        if inside && let Some(cmd) = line.strip_prefix("$ ") {
            out.push((n + 1, cmd.to_owned()));
        }
    }
    out
}

/// Variables set in the test's own environment that would change what doksi prints (a CI
/// runner's, a proxy): each given to the examples empty, which doksi takes as unset.
fn variables_to_blank() -> Vec<String> {
    let mut names: BTreeSet<String> = doksi::environment::GROUPS
        .iter()
        .flat_map(|g| g.names.iter().map(|n| n.to_string()))
        .collect();
    for proxy in ["HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "NO_PROXY"] {
        names.insert(proxy.to_lowercase());
    }
    names.extend(clap_variables());
    names.extend(
        std::env::vars_os()
            .filter_map(|(k, _)| k.into_string().ok())
            .filter(|k| k.starts_with("DOKSI_")),
    );
    names
        .into_iter()
        .filter(|n| !["PATH", "HOME"].contains(&n.as_str()))
        .filter(|n| std::env::var_os(n).is_some())
        .collect()
}

/// Runs the console examples of `doc` (a path from the repository's root) against a sandbox of
/// their own, with a cache and HOME of their own.
fn run_examples(doc: &str) {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let commands = console_commands(&text);
    assert!(!commands.is_empty(), "{doc} has no console example");
    let sandbox = Sandbox::start(&[]);
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    let port = port(&sandbox);
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("doksi", Path::new(env!("CARGO_BIN_EXE_doksi")))
        .timeout(std::time::Duration::from_secs(120));
    for name in variables_to_blank() {
        cases.env(name, "");
    }
    cases
        .env("HOME", home.path().to_str().unwrap())
        .env(
            "XDG_CACHE_HOME",
            home.path().join(".cache").to_str().unwrap(),
        )
        .env("DOKSI_BASE_URL", &sandbox.base_url)
        .env("DOKSI_API_KEY", &sandbox.key)
        .env("DOKSI_CACHE_DIR", cache.to_str().unwrap());
    cases
        .insert_var("[PORT]", port)
        .unwrap()
        .insert_var("[CACHE]", cache.to_str().unwrap().to_owned())
        .unwrap();
    let started = Instant::now();
    cases.case(root().join(doc));
    cases.run();
    eprintln!(
        "{doc}: {} console commands ran in {:.1?}",
        commands.len(),
        started.elapsed()
    );
}

#[test]
fn readme_examples_run() {
    run_examples("README.md");
}

#[test]
fn guide_examples_run() {
    run_examples("docs/guide.md");
}

#[test]
fn ci_examples_run() {
    run_examples("docs/ci.md");
}

#[test]
fn reliability_examples_run() {
    run_examples("docs/reliability.md");
}

#[test]
fn reference_examples_run() {
    run_examples("docs/reference.md");
}

/// The files the tests above run: every doc with a console example is one of them.
const RUN: [&str; 5] = [
    "README.md",
    "docs/guide.md",
    "docs/ci.md",
    "docs/reliability.md",
    "docs/reference.md",
];

/// trycmd runs a block with no info string too, and skips a command whose program it does not
/// know: so every block says its language, and every console command is doksi (after any
/// `NAME=value` variables), run from the repository on what it ships.
#[test]
fn every_console_example_is_a_doksi_command_that_runs() {
    let mut with_examples = BTreeSet::new();
    let mut total = 0;
    for file in doc_files() {
        let name = file
            .strip_prefix(root())
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, info) in fences(&text) {
            assert!(
                !info.is_empty(),
                "{name}:{line}: a fenced block without a language (trycmd would run it): say console, text, sh, yaml, …"
            );
        }
        let commands = console_commands(&text);
        for (line, cmd) in &commands {
            let program = cmd
                .split_whitespace()
                .find(|w| !w.contains('='))
                .unwrap_or("");
            assert_eq!(program, "doksi", "{name}:{line}: `$ {cmd}` is not doksi");
            for shell in [";", "&&", "|", ">", "2>&1", "#"] {
                assert!(
                    !cmd.split_whitespace().any(|w| w == shell),
                    "{name}:{line}: `$ {cmd}` uses the shell's {shell}, which the examples' runner has not"
                );
            }
            assert!(
                !cmd.contains("/tmp/") && !cmd.contains("/work/"),
                "{name}:{line}: `$ {cmd}` names a path outside the repository"
            );
        }
        if !commands.is_empty() {
            with_examples.insert(name);
        }
        total += commands.len();
    }
    let run: BTreeSet<String> = RUN.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        with_examples, run,
        "the docs with console examples, and those run"
    );
    assert!(total >= 15, "only {total} console commands");
}

/// The ```console,ignore,stdout blocks: trycmd shows stdout and stderr together, as a terminal
/// does; these show what stdout alone holds (`> results.txt`). Each runs here against a sandbox
/// of its own, from the repository's root, its stdout compared with snapbox and the same
/// wildcards.
#[test]
fn stdout_only_examples_run() {
    let mut ran = 0;
    for file in doc_files() {
        let name = file.strip_prefix(root()).unwrap().display().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines().enumerate();
        while let Some((n, line)) = lines.next() {
            if line.trim() != "```console,ignore,stdout" {
                continue;
            }
            let block: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| !l.starts_with("```"))
                .collect();
            let cmd = block[0]
                .strip_prefix("$ doksi ")
                .unwrap_or_else(|| panic!("{name}:{}: not `$ doksi …`", n + 2));
            let (code, expected) = match block[1].strip_prefix("? ") {
                Some(code) => (code.parse::<i32>().unwrap(), &block[2..]),
                None => (0, &block[1..]),
            };
            let expected = expected.join("\n");
            let sandbox = Sandbox::start(&[]);
            let mut command = sandbox.command();
            let out = command
                .current_dir(root())
                .args(cmd.split_whitespace())
                .output()
                .unwrap();
            assert_eq!(
                out.status.code(),
                Some(code),
                "{name}:{}: {cmd}: {}",
                n + 2,
                String::from_utf8_lossy(&out.stderr)
            );
            let mut redactions = snapbox::Redactions::new();
            redactions.insert("[PORT]", port(&sandbox)).unwrap();
            snapbox::Assert::new().redact_with(redactions).eq(
                String::from_utf8_lossy(&out.stdout).trim_end().to_owned(),
                expected.trim_end().to_owned(),
            );
            ran += 1;
        }
    }
    assert!(ran >= 1, "no stdout-only example");
}

fn port(sandbox: &Sandbox) -> String {
    sandbox
        .base_url
        .trim_start_matches("http://127.0.0.1:")
        .split('/')
        .next()
        .unwrap()
        .to_owned()
}

/// The README stays a front page.
#[test]
fn the_readme_is_a_front_page_and_its_links_lead_somewhere() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(lines <= 300, "README.md has {lines} lines");
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let dir = file.parent().unwrap();
        for link in relative_links(&text) {
            let (path, anchor) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            assert!(
                target.exists(),
                "{}: link to {link}: no such file",
                file.display()
            );
            if !anchor.is_empty() && target.extension().is_some_and(|e| e == "md") {
                let anchors = heading_anchors(&std::fs::read_to_string(&target).unwrap());
                assert!(
                    anchors.contains(anchor),
                    "{}: link to {link}: no such heading (there are {anchors:?})",
                    file.display()
                );
            }
        }
    }
}

/// `](target)` links that are not URLs.
fn relative_links(text: &str) -> Vec<String> {
    text.split("](")
        .skip(1)
        .filter_map(|rest| rest.split_once(')').map(|(l, _)| l.to_owned()))
        .filter(|l| !l.contains("://") && !l.starts_with("mailto:"))
        .collect()
}

/// GitHub's anchors for the headings of a Markdown text (outside fenced blocks).
fn heading_anchors(text: &str) -> BTreeSet<String> {
    let mut inside = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            inside = !inside;
            continue;
        }
        if inside || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#').trim();
        let anchor: String = title
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        out.insert(anchor);
    }
    out
}

// The reference's tables against clap.

/// Every subcommand, nested ones included, built as `--help` shows them.
fn commands() -> Vec<clap::Command> {
    fn walk(cmd: &clap::Command, into: &mut Vec<clap::Command>) {
        into.push(cmd.clone());
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            walk(sub, into);
        }
    }
    let mut all = Vec::new();
    walk(&doksi::cli::built(doksi::cli::Cli::command()), &mut all);
    all
}

/// Every long flag (`--name`) and short one (`-v`) clap defines, clap's own `--help` and
/// `--version` aside.
fn clap_flags() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for cmd in commands() {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                if long == "help" || long == "version" {
                    continue;
                }
                out.insert(format!("--{long}"));
            }
            if let Some(short) = arg.get_short()
                && short != 'h'
                && short != 'V'
            {
                out.insert(format!("-{short}"));
            }
        }
    }
    out
}

/// Every variable clap reads a flag from.
fn clap_variables() -> BTreeSet<String> {
    commands()
        .iter()
        .flat_map(|c| {
            c.get_arguments()
                .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The text of the section under `heading` (a `## ` line) up to the next `## `.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("docs/reference.md has no `## {heading}`"));
    let body = &text[start + heading.len() + 5..];
    body.find("\n## ").map_or(body, |end| &body[..end])
}

/// The words of `text` that start with `prefix` and go on in `[A-Za-z0-9_-]`.
fn words_starting(text: &str, prefix: &str, more: impl Fn(char) -> bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + prefix.len()..];
        let len = after.find(|c: char| !more(c)).unwrap_or(after.len());
        if before.is_none_or(|c| !c.is_alphanumeric() && c != '-' && c != '_') && len > 0 {
            out.insert(format!("{prefix}{}", &after[..len]));
        }
        rest = &after[len..];
    }
    out
}

#[test]
fn the_references_flags_and_variables_are_claps() {
    let text = std::fs::read_to_string(root().join("docs/reference.md")).unwrap();

    // The flag table: each row's first cell names the flags (`--long`, `-s`).
    let flags_section = section(&text, "Flags");
    let mut listed = BTreeSet::new();
    for row in flags_section.lines().filter(|l| l.starts_with("| `-")) {
        let first = row.split('|').nth(1).unwrap();
        listed.extend(words_starting(first, "--", |c| {
            c.is_ascii_alphanumeric() || c == '-'
        }));
        listed.extend(
            words_starting(first, "-", |c| c.is_ascii_alphabetic())
                .into_iter()
                .filter(|w| w.len() == 2),
        );
    }
    let defined = clap_flags();
    let missing: Vec<_> = defined.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&defined).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/reference.md's flag table: missing {missing:?}, unknown to clap {unknown:?}"
    );

    // The variables: every flag's variable, and no DOKSI_* that neither clap nor the list of
    // what the code reads (environment.rs) knows.
    let env_section = section(&text, "Environment");
    let listed = words_starting(env_section, "DOKSI_", |c| {
        c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
    });
    let clap_vars = clap_variables();
    let read: BTreeSet<String> = doksi::environment::GROUPS
        .iter()
        .flat_map(|g| g.names.iter().map(|n| n.to_string()))
        .filter(|n| n.starts_with("DOKSI_"))
        .collect();
    let known: BTreeSet<String> = clap_vars.union(&read).cloned().collect();
    let missing: Vec<_> = known.difference(&listed).collect();
    let unknown: Vec<_> = listed.difference(&known).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "docs/reference.md's Environment: missing {missing:?}, unknown {unknown:?}"
    );
    // Each command a row names takes its flags ("every command": all of them).
    let all = commands();
    let takes = |path: &str, flag: &str| {
        all.iter().any(|c| {
            let name = c.get_bin_name().unwrap_or(c.get_name());
            name.trim_start_matches("doksi").trim() == path
                && c.get_arguments().any(|a| {
                    a.get_long().is_some_and(|l| format!("--{l}") == flag)
                        || a.get_short().is_some_and(|s| format!("-{s}") == flag)
                })
        })
    };
    for row in flags_section.lines().filter(|l| l.starts_with("| `-")) {
        let cells: Vec<&str> = row.split('|').collect();
        let flags = words_starting(cells[1], "-", |c| c.is_ascii_alphanumeric() || c == '-');
        let named: Vec<String> = if cells[3].trim() == "every command" {
            all.iter()
                .filter(|c| c.get_name() != "doksi")
                .map(|c| {
                    c.get_bin_name()
                        .unwrap_or(c.get_name())
                        .trim_start_matches("doksi")
                        .trim()
                        .to_owned()
                })
                .collect()
        } else {
            cells[3]
                .split(',')
                .map(|w| w.trim().to_owned())
                .filter(|w| !w.is_empty())
                .collect()
        };
        assert!(!named.is_empty(), "docs/reference.md: no command on {row}");
        for path in &named {
            for flag in flags.iter().filter(|f| f.len() > 1) {
                assert!(
                    takes(path, flag),
                    "docs/reference.md: `{path}` does not take {flag} ({row})"
                );
            }
        }
    }
    // The table's variable column agrees with clap: `--flag` … `DOKSI_X` on one row.
    for row in flags_section.lines().filter(|l| l.starts_with("| `-")) {
        let cells: Vec<&str> = row.split('|').collect();
        let flags = words_starting(cells[1], "--", |c| c.is_ascii_alphanumeric() || c == '-');
        let vars = words_starting(cells[2], "DOKSI_", |c| {
            c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'
        });
        for flag in &flags {
            let theirs: BTreeSet<String> = commands()
                .iter()
                .flat_map(|c| {
                    c.get_arguments()
                        .filter(|a| a.get_long() == Some(&flag[2..]))
                        .filter_map(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()))
                        .collect::<Vec<_>>()
                })
                .collect();
            assert!(
                theirs.is_subset(&vars) || flags.len() > 1,
                "docs/reference.md: {flag}'s row names {vars:?}, clap reads {theirs:?}"
            );
            for v in &vars {
                assert!(
                    flags.len() > 1 || theirs.contains(v),
                    "docs/reference.md: {flag}'s row names {v}, which clap does not read for it"
                );
            }
        }
    }
}
