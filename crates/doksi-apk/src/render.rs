//! Two text forms of a decoded binary XML document: `aapt dump xmltree`'s indented node listing
//! (byte for byte, so it can be diffed against aapt itself), and plain XML text as androguard
//! prints it, for people and for `xmllint`.

use std::fmt::Write;

use super::axml::{Attribute, Document, Node, StrRef};
use super::chunk::Value;

/// Real manifests print about as many bytes of text as they hold in binary (the fixtures: 0.5x to
/// 1.1x). A crafted one can print far more: a string stored once is printed at every node that
/// names it, and indentation grows with depth, so 16 KB of deflated nesting would otherwise ask
/// for hundreds of gigabytes. Output stops past this many times the file's size...
const OUTPUT_FACTOR: usize = 16;
/// ...plus this much, so no small manifest is ever cut.
const OUTPUT_FLOOR: usize = 1 << 20;

/// The text being built and the size past which it stops growing. Checked before every node,
/// namespace declaration and attribute, each of which prints at most a few strings of the file,
/// so the output ends within a few file sizes of the budget whatever the input.
struct Out {
    text: String,
    budget: usize,
}

impl Out {
    fn new(doc: &Document) -> Out {
        Out {
            text: String::new(),
            budget: doc
                .source_len()
                .saturating_mul(OUTPUT_FACTOR)
                .saturating_add(OUTPUT_FLOOR),
        }
    }

    fn full(&self) -> bool {
        self.text.len() > self.budget
    }

    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.text.push_str("  ");
        }
    }

    /// Why the text ends early, worded for the form it is in (`comment` wraps it).
    fn stopped(&self, doc: &Document, comment: (&str, &str)) -> String {
        format!(
            "{}output stopped at {} bytes: a {}-byte manifest cannot justify more{}\n",
            comment.0,
            self.budget,
            doc.source_len(),
            comment.1
        )
    }
}

/// `prefix:` for a namespace URI, or the URI itself where nothing declared a prefix for it.
fn ns_prefix(doc: &Document, ns: Option<StrRef>) -> String {
    match ns {
        None => String::new(),
        Some(uri) => match doc.prefix_for(uri) {
            Some(p) => format!("{p}:"),
            None => format!("{}:", doc.str(uri)),
        },
    }
}

/// `ResTable::normalizeForOutput`, including its C-string stop at the first NUL.
fn aapt_escape(s: &str) -> String {
    let s = s.split('\0').next().unwrap_or("");
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// The listing `aapt dump xmltree APK AndroidManifest.xml` prints. A crafted file that would
/// print far more than its size justifies gets a listing cut short with a last line saying so.
pub fn xmltree(doc: &Document) -> String {
    let mut out = Out::new(doc);
    let mut depth = 0usize;
    'nodes: for node in &doc.nodes {
        if out.full() {
            break;
        }
        match node {
            Node::StartNamespace { prefix, uri, .. } => {
                out.indent(depth);
                let _ = writeln!(
                    out.text,
                    "N: {}={}",
                    doc.opt_str(*prefix).unwrap_or(""),
                    doc.opt_str(*uri).unwrap_or("")
                );
                depth += 1;
            }
            Node::EndNamespace | Node::EndElement => depth = depth.saturating_sub(1),
            Node::Text { text, .. } => {
                out.indent(depth);
                let _ = writeln!(
                    out.text,
                    "C: \"{}\"",
                    aapt_escape(doc.opt_str(*text).unwrap_or(""))
                );
            }
            Node::StartElement {
                line,
                ns,
                name,
                attributes,
            } => {
                out.indent(depth);
                let _ = writeln!(
                    out.text,
                    "E: {}{} (line={line})",
                    ns_prefix(doc, *ns),
                    doc.str(*name)
                );
                for a in attributes {
                    if out.full() {
                        break 'nodes;
                    }
                    out.indent(depth);
                    out.text.push_str("  A: ");
                    xmltree_attribute(&mut out.text, doc, a);
                }
                depth += 1;
            }
        }
    }
    if out.full() {
        let note = out.stopped(doc, ("", ""));
        out.text.push_str(&note);
    }
    out.text
}

fn xmltree_attribute(out: &mut String, doc: &Document, a: &Attribute) {
    out.push_str(&ns_prefix(doc, a.ns));
    out.push_str(doc.str(a.name));
    if let Some(id) = doc.resource_id(a.name) {
        let _ = write!(out, "({id:#010x})");
    }
    let v = a.value;
    let _ = match v.kind {
        Value::NULL => write!(out, "=(null)"),
        Value::REFERENCE => write!(out, "=@{:#010x}", v.data),
        Value::ATTRIBUTE => write!(out, "=?{:#010x}", v.data),
        Value::STRING => write!(out, "=\"{}\"", aapt_escape(doc.str(v.data))),
        k => write!(out, "=(type {k:#x}){:#x}", v.data),
    };
    if let Some(raw) = doc.opt_str(a.raw) {
        let _ = write!(out, " (Raw: \"{}\")", aapt_escape(raw));
    }
    out.push('\n');
}

const DIMENSION_UNITS: [&str; 6] = ["px", "dip", "sp", "pt", "in", "mm"];
const RADIX_MULTS: [f64; 4] = [
    1.0 / 256.0,
    1.0 / 32768.0,
    1.0 / 8_388_608.0,
    1.0 / 2_147_483_648.0,
];

/// `TypedValue.complexToFloat`: 24-bit mantissa, 2-bit radix.
fn complex(data: u32) -> f64 {
    f64::from((data & 0xffff_ff00) as i32) * RADIX_MULTS[((data >> 4) & 3) as usize]
}

/// A typed value as text, in androguard's `format_value` conventions.
fn xml_value(doc: &Document, a: &Attribute) -> String {
    let v = a.value;
    match v.kind {
        Value::STRING => doc.str(v.data).to_owned(),
        Value::REFERENCE | Value::DYNAMIC_REFERENCE => {
            let fw = if v.data >> 24 == 1 { "android:" } else { "" };
            format!("@{fw}{:08X}", v.data)
        }
        Value::ATTRIBUTE => {
            let fw = if v.data >> 24 == 1 { "android:" } else { "" };
            format!("?{fw}{:08X}", v.data)
        }
        Value::FLOAT => format!("{:?}", f32::from_bits(v.data)),
        Value::DIMENSION => {
            let unit = DIMENSION_UNITS.get((v.data & 0xf) as usize).unwrap_or(&"");
            format!("{:?}{unit}", complex(v.data))
        }
        Value::FRACTION => {
            let unit = if v.data & 0xf == 0 { "%" } else { "%p" };
            format!("{:?}{unit}", complex(v.data) * 100.0)
        }
        Value::INT_HEX => format!("0x{:08X}", v.data),
        Value::INT_BOOLEAN => (if v.data == 0 { "false" } else { "true" }).to_owned(),
        0x1c..=0x1f => format!("#{:08X}", v.data),
        Value::INT_DEC => (v.data as i32).to_string(),
        Value::NULL => doc.opt_str(a.raw).unwrap_or("").to_owned(),
        k => format!("<0x{:X}, type 0x{k:02X}>", v.data),
    }
}

/// The manifest as XML text, namespaces declared where the binary file declares them. A crafted
/// file that would print far more than its size justifies gets text cut short, ending in a
/// comment that says so (and, being cut, not closing the elements still open).
pub fn xml(doc: &Document) -> String {
    let mut out = Out::new(doc);
    let mut pending_ns: Vec<(Option<StrRef>, Option<StrRef>)> = Vec::new();
    // Whether the innermost open element has had children yet (to close "/>" or ">").
    let mut open: Vec<(String, bool)> = Vec::new();
    'nodes: for node in &doc.nodes {
        if out.full() {
            break;
        }
        match node {
            Node::StartNamespace { prefix, uri, .. } => pending_ns.push((*prefix, *uri)),
            Node::EndNamespace => {}
            Node::StartElement {
                ns,
                name,
                attributes,
                ..
            } => {
                open_parent(&mut out.text, &mut open);
                let tag = format!("{}{}", ns_prefix(doc, *ns), doc.str(*name));
                out.indent(open.len());
                out.text.push('<');
                out.text.push_str(&tag);
                for (prefix, uri) in pending_ns.drain(..) {
                    if out.full() {
                        break 'nodes;
                    }
                    let p = doc.opt_str(prefix).unwrap_or("");
                    out.text
                        .push_str(if p.is_empty() { " xmlns" } else { " xmlns:" });
                    out.text.push_str(p);
                    out.text.push_str("=\"");
                    crate::xml::escape_into(doc.opt_str(uri).unwrap_or(""), &mut out.text);
                    out.text.push('"');
                }
                for a in attributes {
                    if out.full() {
                        break 'nodes;
                    }
                    out.text.push(' ');
                    out.text.push_str(&ns_prefix(doc, a.ns));
                    out.text.push_str(doc.str(a.name));
                    out.text.push_str("=\"");
                    crate::xml::escape_into(&xml_value(doc, a), &mut out.text);
                    out.text.push('"');
                }
                open.push((tag, false));
            }
            Node::EndElement => {
                if let Some((tag, had_children)) = open.pop() {
                    close(&mut out, open.len(), &tag, had_children);
                }
            }
            Node::Text { text, .. } => {
                open_parent(&mut out.text, &mut open);
                out.indent(open.len());
                crate::xml::escape_into(doc.opt_str(*text).unwrap_or(""), &mut out.text);
                out.text.push('\n');
            }
        }
    }
    if out.full() {
        let note = out.stopped(doc, ("\n<!-- ", " -->"));
        out.text.push_str(&note);
        return out.text;
    }
    // A file that ends with elements still open is closed here so the text stays well-formed.
    while let Some((tag, had_children)) = open.pop() {
        close(&mut out, open.len(), &tag, had_children);
    }
    out.text
}

/// Ends an element: a closing tag after children, else the start tag's "/>".
fn close(out: &mut Out, depth: usize, tag: &str, had_children: bool) {
    if had_children {
        out.indent(depth);
        let _ = writeln!(out.text, "</{tag}>");
    } else {
        out.text.push_str("/>\n");
    }
}

fn open_parent(out: &mut String, open: &mut [(String, bool)]) {
    if let Some(parent) = open.last_mut()
        && !parent.1
    {
        out.push_str(">\n");
        parent.1 = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::tests::pool_bytes;

    /// A binary XML file of `depth` nested `<a>` elements, never closed: 36 bytes each.
    fn nested(depth: usize) -> Vec<u8> {
        let mut body = pool_bytes(&["a"], false);
        for _ in 0..depth {
            body.extend(0x102u16.to_le_bytes());
            body.extend(16u16.to_le_bytes());
            body.extend(36u32.to_le_bytes());
            body.extend([1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
            body.extend(0xffff_ffffu32.to_le_bytes());
            body.extend(0u32.to_le_bytes());
            body.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        }
        let mut file = 3u16.to_le_bytes().to_vec();
        file.extend(8u16.to_le_bytes());
        file.extend((8 + body.len() as u32).to_le_bytes());
        file.extend(body);
        file
    }

    #[test]
    fn shallow_documents_print_whole() {
        let doc = Document::parse(&nested(3)).unwrap();
        assert_eq!(
            xmltree(&doc),
            "E: a (line=1)\n  E: a (line=1)\n    E: a (line=1)\n"
        );
        assert_eq!(xml(&doc), "<a>\n  <a>\n    <a/>\n  </a>\n</a>\n");
    }

    #[test]
    fn deep_nesting_is_cut_not_quadratic() {
        // 10,000 levels in 360 KB would indent to 100 MB of spaces in each form.
        let bytes = nested(10_000);
        let doc = Document::parse(&bytes).unwrap();
        let limit = bytes.len() * OUTPUT_FACTOR + OUTPUT_FLOOR;
        for text in [xmltree(&doc), xml(&doc)] {
            assert!(text.len() < limit + bytes.len(), "{} bytes", text.len());
            assert!(text.ends_with("cannot justify more\n") || text.ends_with("more -->\n"));
        }
    }
}
