//! Android binary XML (AXML): the compiled form of `AndroidManifest.xml`. Pure and total: bytes in,
//! a [`Document`] or a [`FormatError`] out, never a panic, and never more memory than the input
//! justifies (every count is checked against the bytes that must hold it; strings are decoded once
//! under a budget). Layout and checks follow `ResXMLTree` in Android's `ResourceTypes.cpp`.
//!
//! The document is kept as the flat list of nodes the file stores, not a tree: printing and
//! reading manifest fields both walk it in order with a depth counter, so hostile nesting depth
//! costs no recursion.

use std::collections::HashMap;
use std::rc::Rc;

use super::chunk::{Chunk, Chunks, FormatError, Problem, Value, kind, u16_at, u32_at};
use super::pool::StringPool;

const NO_INDEX: u32 = 0xffff_ffff;
/// Attribute records are 20 bytes in every file aapt/aapt2 writes; Android reads that much.
const ATTRIBUTE_SIZE: usize = 20;

/// An index into the document's string pool (`None` in the file is 0xffffffff).
pub type StrRef = u32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub ns: Option<StrRef>,
    pub name: StrRef,
    pub raw: Option<StrRef>,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    StartNamespace {
        line: u32,
        prefix: Option<StrRef>,
        uri: Option<StrRef>,
    },
    EndNamespace,
    StartElement {
        line: u32,
        ns: Option<StrRef>,
        name: StrRef,
        attributes: Vec<Attribute>,
    },
    EndElement,
    Text {
        line: u32,
        text: Option<StrRef>,
    },
}

#[derive(Debug)]
pub struct Document {
    strings: Vec<Option<Rc<str>>>,
    resource_ids: Vec<u32>,
    pub nodes: Vec<Node>,
    /// Namespace URI → prefix, for [`Document::prefix_for`].
    prefixes: HashMap<Rc<str>, Rc<str>>,
    /// Bytes of the file this came from: what the text forms in `render` may spend is measured
    /// against it, since a string stored once can be printed at every node that names it.
    source_len: usize,
}

const WHAT: &str = "binary XML";

fn opt(i: u32) -> Option<u32> {
    (i != NO_INDEX).then_some(i)
}

impl Document {
    /// Decodes a whole AXML file.
    pub fn parse(data: &[u8]) -> Result<Document, FormatError> {
        let file = Chunk::at(data, 0, 0, 8, WHAT)?;
        if file.kind != kind::XML {
            return Err(file.error(WHAT, Problem::Other("not an Android binary XML file")));
        }
        let mut pool = None;
        let mut resource_ids = Vec::new();
        let mut nodes = Vec::new();
        let mut depth = 0usize;
        for chunk in Chunks::new(file.body(), file.header_size, WHAT) {
            let chunk = chunk?;
            match chunk.kind {
                kind::STRING_POOL if pool.is_none() => pool = Some(StringPool::parse(&chunk)?),
                kind::XML_RESOURCE_MAP => {
                    resource_ids = chunk.body().chunks_exact(4).map(le32).collect();
                }
                kind::XML_START_NAMESPACE..=kind::XML_LAST => {
                    let node = node(&chunk)?;
                    match node {
                        Node::StartElement { .. } => depth += 1,
                        Node::EndElement => {
                            depth = depth.checked_sub(1).ok_or_else(|| {
                                chunk.error(WHAT, Problem::Other("end tag without a start tag"))
                            })?
                        }
                        _ => {}
                    }
                    nodes.push(node);
                }
                _ => {} // Unknown chunks are skipped, as Android does.
            }
        }
        let pool = pool.ok_or_else(|| file.error(WHAT, Problem::Other("no string pool")))?;
        if !nodes.iter().any(|n| matches!(n, Node::StartElement { .. })) {
            return Err(file.error(WHAT, Problem::Other("no elements")));
        }
        // Decoded text can be at most 1.5x its UTF-16 bytes; twice the file is already generous.
        let strings = pool.decode_all(data.len().saturating_mul(2))?;
        let prefixes = Document::prefix_map(&strings, &nodes);
        let doc = Document {
            strings,
            resource_ids,
            nodes,
            prefixes,
            source_len: data.len(),
        };
        doc.check_refs()?;
        Ok(doc)
    }

    /// The string at `i`, or `""` where the index is out of range or undecodable: the decoder
    /// refuses names that don't resolve (see `check_refs`), so this only softens optional text.
    pub fn str(&self, i: StrRef) -> &str {
        self.strings
            .get(i as usize)
            .and_then(|s| s.as_deref())
            .unwrap_or("")
    }

    pub fn opt_str(&self, i: Option<StrRef>) -> Option<&str> {
        i.and_then(|i| self.strings.get(i as usize)?.as_deref())
    }

    /// The framework resource id of an attribute name, from the resource map (the name's pool
    /// index doubles as an index into it). Obfuscators blank attribute names; the id survives.
    pub fn resource_id(&self, name: StrRef) -> Option<u32> {
        self.resource_ids
            .get(name as usize)
            .copied()
            .filter(|&id| id != 0)
    }

    /// Element and attribute names must resolve; a manifest whose names are garbage is not one.
    fn check_refs(&self) -> Result<(), FormatError> {
        let bad = |i: u32| FormatError::new(WHAT, 0, Problem::BadString(i));
        let ok = |i: u32| self.strings.get(i as usize).is_some_and(Option::is_some);
        for n in &self.nodes {
            if let Node::StartElement {
                name, attributes, ..
            } = n
            {
                if !ok(*name) {
                    return Err(bad(*name));
                }
                for a in attributes {
                    if !ok(a.name) && self.resource_id(a.name).is_none() {
                        return Err(bad(a.name));
                    }
                }
            }
        }
        Ok(())
    }

    /// The size in bytes of the binary file the document was decoded from.
    pub fn source_len(&self) -> usize {
        self.source_len
    }

    /// The namespace prefix declared for `uri` (by string content, as aapt prints it): the first
    /// declaration of that URI that has a prefix. Looked up in a map built once at parse time,
    /// because printing asks for every element and attribute, and scanning the nodes each time
    /// lets thousands of namespace nodes turn into billions of comparisons.
    pub fn prefix_for(&self, uri: StrRef) -> Option<&str> {
        self.prefixes.get(self.opt_str(Some(uri))?).map(|p| &**p)
    }

    fn prefix_map(strings: &[Option<Rc<str>>], nodes: &[Node]) -> HashMap<Rc<str>, Rc<str>> {
        let at = |i: Option<StrRef>| strings.get(i? as usize)?.clone();
        let mut map = HashMap::new();
        for n in nodes {
            if let Node::StartNamespace { prefix, uri, .. } = n
                && let (Some(u), Some(p)) = (at(*uri), at(*prefix))
            {
                map.entry(u).or_insert(p);
            }
        }
        map
    }
}

fn le32(c: &[u8]) -> u32 {
    u32::from_le_bytes([c[0], c[1], c[2], c[3]])
}

/// Decodes one XML node chunk (`ResXMLTree_node` header, then its extension).
fn node(chunk: &Chunk<'_>) -> Result<Node, FormatError> {
    const WHAT: &str = "XML node";
    if chunk.header_size < 16 {
        return Err(chunk.error(WHAT, Problem::HeaderTooSmall(chunk.header_size)));
    }
    let h = chunk.header();
    let line = u32_at(h, 8).unwrap_or(0);
    let ext = chunk.body();
    let field = |off: usize| u32_at(ext, off).ok_or_else(|| chunk.error(WHAT, Problem::Truncated));
    Ok(match chunk.kind {
        kind::XML_START_NAMESPACE => Node::StartNamespace {
            line,
            prefix: opt(field(0)?),
            uri: opt(field(4)?),
        },
        kind::XML_END_NAMESPACE => Node::EndNamespace,
        kind::XML_END_ELEMENT => Node::EndElement,
        kind::XML_CDATA => Node::Text {
            line,
            text: opt(field(0)?),
        },
        kind::XML_START_ELEMENT => {
            let ns = opt(field(0)?);
            let name = field(4)?;
            let half = |off: usize| {
                u16_at(ext, off)
                    .map(usize::from)
                    .ok_or_else(|| chunk.error(WHAT, Problem::Truncated))
            };
            let (start, size, count) = (half(8)?, half(10)?, half(12)?);
            if count > 0 && size < ATTRIBUTE_SIZE {
                return Err(chunk.error(WHAT, Problem::Other("attribute records are too small")));
            }
            let limit = ext.len().saturating_sub(start) / size.max(1);
            if count > limit {
                return Err(chunk.error(WHAT, Problem::Count { count, limit }));
            }
            let mut attributes = Vec::with_capacity(count);
            for i in 0..count {
                let at = start + i * size;
                let a = |off| u32_at(ext, at + off).unwrap_or(NO_INDEX);
                attributes.push(Attribute {
                    ns: opt(a(0)),
                    name: a(4),
                    raw: opt(a(8)),
                    value: Value::at(ext, at + 12).unwrap_or(Value { kind: 0, data: 0 }),
                });
            }
            Node::StartElement {
                line,
                ns,
                name,
                attributes,
            }
        }
        _ => return Err(chunk.error(WHAT, Problem::Other("unknown XML node type"))),
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::pool::tests::pool_bytes;

    /// A minimal manifest written the way aapt writes one, for unit tests that must not depend
    /// on fixture files: `<manifest xmlns:android=… package="p" android:versionCode=7><uses-sdk/>`.
    pub(crate) fn tiny_manifest() -> Vec<u8> {
        let strings = [
            "versionCode",
            "android",
            "http://schemas.android.com/apk/res/android",
            "package",
            "manifest",
            "p",
            "uses-sdk",
        ];
        let mut body = pool_bytes(&strings, false);
        // resource map: index 0 (versionCode) -> 0x0101021b
        body.extend(0x180u16.to_le_bytes());
        body.extend(8u16.to_le_bytes());
        body.extend(12u32.to_le_bytes());
        body.extend(0x0101_021bu32.to_le_bytes());
        let node = |kind: u16, ext: &[u8]| {
            let mut v = kind.to_le_bytes().to_vec();
            v.extend(16u16.to_le_bytes());
            v.extend((16 + ext.len() as u32).to_le_bytes());
            v.extend(1u32.to_le_bytes());
            v.extend(NO_INDEX.to_le_bytes());
            v.extend(ext);
            v
        };
        let words = |w: &[u32]| w.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        body.extend(node(0x100, &words(&[1, 2])));
        let mut start = words(&[NO_INDEX, 4]);
        start.extend(20u16.to_le_bytes());
        start.extend(20u16.to_le_bytes());
        start.extend(2u16.to_le_bytes());
        start.extend([0; 6]);
        start.extend(words(&[NO_INDEX, 3, 5]));
        start.extend([8, 0, 0, 3]);
        start.extend(5u32.to_le_bytes());
        start.extend(words(&[2, 0, NO_INDEX]));
        start.extend([8, 0, 0, 0x10]);
        start.extend(7u32.to_le_bytes());
        body.extend(node(0x102, &start));
        let mut child = words(&[NO_INDEX, 6]);
        child.extend(20u16.to_le_bytes());
        child.extend(20u16.to_le_bytes());
        child.extend([0; 8]);
        body.extend(node(0x102, &child));
        body.extend(node(0x103, &words(&[NO_INDEX, 6])));
        body.extend(node(0x103, &words(&[NO_INDEX, 4])));
        body.extend(node(0x101, &words(&[1, 2])));
        let mut file = 3u16.to_le_bytes().to_vec();
        file.extend(8u16.to_le_bytes());
        file.extend((8 + body.len() as u32).to_le_bytes());
        file.extend(body);
        file
    }

    #[test]
    fn decodes_a_small_manifest() {
        let doc = Document::parse(&tiny_manifest()).unwrap();
        assert_eq!(doc.nodes.len(), 6);
        let Node::StartElement {
            name, attributes, ..
        } = &doc.nodes[1]
        else {
            panic!()
        };
        assert_eq!(doc.str(*name), "manifest");
        assert_eq!(doc.str(attributes[0].name), "package");
        assert_eq!(doc.opt_str(attributes[0].raw), Some("p"));
        assert_eq!(doc.resource_id(attributes[1].name), Some(0x0101_021b));
        assert_eq!(
            attributes[1].value,
            Value {
                kind: 0x10,
                data: 7
            }
        );
        assert_eq!(doc.prefix_for(2), Some("android"));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = tiny_manifest();
        for n in 0..full.len() {
            assert!(
                Document::parse(&full[..n]).is_err(),
                "prefix of {n} bytes parsed"
            );
        }
    }

    #[test]
    fn huge_attribute_count_is_refused() {
        let mut m = tiny_manifest();
        // find the first start-element chunk and set its attributeCount to 0xffff
        let pos = m
            .windows(4)
            .position(|w| w == [0x02, 0x01, 0x10, 0x00])
            .unwrap();
        m[pos + 16 + 12..pos + 16 + 14].copy_from_slice(&0xffffu16.to_le_bytes());
        let err = Document::parse(&m).unwrap_err();
        assert!(matches!(err.problem, Problem::Count { .. }), "{err}");
    }

    #[test]
    fn random_bytes_are_errors() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for len in [0usize, 1, 7, 8, 64, 4096] {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            assert!(Document::parse(&bytes).is_err());
        }
    }
}
