use std::collections::HashMap;
use std::path::PathBuf;

use crate::bundle::{Bundletool, Keystore};
use crate::cache::{Cache, LockWait};
use crate::cli::{GlobalArgs, UploadArgs, UploadOptions};
use crate::discover::Selection;
use crate::upload::{
    Candidate, Converter, Planned, Prepared, Remark, Reuse, Source, Uploaded, Uploader,
};

use super::apks::{Listed, select};
use super::output::{self, note, outln};
use super::progress::Progress;
use super::{Error, cache_scope, client, print_json, upload_cache, warn_cache};

/// Shows what an upload remarks: notes as notes, and warnings once each (a folder that cannot be
/// read is met again by the next APK, and the next matrix entry).
fn remark(remark: Remark) {
    match remark {
        Remark::Note(message) => note!("doksi: {message}"),
        Remark::Warning(message) => output::warning_once(message),
    }
}

/// The cache's own warnings (a corrupt file set aside), if there is a cache.
fn warn_cache_of(cache: Option<&Cache>) {
    if let Some(cache) = cache {
        warn_cache(cache);
    }
}

/// Uploads (or finds in the cache) every APK `paths` selects, printing one line each to stderr.
pub(super) async fn upload_all(
    conn: &GlobalArgs,
    paths: &[PathBuf],
    selection: Selection,
    options: &UploadOptions,
    plan: &Plan,
) -> Result<Vec<Uploaded>, Error> {
    ready(conn, paths, selection, options)
        .await?
        .upload(options, plan)
        .await
}

/// APKs selected, checked and (bundles) converted: everything an upload needs that is local, so
/// that callers with several sets (a matrix) can check them all before the first request.
pub(super) struct Ready {
    client: crate::api::client::Client,
    listed: Vec<Listed>,
    cache: Option<Cache>,
    scope: String,
    bundles: Bundles,
}

/// The local half of [`upload_all`]: nothing is sent.
pub(super) async fn ready(
    conn: &GlobalArgs,
    paths: &[PathBuf],
    selection: Selection,
    options: &UploadOptions,
) -> Result<Ready, Error> {
    // Flags and key are checked before any file is read or request sent.
    let client = client(conn)?;
    let listed: Vec<Listed> = select(paths, selection)?;
    check_signed(&listed, options.require_signed)?;
    let converter = converter_for(&listed, options)?;
    let cache = upload_cache(conn);
    let scope = cache_scope(&client);
    let made = make_bundles(&listed, converter.as_ref(), cache.as_ref(), &scope, options).await?;
    Ok(Ready {
        client,
        listed,
        cache,
        scope,
        bundles: Bundles { converter, made },
    })
}

impl Ready {
    /// The sending half of [`upload_all`].
    pub(super) async fn upload(
        self,
        options: &UploadOptions,
        plan: &Plan,
    ) -> Result<Vec<Uploaded>, Error> {
        let reuse = if options.force {
            Reuse::Never
        } else {
            Reuse::Cached
        };
        if options.dry_run {
            return self.plan_all(reuse, options, plan);
        }
        let mut done = Vec::with_capacity(self.listed.len());
        for (i, l) in self.listed.iter().enumerate() {
            // Targets the server said it does not know are uploaded again whatever the cache says.
            let reuse = match options.stale.contains(&l.fingerprint.sha256) {
                true => Reuse::Never,
                false => reuse,
            };
            let name = l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let progress = Progress::new(&name);
            let result = self
                .uploader(reuse)
                .upload(self.candidate(i, options), &|sent, total| {
                    progress.update(sent, total)
                })
                .await;
            progress.finish();
            warn_cache_of(self.cache.as_ref());
            let up = result?;
            let how = if up.cached { "cached" } else { "uploaded" };
            note!("{} {how}: target {}", l.path.display(), up.target_id);
            done.push(up);
        }
        Ok(done)
    }

    fn uploader(&self, reuse: Reuse) -> Uploader<'_> {
        Uploader {
            client: &self.client,
            cache: self.cache.as_ref(),
            scope: self.scope.clone(),
            reuse,
            lock_wait: LockWait::default(),
            remark: &remark,
        }
    }

    /// `listed[i]` as the uploader takes it.
    fn candidate<'a>(&'a self, i: usize, options: &'a UploadOptions) -> Candidate<'a> {
        let l = &self.listed[i];
        Candidate {
            path: &l.path,
            manifest: &l.manifest,
            fingerprint: &l.fingerprint,
            name: options.name.as_deref(),
            source: self.bundles.source(i, l),
        }
    }

    /// `--dry-run`: prints the requests each upload would make (or the cache hit that spares
    /// them) on stdout, and returns stand-ins for the targets so a run's matrix can still be
    /// shown.
    fn plan_all(
        &self,
        reuse: Reuse,
        options: &UploadOptions,
        plan: &Plan,
    ) -> Result<Vec<Uploaded>, Error> {
        let uploader = self.uploader(reuse);
        let mut planned = Vec::with_capacity(self.listed.len());
        for (i, l) in self.listed.iter().enumerate() {
            let step = uploader.plan(self.candidate(i, options))?;
            warn_cache_of(uploader.cache);
            let file = l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (target_id, cached) = match &step {
                Planned::Cached { target_id } => (target_id.clone(), true),
                Planned::Upload { .. } => (format!("<target of {file}>"), false),
            };
            plan.upload(self.client.base_url(), l, &step, &target_id)?;
            planned.push(Uploaded {
                path: l.path.clone(),
                sha256: l.fingerprint.sha256.clone(),
                target_id,
                cached,
            });
        }
        Ok(planned)
    }
}

/// An unsigned APK (a release build without a signing config) installs on no device: said
/// before anything is uploaded, and refused with `--require-signed`.
fn check_signed(listed: &[Listed], required: bool) -> Result<(), Error> {
    const FIX: &str = "sign it, or for a test build give the release build type `signingConfig signingConfigs.debug`";
    // A bundle's universal APK is checked once bundletool has made it (`make_bundles`).
    for l in listed.iter().filter(|l| !l.manifest.signed && !l.bundle) {
        if required {
            return Err(Error::Usage(format!(
                "{} is not signed (--require-signed): {FIX}",
                l.path.display()
            )));
        }
        output::warning_once(format!(
            "{} is not signed, and no device installs an unsigned APK: {FIX}",
            l.path.display()
        ));
    }
    Ok(())
}

/// The bundles among the APKs to upload: how they are converted, and what was made of them.
struct Bundles {
    converter: Option<Converter>,
    made: HashMap<usize, Prepared>,
}

impl Bundles {
    /// What `listed[i]` is, for the uploader.
    fn source(&self, i: usize, l: &Listed) -> Source<'_> {
        match self.converter.as_ref().filter(|_| l.bundle) {
            None => Source::Apk,
            Some(converter) => Source::Bundle {
                converter,
                made: self.made.get(&i),
            },
        }
    }
}

/// Makes the universal APK of every named bundle the cache does not know yet, before the first
/// request: bundletool can fail (a wrong password, no Java) and its APK can be unsigned (no
/// keystore and no debug key), and either must cost nothing on the server. Keyed by the bundle's
/// place in `listed`.
async fn make_bundles(
    listed: &[Listed],
    converter: Option<&Converter>,
    cache: Option<&Cache>,
    scope: &str,
    options: &UploadOptions,
) -> Result<HashMap<usize, Prepared>, Error> {
    let mut made = HashMap::new();
    let Some(converter) = converter else {
        return Ok(made);
    };
    for (i, l) in listed.iter().enumerate().filter(|(_, l)| l.bundle) {
        let sha = &l.fingerprint.sha256;
        let forced = options.force || options.stale.contains(sha);
        let known =
            cache.is_some_and(|c| matches!(c.get(scope, &converter.cache_key(sha)), Ok(Some(_))));
        if known && !forced {
            continue;
        }
        note!(
            "doksi: {}: making its universal APK with bundletool",
            l.path.display()
        );
        let prepared = converter.prepare(&l.path).await?;
        let signed = crate::apk::inspect(&prepared.apk)?.manifest.signed;
        if !signed {
            let why = format!(
                "the universal APK bundletool made of {} is not signed (no --ks, and no debug keystore in ~/.android)",
                l.path.display()
            );
            if options.require_signed {
                return Err(Error::Usage(format!("{why}; --require-signed")));
            }
            output::warning_once(format!("{why}: no device installs it; pass --ks"));
        }
        made.insert(i, prepared);
    }
    Ok(made)
}

/// The bundletool that turns the named bundles into APKs, found before anything is sent; `None`
/// when there is no bundle to convert.
fn converter_for(listed: &[Listed], options: &UploadOptions) -> Result<Option<Converter>, Error> {
    let Some(first) = listed.iter().find(|l| l.bundle) else {
        return Ok(None);
    };
    let bundletool = Bundletool::from_env()
        .ok_or_else(|| crate::bundle::BundleError::NoBundletool(first.path.clone()))?;
    let secret = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    let keystore = Keystore {
        path: options.ks.clone(),
        password: secret("DOKSI_KS_PASS"),
        alias: options.ks_key_alias.clone(),
        key_password: secret("DOKSI_KEY_PASS"),
    };
    Ok(Some(Converter {
        bundletool,
        keystore,
    }))
}

/// A dry run's account of what it would send: printed step by step for a person, or gathered
/// into one JSON document (`--json`) printed at the end.
pub(super) struct Plan {
    json: bool,
    uploads: std::sync::Mutex<Vec<serde_json::Value>>,
}

impl Plan {
    pub(super) fn new(json: bool) -> Plan {
        Plan {
            json,
            uploads: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn upload(
        &self,
        base: &crate::api::BaseUrl,
        l: &Listed,
        step: &Planned,
        target_id: &str,
    ) -> Result<(), Error> {
        let path = crate::path_text::escaped(&l.path);
        let entry = match step {
            Planned::Cached { target_id } => serde_json::json!({
                "path": path, "sha256": l.fingerprint.sha256, "cached": true,
                "target_id": target_id, "requests": [],
            }),
            Planned::Upload { name, zip_len } => serde_json::json!({
                "path": path, "sha256": l.fingerprint.sha256, "cached": false,
                "target_id": target_id, "name": name, "zip_bytes": zip_len,
                "requests": [
                    {"method": "POST", "url": base.join("uploads"), "body": {"name": name}},
                    {"method": "PUT", "url": "<upload_url from POST /uploads>",
                     "content_type": "application/zip", "bytes": zip_len, "authorization": false},
                    {"method": "POST", "url": base.join("targets"),
                     "body": {"upload_id": "<upload_id from POST /uploads>"}},
                ],
            }),
        };
        if self.json {
            if let Ok(mut uploads) = self.uploads.lock() {
                uploads.push(entry);
            }
            return Ok(());
        }
        let path = l.path.display();
        match step {
            Planned::Cached { target_id } => {
                outln!("cached   {path} → target {target_id} (nothing to send)")
            }
            Planned::Upload { name, zip_len } => {
                outln!("upload   {path}");
                let body = serde_json::json!({ "name": name });
                outln!("  POST {} {body}", base.join("uploads"));
                outln!(
                    "  PUT  <upload_url from that answer> (application/zip, {zip_len} bytes, no Authorization header)"
                );
                outln!(
                    "  POST {} {{\"upload_id\":\"<upload_id from that answer>\"}}",
                    base.join("targets")
                );
            }
        }
        Ok(())
    }

    /// Prints the end of the plan: the run's request, if there is one, and that nothing was sent.
    pub(super) fn finish(
        &self,
        base: &crate::api::BaseUrl,
        run: Option<&crate::api::model::RunRequest>,
    ) -> Result<(), Error> {
        if self.json {
            let uploads = self.uploads.lock().map(|u| u.clone()).unwrap_or_default();
            let mut doc = serde_json::json!({ "dry_run": true, "uploads": uploads });
            if let Some(request) = run {
                doc["run"] = serde_json::json!({
                    "method": "POST", "url": base.join("runs"), "body": request,
                });
            }
            return print_json(&doc);
        }
        if let Some(request) = run {
            let body = serde_json::to_string_pretty(request).map_err(std::io::Error::from)?;
            outln!("run");
            outln!("  POST {} {body}", base.join("runs"));
        }
        outln!("dry run: nothing was sent");
        Ok(())
    }
}

/// Drops the cache entries behind `uploaded` that came from the cache (the server said it does
/// not know them), so the next upload really uploads. Never fails: the forced upload that follows
/// does not read the cache, and its entry replaces the stale one.
pub(super) fn forget(
    conn: &GlobalArgs,
    client: &crate::api::client::Client,
    uploaded: &[Uploaded],
) {
    let Some(cache) = upload_cache(conn) else {
        return;
    };
    let scope = cache_scope(client);
    for u in uploaded.iter().filter(|u| u.cached) {
        if let Err(e) = cache.remove(&scope, &u.sha256) {
            output::warning_once(format!("{e}; the stale entry stays until replaced"));
        }
    }
    warn_cache(&cache);
}

pub async fn run(conn: &GlobalArgs, args: UploadArgs) -> Result<(), Error> {
    let plan = Plan::new(args.json);
    let selection = args.selection.into();
    let done = upload_all(conn, &args.paths, selection, &args.upload, &plan).await?;
    if args.upload.dry_run {
        return plan.finish(client(conn)?.base_url(), None);
    }
    if args.json {
        print_json(&done)?;
    } else {
        for u in &done {
            outln!("{}\t{}", u.target_id, u.path.display());
        }
    }
    Ok(())
}
