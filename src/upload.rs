//! mint → PUT → register, behind the target cache: an APK whose content hash is cached under this
//! base URL and key makes no request at all. Concurrent doksi processes uploading the same APK
//! serialise on a per-hash lock, and the later ones find the target the first one cached.

use std::path::{Path, PathBuf};

use crate::api::client::{ApiError, Client};
use crate::apk::Manifest;
use crate::cache::{Cache, CacheError, Entry};
use crate::package::{Fingerprint, PackageError, UploadZip};

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("{path}: {source}")]
    Api { path: PathBuf, source: ApiError },
    #[error(transparent)]
    Cache(#[from] CacheError),
    #[error(transparent)]
    Package(#[from] PackageError),
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
    pub cache: &'a Cache,
    pub scope: String,
    pub reuse: Reuse,
    /// Hears about recoveries (a refused upload URL replaced), as the client's retries are.
    pub notice: Option<&'a (dyn Fn(String) + Sync)>,
}

/// What an upload would take: nothing (the cache knows the target), or these requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    Cached { target_id: String },
    Upload { name: String, zip_len: u64 },
}

/// One APK to upload: where it is, what it is, what its bytes hash to.
pub struct Candidate<'a> {
    pub path: &'a Path,
    pub manifest: &'a Manifest,
    pub fingerprint: &'a Fingerprint,
    pub name: Option<&'a str>,
}

impl Uploader<'_> {
    fn cached(&self, sha256: &str) -> Result<Option<Entry>, CacheError> {
        match self.reuse {
            Reuse::Cached => self.cache.get(&self.scope, sha256),
            Reuse::Never => Ok(None),
        }
    }

    /// What [`Uploader::upload`] would do for `apk`, sending nothing: `--dry-run`'s answer.
    pub fn plan(&self, apk: Candidate<'_>) -> Result<Planned, UploadError> {
        if let Some(e) = self.cached(&apk.fingerprint.sha256)? {
            return Ok(Planned::Cached {
                target_id: e.target_id,
            });
        }
        let name = apk
            .name
            .map(str::to_owned)
            .unwrap_or_else(|| default_name(apk.path, apk.manifest));
        let zip = UploadZip::new(apk.path, apk.fingerprint.clone())?;
        Ok(Planned::Upload {
            name,
            zip_len: zip.len(),
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
        let hit = |e: Entry| Uploaded {
            path: apk.path.to_owned(),
            sha256: sha.clone(),
            target_id: e.target_id,
            cached: true,
        };
        if let Some(e) = self.cached(sha)? {
            return Ok(hit(e));
        }
        // Another process may be uploading the same bytes: wait for it, then look again.
        let _lock = tokio::task::block_in_place(|| self.cache.lock_hash(&self.scope, sha))?;
        if let Some(e) = self.cached(sha)? {
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
        let zip = UploadZip::new(apk.path, apk.fingerprint.clone())?;
        let mut minted = self.client.mint_upload(&name).await.map_err(api)?;
        if let Err(e) = self
            .client
            .put_upload(&minted.upload_url, &zip, progress)
            .await
        {
            // A presigned URL that expired (a slow queue before the PUT) or was refused is worth
            // one fresh URL; a second refusal is the answer.
            if e.root().status() != Some(403) {
                return Err(api(e));
            }
            if let Some(notice) = self.notice {
                notice(format!(
                    "{}: {e}; minting a fresh upload URL",
                    apk.path.display()
                ));
            }
            minted = self.client.mint_upload(&name).await.map_err(api)?;
            self.client
                .put_upload(&minted.upload_url, &zip, progress)
                .await
                .map_err(api)?;
        }
        let target = self
            .client
            .register_target(&minted.upload_id)
            .await
            .map_err(api)?;
        let m = apk.manifest;
        self.cache.put(
            &self.scope,
            Entry {
                sha256: sha.clone(),
                target_id: target.target_id.clone(),
                package: m.package.clone(),
                version_name: m.version_name.clone(),
                version_code: m.version_code,
                size: apk.fingerprint.size,
                uploaded_at: crate::timestamp::rfc3339(std::time::SystemTime::now()),
            },
        )?;
        Ok(Uploaded {
            path: apk.path.to_owned(),
            sha256: sha.clone(),
            target_id: target.target_id,
            cached: false,
        })
    }
}
