//! The manifest decoder against real tooling: `aapt dump badging` / `dump xmltree` output stored
//! beside each fixture APK, androguard's XML, aapt run live where installed, and the
//! `apk-info-axml` crate as a second decoder.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{fixture_apks, json as doksi_json, oracle, run};

/// The value of `key='…'` on a badging line.
fn quoted(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("{key}='"))? + key.len() + 2;
    let rest = &line[start..];
    Some(rest[..rest.find('\'')?].to_owned())
}

/// The JSON object `doksi inspect --json` must print, read off aapt's badging and xmltree output
/// with the mapping in ORACLE.md.
fn expected(badging: &str, xmltree: &str) -> Value {
    let lines: Vec<&str> = badging.lines().collect();
    let pkg = lines
        .iter()
        .find(|l| l.starts_with("package: "))
        .expect("package line");
    let int = |s: Option<String>| {
        s.filter(|s| !s.is_empty())
            .map(|s| s.parse::<i64>().unwrap())
    };
    let single = |prefix: &str| {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim_matches('\'').to_owned())
    };
    let mut permissions = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Some(name) = l
            .strip_prefix("uses-permission: ")
            .and_then(|l| quoted(l, "name"))
        {
            let implied = lines.get(i + 1).is_some_and(|n| {
                n.starts_with("uses-implied-permission: ")
                    && quoted(n, "name").as_ref() == Some(&name)
            });
            if !implied {
                permissions.push(name);
            }
        }
    }
    let abis: Vec<String> = single("native-code: ")
        .map(|v| v.split("' '").map(str::to_owned).collect())
        .unwrap_or_default();
    // Not in badging: the instrumentation target and testOnly, read from the xmltree listing.
    let target = xmltree.split("E: instrumentation").nth(1).and_then(|rest| {
        let line = rest
            .lines()
            .find(|l| l.contains("android:targetPackage("))?;
        Some(line.split("=\"").nth(1)?.split('"').next()?.to_owned())
    });
    json!({
        "package": quoted(pkg, "name"),
        "version_code": int(quoted(pkg, "versionCode")),
        "version_name": quoted(pkg, "versionName").filter(|s| !s.is_empty()),
        "min_sdk": int(single("sdkVersion:")),
        "target_sdk": int(single("targetSdkVersion:")),
        "compile_sdk": int(quoted(pkg, "compileSdkVersion")),
        "label": single("application-label:"),
        "debuggable": lines.contains(&"application-debuggable"),
        "test_only": xmltree.contains("android:testOnly(0x01010272)=(type 0x12)0xffffffff"),
        "instrumentation_target": target,
        "permissions": permissions,
        "launchable_activity": lines.iter().find_map(|l| l.strip_prefix("launchable-activity:").and_then(|l| quoted(l, "name"))),
        "abis": abis,
    })
}

fn check_against(apk: &Path, badging: &str, xmltree: &str) {
    let got = doksi_json(&["inspect", "--json", apk.to_str().unwrap()]);
    let want = expected(badging, xmltree);
    for (key, value) in want.as_object().unwrap() {
        assert_eq!(&got[key], value, "{}: field {key}", apk.display());
    }
    // The signature keys are not badging's: tests/it/signing.rs holds them against apksigner.
    let compared = got
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !matches!(k.as_str(), "signed" | "signature_schemes"))
        .count();
    assert_eq!(
        compared,
        want.as_object().unwrap().len(),
        "{}: extra keys",
        apk.display()
    );
}

#[test]
fn every_fixture_apk_matches_its_badging_oracle_field_by_field() {
    for apk in fixture_apks() {
        let badging = oracle(&apk, "badging.txt").unwrap();
        let xmltree = oracle(&apk, "xmltree.txt").unwrap();
        check_against(&apk, &badging, &xmltree);
    }
}

#[test]
fn xmltree_output_is_byte_identical_to_aapt() {
    for apk in fixture_apks() {
        let r = run(&["inspect", "--xmltree", apk.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(
            r.stdout,
            oracle(&apk, "xmltree.txt").unwrap(),
            "{}",
            apk.display()
        );
    }
}

#[test]
fn xml_output_is_identical_to_androguard() {
    let mut compared = 0;
    for apk in fixture_apks() {
        let Some(want) = oracle(&apk, "androguard.xml") else {
            continue;
        };
        let r = run(&["inspect", "--xml", apk.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.stdout, want, "{}", apk.display());
        compared += 1;
    }
    assert!(compared >= 11);
}

#[test]
fn label_unresolved_without_resources_is_said_not_guessed() {
    // The unlock APK's label is @0x7f040000; strip resources.arsc and it cannot resolve.
    let dir = tempfile::tempdir().unwrap();
    let src = crate::common::apk_fixtures().join("appium-unlock-2.0.0-debug.apk");
    let dst = dir.path().join("no-arsc.apk");
    let status = Command::new("python3")
        .args(["-c", "import sys,zipfile\nzi=zipfile.ZipFile(sys.argv[1]);zo=zipfile.ZipFile(sys.argv[2],'w')\nfor i in zi.infolist():\n  i.filename!='resources.arsc' and zo.writestr(i, zi.read(i.filename))\nzo.close()"])
        .arg(&src)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(status.success());
    let r = run(&["inspect", "--json", dst.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["label"], Value::Null);
    assert_eq!(v["package"], "io.appium.unlock");
    assert!(
        r.stderr.contains("label @0x7f040000 could not be resolved"),
        "{}",
        r.stderr
    );
}

/// Live `aapt`, where installed (`.ci/run` installs it): every fixture, plus the framework
/// resources APK that Debian ships (45 MB, a 222 KB manifest) when present.
#[test]
fn live_aapt_agrees_where_installed() {
    let Some(aapt) = crate::common::needed_tool("aapt", "aapt") else {
        return;
    };
    let mut apks = fixture_apks();
    let framework = Path::new("/usr/share/android-framework-res/framework-res.apk");
    if framework.is_file() {
        apks.push(framework.to_owned());
    }
    for apk in apks {
        let dump = |args: &[&str]| {
            let out = Command::new(&aapt)
                .args(args)
                .arg(&apk)
                .args(if args[1] == "xmltree" {
                    &["AndroidManifest.xml"][..]
                } else {
                    &[]
                })
                .output()
                .unwrap();
            assert!(out.status.success(), "aapt {args:?} {}", apk.display());
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let badging = dump(&["dump", "badging"]);
        let xmltree = dump(&["dump", "xmltree"]);
        check_against(&apk, &badging, &xmltree);
        let ours = run(&["inspect", "--xmltree", apk.to_str().unwrap()]);
        assert_eq!(ours.stdout, xmltree, "{}", apk.display());
    }
}

/// A second, independent decoder (`apk-info-axml`) reads the same fields the same way.
#[test]
fn apk_info_axml_agrees_on_every_fixture() {
    use apk_info_axml::{ARSC, AXML};
    use std::io::Read;
    for apk in fixture_apks() {
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&apk).unwrap()).unwrap();
        let mut manifest = Vec::new();
        zip.by_name("AndroidManifest.xml")
            .unwrap()
            .read_to_end(&mut manifest)
            .unwrap();
        let mut arsc_bytes = Vec::new();
        zip.by_name("resources.arsc")
            .unwrap()
            .read_to_end(&mut arsc_bytes)
            .unwrap();
        let arsc = ARSC::new(&mut &arsc_bytes[..]).ok();
        let theirs = AXML::new(&mut &manifest[..], arsc.as_ref()).unwrap();
        let ours = doksi_json(&["inspect", "--json", apk.to_str().unwrap()]);
        let name = apk.display();
        assert_eq!(
            ours["package"].as_str(),
            theirs
                .get_attribute_value("manifest", "package", None)
                .as_deref(),
            "{name}"
        );
        assert_eq!(
            ours["version_name"].as_str(),
            theirs
                .get_attribute_value("manifest", "versionName", None)
                .as_deref(),
            "{name}"
        );
        assert_eq!(
            ours["version_code"].as_i64().map(|n| n.to_string()),
            theirs.get_attribute_value("manifest", "versionCode", None),
            "{name}"
        );
        let perms: Vec<&str> = theirs
            .get_root_attribute_values("uses-permission", "name")
            .collect();
        let our_perms: Vec<&str> = ours["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(our_perms, perms, "{name}");
        if let Some(label) = ours["label"].as_str() {
            assert_eq!(
                Some(label.to_owned()),
                theirs.get_attribute_value("application", "label", arsc.as_ref()),
                "{name}"
            );
        }
    }
}
