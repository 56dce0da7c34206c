//! An app bundle's resource table (`base/resources.pb`): parse, resolve a few ids, then read the
//! committed bundle manifest's fields through it (its label is a reference into the table).
#![no_main]

use doksi::apk::Manifest;
use doksi::apk::proto_table::ResourceTable;
use doksi::apk::proto_xml;
use libfuzzer_sys::fuzz_target;

const MANIFEST: &[u8] = include_bytes!("../../tests/fixtures/aab/AndroidManifest.pb");

fuzz_target!(|data: &[u8]| {
    if let Ok(table) = ResourceTable::parse(data) {
        for id in [
            0x7f04_0000,
            0x7f05_0000,
            0x7f0b_0000,
            0x7f0e_0000,
            0x0101_0001,
            0xffff_ffff,
        ] {
            let _ = table.resolve(id);
        }
        if let Ok(root) = proto_xml::parse(MANIFEST) {
            let _ = Manifest::read_proto(&root, Ok(&table), vec![]);
        }
    }
});
