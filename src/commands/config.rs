//! `config`, `completions` and `man`: what doksi would use, and the shell's view of its flags.
//! Completions and the man page come from the same clap definitions as the parser, so they
//! cannot drift from it.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, Effective, Source};
use crate::config::ProjectConfig;

use super::output::outln;
use super::{Error, print_bytes, print_json};

/// Prints each setting, its value and where it came from. The key shows only its prefix and
/// last four characters, the webhook URL its host and last four: enough to tell two apart,
/// useless to anyone reading a CI log.
pub fn show(
    settings: &[Effective],
    project: Option<&ProjectConfig>,
    json: bool,
) -> Result<(), Error> {
    // An unset cache folder means the user's cache folder: show which one.
    let filled: Vec<Effective> = settings
        .iter()
        .map(|e| match (&e.source, e.key, crate::cache::default_dir()) {
            (Source::Unset, "cache-dir", Some(dir)) => Effective {
                values: vec![dir.display().to_string()],
                source: Source::Default,
                ..e.clone()
            },
            _ => e.clone(),
        })
        .collect();
    let settings = &filled;
    let shown = |e: &Effective| -> String {
        if e.values.is_empty() {
            return String::new();
        }
        if e.key == "api-key" {
            return e.values.iter().map(|k| redact(k)).collect();
        }
        if e.key == "notify" {
            return e
                .values
                .iter()
                .map(|u| crate::webhook::redacted(u))
                .collect();
        }
        crate::api::redact_secrets(&e.values.join(","))
    };
    let from = |s: &Source| -> String {
        match s {
            Source::Flag => "flag".into(),
            Source::Env(name) => format!("env {name}"),
            Source::File(path) => path.display().to_string(),
            Source::Default => "default".into(),
            Source::Unset => "unset".into(),
        }
    };
    if json {
        let mut map = serde_json::Map::new();
        for e in settings {
            let value = match (e.key, e.values.len()) {
                ("categories" | "tests", _) => serde_json::json!(e.values),
                (_, 0) => serde_json::Value::Null,
                _ => shown(e).into(),
            };
            map.insert(
                e.key.into(),
                serde_json::json!({"value": value, "source": from(&e.source)}),
            );
        }
        let file = project.map(|p| crate::path_text::escaped(&p.path));
        map.insert("config-file".into(), file.into());
        let entries = project.map_or(0, |p| p.matrix.len());
        map.insert("matrix-entries".into(), entries.into());
        return print_json(&map);
    }
    match project {
        Some(p) => outln!("config file    {}", p.path.display()),
        None => outln!(
            "config file    (none: no {} here or above)",
            crate::config::FILE_NAME
        ),
    }
    for e in settings {
        let value = match shown(e) {
            v if v.is_empty() => "-".to_owned(),
            v => v,
        };
        outln!("{:<14} {:<48} {}", e.key, value, from(&e.source));
    }
    if let Some(p) = project.filter(|p| !p.matrix.is_empty()) {
        outln!(
            "matrix         {} entr{} (used by `doksi run` without destinations)",
            p.matrix.len(),
            if p.matrix.len() == 1 { "y" } else { "ies" }
        );
    }
    Ok(())
}

/// The warning for a flag given an empty value (see `cli::Parsed::emptied`): what gives the
/// setting now, or what is not done for want of it.
pub fn emptied(flag: &str, settings: &[Effective]) -> String {
    let then = match settings
        .iter()
        .find(|e| e.key == flag)
        .map(|e| (&e.source, e))
    {
        Some((Source::Env(name), _)) => format!("{name} gives it"),
        Some((Source::File(path), _)) => format!("{} gives it", path.display()),
        Some((Source::Default, e)) => format!("its default ({}) applies", e.values.join(",")),
        _ => match flag {
            "notify" => "no notification is posted".to_owned(),
            "junit" => "no JUnit report is written".to_owned(),
            _ => "it is left unset".to_owned(),
        },
    };
    format!("--{flag} was given an empty value, which counts as unset: {then}")
}

/// `dk_live_…1a2b`; a value too short to hide anything is hidden whole.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() < 16 {
        return "(set, too short to be a key)".into();
    }
    let last4: String = chars[chars.len() - 4..].iter().collect();
    let prefix = if key.starts_with("dk_live_") {
        "dk_live_"
    } else {
        ""
    };
    format!("{prefix}…{last4}")
}

pub fn completions(shell: clap_complete::Shell) -> Result<(), Error> {
    let mut cmd = crate::cli::built(Cli::command());
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "doksi", &mut buf);
    print_bytes(&buf);
    Ok(())
}

/// Without `dir`, the top page on stdout; with it, that page and one per subcommand (the top
/// page lists them as `doksi-ci(1)` and so on), each written whole or not at all.
pub fn man(dir: Option<&Path>) -> Result<(), Error> {
    let cmd = crate::cli::built(Cli::command().disable_help_subcommand(true));
    let Some(dir) = dir else {
        print_bytes(&top_page(&cmd)?);
        return Ok(());
    };
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    write_pages(&cmd, dir, &mut written)?;
    for path in written {
        outln!("{}", path.display());
    }
    Ok(())
}

fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), Error> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    let page = clap_mangen::Man::new(cmd.clone());
    let buf = if cmd.get_name() == "doksi" {
        top_page(cmd)?
    } else {
        let mut buf = Vec::new();
        page.render(&mut buf)?;
        buf
    };
    let path = dir.join(page.get_filename());
    crate::atomic::write(&path, crate::atomic::Readers::Everyone, &buf)?;
    written.push(path);
    Ok(())
}

/// The top page: clap's sections, then ENVIRONMENT, EXIT STATUS, FILES and EXAMPLES (the exit
/// codes are those `--help` prints, so clap's EXTRA section is left out).
fn top_page(cmd: &clap::Command) -> Result<Vec<u8>, Error> {
    let page = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    page.render_title(&mut buf)?;
    page.render_name_section(&mut buf)?;
    page.render_synopsis_section(&mut buf)?;
    page.render_description_section(&mut buf)?;
    page.render_options_section(&mut buf)?;
    page.render_subcommands_section(&mut buf)?;
    buf.extend_from_slice(extra_sections(cmd).as_bytes());
    page.render_version_section(&mut buf)?;
    Ok(buf)
}

/// Text for a roff line: backslashes escaped, and no line may start with a control character.
fn roff_text(text: &str) -> String {
    let text = text.replace('\\', "\\e").replace('-', "\\-");
    match text.chars().next() {
        Some('.' | '\'') => format!("\\&{text}"),
        _ => text,
    }
}

fn extra_sections(cmd: &clap::Command) -> String {
    // The settings' variables, as clap reads them; then every other one the code reads
    // (`environment`), so the section follows the code.
    let mut vars: Vec<(String, String)> = Vec::new();
    collect_env(cmd, &mut vars);
    let mut out = String::from(".SH ENVIRONMENT\n");
    out.push_str(
        "A flag beats its variable, which beats doksi.toml, which beats the default. An empty variable counts as unset.\n",
    );
    for (name, help) in &vars {
        out.push_str(&format!(".TP\n\\fB{name}\\fR\n{}\n", roff_text(help)));
    }
    for group in crate::environment::GROUPS {
        let names: Vec<String> = group
            .names
            .iter()
            .filter(|n| !vars.iter().any(|(v, _)| v == *n))
            .map(|n| format!("\\fB{}\\fR", roff_text(n)))
            .collect();
        if !names.is_empty() {
            out.push_str(&format!(
                ".TP\n{}\n{}\n",
                names.join(", "),
                roff_text(group.about)
            ));
        }
    }
    out.push_str(".SH \"EXIT STATUS\"\n");
    for line in crate::cli::EXIT_CODES.lines().skip(1) {
        let line = line.trim();
        if let Some((code, what)) = line.split_once(char::is_whitespace) {
            out.push_str(&format!(
                ".TP\n\\fB{code}\\fR\n{}\n",
                roff_text(what.trim())
            ));
        }
    }
    out.push_str(concat!(
        ".SH FILES\n",
        ".TP\n\\fIdoksi.toml\\fR\n",
        "The project file: the nearest one in the current folder or above it (or \\-\\-config, DOKSI_CONFIG); its keys are the settings' long flag names.\n",
        ".TP\n\\fI~/.cache/doksi\\fR\n",
        "The target cache ($XDG_CACHE_HOME/doksi when set; \\-\\-cache\\-dir, DOKSI_CACHE_DIR): targets\\-v1/ maps each uploaded APK's SHA\\-256 to its target (its lock files in targets\\-v1/locks/). \\fBdoksi cache list\\fR shows it, \\fBdoksi cache clear\\fR empties it.\n",
        ".SH EXAMPLES\n",
        ".TP\nUpload, run and wait, from a Gradle hook or nightly job:\n",
        "DOKSI_API_KEY=dk_live_... doksi ci \\-\\-category cat_smoke\n",
        ".TP\nStart a run and come back for its verdict later:\n",
        "doksi run \\-\\-apk app\\-release.apk \\-\\-category cat_smoke; doksi wait run_...\n",
        ".TP\nRun the failed tests of a finished run again:\n",
        "doksi rerun \\-\\-failed \\-\\-wait run_...\n",
        ".TP\nTry it without an account:\n",
        "doksi demo\n",
    ));
    out
}

/// Each argument's variable and help, once, in the order `--help` shows them.
fn collect_env(cmd: &clap::Command, vars: &mut Vec<(String, String)>) {
    for arg in cmd.get_arguments() {
        let Some(name) = arg.get_env().map(|e| e.to_string_lossy().into_owned()) else {
            continue;
        };
        if vars.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let flag = arg
            .get_long()
            .map(|l| format!("As --{l}: "))
            .unwrap_or_default();
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        vars.push((name, format!("{flag}{help}")));
    }
    for sub in cmd.get_subcommands() {
        collect_env(sub, vars);
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn the_key_shows_its_last_four_only() {
        let key = format!("dk_live_{}", "0123456789abcdef0123456789abcdef0123beef");
        assert_eq!(redact(&key), "dk_live_…beef");
        assert_eq!(redact("short"), "(set, too short to be a key)");
    }
}
