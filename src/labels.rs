//! How a result is named, wherever it is shown: the test by its name ([`test_name`]), where it
//! ran ([`destination`], [`target_id`]), and the APK behind a target as whoever built it knows it
//! ([`Labels`]: module and variant, or file, and package). The text, the JUnit file, the GitHub
//! summary and the team's message all name results through here, so one test reads alike in
//! each. These are values that belong to no stage: `report` and `notify` are two outlets over
//! them, and `commands` prints with them. This module may import `api` (the result's shape, the
//! URL redaction) and `words`, never a stage: `select` makes the [`ApkLabel`]s, and `report`,
//! `notify` and `commands` read them.

use serde_json::Value;

use crate::api::model::{Destination, Run, RunResult};

/// An APK as people name it: package, version and the variant it was built as. What a run's
/// notification says of the APKs doksi uploaded for it; `select` makes one of each APK it picks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApkLabel {
    pub package: Option<String>,
    pub version_name: Option<String>,
    pub version_code: Option<i64>,
    pub module: Option<String>,
    pub variant: Option<String>,
    /// The file's name, for a manifest that gave no package.
    pub file: String,
    /// The target it was registered as (uploaded or from the cache); `None` until then.
    pub target_id: Option<String>,
}

/// A result's test as people know it: its name, or its id when the API gave no name.
pub fn test_name(result: &RunResult) -> &str {
    result
        .test_name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or(&result.test_id)
}

/// Where a result ran, as a person knows it: the web URL, the binary URL, the target id, or
/// "doksi" when the API sent no destination (it is optional). [`Labels::of`] names the APKs
/// this command uploaded better. A URL's query is shown [redacted](crate::api::redact_url)
/// when it carries a signature or credential (a presigned `--binary-url`): every report names
/// destinations through here.
pub fn destination(result: &RunResult) -> String {
    match &result.destination {
        None => "doksi".to_owned(),
        Some(Destination::Web { url } | Destination::Binary { url }) => {
            crate::api::redact_url(url).into_owned()
        }
        Some(Destination::Target { target_id }) => target_id.clone(),
        Some(Destination::Other(raw)) => unknown_destination(raw),
    }
}

/// The target a result ran on, when its destination names one.
pub fn target_id(result: &RunResult) -> Option<&str> {
    match result.destination.as_ref()? {
        Destination::Target { target_id } => Some(target_id),
        Destination::Other(raw) => raw.get("target_id")?.as_str(),
        Destination::Web { .. } | Destination::Binary { .. } => None,
    }
}

/// Each destination as a person knows it, the one name the text, the JUnit file's messages and
/// the GitHub summary give it (the JUnit `classname` puts it as package and class, see
/// [`Labels::classname`]): an APK this command uploaded (or found in the cache) by its module
/// and variant, or its file name, and its package (`app release (com.example.app)`); anything
/// else as [`destination`] names it. Several destinations of one run must not read alike, and
/// a target id means nothing to whoever built the APK.
#[derive(Debug, Clone, Default)]
pub struct Labels {
    by_target: std::collections::HashMap<String, String>,
    /// The JUnit `classname` of each, as [`Labels::classname`] makes it.
    class_by_target: std::collections::HashMap<String, String>,
}

impl Labels {
    pub fn new(apks: &[ApkLabel]) -> Labels {
        let built = |a: &ApkLabel| {
            let parts: Vec<&str> = [a.module.as_deref(), a.variant.as_deref()]
                .into_iter()
                .flatten()
                .collect();
            parts.join(" ")
        };
        // The name and what goes in parentheses after it, per target.
        let mut named: Vec<(&String, String, Vec<String>)> = Vec::new();
        for a in apks {
            let Some(target) = &a.target_id else { continue };
            let name = built(a);
            // Two APKs of one module and variant (ABI or density splits) by their file names.
            let shared = apks
                .iter()
                .filter(|b| b.target_id.is_some() && b.target_id != a.target_id)
                .any(|b| built(b) == name);
            let name = match name.is_empty() || shared {
                true => a.file.clone(),
                false => name,
            };
            named.push((target, name, a.package.iter().cloned().collect()));
        }
        // Two different APKs that still read alike (one file name in two folders) add their
        // target ids: a report must not merge their tests.
        let alike = |n: &(&String, String, Vec<String>)| {
            named
                .iter()
                .any(|m| m.0 != n.0 && (&m.1, &m.2) == (&n.1, &n.2))
        };
        let clashing: Vec<bool> = named.iter().map(alike).collect();
        let mut by_target = std::collections::HashMap::new();
        let mut class_by_target = std::collections::HashMap::new();
        for ((target, name, mut extra), clash) in named.into_iter().zip(clashing) {
            // The app's package is the classname's package; the module and variant (or the
            // file, without `.apk`) its class, with the target id where two read alike.
            let stem = name.strip_suffix(".apk").unwrap_or(&name);
            let class = match clash {
                true => format!("{stem} ({target})"),
                false => stem.to_owned(),
            };
            let class = match extra.first() {
                Some(package) => format!("{package}.{}", class_part(&class)),
                None => class_part(&class),
            };
            class_by_target.insert(target.clone(), crate::words::one_line(&class));
            if clash {
                extra.push(target.clone());
            }
            let label = match extra.is_empty() {
                true => name,
                false => format!("{name} ({})", extra.join(", ")),
            };
            by_target.insert(target.clone(), crate::words::one_line(&label));
        }
        Labels {
            by_target,
            class_by_target,
        }
    }

    /// The destination of `result` as a JUnit `classname`, which Jenkins splits at its last
    /// dot into a package and a class (and GitLab and GitHub's JUnit actions show whole): an
    /// APK doksi uploaded is its app's package and its module and variant
    /// (`io.appium.android.ime.wear release`), a URL its host and its path
    /// (`shop.example.com.checkout`, `/` for none), anything else its name, all with no dot
    /// past the package (`_` in its place), so Jenkins' tree shows package and class as a
    /// person would split them.
    pub fn classname(&self, result: &RunResult) -> String {
        if let Some(class) = target_id(result).and_then(|t| self.class_by_target.get(t)) {
            return class.clone();
        }
        let named = destination(result);
        let Some((_, rest)) = named.split_once("://") else {
            return class_part(&named);
        };
        let (host, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        let path = path.trim_start_matches('/');
        match path.is_empty() {
            true => format!("{host}./"),
            false => format!("{host}.{}", class_part(path)),
        }
    }

    /// The destination of `result`, by name.
    pub fn of(&self, result: &RunResult) -> String {
        target_id(result)
            .and_then(|t| self.by_target.get(t))
            .cloned()
            .unwrap_or_else(|| destination(result))
    }
}

/// The class part of a JUnit `classname`: no dot, which Jenkins would take for a package's.
fn class_part(s: &str) -> String {
    s.replace('.', "_")
}

/// A destination of a shape the docs do not show, named by whatever it holds: its web URL, else
/// `<platform>:<target_id or binary_url>`, else its platform, else "doksi".
fn unknown_destination(raw: &Value) -> String {
    let field = |key: &str| {
        raw.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(url) = field("web_url") {
        return crate::api::redact_url(url).into_owned();
    }
    let platform = field("platform");
    match (platform, field("target_id").or_else(|| field("binary_url"))) {
        (p, Some(what)) => format!(
            "{}:{}",
            p.unwrap_or("android"),
            crate::api::redact_url(what)
        ),
        (Some(p), None) => p.to_owned(),
        (None, None) => "doksi".to_owned(),
    }
}

/// The target ids the results ran on, first seen first, for a run doksi did not create here.
/// A destination of a shape the docs do not show still counts where it names a `target_id`.
pub fn target_ids(run: &Run) -> Vec<String> {
    crate::words::unique(
        run.results
            .iter()
            .filter_map(|r| target_id(r).map(str::to_owned)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::model::Status;
    use serde_json::json;

    fn result(destination: Option<Value>) -> RunResult {
        RunResult {
            result_id: "res_1".into(),
            test_id: "t_login".into(),
            test_name: Some("Login".into()),
            status: Status::Passed,
            duration_seconds: 1.0,
            url: None,
            destination: destination.map(Destination::from_value),
        }
    }

    #[test]
    fn destinations_read_as_url_or_platform_and_id() {
        let at = |d| destination(&result(d));
        assert_eq!(
            at(Some(
                json!({"platform": "web", "web_url": "https://x.example"})
            )),
            "https://x.example"
        );
        assert_eq!(
            at(Some(json!({"platform": "android", "target_id": "bin_1"}))),
            "bin_1"
        );
        assert_eq!(
            at(Some(
                json!({"platform": "android", "binary_url": "https://b.example/a.apk"})
            )),
            "https://b.example/a.apk"
        );
        assert_eq!(at(Some(json!({"platform": "ios"}))), "ios");
        assert_eq!(at(Some(json!("odd"))), "doksi");
        assert_eq!(at(None), "doksi");
    }

    #[test]
    fn uploaded_apks_are_named_by_module_variant_or_file_and_package() {
        let apk =
            |target: &str, module: Option<&str>, variant: Option<&str>, file: &str| ApkLabel {
                package: Some("com.example.app".into()),
                version_name: None,
                version_code: None,
                module: module.map(Into::into),
                variant: variant.map(Into::into),
                file: file.into(),
                target_id: Some(target.into()),
            };
        let labels = Labels::new(&[
            apk("bin_1", Some("app"), Some("release"), "app-release.apk"),
            apk(
                "bin_2",
                Some("wear"),
                Some("release"),
                "wear-x86-release.apk",
            ),
            apk(
                "bin_3",
                Some("wear"),
                Some("release"),
                "wear-arm64-release.apk",
            ),
            apk("bin_4", None, None, "found.apk"),
        ]);
        let named = |labels: &Labels, target: &str| {
            labels.of(&result(Some(
                json!({"platform": "android", "target_id": target}),
            )))
        };
        let on = |target: &str| named(&labels, target);
        assert_eq!(on("bin_1"), "app release (com.example.app)");
        assert_eq!(on("bin_2"), "wear-x86-release.apk (com.example.app)");
        assert_eq!(on("bin_3"), "wear-arm64-release.apk (com.example.app)");
        assert_eq!(on("bin_4"), "found.apk (com.example.app)");
        // One file name in two folders, two builds: told apart by their targets.
        let twins = Labels::new(&[
            apk("bin_5", None, None, "app-release.apk"),
            apk("bin_6", None, None, "app-release.apk"),
        ]);
        let twin = |target: &str| named(&twins, target);
        assert_eq!(twin("bin_5"), "app-release.apk (com.example.app, bin_5)");
        assert_eq!(twin("bin_6"), "app-release.apk (com.example.app, bin_6)");
        // A target from elsewhere, and the URLs, as the run names them.
        assert_eq!(on("bin_9"), "bin_9");
        assert_eq!(
            labels.of(&result(Some(
                json!({"platform": "web", "web_url": "https://x.example"})
            ))),
            "https://x.example"
        );
    }

    #[test]
    fn classnames_split_at_their_last_dot_into_package_and_class() {
        let apk = |target: &str, module: Option<&str>, file: &str| ApkLabel {
            package: Some("io.appium.android.ime".into()),
            version_name: None,
            version_code: None,
            module: module.map(Into::into),
            variant: module.map(|_| "release".into()),
            file: file.into(),
            target_id: Some(target.into()),
        };
        let labels = Labels::new(&[
            apk("bin_1", Some("wear"), "wear-release.apk"),
            apk("bin_2", None, "appium-unlock-2.0.0-debug.apk"),
            apk("bin_3", None, "x.apk"),
            apk("bin_4", None, "x.apk"),
        ]);
        let class = |d: Value| labels.classname(&result(Some(d)));
        let on = |t: &str| class(json!({"platform": "android", "target_id": t}));
        assert_eq!(on("bin_1"), "io.appium.android.ime.wear release");
        assert_eq!(
            on("bin_2"),
            "io.appium.android.ime.appium-unlock-2_0_0-debug"
        );
        assert_eq!(on("bin_3"), "io.appium.android.ime.x (bin_3)");
        assert_eq!(on("bin_9"), "bin_9");
        assert_eq!(
            class(json!({"platform": "web", "web_url": "https://shop.example.com/v2.1/checkout"})),
            "shop.example.com.v2_1/checkout"
        );
        assert_eq!(
            class(json!({"platform": "web", "web_url": "https://shop.example.com"})),
            "shop.example.com./"
        );
        assert_eq!(
            class(json!({"platform": "android",
                "binary_url": "https://b.example/app.apk?X-Amz-Signature=s.e.c"})),
            "b.example.app_apk?…(redacted)"
        );
        assert_eq!(labels.classname(&result(None)), "doksi");
    }

    #[test]
    fn a_blank_name_falls_back_to_the_id() {
        let mut r = result(None);
        assert_eq!(test_name(&r), "Login");
        r.test_name = Some(" ".into());
        assert_eq!(test_name(&r), "t_login");
    }
}
