//! The chunk framing shared by Android's binary XML and resource table (`ResChunk_header` in
//! `ResourceTypes.h`): every chunk starts with type, header size and total size, and every
//! offset inside is checked here so the decoders above never index out of bounds.

use std::fmt;

/// What went wrong decoding a binary resource file: where (byte offset), in which structure, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {offset:#x}: {problem}")]
pub struct FormatError {
    pub what: &'static str,
    pub offset: usize,
    pub problem: Problem,
}

/// The kinds of damage a decoder can meet; each maps to one short sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    Truncated,
    HeaderTooSmall(usize),
    HeaderLargerThanChunk { header: usize, size: usize },
    Misaligned,
    PastEnd { size: usize, available: usize },
    Count { count: usize, limit: usize },
    BadString(u32),
    Unterminated(u32),
    Expands { budget: usize },
    Other(&'static str),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Truncated => write!(f, "data ends early"),
            Problem::HeaderTooSmall(h) => write!(f, "header size {h} is too small"),
            Problem::HeaderLargerThanChunk { header, size } => {
                write!(
                    f,
                    "header size {header} is larger than the chunk size {size}"
                )
            }
            Problem::Misaligned => write!(f, "size is not a multiple of 4"),
            Problem::PastEnd { size, available } => {
                write!(
                    f,
                    "chunk size {size} runs past the end ({available} bytes left)"
                )
            }
            Problem::Count { count, limit } => {
                write!(f, "count {count} does not fit (room for {limit})")
            }
            Problem::BadString(i) => write!(f, "string #{i} lies outside the pool"),
            Problem::Unterminated(i) => write!(f, "string #{i} is not NUL-terminated"),
            Problem::Expands { budget } => write!(
                f,
                "strings overlap and would decode to more than {budget} bytes"
            ),
            Problem::Other(s) => f.write_str(s),
        }
    }
}

impl FormatError {
    pub fn new(what: &'static str, offset: usize, problem: Problem) -> Self {
        FormatError {
            what,
            offset,
            problem,
        }
    }
}

pub(crate) fn u8_at(b: &[u8], off: usize) -> Option<u8> {
    b.get(off).copied()
}

pub(crate) fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

pub(crate) fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Chunk type codes from `ResourceTypes.h`.
pub mod kind {
    pub const STRING_POOL: u16 = 0x0001;
    pub const TABLE: u16 = 0x0002;
    pub const XML: u16 = 0x0003;
    pub const XML_START_NAMESPACE: u16 = 0x0100;
    pub const XML_END_NAMESPACE: u16 = 0x0101;
    pub const XML_START_ELEMENT: u16 = 0x0102;
    pub const XML_END_ELEMENT: u16 = 0x0103;
    pub const XML_CDATA: u16 = 0x0104;
    pub const XML_LAST: u16 = 0x017f;
    pub const XML_RESOURCE_MAP: u16 = 0x0180;
    pub const TABLE_PACKAGE: u16 = 0x0200;
    pub const TABLE_TYPE: u16 = 0x0201;
}

/// One validated chunk: `bytes` is exactly the chunk (header and body), `offset` where it sits in
/// the file, for error messages.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    pub kind: u16,
    pub header_size: usize,
    pub offset: usize,
    pub bytes: &'a [u8],
}

impl<'a> Chunk<'a> {
    /// Reads and validates the chunk starting at `pos` of `data` (whose first byte sits at file
    /// offset `base`), with the same rules as Android's `validate_chunk`: header at least
    /// `min_header`, header within size, both 4-aligned, size within the data.
    pub fn at(
        data: &'a [u8],
        pos: usize,
        base: usize,
        min_header: usize,
        what: &'static str,
    ) -> Result<Chunk<'a>, FormatError> {
        let offset = base.saturating_add(pos);
        let err = |p| FormatError::new(what, offset, p);
        let kind = u16_at(data, pos).ok_or(err(Problem::Truncated))?;
        let header_size = usize::from(u16_at(data, pos + 2).ok_or(err(Problem::Truncated))?);
        let size = u32_at(data, pos + 4).ok_or(err(Problem::Truncated))? as usize;
        if header_size < min_header.max(8) {
            return Err(err(Problem::HeaderTooSmall(header_size)));
        }
        if header_size > size {
            return Err(err(Problem::HeaderLargerThanChunk {
                header: header_size,
                size,
            }));
        }
        if (header_size | size) & 3 != 0 {
            return Err(err(Problem::Misaligned));
        }
        let available = data.len().saturating_sub(pos);
        if size > available {
            return Err(err(Problem::PastEnd { size, available }));
        }
        Ok(Chunk {
            kind,
            header_size,
            offset,
            bytes: &data[pos..pos + size],
        })
    }

    pub fn header(&self) -> &'a [u8] {
        &self.bytes[..self.header_size]
    }

    pub fn body(&self) -> &'a [u8] {
        &self.bytes[self.header_size..]
    }

    pub fn error(&self, what: &'static str, problem: Problem) -> FormatError {
        FormatError::new(what, self.offset, problem)
    }
}

/// Walks the chunks laid end to end in `data` (a container's body). Stops at the first invalid
/// chunk with an error; a tail shorter than a chunk header is ignored, as Android does.
pub struct Chunks<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
    what: &'static str,
    failed: bool,
}

impl<'a> Chunks<'a> {
    pub fn new(data: &'a [u8], base: usize, what: &'static str) -> Self {
        Chunks {
            data,
            pos: 0,
            base,
            what,
            failed: false,
        }
    }
}

impl<'a> Iterator for Chunks<'a> {
    type Item = Result<Chunk<'a>, FormatError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.data.len().saturating_sub(self.pos) < 8 {
            return None;
        }
        match Chunk::at(self.data, self.pos, self.base, 8, self.what) {
            Ok(c) => {
                // A chunk is at least its 8-byte header, so the walk always advances.
                self.pos += c.bytes.len();
                Some(Ok(c))
            }
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// A typed value (`Res_value`): the data type code and its 32 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value {
    pub kind: u8,
    pub data: u32,
}

impl Value {
    pub const NULL: u8 = 0x00;
    pub const REFERENCE: u8 = 0x01;
    pub const ATTRIBUTE: u8 = 0x02;
    pub const STRING: u8 = 0x03;
    pub const FLOAT: u8 = 0x04;
    pub const DIMENSION: u8 = 0x05;
    pub const FRACTION: u8 = 0x06;
    pub const DYNAMIC_REFERENCE: u8 = 0x07;
    pub const INT_DEC: u8 = 0x10;
    pub const INT_HEX: u8 = 0x11;
    pub const INT_BOOLEAN: u8 = 0x12;

    /// Reads the 8-byte `Res_value` at `off` (size, res0, dataType, data).
    pub(crate) fn at(b: &[u8], off: usize) -> Option<Value> {
        Some(Value {
            kind: u8_at(b, off + 3)?,
            data: u32_at(b, off + 4)?,
        })
    }

    pub fn is_int(&self) -> bool {
        (0x10..=0x1f).contains(&self.kind)
    }

    pub fn is_reference(&self) -> bool {
        self.kind == Self::REFERENCE || self.kind == Self::DYNAMIC_REFERENCE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(kind: u16, hs: u16, size: u32) -> Vec<u8> {
        let mut v = kind.to_le_bytes().to_vec();
        v.extend(hs.to_le_bytes());
        v.extend(size.to_le_bytes());
        v
    }

    #[test]
    fn chunk_sizes_are_checked_like_validate_chunk() {
        let ok = header(1, 8, 8);
        assert!(Chunk::at(&ok, 0, 0, 8, "t").is_ok());
        let small = header(1, 4, 8);
        assert_eq!(
            Chunk::at(&small, 0, 0, 8, "t").unwrap_err().problem,
            Problem::HeaderTooSmall(4)
        );
        let past = header(1, 8, 64);
        assert!(matches!(
            Chunk::at(&past, 0, 0, 8, "t").unwrap_err().problem,
            Problem::PastEnd { .. }
        ));
        let odd = header(1, 8, 10);
        assert!(Chunk::at(&[odd, vec![0, 0]].concat(), 0, 0, 8, "t").is_err());
        assert_eq!(
            Chunk::at(&[1, 0, 8], 0, 0, 8, "t").unwrap_err().problem,
            Problem::Truncated
        );
    }

    #[test]
    fn walk_stops_after_a_bad_chunk() {
        let mut data = header(1, 8, 8);
        data.extend(header(2, 8, 4));
        let items: Vec<_> = Chunks::new(&data, 0, "t").collect();
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok() && items[1].is_err());
    }
}
