//! GitLab's side of an included component: its inputs interpolated (`$[[ inputs.x ]]`), and its
//! job run as GitLab's runner runs one (variables set and expanded, the script under `sh -e`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use yaml_rust2::{Yaml, YamlLoader};

use super::{clean_path, s};
use crate::dist::text;
use crate::sandbox::path_str;

/// The component's two documents: its spec's input defaults, and the job document.
pub(super) fn component(path: &Path) -> (BTreeMap<String, String>, Yaml) {
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
pub(super) fn interpolate(doc: &Yaml, inputs: &BTreeMap<String, String>) -> Yaml {
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

pub(super) fn to_json(doc: &Yaml) -> serde_json::Value {
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
pub(super) fn included(template: &Path, inputs: &[(&str, &str)]) -> Yaml {
    let (mut all, doc) = component(template);
    for (k, v) in inputs {
        assert!(all.contains_key(*k), "the component has no input {k}");
        all.insert((*k).to_owned(), (*v).to_owned());
    }
    interpolate(&doc, &all)
}

/// `$NAME` and `${NAME}` in a variable's value, from `env`, as GitLab expands them.
pub(super) fn expand(value: &str, env: &BTreeMap<String, String>) -> String {
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
pub(super) struct Gitlab {
    pub(super) code: i32,
    pub(super) log: String,
}

/// Runs the `doksi` job of `doc` as GitLab's runner does: in the project folder, its variables
/// set (expanded from the predefined ones; `project` variables, the CI/CD settings', win), its
/// script's lines as one `sh -e` script.
pub(super) fn run_gitlab_job(doc: &Yaml, project_dir: &Path, project: &[(&str, String)]) -> Gitlab {
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
