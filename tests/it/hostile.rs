//! Damaged and hostile input: every one is a one-line error with exit 2, never a panic. The
//! decoders are also driven in-process over thousands of deterministic mutations of real
//! manifests and resource tables, so a panic anywhere fails the test.

use std::io::Read;
use std::path::Path;

use doksi::apk::arsc::ResourceTable;
use doksi::apk::axml::Document;
use doksi::apk::{Manifest, render};

use crate::common::{apk_fixtures, fixture_apks, run};

fn entry(apk: &Path, name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(apk).unwrap()).unwrap();
    let mut v = Vec::new();
    zip.by_name(name).unwrap().read_to_end(&mut v).unwrap();
    v
}

fn one_line_error(args: &[&str], expect: &str) {
    let r = run(args);
    assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(expect),
        "{args:?}: want {expect:?} in {}",
        r.stderr
    );
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn bad_files_are_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str| dir.path().join(n);
    std::fs::write(p("text.apk"), "hello, not a zip").unwrap();
    std::fs::write(p("empty.apk"), "").unwrap();
    let real = std::fs::read(apk_fixtures().join("appium-unlock-2.0.0-debug.apk")).unwrap();
    std::fs::write(p("truncated.apk"), &real[..real.len() / 2]).unwrap();
    // A valid zip without a manifest.
    let zip = {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(
            "classes.dex",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        std::io::Write::write_all(&mut w, b"dex").unwrap();
        w.finish().unwrap().into_inner()
    };
    std::fs::write(p("nomanifest.apk"), zip).unwrap();
    let s = |n: &str| p(n).to_str().unwrap().to_owned();
    one_line_error(&["inspect", &s("text.apk")], "is not an APK");
    one_line_error(&["inspect", &s("empty.apk")], "is not an APK");
    one_line_error(&["inspect", &s("truncated.apk")], "is not an APK");
    one_line_error(
        &["inspect", &s("nomanifest.apk")],
        "has no AndroidManifest.xml",
    );
    one_line_error(&["inspect", &s("missing.apk")], "cannot read");
    one_line_error(&["inspect", dir.path().to_str().unwrap()], "is a directory");
    one_line_error(&["apks", &s("text.apk")], "is not an APK");
    one_line_error(&["apks", &s("readme.txt")], "no such file");
    one_line_error(
        &["package", &s("missing.apk"), "-o", &s("x.zip")],
        "cannot read",
    );
    assert!(!p("x.zip").exists(), "nothing half-written");
}

#[test]
fn damaged_manifest_inside_a_real_zip_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let src = apk_fixtures().join("appium-unlock-2.0.0-debug.apk");
    let mut manifest = entry(&src, "AndroidManifest.xml");
    manifest.truncate(manifest.len() / 3);
    let out = dir.path().join("damaged.apk");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&out).unwrap());
    w.start_file(
        "AndroidManifest.xml",
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored),
    )
    .unwrap();
    std::io::Write::write_all(&mut w, &manifest).unwrap();
    w.finish().unwrap();
    one_line_error(
        &["inspect", out.to_str().unwrap()],
        "AndroidManifest.xml is damaged",
    );
}

/// A small deterministic generator, so a failure reproduces exactly.
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One mutation of the kinds that break parsers: flipped bytes, a field set to 0 / 0xffffffff /
/// a huge count, a cut, or a duplicated run.
pub(crate) fn mutate(rng: &mut XorShift, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len());
        match rng.below(6) {
            0 => v[at] ^= 1 << rng.below(8),
            1 => v[at] = rng.next() as u8,
            2 => {
                let word = [
                    [0u8; 4],
                    [0xff; 4],
                    0x7fff_fff0u32.to_le_bytes(),
                    0x0001_0000u32.to_le_bytes(),
                ][rng.below(4)];
                let at = at & !3;
                for (i, b) in word.iter().enumerate() {
                    if let Some(x) = v.get_mut(at + i) {
                        *x = *b;
                    }
                }
            }
            3 => v.truncate(at),
            4 => {
                let len = rng.below(64).min(v.len() - at);
                let run: Vec<u8> = v[at..at + len].to_vec();
                v.splice(at..at, run);
            }
            _ => {
                let at = at & !1;
                if let Some(x) = v.get_mut(at..at + 2) {
                    x.copy_from_slice(&(rng.next() as u16).to_le_bytes());
                }
            }
        }
        if v.is_empty() {
            break;
        }
    }
    v
}

#[test]
fn mutated_real_manifests_never_panic() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let mut decoded = 0;
    for apk in fixture_apks() {
        let manifest = entry(&apk, "AndroidManifest.xml");
        let arsc = entry(&apk, "resources.arsc");
        let table = ResourceTable::parse(&arsc).ok();
        for _ in 0..400 {
            let m = mutate(&mut rng, &manifest);
            if let Ok(doc) = Document::parse(&m) {
                decoded += 1;
                let _ = Manifest::read(&doc, table.as_ref(), vec![]);
                let _ = render::xmltree(&doc);
                let _ = render::xml(&doc);
            }
        }
        // Every prefix cut at a 4-byte boundary, the cheapest way to hit each length check.
        for cut in (0..manifest.len()).step_by(4) {
            if let Ok(doc) = Document::parse(&manifest[..cut]) {
                let _ = render::xmltree(&doc);
            }
        }
    }
    assert!(
        decoded > 100,
        "mutations should often still decode ({decoded})"
    );
}

#[test]
fn mutated_resource_tables_never_panic() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for apk in fixture_apks().into_iter().filter(|p| {
        let n = p.file_name().unwrap().to_string_lossy();
        n.contains("unlock") || n.contains("hello") || n.contains("settings-2.0.0")
    }) {
        let arsc = entry(&apk, "resources.arsc");
        let base = ResourceTable::parse(&arsc).unwrap();
        assert!(base.resolve(0x7f04_0000).is_ok() || base.resolve(0x7f05_0000).is_ok());
        for _ in 0..300 {
            let m = mutate(&mut rng, &arsc);
            if let Ok(t) = ResourceTable::parse(&m) {
                for id in [
                    0x7f04_0000,
                    0x7f05_0000,
                    0x7f02_0000,
                    0x7f00_0000,
                    0xffff_ffff,
                    0x0101_0001,
                ] {
                    let _ = t.resolve(id);
                }
            }
        }
    }
}
