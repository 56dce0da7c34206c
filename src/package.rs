//! The zip doksi uploads: one entry holding the APK, with fixed timestamps so the same APK always
//! gives the same bytes, and a length known before the first byte is sent, because a presigned
//! PUT needs `Content-Length` up front.
//!
//! Stored (the default), the APK is read twice in all, never copied: once by
//! [`Fingerprint::of`] (SHA-256, the cache key, and CRC-32, which the zip header needs before
//! the data), and once while streaming through [`PackageReader`]. The second pass re-checks size
//! and CRC, so an APK rebuilt between the two passes is an error, not a corrupt upload.
//!
//! Deflated ([`UploadZip::deflated`]: what an APK stores uncompressed, native libraries and
//! `resources.arsc`, often shrinks by half), the zip is written once to a temporary file, the
//! APK checked against its fingerprint on the way, and every attempt streams that file.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Large reads keep hashing at memory speed; 1 MiB is past the point where bigger helps.
const BUF: usize = 1 << 20;
const LOCAL_HEADER: u64 = 30;
const CENTRAL_HEADER: u64 = 46;
const END_RECORD: u64 = 22;
/// DOS date 1980-01-01, time 00:00: the zip epoch, so the bytes never depend on the clock.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path} is {size} bytes: the upload zip would pass 4 GiB, which needs zip64 (Android does not install APKs that large either)"
    )]
    TooLarge { path: PathBuf, size: u64 },
    #[error(
        "{path} changed while it was being read (size or CRC-32 differ from the first pass); rebuild finished? run again"
    )]
    Changed { path: PathBuf },
    /// The deflated zip could not be written to its temporary file (a full or read-only
    /// folder); the stored zip needs no such file.
    #[error("cannot write the deflated upload zip in {dir}: {source}")]
    Scratch { dir: PathBuf, source: io::Error },
}

impl PackageError {
    /// The typed error a [`PackageReader`] wrapped in an `io::Error`, if it was one; other I/O
    /// errors belong to whatever the zip was being written to.
    pub fn changed_in(e: &io::Error) -> Option<PackageError> {
        match e.get_ref()?.downcast_ref::<PackageError>()? {
            PackageError::Changed { path } => Some(PackageError::Changed { path: path.clone() }),
            _ => None,
        }
    }
}

/// How the APK goes into the upload zip (`--compress`): a value of its own, below the
/// stages, so that the settings can parse it without importing the upload; what `auto` weighs
/// is `upload::compress`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compress {
    /// Deflate when the estimate says it saves time.
    #[default]
    Auto,
    Always,
    Never,
}

impl std::str::FromStr for Compress {
    type Err = String;

    fn from_str(s: &str) -> Result<Compress, String> {
        match s.trim() {
            "auto" => Ok(Compress::Auto),
            "always" => Ok(Compress::Always),
            "never" => Ok(Compress::Never),
            other => Err(format!("{other:?} is not one of auto, always, never")),
        }
    }
}

/// What one read of an APK tells: its SHA-256 (hex), CRC-32 and size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fingerprint {
    pub sha256: String,
    /// Only the zip header needs it; not part of any JSON output.
    #[serde(skip)]
    pub crc32: u32,
    pub size: u64,
}

impl Fingerprint {
    pub fn of(path: &Path) -> Result<Fingerprint, PackageError> {
        let mut sha = Sha256::new();
        let mut crc = crc32fast::Hasher::new();
        let mut size = 0u64;
        each_chunk(path, |chunk| {
            sha.update(chunk);
            crc.update(chunk);
            size += chunk.len() as u64;
            Ok(())
        })?;
        Ok(Fingerprint {
            sha256: hex(&sha.finalize()),
            crc32: crc.finalize(),
            size,
        })
    }
}

/// Reads `path` from start to end in [`BUF`]-sized chunks, handing each to `f`; a read that
/// fails is the APK's error, one that `f` returns is `f`'s.
fn each_chunk(
    path: &Path,
    mut f: impl FnMut(&[u8]) -> Result<(), PackageError>,
) -> Result<(), PackageError> {
    let io = |source| PackageError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut buf = vec![0u8; BUF];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => f(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        }
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The upload zip for one APK.
#[derive(Debug, Clone)]
pub struct UploadZip {
    apk: PathBuf,
    fingerprint: Fingerprint,
    body: Body,
}

/// How the zip's bytes are had.
#[derive(Debug, Clone)]
enum Body {
    /// A fixed head and tail; the middle is the APK as it is.
    Stored { head: Vec<u8>, tail: Vec<u8> },
    /// The whole zip, the APK deflated, in a temporary file that lives as long as the value.
    Deflated {
        file: Arc<tempfile::TempPath>,
        len: u64,
    },
}

/// The entry's name: the APK's file name, without folders.
fn entry_name(apk: &Path) -> &str {
    apk.file_name()
        .and_then(|n| n.to_str())
        .filter(|n| !n.is_empty())
        .unwrap_or("app.apk")
}

impl UploadZip {
    /// Describes the zip for `apk` (whose fingerprint was just taken). The entry is named after
    /// the APK's file name, without folders.
    pub fn new(apk: &Path, fingerprint: Fingerprint) -> Result<UploadZip, PackageError> {
        let name = entry_name(apk).as_bytes().to_vec();
        let name_len = name.len() as u64; // a file name, far below u16::MAX
        let cd_offset = LOCAL_HEADER + name_len + fingerprint.size;
        let cd_size = CENTRAL_HEADER + name_len;
        if fingerprint.size >= u64::from(u32::MAX) || cd_offset + cd_size >= u64::from(u32::MAX) {
            return Err(PackageError::TooLarge {
                path: apk.to_owned(),
                size: fingerprint.size,
            });
        }
        // Bit 11: the name is UTF-8, so unzip tools don't read it as CP437.
        let flags: u16 = if name.is_ascii() { 0 } else { 1 << 11 };
        let size = fingerprint.size as u32;
        let crc = fingerprint.crc32;
        let n = name.len() as u16;

        let mut head = Vec::with_capacity(30 + name.len());
        put32(&mut head, 0x0403_4b50);
        for v in [10, flags, 0, DOS_TIME, DOS_DATE] {
            put16(&mut head, v);
        }
        for v in [crc, size, size] {
            put32(&mut head, v);
        }
        put16(&mut head, n);
        put16(&mut head, 0);
        head.extend_from_slice(&name);

        let mut tail = Vec::with_capacity((cd_size + END_RECORD) as usize);
        put32(&mut tail, 0x0201_4b50);
        // Made by: Unix (3), spec 2.0; needed: 1.0 (stored).
        for v in [(3 << 8) | 20, 10, flags, 0, DOS_TIME, DOS_DATE] {
            put16(&mut tail, v);
        }
        for v in [crc, size, size] {
            put32(&mut tail, v);
        }
        for v in [n, 0, 0, 0, 0] {
            put16(&mut tail, v);
        }
        put32(&mut tail, 0o100_644 << 16); // a regular file, rw-r--r--
        put32(&mut tail, 0); // local header at offset 0
        tail.extend_from_slice(&name);
        put32(&mut tail, 0x0605_4b50);
        for v in [0, 0, 1, 1] {
            put16(&mut tail, v);
        }
        put32(&mut tail, cd_size as u32);
        put32(&mut tail, cd_offset as u32);
        put16(&mut tail, 0);

        Ok(UploadZip {
            apk: apk.to_owned(),
            fingerprint,
            body: Body::Stored { head, tail },
        })
    }

    /// The zip for `apk` with the APK deflated at level 1 (the fastest: most of the gain on
    /// native code, at a speed a slow link cannot match), written to a temporary file in
    /// `scratch`. The same APK gives the same bytes. The APK is read once more here and checked
    /// against `fingerprint`, so a rebuild meanwhile is [`PackageError::Changed`].
    pub fn deflated(
        apk: &Path,
        fingerprint: Fingerprint,
        scratch: &Path,
    ) -> Result<UploadZip, PackageError> {
        use zip::write::SimpleFileOptions;
        // The same limits as the stored zip's (no zip64): checked before anything is written.
        UploadZip::new(apk, fingerprint.clone())?;
        let write = |source: io::Error| PackageError::Scratch {
            dir: scratch.to_owned(),
            source,
        };
        let zipped = |e: zip::result::ZipError| match e {
            zip::result::ZipError::Io(e) => write(e),
            e => write(io::Error::other(e)),
        };
        let (file, path) = tempfile::Builder::new()
            .prefix(".doksi-upload-")
            .suffix(".zip")
            .tempfile_in(scratch)
            .map_err(write)?
            .into_parts();
        let mut zip = zip::ZipWriter::new(BufWriter::with_capacity(BUF, file));
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644)
            .large_file(false);
        zip.start_file(entry_name(apk), options).map_err(zipped)?;
        let (mut crc, mut size) = (crc32fast::Hasher::new(), 0u64);
        each_chunk(apk, |chunk| {
            crc.update(chunk);
            size += chunk.len() as u64;
            zip.write_all(chunk).map_err(write)
        })?;
        if size != fingerprint.size || crc.finalize() != fingerprint.crc32 {
            return Err(PackageError::Changed {
                path: apk.to_owned(),
            });
        }
        let mut out = zip.finish().map_err(zipped)?;
        out.flush().map_err(write)?;
        let len = out.get_ref().metadata().map_err(write)?.len();
        Ok(UploadZip {
            apk: apk.to_owned(),
            fingerprint,
            body: Body::Deflated {
                file: Arc::new(path),
                len,
            },
        })
    }

    /// The exact number of bytes [`UploadZip::reader`] yields.
    pub fn len(&self) -> u64 {
        match &self.body {
            Body::Stored { head, tail } => {
                head.len() as u64 + self.fingerprint.size + tail.len() as u64
            }
            Body::Deflated { len, .. } => *len,
        }
    }

    /// Whether the APK is deflated in it.
    pub fn is_deflated(&self) -> bool {
        matches!(self.body, Body::Deflated { .. })
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// The APK it holds.
    pub fn apk(&self) -> &Path {
        &self.apk
    }

    /// Opens the APK (or the deflated zip) afresh and streams the zip; each call starts from
    /// the first byte, which is what a retried upload needs.
    pub fn reader(&self) -> Result<PackageReader, PackageError> {
        let from = match &self.body {
            Body::Stored { .. } => self.apk.as_path(),
            Body::Deflated { file, .. } => file.as_ref(),
        };
        let file = File::open(from).map_err(|source| PackageError::Io {
            path: from.to_owned(),
            source,
        })?;
        Ok(PackageReader {
            zip: self.clone(),
            file,
            part: match self.body {
                Body::Stored { .. } => Part::Head(0),
                Body::Deflated { .. } => Part::Whole,
            },
            crc: crc32fast::Hasher::new(),
            read: 0,
        })
    }
}

fn put16(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_le_bytes());
}

enum Part {
    Head(usize),
    Body,
    Tail(usize),
    /// The deflated zip's file, read as it is: written by this process, whose length is known.
    Whole,
}

/// `Read` over head, APK and tail. Fails with [`PackageError::Changed`] (as an `io::Error`) if
/// the APK's size or CRC-32 no longer match the fingerprint.
pub struct PackageReader {
    zip: UploadZip,
    file: File,
    part: Part,
    crc: crc32fast::Hasher,
    read: u64,
}

impl PackageReader {
    fn changed(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            PackageError::Changed {
                path: self.zip.apk.clone(),
            },
        )
    }
}

impl Read for PackageReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (head, tail) = match &self.zip.body {
            Body::Stored { head, tail } => (head.as_slice(), tail.as_slice()),
            Body::Deflated { .. } => (&[][..], &[][..]),
        };
        loop {
            match self.part {
                Part::Whole => {
                    let left = self.zip.len() - self.read;
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    if want == 0 {
                        return Ok(0);
                    }
                    let n = self.file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(self.changed());
                    }
                    self.read += n as u64;
                    return Ok(n);
                }
                Part::Head(at) | Part::Tail(at) => {
                    let is_head = matches!(self.part, Part::Head(_));
                    let src = if is_head { head } else { tail };
                    let rest = &src[at..];
                    if rest.is_empty() {
                        if is_head {
                            self.part = Part::Body;
                            continue;
                        }
                        return Ok(0);
                    }
                    let n = rest.len().min(buf.len());
                    buf[..n].copy_from_slice(&rest[..n]);
                    self.part = if is_head {
                        Part::Head(at + n)
                    } else {
                        Part::Tail(at + n)
                    };
                    return Ok(n);
                }
                Part::Body => {
                    let left = self.zip.fingerprint.size - self.read;
                    if left == 0 {
                        // The file must end exactly here, with the CRC we announced.
                        let mut probe = [0u8; 1];
                        if self.file.read(&mut probe)? != 0
                            || self.crc.clone().finalize() != self.zip.fingerprint.crc32
                        {
                            return Err(self.changed());
                        }
                        self.part = Part::Tail(0);
                        continue;
                    }
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.file.read(&mut buf[..want])?;
                    if n == 0 {
                        return Err(self.changed());
                    }
                    self.crc.update(&buf[..n]);
                    self.read += n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_of(content: &[u8], name: &str) -> (tempfile::TempDir, UploadZip) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        let fp = Fingerprint::of(&path).unwrap();
        (dir, UploadZip::new(&path, fp).unwrap())
    }

    fn bytes(z: &UploadZip) -> Vec<u8> {
        let mut v = Vec::new();
        z.reader().unwrap().read_to_end(&mut v).unwrap();
        v
    }

    #[test]
    fn length_is_known_before_writing_and_bytes_are_reproducible() {
        let (_d, z) = zip_of(b"not really an apk", "app-release.apk");
        let first = bytes(&z);
        assert_eq!(first.len() as u64, z.len());
        assert_eq!(first, bytes(&z));
        assert_eq!(z.fingerprint().sha256.len(), 64);
    }

    #[test]
    fn the_zip_crate_reads_our_zip_back() {
        let content: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let (_d, z) = zip_of(&content, "äpp.apk");
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes(&z))).unwrap();
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "äpp.apk");
        let mut back = Vec::new();
        entry.read_to_end(&mut back).unwrap();
        assert_eq!(back, content);
    }

    #[test]
    fn an_apk_that_changes_between_passes_is_an_error() {
        let (d, z) = zip_of(b"0123456789", "a.apk");
        std::fs::write(d.path().join("a.apk"), b"0123456780").unwrap();
        let err = z
            .reader()
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert!(
            err.to_string().contains("changed while it was being read"),
            "{err}"
        );
        std::fs::write(d.path().join("a.apk"), b"01234567890").unwrap();
        assert!(z.reader().unwrap().read_to_end(&mut Vec::new()).is_err());
    }

    #[test]
    fn a_deflated_zip_holds_the_apk_byte_for_byte_is_smaller_and_reproducible() {
        // Like native code: repetitive, but not trivially so.
        let content: Vec<u8> = (0..2_000_000u32)
            .map(|i| (i % 251) as u8 ^ (i / 4096) as u8)
            .collect();
        let (dir, stored) = zip_of(&content, "äpp.apk");
        let apk = dir.path().join("äpp.apk");
        let scratch = tempfile::tempdir().unwrap();
        let deflate =
            || UploadZip::deflated(&apk, stored.fingerprint().clone(), scratch.path()).unwrap();
        let (first, second) = (deflate(), deflate());
        assert!(first.is_deflated() && !stored.is_deflated());
        let bytes_first = bytes(&first);
        assert_eq!(bytes_first.len() as u64, first.len());
        assert!(
            first.len() < stored.len() / 4,
            "{} of {}",
            first.len(),
            stored.len()
        );
        assert_eq!(bytes_first, bytes(&second), "the same APK, the same bytes");
        // A second reader starts from the first byte again (a retried PUT).
        assert_eq!(bytes_first, bytes(&first));
        let mut archive = zip::ZipArchive::new(io::Cursor::new(bytes_first)).unwrap();
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "äpp.apk");
        assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
        let mut back = Vec::new();
        entry.read_to_end(&mut back).unwrap();
        assert!(back == content);
        // The temporary files go with their values.
        drop((first, second));
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 0);
    }

    #[test]
    fn deflating_an_apk_that_changed_or_into_a_missing_folder_says_which() {
        let (d, z) = zip_of(b"0123456789", "a.apk");
        let apk = d.path().join("a.apk");
        let missing = d.path().join("no/such/folder");
        let err = UploadZip::deflated(&apk, z.fingerprint().clone(), &missing).unwrap_err();
        assert!(matches!(err, PackageError::Scratch { .. }), "{err}");
        std::fs::write(&apk, b"0123456780").unwrap();
        let err = UploadZip::deflated(&apk, z.fingerprint().clone(), d.path()).unwrap_err();
        assert!(matches!(err, PackageError::Changed { .. }), "{err}");
        assert_eq!(
            std::fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }

    #[test]
    fn over_4_gib_is_refused_with_a_reason() {
        let fp = Fingerprint {
            sha256: String::new(),
            crc32: 0,
            size: 5 << 30,
        };
        let err = UploadZip::new(Path::new("big.apk"), fp).unwrap_err();
        assert!(err.to_string().contains("zip64"));
    }
}
