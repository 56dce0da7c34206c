//! Android App Bundles (`.aab`) turned into what the service runs: the universal APK that
//! `bundletool build-apks --mode=universal` makes. Play requires bundles, so a release pipeline
//! may have nothing else; doksi runs the user's own bundletool (found on PATH, or named by
//! `DOKSI_BUNDLETOOL`: an executable, or a jar run with `java -jar`) rather than shipping one.
//!
//! The APK is signed with the keystore given (`--ks` and friends), else with bundletool's own
//! default (the debug keystore in `~/.android`, where there is one). Passwords go to bundletool
//! through files only it and we can read, never on its command line, where `ps` would show them.
//! This module knows nothing of uploads or the cache: it takes a bundle and a folder, and gives
//! back the path of the universal APK inside that folder.

use std::ffi::OsString;
use std::io::{Read as _, Write};
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// The largest universal APK extracted from bundletool's `.apks`; as the upload zip's own limit.
const MAX_APK: u64 = 4 << 30;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "{0} is an Android App Bundle, and doksi uploads APKs: build the universal APK with ./gradlew package<Variant>UniversalApk (it lands in build/outputs/apk_from_bundle/<variant>/), or with bundletool build-apks --mode=universal; or put bundletool on PATH (or name it in DOKSI_BUNDLETOOL) and doksi converts the bundle itself"
    )]
    NoBundletool(PathBuf),
    #[error("cannot run bundletool ({program}): {source}")]
    Run {
        program: String,
        source: std::io::Error,
    },
    #[error("bundletool could not convert {bundle} ({status}): {said}")]
    Failed {
        bundle: PathBuf,
        status: String,
        said: String,
    },
    #[error("bundletool's output {0} holds no universal.apk")]
    NoUniversal(PathBuf),
    #[error("converting {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The signing key for the universal APK; all unset means bundletool's default.
#[derive(Clone, Default)]
pub struct Keystore {
    pub path: Option<PathBuf>,
    pub password: Option<String>,
    pub alias: Option<String>,
    pub key_password: Option<String>,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |p: &Option<String>| p.as_ref().map(|_| "<hidden>");
        f.debug_struct("Keystore")
            .field("path", &self.path)
            .field("password", &hidden(&self.password))
            .field("alias", &self.alias)
            .field("key_password", &hidden(&self.key_password))
            .finish()
    }
}

impl Keystore {
    /// Which key signs: part of a bundle's cache key, since the same bundle signed with another
    /// key is another APK. Names only, never a password.
    pub fn identity(&self) -> String {
        match (&self.path, &self.alias) {
            (None, _) => "bundletool-default".into(),
            (Some(p), alias) => format!("{}\0{}", p.display(), alias.as_deref().unwrap_or("")),
        }
    }
}

/// How to run bundletool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundletool {
    /// The executable, or `java` for a jar.
    program: PathBuf,
    /// `-jar <path>` before bundletool's own arguments, for a jar.
    jar: Option<PathBuf>,
}

impl Bundletool {
    /// `named` (the value of `DOKSI_BUNDLETOOL`) if set, else `bundletool` on `path` (the value
    /// of `PATH`).
    pub fn find(named: Option<OsString>, path: Option<OsString>) -> Option<Bundletool> {
        if let Some(named) = named.filter(|n| !n.is_empty()) {
            let named = PathBuf::from(named);
            let is_jar = named
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("jar"));
            return Some(match is_jar {
                true => Bundletool {
                    program: PathBuf::from("java"),
                    jar: Some(named),
                },
                false => Bundletool {
                    program: named,
                    jar: None,
                },
            });
        }
        std::env::split_paths(&path?)
            .map(|dir| dir.join("bundletool"))
            .find(|p| p.is_file())
            .map(|program| Bundletool { program, jar: None })
    }

    /// From this process's environment.
    pub fn from_env() -> Option<Bundletool> {
        Bundletool::find(
            crate::environment::var_os("DOKSI_BUNDLETOOL"),
            crate::environment::var_os("PATH"),
        )
    }

    /// Converts `bundle` into `<out>/<bundle's stem>-universal.apk` and returns that path.
    /// Dropped before it finishes (a signal), it kills bundletool; the password files go with
    /// `out`, which the caller owns, and are removed as soon as bundletool is done.
    pub async fn universal_apk(
        &self,
        bundle: &Path,
        keystore: &Keystore,
        out: &Path,
    ) -> Result<PathBuf, BundleError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| BundleError::Io { path, source }
        };
        let apks = out.join("universal.apks");
        let mut cmd = Command::new(&self.program);
        // bundletool needs none of doksi's secrets, and gets none.
        cmd.env_remove("DOKSI_API_KEY")
            .env_remove("DOKSI_KS_PASS")
            .env_remove("DOKSI_KEY_PASS")
            .kill_on_drop(true);
        if let Some(jar) = &self.jar {
            cmd.arg("-jar").arg(jar);
        }
        cmd.arg("build-apks")
            .arg("--mode=universal")
            .arg(flag("--bundle=", bundle))
            .arg(flag("--output=", &apks))
            .arg("--overwrite");
        if let Some(ks) = &keystore.path {
            cmd.arg(flag("--ks=", ks));
        }
        let mut secrets = Vec::new();
        for (name, secret, file) in [
            ("--ks-pass=file:", &keystore.password, "ks-pass"),
            ("--key-pass=file:", &keystore.key_password, "key-pass"),
        ] {
            if let Some(secret) = secret {
                let path = out.join(file);
                write_private(&path, secret).map_err(io(&path))?;
                cmd.arg(flag(name, &path));
                secrets.push(path);
            }
        }
        if let Some(alias) = &keystore.alias {
            cmd.arg(format!("--ks-key-alias={alias}"));
        }
        let shown = match &self.jar {
            Some(jar) => format!("java -jar {}", jar.display()),
            None => self.program.display().to_string(),
        };
        let ran = cmd.output().await;
        for path in &secrets {
            let _ = std::fs::remove_file(path);
        }
        let ran = ran.map_err(|source| BundleError::Run {
            program: shown,
            source,
        })?;
        if !ran.status.success() {
            let said = String::from_utf8_lossy(&ran.stderr);
            let said = said
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("(nothing on stderr)");
            return Err(BundleError::Failed {
                bundle: bundle.to_owned(),
                status: ran.status.to_string(),
                said: said.chars().take(300).collect(),
            });
        }
        let stem = bundle
            .file_stem()
            .map_or_else(|| "app".into(), |s| s.to_string_lossy().into_owned());
        let apk = out.join(format!("{stem}-universal.apk"));
        extract_universal(&apks, &apk)?;
        Ok(apk)
    }
}

/// `name` and a path as one argument (`--bundle=/x/app.aab`), whatever the path's bytes.
fn flag(name: &str, path: &Path) -> OsString {
    let mut arg = OsString::from(name);
    arg.push(path.as_os_str());
    arg
}

/// A secret in a file only this user can read.
fn write_private(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(secret.as_bytes())
}

/// Copies `universal.apk` out of bundletool's `.apks` archive.
fn extract_universal(apks: &Path, to: &Path) -> Result<(), BundleError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| BundleError::Io { path, source }
    };
    let file = std::fs::File::open(apks).map_err(io(apks))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| io(apks)(std::io::Error::other(e)))?;
    let mut entry = zip
        .by_name("universal.apk")
        .map_err(|_| BundleError::NoUniversal(apks.to_owned()))?;
    let mut out = std::fs::File::create(to).map_err(io(to))?;
    let copied = std::io::copy(&mut (&mut entry).take(MAX_APK + 1), &mut out).map_err(io(to))?;
    if copied > MAX_APK {
        return Err(io(to)(std::io::Error::other(
            "the universal APK is over 4 GiB",
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundletool_is_named_or_found_on_path() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Bundletool::find(None, Some(dir.path().into())), None);
        std::fs::write(dir.path().join("bundletool"), "#!/bin/sh\n").unwrap();
        assert_eq!(
            Bundletool::find(None, Some(dir.path().into())),
            Some(Bundletool {
                program: dir.path().join("bundletool"),
                jar: None
            })
        );
        assert_eq!(
            Bundletool::find(Some("/opt/bundletool-all-1.17.jar".into()), None),
            Some(Bundletool {
                program: "java".into(),
                jar: Some("/opt/bundletool-all-1.17.jar".into())
            })
        );
        // An empty variable counts as unset.
        assert_eq!(Bundletool::find(Some("".into()), None), None);
    }
}
