//! Signature schemes, detected (not verified) in every real APK and checked against apksigner;
//! an unsigned copy is warned about before upload, and refused with `--require-signed`.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use crate::common::{fixture_apks, json, needed_tool, run};
use crate::sandbox::{Sandbox, path_str};

fn schemes(apk: &Path) -> (bool, Vec<String>) {
    let m = json(&["inspect", "--json", path_str(apk)]);
    let schemes = m["signature_schemes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    (m["signed"].as_bool().unwrap(), schemes)
}

#[test]
fn every_real_apk_is_signed_with_the_schemes_its_sources_name() {
    // From ../shared/apks/SOURCES.md (apksigner verify -v at the time the APKs were collected).
    for (name, want) in [
        ("appium-unlock-2.0.0-debug.apk", &["v1"][..]),
        ("io.appium.settings-2.0.0-debug.apk", &["v1"]),
        ("appium-uiautomator2-server-1.12.0.apk", &["v1", "v2"]),
        ("uiautomator2-3.7.1-app-uiautomator.apk", &["v1", "v2"]),
        ("io.appium.settings-8.0.10-debug.apk", &["v2"]),
    ] {
        let apk = crate::common::apk_fixtures().join(name);
        assert_eq!(
            schemes(&apk),
            (true, want.iter().map(|s| s.to_string()).collect()),
            "{name}"
        );
    }
    for apk in fixture_apks() {
        assert!(schemes(&apk).0, "{}", apk.display());
    }
}

#[test]
fn detected_schemes_cover_what_apksigner_verifies() {
    let Some(apksigner) = needed_tool("apksigner", "apksigner") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let unsigned = dir.path().join("unsigned.apk");
    unsigned_copy(
        &crate::common::apk_fixtures().join("appium-unlock-2.0.0-debug.apk"),
        &unsigned,
    );
    let mut apks = fixture_apks();
    apks.push(unsigned);
    for apk in apks {
        let out = std::process::Command::new(&apksigner)
            .args(["verify", "-v"])
            .arg(&apk)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let verified: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let rest = l.strip_prefix("Verified using v")?;
                let (version, tail) = rest.split_once(' ')?;
                tail.ends_with("true").then(|| format!("v{version}"))
            })
            .collect();
        let (signed, found) = schemes(&apk);
        if verified.is_empty() {
            // Not verified: either there is no signature (so none is found), or one is there
            // but no longer matches (native-libs.apk gained lib/ after signing): presence.
            let errors = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
            let none = errors.contains("Missing META-INF/MANIFEST.MF")
                || errors.contains("No JAR signatures")
                || errors.contains("no signatures");
            assert_eq!(signed, !none, "{}: {errors}", apk.display());
            continue;
        }
        assert!(signed, "{}: {text}", apk.display());
        // Presence, not verification: a v1 signature a minSdk 24+ APK carries is not checked
        // by apksigner, but is there.
        for v in &verified {
            assert!(
                found.contains(v),
                "{}: {v} not found in {found:?}",
                apk.display()
            );
        }
    }
}

/// `apk` without its signatures: the entries copied raw but META-INF's signature files, so the
/// signing block (which sits before the directory) is gone too.
pub(crate) fn unsigned_copy(apk: &Path, to: &Path) {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(apk).unwrap()).unwrap();
    let mut out = zip::ZipWriter::new(std::fs::File::create(to).unwrap());
    for i in 0..zip.len() {
        let entry = zip.by_index_raw(i).unwrap();
        let name = entry.name().unwrap().into_owned();
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("META-INF/")
            && [".SF", ".RSA", ".DSA", ".EC", ".MF"]
                .iter()
                .any(|e| upper.ends_with(e))
        {
            continue;
        }
        out.raw_copy_file(entry).unwrap();
    }
    out.finish().unwrap().flush().unwrap();
}

#[test]
fn an_unsigned_apk_is_warned_about_and_refused_when_signing_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let unsigned = dir.path().join("app-release-unsigned.apk");
    unsigned_copy(
        &crate::common::apk_fixtures().join("io.appium.settings-8.0.10-debug.apk"),
        &unsigned,
    );
    assert_eq!(schemes(&unsigned), (false, vec![]));
    let sb = Sandbox::start(&[]);
    let refused = sb.run(&["upload", path_str(&unsigned), "--require-signed"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("app-release-unsigned.apk is not signed (--require-signed)")
            && refused
                .stderr
                .contains("signingConfig signingConfigs.debug"),
        "{}",
        refused.stderr
    );
    assert_eq!(sb.total(), 0, "nothing was sent");
    let warned = sb.run(&["upload", "--json", path_str(&unsigned)]);
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    assert!(
        warned.stderr.contains("warning: ") && warned.stderr.contains("is not signed"),
        "{}",
        warned.stderr
    );
    let up: Vec<Value> = serde_json::from_str(&warned.stdout).unwrap();
    assert!(up[0]["target_id"].is_string());
    // A signed APK says nothing of the kind.
    let signed = run(&[
        "apks",
        path_str(&crate::common::apk_fixtures().join("appium-unlock-2.0.0-debug.apk")),
    ]);
    assert!(!signed.stderr.contains("not signed"), "{}", signed.stderr);
}
