//! Uploading a set of selected APKs, in two halves: [`ready`] does everything local (select,
//! refuse unsigned APKs if asked, find bundletool and convert bundles the cache does not know)
//! and [`Ready::upload`] sends, one APK after the other, each behind the cache. A matrix readies
//! every entry before the first upload, so a bad third entry costs the first two nothing. A dry
//! run goes through the same steps and gathers what it would send in a [`Plan`].
//! Fails with [`UploadError`], the upload's own; imports `select`, `context`, `bundle`, `cache`
//! and `remark`, nothing of `commands`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::api::error::ApiError;
use crate::bundle::{Bundletool, Keystore};
use crate::cache::LockWait;
use crate::context::Context;
use crate::discover::Selection;
use crate::labels::ApkLabel;
use crate::select::{Selected, select};

use super::{
    Candidate, Converter, Options, Planned, Prepared, Reuse, Source, UploadError, Uploaded,
    Uploader,
};
use crate::remark::Remark;

/// Uploads (or finds in the cache) every APK `paths` selects, saying one line each.
pub async fn upload_all(
    ctx: &Context,
    paths: &[PathBuf],
    selection: Selection,
    options: &Options,
    plan: &Plan,
) -> Result<Vec<Uploaded>, UploadError> {
    ready(ctx, paths, selection, options)
        .await?
        .upload(options, plan)
        .await
}

/// APKs selected, checked and (bundles) converted: everything an upload needs that is local, so
/// that callers with several sets (a matrix) can check them all before the first request.
pub struct Ready<'c> {
    ctx: &'c Context,
    listed: Vec<Selected>,
    bundles: Bundles,
}

/// The local half of [`upload_all`]: nothing is sent.
pub async fn ready<'c>(
    ctx: &'c Context,
    paths: &[PathBuf],
    selection: Selection,
    options: &Options,
) -> Result<Ready<'c>, UploadError> {
    let listed: Vec<Selected> = select(paths, selection, ctx.reporter.as_ref())?;
    check_signed(ctx, &listed, options.require_signed)?;
    let converter = converter_for(&listed, options)?;
    let made = make_bundles(ctx, &listed, converter.as_ref(), options).await?;
    Ok(Ready {
        ctx,
        listed,
        bundles: Bundles { converter, made },
    })
}

impl Ready<'_> {
    /// As [`Ready::upload`], with the APKs as people name them, each with the target it was
    /// registered as (for the notification). Callable again: a stale target's upload is made
    /// from the same readied APKs.
    pub async fn upload_labelled(
        &self,
        options: &Options,
        plan: &Plan,
    ) -> Result<(Vec<Uploaded>, Vec<ApkLabel>), UploadError> {
        let uploaded = self.upload(options, plan).await?;
        let mut labels: Vec<ApkLabel> = self.listed.iter().map(Selected::label).collect();
        // The uploads come back in the order the APKs were listed, one each.
        if labels.len() == uploaded.len() {
            for (label, up) in labels.iter_mut().zip(&uploaded) {
                label.target_id = Some(up.target_id.clone());
            }
        }
        Ok((uploaded, labels))
    }

    /// The sending half of [`upload_all`].
    pub async fn upload(
        &self,
        options: &Options,
        plan: &Plan,
    ) -> Result<Vec<Uploaded>, UploadError> {
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
            let progress = self.ctx.reporter.progress(&name);
            let result = self
                .uploader(reuse, options.compress)
                .upload(self.candidate(i, options), &|sent, total| {
                    progress.update(sent, total)
                })
                .await;
            progress.finish();
            self.ctx.cache_warnings();
            let up = result?;
            let how = if up.cached { "cached" } else { "uploaded" };
            self.ctx.remark(Remark::Step(format!(
                "{} {how}: target {}",
                l.path.display(),
                up.target_id
            )));
            done.push(up);
        }
        Ok(done)
    }

    fn uploader(&self, reuse: Reuse, compress: crate::package::Compress) -> Uploader<'_> {
        Uploader {
            client: &self.ctx.client,
            cache: self.ctx.cache(),
            scope: self.ctx.scope.clone(),
            reuse,
            lock_wait: LockWait::default(),
            compress,
            remark: self.ctx.remarks(),
        }
    }

    /// `listed[i]` as the uploader takes it.
    fn candidate<'a>(&'a self, i: usize, options: &'a Options) -> Candidate<'a> {
        let l = &self.listed[i];
        Candidate {
            path: &l.path,
            manifest: &l.manifest,
            fingerprint: &l.fingerprint,
            name: options.name.as_deref(),
            source: self.bundles.source(i, l),
        }
    }

    /// `--dry-run`: gathers the requests each upload would make (or the cache hit that spares
    /// them) in `plan`, and returns stand-ins for the targets so a run's matrix can still be
    /// shown.
    fn plan_all(
        &self,
        reuse: Reuse,
        options: &Options,
        plan: &Plan,
    ) -> Result<Vec<Uploaded>, UploadError> {
        let uploader = self.uploader(reuse, options.compress);
        let mut planned = Vec::with_capacity(self.listed.len());
        for (i, l) in self.listed.iter().enumerate() {
            let step = uploader.plan(self.candidate(i, options))?;
            self.ctx.cache_warnings();
            let file = l
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let (target_id, cached) = match &step {
                Planned::Cached { target_id } => (target_id.clone(), true),
                Planned::Upload { .. } => (format!("<target of {file}>"), false),
            };
            plan.add(PlannedUpload {
                path: l.path.clone(),
                sha256: l.fingerprint.sha256.clone(),
                target_id: target_id.clone(),
                step,
            });
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
fn check_signed(ctx: &Context, listed: &[Selected], required: bool) -> Result<(), UploadError> {
    const FIX: &str = "sign it, or for a test build give the release build type `signingConfig signingConfigs.debug`";
    // A bundle's universal APK is checked once bundletool has made it (`make_bundles`).
    for l in listed.iter().filter(|l| !l.manifest.signed && !l.bundle) {
        if required {
            return Err(UploadError::Unsigned(format!(
                "{} is not signed (--require-signed): {FIX}",
                l.path.display()
            )));
        }
        ctx.remark(Remark::Warning(format!(
            "{} is not signed, and no device installs an unsigned APK: {FIX}",
            l.path.display()
        )));
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
    fn source(&self, i: usize, l: &Selected) -> Source<'_> {
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
    ctx: &Context,
    listed: &[Selected],
    converter: Option<&Converter>,
    options: &Options,
) -> Result<HashMap<usize, Prepared>, UploadError> {
    let mut made = HashMap::new();
    let Some(converter) = converter else {
        return Ok(made);
    };
    for (i, l) in listed.iter().enumerate().filter(|(_, l)| l.bundle) {
        let sha = &l.fingerprint.sha256;
        let forced = options.force || options.stale.contains(sha);
        let known = ctx.cache().is_some_and(|c| {
            matches!(c.get(&ctx.scope.id, &converter.cache_key(sha)), Ok(Some(_)))
        });
        if known && !forced {
            continue;
        }
        ctx.remark(Remark::Note(format!(
            "{}: making its universal APK with bundletool",
            l.path.display()
        )));
        let prepared = converter.prepare(&l.path).await?;
        let signed = crate::apk::inspect(&prepared.apk)?.manifest.signed;
        if !signed {
            let why = format!(
                "the universal APK bundletool made of {} is not signed (no --ks, and no debug keystore in ~/.android)",
                l.path.display()
            );
            if options.require_signed {
                return Err(UploadError::Unsigned(format!("{why}; --require-signed")));
            }
            ctx.remark(Remark::Warning(format!(
                "{why}: no device installs it; pass --ks"
            )));
        }
        made.insert(i, prepared);
    }
    Ok(made)
}

/// The bundletool that turns the named bundles into APKs, found before anything is sent; `None`
/// when there is no bundle to convert.
fn converter_for(listed: &[Selected], options: &Options) -> Result<Option<Converter>, UploadError> {
    let Some(first) = listed.iter().find(|l| l.bundle) else {
        return Ok(None);
    };
    let bundletool = Bundletool::from_env()
        .ok_or_else(|| crate::bundle::BundleError::NoBundletool(first.path.clone()))?;
    let secret = |name| crate::environment::var(name).filter(|v| !v.is_empty());
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

/// The cached targets a 404 from `POST /runs` names (see `stale_targets`), but for those
/// uploaded again already (`renewed`: a 404 naming a fresh target is the server's answer), said
/// and dropped from the cache, so the next upload really uploads. Forgetting never fails: the
/// forced upload that follows does not read the cache, and its entry replaces the stale one.
pub fn forget_stale(
    ctx: &Context,
    e: &ApiError,
    uploaded: &[Uploaded],
    renewed: &[String],
) -> Vec<Uploaded> {
    let mut stale = stale_targets(e, uploaded);
    stale.retain(|u| !renewed.contains(&u.sha256));
    if stale.is_empty() {
        return stale;
    }
    let ids: Vec<&str> = stale.iter().map(|u| u.target_id.as_str()).collect();
    ctx.remark(Remark::Note(format!(
        "{e}; the server does not know cached {} {}: uploading again",
        match ids.len() {
            1 => "target",
            _ => "targets",
        },
        ids.join(", ")
    )));
    let Some(cache) = ctx.cache() else {
        return stale;
    };
    for u in &stale {
        if let Err(e) = cache.remove(&ctx.scope.id, &u.sha256) {
            ctx.remark(Remark::Warning(format!(
                "{e}; the stale entry stays until replaced"
            )));
        }
    }
    ctx.cache_warnings();
    stale
}

/// One upload of a dry run: what it would send, or the cache hit that spares it.
#[derive(Debug, Clone)]
pub struct PlannedUpload {
    pub path: PathBuf,
    pub sha256: String,
    /// The cached target, or a stand-in such as `<target of app.apk>`.
    pub target_id: String,
    pub step: Planned,
}

/// A dry run's account of the uploads it would make, in order; `commands` prints it.
#[derive(Debug, Default)]
pub struct Plan {
    uploads: Mutex<Vec<PlannedUpload>>,
}

impl Plan {
    fn add(&self, planned: PlannedUpload) {
        if let Ok(mut uploads) = self.uploads.lock() {
            uploads.push(planned);
        }
    }

    pub fn uploads(&self) -> Vec<PlannedUpload> {
        self.uploads.lock().map(|u| u.clone()).unwrap_or_default()
    }
}
/// The cached targets a 404 from `POST /runs` plausibly refers to: those its message names, or
/// every cached one when the answer says nothing. A 404 that names something else (an unknown
/// category or test) is the server's answer about the input, and nothing is uploaded again.
fn stale_targets(e: &ApiError, uploaded: &[Uploaded]) -> Vec<Uploaded> {
    let root = e.root();
    if root.status() != Some(404) {
        return Vec::new();
    }
    let said = match root {
        ApiError::Api { message, .. } => message.trim(),
        ApiError::NotJson { first_line, .. } if first_line.starts_with("(empty body)") => "",
        _ => return Vec::new(),
    };
    let cached = uploaded.iter().filter(|u| u.cached);
    if said.is_empty() || said == "{}" {
        return cached.cloned().collect();
    }
    // Whole ids only: `bin_1` is not named by "target bin_12 not found".
    let words: Vec<&str> = said
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
        .collect();
    cached
        .filter(|u| words.contains(&u.target_id.as_str()))
        .cloned()
        .collect()
}
