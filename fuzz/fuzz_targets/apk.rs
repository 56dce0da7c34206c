//! A whole APK as the CLI and the sandbox read it: the container check the CLI runs first
//! (`apk::container::check`), then zip central directory, manifest entry, resources.arsc when
//! the label is a reference, native ABIs from lib/; then both text forms, as `doksi inspect
//! --xmltree` and `--xml` print them (a deflated manifest is where a small file can claim the
//! most).
#![no_main]

use std::io::Cursor;
use std::path::Path;

use doksi::apk::render;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The sandbox decodes without the check, so the decoders see refused inputs too.
    let _ = doksi::apk::container::check(&mut Cursor::new(data));
    if let Ok(inspection) = doksi::apk::inspect_archive(Cursor::new(data), Path::new("fuzz.apk")) {
        let _ = render::xmltree(&inspection.document);
        let _ = render::xml(&inspection.document);
    }
});
