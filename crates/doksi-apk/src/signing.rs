//! Which signature schemes an APK carries, without verifying any: enough to tell an unsigned APK
//! (a release build with no signing config, `app-release-unsigned.apk`), which no device installs,
//! before it is uploaded. Verifying is apksigner's job and the device's.
//!
//! - v1 (JAR signing): a `META-INF/<NAME>.SF` with a signature block beside it
//!   (`META-INF/<NAME>.RSA`, `.DSA` or `.EC`).
//! - v2, v3, v3.1: ID-value pairs in the APK Signing Block, which sits right before the central
//!   directory and ends with its own size and the magic `APK Sig Block 42`
//!   (source.android.com/docs/security/features/apksigning/v2#apk-signing-block).
//!
//! Reads at most [`MAX_BLOCK`] bytes, and only when the magic is where it belongs.

use std::io::{self, Read, Seek, SeekFrom};

use serde::Serialize;

const MAGIC: &[u8; 16] = b"APK Sig Block 42";
/// Footer: the block's size (u64) and the magic.
const FOOTER: u64 = 8 + 16;
/// The largest signing block read. Real ones are a few KiB (plus alignment padding); a claim
/// beyond this is damage.
pub const MAX_BLOCK: u64 = 16 << 20;

/// A signature scheme found in an APK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Scheme {
    #[serde(rename = "v1")]
    V1,
    #[serde(rename = "v2")]
    V2,
    #[serde(rename = "v3")]
    V3,
    #[serde(rename = "v3.1")]
    V31,
}

impl Scheme {
    /// The IDs of the Signing Block's pairs (apksig's `ApkSigningBlockUtils`).
    fn of_block_id(id: u32) -> Option<Scheme> {
        match id {
            0x7109_871a => Some(Scheme::V2),
            0xf053_68c0 => Some(Scheme::V3),
            0x1b93_ad61 => Some(Scheme::V31),
            _ => None,
        }
    }
}

/// Whether the entry names include a JAR signature: a `.SF` file and a signature block file of
/// the same name, directly under `META-INF/`.
pub fn has_v1<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> bool {
    let mut sf = Vec::new();
    let mut blocks = Vec::new();
    for name in names {
        let Some(file) = name.as_ref().strip_prefix("META-INF/") else {
            continue;
        };
        if file.contains('/') {
            continue;
        }
        let upper = file.to_ascii_uppercase();
        if let Some(stem) = upper.strip_suffix(".SF") {
            sf.push(stem.to_owned());
        } else if let Some(stem) = [".RSA", ".DSA", ".EC"]
            .iter()
            .find_map(|ext| upper.strip_suffix(ext))
        {
            blocks.push(stem.to_owned());
        }
    }
    sf.iter().any(|s| blocks.contains(s))
}

/// The schemes of the APK Signing Block ending at `directory_offset` (where the central
/// directory starts), if there is one; an absent or malformed block is no scheme.
pub fn block_schemes<R: Read + Seek>(
    file: &mut R,
    directory_offset: u64,
) -> io::Result<Vec<Scheme>> {
    if directory_offset < FOOTER {
        return Ok(Vec::new());
    }
    file.seek(SeekFrom::Start(directory_offset - FOOTER))?;
    let mut footer = [0u8; FOOTER as usize];
    if file.read_exact(&mut footer).is_err() || &footer[8..] != MAGIC {
        return Ok(Vec::new());
    }
    let mut size = [0u8; 8];
    size.copy_from_slice(&footer[..8]);
    // The size counts everything after its own leading copy: the pairs and the footer.
    let size = u64::from_le_bytes(size);
    if !(FOOTER..=MAX_BLOCK).contains(&size) || size + 8 > directory_offset {
        return Ok(Vec::new());
    }
    let pairs_len = size - FOOTER;
    // The block starts with the same size again; apksig refuses a block whose two disagree.
    file.seek(SeekFrom::Start(directory_offset - size - 8))?;
    let mut leading = [0u8; 8];
    file.read_exact(&mut leading)?;
    if u64::from_le_bytes(leading) != size {
        return Ok(Vec::new());
    }
    let mut pairs = Vec::new();
    file.take(pairs_len).read_to_end(&mut pairs)?;
    Ok(schemes_in_pairs(&pairs))
}

/// Walks the length-prefixed ID-value pairs; stops at the first one that does not fit.
fn schemes_in_pairs(mut pairs: &[u8]) -> Vec<Scheme> {
    let mut found = Vec::new();
    while pairs.len() >= 12 {
        let (len, rest) = pairs.split_at(8);
        let len = u64::from_le_bytes(len.try_into().unwrap_or([0xff; 8]));
        let Some(len) = usize::try_from(len)
            .ok()
            .filter(|l| *l >= 4 && *l <= rest.len())
        else {
            break;
        };
        let id = u32::from_le_bytes(rest[..4].try_into().unwrap_or([0; 4]));
        if let Some(s) = Scheme::of_block_id(id)
            && !found.contains(&s)
        {
            found.push(s);
        }
        pairs = &rest[len..];
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(id: u32, value: &[u8]) -> Vec<u8> {
        let mut p = ((value.len() + 4) as u64).to_le_bytes().to_vec();
        p.extend(id.to_le_bytes());
        p.extend(value);
        p
    }

    /// `prefix` (the entries), a signing block of `pairs`, then 4 bytes standing for the
    /// directory; returns the bytes and the directory's offset.
    fn apk_with_block(pairs: &[u8]) -> (Vec<u8>, u64) {
        let mut bytes = b"PK\x03\x04 entries".to_vec();
        let size = pairs.len() as u64 + FOOTER;
        bytes.extend(size.to_le_bytes());
        bytes.extend(pairs);
        bytes.extend(size.to_le_bytes());
        bytes.extend(MAGIC);
        let offset = bytes.len() as u64;
        bytes.extend(b"PK\x01\x02");
        (bytes, offset)
    }

    #[test]
    fn block_ids_name_the_schemes() {
        let mut pairs = pair(0x7109_871a, b"v2 signer");
        pairs.extend(pair(0x4272_6577, b"padding"));
        pairs.extend(pair(0xf053_68c0, b"v3 signer"));
        let (bytes, offset) = apk_with_block(&pairs);
        let mut file = io::Cursor::new(bytes);
        assert_eq!(
            block_schemes(&mut file, offset).unwrap(),
            [Scheme::V2, Scheme::V3]
        );
    }

    #[test]
    fn no_block_or_a_damaged_one_is_no_scheme() {
        let mut file = io::Cursor::new(b"PK\x03\x04 entries PK\x01\x02".to_vec());
        assert!(block_schemes(&mut file, 17).unwrap().is_empty());
        assert!(block_schemes(&mut file, 3).unwrap().is_empty());
        // A size larger than the file before the directory.
        let (mut bytes, offset) = apk_with_block(&pair(0x7109_871a, b"x"));
        let at = offset as usize - 24;
        bytes[at..at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(
            block_schemes(&mut io::Cursor::new(bytes), offset)
                .unwrap()
                .is_empty()
        );
        // Leading and trailing sizes that disagree: not a block.
        let (mut bytes, offset) = apk_with_block(&pair(0x7109_871a, b"x"));
        bytes[17] ^= 1;
        assert!(
            block_schemes(&mut io::Cursor::new(bytes), offset)
                .unwrap()
                .is_empty()
        );
        // A pair whose length runs past the block stops the walk, without a panic.
        let mut bad = pair(0x7109_871a, b"ok");
        bad.extend(1000u64.to_le_bytes());
        bad.extend(0xf053_68c0u32.to_le_bytes());
        assert_eq!(schemes_in_pairs(&bad), [Scheme::V2]);
        for cut in 0..bad.len() {
            let _ = schemes_in_pairs(&bad[..cut]);
        }
    }

    #[test]
    fn v1_needs_a_signature_file_and_its_block() {
        assert!(has_v1([
            "META-INF/MANIFEST.MF",
            "META-INF/CERT.SF",
            "META-INF/CERT.RSA"
        ]));
        assert!(has_v1(["META-INF/androidd.sf", "META-INF/ANDROIDD.EC"]));
        assert!(!has_v1(["META-INF/MANIFEST.MF", "META-INF/CERT.SF"]));
        assert!(!has_v1(["META-INF/CERT.SF", "META-INF/OTHER.RSA"]));
        assert!(!has_v1(["META-INF/x/CERT.SF", "META-INF/x/CERT.RSA"]));
    }
}
