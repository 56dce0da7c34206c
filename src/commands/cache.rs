use crate::cache::Listed;
use crate::cli::CacheCommand;

use super::output::outln;
use super::{Error, print_json, warning};

/// `cache list` and `cache clear` need no key: they read the folder, across every scope.
pub fn run(cache_dir: Option<std::path::PathBuf>, command: CacheCommand) -> Result<(), Error> {
    let cache = crate::context::open_cache(cache_dir)?;
    match command {
        CacheCommand::List { json } => {
            let entries = cache.list()?;
            for w in cache.take_warnings() {
                warning!("{w}");
            }
            if json {
                let v: Vec<serde_json::Value> = entries
                    .iter()
                    .map(|l| {
                        let mut o = serde_json::to_value(&l.entry).unwrap_or_default();
                        o["scope"] = l.scope.clone().into();
                        // null for a scope file written before they were recorded
                        let account = l.account.as_ref();
                        o["host"] = account.map(|a| a.host.clone()).into();
                        o["key_hint"] = account.map(|a| a.key_hint.clone()).into();
                        o
                    })
                    .collect();
                print_json(&v)?;
            } else if entries.is_empty() {
                super::output::note!("the cache in {} is empty", cache.dir().display());
            } else {
                let mut rows = vec![[
                    "TARGET".to_owned(),
                    "SHA256".to_owned(),
                    "PACKAGE".to_owned(),
                    "VERSION".to_owned(),
                    "UPLOADED".to_owned(),
                    "SCOPE".to_owned(),
                ]];
                for Listed {
                    scope,
                    account,
                    entry: e,
                } in entries
                {
                    // Whose entries: the host and key hint its file records, else (a file from
                    // before they were) the scope's hash.
                    let owner = account.map_or(scope, |a| a.to_string());
                    rows.push([
                        e.target_id.clone(),
                        e.sha256.get(..12).unwrap_or(&e.sha256).to_owned(),
                        e.package.clone().unwrap_or_default(),
                        e.version_name.clone().unwrap_or_default(),
                        e.uploaded_at.to_string(),
                        owner,
                    ]);
                }
                let mut widths = [0usize; 6];
                for row in &rows {
                    for (w, cell) in widths.iter_mut().zip(row) {
                        *w = (*w).max(cell.chars().count());
                    }
                }
                for row in rows {
                    let line: Vec<String> = row
                        .iter()
                        .zip(widths)
                        .map(|(cell, w)| format!("{cell:<w$}"))
                        .collect();
                    outln!("{}", line.join("  ").trim_end());
                }
            }
        }
        CacheCommand::Clear => {
            let n = cache.clear()?;
            let targets = if n == 1 { "target" } else { "targets" };
            outln!(
                "removed {n} cached {targets} from {}",
                cache.dir().display()
            );
        }
    }
    Ok(())
}
