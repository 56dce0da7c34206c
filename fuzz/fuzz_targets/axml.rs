//! Android binary XML: decode, read the manifest fields, print both text forms. The same bytes
//! also go to the resource table decoder, which must refuse them (or read them) just as quietly.
#![no_main]

use doksi::apk::arsc::ResourceTable;
use doksi::apk::axml::Document;
use doksi::apk::{Manifest, render};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(doc) = Document::parse(data) {
        let _ = Manifest::read(&doc, None, vec![]);
        let _ = render::xmltree(&doc);
        let _ = render::xml(&doc);
    }
    if let Ok(table) = ResourceTable::parse(data) {
        for id in [0x7f04_0000, 0x7f05_0000, 0x0101_0001, 0xffff_ffff] {
            let _ = table.resolve(id);
        }
    }
});
