//! The typed facts doksi needs from a decoded manifest, read the way `aapt dump badging` reads
//! them (which element at which depth, attributes by framework resource id first, references
//! resolved through the resource table), so our output can be checked line by line against it.

use serde::Serialize;

use super::arsc::{Resolved, ResourceTable};
use super::axml::{Attribute, Document, Node};
use super::chunk::Value;
use super::proto_table::{self, Lookup};
use super::proto_xml::{Item, ProtoError, ReferenceKind, XmlAttribute, XmlElement, XmlNode};

pub const ANDROID_NS: &str = "http://schemas.android.com/apk/res/android";

/// Framework attribute ids (`android.R.attr`), stable across releases.
mod attr {
    pub const LABEL: u32 = 0x0101_0001;
    pub const NAME: u32 = 0x0101_0003;
    pub const DEBUGGABLE: u32 = 0x0101_000f;
    pub const TARGET_PACKAGE: u32 = 0x0101_0021;
    pub const MIN_SDK: u32 = 0x0101_020c;
    pub const VERSION_CODE: u32 = 0x0101_021b;
    pub const VERSION_NAME: u32 = 0x0101_021c;
    pub const TARGET_SDK: u32 = 0x0101_0270;
    pub const TEST_ONLY: u32 = 0x0101_0272;
    pub const COMPILE_SDK: u32 = 0x0101_0572;
}

/// What `doksi inspect --json` prints. Absent values are `null`, lists `[]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub package: Option<String>,
    pub version_code: Option<i64>,
    pub version_name: Option<String>,
    pub min_sdk: Option<i64>,
    pub target_sdk: Option<i64>,
    pub compile_sdk: Option<i64>,
    pub label: Option<String>,
    pub debuggable: bool,
    pub test_only: bool,
    pub instrumentation_target: Option<String>,
    pub permissions: Vec<String>,
    pub launchable_activity: Option<String>,
    pub abis: Vec<String>,
    /// Whether any signature scheme is present (not verified): an unsigned APK installs nowhere.
    pub signed: bool,
    pub signature_schemes: Vec<super::signing::Scheme>,
    /// Why a field could not be read as given (an unresolvable `@string` label, say): shown to
    /// people on stderr, kept out of the JSON contract.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// An attribute's value after following resource references.
enum Resolution {
    Text(String),
    Typed(Value),
    /// A reference that could not be followed, and why not.
    Unresolved(u32, String),
}

/// One element's attributes, however the manifest stores them (binary XML in an APK, protobuf XML
/// in a bundle), so both are read by the one [`Walk`].
trait Attributes {
    /// An `android:` attribute: by framework resource id first, then by name for attributes that
    /// carry no id (obfuscators blank names; hand-written files may lack ids).
    fn android(&self, id: u32, name: &str) -> Option<Resolution>;
    /// An attribute without a namespace (`package`).
    fn plain(&self, name: &str) -> Option<Resolution>;
}

fn string(r: Option<Resolution>) -> Option<String> {
    match r? {
        Resolution::Text(s) => Some(s),
        _ => None,
    }
}

fn int(r: Option<Resolution>) -> Option<i64> {
    match r? {
        Resolution::Typed(v) if v.is_int() => Some(i64::from(v.data as i32)),
        Resolution::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn flag(r: Option<Resolution>) -> bool {
    match r {
        Some(Resolution::Typed(v)) => v.is_int() && v.data != 0,
        Some(Resolution::Text(s)) => s == "true",
        _ => false,
    }
}

/// Reads attributes of binary XML elements, resolving through the optional resource table.
struct Reader<'a> {
    doc: &'a Document,
    table: Option<&'a ResourceTable<'a>>,
}

/// One binary XML element's attributes, read through its document.
struct AxmlElement<'r, 'a> {
    reader: &'r Reader<'a>,
    attrs: &'a [Attribute],
}

impl Attributes for AxmlElement<'_, '_> {
    fn android(&self, id: u32, name: &str) -> Option<Resolution> {
        let doc = self.reader.doc;
        let a = self
            .attrs
            .iter()
            .find(|a| doc.resource_id(a.name) == Some(id))
            .or_else(|| {
                self.attrs.iter().find(|a| {
                    doc.resource_id(a.name).is_none()
                        && doc.str(a.name) == name
                        && doc.opt_str(a.ns) == Some(ANDROID_NS)
                })
            })?;
        Some(self.reader.resolve(a))
    }

    fn plain(&self, name: &str) -> Option<Resolution> {
        let doc = self.reader.doc;
        let a = self
            .attrs
            .iter()
            .find(|a| a.ns.is_none() && doc.str(a.name) == name)?;
        Some(self.reader.resolve(a))
    }
}

impl Reader<'_> {
    fn resolve(&self, a: &Attribute) -> Resolution {
        let v = a.value;
        if v.kind == Value::STRING {
            return Resolution::Text(self.doc.str(v.data).to_owned());
        }
        if v.is_reference() {
            return match self.table.map(|t| t.resolve(v.data)) {
                Some(Ok(Some(Resolved::String(s)))) => Resolution::Text(s),
                Some(Ok(Some(Resolved::Value(v)))) => Resolution::Typed(v),
                None => {
                    Resolution::Unresolved(v.data, "the APK has no readable resources.arsc".into())
                }
                Some(_) => Resolution::Unresolved(
                    v.data,
                    "resources.arsc has no default-locale string for it".into(),
                ),
            };
        }
        if v.kind == Value::NULL
            && let Some(raw) = self.doc.opt_str(a.raw)
        {
            return Resolution::Text(raw.to_owned());
        }
        Resolution::Typed(v)
    }
}

/// A bundle's resource table (`base/resources.pb`) as the manifest reader gets it: the table, or
/// why there is none to read (the words end the note about a label left unresolved).
pub type BundleResources<'t, 'a> = Result<&'t proto_table::ResourceTable<'a>, &'t str>;

/// Where bundletool's bundle format keeps the base module's resource table, as notes name it.
const RESOURCES_PB: &str = "base/resources.pb";

/// One protobuf XML element's attributes, references resolved through the bundle's table.
struct ProtoElement<'e, 'a, 't, 'r> {
    element: &'e XmlElement<'a>,
    resources: BundleResources<'t, 'r>,
}

impl ProtoElement<'_, '_, '_, '_> {
    fn resolve(&self, a: &XmlAttribute<'_>) -> Resolution {
        match a.compiled_item {
            Some(Item::Reference(r)) => self.follow(r.kind, r.id),
            Some(item) => Self::item(item).unwrap_or_else(|| Resolution::Text(a.value.to_owned())),
            // aapt2 keeps the text as written beside what it compiled; it is all there is here.
            None => Resolution::Text(a.value.to_owned()),
        }
    }

    /// A compiled value as text or a typed value; `None` for what neither is.
    fn item(item: Item<'_>) -> Option<Resolution> {
        match item {
            Item::Str(s) | Item::RawStr(s) | Item::StyledStr(s) => {
                Some(Resolution::Text(s.to_owned()))
            }
            Item::Prim(p) => Some(Resolution::Typed(p.res_value())),
            Item::Reference(_) | Item::Other(_) => None,
        }
    }

    /// A reference's value for the default configuration, or why there is none.
    fn follow(&self, kind: ReferenceKind, id: u32) -> Resolution {
        let why = |why: String| Resolution::Unresolved(id, why);
        if kind == ReferenceKind::ThemeAttribute {
            return why("it names a theme attribute, which only a running app resolves".into());
        }
        let table = match self.resources {
            Ok(table) => table,
            Err(missing) => return why(missing.to_owned()),
        };
        match table.resolve(id) {
            Ok(Lookup::Item(item)) => Self::item(item).unwrap_or_else(|| {
                why(format!(
                    "its value in {RESOURCES_PB} is neither text nor a number"
                ))
            }),
            Ok(Lookup::NoEntry(x)) => why(format!("{RESOURCES_PB} has no entry {x:#010x}")),
            Ok(Lookup::NoDefault(x)) => why(format!(
                "{RESOURCES_PB} has values for {x:#010x} only in configurations other than the \
                 default (a translation, say), and aapt prints none of those as the label"
            )),
            Ok(Lookup::NotAnItem(x)) => why(format!(
                "{RESOURCES_PB} gives {x:#010x} no single value (a style, array or plural)"
            )),
            Ok(Lookup::TooManyHops(x)) => why(format!(
                "references in {RESOURCES_PB} go on past {x:#010x} (a cycle?)"
            )),
            Err(e @ ProtoError::WorkSpent) => why(format!("in {RESOURCES_PB}, {e}")),
            Err(e) => why(format!("{RESOURCES_PB} is damaged: {e}")),
        }
    }
}

impl Attributes for ProtoElement<'_, '_, '_, '_> {
    fn android(&self, id: u32, name: &str) -> Option<Resolution> {
        let attrs = &self.element.attributes;
        let a = attrs.iter().find(|a| a.resource_id == id).or_else(|| {
            attrs
                .iter()
                .find(|a| a.resource_id == 0 && a.name == name && a.namespace_uri == ANDROID_NS)
        })?;
        Some(self.resolve(a))
    }

    fn plain(&self, name: &str) -> Option<Resolution> {
        let a = self
            .element
            .attributes
            .iter()
            .find(|a| a.namespace_uri.is_empty() && a.name == name)?;
        Some(self.resolve(a))
    }
}

/// `aapt`'s `getComponentName`: ".Foo" and "Foo" are relative to the package, "a.Foo" is not.
fn component_name(package: Option<&str>, name: &str) -> String {
    let pkg = package.unwrap_or("");
    match name.find('.') {
        Some(0) => format!("{pkg}{name}"),
        None => format!("{pkg}.{name}"),
        Some(_) => name.to_owned(),
    }
}

/// The activity being walked, for launcher detection.
#[derive(Default)]
struct Activity {
    name: Option<String>,
    main: bool,
    launcher: bool,
}

/// A depth-first walk over a manifest's elements, in document order, filling a [`Manifest`]:
/// which element at which depth is read the way `aapt dump badging` reads it.
struct Walk<'t> {
    m: Manifest,
    path: Vec<&'t str>,
    activity: Option<Activity>,
    launchables: Vec<String>,
}

impl<'t> Walk<'t> {
    fn new(abis: Vec<String>) -> Self {
        Walk {
            m: Manifest {
                abis,
                ..Manifest::default()
            },
            path: Vec::new(),
            activity: None,
            launchables: Vec::new(),
        }
    }

    fn start(&mut self, tag: &'t str, at: &impl Attributes) {
        let m = &mut self.m;
        self.path.push(tag);
        match (self.path.len(), tag) {
            (1, "manifest") => {
                m.package = string(at.plain("package"));
                m.version_code = int(at.android(attr::VERSION_CODE, "versionCode"));
                m.version_name = string(at.android(attr::VERSION_NAME, "versionName"));
                m.compile_sdk = int(at.android(attr::COMPILE_SDK, "compileSdkVersion"));
            }
            (2, "uses-sdk") => {
                m.min_sdk = int(at.android(attr::MIN_SDK, "minSdkVersion"));
                m.target_sdk = int(at.android(attr::TARGET_SDK, "targetSdkVersion"));
            }
            (2, "uses-permission") => {
                if let Some(p) = string(at.android(attr::NAME, "name")) {
                    m.permissions.push(p);
                }
            }
            (2, "instrumentation") if m.instrumentation_target.is_none() => {
                m.instrumentation_target =
                    string(at.android(attr::TARGET_PACKAGE, "targetPackage"));
            }
            (2, "application") => {
                m.debuggable = flag(at.android(attr::DEBUGGABLE, "debuggable"));
                m.test_only = flag(at.android(attr::TEST_ONLY, "testOnly"));
                match at.android(attr::LABEL, "label") {
                    Some(Resolution::Text(s)) if !s.is_empty() => m.label = Some(s),
                    Some(Resolution::Unresolved(id, why)) => m.notes.push(format!(
                        "application label @{id:#010x} could not be resolved: {why}"
                    )),
                    _ => {}
                }
            }
            (3, "activity" | "activity-alias") => {
                self.activity = Some(Activity {
                    name: string(at.android(attr::NAME, "name")),
                    ..Activity::default()
                });
            }
            (5, "action" | "category") if self.path.get(3) == Some(&"intent-filter") => {
                if let Some(act) = self.activity.as_mut() {
                    match (tag, string(at.android(attr::NAME, "name")).as_deref()) {
                        ("action", Some("android.intent.action.MAIN")) => act.main = true,
                        ("category", Some("android.intent.category.LAUNCHER")) => {
                            act.launcher = true
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    fn end(&mut self) {
        if self.path.len() == 3
            && let Some(Activity {
                name: Some(n),
                main: true,
                launcher: true,
            }) = self.activity.take()
        {
            self.launchables
                .push(component_name(self.m.package.as_deref(), &n));
        }
        self.path.pop();
    }

    fn finish(mut self) -> Manifest {
        self.m.launchable_activity = self.launchables.into_iter().next();
        self.m
    }

    /// Walks a protobuf XML element and its descendants. Recursion is bounded by the decoder's
    /// own depth limit ([`super::proto_xml::MAX_DEPTH`]).
    fn element(&mut self, e: &'t XmlElement<'t>, resources: BundleResources<'_, '_>) {
        self.start(
            e.name,
            &ProtoElement {
                element: e,
                resources,
            },
        );
        for child in &e.children {
            if let XmlNode::Element(c) = child {
                self.element(c, resources);
            }
        }
        self.end();
    }
}

impl Manifest {
    /// Reads an APK's binary XML manifest, resolving references through `table` when given.
    pub fn read(doc: &Document, table: Option<&ResourceTable<'_>>, abis: Vec<String>) -> Manifest {
        let reader = Reader { doc, table };
        let mut walk = Walk::new(abis);
        for node in &doc.nodes {
            match node {
                Node::StartElement {
                    name, attributes, ..
                } => walk.start(
                    doc.str(*name),
                    &AxmlElement {
                        reader: &reader,
                        attrs: attributes,
                    },
                ),
                Node::EndElement => walk.end(),
                _ => {}
            }
        }
        walk.finish()
    }

    /// Reads an app bundle's protobuf XML manifest (its root element), with the same rules as
    /// [`Manifest::read`] so APKs and bundles report alike: resource references (a label
    /// `@string/app_name`, say) are resolved through the bundle's resource table for the default
    /// configuration, and a label that cannot be is noted with the reason.
    pub fn read_proto(
        root: &XmlElement<'_>,
        resources: BundleResources<'_, '_>,
        abis: Vec<String>,
    ) -> Manifest {
        let mut walk = Walk::new(abis);
        walk.element(root, resources);
        walk.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names_follow_aapt() {
        assert_eq!(component_name(Some("a.b"), ".Main"), "a.b.Main");
        assert_eq!(component_name(Some("a.b"), "Main"), "a.b.Main");
        assert_eq!(component_name(Some("a.b"), "x.y.Main"), "x.y.Main");
    }

    #[test]
    fn reads_the_tiny_manifest() {
        let doc = Document::parse(&crate::axml::tests::tiny_manifest()).unwrap();
        let m = Manifest::read(&doc, None, vec![]);
        assert_eq!(m.package.as_deref(), Some("p"));
        assert_eq!(m.version_code, Some(7));
        assert_eq!(m.min_sdk, None);
    }

    #[test]
    fn a_version_code_past_i32_reads_as_aapt_prints_it() {
        // Android and aapt read versionCode as a signed 32-bit int: 0x80000001 is -2147483647,
        // not 2^31 + 1 (aapt's badging then prints versionCode='', as for any value below 1).
        let mut bytes = crate::axml::tests::tiny_manifest();
        let seven = [8, 0, 0, 0x10, 7, 0, 0, 0];
        let at = bytes.windows(8).position(|w| w == seven).unwrap();
        bytes[at + 4..at + 8].copy_from_slice(&0x8000_0001u32.to_le_bytes());
        let doc = Document::parse(&bytes).unwrap();
        let m = Manifest::read(&doc, None, vec![]);
        assert_eq!(m.version_code, Some(-2_147_483_647));
    }

    #[test]
    fn reads_the_tiny_proto_manifest() {
        let bytes = crate::proto_xml::tests::tiny_manifest();
        let root = crate::proto_xml::parse(&bytes).unwrap();
        let m = Manifest::read_proto(&root, Err("unused"), vec![]);
        assert_eq!(m.package.as_deref(), Some("p"));
        assert_eq!(m.version_code, Some(7));
        assert_eq!(m.version_name.as_deref(), Some("1.0"));
        // Written as text without a compiled item: read from the text.
        assert_eq!(m.min_sdk, Some(21));
        assert_eq!(m.target_sdk, None);
    }

    /// A bundle manifest whose application has a label `@0x7f0b0000` and is debuggable.
    fn labelled_manifest() -> Vec<u8> {
        use crate::proto_xml::tests::{attr, bytes, element, uint};
        let label = attr(
            ANDROID_NS,
            "label",
            "@string/app_name",
            attr::LABEL,
            &bytes(1, &uint(2, 0x7f0b_0000)),
        );
        let debuggable = attr(
            ANDROID_NS,
            "debuggable",
            "true",
            attr::DEBUGGABLE,
            &bytes(7, &uint(8, 1)),
        );
        let app = element("application", &[label, debuggable].concat());
        element("manifest", &bytes(5, &app))
    }

    #[test]
    fn a_proto_label_reference_is_read_from_the_resource_table() {
        use crate::proto_table::tests::{entry, string_value, table};
        let doc = labelled_manifest();
        let root = crate::proto_xml::parse(&doc).unwrap();
        let bytes = table(
            0x0b,
            &[entry(
                0,
                "app_name",
                &[
                    string_value(&crate::proto_xml::tests::bytes(3, b"fr"), "Boutique"),
                    string_value(&[], "Shop"),
                ],
            )],
        );
        let t = proto_table::ResourceTable::parse(&bytes).unwrap();
        let m = Manifest::read_proto(&root, Ok(&t), vec![]);
        assert_eq!(m.label.as_deref(), Some("Shop"));
        assert!(m.debuggable);
        assert!(m.notes.is_empty(), "{:?}", m.notes);
    }

    #[test]
    fn a_proto_label_that_cannot_be_resolved_is_noted_with_the_reason() {
        use crate::proto_table::tests::{entry, string_value, table};
        let doc = labelled_manifest();
        let root = crate::proto_xml::parse(&doc).unwrap();
        let note = |resources| {
            let m = Manifest::read_proto(&root, resources, vec![]);
            assert_eq!(m.label, None);
            assert!(m.debuggable);
            assert_eq!(m.notes.len(), 1, "{:?}", m.notes);
            m.notes[0].clone()
        };
        assert_eq!(
            note(Err("the bundle has no base/resources.pb")),
            "application label @0x7f0b0000 could not be resolved: the bundle has no \
             base/resources.pb"
        );
        let other = table(0x0b, &[entry(1, "other", &[string_value(&[], "x")])]);
        let t = proto_table::ResourceTable::parse(&other).unwrap();
        assert_eq!(
            note(Ok(&t)),
            "application label @0x7f0b0000 could not be resolved: base/resources.pb has no entry \
             0x7f0b0000"
        );
        let fr = crate::proto_xml::tests::bytes(3, b"fr");
        let french = table(
            0x0b,
            &[entry(0, "app_name", &[string_value(&fr, "Boutique")])],
        );
        let t = proto_table::ResourceTable::parse(&french).unwrap();
        let n = note(Ok(&t));
        assert!(
            n.contains("only in configurations other than the default"),
            "{n}"
        );
    }
}
