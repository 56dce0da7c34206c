//! `apks`: the APKs `select` chooses, as a table or JSON.

use crate::cli::ApksArgs;
use crate::config::ProjectConfig;
use crate::select::select;

use super::output::outln;
use super::{Error, Terminal, paths_or_project, print_json};

pub fn run(args: ApksArgs, project: Option<&ProjectConfig>) -> Result<(), Error> {
    let paths = paths_or_project(&args.paths, project);
    let listed = select(&paths, args.selection.into(), &Terminal { steps: true })?;
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
                crate::words::size(l.fingerprint.size),
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
