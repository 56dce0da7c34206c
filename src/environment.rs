//! Every environment variable doksi reads by name, beside the settings' own (each flag's
//! `DOKSI_*` variable, which clap reads and `--help` lists): the list the man page's
//! ENVIRONMENT section is made from, so that it follows what the code reads. Every read goes
//! through [`var`] or [`var_os`], which in a debug build (the tests') refuses a name missing
//! here; the variables that libraries read (proxies, CA bundles, colour) are listed too, since a
//! user sets them for doksi all the same. Imports nothing of doksi.

use std::ffi::OsString;

/// Variables that mean one thing, told once.
pub struct Group {
    pub names: &'static [&'static str],
    pub about: &'static str,
}

/// `CI`, which counts unless empty, `0` or `false`, then [`CI_MARKERS`].
const CI_VARIABLES: [&str; 9] = [
    "CI",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "JENKINS_URL",
    "BUILDKITE",
    "CIRCLECI",
    "TF_BUILD",
    "BITRISE_IO",
    "TEAMCITY_VERSION",
];

/// The variables the common CI runners set, by which doksi knows it runs on one (besides `CI`
/// itself).
pub const CI_MARKERS: &[&str] = CI_VARIABLES.split_at(1).1;

/// Every variable read by name, in the order the man page lists them.
pub const GROUPS: &[Group] = &[
    Group {
        names: &["DOKSI_KS_PASS"],
        about: "The password of the keystore named by --ks (handed to bundletool in a private file, never on a command line).",
    },
    Group {
        names: &["DOKSI_KEY_PASS"],
        about: "The password of the key in that keystore.",
    },
    Group {
        names: &["DOKSI_BUNDLETOOL"],
        about: "The bundletool to convert an App Bundle with: an executable, or a jar run with java -jar (default: bundletool on PATH).",
    },
    Group {
        names: &["PATH"],
        about: "Where bundletool is looked for when DOKSI_BUNDLETOOL is unset.",
    },
    Group {
        names: &["DOKSI_PROGRESS_INTERVAL"],
        about: "In a CI log, the longest a wait goes without a line before it says it is still waiting (default 1m).",
    },
    Group {
        names: &[
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
            "NO_PROXY",
            "no_proxy",
        ],
        about: "The proxy requests go through, and the hosts that bypass it, as curl reads them; an error at the proxy names it (host:port and the variable, never its user or password).",
    },
    Group {
        names: &["SSL_CERT_FILE", "SSL_CERT_DIR"],
        about: "CA certificates to trust in place of the system's store (a PEM bundle, a folder of them), as OpenSSL reads them; a TLS error names the one in use.",
    },
    Group {
        names: &["XDG_CACHE_HOME", "HOME"],
        about: "The target cache is $XDG_CACHE_HOME/doksi (an absolute path), else ~/.cache/doksi, unless --cache-dir or DOKSI_CACHE_DIR names a folder: cache that folder between CI runs.",
    },
    Group {
        names: &["NO_COLOR", "CLICOLOR_FORCE"],
        about: "When NO_COLOR is set, no colour (unless --color always); CLICOLOR_FORCE forces colour (unless --color never).",
    },
    Group {
        names: &CI_VARIABLES,
        about: "A CI runner: a wait prints a line per change (and one a minute) instead of a live line, and stdout and stderr on two pipes count as one log.",
    },
    Group {
        names: &["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"],
        about: "With GITHUB_ACTIONS=true: the files the step's outputs and the job summary are appended to.",
    },
    Group {
        names: &[
            "GITHUB_SERVER_URL",
            "GITHUB_REPOSITORY",
            "GITHUB_RUN_ID",
            "GITHUB_HEAD_REF",
            "GITHUB_REF_NAME",
            "GITHUB_SHA",
            "CI_JOB_URL",
            "CI_COMMIT_REF_NAME",
            "CI_COMMIT_SHA",
            "BUILD_URL",
            "GIT_BRANCH",
            "GIT_COMMIT",
        ],
        about: "The job, branch and commit a --notify message names (GitHub Actions, GitLab CI, Jenkins).",
    },
];

/// The variables libraries read on doksi's behalf: listed, never read here.
const READ_BY_LIBRARIES: &[&str] = &["NO_PROXY", "no_proxy", "NO_COLOR", "CLICOLOR_FORCE"];

/// Whether `name` is listed in [`GROUPS`].
pub fn listed(name: &str) -> bool {
    GROUPS.iter().any(|g| g.names.contains(&name))
}

/// `name`'s value, if set; `name` must be listed in [`GROUPS`].
pub fn var_os(name: &str) -> Option<OsString> {
    debug_assert!(
        listed(name) && !READ_BY_LIBRARIES.contains(&name),
        "{name} is read but not listed in environment::GROUPS (the man page's ENVIRONMENT)"
    );
    std::env::var_os(name)
}

/// [`var_os`] as text: `None` when unset or not UTF-8.
pub fn var(name: &str) -> Option<String> {
    var_os(name).and_then(|v| v.into_string().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variable_is_told_once_and_the_ci_markers_are_listed() {
        let mut all: Vec<&str> = GROUPS
            .iter()
            .flat_map(|g| g.names.iter().copied())
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "a variable in two groups");
        assert!(CI_MARKERS.iter().all(|m| listed(m)));
        assert!(READ_BY_LIBRARIES.iter().all(|m| listed(m)));
    }
}
