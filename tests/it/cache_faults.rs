//! The cache is an optimisation: a folder that cannot be read, locked or written, or another
//! doksi stalled on the same APK, costs an upload at most — never the target the server
//! registered, nor the run.
//!
//! Tests run as root here, where permissions stop no write, so the faults are shapes that fail for
//! everyone: a file where a folder belongs, a folder where a file belongs.

use std::fs;
use std::path::{Path, PathBuf};

use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// The scope file the first upload to `sb` created.
fn scope_file(sb: &Sandbox) -> PathBuf {
    fs::read_dir(sb.cache_dir().join("targets-v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a scope file")
}

fn upload_once(sb: &Sandbox) -> String {
    let r = sb.run(&["upload", path_str(&unlock_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.split('\t').next().unwrap().to_owned()
}

#[test]
fn a_folder_in_place_of_the_scope_file_is_set_aside_and_cleared() {
    let sb = Sandbox::start(&[]);
    upload_once(&sb);
    let scope = scope_file(&sb);
    fs::remove_file(&scope).unwrap();
    fs::create_dir_all(scope.join("inside")).unwrap();

    let r = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["cached"], false);
    assert!(
        r.stderr.contains(&scope.display().to_string()) && r.stderr.contains("it is a folder"),
        "{}",
        r.stderr
    );
    assert!(scope.is_file(), "a fresh scope file in its place");
    let aside = set_aside(&scope);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("inside").is_dir(), "kept whole for a look");
    let r = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["cached"], true, "{}", r.stderr);

    // Back to a folder; `cache clear` takes it and the set-aside one away.
    fs::remove_file(&scope).unwrap();
    fs::create_dir(&scope).unwrap();
    let r = sb.run(&["cache", "clear"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!scope.exists());
    assert_eq!(set_aside(&scope), Vec::<PathBuf>::new());
}

fn set_aside(scope: &Path) -> Vec<PathBuf> {
    let name = scope.file_name().unwrap().to_str().unwrap();
    fs::read_dir(scope.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&format!("{name}.corrupt-"))
        })
        .collect()
}
