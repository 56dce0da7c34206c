//! `doksi.toml`: a project's defaults for the flags its pipelines would otherwise repeat.
//!
//! The file is found by walking up from the current folder (so `doksi ci` works from any
//! subfolder), or named by `--config`/`DOKSI_CONFIG`. Its keys are the long flag names
//! (`base-url`, `categories`, `poll-interval`, …), so what a user learns from `--help` is what
//! they write here. It never holds the API key: this file is committed, the key is a secret.
//! Precedence is flag > environment > file > built-in default; the CLI layer feeds these values to
//! clap as defaults, which gives that order without a second merge.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::runs::FileEntry;

pub const FILE_NAME: &str = "doksi.toml";

/// A file is a few hundred bytes; anything this big is not one.
const MAX_LEN: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {problem}", .path.display())]
    Invalid { path: PathBuf, problem: String },
    #[error("--config is empty: name a doksi.toml")]
    EmptyPath,
}

/// The settings a file may give: each key is a long flag's name, each value its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    base_url: Option<String>,
    cache_dir: Option<PathBuf>,
    categories: Option<Vec<String>>,
    tests: Option<Vec<String>>,
    auth: Option<String>,
    variant: Option<String>,
    module: Option<String>,
    abi: Option<String>,
    timeout: Option<String>,
    poll_interval: Option<String>,
    junit: Option<PathBuf>,
    matrix: Option<Vec<toml::Value>>,
}

/// One setting a file gave: the clap argument it defaults and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Default {
    /// The clap argument id (the field name in `cli`), e.g. `poll_interval`.
    pub arg: &'static str,
    /// The key as written in the file, e.g. `poll-interval`.
    pub key: &'static str,
    pub values: Vec<String>,
}

/// A loaded `doksi.toml`.
#[derive(Debug, Clone)]
pub struct ProjectConfig {
    /// The file itself.
    pub path: PathBuf,
    /// Its folder: the project root, which relative paths in the file are taken against and
    /// which `doksi ci` searches when given no path.
    pub root: PathBuf,
    pub defaults: Vec<Default>,
    /// `[[matrix]]` entries, for `doksi run` given no destinations.
    pub matrix: Vec<FileEntry>,
}

impl ProjectConfig {
    /// The file's value for a clap argument id.
    pub fn value_of(&self, arg: &str) -> Option<&[String]> {
        self.defaults
            .iter()
            .find(|d| d.arg == arg)
            .map(|d| d.values.as_slice())
    }
}

/// The nearest `doksi.toml` in `start` or a folder above it.
pub fn find(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(FILE_NAME))
        .find(|candidate| candidate.is_file())
}

/// Reads and checks a `doksi.toml`; every problem names the file and the key at fault.
pub fn load(path: &Path) -> Result<ProjectConfig, ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let invalid = |problem: String| ConfigError::Invalid {
        path: path.to_owned(),
        problem,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_LEN + 1), &mut text)
        .map_err(read_err)?;
    if text.len() as u64 > MAX_LEN {
        return Err(invalid("larger than 1 MiB; not a doksi.toml".into()));
    }
    parse(&text, path)
}

fn parse(text: &str, path: &Path) -> Result<ProjectConfig, ConfigError> {
    let invalid = |problem: String| ConfigError::Invalid {
        path: path.to_owned(),
        problem,
    };
    let table: toml::Table = toml::from_str(text).map_err(|e| invalid(one_line(&e, text)))?;
    for secret in ["api-key", "api_key", "key", "token"] {
        if table.contains_key(secret) {
            return Err(invalid(format!(
                "`{secret}` does not belong in a committed file: set DOKSI_API_KEY in the environment (your CI's secret store) instead"
            )));
        }
    }
    let raw: Raw = toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| invalid(one_line(&e, text)))?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let rooted = |p: PathBuf| root.join(p).to_string_lossy().into_owned();

    let mut defaults = Vec::new();
    let mut add = |arg: &'static str, key: &'static str, values: Vec<String>| {
        defaults.push(Default { arg, key, values });
    };
    let single = |key: &str, v: Option<String>| -> Result<Option<String>, ConfigError> {
        match v {
            Some(s) if s.trim().is_empty() => Err(invalid(format!("`{key}` is empty"))),
            other => Ok(other),
        }
    };
    if let Some(v) = single("base-url", raw.base_url)? {
        add("base_url", "base-url", vec![v]);
    }
    if let Some(v) = raw.cache_dir {
        add("cache_dir", "cache-dir", vec![rooted(v)]);
    }
    for (arg, key, list) in [
        ("categories", "categories", raw.categories),
        ("tests", "tests", raw.tests),
    ] {
        let Some(list) = list else { continue };
        if list
            .iter()
            .any(|id| id.trim().is_empty() || id.contains(','))
        {
            return Err(invalid(format!(
                "`{key}` holds a blank id or one with a comma"
            )));
        }
        add(arg, key, list);
    }
    if let Some(v) = single("auth", raw.auth)? {
        v.parse::<crate::runs::Auth>()
            .map_err(|e| invalid(format!("`auth`: {e}")))?;
        add("auth", "auth", vec![v]);
    }
    for (arg, key, v) in [
        ("variant", "variant", raw.variant),
        ("module", "module", raw.module),
        ("abi", "abi", raw.abi),
        ("timeout", "timeout", raw.timeout),
        ("poll_interval", "poll-interval", raw.poll_interval),
    ] {
        if let Some(v) = single(key, v)? {
            add(arg, key, vec![v]);
        }
    }
    if let Some(v) = raw.junit {
        add("junit", "junit", vec![rooted(v)]);
    }
    let matrix = match raw.matrix {
        None => Vec::new(),
        Some(entries) => {
            let json: Vec<serde_json::Value> = entries
                .into_iter()
                .map(|v| serde_json::to_value(v).map_err(|e| invalid(format!("[[matrix]]: {e}"))))
                .collect::<Result<_, _>>()?;
            crate::runs::check_entries(json, &root, path)
                .map_err(|e| invalid(format!("[[matrix]]: {}", strip_path(&e, path))))?
        }
    };
    Ok(ProjectConfig {
        path: path.to_owned(),
        root,
        defaults,
        matrix,
    })
}

/// toml's messages span several lines (with a caret under the spot); an error here is one line.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', "; ");
    let Some(span) = e.span() else {
        return message;
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {message}")
}

/// A matrix error names its file already; the config error does too.
fn strip_path(e: &crate::runs::RunsError, path: &Path) -> String {
    let text = e.to_string();
    let prefix = format!("matrix file {}: ", path.display());
    text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<ProjectConfig, String> {
        parse(text, Path::new("/proj/doksi.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn keys_are_flag_names_and_paths_are_taken_from_the_file_folder() {
        let c = parsed(
            r#"
base-url = "https://doksi.example.com/cicd"
categories = ["cat_smoke", "cat_login"]
auth = "generated"
variant = "release"
poll-interval = "5s"
cache-dir = ".doksi/cache"
junit = "build/doksi.xml"

[[matrix]]
platform = "android"
project = "."
category_ids = ["cat_smoke"]
"#,
        )
        .unwrap();
        assert_eq!(c.root, Path::new("/proj"));
        assert_eq!(
            c.value_of("categories").unwrap(),
            ["cat_smoke", "cat_login"]
        );
        assert_eq!(c.value_of("poll_interval").unwrap(), ["5s"]);
        assert_eq!(c.value_of("cache_dir").unwrap(), ["/proj/.doksi/cache"]);
        assert_eq!(c.value_of("junit").unwrap(), ["/proj/build/doksi.xml"]);
        assert_eq!(c.value_of("tests"), None);
        assert_eq!(c.matrix.len(), 1);
        assert_eq!(c.matrix[0].project.as_deref(), Some(Path::new("/proj/.")));
    }

    #[test]
    fn problems_name_the_key() {
        let e = parsed("categorys = [\"a\"]").unwrap_err();
        assert!(
            e.contains("categorys") && e.contains("/proj/doksi.toml"),
            "{e}"
        );
        let e = parsed("api-key = \"dk_live_0000\"").unwrap_err();
        assert!(
            e.contains("DOKSI_API_KEY") && !e.contains("dk_live_0000"),
            "{e}"
        );
        let e = parsed("auth = \"sometimes\"").unwrap_err();
        assert!(e.contains("auth"), "{e}");
        let e = parsed("categories = \"cat_smoke\"").unwrap_err();
        assert!(e.contains("sequence") || e.contains("array"), "{e}");
        let e = parsed("categories = [\"a,b\"]").unwrap_err();
        assert!(e.contains("comma"), "{e}");
        let e = parsed("variant = \"\"").unwrap_err();
        assert!(e.contains("`variant` is empty"), "{e}");
        let e = parsed("[[matrix]]\nplatform = \"web\"\ncategory_ids = [\"c\"]").unwrap_err();
        assert!(e.contains("web_url"), "{e}");
        let e = parsed("variant = \"x\"\nbase-url = ").unwrap_err();
        assert!(!e.contains('\n') && e.contains("line 2, column"), "{e}");
        let e = parsed("[[matrix]]\nplatform = \"android\"").unwrap_err();
        assert_eq!(e.matches("doksi.toml").count(), 1, "{e}");
    }

    #[test]
    fn found_in_an_ancestor_folder() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("app/src/main");
        std::fs::create_dir_all(&deep).unwrap();
        assert_eq!(find(&deep), None.or(find(dir.path())));
        std::fs::write(dir.path().join(FILE_NAME), "variant = \"debug\"").unwrap();
        assert_eq!(find(&deep).unwrap(), dir.path().join(FILE_NAME));
    }
}
