use std::io::Write;
use std::path::PathBuf;

use crate::cli::{Connection, UploadArgs, UploadOptions};
use crate::discover::Selection;
use crate::upload::{Candidate, Planned, Reuse, Uploaded, Uploader};

use super::apks::{Listed, select};
use super::output::note;
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
    if options.dry_run {
        return plan_all(&client, &listed, &cache, scope, reuse, options);
    }
    let notice = |message: String| note!("doksi: {message}");
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
        note!("{} {how}: target {}", l.path.display(), up.target_id);
        done.push(up);
    }
    Ok(done)
}

/// `--dry-run`: prints the requests each upload would make (or the cache hit that spares them)
/// on stdout, and returns stand-ins for the targets so a run's matrix can still be shown.
fn plan_all(
    client: &crate::api::client::Client,
    listed: &[Listed],
    cache: &crate::cache::Cache,
    scope: String,
    reuse: Reuse,
    options: &UploadOptions,
) -> Result<Vec<Uploaded>, Error> {
    let uploader = Uploader {
        client,
        cache,
        scope,
        reuse,
        notice: None,
    };
    let mut out = std::io::stdout().lock();
    let mut planned = Vec::with_capacity(listed.len());
    for l in listed {
        let candidate = Candidate {
            path: &l.path,
            manifest: &l.manifest,
            fingerprint: &l.fingerprint,
            name: options.name.as_deref(),
        };
        let plan = uploader.plan(candidate)?;
        warn_cache(cache);
        let file = l
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (target_id, cached) = match plan {
            Planned::Cached { target_id } => {
                writeln!(
                    out,
                    "cached   {} → target {target_id} (nothing to send)",
                    l.path.display()
                )?;
                (target_id, true)
            }
            Planned::Upload { name, zip_len } => {
                let base = client.base_url();
                let body = serde_json::json!({ "name": name });
                writeln!(out, "upload   {}", l.path.display())?;
                writeln!(out, "  POST {} {body}", base.join("uploads"))?;
                writeln!(
                    out,
                    "  PUT  <upload_url from that answer> (application/zip, {zip_len} bytes, no Authorization header)"
                )?;
                writeln!(
                    out,
                    "  POST {} {{\"upload_id\":\"<upload_id from that answer>\"}}",
                    base.join("targets")
                )?;
                (format!("<target of {file}>"), false)
            }
        };
        planned.push(Uploaded {
            path: l.path.clone(),
            sha256: l.fingerprint.sha256.clone(),
            target_id,
            cached,
        });
    }
    Ok(planned)
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
    if args.upload.dry_run {
        println!("dry run: nothing was sent");
        return Ok(());
    }
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
