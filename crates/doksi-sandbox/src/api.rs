//! The API routes other than runs: the bearer-key check every route under the base path sits
//! behind, `POST /uploads` (mint an id and a presigned URL) and `POST /targets` (open the stored
//! zip, read the APK's manifest, mint a target id). The URL's signature is `storage`'s business,
//! the run routes are `runs`'.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Json, Response};
use serde_json::{Value, json};

use super::{ApiError, Shared, Stored, Target, next_id, parse_json, storage};

/// The largest APK a target may hold once extracted: far above any real one, and a bound on
/// what a deflated zip bomb can make us write.
const MAX_APK: u64 = 4 << 30;

/// 401 unless `Authorization: Bearer <the sandbox key>`, on every API route, unknown ones too,
/// as the docs' BearerAuth says.
pub(super) async fn require_key(
    State(shared): State<Arc<Shared>>,
    req: Request,
    next: Next,
) -> Response {
    let Some(given) = req.headers().get(header::AUTHORIZATION) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing Authorization header: send `Authorization: Bearer dk_live_…`",
        )
        .into_response();
    };
    if given.as_bytes() != shared.bearer.as_bytes() {
        return ApiError::new(StatusCode::UNAUTHORIZED, "invalid API key").into_response();
    }
    next.run(req).await
}

pub(super) async fn no_such_route(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no route {} {}", req.method(), req.uri().path()),
    )
}

/// `POST /uploads {"name"}`: the name only labels the upload on the dashboard, so the sandbox
/// checks it and forgets it.
pub(super) async fn mint_upload(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = parse_json(&body)?;
    let named = body
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|n| !n.trim().is_empty());
    if !named {
        return Err(ApiError::bad_request("name: required, a non-empty string"));
    }
    let upload_id = {
        let mut state = shared.state();
        let id = next_id(&mut state.ids.upload, "upl");
        state.uploads.insert(id.clone(), None);
        id
    };
    let upload_url = storage::upload_url(&shared, &upload_id);
    Ok(Json(
        json!({ "upload_id": upload_id, "upload_url": upload_url }),
    ))
}

/// `POST /targets {"upload_id"}`.
pub(super) async fn create_target(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = parse_json(&body)?;
    let upload_id = body
        .get("upload_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| ApiError::bad_request("upload_id: required, a non-empty string"))?
        .to_owned();
    let stored = match shared.stored(&upload_id) {
        Stored::Unknown => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("upload {upload_id} not found"),
            ));
        }
        Stored::Pending => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("upload {upload_id} has no file yet: PUT the zip to its upload_url first"),
            ));
        }
        Stored::At(path) => path,
    };
    let scratch = shared.dir.path().to_owned();
    let id = upload_id.clone();
    let read = tokio::task::spawn_blocking(move || read_target(&stored, &scratch, id)).await;
    let target = match read {
        Ok(Ok(target)) => target,
        Ok(Err(why)) => return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, why)),
        Err(e) => {
            return Err(ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("reading upload {upload_id} failed: {e}"),
            ));
        }
    };
    let mut state = shared.state();
    let target_id = next_id(&mut state.ids.target, "bin");
    state.targets.insert(target_id.clone(), target);
    Ok(Json(json!({ "target_id": target_id })))
}

/// Opens the upload zip, extracts its first `.apk` entry to a scratch file (the decoder needs
/// `Seek`, which a compressed entry lacks) and decodes the manifest. The error is the 422
/// message: the decoder's own words, naming `upl_n/entry.apk`.
fn read_target(zip_path: &Path, scratch: &Path, upload_id: String) -> Result<Target, String> {
    let file = File::open(zip_path).map_err(|e| format!("cannot open upload {upload_id}: {e}"))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file))
        .map_err(|e| format!("upload {upload_id} is not a zip archive: {e}"))?;
    let (index, name) = (0..zip.len())
        .find_map(|i| {
            let name = zip.name_for_index(i)?.ok()?;
            name.to_ascii_lowercase()
                .ends_with(".apk")
                .then(|| (i, PathBuf::from(&upload_id).join(&*name)))
        })
        .ok_or_else(|| format!("upload {upload_id} holds no .apk file"))?;
    let entry = zip
        .by_index(index)
        .map_err(|e| format!("cannot read {}: {e}", name.display()))?;
    // A stored entry (what doksi always sends) is read where it lies: copying a 1 GB APK out
    // first would cost as much as the upload itself.
    if entry.compression() == zip::CompressionMethod::Stored {
        let (start, len) = (entry.data_start(), entry.size());
        let start = start.ok_or_else(|| format!("cannot locate {} in the zip", name.display()))?;
        drop(entry);
        let file =
            File::open(zip_path).map_err(|e| format!("cannot open upload {upload_id}: {e}"))?;
        let window = Window::new(file, start, len)
            .map_err(|e| format!("cannot read {}: {e}", name.display()))?;
        return target_from(
            doksi_apk::inspect_archive(BufReader::new(window), &name),
            upload_id,
            &name,
        );
    }
    let mut entry = entry;
    let extract = |e: io::Error| format!("cannot extract {}: {e}", name.display());
    let mut apk = tempfile::tempfile_in(scratch).map_err(extract)?;
    let copied = io::copy(&mut (&mut entry).take(MAX_APK + 1), &mut apk).map_err(extract)?;
    if copied > MAX_APK {
        return Err(format!(
            "{} is over the {MAX_APK}-byte limit once extracted",
            name.display()
        ));
    }
    apk.rewind().map_err(extract)?;
    target_from(
        doksi_apk::inspect_archive(BufReader::new(apk), &name),
        upload_id,
        &name,
    )
}

fn target_from(
    inspected: Result<doksi_apk::Inspection, doksi_apk::ApkError>,
    upload_id: String,
    name: &Path,
) -> Result<Target, String> {
    let manifest = inspected.map_err(|e| e.to_string())?.manifest;
    let package = manifest
        .package
        .ok_or_else(|| format!("{}: AndroidManifest.xml names no package", name.display()))?;
    Ok(Target {
        upload_id,
        package,
        version_name: manifest.version_name,
        version_code: manifest.version_code,
    })
}

/// `len` bytes of a file from `start`, seekable as a file of its own: an APK stored inside the
/// upload zip, read in place.
struct Window {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Window {
    fn new(mut file: File, start: u64, len: u64) -> io::Result<Window> {
        let end = start
            .checked_add(len)
            .ok_or_else(|| io::Error::other("entry runs past 2^64"))?;
        if end > file.metadata()?.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the stored entry runs past the end of the zip",
            ));
        }
        file.seek(SeekFrom::Start(start))?;
        Ok(Window {
            file,
            start,
            len,
            pos: 0,
        })
    }
}

impl Read for Window {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len - self.pos;
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .filter(|&n| n <= self.len)
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek outside the stored entry")
        })?;
        self.file.seek(SeekFrom::Start(self.start + target))?;
        self.pos = target;
        Ok(target)
    }
}
