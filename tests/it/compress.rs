//! `--compress`: the upload zip holds the APK deflated or stored, against a server written here
//! that unzips what it is sent and compares the APK inside byte for byte. An APK like a modern
//! release (native code stored uncompressed) is built from the fixture and a large stored
//! library; `auto` is steered by the upload rate doksi keeps beside its cache.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::field_faults::{Log, Req, doksi_at, reply, routed};
use crate::sandbox::{path_str, unlock_apk};

/// The fixture's entries, then `lib/x86_64/libapp.so` stored: 12 MiB of bytes that deflate
/// well, as native code does (repeated structure, varied in every block).
fn native_heavy_apk(dir: &Path) -> PathBuf {
    let path = dir.join("app-native.apk");
    let mut out = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let mut base = zip::ZipArchive::new(std::fs::File::open(unlock_apk()).unwrap()).unwrap();
    for i in 0..base.len() {
        out.raw_copy_file(base.by_index_raw(i).unwrap()).unwrap();
    }
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    out.start_file("lib/x86_64/libapp.so", stored).unwrap();
    let mut x: u32 = 12345;
    let mut block = vec![0u8; 4096];
    for n in 0..(12 << 20) / 4096 {
        for (i, b) in block.iter_mut().enumerate() {
            if i % 64 == 0 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            }
            *b = ((x >> 16) as u8) ^ (i as u8) ^ (n as u8 & 3);
        }
        out.write_all(&block).unwrap();
    }
    out.finish().unwrap();
    path
}

/// The bodies PUT to the server, in order.
type Bodies = Arc<Mutex<Vec<Vec<u8>>>>;

/// A server that mints, keeps every PUT's body, and registers `bin_1`.
fn storage() -> (String, Log, Bodies) {
    let bodies: Bodies = Arc::default();
    let kept = bodies.clone();
    let (base, log) = routed(move |r: &Req| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/api/uploads") => reply(
            200,
            &format!(
                r#"{{"upload_id":"upl_1","upload_url":"{}/put/upl_1"}}"#,
                r.origin
            ),
        ),
        ("PUT", "/put/upl_1") => {
            kept.lock().unwrap().push(r.body.clone());
            reply(200, "")
        }
        ("POST", "/api/targets") => reply(200, r#"{"target_id":"bin_1"}"#),
        _ => reply(404, r#"{"error":"not found"}"#),
    });
    (base, log, bodies)
}

/// The one entry of an upload zip: its method and its bytes.
fn inside(zip: &[u8]) -> (zip::CompressionMethod, Vec<u8>) {
    let mut archive = zip::ZipArchive::new(Cursor::new(zip)).unwrap();
    assert_eq!(archive.len(), 1);
    let mut entry = archive.by_index(0).unwrap();
    let mut apk = Vec::new();
    entry.read_to_end(&mut apk).unwrap();
    (entry.compression(), apk)
}

/// The rate file beside the cache (`doksi_at` puts the cache in `cache/doksi`), with every
/// host's rate set to `rate` bytes per second.
fn set_rates(cache: &Path, rate: f64) {
    let path = cache.join("doksi/upload-rates-v1.json");
    let text = std::fs::read_to_string(&path).expect("a measured upload kept its rate");
    let mut rates: serde_json::Value = serde_json::from_str(&text).unwrap();
    let hosts = rates["hosts"].as_object_mut().unwrap();
    assert_eq!(hosts.len(), 1, "{text}");
    for v in hosts.values_mut() {
        *v = rate.into();
    }
    std::fs::write(&path, rates.to_string()).unwrap();
}

#[test]
fn a_deflated_upload_holds_the_apk_byte_for_byte_and_is_the_same_target() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let apk = native_heavy_apk(dir.path());
    let original = std::fs::read(&apk).unwrap();
    let (base, log, bodies) = storage();

    let r = doksi_at(
        &base,
        &cache,
        &["upload", "-v", "--compress", "always", path_str(&apk)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("deflated (--compress always)"),
        "{}",
        r.stderr
    );
    let sent = bodies.lock().unwrap()[0].clone();
    let (method, inner) = inside(&sent);
    assert_eq!(method, zip::CompressionMethod::Deflated);
    assert!(inner == original, "the APK inside differs from the APK");
    assert!(
        (sent.len() as f64) < original.len() as f64 * 0.7,
        "{} bytes sent for a {}-byte APK",
        sent.len(),
        original.len()
    );
    // How it was sent does not change which target it is: the cache knows it by its content.
    let again = doksi_at(
        &base,
        &cache,
        &["upload", "--compress", "never", path_str(&apk)],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("bin_1"), "{}", again.stdout);
    assert_eq!(log.count("PUT /put/upl_1"), 1, "a cache hit sends nothing");

    // Stored, the same APK again, byte for byte; the upload's rate is kept beside the cache.
    let stored = doksi_at(
        &base,
        &cache,
        &["upload", "--force", "--compress", "never", path_str(&apk)],
    );
    assert_eq!(stored.code, 0, "{}", stored.stderr);
    let sent = bodies.lock().unwrap()[1].clone();
    let (method, inner) = inside(&sent);
    assert_eq!(method, zip::CompressionMethod::Stored);
    assert!(inner == original);
    assert!(cache.join("doksi/upload-rates-v1.json").is_file());
    // Deflated twice, the same bytes.
    doksi_at(
        &base,
        &cache,
        &["upload", "--force", "--compress", "always", path_str(&apk)],
    );
    doksi_at(
        &base,
        &cache,
        &["upload", "--force", "--compress", "always", path_str(&apk)],
    );
    let bodies = bodies.lock().unwrap();
    assert!(
        bodies[2] == bodies[3] && bodies[2] == bodies[0],
        "not reproducible"
    );
    // No temporary zip is left in the cache folder.
    let left: Vec<_> = std::fs::read_dir(cache.join("doksi"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("doksi-upload"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn auto_deflates_on_a_slow_link_and_not_on_a_fast_one_nor_an_apk_with_little_stored() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let apk = native_heavy_apk(dir.path());
    let (base, _log, bodies) = storage();
    let upload = |extra: &[&str]| {
        let mut args = vec!["upload", "--force", "-v"];
        args.extend_from_slice(extra);
        let r = doksi_at(&base, &cache, &args);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let method = inside(bodies.lock().unwrap().last().unwrap()).0;
        (method, r.stderr)
    };
    // The first upload measures this host: loopback, fast.
    let (method, _) = upload(&["--compress", "never", path_str(&apk)]);
    assert_eq!(method, zip::CompressionMethod::Stored);
    let (method, said) = upload(&[path_str(&apk)]);
    assert_eq!(method, zip::CompressionMethod::Stored, "{said}");
    assert!(
        said.contains(": stored: ") && said.contains("(measured)"),
        "{said}"
    );
    // A slow link (8 Mbit/s): deflating pays.
    set_rates(&cache, 1e6);
    let (method, said) = upload(&[path_str(&apk)]);
    assert_eq!(method, zip::CompressionMethod::Deflated, "{said}");
    assert!(
        said.contains("deflated: ") && said.contains("saved at 8 Mbit/s (measured)"),
        "{said}"
    );
    // The dry run says the same, and sends nothing.
    set_rates(&cache, 1e6);
    let plan = doksi_at(
        &base,
        &cache,
        &["upload", "--force", "--dry-run", path_str(&apk)],
    );
    assert_eq!(plan.code, 0, "{}", plan.stderr);
    assert!(
        plan.stdout.contains("  the APK deflated: "),
        "{}",
        plan.stdout
    );
    // The fixture keeps almost nothing uncompressed: stored on any link.
    let (method, said) = upload(&[path_str(&unlock_apk())]);
    assert_eq!(method, zip::CompressionMethod::Stored, "{said}");
    assert!(said.contains("stored: it keeps only"), "{said}");
}

#[test]
fn a_bad_compress_value_is_a_usage_error_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let (base, log, _) = storage();
    let r = doksi_at(
        &base,
        dir.path(),
        &["upload", "--compress", "sometimes", path_str(&unlock_apk())],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("sometimes"), "{}", r.stderr);
    assert!(log.lines().is_empty());
}

#[test]
fn the_sandbox_registers_a_deflated_upload_and_keeps_the_apk_inside_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let apk = native_heavy_apk(dir.path());
    let sb = crate::sandbox::Sandbox::start(&[]);
    let r = sb.run(&["upload", "--json", "--compress", "always", path_str(&apk)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let uploaded: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(uploaded[0]["target_id"], "bin_1", "{}", r.stdout);
    // The manifest was read from inside the deflated zip: the target is the fixture's app.
    let target = crate::sandbox::get(&format!("{}/targets", sb.admin_url));
    assert!(
        String::from_utf8_lossy(&target).contains("io.appium.unlock"),
        "{}",
        String::from_utf8_lossy(&target)
    );
    let (method, inner) = inside(&sb.stored_upload("upl_1"));
    assert_eq!(method, zip::CompressionMethod::Deflated);
    assert!(inner == std::fs::read(&apk).unwrap());
}
