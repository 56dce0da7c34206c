//! Reading an APK without reading all of it: the zip's central directory, the
//! `AndroidManifest.xml` entry, `resources.arsc` only when the label needs it, and the names under
//! `lib/` for native ABIs; and the same manifest facts from an Android App Bundle (`.aab`), its
//! `base/resources.pb` read only when the label needs it. The decoders below (`axml`, `arsc`,
//! `proto_xml`, `proto_table`) are pure: bytes in, values out. Its own crate so
//! that the sandbox (`doksi-sandbox`) decodes uploads with it without depending on doksi; doksi
//! re-exports it as `doksi::apk`, and `xml` (the escaping `render` and doksi's JUnit report share)
//! as `doksi::xml`.

pub mod arsc;
pub mod axml;
pub mod chunk;
pub mod container;
pub mod manifest;
pub mod pool;
pub mod proto_table;
pub mod proto_xml;
pub mod render;
pub mod signing;
pub mod xml;

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::{Path, PathBuf};

pub use chunk::FormatError;
pub use container::ContainerError;
pub use manifest::Manifest;

use axml::Document;

/// The largest manifest we will inflate. Android's own limit is far lower in practice; the
/// biggest real one we know (framework-res.apk) is 222 KB.
const MAX_MANIFEST: u64 = 16 << 20;
/// The largest resource table we will inflate to resolve a label.
const MAX_RESOURCES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ApkError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not an APK: {source}")]
    NotZip {
        path: PathBuf,
        source: zip::result::ZipError,
    },
    #[error("{path} is not an APK: {source}")]
    Container {
        path: PathBuf,
        source: ContainerError,
    },
    #[error("{path} is not an APK: it has no AndroidManifest.xml")]
    NoManifest { path: PathBuf },
    #[error("{path}: cannot read {entry}: {source}")]
    Entry {
        path: PathBuf,
        entry: &'static str,
        source: zip::result::ZipError,
    },
    #[error("{path}: {entry} is {size} bytes uncompressed, over the {limit}-byte limit")]
    TooLarge {
        path: PathBuf,
        entry: &'static str,
        size: u64,
        limit: u64,
    },
    #[error("{path}: AndroidManifest.xml is damaged: {source}")]
    Manifest { path: PathBuf, source: FormatError },
    #[error("{path} is not an app bundle: {source}")]
    NotBundle {
        path: PathBuf,
        source: zip::result::ZipError,
    },
    #[error("{path} is not an app bundle: it has no {BUNDLE_MANIFEST}")]
    NoBundleManifest { path: PathBuf },
    #[error("{path}: {BUNDLE_MANIFEST} is damaged: {source}")]
    BundleManifest {
        path: PathBuf,
        source: proto_xml::ProtoError,
    },
}

/// Everything `inspect` reports about one APK.
pub struct Inspection {
    pub manifest: Manifest,
    pub document: Document,
}

/// Opens `path`, checks its zip container as Android would (see [`container`]) and decodes its
/// manifest, resolving the label through `resources.arsc`. Every command that reads a local
/// APK comes through here first, so an APK Android would refuse is refused before any upload.
pub fn inspect(path: &Path) -> Result<Inspection, ApkError> {
    let (mut file, directory) = open_checked(path)?;
    let io = |source| ApkError::Io {
        path: path.to_owned(),
        source,
    };
    let block = signing::block_schemes(&mut file, directory.offset).map_err(io)?;
    file.rewind().map_err(io)?;
    let mut inspection = inspect_archive(BufReader::new(file), path)?;
    let m = &mut inspection.manifest;
    m.signature_schemes.extend(block);
    m.signature_schemes.sort();
    m.signed = !m.signature_schemes.is_empty();
    Ok(inspection)
}

/// Checks the zip container of the APK at `path` without decoding anything: for commands that
/// handle an APK's bytes without reading its manifest (`package`).
pub fn check(path: &Path) -> Result<(), ApkError> {
    open_checked(path).map(drop)
}

/// The APK at `path`, opened, with its container checked. The check reads the unbuffered file
/// (it seeks to each local header for four bytes, which a buffer would turn into 8 KiB reads).
fn open_checked(path: &Path) -> Result<(File, container::Directory), ApkError> {
    let io = |source| ApkError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(io(std::io::Error::other("it is a directory")));
    }
    let directory = match container::check(&mut file) {
        Ok(directory) => directory,
        Err(ContainerError::Io(source)) => return Err(io(source)),
        Err(source) => {
            return Err(ApkError::Container {
                path: path.to_owned(),
                source,
            });
        }
    };
    file.rewind().map_err(io)?;
    Ok((file, directory))
}

/// [`inspect`] for an APK that is not a file of its own (the sandbox reads one out of an upload
/// zip), without the container check; `path` only names it in errors.
pub fn inspect_archive<R: Read + Seek>(reader: R, path: &Path) -> Result<Inspection, ApkError> {
    let mut zip = zip::ZipArchive::new(reader).map_err(|source| ApkError::NotZip {
        path: path.to_owned(),
        source,
    })?;
    let abis = native_abis(zip.file_names().filter_map(Result::ok));
    let manifest_bytes = read_entry(&mut zip, path, "AndroidManifest.xml", MAX_MANIFEST)?
        .ok_or_else(|| ApkError::NoManifest {
            path: path.to_owned(),
        })?;
    let document = Document::parse(&manifest_bytes).map_err(|source| ApkError::Manifest {
        path: path.to_owned(),
        source,
    })?;
    let mut manifest = Manifest::read(&document, None, abis.clone());
    if !manifest.notes.is_empty() {
        // Only now is the resource table worth its read: the label is a reference.
        let table_bytes = read_entry(&mut zip, path, "resources.arsc", MAX_RESOURCES)
            .ok()
            .flatten();
        let table = table_bytes
            .as_deref()
            .and_then(|b| arsc::ResourceTable::parse(b).ok());
        manifest = Manifest::read(&document, table.as_ref(), abis);
    }
    if signing::has_v1(zip.file_names().filter_map(Result::ok)) {
        manifest.signature_schemes.push(signing::Scheme::V1);
        manifest.signed = true;
    }
    Ok(Inspection { manifest, document })
}

/// The largest bundle manifest read. The decoded tree takes up to ~40 bytes per input byte (an
/// empty attribute is two bytes of input and a full `XmlAttribute` of output), so this cap, not
/// the binary manifest's, bounds its memory; real ones are a few hundred KiB at most.
const MAX_BUNDLE_MANIFEST: u64 = 2 << 20;

/// Where bundletool's bundle format keeps the base module's manifest, as protobuf XML.
const BUNDLE_MANIFEST: &str = "base/manifest/AndroidManifest.xml";
/// Where it keeps the base module's resource table, as protobuf (`aapt.pb.ResourceTable`).
const BUNDLE_RESOURCES: &str = "base/resources.pb";

/// Reads the manifest of an Android App Bundle (`.aab`): the zip's
/// `base/manifest/AndroidManifest.xml`, which aapt2 writes as protobuf XML rather than binary XML,
/// read into the same [`Manifest`] an APK gives. A label that is a resource reference is read
/// from the base module's resource table (`base/resources.pb`) for the default configuration, as
/// an APK's is from `resources.arsc`; where it cannot be, a note says why. The ABIs are those of
/// the base module (`base/lib/<abi>/`).
pub fn read_bundle_manifest(path: &Path) -> Result<Manifest, ApkError> {
    let io = |source| ApkError::Io {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.is_dir() {
        return Err(io(std::io::Error::other("it is a directory")));
    }
    let mut zip =
        zip::ZipArchive::new(BufReader::new(file)).map_err(|source| ApkError::NotBundle {
            path: path.to_owned(),
            source,
        })?;
    let abis = native_abis(
        zip.file_names()
            .filter_map(Result::ok)
            .filter_map(|n| n.strip_prefix("base/").map(str::to_owned)),
    );
    let bytes =
        read_entry(&mut zip, path, BUNDLE_MANIFEST, MAX_BUNDLE_MANIFEST)?.ok_or_else(|| {
            ApkError::NoBundleManifest {
                path: path.to_owned(),
            }
        })?;
    let root = proto_xml::parse(&bytes).map_err(|source| ApkError::BundleManifest {
        path: path.to_owned(),
        source,
    })?;
    let mut manifest =
        Manifest::read_proto(&root, Err("base/resources.pb is not read"), abis.clone());
    if !manifest.notes.is_empty() {
        // Only now is the resource table worth its read: the label is a reference.
        manifest = match read_entry(&mut zip, path, BUNDLE_RESOURCES, MAX_RESOURCES) {
            Ok(Some(bytes)) => match proto_table::ResourceTable::parse(&bytes) {
                Ok(table) => Manifest::read_proto(&root, Ok(&table), abis),
                Err(e) => {
                    let why = format!("{BUNDLE_RESOURCES} is damaged: {e}");
                    Manifest::read_proto(&root, Err(&why), abis)
                }
            },
            Ok(None) => {
                let why = format!("the bundle has no {BUNDLE_RESOURCES}");
                Manifest::read_proto(&root, Err(&why), abis)
            }
            Err(e) => Manifest::read_proto(&root, Err(&unreadable(e)), abis),
        };
    }
    // Bundles are signed with jarsigner (v1); the signing block is an APK's alone.
    if signing::has_v1(zip.file_names().filter_map(Result::ok)) {
        manifest.signature_schemes.push(signing::Scheme::V1);
        manifest.signed = true;
    }
    Ok(manifest)
}

/// Why a bundle's resource table could not be read, for a note that follows the bundle's path.
fn unreadable(e: ApkError) -> String {
    match e {
        ApkError::TooLarge {
            entry, size, limit, ..
        } => format!("{entry} is {size} bytes uncompressed, over the {limit}-byte limit"),
        ApkError::Entry { entry, source, .. } => format!("cannot read {entry}: {source}"),
        other => other.to_string(),
    }
}

/// Reads a whole entry, refusing ones whose declared size is over `limit` and never reading more
/// than `limit` bytes whatever the header claims.
fn read_entry<R: std::io::Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &Path,
    entry: &'static str,
    limit: u64,
) -> Result<Option<Vec<u8>>, ApkError> {
    let err = |source| ApkError::Entry {
        path: path.to_owned(),
        entry,
        source,
    };
    let mut file = match zip.by_name(entry) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(None),
        Err(e) => return Err(err(e)),
    };
    let size = file.size();
    if size > limit {
        return Err(ApkError::TooLarge {
            path: path.to_owned(),
            entry,
            size,
            limit,
        });
    }
    // The header's size is a claim: reserve at most 1 MiB up front and let real bytes grow it.
    let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
    (&mut file)
        .take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| err(zip::result::ZipError::Io(e)))?;
    Ok(Some(buf))
}

/// ABIs with native code, as `aapt dump badging` lists them (`native-code:`): the folder names
/// under `lib/` that hold files, sorted.
pub fn native_abis<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut abis = BTreeSet::new();
    for name in names {
        let mut parts = name.as_ref().splitn(3, '/');
        if let (Some("lib"), Some(abi), Some(file)) = (parts.next(), parts.next(), parts.next())
            && !abi.is_empty()
            && !file.is_empty()
            && !file.ends_with('/')
        {
            abis.insert(abi.to_owned());
        }
    }
    abis.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abis_come_from_lib_folders_with_files() {
        let names = [
            "lib/x86/libfoo.so",
            "lib/arm64-v8a/a.so",
            "lib/arm64-v8a/b.so",
            "lib/empty/",
            "lib/",
            "libx/y/z.so",
        ];
        assert_eq!(native_abis(names), vec!["arm64-v8a", "x86"]);
    }
}
