//! `doksi sandbox` and `doksi demo` (wired once the sandbox server lands).

use crate::cli::SandboxArgs;

use super::Error;

pub async fn serve(_args: SandboxArgs) -> Result<(), Error> {
    Err(Error::Output(std::io::Error::other(
        "the sandbox is not built yet",
    )))
}

pub async fn demo() -> Result<(), Error> {
    Err(Error::Output(std::io::Error::other(
        "the demo is not built yet",
    )))
}
