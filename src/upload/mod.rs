//! mint → PUT → register, behind the target cache: an APK whose content hash is cached under this
//! base URL and key makes no request at all. Concurrent doksi processes uploading the same APK
//! serialise on a per-hash lock, and the later ones find the target the first one cached.
//!
//! The cache is only an optimisation: a folder that cannot be read, locked or written (full,
//! read-only, missing) becomes a warning and an upload that goes on without it, never a failed
//! command — least of all after the server already registered the target.

pub mod batch;
pub mod compress;

/// How to upload, as the command line or a caller put it: plain values, so the library never
/// sees the flags they came from (`cli::UploadOptions` converts into this).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The upload's name (default: "<package> <versionName> (<versionCode>)").
    pub name: Option<String>,
    /// Upload even when the cache already knows the APK.
    pub force: bool,
    /// Say what would be sent, send nothing.
    pub dry_run: bool,
    /// The keystore that signs the universal APK made from an .aab, and the key's alias in it.
    pub ks: Option<std::path::PathBuf>,
    pub ks_key_alias: Option<String>,
    /// Refuse unsigned APKs instead of warning about them.
    pub require_signed: bool,
    /// Content hashes whose cached targets the server said it does not know: uploaded again
    /// whatever the cache says (the stale-target recovery sets them).
    pub stale: Vec<String>,
    /// Whether the upload zip holds the APK deflated.
    pub compress: crate::package::Compress,
}

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use crate::api::client::{Client, expiry};
use crate::api::error::ApiError;
use crate::apk::Manifest;
use crate::cache::{Attempt, Cache, Entry, HashLock, Holder, LockWait, Scope};
use crate::package::{Fingerprint, PackageError, UploadZip};
use crate::remark::Remark;

/// Every way uploading can fail, one APK's ([`Uploader`]) or a set's ([`batch`]: selecting,
/// checking and converting first).
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{path}: {source}")]
    Api { path: PathBuf, source: ApiError },
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    /// Choosing the set (`batch`).
    #[error(transparent)]
    Select(#[from] crate::select::SelectError),
    /// Reading the universal APK bundletool made.
    #[error(transparent)]
    Apk(#[from] crate::apk::ApkError),
    /// An unsigned APK under `--require-signed`.
    #[error("{0}")]
    Unsigned(String),
}

/// Whether a cached target may stand in for an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reuse {
    Cached,
    /// `--force`: upload even when the cache knows the APK.
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Uploaded {
    #[serde(serialize_with = "crate::path_text::serialize")]
    pub path: PathBuf,
    pub sha256: String,
    pub target_id: String,
    pub cached: bool,
}

/// The upload's display name: `com.example.app 1.4.2 (142)`, or the file name.
pub fn default_name(path: &Path, manifest: &Manifest) -> String {
    let mut name = manifest.package.clone().unwrap_or_else(|| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    if let Some(v) = &manifest.version_name {
        name.push(' ');
        name.push_str(v);
    }
    if let Some(c) = manifest.version_code {
        name.push_str(&format!(" ({c})"));
    }
    name
}

pub struct Uploader<'a> {
    pub client: &'a Client,
    /// `None` when no cache folder could be opened: every APK is uploaded and nothing is kept.
    pub cache: Option<&'a Cache>,
    /// Where the entries go, and whose they are (see [`crate::cache::Scope`]).
    pub scope: Scope,
    pub reuse: Reuse,
    /// How long to wait for another process uploading the same APK before uploading it too.
    pub lock_wait: LockWait,
    /// Whether the upload zip holds the APK deflated.
    pub compress: crate::package::Compress,
    /// Hears what the upload has to say on the way: waits, recoveries, the cache failing.
    pub remark: &'a (dyn Fn(Remark) + Sync),
}

/// What an upload would take: nothing (the cache knows the target), or these requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Cached {
        target_id: String,
    },
    /// `zip_len` is the stored zip's; `body` says whether the APK would go stored or deflated,
    /// and why.
    Upload {
        name: String,
        zip_len: u64,
        body: String,
    },
}

/// One APK to upload: where it is, what it is, what its bytes hash to.
pub struct Candidate<'a> {
    pub path: &'a Path,
    pub manifest: &'a Manifest,
    pub fingerprint: &'a Fingerprint,
    pub name: Option<&'a str>,
    pub source: Source<'a>,
}

/// What a candidate's file is.
#[derive(Clone, Copy)]
pub enum Source<'a> {
    Apk,
    /// An App Bundle, uploaded as the universal APK `converter` makes of it (`made`, where it
    /// was made before the first request). Cached by the bundle's hash and the signing key, so
    /// an unchanged bundle is neither converted nor uploaded again.
    Bundle {
        converter: &'a Converter,
        made: Option<&'a Prepared>,
    },
}

/// A bundletool and the key its universal APKs are signed with.
#[derive(Debug, Clone)]
pub struct Converter {
    pub bundletool: crate::bundle::Bundletool,
    pub keystore: crate::bundle::Keystore,
}

impl Converter {
    /// The cache key of the universal APK made from the bundle whose hash is `bundle_sha256`
    /// with this key: the same bundle signed with another key is another APK.
    pub fn cache_key(&self, bundle_sha256: &str) -> String {
        use sha2::{Digest, Sha256};
        let identity = self.keystore.identity();
        let digest = Sha256::digest(format!("doksi-bundle-v1\0{bundle_sha256}\0{identity}"));
        crate::package::hex(&digest)
    }

    /// The universal APK of `bundle`, zipped for upload, in a folder of its own that lives as
    /// long as the value.
    pub async fn prepare(&self, bundle: &Path) -> Result<Prepared, UploadError> {
        let io = |source| PackageError::Io {
            path: bundle.to_owned(),
            source,
        };
        let dir = tempfile::Builder::new()
            .prefix("doksi-bundle-")
            .tempdir()
            .map_err(io)?;
        let apk = self
            .bundletool
            .universal_apk(bundle, &self.keystore, dir.path())
            .await?;
        let fingerprint = Fingerprint::of(&apk)?;
        Ok(Prepared {
            zip: UploadZip::new(&apk, fingerprint)?,
            apk,
            _made_in: dir,
        })
    }
}

/// A universal APK made from a bundle, and its upload zip.
pub struct Prepared {
    pub apk: PathBuf,
    zip: UploadZip,
    _made_in: tempfile::TempDir,
}

impl Candidate<'_> {
    /// What the cache knows this candidate by: its bytes' hash, or for a bundle that and the
    /// signing key.
    pub fn cache_key(&self) -> String {
        match self.source {
            Source::Apk => self.fingerprint.sha256.clone(),
            Source::Bundle { converter, .. } => converter.cache_key(&self.fingerprint.sha256),
        }
    }
}

impl Uploader<'_> {
    fn warn(&self, message: String) {
        (self.remark)(Remark::Warning(message));
    }

    /// The cached entry, if the cache may be used, can be read, and knows the APK.
    fn cached(&self, sha256: &str) -> Option<Entry> {
        let cache = self.cache.filter(|_| self.reuse == Reuse::Cached)?;
        cache.get(&self.scope.id, sha256).unwrap_or_else(|e| {
            self.warn(format!("{e}; uploading as if nothing were cached"));
            None
        })
    }

    /// Waits (up to [`Uploader::lock_wait`]) for any other process uploading the same bytes.
    /// `None`: no cache, a lock that cannot be taken, or a holder that outlasted the wait; the
    /// upload then goes on unguarded, which at worst sends the APK twice.
    async fn lock(&self, apk: &Path, sha256: &str) -> Option<HashLock> {
        let cache = self.cache?;
        let limit = self.lock_wait.limit;
        let waiting = |h: &Holder| {
            (self.remark)(Remark::Note(format!(
                "waiting for {} uploading the same APK ({}); uploading anyway after {}",
                who(h),
                h.lock_file.display(),
                crate::timestamp::duration(limit)
            )))
        };
        let started = std::time::Instant::now();
        let mut announced = false;
        let locked = loop {
            match cache.try_lock_hash(&self.scope.id, sha256) {
                Ok(Attempt::Held(h)) if started.elapsed() < limit => {
                    if !announced {
                        waiting(&h);
                        announced = true;
                    }
                    // Asleep in the runtime, not a thread: a signal is heard while waiting.
                    let left = limit.saturating_sub(started.elapsed());
                    tokio::time::sleep(self.lock_wait.poll.min(left)).await;
                }
                other => break other,
            }
        };
        match locked {
            Ok(Attempt::Acquired(lock)) => Some(lock),
            Ok(Attempt::Held(h)) => {
                self.warn(format!(
                    "{} still holds {} after {}; uploading {} anyway",
                    who(&h),
                    h.lock_file.display(),
                    crate::timestamp::duration(limit),
                    apk.display()
                ));
                None
            }
            Err(e) => {
                self.warn(format!(
                    "{e}; uploading without it (another doksi may upload the same APK meanwhile)"
                ));
                None
            }
        }
    }

    /// Stored or deflated for the APK in `zip`, from what earlier uploads to this host measured.
    fn choose(&self, zip: &UploadZip) -> compress::Choice {
        compress::choose(self.compress, zip.apk(), zip.len(), self.rate())
    }

    /// The rate the last long upload to this API host went at, if the cache kept one.
    fn rate(&self) -> Option<f64> {
        self.cache
            .and_then(|c| compress::measured_rate(c.dir(), &self.scope.account.host))
    }

    /// The zip deflated, when that is the choice; `None` to send `zip` as it is. A folder that
    /// cannot take the deflated zip (full, read-only) is a warning, and the APK goes stored.
    /// The choice and the deflating are CPU work (a second for 100 MB), done on the blocking
    /// pool so that a signal is still heard meanwhile.
    async fn deflate(&self, zip: &UploadZip) -> Result<Option<UploadZip>, UploadError> {
        let path = zip.apk().display();
        let rate = self.rate();
        let scratch = self
            .cache
            .map(|c| c.dir().to_owned())
            .unwrap_or_else(std::env::temp_dir);
        let (compress, apk, fingerprint, len) = (
            self.compress,
            zip.apk().to_owned(),
            zip.fingerprint().clone(),
            zip.len(),
        );
        let work = tokio::task::spawn_blocking(move || {
            let choice = compress::choose(compress, &apk, len, rate);
            let deflated = choice
                .deflate
                .then(|| UploadZip::deflated(&apk, fingerprint, &scratch));
            (choice, deflated)
        });
        let (choice, deflated) = work.await.map_err(|e| {
            UploadError::Package(PackageError::Io {
                path: zip.apk().to_owned(),
                source: std::io::Error::other(e),
            })
        })?;
        let Some(deflated) = deflated else {
            (self.remark)(Remark::Detail(format!("{path}: {}", choice.why)));
            return Ok(None);
        };
        match deflated {
            Ok(deflated) => {
                (self.remark)(Remark::Detail(format!(
                    "{path}: {} (zip {} → {})",
                    choice.why,
                    crate::words::size(zip.len()),
                    crate::words::size(deflated.len())
                )));
                Ok(Some(deflated))
            }
            Err(e @ PackageError::Scratch { .. }) => {
                self.warn(format!("{e}; sending {path} stored"));
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Keeps the rate an upload went at, for the next choice; a cache that cannot keep it costs
    /// only that.
    fn measured(&self, bytes: u64, took: std::time::Duration) {
        if let Some(cache) = self.cache {
            let _ = compress::record_rate(cache.dir(), &self.scope.account.host, bytes, took);
        }
    }

    /// What [`Uploader::upload`] would do for `apk`, sending nothing: `--dry-run`'s answer.
    pub fn plan(&self, apk: Candidate<'_>) -> Result<Planned, UploadError> {
        if let Some(e) = self.cached(&apk.cache_key()) {
            return Ok(Planned::Cached {
                target_id: e.target_id,
            });
        }
        let name = apk
            .name
            .map(str::to_owned)
            .unwrap_or_else(|| default_name(apk.path, apk.manifest));
        let (zip_len, body) = match apk.source {
            Source::Apk => {
                let zip = UploadZip::new(apk.path, apk.fingerprint.clone())?;
                (zip.len(), self.choose(&zip).why)
            }
            Source::Bundle { made: Some(p), .. } => (p.zip.len(), self.choose(&p.zip).why),
            // Made before the plan unless the cache knew it a moment earlier.
            Source::Bundle { made: None, .. } => (0, "stored or deflated once it is made".into()),
        };
        Ok(Planned::Upload {
            name,
            zip_len,
            body,
        })
    }

    /// Returns the target for `apk`, from the cache or by uploading it. `progress` hears the
    /// bytes sent so far during the PUT.
    pub async fn upload(
        &self,
        apk: Candidate<'_>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<Uploaded, UploadError> {
        let sha = &apk.fingerprint.sha256;
        let key = &apk.cache_key();
        let hit = |e: Entry| Uploaded {
            path: apk.path.to_owned(),
            sha256: sha.clone(),
            target_id: e.target_id,
            cached: true,
        };
        if let Some(e) = self.cached(key) {
            return Ok(hit(e));
        }
        // Another process may be uploading the same bytes: wait for it, then look again.
        let _lock = self.lock(apk.path, key).await;
        if let Some(e) = self.cached(key) {
            return Ok(hit(e));
        }
        let api = |source| UploadError::Api {
            path: apk.path.to_owned(),
            source,
        };
        let name = apk
            .name
            .map(str::to_owned)
            .unwrap_or_else(|| default_name(apk.path, apk.manifest));
        let own;
        let made;
        let zip = match apk.source {
            Source::Apk => {
                own = UploadZip::new(apk.path, apk.fingerprint.clone())?;
                &own
            }
            Source::Bundle { made: Some(p), .. } => &p.zip,
            // The cache knew it when the bundles were made, and no longer does.
            Source::Bundle {
                converter,
                made: None,
            } => {
                made = converter.prepare(apk.path).await?;
                &made.zip
            }
        };
        let deflated;
        let zip = match self.deflate(zip).await? {
            Some(made) => {
                deflated = made;
                &deflated
            }
            None => zip,
        };
        let mint = || async {
            let (asked, asked_wall) = (Instant::now(), SystemTime::now());
            let minted = self.client.mint_upload(&name).await.map_err(api)?;
            let expires = expiry(&minted.upload_url, asked, asked_wall);
            Ok::<_, UploadError>((minted, expires))
        };
        let (mut minted, expires) = mint().await?;
        let mut sending = Instant::now();
        if let Err(e) = self
            .client
            .put_upload(&minted.upload_url, zip, expires, progress)
            .await
        {
            // A presigned URL that expired (a slow queue before the PUT, a long outage between
            // attempts) or was refused is worth one fresh URL; a second refusal is the answer.
            let expired = matches!(e.root(), ApiError::UrlExpired);
            if !expired && e.root().status() != Some(403) {
                return Err(api(e));
            }
            // The attempts before the URL expired were told as they were retried.
            let said = if expired { e.root() } else { &e };
            (self.remark)(Remark::Note(format!(
                "{}: {said}; minting a fresh upload URL",
                apk.path.display()
            )));
            let expires;
            (minted, expires) = mint().await?;
            sending = Instant::now();
            self.client
                .put_upload(&minted.upload_url, zip, expires, progress)
                .await
                .map_err(api)?;
        }
        self.measured(zip.len(), sending.elapsed());
        let target = self
            .client
            .register_target(&minted.upload_id)
            .await
            .map_err(api)?;
        let m = apk.manifest;
        let entry = Entry {
            sha256: key.clone(),
            target_id: target.target_id.clone(),
            package: m.package.clone(),
            version_name: m.version_name.clone(),
            version_code: m.version_code,
            size: apk.fingerprint.size,
            uploaded_at: crate::timestamp::rfc3339(std::time::SystemTime::now()),
        };
        // The target exists on the server now: a cache that cannot keep it costs the next run an
        // upload, not this one its result.
        if let Some(Err(e)) = self.cache.map(|c| c.put(&self.scope, entry)) {
            self.warn(format!(
                "target {} was not cached: {e}; the next run will upload {} again",
                target.target_id,
                apk.path.display()
            ));
        }
        Ok(Uploaded {
            path: apk.path.to_owned(),
            sha256: sha.clone(),
            target_id: target.target_id,
            cached: false,
        })
    }
}

/// `another doksi (pid 1234)`, or without the pid when the lock file does not tell it.
fn who(holder: &Holder) -> String {
    match holder.pid {
        Some(pid) => format!("another doksi (pid {pid})"),
        None => "another doksi".to_owned(),
    }
}
