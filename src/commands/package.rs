use std::io::Write;

use crate::cli::PackageArgs;
use crate::package::{Fingerprint, PackageError, UploadZip};

use super::Error;

/// Writes through a temporary file in the destination folder and renames it into place, so an
/// interrupted run never leaves a half-written zip under the requested name.
pub fn run(args: PackageArgs) -> Result<(), Error> {
    let fingerprint = Fingerprint::of(&args.apk)?;
    let zip = UploadZip::new(&args.apk, fingerprint)?;
    let dir = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(&dir)?;
    std::io::copy(&mut zip.reader()?, tmp.as_file_mut()).map_err(
        |e| match PackageError::changed_in(&e) {
            Some(changed) => Error::Package(changed),
            None => Error::Output(e),
        },
    )?;
    tmp.as_file_mut().flush()?;
    tmp.persist(&args.output).map_err(|e| e.error)?;
    println!(
        "{}\t{} bytes\tsha256 {}",
        args.output.display(),
        zip.len(),
        zip.fingerprint().sha256
    );
    Ok(())
}
