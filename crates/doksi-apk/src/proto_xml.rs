//! aapt2's protobuf XML: the form `AndroidManifest.xml` takes inside an Android App Bundle
//! (`base/manifest/AndroidManifest.xml`), where resources stay in proto form until bundletool
//! builds APKs. The message is `aapt.pb.XmlNode` from aapt2's `Resources.proto`; field numbers
//! below are that file's. Pure and total: bytes in, an [`XmlElement`] or a [`ProtoError`] out,
//! never a panic. Reading manifest fields from the tree is `manifest.rs`'s job, not this one's.
//! The wire reader ([`Reader`]) and the `Item` decoder serve the bundle's resource table too
//! (`proto_table.rs`), whose values are the same `Item` message.
//!
//! Only the wire format the XML messages need is read by hand (varints, fixed 32/64-bit values,
//! length-delimited fields); a protobuf library would be a dependency and generated code for five
//! messages. Fields this decoder does not know, of any wire type, are skipped as protobuf requires,
//! so newer aapt2 output still reads. Groups (wire types 3 and 4) are refused: they are deprecated,
//! no XML message has one, and skipping them correctly needs matching nested tags.
//!
//! Memory is proportional to the input: strings borrow from it, every node, attribute and value
//! is backed by at least two bytes of its own (a tag and a length), and vectors grow only by
//! values actually read, since protobuf declares no counts to trust. The factor is large (an
//! `XmlAttribute` per two bytes), so callers cap the input (`apk::read_bundle_manifest`).
//! Element nesting is bounded by [`MAX_DEPTH`], so a hostile file cannot exhaust the stack of
//! this recursive decoder.

use super::chunk::Value;

/// The deepest element nesting accepted. Manifests nest six deep at most
/// (`manifest/application/activity/intent-filter/data`); layouts that Android inflates rarely
/// reach twenty.
pub const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf at byte {offset:#x}: data ends inside a field")]
    Truncated { offset: usize },
    #[error("protobuf at byte {offset:#x}: varint is longer than 64 bits")]
    VarintOverflow { offset: usize },
    #[error(
        "protobuf at byte {offset:#x}: field length {length} runs past the end ({available} bytes left)"
    )]
    PastEnd {
        offset: usize,
        length: u64,
        available: usize,
    },
    #[error("protobuf at byte {offset:#x}: tag {tag:#x} names no valid field")]
    BadTag { offset: usize, tag: u64 },
    #[error(
        "protobuf at byte {offset:#x}: field {field} is a group, which aapt2's messages never use"
    )]
    Group { offset: usize, field: u32 },
    #[error("protobuf at byte {offset:#x}: wire type {wire_type} does not exist")]
    WireType { offset: usize, wire_type: u8 },
    #[error("protobuf at byte {offset:#x}: elements nest deeper than {limit}")]
    TooDeep { offset: usize, limit: usize },
    #[error("protobuf at byte {offset:#x}: {field} is not UTF-8")]
    NotUtf8 { offset: usize, field: &'static str },
    #[error("protobuf at byte {offset:#x}: node is neither an element nor text")]
    EmptyNode { offset: usize },
    #[error("protobuf XML: the document is a text node, not an element")]
    TextRoot,
    #[error("lookups take more steps than the resource table's size allows")]
    WorkSpent,
}

type Result<T> = std::result::Result<T, ProtoError>;

/// `XmlNode`: an element or a run of text (a `oneof`; the last one in the bytes wins).
#[derive(Debug, Clone, PartialEq)]
pub enum XmlNode<'a> {
    Element(XmlElement<'a>),
    Text(&'a str),
}

/// `XmlElement`. Absent strings are empty, as proto3 has it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmlElement<'a> {
    pub namespaces: Vec<XmlNamespace<'a>>,
    pub namespace_uri: &'a str,
    pub name: &'a str,
    pub attributes: Vec<XmlAttribute<'a>>,
    pub children: Vec<XmlNode<'a>>,
}

/// `XmlNamespace`: an `xmlns:prefix="uri"` declaration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlNamespace<'a> {
    pub prefix: &'a str,
    pub uri: &'a str,
}

/// `XmlAttribute`: `value` is the text as written; `compiled_item` what aapt2 made of it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct XmlAttribute<'a> {
    pub namespace_uri: &'a str,
    pub name: &'a str,
    pub value: &'a str,
    /// The framework attribute id (`android.R.attr`), 0 when aapt2 assigned none.
    pub resource_id: u32,
    pub compiled_item: Option<Item<'a>>,
}

/// `Item`, the compiled value of an attribute (a `oneof`; the last one in the bytes wins).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item<'a> {
    Reference(Reference<'a>),
    /// `String`
    Str(&'a str),
    /// `RawString`
    RawStr(&'a str),
    /// `StyledString`'s text, without its spans (a label may be `<b>Shop</b>`).
    StyledStr(&'a str),
    /// `Primitive`
    Prim(Prim),
    /// A kind a manifest field never needs (file 5, id 6), by field number.
    Other(u32),
}

/// Whether a reference is `@type/name` or `?attr/name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferenceKind {
    Resource,
    ThemeAttribute,
}

/// `Reference`: to a resource by id and/or name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference<'a> {
    pub kind: ReferenceKind,
    pub id: u32,
    pub name: &'a str,
    pub private: bool,
}

/// `Primitive`, one variant per member of its `oneof`. It mirrors `Res_value`, and
/// [`Prim::res_value`] turns it back into one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Prim {
    Null,
    Empty,
    Float(f32),
    /// Complex dimension data; the deprecated float form (field 4) keeps its bits here.
    Dimension(u32),
    /// Complex fraction data; the deprecated float form (field 5) keeps its bits here.
    Fraction(u32),
    IntDecimal(i32),
    IntHexadecimal(u32),
    Boolean(bool),
    ColorArgb8(u32),
    ColorRgb8(u32),
    ColorArgb4(u32),
    ColorRgb4(u32),
}

impl Prim {
    /// The binary-XML value this primitive stands for, so manifest fields read alike from both
    /// forms. Type codes are `Res_value`'s (`ResourceTypes.h`).
    pub fn res_value(self) -> Value {
        let v = |kind, data| Value { kind, data };
        match self {
            Prim::Null => v(Value::NULL, 0),
            // DATA_NULL_EMPTY: an explicitly empty value, as opposed to an undefined one.
            Prim::Empty => v(Value::NULL, 1),
            Prim::Float(f) => v(Value::FLOAT, f.to_bits()),
            Prim::Dimension(d) => v(Value::DIMENSION, d),
            Prim::Fraction(d) => v(Value::FRACTION, d),
            Prim::IntDecimal(i) => v(Value::INT_DEC, i as u32),
            Prim::IntHexadecimal(i) => v(Value::INT_HEX, i),
            Prim::Boolean(b) => v(Value::INT_BOOLEAN, if b { u32::MAX } else { 0 }),
            Prim::ColorArgb8(c) => v(0x1c, c),
            Prim::ColorRgb8(c) => v(0x1d, c),
            Prim::ColorArgb4(c) => v(0x1e, c),
            Prim::ColorRgb4(c) => v(0x1f, c),
        }
    }
}

/// Decodes a whole `XmlNode` document, whose root must be an element.
pub fn parse(data: &[u8]) -> Result<XmlElement<'_>> {
    match node(Reader::new(data), 0)? {
        XmlNode::Element(e) => Ok(e),
        XmlNode::Text(_) => Err(ProtoError::TextRoot),
    }
}

/// One field's payload, by wire type.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wire<'a> {
    Varint(u64),
    Fixed64,
    Fixed32(u32),
    Bytes(Reader<'a>),
}

/// A cursor over one message: `data` is the whole input so offsets in errors are absolute, and
/// `end` is where this message stops.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            end: data.len(),
        }
    }

    fn byte(&mut self) -> Result<u8> {
        let b = self
            .data
            .get(self.pos)
            .filter(|_| self.pos < self.end)
            .copied()
            .ok_or(ProtoError::Truncated { offset: self.pos })?;
        self.pos += 1;
        Ok(b)
    }

    /// A base-128 varint of at most ten bytes whose value fits 64 bits.
    fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        let mut value = 0u64;
        for i in 0..10 {
            let b = self.byte()?;
            // The tenth byte holds bit 63 only; anything more is a value no field can have.
            if i == 9 && b > 1 {
                return Err(ProtoError::VarintOverflow { offset: start });
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ProtoError::VarintOverflow { offset: start })
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        let end = self
            .pos
            .checked_add(N)
            .filter(|&e| e <= self.end)
            .ok_or(ProtoError::Truncated { offset: self.pos })?;
        let bytes = self
            .data
            .get(self.pos..end)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or(ProtoError::Truncated { offset: self.pos })?;
        self.pos = end;
        Ok(bytes)
    }

    /// The next field as (number, offset of its tag, payload), or `None` at the message's end.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, usize, Wire<'a>)>> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let offset = self.pos;
        let tag = self.varint()?;
        let number = u32::try_from(tag >> 3)
            .ok()
            .filter(|&n| n != 0)
            .ok_or(ProtoError::BadTag { offset, tag })?;
        let wire = match tag & 7 {
            0 => Wire::Varint(self.varint()?),
            1 => {
                self.fixed::<8>()?;
                Wire::Fixed64
            }
            2 => {
                let at = self.pos;
                let length = self.varint()?;
                let available = self.end - self.pos;
                let n = usize::try_from(length)
                    .ok()
                    .filter(|&n| n <= available)
                    .ok_or(ProtoError::PastEnd {
                        offset: at,
                        length,
                        available,
                    })?;
                let sub = Reader {
                    data: self.data,
                    pos: self.pos,
                    end: self.pos + n,
                };
                self.pos += n;
                Wire::Bytes(sub)
            }
            3 | 4 => {
                return Err(ProtoError::Group {
                    offset,
                    field: number,
                });
            }
            5 => Wire::Fixed32(u32::from_le_bytes(self.fixed()?)),
            w => {
                return Err(ProtoError::WireType {
                    offset,
                    wire_type: w as u8,
                });
            }
        };
        Ok(Some((number, offset, wire)))
    }

    /// This whole message's bytes.
    pub(crate) fn bytes(self) -> &'a [u8] {
        self.data.get(self.pos..self.end).unwrap_or_default()
    }

    /// This whole message as UTF-8 text, as proto3 requires of `string` fields.
    fn text(self, field: &'static str) -> Result<&'a str> {
        std::str::from_utf8(self.bytes()).map_err(|_| ProtoError::NotUtf8 {
            offset: self.pos,
            field,
        })
    }
}

// Fields whose wire type does not match the schema are skipped like unknown ones, as protobuf's
// own parsers do; each `match` below therefore names the wire type with the field number.

fn node(mut r: Reader<'_>, depth: usize) -> Result<XmlNode<'_>> {
    let start = r.pos;
    let mut out = None;
    while let Some((number, _, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Bytes(m)) => out = Some(XmlNode::Element(element(m, depth)?)),
            (2, Wire::Bytes(m)) => out = Some(XmlNode::Text(m.text("XmlNode.text")?)),
            _ => {} // 3: source position
        }
    }
    out.ok_or(ProtoError::EmptyNode { offset: start })
}

fn element(mut r: Reader<'_>, depth: usize) -> Result<XmlElement<'_>> {
    if depth >= MAX_DEPTH {
        return Err(ProtoError::TooDeep {
            offset: r.pos,
            limit: MAX_DEPTH,
        });
    }
    let mut e = XmlElement::default();
    while let Some((number, _, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Bytes(m)) => e.namespaces.push(namespace(m)?),
            (2, Wire::Bytes(m)) => e.namespace_uri = m.text("XmlElement.namespace_uri")?,
            (3, Wire::Bytes(m)) => e.name = m.text("XmlElement.name")?,
            (4, Wire::Bytes(m)) => e.attributes.push(attribute(m)?),
            (5, Wire::Bytes(m)) => e.children.push(node(m, depth + 1)?),
            _ => {}
        }
    }
    Ok(e)
}

fn namespace(mut r: Reader<'_>) -> Result<XmlNamespace<'_>> {
    let mut ns = XmlNamespace::default();
    while let Some((number, _, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Bytes(m)) => ns.prefix = m.text("XmlNamespace.prefix")?,
            (2, Wire::Bytes(m)) => ns.uri = m.text("XmlNamespace.uri")?,
            _ => {} // 3: source position
        }
    }
    Ok(ns)
}

fn attribute(mut r: Reader<'_>) -> Result<XmlAttribute<'_>> {
    let mut a = XmlAttribute::default();
    while let Some((number, _, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Bytes(m)) => a.namespace_uri = m.text("XmlAttribute.namespace_uri")?,
            (2, Wire::Bytes(m)) => a.name = m.text("XmlAttribute.name")?,
            (3, Wire::Bytes(m)) => a.value = m.text("XmlAttribute.value")?,
            // uint32 from a varint keeps the low 32 bits, as protobuf truncates.
            (5, Wire::Varint(v)) => a.resource_id = v as u32,
            (6, Wire::Bytes(m)) => a.compiled_item = item(m)?,
            _ => {} // 4: source position
        }
    }
    Ok(a)
}

/// An `Item`, or `None` when none of its `oneof` members is set. Also a resource table's values
/// (`proto_table`), which are the same message.
pub(crate) fn item(mut r: Reader<'_>) -> Result<Option<Item<'_>>> {
    let mut out = None;
    while let Some((number, _, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Bytes(m)) => out = Some(Item::Reference(reference(m)?)),
            (2, Wire::Bytes(m)) => out = Some(Item::Str(string_value(m, "String.value")?)),
            (3, Wire::Bytes(m)) => out = Some(Item::RawStr(string_value(m, "RawString.value")?)),
            (4, Wire::Bytes(m)) => {
                out = Some(Item::StyledStr(string_value(m, "StyledString.value")?))
            }
            (5 | 6, Wire::Bytes(_)) => out = Some(Item::Other(number)),
            (7, Wire::Bytes(m)) => out = prim(m)?.map(Item::Prim).or(out),
            _ => {}
        }
    }
    Ok(out)
}

fn reference(mut r: Reader<'_>) -> Result<Reference<'_>> {
    let mut out = Reference {
        kind: ReferenceKind::Resource,
        id: 0,
        name: "",
        private: false,
    };
    while let Some((number, _, wire)) = r.field()? {
        match (number, wire) {
            (1, Wire::Varint(1)) => out.kind = ReferenceKind::ThemeAttribute,
            (1, Wire::Varint(_)) => out.kind = ReferenceKind::Resource,
            (2, Wire::Varint(v)) => out.id = v as u32,
            (3, Wire::Bytes(m)) => out.name = m.text("Reference.name")?,
            (4, Wire::Varint(v)) => out.private = v != 0,
            _ => {}
        }
    }
    Ok(out)
}

/// The one `string value = 1` of `String` and `RawString`.
fn string_value<'a>(mut r: Reader<'a>, field: &'static str) -> Result<&'a str> {
    let mut out = "";
    while let Some((number, _, wire)) = r.field()? {
        if let (1, Wire::Bytes(m)) = (number, wire) {
            out = m.text(field)?;
        }
    }
    Ok(out)
}

/// A `Primitive`, or `None` when none of its `oneof` members is set.
fn prim(mut r: Reader<'_>) -> Result<Option<Prim>> {
    let mut out = None;
    while let Some((number, _, wire)) = r.field()? {
        // int32 and uint32 from a varint keep the low 32 bits, as protobuf truncates.
        out = match (number, wire) {
            (1, Wire::Bytes(_)) => Some(Prim::Null),
            (2, Wire::Bytes(_)) => Some(Prim::Empty),
            (3, Wire::Fixed32(f)) => Some(Prim::Float(f32::from_bits(f))),
            (4, Wire::Fixed32(f)) => Some(Prim::Dimension(f)),
            (5, Wire::Fixed32(f)) => Some(Prim::Fraction(f)),
            (6, Wire::Varint(v)) => Some(Prim::IntDecimal(v as u32 as i32)),
            (7, Wire::Varint(v)) => Some(Prim::IntHexadecimal(v as u32)),
            (8, Wire::Varint(v)) => Some(Prim::Boolean(v != 0)),
            (9, Wire::Varint(v)) => Some(Prim::ColorArgb8(v as u32)),
            (10, Wire::Varint(v)) => Some(Prim::ColorRgb8(v as u32)),
            (11, Wire::Varint(v)) => Some(Prim::ColorArgb4(v as u32)),
            (12, Wire::Varint(v)) => Some(Prim::ColorRgb4(v as u32)),
            (13, Wire::Varint(v)) => Some(Prim::Dimension(v as u32)),
            (14, Wire::Varint(v)) => Some(Prim::Fraction(v as u32)),
            _ => out,
        };
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return out;
            }
            out.push(b | 0x80);
        }
    }

    fn tag(number: u32, wire: u8) -> Vec<u8> {
        varint(u64::from(number) << 3 | u64::from(wire))
    }

    pub(crate) fn bytes(number: u32, payload: &[u8]) -> Vec<u8> {
        let mut v = tag(number, 2);
        v.extend(varint(payload.len() as u64));
        v.extend(payload);
        v
    }

    pub(crate) fn uint(number: u32, value: u64) -> Vec<u8> {
        let mut v = tag(number, 0);
        v.extend(varint(value));
        v
    }

    pub(crate) fn attr(ns: &str, name: &str, value: &str, id: u32, item: &[u8]) -> Vec<u8> {
        let mut a = bytes(1, ns.as_bytes());
        a.extend(bytes(2, name.as_bytes()));
        a.extend(bytes(3, value.as_bytes()));
        if id != 0 {
            a.extend(uint(5, u64::from(id)));
        }
        if !item.is_empty() {
            a.extend(bytes(6, item));
        }
        bytes(4, &a)
    }

    pub(crate) fn element(name: &str, rest: &[u8]) -> Vec<u8> {
        let mut e = bytes(3, name.as_bytes());
        e.extend(rest);
        bytes(1, &e)
    }

    const ANDROID: &str = "http://schemas.android.com/apk/res/android";

    /// `<manifest package="p" android:versionCode=7 (compiled int) android:versionName="1.0">`
    /// `<uses-sdk android:minSdkVersion="21"/></manifest>`, as aapt2 would write it.
    pub(crate) fn tiny_manifest() -> Vec<u8> {
        let mut rest = bytes(
            1,
            &[bytes(1, b"android"), bytes(2, ANDROID.as_bytes())].concat(),
        );
        rest.extend(attr("", "package", "p", 0, &[]));
        rest.extend(attr(
            ANDROID,
            "versionCode",
            "7",
            0x0101_021b,
            &bytes(7, &uint(6, 7)),
        ));
        rest.extend(attr(
            ANDROID,
            "versionName",
            "1.0",
            0x0101_021c,
            &bytes(2, &bytes(1, b"1.0")),
        ));
        let sdk = attr(ANDROID, "minSdkVersion", "21", 0x0101_020c, &[]);
        rest.extend(bytes(5, &element("uses-sdk", &sdk)));
        rest.extend(bytes(5, &bytes(2, b"\n")));
        element("manifest", &rest)
    }

    #[test]
    fn decodes_a_hand_built_manifest() {
        let bytes = tiny_manifest();
        let root = parse(&bytes).unwrap();
        assert_eq!(root.name, "manifest");
        assert_eq!(
            root.namespaces,
            vec![XmlNamespace {
                prefix: "android",
                uri: ANDROID
            }]
        );
        assert_eq!(root.attributes.len(), 3);
        assert_eq!(root.attributes[0].name, "package");
        assert_eq!(root.attributes[0].compiled_item, None);
        assert_eq!(root.attributes[1].resource_id, 0x0101_021b);
        assert_eq!(
            root.attributes[1].compiled_item,
            Some(Item::Prim(Prim::IntDecimal(7)))
        );
        assert_eq!(root.attributes[2].compiled_item, Some(Item::Str("1.0")));
        assert_eq!(root.children.len(), 2);
        assert!(matches!(&root.children[0], XmlNode::Element(e) if e.name == "uses-sdk"));
        assert_eq!(root.children[1], XmlNode::Text("\n"));
    }

    #[test]
    fn unknown_fields_of_every_wire_type_are_skipped() {
        let mut unknown = uint(99, 300); // varint
        unknown.extend(tag(98, 1)); // fixed64
        unknown.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        unknown.extend(bytes(97, b"later aapt2")); // length-delimited
        unknown.extend(tag(96, 5)); // fixed32
        unknown.extend([1, 2, 3, 4]);
        // Known numbers with the wrong wire type are skipped as unknown too.
        unknown.extend(uint(3, 5));
        unknown.extend(tag(2, 5));
        unknown.extend([0; 4]);
        let plain = tiny_manifest();
        let mut e = unknown.clone();
        e.extend(bytes(3, b"manifest"));
        e.extend(unknown.clone());
        let mut doc = unknown.clone();
        doc.extend(bytes(1, &e));
        doc.extend(unknown);
        let root = parse(&doc).unwrap();
        assert_eq!(root.name, "manifest");
        assert!(root.attributes.is_empty());
        assert!(parse(&plain).is_ok());
    }

    #[test]
    fn groups_and_undefined_wire_types_are_refused() {
        let mut start_group = tag(9, 3);
        start_group.extend(tag(9, 4));
        assert_eq!(
            parse(&start_group),
            Err(ProtoError::Group {
                offset: 0,
                field: 9
            })
        );
        assert_eq!(
            parse(&tag(9, 4)),
            Err(ProtoError::Group {
                offset: 0,
                field: 9
            })
        );
        for wire in [6, 7] {
            assert_eq!(
                parse(&tag(9, wire)),
                Err(ProtoError::WireType {
                    offset: 0,
                    wire_type: wire
                })
            );
        }
    }

    #[test]
    fn field_number_zero_is_refused() {
        assert_eq!(
            parse(&[0x02, 0x00]),
            Err(ProtoError::BadTag { offset: 0, tag: 2 })
        );
        // A tag whose field number does not fit 32 bits.
        let mut huge = varint(u64::MAX);
        huge.push(0);
        assert!(matches!(parse(&huge), Err(ProtoError::BadTag { .. })));
    }

    #[test]
    fn truncated_varint_is_an_error() {
        assert_eq!(parse(&[0x80]), Err(ProtoError::Truncated { offset: 1 }));
        // A varint value cut short inside a nested message stops at that message's end.
        let inner = [0x28, 0xff]; // field 5 varint, continuation with nothing after
        let doc = bytes(1, &inner);
        assert_eq!(parse(&doc), Err(ProtoError::Truncated { offset: 4 }));
        // Fixed-width values cut short.
        assert!(matches!(
            parse(&[0x09, 1, 2, 3]),
            Err(ProtoError::Truncated { .. })
        ));
        assert!(matches!(
            parse(&[0x0d, 1, 2]),
            Err(ProtoError::Truncated { .. })
        ));
    }

    #[test]
    fn length_past_the_end_is_an_error() {
        let mut doc = tag(1, 2);
        doc.extend(varint(1000));
        doc.extend(b"short");
        assert_eq!(
            parse(&doc),
            Err(ProtoError::PastEnd {
                offset: 1,
                length: 1000,
                available: 5
            })
        );
        // A length that would overflow usize arithmetic is the same error, not a wrap.
        let mut doc = tag(1, 2);
        doc.extend(varint(u64::MAX));
        assert!(matches!(parse(&doc), Err(ProtoError::PastEnd { .. })));
        // An inner length may not reach past its parent even when the file has more bytes.
        let mut inner = tag(3, 2);
        inner.extend(varint(4));
        let mut doc = bytes(1, &inner);
        doc.extend(bytes(9, b"padding"));
        assert!(matches!(
            parse(&doc),
            Err(ProtoError::PastEnd { available: 0, .. })
        ));
    }

    #[test]
    fn ten_byte_varints_that_overflow_64_bits_are_refused() {
        // The largest value still fits: nine 0xff bytes, then 0x01.
        let mut max = uint(99, u64::MAX);
        assert_eq!(max.len(), 12);
        max.extend(element("manifest", &[]));
        assert!(parse(&max).is_ok());
        let mut over = vec![0xf8, 0x06]; // field 99, varint
        over.extend([0xff; 9]);
        over.push(0x02);
        assert_eq!(parse(&over), Err(ProtoError::VarintOverflow { offset: 2 }));
        let mut long = vec![0xf8, 0x06];
        long.extend([0x80; 10]);
        long.push(0);
        assert_eq!(parse(&long), Err(ProtoError::VarintOverflow { offset: 2 }));
    }

    #[test]
    fn a_negative_int32_is_a_ten_byte_varint() {
        let a = attr("", "n", "-1", 0, &bytes(7, &uint(6, u64::MAX)));
        let doc = element("x", &a);
        let root = parse(&doc).unwrap();
        assert_eq!(
            root.attributes[0].compiled_item,
            Some(Item::Prim(Prim::IntDecimal(-1)))
        );
    }

    fn nested(levels: usize) -> Vec<u8> {
        let mut doc = element("e", &[]);
        for _ in 1..levels {
            doc = element("e", &bytes(5, &doc));
        }
        doc
    }

    #[test]
    fn nesting_is_bounded() {
        assert!(parse(&nested(MAX_DEPTH)).is_ok());
        assert!(matches!(
            parse(&nested(MAX_DEPTH + 1)),
            Err(ProtoError::TooDeep {
                limit: MAX_DEPTH,
                ..
            })
        ));
        // A depth bomb far past the limit stops there, whatever its size.
        assert!(matches!(
            parse(&nested(3_000)),
            Err(ProtoError::TooDeep { .. })
        ));
    }

    #[test]
    fn strings_must_be_utf8() {
        let doc = element("\u{e9}", &[]);
        assert!(parse(&doc).is_ok());
        let bad = bytes(1, &bytes(3, &[0xff, 0xfe]));
        assert_eq!(
            parse(&bad),
            Err(ProtoError::NotUtf8 {
                offset: 4,
                field: "XmlElement.name"
            })
        );
    }

    #[test]
    fn roots_must_be_elements() {
        assert_eq!(parse(&bytes(2, b"text")), Err(ProtoError::TextRoot));
        assert_eq!(parse(&[]), Err(ProtoError::EmptyNode { offset: 0 }));
    }

    #[test]
    fn the_last_oneof_member_wins() {
        let mut item = bytes(2, &bytes(1, b"s"));
        item.extend(bytes(7, &uint(8, 1)));
        let doc = element("x", &attr("", "b", "true", 0, &item));
        let root = parse(&doc).unwrap();
        assert_eq!(
            root.attributes[0].compiled_item,
            Some(Item::Prim(Prim::Boolean(true)))
        );
        let mut node = bytes(2, b"text");
        node.extend(element("last", &[]));
        assert_eq!(parse(&node).unwrap().name, "last");
    }

    #[test]
    fn references_keep_id_and_kind() {
        let r = [uint(1, 1), uint(2, 0x7f01_0000), bytes(3, b"attr/x")].concat();
        let doc = element("x", &attr("", "a", "?attr/x", 0, &bytes(1, &r)));
        let root = parse(&doc).unwrap();
        assert_eq!(
            root.attributes[0].compiled_item,
            Some(Item::Reference(Reference {
                kind: ReferenceKind::ThemeAttribute,
                id: 0x7f01_0000,
                name: "attr/x",
                private: false
            }))
        );
    }

    #[test]
    fn every_cut_and_flip_is_a_value_or_an_error() {
        let full = tiny_manifest();
        for n in 0..full.len() {
            let _ = parse(&full[..n]);
            for bit in 0..8 {
                let mut v = full.clone();
                v[n] ^= 1 << bit;
                let _ = parse(&v);
            }
        }
    }
}
