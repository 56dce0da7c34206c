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
                    .map(|(scope, e)| {
                        let mut o = serde_json::to_value(e).unwrap_or_default();
                        o["scope"] = scope.clone().into();
                        o
                    })
                    .collect();
                print_json(&v)?;
            } else if entries.is_empty() {
                super::output::note!("the cache in {} is empty", cache.dir().display());
            } else {
                for (scope, e) in entries {
                    let version = e.version_name.clone().unwrap_or_default();
                    outln!(
                        "{}  {}  {} {}  {}  {}",
                        e.target_id,
                        e.sha256.get(..12).unwrap_or(&e.sha256),
                        e.package.clone().unwrap_or_default(),
                        version,
                        e.uploaded_at,
                        scope
                    );
                }
            }
        }
        CacheCommand::Clear => {
            let n = cache.clear()?;
            outln!(
                "removed {n} cached target(s) from {}",
                cache.dir().display()
            );
        }
    }
    Ok(())
}
