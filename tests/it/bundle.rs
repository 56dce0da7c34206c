//! App bundles (`.aab`): the protobuf XML manifest and the resource table decoded from committed
//! fixtures that Debian's `protoc` encoded from textprotos (and re-encodes here when installed, so
//! the fixtures cannot drift from their source), read through a real bundle-shaped zip by the real
//! binary, checked against what aapt2 links and aapt prints for the same resources, and survived
//! under mutation.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use doksi::apk::proto_table::{Lookup, ResourceTable};
use doksi::apk::proto_xml::{self, Item, Prim, XmlNode};
use doksi::apk::{ApkError, Manifest, read_bundle_manifest};

use crate::common::{fixtures, needed_tool, run};
use crate::hostile::{XorShift, mutate};

fn aab_fixtures() -> PathBuf {
    fixtures().join("aab")
}

fn manifest_pb() -> Vec<u8> {
    std::fs::read(aab_fixtures().join("AndroidManifest.pb")).unwrap()
}

fn resources_pb() -> Vec<u8> {
    std::fs::read(aab_fixtures().join("resources.pb")).unwrap()
}

fn expected() -> Manifest {
    Manifest {
        package: Some("com.example.shop".into()),
        version_code: Some(4012),
        version_name: Some("4.0.12".into()),
        min_sdk: Some(24),
        target_sdk: Some(34),
        label: Some("Shop".into()),
        debuggable: true,
        permissions: vec!["android.permission.INTERNET".into()],
        launchable_activity: Some("com.example.shop.MainActivity".into()),
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
    let table_bytes = resources_pb();
    let table = ResourceTable::parse(&table_bytes).unwrap();
    assert_eq!(Manifest::read_proto(&root, Ok(&table), vec![]), expected());
}

#[test]
fn protoc_encoded_resource_table_resolves_for_the_default_configuration() {
    let bytes = resources_pb();
    let table = ResourceTable::parse(&bytes).unwrap();
    let shop = Lookup::Item(Item::Str("Shop"));
    // The default value, though two translations sit beside it.
    assert_eq!(table.resolve(0x7f0b_0000), Ok(shop));
    // @string/launcher_name is @string/app_name: followed.
    assert_eq!(table.resolve(0x7f0b_0001), Ok(shop));
    assert_eq!(
        table.resolve(0x7f0b_0002),
        Ok(Lookup::Item(Item::Str("Settings")))
    );
    // Not the night-mode colour: a default device is not in night mode.
    assert_eq!(
        table.resolve(0x7f04_0000),
        Ok(Lookup::Item(Item::Prim(Prim::ColorArgb8(0xff62_00ee))))
    );
    for missing in [0x7f0b_0003, 0x7f05_0000, 0x0101_0001] {
        assert_eq!(table.resolve(missing), Ok(Lookup::NoEntry(missing)));
    }
}

/// What `protoc --encode=aapt.pb.MESSAGE` makes of `textproto` with our schema subset, or `None`
/// (a skip) where protoc is not installed; CI installs it (.ci/run).
fn protoc_encode(message: &str, textproto: &str) -> Option<Vec<u8>> {
    let protoc = needed_tool("protoc", "protobuf-compiler")?;
    let dir = aab_fixtures();
    let mut child = Command::new(protoc)
        .arg(format!("--encode=aapt.pb.{message}"))
        .arg(format!("--proto_path={}", dir.display()))
        .arg(dir.join("manifest.proto"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = std::fs::read(dir.join(textproto)).unwrap();
    child.stdin.take().unwrap().write_all(&text).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "protoc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[test]
fn committed_manifest_is_what_protoc_encodes_from_the_textproto() {
    let Some(encoded) = protoc_encode("XmlNode", "manifest.textproto") else {
        return;
    };
    assert!(
        encoded == manifest_pb(),
        "tests/fixtures/aab/AndroidManifest.pb is stale: re-encode it from manifest.textproto \
         (command in its header)"
    );
}

#[test]
fn committed_resource_table_is_what_protoc_encodes_from_the_textproto() {
    let Some(encoded) = protoc_encode("ResourceTable", "resources.textproto") else {
        return;
    };
    assert!(
        encoded == resources_pb(),
        "tests/fixtures/aab/resources.pb is stale: re-encode it from resources.textproto \
         (command in its header)"
    );
}

/// A zip laid out as bundletool lays out an `.aab`: the base module's manifest, resource table,
/// dex and native code under `base/`, the bundle config at the top.
fn write_bundle(path: &Path, manifest: &[u8]) {
    write_bundle_with(path, manifest, Some(&resources_pb()));
}

/// [`write_bundle`] with `resources` as `base/resources.pb`, or none.
fn write_bundle_with(path: &Path, manifest: &[u8], resources: Option<&[u8]>) {
    let mut w = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let deflated = zip::write::SimpleFileOptions::default();
    for (name, bytes) in [
        ("BundleConfig.pb", Some(&b"\x0a\x05\x0a\x031.0"[..])),
        ("base/manifest/AndroidManifest.xml", Some(manifest)),
        ("base/dex/classes.dex", Some(b"dex\n035\0")),
        ("base/lib/arm64-v8a/libshop.so", Some(b"\x7fELF")),
        ("base/resources.pb", resources),
    ] {
        if let Some(bytes) = bytes {
            w.start_file(name, deflated).unwrap();
            w.write_all(bytes).unwrap();
        }
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
fn inspect_shows_a_bundles_label_without_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let aab = dir.path().join("app-release.aab");
    write_bundle(&aab, &manifest_pb());
    let r = run(&["inspect", "--json", aab.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "no warning on the happy path");
    let m: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(m["label"], "Shop");
    let text = run(&["inspect", aab.to_str().unwrap()]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stderr, "");
    assert!(
        text.stdout
            .lines()
            .any(|l| l.contains("label") && l.contains("Shop")),
        "{}",
        text.stdout
    );
}

/// Protobuf, by hand: a length-delimited field and a varint field.
fn pb(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut v = varint(u64::from(number) << 3 | 2);
    v.extend(varint(payload.len() as u64));
    v.extend(payload);
    v
}

fn pb_uint(number: u32, value: u64) -> Vec<u8> {
    let mut v = varint(u64::from(number) << 3);
    v.extend(varint(value));
    v
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

/// A `ResourceTable` of package 0x7f, type 0x0b "string", with one entry of `entry_id` whose
/// values are (locale, text) pairs ("" the default).
fn string_table(entry_id: u32, values: &[(&str, &str)]) -> Vec<u8> {
    let mut entry = pb(1, &pb_uint(1, u64::from(entry_id)));
    entry.extend(pb(2, b"some_string"));
    for (locale, text) in values {
        let config = pb(3, locale.as_bytes());
        let value = pb(4, &pb(2, &pb(1, text.as_bytes())));
        entry.extend(pb(6, &[pb(1, &config), pb(2, &value)].concat()));
    }
    let ty = [pb(1, &pb_uint(1, 0x0b)), pb(2, b"string"), pb(3, &entry)].concat();
    let package = [
        pb(1, &pb_uint(1, 0x7f)),
        pb(2, b"com.example.shop"),
        pb(3, &ty),
    ]
    .concat();
    pb(2, &package)
}

#[test]
fn a_bundle_label_that_cannot_be_resolved_is_a_warning_that_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut damaged = resources_pb();
    damaged.truncate(damaged.len() / 2);
    let cases: [(&str, Option<Vec<u8>>, &str); 4] = [
        (
            "no-entry.aab",
            Some(string_table(1, &[("", "Settings")])),
            "base/resources.pb has no entry 0x7f0b0000",
        ),
        (
            "french-only.aab",
            Some(string_table(0, &[("fr", "Boutique")])),
            "base/resources.pb has values for 0x7f0b0000 only in configurations other than the \
             default",
        ),
        ("no-table.aab", None, "the bundle has no base/resources.pb"),
        (
            "damaged.aab",
            Some(damaged),
            "base/resources.pb is damaged: protobuf at byte",
        ),
    ];
    for (name, resources, why) in cases {
        let aab = dir.path().join(name);
        write_bundle_with(&aab, &manifest_pb(), resources.as_deref());
        let r = run(&["inspect", "--json", aab.to_str().unwrap()]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let m: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(m["label"], serde_json::Value::Null, "{name}");
        assert_eq!(m["package"], "com.example.shop", "{name}");
        let want = format!(
            "doksi: warning: {}: application label @0x7f0b0000 could not be resolved: {why}",
            aab.display()
        );
        assert_eq!(r.stderr.lines().count(), 1, "{name}: {}", r.stderr);
        assert!(r.stderr.starts_with(&want), "{name}: {}", r.stderr);
    }
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
    let table_bytes = resources_pb();
    let table = ResourceTable::parse(&table_bytes).unwrap();
    let mut rng = XorShift(0x5851_f42d_4c95_7f2d);
    let mut decoded = 0;
    for _ in 0..5000 {
        let m = mutate(&mut rng, &manifest);
        if let Ok(root) = proto_xml::parse(&m) {
            decoded += 1;
            let _ = Manifest::read_proto(&root, Ok(&table), vec![]);
            let _ = Manifest::read_proto(&root, Err("none"), vec![]);
        }
    }
    for cut in 0..manifest.len() {
        if let Ok(root) = proto_xml::parse(&manifest[..cut]) {
            let _ = Manifest::read_proto(&root, Ok(&table), vec![]);
        }
    }
    assert!(
        decoded > 100,
        "mutations should often still decode ({decoded})"
    );
}

#[test]
fn mutated_bundle_resource_tables_never_panic() {
    let manifest = manifest_pb();
    let root = proto_xml::parse(&manifest).unwrap();
    let table = resources_pb();
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut parsed, mut labelled) = (0, 0);
    let mut probe = |bytes: &[u8]| {
        let Ok(t) = ResourceTable::parse(bytes) else {
            return;
        };
        parsed += 1;
        for id in [0x7f0b_0000, 0x7f0b_0001, 0x7f04_0000, 0, u32::MAX] {
            let _ = t.resolve(id);
        }
        if Manifest::read_proto(&root, Ok(&t), vec![]).label.is_some() {
            labelled += 1;
        }
    };
    for _ in 0..5000 {
        probe(&mutate(&mut rng, &table));
    }
    for cut in 0..table.len() {
        probe(&table[..cut]);
    }
    assert!(
        parsed > 1000,
        "mutations should often still parse ({parsed})"
    );
    assert!(
        labelled > 100,
        "and often still give the label ({labelled})"
    );
    // Through the zip as well: whatever resources.pb holds, the manifest is read.
    let dir = tempfile::tempdir().unwrap();
    let aab = dir.path().join("app.aab");
    for _ in 0..100 {
        write_bundle_with(&aab, &manifest, Some(&mutate(&mut rng, &table)));
        let m = read_bundle_manifest(&aab).unwrap();
        assert_eq!(m.package.as_deref(), Some("com.example.shop"));
        assert!(m.label.is_some() || m.notes.len() == 1, "{m:?}");
    }
}

/// A case of the live oracle: its name, `(res/ folder, strings.xml body)` pairs, and the label.
type LabelCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);

/// Runs `program` with `args`, failing the test with what it said when it fails.
fn ran(program: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One entry of a zip, whole.
fn zip_entry(zip: &Path, name: &str) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(zip).unwrap()).unwrap();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut archive.by_name(name).unwrap(), &mut out).unwrap();
    out
}

/// The live oracle, where installed (`.ci/run` installs Debian's aapt, which ships aapt2, and
/// framework-res.apk): the same resources linked by aapt2 twice, as an APK and in proto form as
/// AGP puts them in a bundle's base module. doksi's label for the bundle is the
/// `application-label:` that `aapt dump badging` prints for the APK, and the label doksi reads
/// from the APK. (A label with only translations cannot be made this way: aapt2 drops a string
/// without a default value; the hand-made tables above cover it.)
#[test]
fn bundle_labels_are_what_aapt_prints_for_the_same_resources() {
    let (Some(aapt), Some(aapt2)) = (needed_tool("aapt", "aapt"), needed_tool("aapt2", "aapt"))
    else {
        return;
    };
    let framework = Path::new("/usr/share/android-framework-res/framework-res.apk");
    let Some(framework) = crate::common::needed(
        framework.is_file().then_some(framework),
        "framework-res.apk",
        "apt-get install android-framework-res",
    ) else {
        return;
    };
    let strings = |xml: &str| format!("<resources>{xml}</resources>");
    let cases: [LabelCase; 3] = [
        (
            "translated",
            &[
                ("values", r#"<string name="app_name">Shop</string>"#),
                ("values-fr", r#"<string name="app_name">Boutique</string>"#),
                ("values-de", r#"<string name="app_name">Laden</string>"#),
            ],
            "Shop",
        ),
        (
            "chained",
            &[(
                "values",
                r#"<string name="app_name">@string/real_name</string><string name="real_name">Shop chained</string>"#,
            )],
            "Shop chained",
        ),
        (
            "styled",
            &[(
                "values",
                r#"<string name="app_name"><b>Bold</b> Shop</string>"#,
            )],
            "Bold Shop",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("AndroidManifest.xml");
    std::fs::write(
        &manifest,
        r#"<manifest xmlns:android="http://schemas.android.com/apk/res/android"
    package="com.example.shop" android:versionCode="1" android:versionName="1.0">
  <uses-sdk android:minSdkVersion="24" android:targetSdkVersion="34"/>
  <application android:label="@string/app_name"/>
</manifest>
"#,
    )
    .unwrap();
    for (name, values, label) in cases {
        let case = dir.path().join(name);
        for (folder, xml) in values {
            std::fs::create_dir_all(case.join("res").join(folder)).unwrap();
            std::fs::write(
                case.join("res").join(folder).join("strings.xml"),
                strings(xml),
            )
            .unwrap();
        }
        let p = |n: &str| case.join(n).into_os_string();
        ran(
            &aapt2,
            &[
                "compile".as_ref(),
                "--dir".as_ref(),
                &p("res"),
                "-o".as_ref(),
                &p("res.zip"),
            ],
        );
        let link = |out: &str, proto: bool| {
            let mut args = vec![
                "link".as_ref(),
                "-I".as_ref(),
                framework.as_os_str(),
                "--manifest".as_ref(),
                manifest.as_os_str(),
            ];
            if proto {
                args.push("--proto-format".as_ref());
            }
            let (o, r) = (p(out), p("res.zip"));
            ran(&aapt2, &[&args[..], &["-o".as_ref(), &o, &r]].concat());
        };
        link("app.apk", false);
        link("proto.apk", true);
        let badging = ran(&aapt, &["dump".as_ref(), "badging".as_ref(), &p("app.apk")]);
        let printed = badging
            .lines()
            .find_map(|l| l.strip_prefix("application-label:'")?.strip_suffix('\''));
        assert_eq!(printed, Some(label), "{name}: aapt printed {badging}");
        let aab = case.join("app.aab");
        let proto = case.join("proto.apk");
        write_bundle_with(
            &aab,
            &zip_entry(&proto, "AndroidManifest.xml"),
            Some(&zip_entry(&proto, "resources.pb")),
        );
        let bundle = run(&["inspect", "--json", aab.to_str().unwrap()]);
        assert_eq!(bundle.code, 0, "{name}: {}", bundle.stderr);
        let m: serde_json::Value = serde_json::from_str(&bundle.stdout).unwrap();
        assert_eq!(m["label"], label, "{name}: {}", bundle.stderr);
        assert_eq!(bundle.stderr, "", "{name}: no warning");
        let apk = run(&["inspect", "--json", case.join("app.apk").to_str().unwrap()]);
        let a: serde_json::Value = serde_json::from_str(&apk.stdout).unwrap();
        assert_eq!(
            a["label"], m["label"],
            "{name}: the APK and the bundle agree"
        );
    }
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
    assert_eq!(m["label"], "Shop");
    assert!(!inspect.stderr.contains("warning"), "{}", inspect.stderr);
    // With it: converted, uploaded, and the target registered from the universal APK.
    let tool = stand_in_bundletool(dir.path());
    let env = [("DOKSI_BUNDLETOOL", tool.to_str().unwrap())];
    let first = sb.run_with(&["upload", "--json", aab], &env);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let up: Vec<serde_json::Value> = serde_json::from_str(&first.stdout).unwrap();
    assert_eq!(up[0]["cached"], false);
    assert!(
        !first.stderr.contains("could not be resolved"),
        "{}",
        first.stderr
    );
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
