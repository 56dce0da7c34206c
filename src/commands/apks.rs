use std::path::PathBuf;

use serde::Serialize;

use crate::apk::{self, Manifest};
use crate::cli::ApksArgs;
use crate::discover::{self, FoundApk, Selection};
use crate::package::Fingerprint;

use super::output::outln;
use super::{Error, print_json, warn_notes};

/// One APK as `doksi apks --json` prints it.
#[derive(Debug, Serialize)]
pub struct Listed {
    #[serde(serialize_with = "crate::path_text::serialize")]
    pub path: PathBuf,
    pub module: Option<String>,
    pub variant: Option<String>,
    pub abi: Option<String>,
    #[serde(flatten)]
    pub fingerprint: Fingerprint,
    pub manifest: Manifest,
}

/// Discovers, inspects, filters and fingerprints: the APKs a command should act on. Shared by
/// every command that takes `[PROJECT_DIR|APK]...` and the selection flags.
pub fn select(paths: &[PathBuf], selection: Selection) -> Result<Vec<Listed>, Error> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let found = discover::discover(paths)?;
    for w in &found.warnings {
        super::output::warning!("{w}");
    }
    let candidates = selection.by_location(found.apks);
    let mut manifests = Vec::with_capacity(candidates.len());
    for a in &candidates {
        manifests.push((a.path.clone(), apk::inspect(&a.path)?.manifest));
    }
    let manifest_of = |a: &FoundApk| manifests.iter().find(|(p, _)| *p == a.path).map(|(_, m)| m);
    let chosen = selection.apply(candidates.clone(), |a| {
        manifest_of(a).is_some_and(|m| m.instrumentation_target.is_some())
    });
    if chosen.is_empty() {
        return Err(Error::NothingFound {
            searched: found.searched,
            filters: selection.describe(),
        });
    }
    chosen
        .into_iter()
        .map(|a| {
            let manifest = manifest_of(&a).cloned().unwrap_or_default();
            warn_notes(&a.path, &manifest.notes);
            let fingerprint = Fingerprint::of(&a.path)?;
            Ok(Listed {
                path: a.path,
                module: a.module,
                variant: a.variant,
                abi: a.abi,
                fingerprint,
                manifest,
            })
        })
        .collect()
}

pub fn run(args: ApksArgs) -> Result<(), Error> {
    let listed = select(&args.paths, args.selection.into())?;
    if args.json {
        print_json(&listed)?;
        return Ok(());
    }
    let dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".to_owned());
    let rows: Vec<[String; 7]> = listed
        .iter()
        .map(|l| {
            let m = &l.manifest;
            let version = match (&m.version_name, m.version_code) {
                (Some(n), Some(c)) => format!("{n} ({c})"),
                (None, Some(c)) => format!("({c})"),
                (Some(n), None) => n.clone(),
                (None, None) => "-".to_owned(),
            };
            [
                dash(&l.module),
                dash(&l.variant),
                dash(&l.abi),
                dash(&m.package),
                version,
                human_size(l.fingerprint.size),
                l.path.display().to_string(),
            ]
        })
        .collect();
    let header = [
        "MODULE", "VARIANT", "ABI", "PACKAGE", "VERSION", "SIZE", "PATH",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s
    };
    outln!("{}", line(&header.map(String::from)));
    for r in &rows {
        outln!("{}", line(r));
    }
    Ok(())
}

pub(super) fn human_size(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}
