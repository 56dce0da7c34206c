//! `doksi.toml`: a project's defaults for the flags its pipelines would otherwise repeat.
//!
//! The file is found by walking up from the current folder (so `doksi ci` works from any
//! subfolder), or named by `--config`/`DOKSI_CONFIG`. Its keys are the long flag names
//! (`base-url`, `categories`, `poll-interval`, …), so what a user learns from `--help` is what
//! they write here. It never holds the API key: this file is committed, the key is a secret.
//! Precedence is flag > environment > file > built-in default; the CLI layer feeds these values to
//! clap as defaults, which gives that order without a second merge.

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use toml::Spanned;

use crate::runs::FileEntry;
use crate::settings::{self, FileKind, Setting};

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

/// One setting a file gave: the clap argument it defaults and its values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileValue {
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
    pub defaults: Vec<FileValue>,
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
    let table: BTreeMap<Spanned<String>, Spanned<toml::Value>> =
        toml::from_str(text).map_err(|e| invalid(one_line(&e, text)))?;
    let root = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .to_owned();
    let mut defaults = Vec::new();
    let mut matrix = Vec::new();
    for (key, value) in table {
        let at = |span: std::ops::Range<usize>, problem: String| invalid(at(text, span, &problem));
        if key.as_ref() == "matrix" {
            matrix = matrix_entries(value.into_inner(), &root, path).map_err(invalid)?;
            continue;
        }
        let setting = match settings::by_key(key.as_ref()) {
            Some(s) if !matches!(s.file, FileKind::Never) => s,
            _ if ["api-key", "api_key", "key", "token"].contains(&key.as_ref().as_str()) => {
                return Err(invalid(format!(
                    "`{}` does not belong in a committed file: set DOKSI_API_KEY in the environment (your CI's secret store) instead",
                    key.as_ref()
                )));
            }
            _ => {
                let hint = match did_you_mean(key.as_ref()) {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!("the keys are {}", file_keys()),
                };
                return Err(at(
                    key.span(),
                    format!("unknown key `{}`; {hint}", key.as_ref()),
                ));
            }
        };
        let span = value.span();
        let values = file_value(setting, value.into_inner(), &root)
            .map_err(|problem| at(span, format!("`{}` {problem}", setting.key)))?;
        defaults.push(FileValue {
            arg: setting.id,
            key: setting.key,
            values,
        });
    }
    Ok(ProjectConfig {
        path: path.to_owned(),
        root,
        defaults,
        matrix,
    })
}

/// The key a mistyped one most likely meant: written with `_` (`poll_interval`), as the flag
/// (`category`), or off by a letter or two.
fn did_you_mean(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase().replace('_', "-");
    let keys = settings::SETTINGS
        .iter()
        .filter(|s| !matches!(s.file, FileKind::Never))
        .map(|s| s.key)
        .chain(["matrix"]);
    keys.map(|k| (distance(&key, k), k))
        .filter(|&(d, k)| d <= 2 || (d <= 3 && key.len() >= 7) || k.starts_with(&key))
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// Levenshtein distance, for keys of a few letters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// The keys a file may hold, for the error about one it may not.
fn file_keys() -> String {
    let mut keys: Vec<&str> = settings::SETTINGS
        .iter()
        .filter(|s| !matches!(s.file, FileKind::Never))
        .map(|s| s.key)
        .collect();
    keys.push("[[matrix]]");
    keys.join(", ")
}

/// A setting's value from the file, as the text clap would have been given; the problem is the
/// rest of a sentence that starts with the key.
fn file_value(setting: &Setting, value: toml::Value, root: &Path) -> Result<Vec<String>, String> {
    let text = |value: toml::Value| match value {
        toml::Value::String(s) if s.trim().is_empty() => Err("is empty".to_owned()),
        toml::Value::String(s) => Ok(s),
        other => Err(format!("must be a string, not {}", other.type_str())),
    };
    Ok(match &setting.file {
        FileKind::Never => return Err("cannot be given in a file".into()),
        FileKind::Text => vec![text(value)?],
        FileKind::Path => vec![root.join(text(value)?).to_string_lossy().into_owned()],
        FileKind::Checked(check) => {
            let v = text(value)?;
            check(&v).map_err(|e| format!("is wrong: {e}"))?;
            vec![v]
        }
        FileKind::Number(check) => {
            let v = match value {
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::String(s) => s,
                other => return Err(format!("must be a number, not {}", other.type_str())),
            };
            check(&v).map_err(|e| format!("is wrong: {e}"))?;
            vec![v.trim().to_owned()]
        }
        FileKind::Ids => {
            let items = match value {
                toml::Value::Array(items) => items,
                // One id, or several as the variable gives them (`a,b`), as a list would.
                toml::Value::String(s) => s
                    .split(',')
                    .map(|id| toml::Value::String(id.trim().to_owned()))
                    .collect(),
                other => {
                    return Err(format!(
                        "must be a list of ids, like [\"a\", \"b\"], not {}",
                        other.type_str()
                    ));
                }
            };
            let ids: Vec<String> = items
                .into_iter()
                .map(|v| match v {
                    toml::Value::String(s) if !s.trim().is_empty() && !s.contains(',') => Ok(s),
                    _ => Err("holds a blank id, one with a comma, or one that is not a string"),
                })
                .collect::<Result<_, _>>()?;
            ids
        }
    })
}

/// `[[matrix]]`: entries as in a matrix file, paths taken against the file's folder.
fn matrix_entries(value: toml::Value, root: &Path, path: &Path) -> Result<Vec<FileEntry>, String> {
    let toml::Value::Array(entries) = value else {
        return Err("`matrix` must be an array of tables: write each entry as [[matrix]]".into());
    };
    let json: Vec<serde_json::Value> = entries
        .into_iter()
        .map(|v| serde_json::to_value(v).map_err(|e| format!("[[matrix]]: {e}")))
        .collect::<Result<_, _>>()?;
    crate::runs::check_entries(json, root, path)
        .map_err(|e| format!("[[matrix]]: {}", strip_path(&e, path)))
}

/// `line L, column C: problem`, the place being where `span` starts in `text`.
fn at(text: &str, span: std::ops::Range<usize>, problem: &str) -> String {
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!("line {line}, column {column}: {problem}")
}

/// toml's messages span several lines (with a caret under the spot); an error here is one line.
fn one_line(e: &toml::de::Error, text: &str) -> String {
    let message = e.message().trim().replace('\n', "; ");
    match e.span() {
        Some(span) => at(text, span, &message),
        None => message,
    }
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
        let e = parsed("categories = 3").unwrap_err();
        assert!(e.contains("must be a list of ids, like"), "{e}");
        for (typo, meant) in [
            ("poll_interval", "poll-interval"),
            ("base_url", "base-url"),
            ("category", "categories"),
            ("varient", "variant"),
            ("Matrix", "matrix"),
        ] {
            let e = parsed(&format!("{typo} = 1")).unwrap_err();
            assert!(e.contains(&format!("did you mean `{meant}`?")), "{e}");
        }
        let e = parsed("colour = 1").unwrap_err();
        assert!(e.contains("the keys are base-url"), "{e}");
        let e = parsed("[matrix]\nplatform = \"android\"").unwrap_err();
        assert!(e.contains("[[matrix]]"), "{e}");
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

    /// Every setting the table says a file may give is read from a file, under its key, as the
    /// default of its clap argument; the others are refused.
    #[test]
    fn a_file_may_give_every_setting_of_the_table() {
        for s in settings::SETTINGS {
            let value = match (&s.file, s.id) {
                (FileKind::Ids, _) => "[\"x_1\"]",
                (_, "timeout" | "poll_interval") => "\"5s\"",
                (_, "abi") => "\"x86\"",
                (_, "auth") => "\"generated\"",
                (FileKind::Number(_), _) => "2",
                (_, "notify") => "\"https://hooks.example.com/hooks/abc\"",
                (_, "notify_on") => "\"always\"",
                (_, "compress") => "\"never\"",
                _ => "\"text\"",
            };
            let parsed = parsed(&format!("{} = {value}", s.key));
            match s.file {
                FileKind::Never => assert!(parsed.is_err(), "{}", s.key),
                _ => {
                    let c = parsed.unwrap_or_else(|e| panic!("{}: {e}", s.key));
                    assert_eq!(c.value_of(s.id).map(<[String]>::len), Some(1), "{}", s.key);
                }
            }
        }
        assert_eq!(
            parsed("retries = \"3\"")
                .unwrap()
                .value_of("retries")
                .unwrap(),
            ["3"]
        );
        let e = parsed("retries = 9").unwrap_err();
        assert!(
            e.contains("`retries` is wrong") && e.contains("0 to 5"),
            "{e}"
        );
        let e = parsed("retries = true").unwrap_err();
        assert!(e.contains("must be a number"), "{e}");
        let e = parsed("timeout = \"0s\"").unwrap_err();
        assert!(e.contains("`timeout`") && e.contains("line 1"), "{e}");
    }

    #[test]
    fn a_string_is_taken_where_a_list_of_ids_is_expected() {
        let c = parsed("categories = \"cat_smoke\"\ntests = \"t_1, t_2\"").unwrap();
        assert_eq!(c.value_of("categories").unwrap(), ["cat_smoke"]);
        assert_eq!(c.value_of("tests").unwrap(), ["t_1", "t_2"]);
        assert!(
            parsed("tests = \"t_1,,t_2\"")
                .unwrap_err()
                .contains("blank id")
        );
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
