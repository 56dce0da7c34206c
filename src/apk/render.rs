//! Two text forms of a decoded binary XML document: `aapt dump xmltree`'s indented node listing
//! (byte for byte, so it can be diffed against aapt itself), and plain XML text as androguard
//! prints it, for people and for `xmllint`.

use std::fmt::Write;

use super::axml::{Attribute, Document, Node, StrRef};
use super::chunk::Value;

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

fn ns_prefix(doc: &Document, ns: Option<StrRef>) -> String {
    match ns {
        None => String::new(),
        Some(uri) => match doc.prefix_for(uri) {
            Some(p) => format!("{p}:"),
            None => format!("{}:", doc.str(uri)),
        },
    }
}

/// The listing `aapt dump xmltree APK AndroidManifest.xml` prints.
pub fn xmltree(doc: &Document) -> String {
    let mut out = String::new();
    let mut depth = 0usize;
    for node in &doc.nodes {
        let indent = "  ".repeat(depth);
        match node {
            Node::StartNamespace { prefix, uri, .. } => {
                let _ = writeln!(
                    out,
                    "{indent}N: {}={}",
                    doc.opt_str(*prefix).unwrap_or(""),
                    doc.opt_str(*uri).unwrap_or("")
                );
                depth += 1;
            }
            Node::EndNamespace | Node::EndElement => depth = depth.saturating_sub(1),
            Node::Text { text, .. } => {
                let _ = writeln!(
                    out,
                    "{indent}C: \"{}\"",
                    aapt_escape(doc.opt_str(*text).unwrap_or(""))
                );
            }
            Node::StartElement {
                line,
                ns,
                name,
                attributes,
            } => {
                let _ = writeln!(
                    out,
                    "{indent}E: {}{} (line={line})",
                    ns_prefix(doc, *ns),
                    doc.str(*name)
                );
                for a in attributes {
                    out.push_str(&indent);
                    out.push_str("  A: ");
                    xmltree_attribute(&mut out, doc, a);
                }
                depth += 1;
            }
        }
    }
    out
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

fn xml_escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            // XML 1.0 cannot carry other control characters at all.
            c if (c as u32) < 0x20 => {}
            c => out.push(c),
        }
    }
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

/// The manifest as XML text, namespaces declared where the binary file declares them.
pub fn xml(doc: &Document) -> String {
    let mut out = String::new();
    let mut pending_ns: Vec<(Option<StrRef>, Option<StrRef>)> = Vec::new();
    // Whether the innermost open element has had children yet (to close "/>" or ">").
    let mut open: Vec<(String, bool)> = Vec::new();
    for node in &doc.nodes {
        match node {
            Node::StartNamespace { prefix, uri, .. } => pending_ns.push((*prefix, *uri)),
            Node::EndNamespace => {}
            Node::StartElement {
                ns,
                name,
                attributes,
                ..
            } => {
                open_parent(&mut out, &mut open);
                let tag = format!("{}{}", ns_prefix(doc, *ns), doc.str(*name));
                out.push_str(&"  ".repeat(open.len()));
                out.push('<');
                out.push_str(&tag);
                for (prefix, uri) in pending_ns.drain(..) {
                    let p = doc.opt_str(prefix).unwrap_or("");
                    out.push_str(if p.is_empty() { " xmlns" } else { " xmlns:" });
                    out.push_str(p);
                    out.push_str("=\"");
                    xml_escape(doc.opt_str(uri).unwrap_or(""), &mut out);
                    out.push('"');
                }
                for a in attributes {
                    out.push(' ');
                    out.push_str(&ns_prefix(doc, a.ns));
                    out.push_str(doc.str(a.name));
                    out.push_str("=\"");
                    xml_escape(&xml_value(doc, a), &mut out);
                    out.push('"');
                }
                open.push((tag, false));
            }
            Node::EndElement => {
                if let Some((tag, had_children)) = open.pop() {
                    if had_children {
                        out.push_str(&"  ".repeat(open.len()));
                        let _ = writeln!(out, "</{tag}>");
                    } else {
                        out.push_str("/>\n");
                    }
                }
            }
            Node::Text { text, .. } => {
                open_parent(&mut out, &mut open);
                out.push_str(&"  ".repeat(open.len()));
                xml_escape(doc.opt_str(*text).unwrap_or(""), &mut out);
                out.push('\n');
            }
        }
    }
    // A file that ends with elements still open is closed here so the text stays well-formed.
    while let Some((tag, had_children)) = open.pop() {
        if had_children {
            out.push_str(&"  ".repeat(open.len()));
            let _ = writeln!(out, "</{tag}>");
        } else {
            out.push_str("/>\n");
        }
    }
    out
}

fn open_parent(out: &mut String, open: &mut [(String, bool)]) {
    if let Some(parent) = open.last_mut()
        && !parent.1
    {
        out.push_str(">\n");
        parent.1 = true;
    }
}
