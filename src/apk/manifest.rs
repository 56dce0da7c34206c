//! The typed facts doksi needs from a decoded manifest, read the way `aapt dump badging` reads
//! them (which element at which depth, attributes by framework resource id first, references
//! resolved through the resource table), so our output can be checked line by line against it.

use serde::Serialize;

use super::arsc::{Resolved, ResourceTable};
use super::axml::{Attribute, Document, Node};
use super::chunk::Value;

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
    /// Why a field could not be read as given (an unresolvable `@string` label, say): shown to
    /// people on stderr, kept out of the JSON contract.
    #[serde(skip)]
    pub notes: Vec<String>,
}

/// Reads attributes of one element, resolving through the optional resource table.
struct Reader<'a> {
    doc: &'a Document,
    table: Option<&'a ResourceTable<'a>>,
}

/// An attribute's value after following resource references.
enum Resolution {
    Text(String),
    Typed(Value),
    Unresolved(u32),
}

impl<'a> Reader<'a> {
    fn find<'e>(&self, attrs: &'e [Attribute], id: u32, name: &str) -> Option<&'e Attribute> {
        let doc = self.doc;
        attrs
            .iter()
            .find(|a| doc.resource_id(a.name) == Some(id))
            .or_else(|| {
                attrs.iter().find(|a| {
                    doc.resource_id(a.name).is_none()
                        && doc.str(a.name) == name
                        && doc.opt_str(a.ns) == Some(ANDROID_NS)
                })
            })
    }

    fn plain<'e>(&self, attrs: &'e [Attribute], name: &str) -> Option<&'e Attribute> {
        attrs
            .iter()
            .find(|a| a.ns.is_none() && self.doc.str(a.name) == name)
    }

    fn resolve(&self, a: &Attribute) -> Resolution {
        let v = a.value;
        if v.kind == Value::STRING {
            return Resolution::Text(self.doc.str(v.data).to_owned());
        }
        if v.is_reference() {
            return match self.table.map(|t| t.resolve(v.data)) {
                Some(Ok(Some(Resolved::String(s)))) => Resolution::Text(s),
                Some(Ok(Some(Resolved::Value(v)))) => Resolution::Typed(v),
                _ => Resolution::Unresolved(v.data),
            };
        }
        if v.kind == Value::NULL
            && let Some(raw) = self.doc.opt_str(a.raw)
        {
            return Resolution::Text(raw.to_owned());
        }
        Resolution::Typed(v)
    }

    fn string(&self, a: Option<&Attribute>) -> Option<String> {
        match self.resolve(a?) {
            Resolution::Text(s) => Some(s),
            _ => None,
        }
    }

    fn int(&self, a: Option<&Attribute>) -> Option<i64> {
        match self.resolve(a?) {
            Resolution::Typed(v) if v.is_int() => Some(i64::from(v.data as i32)),
            Resolution::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn flag(&self, a: Option<&Attribute>) -> bool {
        match a.map(|a| self.resolve(a)) {
            Some(Resolution::Typed(v)) => v.is_int() && v.data != 0,
            Some(Resolution::Text(s)) => s == "true",
            _ => false,
        }
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

impl Manifest {
    pub fn read(doc: &Document, table: Option<&ResourceTable<'_>>, abis: Vec<String>) -> Manifest {
        let r = Reader { doc, table };
        let mut m = Manifest {
            abis,
            ..Manifest::default()
        };
        let mut path: Vec<&str> = Vec::new();
        let mut activity: Option<Activity> = None;
        let mut launchables: Vec<String> = Vec::new();
        for node in &doc.nodes {
            match node {
                Node::StartElement {
                    name,
                    attributes: at,
                    ..
                } => {
                    let tag = doc.str(*name);
                    path.push(tag);
                    match (path.len(), tag) {
                        (1, "manifest") => {
                            m.package = r.string(r.plain(at, "package"));
                            m.version_code = r.int(r.find(at, attr::VERSION_CODE, "versionCode"));
                            m.version_name =
                                r.string(r.find(at, attr::VERSION_NAME, "versionName"));
                            m.compile_sdk =
                                r.int(r.find(at, attr::COMPILE_SDK, "compileSdkVersion"));
                        }
                        (2, "uses-sdk") => {
                            m.min_sdk = r.int(r.find(at, attr::MIN_SDK, "minSdkVersion"));
                            m.target_sdk = r.int(r.find(at, attr::TARGET_SDK, "targetSdkVersion"));
                        }
                        (2, "uses-permission") => {
                            if let Some(p) = r.string(r.find(at, attr::NAME, "name")) {
                                m.permissions.push(p);
                            }
                        }
                        (2, "instrumentation") if m.instrumentation_target.is_none() => {
                            m.instrumentation_target =
                                r.string(r.find(at, attr::TARGET_PACKAGE, "targetPackage"));
                        }
                        (2, "application") => {
                            m.debuggable = r.flag(r.find(at, attr::DEBUGGABLE, "debuggable"));
                            m.test_only = r.flag(r.find(at, attr::TEST_ONLY, "testOnly"));
                            if let Some(a) = r.find(at, attr::LABEL, "label") {
                                match r.resolve(a) {
                                    Resolution::Text(s) if !s.is_empty() => m.label = Some(s),
                                    Resolution::Unresolved(id) => m.notes.push(format!(
                                        "application label @{id:#010x} could not be resolved: {}",
                                        if table.is_none() {
                                            "the APK has no readable resources.arsc"
                                        } else {
                                            "resources.arsc has no default-locale string for it"
                                        }
                                    )),
                                    _ => {}
                                }
                            }
                        }
                        (3, "activity" | "activity-alias") => {
                            let name = r.string(r.find(at, attr::NAME, "name"));
                            activity = Some(Activity {
                                name,
                                ..Activity::default()
                            });
                        }
                        (5, "action" | "category") if path.get(3) == Some(&"intent-filter") => {
                            if let Some(act) = activity.as_mut() {
                                match (tag, r.string(r.find(at, attr::NAME, "name")).as_deref()) {
                                    ("action", Some("android.intent.action.MAIN")) => {
                                        act.main = true
                                    }
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
                Node::EndElement => {
                    if path.len() == 3
                        && let Some(Activity {
                            name: Some(n),
                            main: true,
                            launcher: true,
                        }) = activity.take()
                    {
                        launchables.push(component_name(m.package.as_deref(), &n));
                    }
                    path.pop();
                }
                _ => {}
            }
        }
        m.launchable_activity = launchables.into_iter().next();
        m
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
        let doc = Document::parse(&crate::apk::axml::tests::tiny_manifest()).unwrap();
        let m = Manifest::read(&doc, None, vec![]);
        assert_eq!(m.package.as_deref(), Some("p"));
        assert_eq!(m.version_code, Some(7));
        assert_eq!(m.min_sdk, None);
    }
}
