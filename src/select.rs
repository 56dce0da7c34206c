//! The APKs a command acts on: discover → inspect → filter → fingerprint. Every command that
//! takes `[PROJECT_DIR|APK]...` and the selection flags starts here, so `apks` lists exactly
//! what `upload`, `run` and `ci` would send. Refusals (an instrumentation APK as a run's
//! destination, an ABI with no APK, two variants of one module) name what there is instead.
//! Owns [`SelectError`], every way choosing can fail (all local: exit code 2); imports the
//! stages below it (`discover`, `apk`, `package`) and `labels`, `remark`, nothing of `commands`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::apk::{self, Manifest};
use crate::discover::{self, FoundApk, Purpose, Selection};
use crate::labels::ApkLabel;
use crate::package::Fingerprint;
use crate::remark::Remark;
use crate::remark::Reporter;

/// Every way choosing the APKs can fail: reading what was named, nothing found, a refusal that
/// names what there is instead.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    #[error(transparent)]
    Apk(#[from] crate::apk::ApkError),
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    #[error(transparent)]
    Package(#[from] crate::package::PackageError),
    #[error("no APKs found{filters} (looked in {}){}", looked_in(.searched), .hint.as_ref().map(|h| format!("; {h}")).unwrap_or_default())]
    NothingFound {
        searched: Vec<PathBuf>,
        filters: String,
        /// What there is instead, such as App Bundles and how to get APKs from them.
        hint: Option<String>,
    },
    /// What was asked for is not there (an ABI, a single variant, a destination APK).
    #[error("{0}")]
    Refused(String),
}

fn looked_in(paths: &[PathBuf]) -> String {
    let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    shown.join(", ")
}

/// One APK chosen, with what an upload needs of it; also the row `doksi apks --json` prints.
#[derive(Debug, Serialize)]
pub struct Selected {
    #[serde(serialize_with = "crate::path_text::serialize")]
    pub path: PathBuf,
    pub module: Option<String>,
    pub variant: Option<String>,
    pub abi: Option<String>,
    #[serde(flatten)]
    pub fingerprint: Fingerprint,
    pub manifest: Manifest,
    /// An Android App Bundle named on the command line, uploaded as its universal APK.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub bundle: bool,
    /// A universal APK AGP made from a bundle (`build/outputs/apk_from_bundle/`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub from_bundle: bool,
}

impl Selected {
    pub fn label(&self) -> ApkLabel {
        ApkLabel {
            package: self.manifest.package.clone(),
            version_name: self.manifest.version_name.clone(),
            version_code: self.manifest.version_code,
            module: self.module.clone(),
            variant: self.variant.clone(),
            file: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            target_id: None,
        }
    }
}

fn is_bundle(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("aab"))
        && path.is_file()
}

/// A bundle named on the command line: its protobuf manifest and its bytes' hash.
fn selected_bundle(path: PathBuf, report: &dyn Reporter) -> Result<Selected, SelectError> {
    let manifest = apk::read_bundle_manifest(&path)?;
    warn_notes(&path, &manifest.notes, report);
    Ok(Selected {
        fingerprint: Fingerprint::of(&path)?,
        path,
        module: None,
        variant: None,
        abi: None,
        manifest,
        bundle: true,
        from_bundle: false,
    })
}

/// Discovers, inspects, filters and fingerprints: the APKs a command should act on. Shared by
/// every command that takes `[PROJECT_DIR|APK]...` and the selection flags.
pub fn select(
    paths: &[PathBuf],
    selection: Selection,
    report: &dyn Reporter,
) -> Result<Vec<Selected>, SelectError> {
    let (bundles, paths): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.iter().cloned().partition(|p| is_bundle(p));
    let bundles: Vec<Selected> = bundles
        .into_iter()
        .map(|p| selected_bundle(p, report))
        .collect::<Result<_, _>>()?;
    let filtered =
        selection.variant.is_some() || selection.module.is_some() || selection.abi.is_some();
    if filtered && let Some(b) = bundles.first() {
        report.remark(Remark::Warning(format!(
            "--variant, --module and --abi choose among a project's APKs; {} is taken as named",
            b.path.display()
        )));
    }
    if paths.is_empty() && !bundles.is_empty() {
        return Ok(bundles);
    }
    let mut listed = select_apks(&paths, selection, report)?;
    listed.extend(bundles);
    Ok(listed)
}

/// [`select`] for APK files and project folders.
fn select_apks(
    paths: &[PathBuf],
    selection: Selection,
    report: &dyn Reporter,
) -> Result<Vec<Selected>, SelectError> {
    let default = [PathBuf::from(".")];
    let paths = if paths.is_empty() {
        &default[..]
    } else {
        paths
    };
    let found = discover::discover(paths)?;
    for w in &found.warnings {
        report.remark(Remark::Warning(w.to_string()));
    }
    let candidates = selection.by_location(found.apks.clone());
    if candidates.is_empty() && !found.apks.is_empty() {
        return Err(no_match(&selection, &found.apks));
    }
    let mut manifests = Vec::with_capacity(candidates.len());
    for a in &candidates {
        manifests.push((a.path.clone(), apk::inspect(&a.path)?.manifest));
    }
    let manifest_of = |a: &FoundApk| manifests.iter().find(|(p, _)| *p == a.path).map(|(_, m)| m);
    let tests_for = |a: &FoundApk| {
        let target = manifest_of(a).and_then(|m| m.instrumentation_target.clone());
        (a.test || target.is_some()).then(|| target.unwrap_or_else(|| "another app".into()))
    };
    if selection.purpose == Purpose::Destinations
        && let Some((a, target)) = candidates
            .iter()
            .filter(|a| a.named)
            .find_map(|a| Some((a, tests_for(a)?)))
    {
        return Err(SelectError::Refused(format!(
            "{} is an instrumentation (androidTest) APK: it tests {target} and cannot be a run's destination; name the app's APK",
            a.path.display()
        )));
    }
    let chosen = selection.apply(candidates.clone(), |a| tests_for(a).is_some());
    if chosen.is_empty() {
        if let Some(a) = candidates
            .iter()
            .find(|a| a.named && tests_for(a).is_some())
        {
            return Err(SelectError::Refused(format!(
                "{} is an instrumentation (androidTest) APK; pass --include-tests to take it",
                a.path.display()
            )));
        }
        // Only where there is no APK at all: filtered-out APKs are not "no APKs".
        let hint = found.apks.is_empty().then(|| found.bundle_hint()).flatten();
        return Err(SelectError::NothingFound {
            hint,
            searched: found.searched,
            filters: selection.describe(),
        });
    }
    if let Some(abi) = &selection.abi {
        for a in chosen.iter().filter(|a| a.abi.as_ref() != Some(abi)) {
            check_abi(abi, a, manifest_of(a), &candidates, &manifest_of, report)?;
        }
        // A variant built only as other ABIs' splits yields nothing: said, not dropped.
        let group = |a: &FoundApk| (a.module.clone(), a.variant.clone());
        if let Some(a) = candidates.iter().find(|a| {
            !a.named && tests_for(a).is_none() && !chosen.iter().any(|c| group(c) == group(a))
        }) {
            check_abi(abi, a, manifest_of(a), &candidates, &manifest_of, report)?;
        }
    }
    if selection.purpose == Purpose::Destinations && !selection.all_variants {
        one_variant_per_module(&chosen, selection.variant.as_deref())?;
    }
    chosen
        .into_iter()
        .map(|a| {
            let manifest = manifest_of(&a).cloned().unwrap_or_default();
            warn_notes(&a.path, &manifest.notes, report);
            let fingerprint = Fingerprint::of(&a.path)?;
            Ok(Selected {
                path: a.path,
                module: a.module,
                variant: a.variant,
                abi: a.abi,
                fingerprint,
                manifest,
                bundle: false,
                from_bundle: a.from_bundle,
            })
        })
        .collect()
}

/// Nothing matched the module and variant filters: say what there is instead.
fn no_match(selection: &Selection, found: &[FoundApk]) -> SelectError {
    let names = |f: &dyn Fn(&FoundApk) -> Option<String>, of: &[&FoundApk]| {
        let set: BTreeSet<String> = of.iter().filter_map(|a| f(a)).collect();
        set.into_iter().collect::<Vec<_>>().join(", ")
    };
    let all: Vec<&FoundApk> = found.iter().filter(|a| !a.test).collect();
    let in_module: Vec<&FoundApk> = all
        .iter()
        .copied()
        .filter(|a| selection.module.is_none() || selection.by_location_module(a))
        .collect();
    let message = match (&selection.module, &selection.variant) {
        (Some(m), _) if in_module.is_empty() => format!(
            "no APKs for module {m}; found modules: {}",
            names(&|a| a.module.clone(), &all)
        ),
        (module, Some(v)) => format!(
            "no APKs for variant {v}{}; found: {}",
            module
                .as_ref()
                .map(|m| format!(" in {m}"))
                .unwrap_or_default(),
            names(&|a| a.variant.clone(), &in_module)
        ),
        _ => format!("no APKs{}", selection.describe()),
    };
    SelectError::Refused(message)
}

/// `--abi` where the APK taken is not that ABI's split: fine when it has the ABI's native code
/// (or none at all, which runs anywhere), and said; an error naming the ABIs there are otherwise.
fn check_abi<'m>(
    abi: &str,
    apk: &FoundApk,
    manifest: Option<&'m Manifest>,
    candidates: &[FoundApk],
    manifest_of: &dyn Fn(&FoundApk) -> Option<&'m Manifest>,
    report: &dyn Reporter,
) -> Result<(), SelectError> {
    let abis = manifest.map(|m| m.abis.clone()).unwrap_or_default();
    // Of a split (another ABI's), the native code says nothing about the one asked for.
    if abis.is_empty() && apk.abi.is_none() {
        return Ok(());
    }
    if apk.abi.is_none() && abis.iter().any(|a| a == abi) {
        report.remark(Remark::Note(format!(
            "no {abi} split; {} has {abi} native code, so it is used",
            apk.path.display()
        )));
        return Ok(());
    }
    let mut there: BTreeSet<String> = candidates
        .iter()
        .filter(|b| b.module == apk.module && b.variant == apk.variant)
        .flat_map(|b| match &b.abi {
            Some(split) => vec![split.clone()],
            None => manifest_of(b).map(|m| m.abis.clone()).unwrap_or_default(),
        })
        .collect();
    there.extend(abis);
    Err(SelectError::Refused(format!(
        "no APK for ABI {abi} in {}{}; the ABIs there are: {}",
        apk.module.as_deref().unwrap_or("the project"),
        apk.variant
            .as_ref()
            .map(|v| format!(" {v}"))
            .unwrap_or_default(),
        there.into_iter().collect::<Vec<_>>().join(", ")
    )))
}

/// A run's destinations take one variant per module unless `--all-variants` says otherwise:
/// `ci .` on a module with debug and release builds would otherwise run (and bill) both.
/// The message names what to type: `--variant release` on a flavored app matches freeRelease
/// and paidRelease, and "pick one with --variant" would send the user back to what they typed.
fn one_variant_per_module(chosen: &[FoundApk], asked: Option<&str>) -> Result<(), SelectError> {
    let mut by_module: BTreeMap<Option<&str>, BTreeSet<&str>> = BTreeMap::new();
    for a in chosen.iter().filter(|a| !a.named) {
        if let Some(v) = &a.variant {
            by_module.entry(a.module.as_deref()).or_default().insert(v);
        }
    }
    match by_module.into_iter().find(|(_, v)| v.len() > 1) {
        Some((module, variants)) => {
            let variants: Vec<&str> = variants.into_iter().collect();
            let flags: Vec<String> = variants.iter().map(|v| format!("--variant {v}")).collect();
            let module = module.unwrap_or("the project");
            let found = match asked {
                Some(asked) => format!("--variant {asked} matches several variants of {module}"),
                None => format!("{module} has APKs of several variants"),
            };
            Err(SelectError::Refused(format!(
                "{found} ({}): type {}, or --all-variants to run on each",
                variants.join(", "),
                match flags.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                    None => String::new(),
                }
            )))
        }
        None => Ok(()),
    }
}

/// Notes about a manifest (an unresolvable label, say), as warnings.
fn warn_notes(path: &Path, notes: &[String], report: &dyn Reporter) {
    for note in notes {
        report.remark(Remark::Warning(format!("{}: {note}", path.display())));
    }
}
