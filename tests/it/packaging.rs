//! The upload zip, checked by real unzip implementations: Python's zipfile and Info-ZIP's unzip.

use std::process::Command;

use crate::common::{apk_fixtures, run};

fn package(apk: &std::path::Path, out: &std::path::Path) {
    let r = run(&[
        "package",
        apk.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let size = std::fs::metadata(out).unwrap().len();
    assert!(
        r.stdout.contains(&format!("{size} bytes")),
        "reported length must be the real one: {}",
        r.stdout
    );
}

#[test]
fn python_zipfile_extracts_the_apk_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let apk = apk_fixtures().join("io.appium.settings-8.0.10-debug.apk");
    let out = dir.path().join("upload.zip");
    package(&apk, &out);
    let script = "import sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\ni=z.infolist()\nassert len(i)==1 and i[0].compress_type==zipfile.ZIP_STORED, i\nassert i[0].date_time==(1980,1,1,0,0,0), i[0].date_time\nsys.stdout.buffer.write(z.read(i[0].filename))";
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stdout == std::fs::read(&apk).unwrap(),
        "APK bytes differ after the round trip"
    );
}

#[test]
fn unzip_t_accepts_it_where_installed() {
    let Some(unzip) = crate::common::needed_tool("unzip", "unzip") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("upload.zip");
    package(&apk_fixtures().join("appium-unlock-2.0.0-debug.apk"), &out);
    let r = Command::new(unzip).arg("-t").arg(&out).output().unwrap();
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(
        r.status.success() && text.contains("No errors detected"),
        "{text}"
    );
}

#[test]
fn same_apk_gives_the_same_zip_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let apk = apk_fixtures().join("appium-android-ime-2.0.0-debug.apk");
    let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
    package(&apk, &a);
    package(&apk, &b);
    let bytes = std::fs::read(&a).unwrap();
    assert_eq!(bytes, std::fs::read(b).unwrap());
    // No clock in it: the local header's and the directory record's DOS time and date are the
    // zip epoch, 1980-01-01 00:00 (time 0, date 0x0021), whenever the zip was made.
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]);
    assert_eq!(&bytes[..4], b"PK\x03\x04");
    assert_eq!((u16_at(10), u16_at(12)), (0, 0x0021), "local header");
    let record = bytes
        .windows(4)
        .rposition(|w| w == b"PK\x01\x02")
        .expect("a central directory record");
    assert_eq!(
        (u16_at(record + 12), u16_at(record + 14)),
        (0, 0x0021),
        "central directory"
    );
}

#[test]
fn dash_writes_the_same_zip_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let apk = apk_fixtures().join("io.appium.settings-8.0.10-debug.apk");
    let file = dir.path().join("upload.zip");
    package(&apk, &file);
    let out = crate::common::doksi(dir.path())
        .args(["package", apk.to_str().unwrap(), "-o", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, std::fs::read(&file).unwrap());
    assert!(!dir.path().join("-").exists());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} bytes", out.stdout.len())),
        "{stderr}"
    );
}
