//! Replacing a file all at once: written to a temporary file beside it, synced, then renamed
//! over it, so a reader or a crash sees the old file or the new one, never half of one. Used for
//! the cache's index, `package -o` and the JUnit report.

use std::fs::File;
use std::io::Write;
use std::path::Path;

/// Who may read the finished file: the cache's own files stay private to the user; a zip or a
/// report is read by others (a CI agent, a web server), as any file a program writes would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readers {
    Owner,
    Everyone,
}

/// Fills a temporary file in `path`'s folder with `fill`, then renames it to `path`. The folder
/// must exist. `fill`'s error is returned as is, so a caller keeps its own error type.
pub fn replace<E: From<std::io::Error>>(
    path: &Path,
    readers: Readers,
    fill: impl FnOnce(&mut File) -> Result<(), E>,
) -> Result<(), E> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut temp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(folder)
        .map_err(without_temp_path)?;
    fill(temp.as_file_mut())?;
    temp.as_file_mut().flush()?;
    // Without the sync, a crash soon after the rename can leave an empty file under the name.
    temp.as_file().sync_all()?;
    // tempfile creates the file 0600 on unix, which the finished file would keep.
    #[cfg(unix)]
    if readers == Readers::Everyone {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    #[cfg(not(unix))]
    let _ = readers;
    temp.persist(path).map_err(|e| E::from(e.error))?;
    Ok(())
}

/// `e` without the name of the temporary file it happened to: tempfile wraps the OS's error in
/// one that ends `at path "…/.name.XYZ"` and keeps nothing else of it, and a message that names
/// a file the user never asked for sends them looking for it.
pub fn without_temp_path(e: std::io::Error) -> std::io::Error {
    let text = e.to_string();
    match text.split_once(" at path \"") {
        Some((said, _)) => std::io::Error::new(e.kind(), said.to_owned()),
        None => e,
    }
}

/// [`replace`] with bytes already in memory.
pub fn write(path: &Path, readers: Readers, bytes: &[u8]) -> std::io::Result<()> {
    replace(path, readers, |f| f.write_all(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fill_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.xml");
        write(&path, Readers::Everyone, b"old").unwrap();
        let failed: std::io::Result<()> = replace(&path, Readers::Everyone, |f| {
            f.write_all(b"half")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(failed.is_err());
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o644);
            write(&path, Readers::Owner, b"new").unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
