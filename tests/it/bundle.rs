//! App bundles (`.aab`): the protobuf XML manifest decoded from a committed fixture that Debian's
//! `protoc` encoded from a textproto (and re-encodes here when installed, so the fixture cannot
//! drift from its source), read through a real bundle-shaped zip, and survived under mutation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use doksi::apk::proto_xml::{self, Item, Prim, XmlNode};
use doksi::apk::{ApkError, Manifest, read_bundle_manifest};

use crate::common::fixtures;
use crate::hostile::{XorShift, mutate};

fn aab_fixtures() -> PathBuf {
    fixtures().join("aab")
}

fn manifest_pb() -> Vec<u8> {
    std::fs::read(aab_fixtures().join("AndroidManifest.pb")).unwrap()
}

fn expected() -> Manifest {
    Manifest {
        package: Some("com.example.shop".into()),
        version_code: Some(4012),
        version_name: Some("4.0.12".into()),
        min_sdk: Some(24),
        target_sdk: Some(34),
        debuggable: true,
        permissions: vec!["android.permission.INTERNET".into()],
        launchable_activity: Some("com.example.shop.MainActivity".into()),
        notes: vec![
            "application label @0x7f0b0000 could not be resolved: bundle resource tables \
             (resources.pb) are not read"
                .into(),
        ],
        ..Manifest::default()
    }
}

#[test]
fn protoc_encoded_manifest_decodes_to_its_textproto() {
    let bytes = manifest_pb();
    let root = proto_xml::parse(&bytes).unwrap();
    assert_eq!(root.name, "manifest");
    assert_eq!(root.namespaces[0].prefix, "android");
    let code = root
        .attributes
        .iter()
        .find(|a| a.resource_id == 0x0101_021b)
        .unwrap();
    assert_eq!(code.value, "4012");
    assert_eq!(code.compiled_item, Some(Item::Prim(Prim::IntDecimal(4012))));
    assert_eq!(root.children[0], XmlNode::Text("\n    "));
    assert_eq!(Manifest::read_proto(&root, vec![]), expected());
}

#[test]
fn committed_manifest_is_what_protoc_encodes_from_the_textproto() {
    let dir = aab_fixtures();
    let spawned = Command::new("protoc")
        .arg("--encode=aapt.pb.XmlNode")
        .arg(format!("--proto_path={}", dir.display()))
        .arg(dir.join("manifest.proto"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // CI installs it (.ci/run); there a missing protoc is a broken setup, not a skip.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "protoc is not installed (apt-get install protobuf-compiler)"
            );
            eprintln!("skipped: protoc is not installed (apt-get install protobuf-compiler)");
            return;
        }
        Err(e) => panic!("cannot run protoc: {e}"),
    };
    let text = std::fs::read(dir.join("manifest.textproto")).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == manifest_pb(),
        "tests/fixtures/aab/AndroidManifest.pb is stale: re-encode it from manifest.textproto \
         (command in its header)"
    );
}

/// A zip laid out as bundletool lays out an `.aab`: the base module's manifest, dex and native
/// code under `base/`, the bundle config at the top.
fn write_bundle(path: &Path, manifest: &[u8]) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let deflated = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("BundleConfig.pb", &b"\x0a\x05\x0a\x031.0"[..]),
        ("base/manifest/AndroidManifest.xml", manifest),
        ("base/dex/classes.dex", b"dex\n035\0"),
        ("base/lib/arm64-v8a/libshop.so", b"\x7fELF"),
        ("base/resources.pb", b""),
    ] {
        w.start_file(name, deflated).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap();
}

#[test]
fn bundle_manifest_is_read_from_a_real_aab_zip() {
    let dir = tempfile::tempdir().unwrap();
    let aab = dir.path().join("app-release.aab");
    write_bundle(&aab, &manifest_pb());
    let m = read_bundle_manifest(&aab).unwrap();
    assert_eq!(
        m,
        Manifest {
            abis: vec!["arm64-v8a".into()],
            ..expected()
        }
    );
}

#[test]
fn bundles_that_cannot_be_read_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("text.aab"), "not a zip").unwrap();
    assert!(matches!(
        read_bundle_manifest(&p("text.aab")),
        Err(ApkError::NotBundle { .. })
    ));
    assert!(matches!(
        read_bundle_manifest(&p("missing.aab")),
        Err(ApkError::Io { .. })
    ));
    // An APK is not a bundle: its manifest is at the top, not under base/manifest/.
    let mut w = zip::ZipWriter::new(std::fs::File::create(p("app.apk")).unwrap());
    w.start_file(
        "AndroidManifest.xml",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    w.write_all(b"\x03\x00\x08\x00").unwrap();
    w.finish().unwrap();
    let err = read_bundle_manifest(&p("app.apk")).unwrap_err();
    assert!(matches!(err, ApkError::NoBundleManifest { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("base/manifest/AndroidManifest.xml")
    );
    let mut damaged = manifest_pb();
    damaged.truncate(damaged.len() / 2);
    write_bundle(&p("damaged.aab"), &damaged);
    let err = read_bundle_manifest(&p("damaged.aab")).unwrap_err();
    assert!(matches!(err, ApkError::BundleManifest { .. }), "{err}");
    assert!(err.to_string().contains("is damaged"), "{err}");
}

#[test]
fn mutated_bundle_manifests_never_panic() {
    let manifest = manifest_pb();
    let mut rng = XorShift(0x5851_f42d_4c95_7f2d);
    let mut decoded = 0;
    for _ in 0..5000 {
        let m = mutate(&mut rng, &manifest);
        if let Ok(root) = proto_xml::parse(&m) {
            decoded += 1;
            let _ = Manifest::read_proto(&root, vec![]);
        }
    }
    for cut in 0..manifest.len() {
        if let Ok(root) = proto_xml::parse(&manifest[..cut]) {
            let _ = Manifest::read_proto(&root, vec![]);
        }
    }
    assert!(
        decoded > 100,
        "mutations should often still decode ({decoded})"
    );
}

/// A stand-in bundletool: checks it was asked for a universal build of the bundle it was given,
/// logs each call, and writes a real `.apks` holding a real APK as `universal.apk`.
fn stand_in_bundletool(dir: &Path) -> PathBuf {
    stand_in_bundletool_making(dir, &std::fs::read(crate::sandbox::unlock_apk()).unwrap())
}

/// [`stand_in_bundletool`], whose universal APK is `apk`.
fn stand_in_bundletool_making(dir: &Path, apk: &[u8]) -> PathBuf {
    let apks = dir.join("made.apks");
    {
        let mut w = zip::ZipWriter::new(std::fs::File::create(&apks).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        w.start_file("toc.pb", stored).unwrap();
        w.write_all(b"toc").unwrap();
        w.start_file("universal.apk", stored).unwrap();
        w.write_all(apk).unwrap();
        w.finish().unwrap();
    }
    let script = dir.join("bundletool");
    std::fs::write(
        &script,
        format!(
            r#"#!/bin/sh
echo "$@" "key=${{DOKSI_API_KEY:-none}} pass=${{DOKSI_KS_PASS:-none}}" >> "{log}"
[ "$1" = build-apks ] || {{ echo "not build-apks: $1" >&2; exit 3; }}
case " $* " in *" --mode=universal "*) ;; *) echo "no --mode=universal" >&2; exit 3;; esac
out=; bundle=
for a in "$@"; do
  case "$a" in --output=*) out="${{a#--output=}}";; --bundle=*) bundle="${{a#--bundle=}}";; esac
done
[ -f "$bundle" ] || {{ echo "no bundle at $bundle" >&2; exit 3; }}
cp "{apks}" "$out"
"#,
            log = dir.join("calls.log").display(),
            apks = apks.display()
        ),
    )
    .unwrap();
    let mut perms = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&script, perms).unwrap();
    script
}

#[cfg(unix)]
#[test]
fn a_bundle_is_uploaded_as_the_universal_apk_bundletool_makes_once() {
    let dir = tempfile::tempdir().unwrap();
    let aab = dir.path().join("app-release.aab");
    write_bundle(&aab, &manifest_pb());
    let aab = aab.to_str().unwrap();
    let sb = crate::sandbox::Sandbox::start(&[]);
    // Without bundletool: what to do, before anything is sent.
    let r = sb.run_with(&["upload", aab], &[("PATH", "/usr/bin:/bin")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is an Android App Bundle")
            && r.stderr.contains("package<Variant>UniversalApk")
            && r.stderr.contains("DOKSI_BUNDLETOOL"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.total(), 0);
    // `inspect` reads the bundle's protobuf manifest.
    let inspect = sb.run(&["inspect", "--json", aab]);
    assert_eq!(inspect.code, 0, "{}", inspect.stderr);
    let m: serde_json::Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(m["package"], expected().package.unwrap());
    // With it: converted, uploaded, and the target registered from the universal APK.
    let tool = stand_in_bundletool(dir.path());
    let env = [("DOKSI_BUNDLETOOL", tool.to_str().unwrap())];
    let first = sb.run_with(&["upload", "--json", aab], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let up: Vec<serde_json::Value> = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(up[0]["cached"], false);
    // The sandbox numbers uploads from 1: this is the only one.
    let stored = sb.stored_upload("upl_1");
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(stored)).unwrap();
    let mut inner = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_index(0).unwrap(), &mut inner).unwrap();
    assert_eq!(inner, std::fs::read(crate::sandbox::unlock_apk()).unwrap());
    assert_eq!(
        zip.by_index(0).unwrap().name().unwrap(),
        "app-release-universal.apk"
    );
    // The unchanged bundle is a cache hit: not converted, not uploaded again.
    let again = sb.run_with(
        &[
            "ci",
            aab,
            "--category",
            "cat_smoke",
            "--poll-interval",
            "100ms",
        ],
        &env,
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("cached: target"), "{}", again.stderr);
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert_eq!(calls.lines().count(), 1, "{calls}");
    assert!(calls.contains(&format!("--bundle={aab}")), "{calls}");
    assert_eq!(sb.count("PUT /uploads"), 1);
}

#[cfg(unix)]
#[test]
fn a_keystore_reaches_bundletool_with_its_passwords_in_files() {
    let dir = tempfile::tempdir().unwrap();
    let aab = dir.path().join("app.aab");
    write_bundle(&aab, &manifest_pb());
    let tool = stand_in_bundletool(dir.path());
    let sb = crate::sandbox::Sandbox::start(&[]);
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let r = sb.run_with(
        &[
            "upload",
            aab.to_str().unwrap(),
            "--ks",
            "/keys/release.jks",
            "--ks-key-alias",
            "upload",
        ],
        &[
            ("DOKSI_BUNDLETOOL", tool.to_str().unwrap()),
            ("DOKSI_KS_PASS", "s3cret-store"),
            ("DOKSI_KEY_PASS", "s3cret-key"),
            ("TMPDIR", tmp.to_str().unwrap()),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = std::fs::read_to_string(dir.path().join("calls.log")).unwrap();
    assert!(calls.contains("--ks=/keys/release.jks"), "{calls}");
    assert!(calls.contains("--ks-key-alias=upload"), "{calls}");
    assert!(
        calls.contains("--ks-pass=file:") && calls.contains("--key-pass=file:"),
        "{calls}"
    );
    assert!(
        !calls.contains("s3cret"),
        "passwords never on the command line: {calls}"
    );
    // Nor in bundletool's environment, with the API key; and nothing is left behind.
    assert!(calls.contains("key=none pass=none"), "{calls}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "files left in TMPDIR"
    );
}

#[cfg(unix)]
#[test]
fn an_unsigned_universal_apk_is_said_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let aab = dir.path().join("app.aab");
    write_bundle(&aab, &manifest_pb());
    let unsigned = dir.path().join("unsigned.apk");
    crate::signing::unsigned_copy(&crate::sandbox::unlock_apk(), &unsigned);
    let tool = stand_in_bundletool_making(dir.path(), &std::fs::read(&unsigned).unwrap());
    let env = [("DOKSI_BUNDLETOOL", tool.to_str().unwrap())];
    let sb = crate::sandbox::Sandbox::start(&[]);
    let aab = aab.to_str().unwrap();
    let refused = sb.run_with(&["upload", aab, "--require-signed"], &env);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("is not signed") && refused.stderr.contains("--require-signed"),
        "{}",
        refused.stderr
    );
    assert_eq!(sb.total(), 0, "nothing was sent");
    let warned = sb.run_with(&["upload", aab], &env);
    assert_eq!(warned.code, 0, "{}", warned.stderr);
    assert!(warned.stderr.contains("pass --ks"), "{}", warned.stderr);
    // Signed with another key, the same bundle is another APK: made and uploaded again.
    let other = sb.run_with(
        &[
            "upload",
            aab,
            "--ks",
            "/keys/release.jks",
            "--ks-key-alias",
            "k",
        ],
        &env,
    );
    assert_eq!(other.code, 0, "{}", other.stderr);
    assert_eq!(sb.count("PUT /uploads"), 2);
}
