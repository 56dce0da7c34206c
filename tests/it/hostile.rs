//! Damaged and hostile input: every one is a one-line error with exit 2, never a panic. The
//! decoders are also driven in-process over thousands of deterministic mutations of real
//! manifests and resource tables, so a panic anywhere fails the test.

use std::io::Read;
use std::path::Path;

use doksi::apk::arsc::ResourceTable;
use doksi::apk::axml::Document;
use doksi::apk::{Manifest, render};

use crate::common::{apk_fixtures, fixture_apks, one_line_error};

fn entry(apk: &Path, name: &str) -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(apk).unwrap()).unwrap();
    let mut v = Vec::new();
    zip.by_name(name).unwrap().read_to_end(&mut v).unwrap();
    v
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

/// The container checker over thousands of mutations of real APKs' central directory and end
/// record (the only bytes it reads, with four per local header): every mutation gets an answer,
/// and the untouched APKs pass.
#[test]
fn mutated_central_directories_never_panic() {
    use doksi::apk::container;
    let mut rng = XorShift(0xd1b5_4a32_d192_ed03);
    let mut refused = 0;
    // The 18 MB fixture would be copied per mutation; its 3,841-entry directory is still read
    // whole, once, by the check on the untouched file below.
    for apk in fixture_apks() {
        let real = std::fs::read(&apk).unwrap();
        let big = real.len() > 4 << 20;
        assert!(
            container::check(&mut std::io::Cursor::new(&real)).is_ok(),
            "{}",
            apk.display()
        );
        if big {
            continue;
        }
        let at = layout(&real).records[0];
        let (body, tail) = real.split_at(at);
        for _ in 0..400 {
            let mut m = body.to_vec();
            m.extend_from_slice(&mutate(&mut rng, tail));
            if container::check(&mut std::io::Cursor::new(&m)).is_err() {
                refused += 1;
            }
        }
    }
    assert!(
        refused > 1000,
        "most mutations should be refused ({refused})"
    );
}

/// The end record and central directory records of a zip, by offset, read the plain way (the
/// test's own reading, independent of doksi's checker).
struct ZipLayout {
    eocd: usize,
    records: Vec<usize>,
}

fn le16(b: &[u8], at: usize) -> usize {
    u16::from_le_bytes([b[at], b[at + 1]]).into()
}

fn le32(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn set16(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 2].copy_from_slice(&u16::try_from(v).unwrap().to_le_bytes());
}

fn set32(b: &mut [u8], at: usize, v: usize) {
    b[at..at + 4].copy_from_slice(&u32::try_from(v).unwrap().to_le_bytes());
}

fn layout(z: &[u8]) -> ZipLayout {
    let eocd = (0..z.len() - 21)
        .rev()
        .find(|&i| z[i..i + 4] == [0x50, 0x4b, 5, 6])
        .unwrap();
    let mut records = Vec::new();
    let mut at = le32(z, eocd + 16);
    while at < eocd {
        assert_eq!(z[at..at + 4], [0x50, 0x4b, 1, 2]);
        records.push(at);
        at += 46 + le16(z, at + 28) + le16(z, at + 30) + le16(z, at + 32);
    }
    ZipLayout { eocd, records }
}

fn record_len(z: &[u8], at: usize) -> usize {
    46 + le16(z, at + 28) + le16(z, at + 30) + le16(z, at + 32)
}

/// A copy of the last central directory record added after it; the directory size grows to
/// cover it. `count` says whether the end record's entry counts grow too.
fn with_copied_record(real: &[u8], count: bool, rename: bool) -> Vec<u8> {
    let l = layout(real);
    let last = *l.records.last().unwrap();
    let mut copy = real[last..last + record_len(real, last)].to_vec();
    if rename {
        // The name's first byte, so the copy is a distinct entry.
        copy[46] = if copy[46] == b'z' { b'y' } else { b'z' };
    }
    let mut z = real[..l.eocd].to_vec();
    z.extend_from_slice(&copy);
    let eocd = z.len();
    z.extend_from_slice(&real[l.eocd..]);
    let size = le32(&z, eocd + 12);
    set32(&mut z, eocd + 12, size + copy.len());
    if count {
        for field in [8, 10] {
            let n = le16(&z, eocd + field);
            set16(&mut z, eocd + field, n + 1);
        }
    }
    z
}

/// The first record (by directory order) with compression method `method`.
fn record_with_method(z: &[u8], method: usize) -> usize {
    layout(z)
        .records
        .into_iter()
        .find(|&r| le16(z, r + 10) == method)
        .unwrap_or_else(|| panic!("no entry with method {method}"))
}

/// Each anomaly Android refuses, made from a real APK's bytes, with the words doksi must use.
fn anomalous_apks() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let real = std::fs::read(apk_fixtures().join("appium-unlock-2.0.0-debug.apk")).unwrap();
    let l = layout(&real);
    let mut out = Vec::new();

    out.push((
        "extra-record",
        with_copied_record(&real, false, true),
        "its end record counts 11 entries but the central directory holds 12",
    ));

    // The comment is a whole second end record, as in the "EOCD in comment" confusion trick.
    let mut fake = real.clone();
    let end = real[l.eocd..].to_vec();
    set16(&mut fake, l.eocd + 20, end.len());
    fake.extend_from_slice(&end);
    out.push((
        "eocd-in-comment",
        fake,
        "a second end-of-central-directory record hides in the archive comment",
    ));

    out.push((
        "duplicate-name",
        with_copied_record(&real, true, false),
        "appears more than once",
    ));

    let mut trailing = real.clone();
    trailing.extend_from_slice(b"appended after signing");
    out.push((
        "trailing-bytes",
        trailing,
        "22 bytes follow the end-of-central-directory record",
    ));

    let mut sizes = real.clone();
    let stored = record_with_method(&real, 0);
    let size = le32(&sizes, stored + 24);
    set32(&mut sizes, stored + 24, size + 1);
    out.push(("stored-sizes", sizes, "bytes compressed but"));

    let mut method = real.clone();
    let deflated = record_with_method(&real, 8);
    set16(&mut method, deflated + 10, 12);
    out.push((
        "unknown-method",
        method,
        "uses compression method 12; Android reads only 0 (stored) and 8 (deflate)",
    ));

    let mut name = real.clone();
    name[l.records[0] + 46] = 0xff;
    out.push(("non-utf8-name", name, "entry 0's name is not valid UTF-8"));

    let mut local = real.clone();
    let offset = le32(&local, l.records[1] + 42);
    set32(&mut local, l.records[1] + 42, offset + 1);
    out.push(("bad-local-offset", local, "holds no local header"));
    out
}

#[test]
fn apks_android_would_refuse_are_refused_by_inspect_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = anomalous_apks();
    assert_eq!(cases.len(), 8);
    for (name, bytes, expect) in cases {
        let path = dir.path().join(format!("{name}.apk"));
        std::fs::write(&path, &bytes).unwrap();
        let shown = path.to_str().unwrap();
        one_line_error(&["inspect", shown], expect);
        one_line_error(&["inspect", shown], &format!("{shown} is not an APK: "));
        one_line_error(&["apks", "--json", shown], expect);
    }
}

#[test]
fn apks_android_would_refuse_send_nothing_from_upload_run_or_ci() {
    let sb = crate::sandbox::Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expect) in anomalous_apks() {
        let path = dir.path().join(format!("{name}.apk"));
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let zip = dir.path().join("out.zip");
        let commands: [&[&str]; 4] = [
            &["upload", p],
            &["run", "--apk", p, "--test", "t_login"],
            &["ci", p, "--category", "cat_smoke"],
            &["package", p, "-o", zip.to_str().unwrap()],
        ];
        for args in commands {
            let r = sb.run(args);
            assert_eq!(r.code, 2, "{name} {args:?}: {}", r.stderr);
            assert_eq!(r.stderr.lines().count(), 1, "{name} {args:?}: {}", r.stderr);
            assert!(r.stderr.contains(expect), "{name} {args:?}: {}", r.stderr);
            assert!(r.stderr.contains(p), "{name} {args:?}: {}", r.stderr);
        }
        assert!(!zip.exists(), "{name}: package wrote a zip");
    }
    assert_eq!(sb.total(), 0, "{}", sb.requests());
    // The same sandbox takes the untouched APK: the refusals above were the checker's.
    let ok = sb.run(&[
        "upload",
        crate::sandbox::path_str(&crate::sandbox::unlock_apk()),
    ]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(sb.count("POST /uploads"), 1);
}

/// Debian's aapt refuses the same archives where its reader checks them, if it is installed.
/// Under `CI=true` (the CI image installs it) a missing aapt is a failure, not a skip.
///
/// Debian's aapt is Android 10's, whose libziparchive reads only the records the end record
/// counts, takes the last end record it finds, and checks an entry's method and sizes only when
/// it inflates that entry: it prints badging for the other five (newer libziparchive and apksig,
/// which installs and the service use, refuse them), so only these three are compared.
#[test]
fn aapt_refuses_the_same_archives_where_installed() {
    const AAPT_REFUSES: [&str; 3] = ["duplicate-name", "trailing-bytes", "non-utf8-name"];
    let Some(aapt) = crate::common::needed_tool("aapt", "aapt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let real = apk_fixtures().join("appium-unlock-2.0.0-debug.apk");
    let badging = |path: &Path| {
        std::process::Command::new(&aapt)
            .args(["dump", "badging"])
            .arg(path)
            .output()
            .unwrap()
    };
    assert!(badging(&real).status.success(), "aapt reads the real APK");
    let mut compared = 0;
    for (name, bytes, _) in anomalous_apks() {
        if !AAPT_REFUSES.contains(&name) {
            continue;
        }
        let path = dir.path().join(format!("{name}.apk"));
        std::fs::write(&path, &bytes).unwrap();
        let out = badging(&path);
        assert!(
            !out.status.success(),
            "aapt accepted {name}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        compared += 1;
    }
    assert_eq!(compared, AAPT_REFUSES.len());
}
