//! The APK's zip container, checked as strictly as Android reads it, before anything else looks
//! inside: one end-of-central-directory (EOCD) record, at the very end; a central directory that
//! ends where that record (or zip64's end record) begins and holds as many records as it says;
//! unique UTF-8 names; only stored or deflated entries; and local headers where the directory
//! points. The `zip` crate forgives all of these, but Android's readers (libziparchive, apksig's
//! `ZipUtils`, Debian's `aapt`) refuse them, and so does the test service — after the upload.
//!
//! It reads only the file's tail (the EOCD and its comment, at most 64 KiB + 22 bytes), the
//! central directory (capped at [`MAX_DIRECTORY`]) and four bytes per local header; never the
//! entries' data. It does not own decompression or the manifest: [`super::inspect`] does.

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

const END_SIG: u32 = 0x0605_4b50;
const END_LEN: usize = 22;
/// The comment length is a u16, so the EOCD starts within this many bytes of the end.
const MAX_TAIL: u64 = END_LEN as u64 + 0xffff;
const RECORD_SIG: u32 = 0x0201_4b50;
const RECORD_LEN: usize = 46;
const LOCAL_SIG: u32 = 0x0403_4b50;
const LOCAL_LEN: u64 = 30;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_LOCATOR_LEN: u64 = 20;
const ZIP64_END_SIG: u32 = 0x0606_4b50;
const ZIP64_END_LEN: u64 = 56;
/// The largest central directory read. The biggest APKs we know (tens of thousands of entries)
/// have directories of a few MiB; a claim beyond this is damage, not an app.
pub const MAX_DIRECTORY: u64 = 64 << 20;

/// What is wrong with a container; the messages read after "`<path>` is not an APK: ".
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("cannot read it: {0}")]
    Io(#[from] io::Error),
    #[error("it has no end-of-central-directory record (not a zip, or cut short)")]
    NoEnd,
    #[error("{n} {unit} follow the end-of-central-directory record and its comment", n = .0, unit = if *.0 == 1 { "byte" } else { "bytes" })]
    TrailingBytes(u64),
    #[error("its end-of-central-directory record's comment runs past the end of the file")]
    CommentPastEnd,
    #[error("a second end-of-central-directory record hides in the archive comment")]
    EndInComment,
    #[error("it spans several disks")]
    MultiDisk,
    #[error(
        "its end record leaves counts or offsets to zip64 fields, which doksi does not read (an APK that large cannot be uploaded either)"
    )]
    Zip64,
    #[error("its zip64 end-of-central-directory locator points at no zip64 end record")]
    Zip64Locator,
    #[error(
        "its central directory ({size} bytes at offset {offset}) does not end where the end record starts (offset {end})"
    )]
    DirectoryMisplaced { offset: u64, size: u64, end: u64 },
    #[error("its central directory is {0} bytes, over the {MAX_DIRECTORY}-byte limit")]
    DirectoryTooLarge(u64),
    #[error("its end record counts {declared} entries but the central directory holds {found}")]
    CountMismatch { declared: u64, found: u64 },
    #[error(
        "its end record counts {this_disk} entries on this disk but {total} in all; they must agree"
    )]
    DiskCounts { this_disk: u16, total: u16 },
    #[error("central directory record {index} (at offset {offset}) has no record signature")]
    BadRecord { index: u64, offset: u64 },
    #[error("central directory record {index} runs past the end of the directory")]
    RecordPastEnd { index: u64 },
    #[error("entry {index}'s name is not valid UTF-8")]
    NameNotUtf8 { index: u64 },
    #[error("entry name {0:?} appears more than once")]
    Duplicate(String),
    #[error(
        "entry {name:?} uses compression method {method}; Android reads only 0 (stored) and 8 (deflate)"
    )]
    Method { name: String, method: u16 },
    #[error(
        "stored entry {name:?} says {compressed} bytes compressed but {uncompressed} uncompressed"
    )]
    StoredSizes {
        name: String,
        compressed: u32,
        uncompressed: u32,
    },
    #[error(
        "entry {name:?}'s local header offset {offset} is not before the central directory (offset {directory})"
    )]
    LocalOutside {
        name: String,
        offset: u64,
        directory: u64,
    },
    #[error("entry {name:?}'s local header offset {offset} holds no local header")]
    NoLocalHeader { name: String, offset: u64 },
}

/// A container that passed: where its directory is and how many entries it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// The fields of the one EOCD record that matter here.
#[derive(Debug)]
struct End {
    at: u64,
    /// This disk's number and the directory's disk's, both 0 in a single-file archive.
    disks: u32,
    entries_here: u16,
    entries: u16,
    size: u32,
    offset: u32,
}

/// Checks the container of the zip `file`, leaving its position anywhere.
pub fn check<R: Read + Seek>(file: &mut R) -> Result<Directory, ContainerError> {
    let (directory, records) = entries(file)?;
    check_local_headers(file, &records, directory.offset)?;
    Ok(directory)
}

/// The directory's entries, the container checked as [`check`] checks it but for the local
/// headers (one read per entry): what a caller that only needs the list pays.
pub fn entries<R: Read + Seek>(file: &mut R) -> Result<(Directory, Vec<Entry>), ContainerError> {
    let len = file.seek(SeekFrom::End(0))?;
    let tail_start = len.saturating_sub(MAX_TAIL);
    let tail = read_at(file, tail_start, len - tail_start)?;
    let end = find_end(&tail, tail_start)?;
    // Multi-disk archives do not exist on Android; libziparchive refuses them.
    if end.disks != 0 {
        return Err(ContainerError::MultiDisk);
    }
    if end.entries == u16::MAX || end.size == u32::MAX || end.offset == u32::MAX {
        return Err(ContainerError::Zip64);
    }
    if end.entries_here != end.entries {
        return Err(ContainerError::DiskCounts {
            this_disk: end.entries_here,
            total: end.entries,
        });
    }
    let (offset, size) = (u64::from(end.offset), u64::from(end.size));
    let directory_end = directory_end(file, &end, tail_start, &tail)?;
    if offset + size != directory_end {
        return Err(ContainerError::DirectoryMisplaced {
            offset,
            size,
            end: directory_end,
        });
    }
    if size > MAX_DIRECTORY {
        return Err(ContainerError::DirectoryTooLarge(size));
    }
    let bytes = read_at(file, offset, size)?;
    let records = read_records(&bytes)?;
    let found = records.len() as u64;
    if found != u64::from(end.entries) {
        return Err(ContainerError::CountMismatch {
            declared: end.entries.into(),
            found,
        });
    }
    let directory = Directory {
        offset,
        size,
        entries: found,
    };
    Ok((directory, records))
}

/// Exactly `len` bytes from `offset`; callers bound `len` (tail or capped directory).
fn read_at<R: Read + Seek>(file: &mut R, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    file.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the file is shorter than it was a moment ago",
        ));
    }
    Ok(buf)
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// The one EOCD record in `tail` (the file's last bytes, starting at `tail_start`): the record
/// whose comment reaches exactly to the end of the file, as apksig and libziparchive find it.
/// A second signature anywhere in that comment, or a second record that also reaches the end,
/// is refused: readers that scan differently (or from the front) would take another record for
/// the real one and see another set of entries.
fn find_end(tail: &[u8], tail_start: u64) -> Result<End, ContainerError> {
    let sig = END_SIG.to_le_bytes();
    let sigs: Vec<usize> = tail
        .windows(4)
        .enumerate()
        .rev()
        .filter(|(_, w)| w[0] == sig[0] && *w == sig)
        .map(|(i, _)| i)
        .collect();
    let comment = |i: usize| usize::from(u16_at(tail, i + 20).unwrap_or(0));
    let whole = |i: &&usize| **i + END_LEN <= tail.len();
    let fitting: Vec<usize> = sigs
        .iter()
        .filter(whole)
        .filter(|&&i| i + END_LEN + comment(i) == tail.len())
        .copied()
        .collect();
    let at = match fitting.as_slice() {
        [at] => *at,
        [] => {
            // No record reaches exactly the end: say what the last whole one is off by.
            let Some(&last) = sigs.iter().find(whole) else {
                return Err(ContainerError::NoEnd);
            };
            let reach = last + END_LEN + comment(last);
            return Err(match tail.len().checked_sub(reach) {
                Some(extra) => ContainerError::TrailingBytes(extra as u64),
                None => ContainerError::CommentPastEnd,
            });
        }
        // Two records that both reach the end: one is in the other's comment.
        _ => return Err(ContainerError::EndInComment),
    };
    if sigs.first().is_some_and(|&i| i > at) {
        return Err(ContainerError::EndInComment);
    }
    let field = |o: usize| u16_at(tail, at + o).ok_or(ContainerError::NoEnd);
    let long = |o: usize| u32_at(tail, at + o).ok_or(ContainerError::NoEnd);
    Ok(End {
        at: tail_start + at as u64,
        disks: long(4)?,
        entries_here: field(8)?,
        entries: field(10)?,
        size: long(12)?,
        offset: long(16)?,
    })
}

/// Where the central directory must end: at the EOCD, or, when a zip64 locator sits right
/// before it, at the zip64 end record the locator names (the 32-bit fields are still used,
/// since [`check`] refuses archives that actually need the 64-bit ones).
fn directory_end<R: Read + Seek>(
    file: &mut R,
    end: &End,
    tail_start: u64,
    tail: &[u8],
) -> Result<u64, ContainerError> {
    let Some(locator) = end.at.checked_sub(ZIP64_LOCATOR_LEN) else {
        return Ok(end.at);
    };
    let bytes = if let Some(i) = locator.checked_sub(tail_start) {
        usize::try_from(i)
            .ok()
            .and_then(|i| tail.get(i..)?.get(..ZIP64_LOCATOR_LEN as usize))
            .map(<[u8]>::to_vec)
            .unwrap_or_default()
    } else {
        read_at(file, locator, ZIP64_LOCATOR_LEN)?
    };
    if u32_at(&bytes, 0) != Some(ZIP64_LOCATOR_SIG) {
        return Ok(end.at);
    }
    let record = u64_at(&bytes, 8).ok_or(ContainerError::Zip64Locator)?;
    if record
        .checked_add(ZIP64_END_LEN)
        .is_none_or(|e| e > locator)
    {
        return Err(ContainerError::Zip64Locator);
    }
    let sig = read_at(file, record, 4)?;
    if u32_at(&sig, 0) != Some(ZIP64_END_SIG) {
        return Err(ContainerError::Zip64Locator);
    }
    Ok(record)
}

/// One central directory record: its name, how it is compressed (0 stored, 8 deflated), its
/// uncompressed size and its local header's offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub method: u16,
    pub size: u64,
    pub local: u64,
}

/// Walks the directory's records, checking each on the way.
fn read_records(cd: &[u8]) -> Result<Vec<Entry>, ContainerError> {
    let mut records = Vec::new();
    let mut names = HashSet::new();
    let mut at = 0usize;
    while at < cd.len() {
        let index = records.len() as u64;
        let head = cd
            .get(at..at + RECORD_LEN)
            .ok_or(ContainerError::RecordPastEnd { index })?;
        if u32_at(head, 0) != Some(RECORD_SIG) {
            return Err(ContainerError::BadRecord {
                index,
                offset: at as u64,
            });
        }
        let short = |o| u16_at(head, o).unwrap_or(0);
        let long = |o| u32_at(head, o).unwrap_or(0);
        let (method, compressed, uncompressed) = (short(10), long(20), long(24));
        let (name_len, extra_len, comment_len) = (short(28), short(30), short(32));
        let local = long(42);
        let name_start = at + RECORD_LEN;
        let next =
            name_start + usize::from(name_len) + usize::from(extra_len) + usize::from(comment_len);
        let raw = cd
            .get(name_start..name_start + usize::from(name_len))
            .filter(|_| next <= cd.len())
            .ok_or(ContainerError::RecordPastEnd { index })?;
        let name = std::str::from_utf8(raw).map_err(|_| ContainerError::NameNotUtf8 { index })?;
        if !names.insert(name) {
            return Err(ContainerError::Duplicate(name.to_owned()));
        }
        if method != 0 && method != 8 {
            return Err(ContainerError::Method {
                name: name.to_owned(),
                method,
            });
        }
        if method == 0 && compressed != uncompressed {
            return Err(ContainerError::StoredSizes {
                name: name.to_owned(),
                compressed,
                uncompressed,
            });
        }
        records.push(Entry {
            name: name.to_owned(),
            method,
            size: u64::from(uncompressed),
            local: u64::from(local),
        });
        at = next;
    }
    Ok(records)
}

/// Each record must point at a local header signature before the directory. Read in offset
/// order, four bytes each, so even a large APK costs one small read per entry.
fn check_local_headers<R: Read + Seek>(
    file: &mut R,
    records: &[Entry],
    directory: u64,
) -> Result<(), ContainerError> {
    let mut order: Vec<&Entry> = records.iter().collect();
    order.sort_by_key(|r| r.local);
    for r in order {
        if r.local + LOCAL_LEN > directory {
            return Err(ContainerError::LocalOutside {
                name: r.name.clone(),
                offset: r.local,
                directory,
            });
        }
        let sig = read_at(file, r.local, 4)?;
        if u32_at(&sig, 0) != Some(LOCAL_SIG) {
            return Err(ContainerError::NoLocalHeader {
                name: r.name.clone(),
                offset: r.local,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};
    use zip::CompressionMethod;
    use zip::write::SimpleFileOptions;

    /// A small valid zip: two entries, one stored, one deflated, and `comment`.
    fn sample(comment: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        w.start_file("AndroidManifest.xml", stored).unwrap();
        w.write_all(b"manifest bytes").unwrap();
        w.start_file("classes.dex", deflated).unwrap();
        w.write_all(&[7u8; 4000]).unwrap();
        w.set_raw_comment(comment.to_vec().into()).unwrap();
        w.finish().unwrap().into_inner()
    }

    fn run(bytes: &[u8]) -> Result<Directory, ContainerError> {
        check(&mut Cursor::new(bytes))
    }

    /// Offsets of the EOCD and of every central directory record in `z`.
    fn layout(z: &[u8]) -> (usize, Vec<usize>) {
        let eocd = (0..z.len() - 21)
            .rev()
            .find(|&i| u32_at(z, i) == Some(END_SIG))
            .unwrap();
        let cd = u32_at(z, eocd + 16).unwrap() as usize;
        let mut records = vec![];
        let mut at = cd;
        while at < eocd {
            records.push(at);
            let len = |o| u16_at(z, at + o).unwrap() as usize;
            at += RECORD_LEN + len(28) + len(30) + len(32);
        }
        (eocd, records)
    }

    fn put16(z: &mut [u8], at: usize, v: u16) {
        z[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    fn put32(z: &mut [u8], at: usize, v: u32) {
        z[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    #[test]
    fn a_plain_zip_passes() {
        let z = sample(b"");
        let (eocd, records) = layout(&z);
        let d = run(&z).unwrap();
        assert_eq!(d.entries, 2);
        assert_eq!(d.offset + d.size, eocd as u64);
        assert_eq!(records.len(), 2);
        assert!(run(&sample(b"a harmless comment")).is_ok());
    }

    #[test]
    fn nothing_or_noise_has_no_end_record() {
        assert!(matches!(run(b""), Err(ContainerError::NoEnd)));
        assert!(matches!(
            run(b"hello, not a zip"),
            Err(ContainerError::NoEnd)
        ));
    }

    #[test]
    fn bytes_after_the_end_record_are_refused() {
        let mut z = sample(b"");
        z.extend_from_slice(b"junk");
        assert!(matches!(run(&z), Err(ContainerError::TrailingBytes(4))));
    }

    #[test]
    fn a_comment_longer_than_the_file_is_refused() {
        let mut z = sample(b"abc");
        let (eocd, _) = layout(&z);
        put16(&mut z, eocd + 20, 10);
        assert!(matches!(run(&z), Err(ContainerError::CommentPastEnd)));
    }

    #[test]
    fn an_end_record_inside_the_comment_is_refused() {
        // A full fake EOCD as the comment: both records reach the end of the file.
        let z = sample(b"");
        let (eocd, _) = layout(&z);
        let fake = z[eocd..].to_vec();
        assert!(matches!(
            run(&sample(&fake)),
            Err(ContainerError::EndInComment)
        ));
        // A bare signature in the comment: only the real record reaches the end.
        let mut comment = b"xx".to_vec();
        comment.extend_from_slice(&END_SIG.to_le_bytes());
        comment.extend_from_slice(b"yy");
        assert!(matches!(
            run(&sample(&comment)),
            Err(ContainerError::EndInComment)
        ));
    }

    #[test]
    fn a_directory_that_does_not_meet_the_end_record_is_refused() {
        let mut z = sample(b"");
        let (eocd, _) = layout(&z);
        let size = u32_at(&z, eocd + 12).unwrap();
        put32(&mut z, eocd + 12, size - 1);
        assert!(matches!(
            run(&z),
            Err(ContainerError::DirectoryMisplaced { .. })
        ));
    }

    #[test]
    fn a_record_count_that_disagrees_is_refused() {
        let mut z = sample(b"");
        let (eocd, _) = layout(&z);
        put16(&mut z, eocd + 8, 3);
        put16(&mut z, eocd + 10, 3);
        assert!(matches!(
            run(&z),
            Err(ContainerError::CountMismatch {
                declared: 3,
                found: 2
            })
        ));
        put16(&mut z, eocd + 10, 2);
        assert!(matches!(run(&z), Err(ContainerError::DiskCounts { .. })));
    }

    #[test]
    fn saturated_end_fields_are_zip64_and_refused() {
        let mut z = sample(b"");
        let (eocd, _) = layout(&z);
        put16(&mut z, eocd + 8, 0xffff);
        put16(&mut z, eocd + 10, 0xffff);
        assert!(matches!(run(&z), Err(ContainerError::Zip64)));
    }

    #[test]
    fn a_damaged_record_signature_is_refused() {
        let mut z = sample(b"");
        let (_, records) = layout(&z);
        z[records[1]] = b'X';
        assert!(matches!(
            run(&z),
            Err(ContainerError::BadRecord { index: 1, .. })
        ));
    }

    #[test]
    fn duplicate_names_are_refused() {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        w.start_file("a.txt", o).unwrap();
        w.write_all(b"one").unwrap();
        w.start_file("b.txt", o).unwrap();
        w.write_all(b"two").unwrap();
        let mut z = w.finish().unwrap().into_inner();
        let (_, records) = layout(&z);
        z[records[1] + RECORD_LEN] = b'a';
        assert!(matches!(run(&z), Err(ContainerError::Duplicate(n)) if n == "a.txt"));
    }

    #[test]
    fn duplicate_names_are_refused_however_far_apart() {
        // Not only the record just before: the first and the last of three.
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let o = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        for (name, body) in [("a.txt", b"one"), ("m.txt", b"two"), ("z.txt", b"333")] {
            w.start_file(name, o).unwrap();
            w.write_all(body).unwrap();
        }
        let mut z = w.finish().unwrap().into_inner();
        let (_, records) = layout(&z);
        assert_eq!(records.len(), 3);
        z[records[2] + RECORD_LEN] = b'a';
        assert!(matches!(run(&z), Err(ContainerError::Duplicate(n)) if n == "a.txt"));
    }

    #[test]
    fn names_must_be_utf8() {
        let mut z = sample(b"");
        let (_, records) = layout(&z);
        z[records[0] + RECORD_LEN] = 0xff;
        assert!(matches!(
            run(&z),
            Err(ContainerError::NameNotUtf8 { index: 0 })
        ));
    }

    #[test]
    fn only_stored_and_deflate_are_accepted() {
        let mut z = sample(b"");
        let (_, records) = layout(&z);
        put16(&mut z, records[1] + 10, 12); // bzip2
        let err = run(&z).unwrap_err();
        assert!(
            matches!(&err, ContainerError::Method { name, method: 12 } if name == "classes.dex"),
            "{err}"
        );
    }

    #[test]
    fn stored_sizes_must_agree() {
        let mut z = sample(b"");
        let (_, records) = layout(&z);
        put32(&mut z, records[0] + 24, 9999);
        assert!(matches!(
            run(&z),
            Err(ContainerError::StoredSizes {
                uncompressed: 9999,
                ..
            })
        ));
    }

    #[test]
    fn local_header_offsets_must_point_at_local_headers() {
        let mut z = sample(b"");
        let (eocd, records) = layout(&z);
        put32(&mut z, records[1] + 42, 1);
        assert!(matches!(
            run(&z),
            Err(ContainerError::NoLocalHeader { offset: 1, .. })
        ));
        let cd = u32_at(&z, eocd + 16).unwrap();
        put32(&mut z, records[1] + 42, cd);
        assert!(matches!(run(&z), Err(ContainerError::LocalOutside { .. })));
    }

    #[test]
    fn a_zip64_locator_must_lead_to_a_zip64_end_record() {
        // Insert a locator pointing nowhere between the directory and the EOCD.
        let z = sample(b"");
        let (eocd, _) = layout(&z);
        let mut bad = z[..eocd].to_vec();
        bad.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        bad.extend_from_slice(&[0; 4]);
        bad.extend_from_slice(&3u64.to_le_bytes());
        bad.extend_from_slice(&1u32.to_le_bytes());
        bad.extend_from_slice(&z[eocd..]);
        assert!(matches!(run(&bad), Err(ContainerError::Zip64Locator)));
    }

    #[test]
    fn a_zip64_end_record_with_ordinary_fields_is_read_through() {
        let z = sample(b"");
        let (eocd, _) = layout(&z);
        let mut ok = z[..eocd].to_vec();
        ok.extend_from_slice(&ZIP64_END_SIG.to_le_bytes());
        ok.extend_from_slice(&[0; ZIP64_END_LEN as usize - 4]);
        ok.extend_from_slice(&ZIP64_LOCATOR_SIG.to_le_bytes());
        ok.extend_from_slice(&[0; 4]);
        ok.extend_from_slice(&(eocd as u64).to_le_bytes());
        ok.extend_from_slice(&1u32.to_le_bytes());
        ok.extend_from_slice(&z[eocd..]);
        assert_eq!(run(&ok).unwrap().entries, 2);
    }

    #[test]
    fn a_multi_disk_archive_is_refused() {
        let mut z = sample(b"");
        let (eocd, _) = layout(&z);
        put16(&mut z, eocd + 4, 1);
        assert!(matches!(run(&z), Err(ContainerError::MultiDisk)));
    }

    #[test]
    fn every_cut_and_byte_flip_of_the_tail_is_an_answer_not_a_panic() {
        let z = sample(b"note");
        let (eocd, records) = layout(&z);
        for cut in 0..z.len() {
            let _ = run(&z[..cut]);
        }
        for at in records[0]..z.len() {
            for v in [0u8, 0xff, 0x50, 0x4b] {
                let mut m = z.clone();
                m[at] = v;
                let _ = run(&m);
            }
        }
        assert!(eocd > records[0]);
    }
}
