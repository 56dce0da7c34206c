use crate::atomic::{Readers, replace};
use crate::cli::PackageArgs;
use crate::package::{Fingerprint, PackageError, UploadZip};

use super::Error;
use super::output::{note, outln};

/// Writes through a temporary file in the destination folder and renames it into place, so an
/// interrupted run never leaves a half-written zip under the requested name; `-o -` writes the
/// zip to stdout (and its summary line to stderr), for a pipe.
pub fn run(args: PackageArgs) -> Result<(), Error> {
    // The zip is made to be uploaded: an APK the service would refuse is refused here.
    crate::apk::check(&args.apk)?;
    let fingerprint = Fingerprint::of(&args.apk)?;
    let zip = UploadZip::new(&args.apk, fingerprint)?;
    if args.output.as_os_str() == "-" {
        let mut out = std::io::stdout().lock();
        std::io::copy(&mut zip.reader()?, &mut out)
            .and_then(|_| std::io::Write::flush(&mut out))
            .map_err(|e| match PackageError::changed_in(&e) {
                Some(changed) => Error::Package(changed),
                None => Error::Stdout(e),
            })?;
        note!(
            "-\t{} bytes\tsha256 {}",
            zip.len(),
            zip.fingerprint().sha256
        );
        return Ok(());
    }
    replace(&args.output, Readers::Everyone, |file| {
        let copied = std::io::copy(&mut zip.reader()?, file);
        copied
            .map(drop)
            .map_err(|e| match PackageError::changed_in(&e) {
                Some(changed) => Error::Package(changed),
                None => Error::Output(e),
            })
    })?;
    outln!(
        "{}\t{} bytes\tsha256 {}",
        args.output.display(),
        zip.len(),
        zip.fingerprint().sha256
    );
    Ok(())
}
