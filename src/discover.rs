//! Finding the APKs a Gradle build produced. What the Android Gradle Plugin writes beside them
//! (`output-metadata.json`) is preferred; where there is none (old AGP, hand-copied files) the
//! folder layout `<module>/build/outputs/apk/[<flavor>/]<buildType>/` names the variant. Nothing is
//! guessed from modification times or file names alone. A metadata file is believed only when
//! its version is one doksi knows, and only about files inside its own folder.
//!
//! App Bundle builds leave two more kinds of output: the `.aab` itself under
//! `<module>/build/outputs/bundle/<variant>/`, which is not an APK and is only reported (as
//! [`FoundBundle`]), and the universal APK AGP's `package<Variant>UniversalApk` task makes from
//! it under `<module>/build/outputs/apk_from_bundle/<variant>/`, an APK like any other but
//! marked [`FoundApk::from_bundle`] so that [`Selection::apply`] takes one of the two per variant.
//!
//! The walk prunes everything that cannot hold outputs: hidden folders (`.git`, `.gradle`),
//! `node_modules`, and inside a `build` folder every child but `outputs/apk`, `outputs/bundle`
//! and `outputs/apk_from_bundle`, so a monorepo with half a million intermediate files costs a
//! few directory reads per module.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use walkdir::WalkDir;

#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{0}: no such file or directory")]
    Missing(PathBuf),
    #[error("{0} is not an .apk file or a folder")]
    NotApk(PathBuf),
}

/// How AGP classed an output (`elements[].type`); `Single` when nothing says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutputKind {
    Single,
    OneOfMany,
    Universal,
}

/// One APK found, with what its location and metadata say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundApk {
    pub path: PathBuf,
    /// The module folder relative to the project root, `/`-separated ("app", "feature/login").
    pub module: Option<String>,
    /// The variant ("release", "freeRelease", "debugAndroidTest").
    pub variant: Option<String>,
    /// The ABI filter of a split APK; `None` for universal and single APKs.
    pub abi: Option<String>,
    pub kind: OutputKind,
    /// An instrumentation APK by its location or metadata (the manifest may say so too).
    pub test: bool,
    /// Named on the command line (or in a matrix) rather than found in a folder: the module and
    /// variant filters, meant for searching, do not drop a file someone picked by name.
    pub named: bool,
    /// The universal APK built from an App Bundle (`build/outputs/apk_from_bundle/<variant>/`),
    /// not the variant's regular APK (`build/outputs/apk/`).
    pub from_bundle: bool,
}

/// An Android App Bundle (`.aab`) found under `<module>/build/outputs/bundle/<variant>/`: not
/// an APK, so never in [`Discovery::apks`], but worth naming when no APK was built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundBundle {
    pub path: PathBuf,
    /// The module folder relative to the project root, as [`FoundApk::module`].
    pub module: Option<String>,
    /// The variant: the name of the folder the bundle is in ("freeRelease").
    pub variant: Option<String>,
}

#[derive(Debug, Default)]
pub struct Discovery {
    pub apks: Vec<FoundApk>,
    /// App Bundles the walk passed; never uploaded from here.
    pub bundles: Vec<FoundBundle>,
    pub warnings: Vec<String>,
    /// The folders and files that were searched, for "nothing found" messages.
    pub searched: Vec<PathBuf>,
}

/// The `output-metadata.json` versions doksi reads: 1 (AGP 4.1, which put a task name where the
/// variant belongs), 2 and 3. Their fields are the same where doksi looks; a version outside
/// these may move or change them, so its file is not trusted.
const METADATA_VERSIONS: std::ops::RangeInclusive<u64> = 1..=3;

/// `output-metadata.json`, versions in [`METADATA_VERSIONS`]; unknown fields are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Metadata {
    #[serde(default)]
    version: Option<u64>,
    #[serde(default)]
    artifact_type: Option<ArtifactType>,
    #[serde(default)]
    variant_name: Option<String>,
    #[serde(default)]
    elements: Vec<Element>,
}

#[derive(Debug, Deserialize)]
struct ArtifactType {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Element {
    #[serde(rename = "type", default)]
    kind: Option<OutputKind>,
    #[serde(default)]
    filters: Vec<Filter>,
    output_file: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    filter_type: String,
    value: String,
}

/// Searches each path: a folder is walked as a Gradle project, a file must be an APK.
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, DiscoverError> {
    let mut found = Discovery::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|_| DiscoverError::Missing(path.clone()))?;
        found.searched.push(path.clone());
        if meta.is_dir() {
            match artifact_metadata(path) {
                Some(metadata) => read_artifact_folder(path, &metadata, &mut found),
                None => walk_project(path, &mut found),
            }
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("apk"))
        {
            let layout = Layout::of(path, None);
            found.apks.push(FoundApk {
                path: path.clone(),
                module: layout.as_ref().and_then(|l| l.module.clone()),
                variant: layout.as_ref().and_then(|l| l.variant.clone()),
                abi: None,
                kind: OutputKind::Single,
                test: layout.as_ref().is_some_and(|l| l.test) || is_test_file_name(path),
                named: true,
                from_bundle: layout.is_some_and(|l| l.output == Output::ApkFromBundle),
            });
        } else {
            return Err(DiscoverError::NotApk(path.clone()));
        }
    }
    // The same file reached twice (a folder and a file inside it) is listed once.
    let mut seen = HashSet::new();
    let mut first =
        |p: &Path| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned()));
    found.apks.retain(|a| first(&a.path));
    found.bundles.retain(|b| first(&b.path));
    Ok(found)
}

impl Discovery {
    /// What to do when App Bundles were built but no APK: the bundles found, the Gradle task that
    /// makes a universal APK of each variant and where it writes it, or bundletool. `None` when
    /// no bundle was found.
    pub fn bundle_hint(&self) -> Option<String> {
        if self.bundles.is_empty() {
            return None;
        }
        let paths: Vec<String> = self
            .bundles
            .iter()
            .map(|b| b.path.display().to_string())
            .collect();
        let mut tasks = Vec::new();
        let mut folders = Vec::new();
        for b in &self.bundles {
            let Some(variant) = &b.variant else { continue };
            let task = format!("package{}UniversalApk", capitalize(variant));
            if !tasks.contains(&task) {
                tasks.push(task);
            }
            // `<module>/build/outputs/bundle/<variant>/x.aab` → `<module>/build/outputs/apk_from_bundle/<variant>/`
            if let Some(outputs) = b
                .path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::parent)
            {
                let folder = format!(
                    "{}/",
                    outputs.join("apk_from_bundle").join(variant).display()
                );
                if !folders.contains(&folder) {
                    folders.push(folder);
                }
            }
        }
        let build = match tasks.as_slice() {
            [] => "build a universal APK with ./gradlew package<Variant>UniversalApk".to_owned(),
            [task] => format!("build a universal APK with ./gradlew {task}"),
            _ => format!("build universal APKs with ./gradlew {}", tasks.join(" ")),
        };
        let written = match folders.is_empty() {
            true => String::new(),
            false => format!(" (written to {})", folders.join(", ")),
        };
        Some(format!(
            "found App Bundles but no APKs: {}; {build}{written}, or name the .aab with bundletool on PATH",
            paths.join(", ")
        ))
    }
}

/// The `output-metadata.json` of a folder named on the command line that is itself an APK output
/// folder lying outside `build/outputs/` (AGP's `SingleArtifact.APK` folder under a custom
/// `buildDir`, Flutter's `build/app/outputs/...`, a copied artifact): the walk, which only reads
/// `build/outputs/`, would find nothing there. `None` for any other folder, so a project or a
/// folder inside `build/outputs/` is walked as ever.
fn artifact_metadata(dir: &Path) -> Option<PathBuf> {
    let metadata = dir.join("output-metadata.json");
    if !metadata.is_file() {
        return None;
    }
    // Canonical, so that `.` inside `build/outputs/apk/release` is seen to be there.
    let resolved = std::fs::canonicalize(&metadata).ok()?;
    output_of(&resolved).is_none().then_some(metadata)
}

/// An APK output folder named as such (see [`artifact_metadata`]): its metadata names the APKs,
/// their splits and the variant, and they count as named, as an APK file on the command line
/// does: no folder layout says their module, so `--module` and `--variant` do not drop them
/// (`--abi` still picks among their splits). Metadata doksi cannot trust is a warning, and the
/// folder's own `*.apk` files are taken instead.
fn read_artifact_folder(dir: &Path, metadata: &Path, found: &mut Discovery) {
    let apks = match read_metadata(metadata, dir) {
        Ok((apks, warnings)) => {
            found.warnings.extend(warnings);
            apks
        }
        Err(why) => {
            found.warnings.push(format!(
                "{}: {why}; taking the folder's .apk files as they are",
                metadata.display()
            ));
            let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_file() && has_extension(&p.to_string_lossy(), "apk"))
                .collect();
            files.sort();
            files
                .into_iter()
                .map(|path| FoundApk {
                    test: is_test_file_name(&path),
                    path,
                    module: None,
                    variant: None,
                    abi: None,
                    kind: OutputKind::Single,
                    named: true,
                    from_bundle: false,
                })
                .collect()
        }
    };
    found
        .apks
        .extend(apks.into_iter().map(|a| FoundApk { named: true, ..a }));
}

/// Folders that never hold build outputs, at any depth.
fn skipped(name: &str) -> bool {
    name.starts_with('.') || name == "node_modules"
}

fn walk_project(root: &Path, found: &mut Discovery) {
    // Per output folder: its APK files and its metadata file, if any.
    let mut dirs: BTreeMap<PathBuf, (Vec<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    let walker = WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    let walker = walker.filter_entry(|e| {
        if e.depth() == 0 || !e.file_type().is_dir() {
            return true;
        }
        let name = e.file_name().to_string_lossy();
        if skipped(&name) {
            return false;
        }
        // Inside `build`, only `build/outputs/{apk,bundle,apk_from_bundle}/**` can hold what we want.
        let parent = e
            .path()
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy());
        let grand = e
            .path()
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name);
        match parent.as_deref() {
            Some("build") => name == "outputs",
            Some("outputs") if grand.is_some_and(|g| g == "build") => {
                Output::from_folder(&name).is_some()
            }
            _ => true,
        }
    });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            // Symlink loops and unreadable folders are reported and skipped, never followed.
            Err(e) => {
                found.warnings.push(format!("skipped {e}"));
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let Some(output) = output_of(entry.path()) else {
            continue;
        };
        let Some(dir) = entry.path().parent() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy();
        if output == Output::Bundle {
            // AGP writes nothing but the `.aab` here; an APK in this folder is not a build output.
            if has_extension(&name, "aab") {
                let layout = Layout::of(entry.path(), Some(root));
                found.bundles.push(FoundBundle {
                    path: entry.path().to_owned(),
                    module: layout.as_ref().and_then(|l| l.module.clone()),
                    variant: layout.and_then(|l| l.variant),
                });
            }
            continue;
        }
        let slot = dirs.entry(dir.to_owned()).or_default();
        if name == "output-metadata.json" {
            slot.1 = Some(entry.path().to_owned());
        } else if has_extension(&name, "apk") {
            slot.0.push(entry.path().to_owned());
        }
    }
    for (dir, (files, metadata)) in dirs {
        let from_metadata = metadata.and_then(|m| match read_metadata(&m, root) {
            Ok(apks) => Some(apks),
            Err(why) => {
                found.warnings.push(format!(
                    "{}: {why}; using the folder layout instead",
                    m.display()
                ));
                None
            }
        });
        match from_metadata {
            Some((apks, warnings)) => {
                found.apks.extend(apks);
                found.warnings.extend(warnings);
            }
            None => {
                let layout = Layout::of(&dir.join("x.apk"), Some(root));
                for path in files {
                    found.apks.push(FoundApk {
                        test: layout.as_ref().is_some_and(|l| l.test) || is_test_file_name(&path),
                        named: false,
                        path,
                        module: layout.as_ref().and_then(|l| l.module.clone()),
                        variant: layout.as_ref().and_then(|l| l.variant.clone()),
                        abi: None,
                        kind: OutputKind::Single,
                        from_bundle: layout
                            .as_ref()
                            .is_some_and(|l| l.output == Output::ApkFromBundle),
                    });
                }
            }
        }
    }
}

fn has_extension(name: &str, ext: &str) -> bool {
    Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

/// Which of AGP's output folders, `build/outputs/<folder>/`, a file is under (the innermost).
fn output_of(path: &Path) -> Option<Output> {
    let names: Vec<_> = path.components().map(|c| c.as_os_str()).collect();
    names.windows(3).rev().find_map(|w| match w {
        [b, o, folder] if *b == "build" && *o == "outputs" => {
            Output::from_folder(&folder.to_string_lossy())
        }
        _ => None,
    })
}

/// The folders under `build/outputs/` that doksi reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// `apk/[androidTest/][<flavor>/]<buildType>/`: the regular APKs.
    Apk,
    /// `apk_from_bundle/<variant>/`: the universal APK made from the bundle.
    ApkFromBundle,
    /// `bundle/<variant>/`: the `.aab`.
    Bundle,
}

impl Output {
    fn from_folder(name: &str) -> Option<Output> {
        match name {
            "apk" => Some(Output::Apk),
            "apk_from_bundle" => Some(Output::ApkFromBundle),
            "bundle" => Some(Output::Bundle),
            _ => None,
        }
    }
}

/// AGP names test APKs `<module>-<variant>-androidTest.apk`; combined with a location under
/// `build/outputs/apk` that is more than a file-name pattern alone.
fn is_test_file_name(path: &Path) -> bool {
    path.file_stem()
        .is_some_and(|s| s.to_string_lossy().ends_with("-androidTest"))
}

/// What the folder layout says about a file under `<module>/build/outputs/<output>/`.
#[derive(Debug)]
struct Layout {
    module: Option<String>,
    variant: Option<String>,
    test: bool,
    output: Output,
}

impl Layout {
    /// `apk_path` is a file inside an output folder; `root` the project folder, for module names.
    fn of(apk_path: &Path, root: Option<&Path>) -> Option<Layout> {
        let parts: Vec<String> = apk_path
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        let (at, output) = (0..parts.len().saturating_sub(3)).rev().find_map(|i| {
            match (parts.get(i), parts.get(i + 1), parts.get(i + 2)) {
                (Some(b), Some(o), Some(folder)) if b == "build" && o == "outputs" => {
                    Some((i, Output::from_folder(folder)?))
                }
                _ => None,
            }
        })?;
        let module_dir: PathBuf = apk_path
            .components()
            .take(component_index(apk_path, at))
            .collect();
        let module = module_name(&module_dir, root);
        let mut dirs: Vec<&str> = parts
            .get(at + 3..parts.len() - 1)
            .unwrap_or_default()
            .iter()
            .map(String::as_str)
            .collect();
        let test = output == Output::Apk && dirs.first() == Some(&"androidTest");
        if test {
            dirs.remove(0);
        }
        let variant = match (output, dirs.as_slice()) {
            (_, [variant_or_build_type]) => Some((*variant_or_build_type).to_owned()),
            // Only `apk/` splits the variant into folders; the bundle folders are one level.
            (Output::Apk, [flavor, build_type]) => {
                Some(format!("{flavor}{}", capitalize(build_type)))
            }
            _ => None,
        }
        .map(|v| if test { format!("{v}AndroidTest") } else { v });
        Some(Layout {
            module,
            variant,
            test,
            output,
        })
    }
}

/// Index into `path.components()` of the `n`-th normal component.
fn component_index(path: &Path, n: usize) -> usize {
    let mut seen = 0;
    for (i, c) in path.components().enumerate() {
        if matches!(c, Component::Normal(_)) {
            if seen == n {
                return i;
            }
            seen += 1;
        }
    }
    path.components().count()
}

fn module_name(module_dir: &Path, root: Option<&Path>) -> Option<String> {
    let rel = root.and_then(|r| module_dir.strip_prefix(r).ok());
    let name = match rel {
        Some(rel) if !rel.as_os_str().is_empty() => rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
        // The project root is itself the module, or there is no root: use the folder's name.
        _ => std::fs::canonicalize(module_dir)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .or_else(|| {
                module_dir
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
            })?,
    };
    Some(name)
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// Old AGP wrote task names (`assembleRelease`, `packageRelease`) where variant names belong.
fn looks_like_task(name: &str) -> bool {
    ["assemble", "package", "process", "bundle", "compile"]
        .iter()
        .any(|p| {
            name.strip_prefix(p)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
        })
}

fn read_metadata(path: &Path, root: &Path) -> Result<(Vec<FoundApk>, Vec<String>), String> {
    let text = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let meta: Metadata =
        serde_json::from_slice(&text).map_err(|e| format!("not valid output metadata: {e}"))?;
    match meta.version {
        Some(v) if METADATA_VERSIONS.contains(&v) => {}
        Some(v) => {
            return Err(format!(
                "output metadata version {v} is not one doksi reads ({} to {})",
                METADATA_VERSIONS.start(),
                METADATA_VERSIONS.end()
            ));
        }
        None => return Err("output metadata names no version".to_owned()),
    }
    if let Some(t) = &meta.artifact_type
        && t.kind != "APK"
    {
        return Err(format!("describes {} outputs, not APKs", t.kind));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let layout = Layout::of(path, Some(root));
    let meta_variant = meta
        .variant_name
        .filter(|v| !v.is_empty() && !looks_like_task(v));
    let variant = layout
        .as_ref()
        .and_then(|l| l.variant.clone())
        .or(meta_variant);
    let test = layout.as_ref().is_some_and(|l| l.test)
        || variant
            .as_deref()
            .is_some_and(|v| v.ends_with("AndroidTest"));
    let mut apks = Vec::new();
    let mut warnings = Vec::new();
    for el in meta.elements {
        if !stays_inside(Path::new(&el.output_file)) {
            warnings.push(format!(
                "{} lists outputFile {:?}, which is outside its folder; skipped",
                path.display(),
                el.output_file
            ));
            continue;
        }
        let apk = dir.join(&el.output_file);
        if !apk.is_file() {
            warnings.push(format!(
                "{} lists {}, which does not exist (stale build output?)",
                path.display(),
                apk.display()
            ));
            continue;
        }
        // Lexically inside, but a symlink on the way may still lead out of the folder.
        if !resolves_inside(&apk, dir) {
            warnings.push(format!(
                "{} lists outputFile {:?}, which resolves outside its folder through a symlink; skipped",
                path.display(),
                el.output_file
            ));
            continue;
        }
        let abi = el
            .filters
            .iter()
            .find(|f| f.filter_type == "ABI")
            .map(|f| f.value.clone());
        apks.push(FoundApk {
            test: test || is_test_file_name(&apk),
            named: false,
            path: apk,
            module: layout.as_ref().and_then(|l| l.module.clone()),
            variant: variant.clone(),
            abi,
            kind: el.kind.unwrap_or(OutputKind::Single),
            from_bundle: layout
                .as_ref()
                .is_some_and(|l| l.output == Output::ApkFromBundle),
        });
    }
    Ok((apks, warnings))
}

/// Whether the relative path `file` stays within the folder it is joined to, by its components
/// alone: AGP writes bare file names, so an absolute path or a `..` that climbs out of the folder
/// is a metadata file written by something else, pointing at files it has no business naming.
fn stays_inside(file: &Path) -> bool {
    let mut depth = 0usize;
    for c in file.components() {
        match c {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

/// Whether the existing file `apk` is, with every symlink resolved, inside `dir`.
fn resolves_inside(apk: &Path, dir: &Path) -> bool {
    match (std::fs::canonicalize(apk), std::fs::canonicalize(dir)) {
        (Ok(apk), Ok(dir)) => apk.starts_with(dir),
        _ => false,
    }
}

/// Which APKs to keep (the `--variant`, `--module`, `--abi`, `--include-tests`,
/// `--all-variants` and `--from-bundle` flags), and what they are for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub variant: Option<String>,
    pub module: Option<String>,
    pub abi: Option<String>,
    pub include_tests: bool,
    /// Several variants of one module may be taken at once (`--all-variants`).
    pub all_variants: bool,
    /// Where a variant has both, take the universal APK built from its bundle rather than its
    /// regular APK (`--from-bundle`); either way a variant with only one of them gets that one.
    pub from_bundle: bool,
    /// What the APKs are for: a run's destinations take apps only, one variant per module.
    pub purpose: Purpose,
}

/// What the selected APKs will be used for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Purpose {
    /// Listing, inspecting, uploading: any APK.
    #[default]
    Any,
    /// The destinations of a run: apps, not instrumentation APKs, which test another app.
    Destinations,
}

/// Whether `want` names `have` the way Gradle's task names do: the whole variant
/// (`freeRelease`), a build type (`release` → every `*Release`), or a flavor (`free` → `freeDebug`
/// and `freeRelease`; `prod` → `freeProdRelease`). Case is ignored; a name is matched as whole
/// camel-case words, so `rel` matches nothing.
pub fn variant_matches(want: &str, have: &str) -> bool {
    if have.eq_ignore_ascii_case(want) {
        return true;
    }
    let words = |s: &str| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in s.chars() {
            match out.last_mut() {
                Some(w) if !c.is_ascii_uppercase() => w.push(c.to_ascii_lowercase()),
                _ => out.push(c.to_ascii_lowercase().to_string()),
            }
        }
        out
    };
    let (want, have) = (words(want), words(have));
    !want.is_empty() && have.windows(want.len()).any(|w| w == want.as_slice())
}

impl Selection {
    fn module_matches(&self, module: Option<&str>) -> bool {
        let Some(want) = &self.module else {
            return true;
        };
        let Some(have) = module else { return false };
        let want = want.trim_start_matches(':').replace(':', "/");
        have == want || have.rsplit('/').next() == Some(want.as_str())
    }

    fn variant_matches(&self, variant: Option<&str>) -> bool {
        let Some(want) = &self.variant else {
            return true;
        };
        let Some(have) = variant else { return false };
        variant_matches(want, have)
    }

    /// Whether `a`'s module is the one `--module` names.
    pub fn by_location_module(&self, a: &FoundApk) -> bool {
        self.module_matches(a.module.as_deref())
    }

    fn location_matches(&self, a: &FoundApk) -> bool {
        a.named
            || (self.module_matches(a.module.as_deref())
                && self.variant_matches(a.variant.as_deref()))
    }

    /// The APKs whose module and variant match, before any manifest is read: the cheap cut, so
    /// a damaged APK in a module nobody asked for stops nothing.
    pub fn by_location(&self, apks: Vec<FoundApk>) -> Vec<FoundApk> {
        let kept: Vec<FoundApk> = apks
            .into_iter()
            .filter(|a| self.location_matches(a))
            .collect();
        // In a module, a variant named in full wins over longer ones that contain it
        // (`freeRelease` over `freeReleaseStaging`), as its `assembleFreeRelease` builds only
        // the one; another module's `release` does not stop `app`'s `*Release` builds.
        let Some(want) = &self.variant else {
            return kept;
        };
        let exact = |a: &FoundApk| {
            a.variant.as_deref().is_some_and(|v| {
                v.eq_ignore_ascii_case(want)
                    || v.eq_ignore_ascii_case(&format!("{want}AndroidTest"))
            })
        };
        let exact_in: HashSet<Option<String>> = kept
            .iter()
            .filter(|a| !a.named && exact(a))
            .map(|a| a.module.clone())
            .collect();
        kept.into_iter()
            .filter(|a| a.named || exact(a) || !exact_in.contains(&a.module))
            .collect()
    }

    /// Keeps the APKs that match. `instrumentation` says, per APK, whether its manifest has
    /// `<instrumentation>`. Of a variant built both ways, the regular APKs are kept and the one
    /// from its bundle dropped, or the other way round with `from_bundle`. Where splits exist,
    /// the universal APK is kept unless `abi` is set, in which case that ABI's split is kept (or
    /// the universal APK when there is no such split).
    pub fn apply(
        &self,
        apks: Vec<FoundApk>,
        instrumentation: impl Fn(&FoundApk) -> bool,
    ) -> Vec<FoundApk> {
        let matching: Vec<FoundApk> = apks
            .into_iter()
            .filter(|a| self.location_matches(a))
            .filter(|a| self.include_tests || !(a.test || instrumentation(a)))
            .collect();
        let kept = self.one_build_per_variant(matching);
        // Group split outputs by (module, variant, folder) and pick within each group.
        let group = |a: &FoundApk| {
            (
                a.module.clone(),
                a.variant.clone(),
                a.path.parent().map(Path::to_owned),
            )
        };
        let mut out = Vec::new();
        for a in &kept {
            match a.kind {
                OutputKind::Single => out.push(a.clone()),
                OutputKind::Universal | OutputKind::OneOfMany => {
                    let siblings: Vec<&FoundApk> = kept
                        .iter()
                        .filter(|b| b.kind != OutputKind::Single && group(b) == group(a))
                        .collect();
                    let universal = siblings.iter().any(|b| b.kind == OutputKind::Universal);
                    let split_for_abi = self
                        .abi
                        .as_ref()
                        .is_some_and(|want| siblings.iter().any(|b| b.abi.as_ref() == Some(want)));
                    let keep = match (&self.abi, a.kind) {
                        (Some(want), OutputKind::OneOfMany) => a.abi.as_ref() == Some(want),
                        (Some(_), _) => !split_for_abi,
                        (None, OutputKind::Universal) => true,
                        // No universal APK was built: every split is a candidate.
                        (None, _) => !universal,
                    };
                    if keep {
                        out.push(a.clone());
                    }
                }
            }
        }
        out
    }

    /// Of each module and variant found both under `apk/` and under `apk_from_bundle/`, only the
    /// APKs of the preferred kind. An APK named by path, or of no known module and variant, is
    /// never dropped: there is nothing to say it duplicates another.
    fn one_build_per_variant(&self, apks: Vec<FoundApk>) -> Vec<FoundApk> {
        let key = |a: &FoundApk| match (&a.module, &a.variant) {
            (Some(m), Some(v)) if !a.named => Some((m.clone(), v.clone())),
            _ => None,
        };
        let built = |kind: bool| -> HashSet<(String, String)> {
            apks.iter()
                .filter(|a| a.from_bundle == kind)
                .filter_map(key)
                .collect()
        };
        let both: HashSet<_> = built(true).intersection(&built(false)).cloned().collect();
        apks.into_iter()
            .filter(|a| {
                a.from_bundle == self.from_bundle || key(a).is_none_or(|k| !both.contains(&k))
            })
            .collect()
    }

    /// The filters in words, for "nothing found" messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.variant {
            parts.push(format!("variant {v}"));
        }
        if let Some(m) = &self.module {
            parts.push(format!("module {m}"));
        }
        if let Some(a) = &self.abi {
            parts.push(format!("ABI {a}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!(" for {}", parts.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_names_module_and_variant() {
        let root = Path::new("/p");
        let l = Layout::of(
            Path::new("/p/app/build/outputs/apk/free/release/x.apk"),
            Some(root),
        )
        .unwrap();
        assert_eq!(
            (l.module.as_deref(), l.variant.as_deref(), l.test),
            (Some("app"), Some("freeRelease"), false)
        );
        let l = Layout::of(
            Path::new("/p/feature/login/build/outputs/apk/androidTest/debug/x.apk"),
            Some(root),
        )
        .unwrap();
        assert_eq!(
            (l.module.as_deref(), l.variant.as_deref(), l.test),
            (Some("feature/login"), Some("debugAndroidTest"), true)
        );
        assert!(Layout::of(Path::new("/p/app/x.apk"), Some(root)).is_none());
    }

    #[test]
    fn output_files_must_stay_in_their_folder() {
        for inside in ["app.apk", "./app.apk", "splits/app.apk", "a/../app.apk", ""] {
            assert!(stays_inside(Path::new(inside)), "{inside}");
        }
        for outside in [
            "../app.apk",
            "../../../etc/passwd",
            "/etc/passwd",
            "a/../../b.apk",
        ] {
            assert!(!stays_inside(Path::new(outside)), "{outside}");
        }
    }

    #[test]
    fn variants_match_as_gradle_task_names_do() {
        for (want, have) in [
            ("release", "freeRelease"),
            ("Release", "paidRelease"),
            ("release", "release"),
            ("free", "freeDebug"),
            ("freeRelease", "freerelease"),
            ("prod", "freeProdRelease"),
            ("debug", "freeDebugAndroidTest"),
        ] {
            assert!(variant_matches(want, have), "{want} ~ {have}");
        }
        for (want, have) in [
            ("rel", "freeRelease"),
            ("relase", "freeRelease"),
            ("freeRelease", "paidRelease"),
            ("", "release"),
        ] {
            assert!(!variant_matches(want, have), "{want} !~ {have}");
        }
    }

    #[test]
    fn bundle_folders_name_the_variant_in_one_level() {
        let root = Path::new("/p");
        let l = Layout::of(
            Path::new(
                "/p/app/build/outputs/apk_from_bundle/freeRelease/app-free-release-universal.apk",
            ),
            Some(root),
        )
        .unwrap();
        assert_eq!(
            (l.module.as_deref(), l.variant.as_deref(), l.test, l.output),
            (
                Some("app"),
                Some("freeRelease"),
                false,
                Output::ApkFromBundle
            )
        );
        let l = Layout::of(
            Path::new("/p/feature/login/build/outputs/bundle/release/login-release.aab"),
            Some(root),
        )
        .unwrap();
        assert_eq!(
            (l.module.as_deref(), l.variant.as_deref(), l.output),
            (Some("feature/login"), Some("release"), Output::Bundle)
        );
        // Flavor and build type are one folder here, never two.
        let l = Layout::of(
            Path::new("/p/app/build/outputs/apk_from_bundle/free/release/x.apk"),
            Some(root),
        )
        .unwrap();
        assert_eq!(l.variant, None);
    }

    fn write(path: &Path) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, "not read by the walk").unwrap();
    }

    #[test]
    fn the_walk_keeps_bundles_apart_from_apks() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("app/build/outputs");
        for file in [
            "apk/free/release/app-free-release.apk",
            "apk_from_bundle/freeRelease/app-freeRelease-universal.apk",
            "bundle/freeRelease/app-free-release.aab",
            // Neither is what AGP writes there: an APK beside a bundle, a bundle among APKs.
            "bundle/freeRelease/stray.apk",
            "apk/free/release/stray.aab",
        ] {
            write(&out.join(file));
        }
        let found = discover(&[dir.path().to_owned()]).unwrap();
        let apks: Vec<(String, Option<&str>, bool)> = found
            .apks
            .iter()
            .map(|a| {
                let name = a.path.file_name().unwrap().to_string_lossy().into_owned();
                (name, a.variant.as_deref(), a.from_bundle)
            })
            .collect();
        assert_eq!(
            apks,
            [
                (
                    "app-free-release.apk".to_owned(),
                    Some("freeRelease"),
                    false
                ),
                (
                    "app-freeRelease-universal.apk".to_owned(),
                    Some("freeRelease"),
                    true
                ),
            ]
        );
        assert_eq!(
            found.bundles,
            [FoundBundle {
                path: out.join("bundle/freeRelease/app-free-release.aab"),
                module: Some("app".to_owned()),
                variant: Some("freeRelease".to_owned()),
            }]
        );
    }

    /// AGP 7+'s output-metadata.json for an ABI-split variant: two splits and the universal APK.
    fn split_metadata(variant: &str) -> String {
        serde_json::json!({
            "version": 3,
            "artifactType": {"type": "APK", "kind": "Directory"},
            "variantName": variant,
            "elements": [
                {"type": "ONE_OF_MANY", "filters": [{"filterType": "ABI", "value": "x86_64"}],
                 "outputFile": "app-x86_64.apk"},
                {"type": "ONE_OF_MANY", "filters": [{"filterType": "ABI", "value": "arm64-v8a"}],
                 "outputFile": "app-arm64-v8a.apk"},
                {"type": "UNIVERSAL", "filters": [], "outputFile": "app-universal.apk"},
            ],
        })
        .to_string()
    }

    #[test]
    fn an_apk_folder_outside_build_outputs_is_read_by_its_metadata() {
        let dir = tempfile::tempdir().unwrap();
        // A custom buildDir: `out/`, not `build/`.
        let folder = dir.path().join("app/out/outputs/apk/paid/release");
        for apk in ["app-x86_64.apk", "app-arm64-v8a.apk", "app-universal.apk"] {
            write(&folder.join(apk));
        }
        // Not listed in the metadata: not an output of this build.
        write(&folder.join("stale.apk"));
        std::fs::write(
            folder.join("output-metadata.json"),
            split_metadata("paidRelease"),
        )
        .unwrap();
        // The project above it finds nothing: the walk reads build/outputs only.
        assert!(discover(&[dir.path().to_owned()]).unwrap().apks.is_empty());

        let found = discover(std::slice::from_ref(&folder)).unwrap();
        let apks: Vec<_> = found
            .apks
            .iter()
            .map(|a| {
                (
                    a.path.strip_prefix(&folder).unwrap().to_string_lossy(),
                    a.abi.as_deref(),
                    a.kind,
                    a.variant.as_deref(),
                    a.module.as_deref(),
                    a.named,
                )
            })
            .collect();
        let split = |file: &'static str, abi| {
            (
                file.into(),
                abi,
                OutputKind::OneOfMany,
                Some("paidRelease"),
                None,
                true,
            )
        };
        assert_eq!(
            apks,
            [
                split("app-x86_64.apk", Some("x86_64")),
                split("app-arm64-v8a.apk", Some("arm64-v8a")),
                (
                    "app-universal.apk".into(),
                    None,
                    OutputKind::Universal,
                    Some("paidRelease"),
                    None,
                    true
                ),
            ]
        );
        assert!(found.warnings.is_empty(), "{:?}", found.warnings);
        // Named, so the module and variant filters keep them; --abi still picks a split.
        let selection = Selection {
            module: Some("app".into()),
            variant: Some("free".into()),
            abi: Some("arm64-v8a".into()),
            ..Selection::default()
        };
        let kept = selection.apply(found.apks, |_| false);
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(kept[0].path, folder.join("app-arm64-v8a.apk"));
    }

    #[test]
    fn an_apk_folder_inside_build_outputs_is_walked_as_before() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("app/build/outputs/apk/paid/release");
        for apk in ["app-x86_64.apk", "app-arm64-v8a.apk", "app-universal.apk"] {
            write(&folder.join(apk));
        }
        // Its metadata names a variant; the folders, which win, name another.
        std::fs::write(
            folder.join("output-metadata.json"),
            split_metadata("freeDebug"),
        )
        .unwrap();
        let found = discover(std::slice::from_ref(&folder)).unwrap();
        assert_eq!(found.apks.len(), 3);
        for a in &found.apks {
            assert!(!a.named, "{a:?}");
            assert_eq!(a.variant.as_deref(), Some("paidRelease"), "{a:?}");
            assert_eq!(a.module.as_deref(), Some("app"), "{a:?}");
        }
    }

    #[test]
    fn an_apk_folder_whose_metadata_is_unknown_gives_its_apk_files() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("out/outputs/apk/release");
        write(&folder.join("b.apk"));
        write(&folder.join("a.apk"));
        write(&folder.join("notes.txt"));
        std::fs::write(folder.join("output-metadata.json"), r#"{"version": 9}"#).unwrap();
        let found = discover(std::slice::from_ref(&folder)).unwrap();
        let names: Vec<_> = found
            .apks
            .iter()
            .map(|a| (a.path.file_name().unwrap().to_string_lossy(), a.named))
            .collect();
        assert_eq!(names, [("a.apk".into(), true), ("b.apk".into(), true)]);
        assert_eq!(found.warnings.len(), 1, "{:?}", found.warnings);
        assert!(
            found.warnings[0].contains("version 9 is not one doksi reads")
                && found.warnings[0].ends_with("taking the folder's .apk files as they are"),
            "{:?}",
            found.warnings
        );
    }

    fn apk(path: &str, from_bundle: bool) -> FoundApk {
        let layout = Layout::of(Path::new(path), Some(Path::new("/p"))).unwrap();
        FoundApk {
            path: PathBuf::from(path),
            module: layout.module,
            variant: layout.variant,
            abi: None,
            kind: OutputKind::Single,
            test: false,
            named: false,
            from_bundle,
        }
    }

    fn kept(selection: &Selection, apks: &[FoundApk]) -> Vec<String> {
        selection
            .apply(apks.to_vec(), |_| false)
            .iter()
            .map(|a| a.path.display().to_string())
            .collect()
    }

    #[test]
    fn a_variant_built_both_ways_gives_one_apk_the_regular_unless_asked() {
        let regular = "/p/app/build/outputs/apk/free/release/app-free-release.apk";
        let universal =
            "/p/app/build/outputs/apk_from_bundle/freeRelease/app-freeRelease-universal.apk";
        let only_bundle =
            "/p/app/build/outputs/apk_from_bundle/paidRelease/app-paidRelease-universal.apk";
        let other_module = "/p/wear/build/outputs/apk/free/release/wear-free-release.apk";
        let apks = [
            apk(regular, false),
            apk(universal, true),
            apk(only_bundle, true),
            apk(other_module, false),
        ];
        let default = Selection::default();
        assert_eq!(kept(&default, &apks), [regular, only_bundle, other_module]);
        let from_bundle = Selection {
            from_bundle: true,
            ..Selection::default()
        };
        assert_eq!(
            kept(&from_bundle, &apks),
            [universal, only_bundle, other_module]
        );
        // A file named by path is taken whichever build it came from.
        let mut named = apks.clone();
        named[1].named = true;
        assert_eq!(
            kept(&default, &named),
            [regular, universal, only_bundle, other_module]
        );
    }

    #[test]
    fn regular_splits_give_way_to_the_apk_from_the_bundle_when_asked() {
        let arm = FoundApk {
            kind: OutputKind::OneOfMany,
            abi: Some("arm64-v8a".to_owned()),
            ..apk(
                "/p/app/build/outputs/apk/release/app-arm64-v8a-release.apk",
                false,
            )
        };
        let x86 = FoundApk {
            abi: Some("x86".to_owned()),
            path: PathBuf::from("/p/app/build/outputs/apk/release/app-x86-release.apk"),
            ..arm.clone()
        };
        let universal = "/p/app/build/outputs/apk_from_bundle/release/app-release-universal.apk";
        let apks = [arm, x86, apk(universal, true)];
        let from_bundle = Selection {
            from_bundle: true,
            abi: Some("x86".to_owned()),
            ..Selection::default()
        };
        assert_eq!(kept(&from_bundle, &apks), [universal]);
        let default = Selection {
            abi: Some("x86".to_owned()),
            ..Selection::default()
        };
        assert_eq!(
            kept(&default, &apks),
            ["/p/app/build/outputs/apk/release/app-x86-release.apk"]
        );
    }

    #[test]
    fn bundle_hint_names_the_bundles_the_task_and_bundletool() {
        assert_eq!(Discovery::default().bundle_hint(), None);
        let bundle = |path: &str, variant: Option<&str>| FoundBundle {
            path: PathBuf::from(path),
            module: Some("app".to_owned()),
            variant: variant.map(str::to_owned),
        };
        let mut found = Discovery {
            bundles: vec![bundle(
                "app/build/outputs/bundle/freeRelease/app-free-release.aab",
                Some("freeRelease"),
            )],
            ..Discovery::default()
        };
        assert_eq!(
            found.bundle_hint().as_deref(),
            Some(
                "found App Bundles but no APKs: app/build/outputs/bundle/freeRelease/app-free-release.aab; \
                 build a universal APK with ./gradlew packageFreeReleaseUniversalApk \
                 (written to app/build/outputs/apk_from_bundle/freeRelease/), \
                 or name the .aab with bundletool on PATH"
            )
        );
        found.bundles.push(bundle(
            "app/build/outputs/bundle/release/app-release.aab",
            Some("release"),
        ));
        found
            .bundles
            .push(bundle("app/build/outputs/bundle/app.aab", None));
        assert_eq!(
            found.bundle_hint().as_deref(),
            Some(
                "found App Bundles but no APKs: app/build/outputs/bundle/freeRelease/app-free-release.aab, \
                 app/build/outputs/bundle/release/app-release.aab, app/build/outputs/bundle/app.aab; \
                 build universal APKs with ./gradlew packageFreeReleaseUniversalApk packageReleaseUniversalApk \
                 (written to app/build/outputs/apk_from_bundle/freeRelease/, app/build/outputs/apk_from_bundle/release/), \
                 or name the .aab with bundletool on PATH"
            )
        );
    }

    #[test]
    fn a_variant_named_in_full_wins_over_longer_ones() {
        let apk = |variant: &str| FoundApk {
            path: PathBuf::from(format!("{variant}.apk")),
            module: Some("app".into()),
            variant: Some(variant.into()),
            abi: None,
            kind: OutputKind::Single,
            test: false,
            named: false,
            from_bundle: false,
        };
        let all = || {
            vec![
                apk("freeRelease"),
                apk("freeReleaseStaging"),
                apk("paidRelease"),
            ]
        };
        let pick = |v: &str| {
            let s = Selection {
                variant: Some(v.into()),
                ..Selection::default()
            };
            let mut got: Vec<String> = s
                .by_location(all())
                .into_iter()
                .filter_map(|a| a.variant)
                .collect();
            got.sort();
            got
        };
        assert_eq!(pick("freeRelease"), ["freeRelease"]);
        assert_eq!(pick("staging"), ["freeReleaseStaging"]);
        assert_eq!(
            pick("release"),
            ["freeRelease", "freeReleaseStaging", "paidRelease"]
        );
        // Another module's exact `release` leaves this module's `*Release` builds alone.
        let wear = FoundApk {
            module: Some("wear".into()),
            ..apk("release")
        };
        let s = Selection {
            variant: Some("release".into()),
            ..Selection::default()
        };
        assert_eq!(s.by_location([all(), vec![wear]].concat()).len(), 4);
    }

    #[test]
    fn task_names_are_not_variants() {
        assert!(looks_like_task("assembleRelease"));
        assert!(!looks_like_task("release"));
        assert!(!looks_like_task("packaged"));
    }
}
