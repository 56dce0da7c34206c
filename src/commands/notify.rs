//! `--notify`: what is said on stderr of the verdict posted to the team's webhook. Whether it is
//! posted and what it says are the library's (`pipeline::tell`, `crate::notify`). A webhook that
//! fails is a warning naming its host: the verdict's exit code stands whatever the chat did.

use crate::cli::NotifyArgs;
use crate::pipeline::{self, Followed};

use super::output::{note, warning};

/// Posts the verdict if a webhook is configured and `--notify-on` wants it, and says how it went.
pub(super) async fn tell(args: &NotifyArgs, followed: &Followed) {
    let (Some(url), Some(told)) = (
        &args.notify,
        pipeline::tell(followed, args.notify.as_ref(), args.notify_on).await,
    ) else {
        return;
    };
    match told {
        Ok(_) => note!("doksi: told the team (webhook at {})", url.host()),
        Err(e) => warning!("{e}; the team was not told, the verdict stands"),
    }
}
