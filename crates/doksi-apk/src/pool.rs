//! The string pool (`ResStringPool`) used by binary XML and by the resource table. It reads
//! strings on demand, so a resource table with a hundred thousand strings costs nothing until one
//! is asked for; `decode_all` gives the XML decoder every string once, under a byte budget.

use std::collections::HashMap;
use std::rc::Rc;

use super::chunk::{Chunk, FormatError, Problem, u16_at, u32_at};

const WHAT: &str = "string pool";
const UTF8_FLAG: u32 = 0x100;

/// A validated string pool: offsets table and string data, both borrowed from the file.
#[derive(Debug, Clone, Copy)]
pub struct StringPool<'a> {
    offsets: &'a [u8],
    data: &'a [u8],
    data_offset: usize,
    utf8: bool,
    count: u32,
}

impl<'a> StringPool<'a> {
    /// Validates the header the way `ResStringPool::setTo` does: the offsets must fit in the chunk
    /// and the string data must lie inside it.
    pub fn parse(chunk: &Chunk<'a>) -> Result<Self, FormatError> {
        let h = chunk.header();
        if chunk.header_size < 28 {
            return Err(chunk.error(WHAT, Problem::HeaderTooSmall(chunk.header_size)));
        }
        let truncated = || chunk.error(WHAT, Problem::Truncated);
        let count = u32_at(h, 8).ok_or_else(truncated)?;
        let style_count = u32_at(h, 12).ok_or_else(truncated)?;
        let flags = u32_at(h, 16).ok_or_else(truncated)?;
        let strings_start = u32_at(h, 20).ok_or_else(truncated)? as usize;
        let styles_start = u32_at(h, 24).ok_or_else(truncated)? as usize;
        let size = chunk.bytes.len();
        let room = (size - chunk.header_size) / 4;
        let offsets_len = (count as usize)
            .checked_mul(4)
            .filter(|n| n / 4 <= room)
            .ok_or_else(|| {
                chunk.error(
                    WHAT,
                    Problem::Count {
                        count: count as usize,
                        limit: room,
                    },
                )
            })?;
        let offsets = &chunk.bytes[chunk.header_size..chunk.header_size + offsets_len];
        let (data, data_offset) = if count == 0 {
            (&chunk.bytes[..0], 0)
        } else {
            let end = if style_count > 0 { styles_start } else { size };
            if strings_start >= size || end > size || strings_start >= end {
                return Err(chunk.error(WHAT, Problem::Other("string data lies outside the chunk")));
            }
            (
                &chunk.bytes[strings_start..end],
                chunk.offset + strings_start,
            )
        };
        Ok(StringPool {
            offsets,
            data,
            data_offset,
            utf8: flags & UTF8_FLAG != 0,
            count,
        })
    }

    pub fn len(&self) -> u32 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn err(&self, p: Problem) -> FormatError {
        FormatError::new(WHAT, self.data_offset, p)
    }

    /// Byte range of string `index` inside the data, without decoding it.
    fn locate(&self, index: u32) -> Result<(usize, usize), FormatError> {
        let rel = u32_at(self.offsets, index as usize * 4)
            .ok_or_else(|| self.err(Problem::BadString(index)))? as usize;
        let bad = || self.err(Problem::BadString(index));
        if self.utf8 {
            // Two lengths, each one or two bytes: UTF-16 units (unused), then UTF-8 bytes.
            let (_, p) = len8(self.data, rel).ok_or_else(bad)?;
            let (n, p) = len8(self.data, p).ok_or_else(bad)?;
            let end = p.checked_add(n).ok_or_else(bad)?;
            match self.data.get(end) {
                Some(0) => Ok((p, end)),
                Some(_) => Err(self.err(Problem::Unterminated(index))),
                None => Err(bad()),
            }
        } else {
            // Offsets are in bytes for both encodings; Android divides by the unit size.
            let start = rel & !1;
            let first = u16_at(self.data, start).ok_or_else(bad)? as usize;
            let (units, p) = if first & 0x8000 != 0 {
                let second = u16_at(self.data, start + 2).ok_or_else(bad)? as usize;
                (((first & 0x7fff) << 16) | second, start + 4)
            } else {
                (first, start + 2)
            };
            let end = units
                .checked_mul(2)
                .and_then(|n| n.checked_add(p))
                .ok_or_else(bad)?;
            match u16_at(self.data, end) {
                Some(0) => Ok((p, end)),
                Some(_) => Err(self.err(Problem::Unterminated(index))),
                None => Err(bad()),
            }
        }
    }

    /// Decodes one string. Invalid UTF-8 or lone surrogates become U+FFFD rather than an error:
    /// Android itself does not reject them, and a label with one odd byte is still a label.
    pub fn get(&self, index: u32) -> Result<String, FormatError> {
        if index >= self.count {
            return Err(self.err(Problem::BadString(index)));
        }
        let (start, end) = self.locate(index)?;
        let bytes = &self.data[start..end];
        Ok(if self.utf8 {
            String::from_utf8_lossy(bytes).into_owned()
        } else {
            let units = bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .map(|r| r.unwrap_or('\u{fffd}'))
                .collect()
        })
    }

    /// Decodes every string once. Strings that share an offset share one allocation; if distinct
    /// strings overlap so that their total would exceed `budget` bytes, that is an error rather
    /// than an allocation the input cannot justify. A string that cannot be decoded is `None`, so
    /// one bad entry fails only the lookups that reach it.
    pub fn decode_all(&self, budget: usize) -> Result<Vec<Option<Rc<str>>>, FormatError> {
        let mut out: Vec<Option<Rc<str>>> = Vec::with_capacity(self.count as usize);
        let mut seen: HashMap<u32, usize> = HashMap::new();
        let mut spent = 0usize;
        for i in 0..self.count {
            let rel = u32_at(self.offsets, i as usize * 4).unwrap_or(u32::MAX);
            if let Some(&j) = seen.get(&rel) {
                let shared = out.get(j).cloned().flatten();
                out.push(shared);
                continue;
            }
            let s = self.get(i).ok().map(Rc::<str>::from);
            spent += s.as_ref().map_or(0, |s| s.len());
            if spent > budget {
                return Err(self.err(Problem::Expands { budget }));
            }
            seen.insert(rel, out.len());
            out.push(s);
        }
        Ok(out)
    }
}

/// A UTF-8 pool length: one byte, or two when the high bit is set (`decodeLength` in Android).
fn len8(b: &[u8], p: usize) -> Option<(usize, usize)> {
    let first = *b.get(p)? as usize;
    if first & 0x80 != 0 {
        let second = *b.get(p + 1)? as usize;
        Some((((first & 0x7f) << 8) | second, p + 2))
    } else {
        Some((first, p + 1))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a pool chunk from strings, UTF-16 or UTF-8, as aapt lays it out.
    pub(crate) fn pool_bytes(strings: &[&str], utf8: bool) -> Vec<u8> {
        let mut data = Vec::new();
        let mut offsets = Vec::new();
        for s in strings {
            if utf8 {
                offsets.push(data.len() as u32);
                let n16 = s.encode_utf16().count();
                assert!(n16 < 0x80 && s.len() < 0x80);
                data.push(n16 as u8);
                data.push(s.len() as u8);
                data.extend(s.as_bytes());
                data.push(0);
            } else {
                offsets.push(data.len() as u32);
                let units: Vec<u16> = s.encode_utf16().collect();
                data.extend((units.len() as u16).to_le_bytes());
                for u in units {
                    data.extend(u.to_le_bytes());
                }
                data.extend([0, 0]);
            }
        }
        while data.len() % 4 != 0 {
            data.push(0);
        }
        let header = 28u32;
        let strings_start = header + 4 * strings.len() as u32;
        let size = strings_start + data.len() as u32;
        let mut v = Vec::new();
        v.extend(1u16.to_le_bytes());
        v.extend((header as u16).to_le_bytes());
        v.extend(size.to_le_bytes());
        v.extend((strings.len() as u32).to_le_bytes());
        v.extend(0u32.to_le_bytes());
        v.extend((if utf8 { UTF8_FLAG } else { 0 }).to_le_bytes());
        v.extend(strings_start.to_le_bytes());
        v.extend(0u32.to_le_bytes());
        for o in offsets {
            v.extend(o.to_le_bytes());
        }
        v.extend(data);
        v
    }

    fn parse(bytes: &[u8]) -> Result<StringPool<'_>, FormatError> {
        let chunk = Chunk::at(bytes, 0, 0, 8, "t")?;
        StringPool::parse(&chunk)
    }

    #[test]
    fn decodes_utf16_and_utf8_pools() {
        for utf8 in [false, true] {
            let bytes = pool_bytes(&["package", "Hello Ünïcode ☃", ""], utf8);
            let pool = parse(&bytes).unwrap();
            assert_eq!(pool.len(), 3);
            assert_eq!(pool.get(1).unwrap(), "Hello Ünïcode ☃");
            assert_eq!(pool.get(2).unwrap(), "");
            assert!(pool.get(3).is_err());
            assert_eq!(
                pool.decode_all(1 << 20).unwrap()[0].as_deref(),
                Some("package")
            );
        }
    }

    #[test]
    fn huge_count_is_an_error_not_an_allocation() {
        let mut bytes = pool_bytes(&["a"], false);
        bytes[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            parse(&bytes).unwrap_err().problem,
            Problem::Count { .. }
        ));
    }

    #[test]
    fn string_running_past_the_pool_is_an_error() {
        let mut bytes = pool_bytes(&["abc"], false);
        let at = 32; // the first string's length prefix
        bytes[at..at + 2].copy_from_slice(&0x7000u16.to_le_bytes());
        let pool = parse(&bytes).unwrap();
        assert!(pool.get(0).is_err());
        assert_eq!(pool.decode_all(1024).unwrap(), vec![None]);
    }

    #[test]
    fn overlapping_strings_hit_the_budget() {
        // UTF-16 data [L, L-1, ..., 1, 0, 0]: the string at unit offset k has length L-k and ends
        // on the shared terminator, so L+1 offsets decode to L*(L+1)/2 characters in all.
        const L: u16 = 100;
        let mut data: Vec<u8> = (0..=L).rev().flat_map(|u| u.to_le_bytes()).collect();
        data.extend([0, 0]);
        while !data.len().is_multiple_of(4) {
            data.push(0);
        }
        let count = u32::from(L) + 1;
        let strings_start = 28 + 4 * count;
        let mut v = Vec::new();
        v.extend(1u16.to_le_bytes());
        v.extend(28u16.to_le_bytes());
        v.extend((strings_start + data.len() as u32).to_le_bytes());
        v.extend(count.to_le_bytes());
        v.extend([0; 12]);
        v[20..24].copy_from_slice(&strings_start.to_le_bytes());
        v.extend([0; 4]);
        for k in 0..count {
            v.extend((2 * k).to_le_bytes());
        }
        v.extend(data);
        let pool = parse(&v).unwrap();
        assert_eq!(pool.get(1).unwrap().chars().count(), usize::from(L) - 1);
        assert!(matches!(
            pool.decode_all(1000).unwrap_err().problem,
            Problem::Expands { .. }
        ));
        assert_eq!(pool.decode_all(10_000).unwrap().len(), count as usize);
    }
}
