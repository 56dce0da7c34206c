//! An app bundle's protobuf XML manifest: decode, then read the manifest fields from the tree.
#![no_main]

use doksi::apk::Manifest;
use doksi::apk::proto_xml;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = proto_xml::parse(data) {
        let _ = Manifest::read_proto(&root, Err("no resource table"), vec![]);
    }
});
