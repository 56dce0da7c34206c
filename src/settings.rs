//! The settings a user may give three ways (flag, environment, `doksi.toml`), in one table: the
//! clap id, the flag's and file's key, and how a file's value is checked. `cli` reads it for
//! provenance (`doksi config`), `config` for the keys a file may hold, so that adding a setting
//! is one row here plus its flag, and a test holds the two to each other. Also the parsers of the
//! values flags and files share (durations, ids, ABIs), so that a file's value is refused with
//! the same words as the flag's.

use std::time::Duration;

/// One setting.
#[derive(Debug)]
pub struct Setting {
    /// The clap argument id (the field name in `cli`), e.g. `poll_interval`.
    pub id: &'static str,
    /// The long flag's name, which is also the `doksi.toml` key, e.g. `poll-interval`.
    pub key: &'static str,
    /// What a `doksi.toml` may say for it.
    pub file: FileKind,
}

/// How a `doksi.toml` value of a setting is read and checked, before clap sees it as a default.
#[derive(Debug)]
pub enum FileKind {
    /// Not in a file: the API key, since the file is committed and the key is a secret.
    Never,
    /// A string, such as a variant.
    Text,
    /// A path, taken against the file's folder rather than wherever doksi was started.
    Path,
    /// A list of ids, none blank and none with a comma (which the flag would split on).
    Ids,
    /// A string this parser accepts, so that the error names the file, not a flag.
    Checked(fn(&str) -> Result<(), String>),
    /// A whole number (`retries = 2`; a string holding one is taken too) this parser accepts.
    Number(fn(&str) -> Result<(), String>),
}

/// Every setting `doksi config` reports and a `doksi.toml` may give (bar `[[matrix]]`, which is
/// not a flag).
pub const SETTINGS: &[Setting] = &[
    Setting {
        id: "base_url",
        key: "base-url",
        file: FileKind::Text,
    },
    Setting {
        id: "api_key",
        key: "api-key",
        file: FileKind::Never,
    },
    Setting {
        id: "cache_dir",
        key: "cache-dir",
        file: FileKind::Path,
    },
    Setting {
        id: "categories",
        key: "categories",
        file: FileKind::Ids,
    },
    Setting {
        id: "tests",
        key: "tests",
        file: FileKind::Ids,
    },
    Setting {
        id: "auth",
        key: "auth",
        file: FileKind::Checked(|s| {
            s.parse::<crate::runs::Auth>()
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    },
    Setting {
        id: "variant",
        key: "variant",
        file: FileKind::Text,
    },
    Setting {
        id: "module",
        key: "module",
        file: FileKind::Text,
    },
    Setting {
        id: "abi",
        key: "abi",
        file: FileKind::Checked(|s| parse_abi(s).map(drop)),
    },
    Setting {
        id: "compress",
        key: "compress",
        file: FileKind::Checked(|s| parse_compress(s).map(drop)),
    },
    Setting {
        id: "timeout",
        key: "timeout",
        file: FileKind::Checked(|s| parse_timeout(s).map(drop)),
    },
    Setting {
        id: "poll_interval",
        key: "poll-interval",
        file: FileKind::Checked(|s| parse_poll_interval(s).map(drop)),
    },
    Setting {
        id: "junit",
        key: "junit",
        file: FileKind::Path,
    },
    Setting {
        id: "retries",
        key: "retries",
        file: FileKind::Number(|s| parse_retries(s).map(drop)),
    },
    Setting {
        id: "notify",
        key: "notify",
        file: FileKind::Checked(|s| parse_notify_url(s).map(drop)),
    },
    Setting {
        id: "notify_on",
        key: "notify-on",
        file: FileKind::Checked(|s| parse_notify_on(s).map(drop)),
    },
];

/// The environment variable of a setting: `DOKSI_` and its id, but for the webhook, whose
/// variable says that it holds a URL (`DOKSI_NOTIFY_URL`) where the flag reads as a verb.
pub fn env_var(setting: &Setting) -> String {
    match setting.id {
        "notify" => "DOKSI_NOTIFY_URL".into(),
        id => format!("DOKSI_{}", id.to_uppercase()),
    }
}

/// The setting a `doksi.toml` key names.
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// A run id from the command line: it goes into a URL path, where `.` and `..` would name
/// another resource however they are escaped. Anything else is percent-encoded when sent.
pub fn parse_run_id(s: &str) -> Result<String, String> {
    match parse_id(s)?.as_str() {
        "." | ".." => Err(format!("{s:?} is not a run id")),
        id => Ok(id.to_owned()),
    }
}

/// A test or category id: surrounding spaces dropped (`a, b` in a variable), blanks refused here
/// rather than by the server after the upload.
pub fn parse_id(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err("an id cannot be blank (a stray comma?)".into()),
        id => Ok(id.to_owned()),
    }
}

/// A duration as people write it (`90s`, `5m30s`, `1h30m`, `2min`, `500ms`); a bare number is
/// seconds, as it always was here.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("{t:?} is out of range"));
    }
    humantime::parse_duration(t)
        .map_err(|e| format!("{t:?} is not a duration like 90s, 5m30s or 1h30m: {e}"))
}

/// A duration for a setting whose sensible values lie between `min` and `max`: zero or a year
/// would send thousands of requests, or none, before anyone noticed.
fn duration_in(s: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < min || d > max {
        return Err(format!(
            "{:?} is out of range: give {} to {}",
            s.trim(),
            crate::timestamp::duration(min),
            crate::timestamp::duration(max)
        ));
    }
    Ok(d)
}

/// The most `--retries` there may be: each re-run costs credits and a wait, and a test that fails
/// six times running is not flaky.
pub const MAX_RETRIES: u8 = 5;

/// `--retries`: how many times the failed tests of a failed run are run again.
pub fn parse_retries(s: &str) -> Result<u8, String> {
    match s.trim().parse::<u8>() {
        Ok(n) if n <= MAX_RETRIES => Ok(n),
        _ => Err(format!(
            "{:?} is not a number of re-runs from 0 to {MAX_RETRIES}",
            s.trim()
        )),
    }
}

/// `--notify`: an incoming webhook's URL, a secret from the moment it is read (see
/// [`crate::webhook::WebhookUrl::parse`]); the message refusing one never quotes it.
pub fn parse_notify_url(s: &str) -> Result<crate::webhook::WebhookUrl, String> {
    crate::webhook::WebhookUrl::parse(s).map_err(|e| e.to_string())
}

/// `--notify-on`: fail, always or never.
pub fn parse_notify_on(s: &str) -> Result<crate::webhook::NotifyOn, String> {
    s.parse()
}

/// `--compress`: whether the upload zip holds the APK deflated.
pub fn parse_compress(s: &str) -> Result<crate::package::Compress, String> {
    s.parse()
}

/// `--timeout`: how long to wait for a verdict.
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_secs(1), Duration::from_secs(7 * 86400))
}

/// `--poll-interval`: the first pause between polls.
pub fn parse_poll_interval(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_millis(100), Duration::from_secs(3600))
}

/// `--request-timeout`: one request's wait for its answer.
pub fn parse_request_timeout(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_secs(1), Duration::from_secs(3600))
}

/// `--retry-delay`: the first backoff.
pub fn parse_retry_delay(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_millis(1), Duration::from_secs(60))
}

/// `--run-step`: the sandbox's clock.
#[cfg(feature = "sandbox")]
pub fn parse_run_step(s: &str) -> Result<Duration, String> {
    duration_in(s, Duration::from_millis(1), Duration::from_secs(3600))
}

/// The ABIs Android knows: a typo (`arm64`) would otherwise match nothing, silently.
pub const ABIS: [&str; 8] = [
    "armeabi-v7a",
    "arm64-v8a",
    "x86",
    "x86_64",
    "riscv64",
    "armeabi",
    "mips",
    "mips64",
];

pub fn parse_abi(s: &str) -> Result<String, String> {
    let abi = s.trim();
    match ABIS.contains(&abi) {
        true => Ok(abi.to_owned()),
        false => Err(format!(
            "{abi:?} is not an Android ABI: one of {}",
            ABIS.join(", ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert!(parse_duration("soon").is_err());
        for (text, secs) in [
            ("1h30m", 5400),
            ("5m30s", 330),
            ("90sec", 90),
            ("2min", 120),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs(secs)),
                "{text}"
            );
        }
        for zero in ["0", "0s", "0ms"] {
            for parse in [
                parse_timeout,
                parse_poll_interval,
                parse_request_timeout,
                parse_retry_delay,
            ] {
                assert!(parse(zero).unwrap_err().contains("out of range"), "{zero}");
            }
        }
        assert!(parse_timeout("400d").is_err());
        assert_eq!(parse_retries(" 2 "), Ok(2));
        for bad in ["6", "-1", "two", ""] {
            assert!(parse_retries(bad).unwrap_err().contains("0 to 5"), "{bad}");
        }
        assert_eq!(crate::timestamp::duration(Duration::ZERO), "0s");
        assert_eq!(
            crate::timestamp::duration(Duration::from_secs(90)),
            "1m 30s"
        );
    }

    /// The table and the flags cannot drift apart: every row names an argument that exists
    /// (global, or in a subcommand), under the same long name and the `DOKSI_` variable
    /// named after it; and a file's keys are exactly the rows a file may give.
    #[test]
    fn every_setting_is_a_flag_with_its_variable() {
        use clap::CommandFactory;
        let cmd = crate::cli::Cli::command();
        let mut args: Vec<clap::Arg> = cmd.get_arguments().cloned().collect();
        for sub in cmd.get_subcommands() {
            args.extend(sub.get_arguments().cloned());
        }
        for s in SETTINGS {
            let arg = args
                .iter()
                .find(|a| a.get_id() == s.id)
                .unwrap_or_else(|| panic!("setting {} is no clap argument", s.id));
            assert_eq!(s.key, s.id.replace('_', "-"), "{}", s.id);
            let long = arg.get_long().unwrap_or_default();
            assert!(
                s.key.starts_with(long.trim_end_matches('y')),
                "{}: flag --{long}",
                s.id
            );
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env, Some(env_var(s)), "{}", s.id);
            assert!(by_key(s.key).is_some_and(|found| found.id == s.id));
        }
    }
}
