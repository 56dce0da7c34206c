//! The resource table decoder on its own: parse, then resolve the ids a manifest label points
//! at in real APKs (string and layout types of the app package), a framework id and a nonsense one.
#![no_main]

use doksi::apk::arsc::ResourceTable;
use libfuzzer_sys::fuzz_target;

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
    }
});
