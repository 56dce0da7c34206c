//! `doksi apks` on project trees: AGP metadata (v2 and v3), the folder-layout fallback, flavors,
//! ABI splits, instrumentation APKs, pruned folders, symlink loops, and nothing found.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{apk_fixtures, fixtures, json, run};

fn shop() -> PathBuf {
    fixtures().join("projects/shop")
}

fn list(args: &[&str]) -> Vec<Value> {
    let mut full = vec!["apks", "--json"];
    full.extend_from_slice(args);
    json(&full).as_array().unwrap().clone()
}

fn names(v: &[Value]) -> Vec<String> {
    let mut n: Vec<String> = v
        .iter()
        .map(|a| {
            Path::new(a["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    n.sort();
    n
}

fn copy(fixture: &str, to: &Path) {
    fs::create_dir_all(to.parent().unwrap()).unwrap();
    fs::copy(apk_fixtures().join(fixture), to).unwrap();
}

#[test]
fn metadata_tree_lists_universal_apks_and_skips_tests_and_pruned_folders() {
    let found = list(&[shop().to_str().unwrap()]);
    assert_eq!(
        names(&found),
        [
            "app-free-universal-release.apk",
            "app-paid-debug.apk",
            "wear-release.apk"
        ]
    );
    let by = |n: &str| {
        found
            .iter()
            .find(|a| a["path"].as_str().unwrap().ends_with(n))
            .unwrap()
            .clone()
    };
    let universal = by("app-free-universal-release.apk");
    assert_eq!(universal["module"], "app");
    assert_eq!(universal["variant"], "freeRelease");
    assert_eq!(universal["abi"], Value::Null);
    assert_eq!(
        universal["manifest"]["abis"],
        serde_json::json!(["arm64-v8a", "armeabi-v7a", "x86_64"])
    );
    // v2 metadata whose variantName is a task name: the folder layout wins.
    assert_eq!(by("app-paid-debug.apk")["variant"], "paidDebug");
    // No metadata at all: module and variant from the layout.
    let wear = by("wear-release.apk");
    assert_eq!(
        (wear["module"].as_str(), wear["variant"].as_str()),
        (Some("wear"), Some("release"))
    );
}

#[test]
fn json_objects_carry_size_sha256_and_the_inspect_manifest() {
    let found = list(&[shop().to_str().unwrap(), "--module", "wear"]);
    assert_eq!(found.len(), 1);
    let a = &found[0];
    let path = a["path"].as_str().unwrap();
    let bytes = fs::read(path).unwrap();
    assert_eq!(a["size"], bytes.len() as u64);
    let digest: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(a["sha256"], digest);
    assert_eq!(a["manifest"], json(&["inspect", "--json", path]));
    let mut keys: Vec<&String> = a.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "abi", "manifest", "module", "path", "sha256", "size", "variant"
        ]
    );
}

#[test]
fn abi_flag_picks_the_split_or_falls_back_to_universal() {
    let x86 = list(&[
        shop().to_str().unwrap(),
        "--variant",
        "freeRelease",
        "--abi",
        "x86_64",
    ]);
    assert_eq!(names(&x86), ["app-free-x86_64-release.apk"]);
    assert_eq!(x86[0]["abi"], "x86_64");
    // No armeabi-v7a split, but the universal APK has that native code: taken, and said.
    let v7 = crate::common::run(&[
        "apks",
        "--json",
        shop().to_str().unwrap(),
        "--variant",
        "freeRelease",
        "--abi",
        "armeabi-v7a",
    ]);
    assert_eq!(v7.code, 0, "{}", v7.stderr);
    assert!(v7.stderr.contains("no armeabi-v7a split;"), "{}", v7.stderr);
    let v7: Vec<Value> = serde_json::from_str(&v7.stdout).unwrap();
    assert_eq!(names(&v7), ["app-free-universal-release.apk"]);
    // An ABI that neither a split nor the universal APK has: an error naming those there are.
    let mips = crate::common::run(&[
        "apks",
        shop().to_str().unwrap(),
        "--variant",
        "freeRelease",
        "--abi",
        "mips",
    ]);
    assert_eq!(mips.code, 2, "{}", mips.stderr);
    assert!(
        mips.stderr.contains(
            "no APK for ABI mips in app freeRelease; the ABIs there are: arm64-v8a, armeabi-v7a, x86_64"
        ),
        "{}",
        mips.stderr
    );
    // A typo is caught before anything is read.
    let typo = crate::common::run(&["apks", shop().to_str().unwrap(), "--abi", "arm64"]);
    assert_eq!(typo.code, 2, "{}", typo.stderr);
    assert!(
        typo.stderr.contains("is not an Android ABI"),
        "{}",
        typo.stderr
    );
}

#[test]
fn instrumentation_apks_only_with_include_tests() {
    let all = list(&[
        shop().to_str().unwrap(),
        "--include-tests",
        "--variant",
        "paidDebug",
    ]);
    assert_eq!(
        names(&all),
        ["app-paid-debug-androidTest.apk", "app-paid-debug.apk"]
    );
    let test = all
        .iter()
        .find(|a| a["variant"] == "paidDebugAndroidTest")
        .unwrap();
    assert_eq!(
        test["manifest"]["instrumentation_target"],
        "io.appium.uiautomator2.server"
    );
}

#[test]
fn instrumentation_is_recognised_by_manifest_whatever_the_name() {
    let dir = tempfile::tempdir().unwrap();
    copy(
        "appium-uiautomator2-server-1.12.0-debug-androidTest.apk",
        &dir.path().join("app/build/outputs/apk/debug/app-debug.apk"),
    );
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &dir.path()
            .join("app/build/outputs/apk/release/app-release.apk"),
    );
    let root = dir.path().to_str().unwrap();
    assert_eq!(names(&list(&[root])), ["app-release.apk"]);
    assert_eq!(
        names(&list(&[root, "--include-tests"])),
        ["app-debug.apk", "app-release.apk"]
    );
}

#[test]
fn module_flag_accepts_path_gradle_path_and_leaf_name() {
    let dir = tempfile::tempdir().unwrap();
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &dir.path()
            .join("feature/login/build/outputs/apk/release/login-release.apk"),
    );
    copy(
        "appium-android-ime-2.0.0-debug.apk",
        &dir.path()
            .join("app/build/outputs/apk/release/app-release.apk"),
    );
    let root = dir.path().to_str().unwrap();
    for m in ["feature/login", ":feature:login", "login"] {
        let found = list(&[root, "--module", m]);
        assert_eq!(names(&found), ["login-release.apk"], "--module {m}");
        assert_eq!(found[0]["module"], "feature/login");
    }
}

#[test]
fn splits_without_a_universal_apk_are_all_listed() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app/build/outputs/apk/release");
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &out.join("app-arm64-v8a-release.apk"),
    );
    copy(
        "io.appium.settings-2.0.0-debug.apk",
        &out.join("app-x86-release.apk"),
    );
    let el = |abi: &str, file: &str| {
        format!(
            r#"{{"type":"ONE_OF_MANY","filters":[{{"filterType":"ABI","value":"{abi}"}}],"outputFile":"{file}","futureField":1}}"#
        )
    };
    let meta = format!(
        r#"{{"version":3,"artifactType":{{"type":"APK","kind":"Directory"}},"variantName":"release","elements":[{},{},{{"type":"SINGLE","outputFile":"gone.apk"}}]}}"#,
        el("arm64-v8a", "app-arm64-v8a-release.apk"),
        el("x86", "app-x86-release.apk")
    );
    fs::write(out.join("output-metadata.json"), meta).unwrap();
    let r = run(&["apks", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found: Vec<Value> = serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(
        names(&found),
        ["app-arm64-v8a-release.apk", "app-x86-release.apk"]
    );
    // The stale entry is reported, not fatal.
    assert!(
        r.stderr.contains("gone.apk, which does not exist"),
        "{}",
        r.stderr
    );
}

#[test]
fn old_agp_flat_layout_and_broken_metadata_fall_back_to_files() {
    let dir = tempfile::tempdir().unwrap();
    let apk = dir.path().join("build/outputs/apk");
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &apk.join("app-release-unsigned.apk"),
    );
    copy(
        "appium-android-ime-2.0.0-debug.apk",
        &apk.join("debug/app-debug.apk"),
    );
    fs::write(apk.join("debug/output-metadata.json"), "{ not json").unwrap();
    let r = run(&["apks", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found: Vec<Value> = serde_json::from_str::<Value>(&r.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(names(&found), ["app-debug.apk", "app-release-unsigned.apk"]);
    let flat = found
        .iter()
        .find(|a| a["path"].as_str().unwrap().ends_with("unsigned.apk"))
        .unwrap();
    assert_eq!(flat["variant"], Value::Null, "no guessing from file names");
    assert!(
        r.stderr.contains("not valid output metadata"),
        "{}",
        r.stderr
    );
}

#[cfg(unix)]
#[test]
fn symlink_loops_end_the_walk_instead_of_looping() {
    let dir = tempfile::tempdir().unwrap();
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &dir.path()
            .join("app/build/outputs/apk/release/app-release.apk"),
    );
    std::os::unix::fs::symlink(dir.path(), dir.path().join("app/loop")).unwrap();
    std::os::unix::fs::symlink(
        dir.path().join("app"),
        dir.path().join("app/build/outputs/apk/release/up"),
    )
    .unwrap();
    let found = list(&[dir.path().to_str().unwrap()]);
    assert_eq!(names(&found), ["app-release.apk"]);
}

#[test]
fn intermediates_and_hidden_folders_are_never_read() {
    // Decoys that are not APKs at all: if the walk read them, inspect would fail with exit 2.
    let dir = tempfile::tempdir().unwrap();
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &dir.path()
            .join("app/build/outputs/apk/release/app-release.apk"),
    );
    for decoy in [
        "app/build/intermediates/apk/release/x.apk",
        "app/build/tmp/x.apk",
        ".gradle/build/outputs/apk/release/x.apk",
        "node_modules/m/build/outputs/apk/release/x.apk",
        "app/build/outputs/bundle/release/x.apk",
    ] {
        let p = dir.path().join(decoy);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, "decoy").unwrap();
    }
    assert_eq!(
        names(&list(&[dir.path().to_str().unwrap()])),
        ["app-release.apk"]
    );
}

#[test]
fn explicit_apk_paths_and_the_current_folder_default() {
    let apk = apk_fixtures().join("appium-unlock-2.0.0-debug.apk");
    let found = list(&[apk.to_str().unwrap()]);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["manifest"]["package"], "io.appium.unlock");
    let r = crate::common::run_in(Some(&shop()), &["apks", "--json", "--module", "wear"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("wear-release.apk"));
}

#[test]
fn nothing_found_is_exit_2_naming_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["apks", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no APKs found"), "{}", r.stderr);
    assert!(
        r.stderr.contains(dir.path().to_str().unwrap()),
        "{}",
        r.stderr
    );
    let r = run(&["apks", shop().to_str().unwrap(), "--variant", "staging"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("for variant staging"), "{}", r.stderr);
    let r = run(&["apks", "/nonexistent/project"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("/nonexistent/project: no such file or directory"),
        "{}",
        r.stderr
    );
}

#[test]
fn table_output_names_every_apk() {
    let r = run(&["apks", shop().to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("MODULE"), "{}", r.stdout);
    assert_eq!(lines.len(), 4, "{}", r.stdout);
    assert!(lines.iter().any(|l| l.contains("freeRelease")
        && l.contains("io.appium.unlock")
        && l.contains("2.0.0 (2)")));
}

#[test]
fn a_damaged_apk_in_another_module_does_not_block_a_module_filter() {
    let dir = tempfile::tempdir().unwrap();
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &dir.path()
            .join("app/build/outputs/apk/release/app-release.apk"),
    );
    let broken = dir
        .path()
        .join("legacy/build/outputs/apk/release/legacy-release.apk");
    fs::create_dir_all(broken.parent().unwrap()).unwrap();
    fs::write(&broken, "half an apk").unwrap();
    let root = dir.path().to_str().unwrap();
    assert_eq!(
        names(&list(&[root, "--module", "app"])),
        ["app-release.apk"]
    );
    let r = run(&["apks", root]);
    assert_eq!(
        r.code, 2,
        "unfiltered, the damaged APK is an error: {}",
        r.stderr
    );
    assert!(
        r.stderr.contains("legacy-release.apk is not an APK"),
        "{}",
        r.stderr
    );
}

/// Runs `doksi apks --json DIR`, expecting success: the APKs listed and stderr.
fn apks_in(dir: &Path) -> (Vec<Value>, String) {
    let r = run(&["apks", "--json", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found = serde_json::from_str::<Value>(&r.stdout).unwrap();
    (found.as_array().unwrap().clone(), r.stderr)
}

#[test]
fn metadata_output_files_outside_their_folder_are_skipped_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app/build/outputs/apk/release");
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &out.join("app-release.apk"),
    );
    // A real APK outside the project's output folder, which a followed path would list.
    let outside = dir.path().join("elsewhere/outside.apk");
    copy("io.appium.settings-2.0.0-debug.apk", &outside);
    let mut bad = vec![
        "../../../etc/passwd".to_owned(),
        "../../../../../elsewhere/outside.apk".to_owned(),
        outside.to_str().unwrap().to_owned(),
    ];
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&outside, out.join("linked.apk")).unwrap();
        bad.push("linked.apk".to_owned());
    }
    let elements: Vec<Value> = std::iter::once("app-release.apk".to_owned())
        .chain(bad.iter().cloned())
        .map(|f| serde_json::json!({"type": "SINGLE", "filters": [], "outputFile": f}))
        .collect();
    let meta = serde_json::json!({
        "version": 3,
        "artifactType": {"type": "APK", "kind": "Directory"},
        "variantName": "release",
        "elements": elements,
    });
    let meta_path = out.join("output-metadata.json");
    fs::write(&meta_path, meta.to_string()).unwrap();

    let (found, stderr) = apks_in(dir.path());
    assert_eq!(names(&found), ["app-release.apk"], "{stderr}");
    assert_eq!(found[0]["variant"], "release");
    for b in &bad {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("outputFile {b:?}")))
            .unwrap_or_else(|| panic!("no warning for {b}: {stderr}"));
        assert!(line.starts_with("doksi: warning: "), "{line}");
        assert!(line.contains(meta_path.to_str().unwrap()), "{line}");
        assert!(line.contains("outside its folder"), "{line}");
    }
    assert!(
        !stderr.contains("does not exist"),
        "paths outside are not even looked at: {stderr}"
    );
}

#[test]
fn metadata_of_an_unknown_version_falls_back_to_the_folder_layout() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app/build/outputs/apk/free/release");
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &out.join("app-free-release.apk"),
    );
    // Were it read, this file would make the APK an x86 split of a variant named "future".
    let meta = r#"{"version":99,"artifactType":{"type":"APK","kind":"Directory"},"variantName":"future","elements":[{"type":"ONE_OF_MANY","filters":[{"filterType":"ABI","value":"x86"}],"outputFile":"app-free-release.apk"}]}"#;
    let meta_path = out.join("output-metadata.json");
    fs::write(&meta_path, meta).unwrap();

    let (found, stderr) = apks_in(dir.path());
    assert_eq!(names(&found), ["app-free-release.apk"], "{stderr}");
    assert_eq!(found[0]["variant"], "freeRelease");
    assert_eq!(found[0]["abi"], Value::Null);
    assert_eq!(found[0]["module"], "app");
    let warning = format!(
        "doksi: warning: {}: output metadata version 99 is not one doksi reads (1 to 3); using the folder layout instead",
        meta_path.display()
    );
    assert!(stderr.lines().any(|l| l == warning), "{stderr}");

    // Without a version the file is no more trusted.
    fs::write(&meta_path, meta.replace(r#""version":99,"#, "")).unwrap();
    let (found, stderr) = apks_in(dir.path());
    assert_eq!(found[0]["abi"], Value::Null, "{stderr}");
    assert!(
        stderr.contains("output metadata names no version; using the folder layout instead"),
        "{stderr}"
    );
}

#[test]
fn variants_are_matched_as_gradle_names_them() {
    let shop = shop();
    let shop = shop.to_str().unwrap();
    // A build type takes every flavor's build of it (and wear's plain `release`).
    assert_eq!(
        names(&list(&[shop, "--variant", "release"])),
        ["app-free-universal-release.apk", "wear-release.apk"]
    );
    // A flavor takes each of its build types.
    assert_eq!(
        names(&list(&[shop, "--variant", "paid"])),
        ["app-paid-debug.apk"]
    );
    assert_eq!(
        names(&list(&[shop, "--variant", "FreeRelease"])),
        ["app-free-universal-release.apk"]
    );
    // A typo lists what exists, in the module asked for or in all of them.
    for (args, want) in [
        (
            vec!["--variant", "relase", "--module", "app"],
            "no APKs for variant relase in app; found: freeRelease, paidDebug",
        ),
        (
            vec!["--variant", "relase"],
            "no APKs for variant relase; found: freeRelease, paidDebug, release",
        ),
        (
            vec!["--module", "waer"],
            "no APKs for module waer; found modules: app, wear",
        ),
    ] {
        let mut all = vec!["apks", shop];
        all.extend(args);
        crate::common::one_line_error(&all, want);
    }
}

#[test]
fn a_run_takes_one_variant_per_module_and_no_test_apk() {
    let sb = crate::sandbox::Sandbox::start(&[]);
    let shop = shop();
    let shop = shop.to_str().unwrap();
    let test_apk = format!(
        "{shop}/app/build/outputs/apk/androidTest/paid/debug/app-paid-debug-androidTest.apk"
    );
    for (args, want) in [
        (
            vec!["ci", shop, "--category", "cat_smoke"],
            "app has APKs of several variants (freeRelease, paidDebug): type --variant freeRelease or --variant paidDebug, or --all-variants to run on each",
        ),
        (
            vec!["ci", shop, "--category", "cat_smoke", "--include-tests"],
            "--include-tests cannot be used with a run",
        ),
        (
            vec!["ci", &test_apk, "--category", "cat_smoke"],
            "app-paid-debug-androidTest.apk is an instrumentation (androidTest) APK: it tests",
        ),
        (
            vec!["run", "--apk", &test_apk, "--test", "t_login"],
            "cannot be a run's destination",
        ),
        (
            vec!["upload", &test_apk],
            "is an instrumentation (androidTest) APK; pass --include-tests to take it",
        ),
    ] {
        let r = sb.run(&args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{args:?}: want {want:?} in {}",
            r.stderr
        );
    }
    assert_eq!(sb.total(), 0, "nothing was sent");
    // Asked for, every variant is a destination of its own.
    let r = sb.run(&[
        "ci",
        shop,
        "--module",
        "app",
        "--category",
        "cat_smoke",
        "--all-variants",
        "--dry-run",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plan: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(plan["run"]["body"]["matrix"].as_array().unwrap().len(), 2);
}

/// `app` with `freeRelease` built as a regular APK, as an App Bundle, and as the universal APK
/// made from that bundle; the bundle is not a real one, so reading it would fail the command.
fn built_both_ways() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app/build/outputs");
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &out.join("apk/free/release/app-free-release.apk"),
    );
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &out.join("apk_from_bundle/freeRelease/app-freeRelease-universal.apk"),
    );
    let aab = out.join("bundle/freeRelease/app-free-release.aab");
    fs::create_dir_all(aab.parent().unwrap()).unwrap();
    fs::write(aab, "not a bundle").unwrap();
    dir
}

/// `doksi apks --json DIR` with `DOKSI_FROM_BUNDLE` set to `value`: the file names listed.
fn names_with_from_bundle_env(dir: &Path, value: &str) -> Vec<String> {
    let home = tempfile::tempdir().unwrap();
    let out = crate::common::doksi(home.path())
        .env("DOKSI_FROM_BUNDLE", value)
        .args(["apks", "--json", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    names(found.as_array().unwrap())
}

#[test]
fn a_variant_built_both_ways_lists_its_regular_apk_unless_from_bundle() {
    let dir = built_both_ways();
    let root = dir.path().to_str().unwrap();
    let regular = list(&[root]);
    assert_eq!(names(&regular), ["app-free-release.apk"]);
    assert_eq!(
        (
            regular[0]["module"].as_str(),
            regular[0]["variant"].as_str()
        ),
        (Some("app"), Some("freeRelease"))
    );
    assert!(regular[0].get("from_bundle").is_none(), "{}", regular[0]);
    let from_bundle = list(&[root, "--from-bundle"]);
    assert_eq!(names(&from_bundle), ["app-freeRelease-universal.apk"]);
    assert_eq!(from_bundle[0]["from_bundle"], true);
    assert_eq!(
        (
            from_bundle[0]["module"].as_str(),
            from_bundle[0]["variant"].as_str()
        ),
        (Some("app"), Some("freeRelease"))
    );
    // The variant filters see one variant, whichever build is taken.
    assert_eq!(
        names(&list(&[root, "--variant", "free", "--from-bundle"])),
        ["app-freeRelease-universal.apk"]
    );
    assert_eq!(
        names_with_from_bundle_env(dir.path(), "1"),
        ["app-freeRelease-universal.apk"]
    );
    assert_eq!(
        names_with_from_bundle_env(dir.path(), "false"),
        ["app-free-release.apk"]
    );
}

#[test]
fn a_variant_built_only_from_its_bundle_is_found_with_or_without_metadata() {
    let dir = built_both_ways();
    let out = dir
        .path()
        .join("app/build/outputs/apk_from_bundle/paidRelease");
    copy(
        "io.appium.settings-2.0.0-debug.apk",
        &out.join("app-paidRelease-universal.apk"),
    );
    let root = dir.path().to_str().unwrap();
    for args in [vec![root], vec![root, "--from-bundle"]] {
        let found = list(&args);
        let paid: Vec<&Value> = found
            .iter()
            .filter(|a| a["variant"] == "paidRelease")
            .collect();
        assert_eq!(paid.len(), 1, "{args:?}: {found:?}");
        assert_eq!(paid[0]["module"], "app");
        assert_eq!(found.len(), 2, "one APK per variant: {found:?}");
    }
    // Metadata beside it is read as in build/outputs/apk: here it calls the APK universal.
    let meta = serde_json::json!({
        "version": 3,
        "artifactType": {"type": "APK", "kind": "Directory"},
        "variantName": "paidRelease",
        "elements": [{"type": "UNIVERSAL", "filters": [], "outputFile": "app-paidRelease-universal.apk"}],
    });
    fs::write(out.join("output-metadata.json"), meta.to_string()).unwrap();
    let (found, stderr) = apks_in(dir.path());
    assert!(!stderr.contains("warning"), "{stderr}");
    assert_eq!(
        names(&found),
        ["app-free-release.apk", "app-paidRelease-universal.apk"]
    );
    let paid = list(&[root, "--variant", "paidRelease"]);
    assert_eq!(names(&paid), ["app-paidRelease-universal.apk"]);
    assert_eq!(paid[0]["manifest"]["package"], "io.appium.settings");
}

#[test]
fn app_bundles_are_never_listed_as_apks() {
    let dir = built_both_ways();
    let root = dir.path().to_str().unwrap();
    // Beside an APK the bundle is not read (its bytes would fail inspection) nor listed.
    for args in [
        vec![root],
        vec![root, "--from-bundle"],
        vec![root, "--include-tests"],
    ] {
        assert!(
            names(&list(&args)).iter().all(|n| n.ends_with(".apk")),
            "{args:?}"
        );
    }
    // Only the bundle: nothing found, not the bundle.
    fs::remove_dir_all(dir.path().join("app/build/outputs/apk")).unwrap();
    fs::remove_dir_all(dir.path().join("app/build/outputs/apk_from_bundle")).unwrap();
    let r = run(&["apks", "--json", root]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no APKs found"), "{}", r.stderr);
    // ... and what to do with the bundle.
    assert!(
        r.stderr.contains("found App Bundles but no APKs")
            && r.stderr.contains("packageFreeReleaseUniversalApk"),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
}

#[test]
fn an_abi_a_split_only_variant_lacks_is_an_error_not_a_silent_drop() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("app/build/outputs/apk/release");
    for name in ["app-arm64-v8a-release.apk", "app-x86_64-release.apk"] {
        copy("appium-unlock-2.0.0-debug.apk", &out.join(name));
    }
    fs::write(
        out.join("output-metadata.json"),
        r#"{"version":3,"artifactType":{"type":"APK","kind":"Directory"},"variantName":"release","elements":[
            {"type":"ONE_OF_MANY","filters":[{"filterType":"ABI","value":"arm64-v8a"}],"outputFile":"app-arm64-v8a-release.apk"},
            {"type":"ONE_OF_MANY","filters":[{"filterType":"ABI","value":"x86_64"}],"outputFile":"app-x86_64-release.apk"}]}"#,
    )
    .unwrap();
    copy(
        "io.appium.settings-2.0.0-debug.apk",
        &dir.path()
            .join("wear/build/outputs/apk/release/wear-release.apk"),
    );
    let root = dir.path().to_str().unwrap();
    assert_eq!(
        names(&list(&[root, "--abi", "x86_64"])),
        ["app-x86_64-release.apk", "wear-release.apk"]
    );
    crate::common::one_line_error(
        &["apks", root, "--abi", "x86"],
        "no APK for ABI x86 in app release; the ABIs there are: arm64-v8a, x86_64",
    );
}

/// The folder AGP's artifact API gives for a variant's APKs, under a custom buildDir: named on
/// the command line, it is read by its output-metadata.json (what the Gradle snippet hands doksi
/// on AGP 7+); the project above it, walked, has no build/outputs and yields nothing.
#[test]
fn an_apk_folder_outside_build_outputs_is_taken_by_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("app/out/outputs/apk/release");
    copy(
        "appium-unlock-2.0.0-debug.apk",
        &folder.join("shop-1.2-release.apk"),
    );
    // Beside it, not listed in the metadata: a leftover, never taken.
    copy(
        "appium-android-ime-2.0.0-debug.apk",
        &folder.join("old.apk"),
    );
    let metadata = serde_json::json!({
        "version": 3,
        "artifactType": {"type": "APK", "kind": "Directory"},
        "variantName": "release",
        "elements": [{"type": "SINGLE", "filters": [], "outputFile": "shop-1.2-release.apk"}],
    });
    fs::write(folder.join("output-metadata.json"), metadata.to_string()).unwrap();
    let path = folder.to_str().unwrap();
    // The module and variant filters do not drop what was named.
    let found = list(&[path, "--module", "app", "--variant", "release"]);
    assert_eq!(names(&found), ["shop-1.2-release.apk"]);
    assert_eq!(found[0]["variant"], "release");
    assert_eq!(found[0]["manifest"]["package"], "io.appium.unlock");
    let r = run(&["apks", dir.path().to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no APKs found"), "{}", r.stderr);
}
