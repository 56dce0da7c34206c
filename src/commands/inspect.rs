use crate::apk::{self, render};
use crate::cli::InspectArgs;

use super::output::outln;
use super::{Error, print_bytes, print_json, warning};

pub fn run(args: InspectArgs) -> Result<(), Error> {
    let bundle = args
        .apk
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("aab"));
    let manifest = if bundle {
        // A bundle's manifest is protobuf XML: its fields, but no binary-XML tree to render.
        if args.xmltree || args.xml {
            return Err(Error::Usage(format!(
                "{} is an App Bundle: --xmltree and --xml render an APK's binary manifest",
                args.apk.display()
            )));
        }
        apk::read_bundle_manifest(&args.apk)?
    } else {
        let inspection = apk::inspect(&args.apk)?;
        if args.xmltree {
            print_bytes(render::xmltree(&inspection.document).as_bytes());
            return Ok(());
        }
        if args.xml {
            print_bytes(render::xml(&inspection.document).as_bytes());
            return Ok(());
        }
        inspection.manifest
    };
    let m = &manifest;
    for note in &m.notes {
        warning!("{}: {note}", args.apk.display());
    }
    if args.json {
        print_json(m)?;
        return Ok(());
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
    let num = |v: Option<i64>| v.map_or_else(|| "-".to_owned(), |n| n.to_string());
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_owned()
        } else {
            v.join(", ")
        }
    };
    let rows = [
        ("package", opt(m.package.clone())),
        (
            "version",
            format!("{} ({})", opt(m.version_name.clone()), num(m.version_code)),
        ),
        ("min sdk", num(m.min_sdk)),
        ("target sdk", num(m.target_sdk)),
        ("compile sdk", num(m.compile_sdk)),
        ("label", opt(m.label.clone())),
        ("debuggable", m.debuggable.to_string()),
        ("test only", m.test_only.to_string()),
        ("instruments", opt(m.instrumentation_target.clone())),
        ("launcher", opt(m.launchable_activity.clone())),
        ("abis", list(&m.abis)),
        ("permissions", list(&m.permissions)),
    ];
    for (k, v) in rows {
        outln!("{k:<12} {v}");
    }
    Ok(())
}
