use std::io::Write;
use std::path::PathBuf;

use crate::cli::{Connection, UploadArgs, UploadOptions};
use crate::discover::Selection;
use crate::upload::{Candidate, Reuse, Uploaded, Uploader};

use super::apks::{Listed, select};
use super::progress::Progress;
use super::{Error, cache_for, client, print_json, warn_cache};

/// Uploads (or finds in the cache) every APK `paths` selects, printing one line each to stderr.
pub(super) async fn upload_all(
    conn: &Connection,
    paths: &[PathBuf],
    selection: Selection,
    options: &UploadOptions,
) -> Result<Vec<Uploaded>, Error> {
    // Flags and key are checked before any file is read or request sent.
    let client = client(conn)?;
    let listed: Vec<Listed> = select(paths, selection)?;
    let (cache, scope) = cache_for(conn, &client)?;
    let reuse = if options.force {
        Reuse::Never
    } else {
        Reuse::Cached
    };
    let notice = |message: String| eprintln!("doksi: {message}");
    let uploader = Uploader {
        client: &client,
        cache: &cache,
        scope,
        reuse,
        notice: Some(&notice),
    };
    let mut done = Vec::with_capacity(listed.len());
    for l in &listed {
        let name = l
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let progress = Progress::new(&name);
        let candidate = Candidate {
            path: &l.path,
            manifest: &l.manifest,
            fingerprint: &l.fingerprint,
            name: options.name.as_deref(),
        };
        let result = uploader
            .upload(candidate, &|sent, total| progress.update(sent, total))
            .await;
        progress.finish();
        warn_cache(&cache);
        let up = result?;
        let how = if up.cached { "cached" } else { "uploaded" };
        eprintln!("{} {how}: target {}", l.path.display(), up.target_id);
        done.push(up);
    }
    Ok(done)
}

/// Drops the cache entries behind `uploaded` that came from the cache (the server said it does
/// not know them), so the next upload really uploads.
pub(super) fn forget(
    conn: &Connection,
    client: &crate::api::client::Client,
    uploaded: &[Uploaded],
) -> Result<(), Error> {
    let (cache, scope) = cache_for(conn, client)?;
    for u in uploaded.iter().filter(|u| u.cached) {
        cache.remove(&scope, &u.sha256)?;
    }
    warn_cache(&cache);
    Ok(())
}

pub async fn run(conn: &Connection, args: UploadArgs) -> Result<(), Error> {
    let done = upload_all(conn, &args.paths, args.selection.into(), &args.upload).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        print_json(&done)?;
    } else {
        for u in &done {
            writeln!(out, "{}\t{}", u.target_id, u.path.display())?;
        }
    }
    Ok(())
}
