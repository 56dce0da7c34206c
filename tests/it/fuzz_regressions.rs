//! Inputs the fuzzers under `fuzz/` found or reached: every file in tests/fixtures/fuzz/ goes
//! through the same code path as the fuzz target its name starts with (`axml-`, `arsc-`, `apk-`,
//! `proto_xml-`, `proto_table-`), and each must come back as a value or an error, in seconds. A panic in any of them fails the
//! test and names the file, so a fixed crash stays fixed.

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use doksi::apk::arsc::ResourceTable;
use doksi::apk::axml::Document;
use doksi::apk::{Manifest, inspect_archive, proto_table, proto_xml, render};

use crate::common::fixtures;

/// The ids the fuzz targets resolve: app string and layout types, a framework id, nonsense.
const IDS: [u32; 6] = [
    0x7f04_0000,
    0x7f05_0000,
    0x7f0b_0000,
    0x7f0e_0000,
    0x0101_0001,
    0xffff_ffff,
];

/// fuzz/fuzz_targets/axml.rs: decode, read, print both forms; the bytes also go to `arsc`.
fn axml(data: &[u8]) {
    if let Ok(doc) = Document::parse(data) {
        let _ = Manifest::read(&doc, None, vec![]);
        let _ = render::xmltree(&doc);
        let _ = render::xml(&doc);
    }
    arsc(data);
}

/// fuzz/fuzz_targets/arsc.rs: parse, then resolve each id.
fn arsc(data: &[u8]) {
    if let Ok(table) = ResourceTable::parse(data) {
        for id in IDS {
            let _ = table.resolve(id);
        }
    }
}

/// fuzz/fuzz_targets/apk.rs: the container check, then the whole archive path the CLI and the
/// sandbox take, then the text forms `doksi inspect --xmltree` and `--xml` print.
fn apk(data: &[u8]) {
    let _ = doksi::apk::container::check(&mut Cursor::new(data));
    if let Ok(inspection) = inspect_archive(Cursor::new(data), Path::new("fuzz.apk")) {
        let _ = render::xmltree(&inspection.document);
        let _ = render::xml(&inspection.document);
    }
}

/// fuzz/fuzz_targets/proto_xml.rs: decode a bundle manifest, then read its fields.
fn proto_xml(data: &[u8]) {
    if let Ok(root) = proto_xml::parse(data) {
        let _ = Manifest::read_proto(&root, Err("no resource table"), vec![]);
    }
}

/// fuzz/fuzz_targets/proto_table.rs: parse a bundle's resource table, resolve each id, then read
/// the committed bundle manifest through it.
fn proto_table(data: &[u8]) {
    if let Ok(table) = proto_table::ResourceTable::parse(data) {
        for id in IDS {
            let _ = table.resolve(id);
        }
        let manifest = std::fs::read(fixtures().join("aab/AndroidManifest.pb")).unwrap();
        if let Ok(root) = proto_xml::parse(&manifest) {
            let _ = Manifest::read_proto(&root, Ok(&table), vec![]);
        }
    }
}

fn inputs() -> Vec<PathBuf> {
    let dir = fixtures().join("fuzz");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bin"))
        .collect();
    v.sort();
    v
}

/// Time one input may take in an unoptimised test build. The hangs fixed so far took minutes to
/// hours; all the inputs here together take about 8 s unoptimised.
const SLOW: Duration = Duration::from_secs(30);

/// CPU time this thread has had (Linux's schedstat), so that a machine busy with other builds
/// does not make an input look slow; `None` where the kernel does not say.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        stat.split_whitespace().next()?.parse().ok()?,
    ))
}

#[test]
fn every_fuzz_input_returns_without_panicking() {
    let mut failed = Vec::new();
    let mut slow = Vec::new();
    for path in inputs() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let target: fn(&[u8]) = match name.split('-').next() {
            Some("axml") => axml,
            Some("arsc") => arsc,
            Some("apk") => apk,
            Some("proto_xml") => proto_xml,
            Some("proto_table") => proto_table,
            _ => panic!(
                "{name}: the name must start with axml-, arsc-, apk-, proto_xml- or proto_table-"
            ),
        };
        let data = std::fs::read(&path).unwrap();
        let (started, started_cpu) = (Instant::now(), thread_cpu());
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            failed.push(name.clone());
        }
        let took = match (started_cpu, thread_cpu()) {
            (Some(before), Some(after)) => after.saturating_sub(before),
            _ => started.elapsed(),
        };
        if took > SLOW {
            slow.push((name, took));
        }
    }
    assert!(failed.is_empty(), "panicked on {failed:?}");
    assert!(slow.is_empty(), "too slow: {slow:?}");
}
