//! End to end: the real binary against a real `doksi sandbox` on 127.0.0.1. Request counts come
//! from the sandbox's own log, so "no request was sent" is observed, not assumed.

use serde_json::Value;

use crate::common::{FAST, apk_fixtures, ci, fixtures, merged, merged_ci, ok_json, target};
use crate::sandbox::{Sandbox, path_str, unlock_apk};

#[test]
fn second_upload_of_same_apk_sends_nothing() {
    let sb = Sandbox::start(&[]);
    let first = ok_json(&sb.run(&["upload", "--json", path_str(&unlock_apk())]));
    assert_eq!(first[0]["cached"], false);
    assert!(first[0]["target_id"].as_str().unwrap().starts_with("bin_"));
    assert_eq!(
        (
            sb.count("POST /uploads"),
            sb.count("PUT /uploads"),
            sb.count("POST /targets")
        ),
        (1, 1, 1)
    );
    let before = sb.total();
    let second = ok_json(&sb.run(&["upload", "--json", path_str(&unlock_apk())]));
    assert_eq!(second[0]["cached"], true);
    assert_eq!(second[0]["target_id"], first[0]["target_id"]);
    assert_eq!(
        sb.total(),
        before,
        "a cache hit must make no request at all"
    );
    // --force uploads anyway.
    let forced = ok_json(&sb.run(&["upload", "--json", "--force", path_str(&unlock_apk())]));
    assert_eq!(forced[0]["cached"], false);
    assert_eq!(sb.count("PUT /uploads"), 2);
}

#[test]
fn the_put_has_exact_length_zip_type_and_no_authorization() {
    let sb = Sandbox::start(&[]);
    target(&sb);
    let log = sb.requests()["log"].as_array().unwrap().clone();
    let put = log
        .iter()
        .find(|e| e["method"] == "PUT")
        .expect("a PUT was logged");
    assert_eq!(put["authorization"], false, "{put}");
    assert_eq!(put["transfer_encoding"], Value::Null, "{put}");
    assert_eq!(put["content_type"], "application/zip");
    let apk_len = std::fs::metadata(unlock_apk()).unwrap().len();
    let zip_len = put["content_length"].as_u64().unwrap();
    assert!(zip_len > apk_len && zip_len < apk_len + 300, "{zip_len}");
    for api in log.iter().filter(|e| e["method"] == "POST") {
        assert_eq!(api["authorization"], true, "{api}");
    }
    // What storage holds is byte for byte the zip `doksi package` builds.
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("local.zip");
    let r = sb.run(&["package", path_str(&unlock_apk()), "-o", path_str(&local)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        sb.stored_upload("upl_1") == std::fs::read(&local).unwrap(),
        "stored upload differs from the local zip"
    );
}

#[test]
fn ci_on_a_project_passes_and_prints_the_final_run() {
    let sb = Sandbox::start(&[]);
    let project = fixtures().join("projects/shop");
    let mut args = vec![
        "ci",
        path_str(&project),
        "--module",
        "wear",
        "--category",
        "cat_smoke",
        "--json",
    ];
    args.extend(FAST);
    let run = ok_json(&sb.run(&args));
    assert_eq!(run["status"], "passed");
    assert_eq!(run["tests_total"], 2);
    assert_eq!(run["results"].as_array().unwrap().len(), 2);
}

#[test]
fn a_failing_test_makes_exit_code_1() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let mut args = vec!["ci", path_str(&apk), "--category", "cat_failing"];
    args.extend(FAST);
    let r = sb.run(&args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("failed: 1 of 1 test failed, 0 passed"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("Payment declined"), "{}", r.stdout);

    // `status` reads the run: exit 0 (gh's way), unless --exit-status asks for the verdict.
    let run_id = r
        .stderr
        .split("started run ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .expect("the run id")
        .to_owned();
    let s = sb.run(&["status", &run_id]);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert!(s.stdout.contains("failed"), "{}", s.stdout);
    let s = sb.run(&["status", &run_id, "--exit-status"]);
    assert_eq!(s.code, 1, "{}", s.stderr);
    // A run still going: exit 4 with --exit-status.
    let slow = Sandbox::start(&["--run-step", "30s"]);
    let mut args = vec![
        "ci",
        path_str(&apk),
        "--category",
        "cat_smoke",
        "--timeout",
        "1s",
    ];
    args.extend(FAST);
    let r = slow.run(&args);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let going = r.stderr.split("started run ").nth(1).unwrap();
    let going = going.split_whitespace().next().unwrap();
    let s = slow.run(&["status", going, "--exit-status"]);
    assert_eq!(s.code, 4, "{}", s.stderr);
    assert!(s.stderr.contains("has not finished"), "{}", s.stderr);
    assert_eq!(slow.run(&["status", going]).code, 0);
}

#[test]
fn tests_and_categories_combine_in_each_entry() {
    let sb = Sandbox::start(&[]);
    let t = target(&sb);
    let mut args = vec![
        "run",
        "--target",
        &t,
        "--test",
        "t_extra",
        "--category",
        "cat_smoke",
        "--wait",
        "--json",
    ];
    args.extend(FAST);
    let run = ok_json(&sb.run(&args));
    let mut ids: Vec<&str> = run["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["test_id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, ["t_checkout", "t_extra", "t_login"]);
}

#[test]
fn web_and_android_destinations_fan_out_with_each_auth_strategy() {
    let sb = Sandbox::start(&[]);
    let t = target(&sb);
    for auth in ["none", "generated", "specific:acc_789"] {
        let args = [
            "run",
            "--target",
            &t,
            "--web-url",
            "https://staging.example.com",
            "--test",
            "t_login",
            "--auth",
            auth,
            "--wait",
            "--json",
            "--poll-interval",
            "100ms",
        ];
        let run = ok_json(&sb.run(&args));
        let platforms: Vec<&str> = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["destination"]["platform"].as_str().unwrap())
            .collect();
        assert_eq!(platforms.len(), 2, "{auth}: {run}");
        assert!(
            platforms.contains(&"web") && platforms.contains(&"android"),
            "{auth}: {platforms:?}"
        );
    }
    let before = sb.total();
    let bad = sb.run(&[
        "run",
        "--target",
        &t,
        "--test",
        "t_login",
        "--auth",
        "specific:789",
    ]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("acc_"), "{}", bad.stderr);
    assert_eq!(sb.total(), before, "a bad flag sends nothing");
}

#[test]
fn quota_exceeded_is_exit_5_with_the_numbers() {
    let sb = Sandbox::start(&["--credits", "1"]);
    let t = target(&sb);
    let r = sb.run(&["run", "--target", &t, "--category", "cat_smoke"]);
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("needs 2 tests and 1 credit remains"),
        "{}",
        r.stderr
    );
}

#[test]
fn giving_up_waiting_is_exit_4_and_names_the_run() {
    // Slow enough that the shortest --timeout (1s) ends before the run does.
    let sb = Sandbox::start(&["--run-step", "500ms"]);
    let t = target(&sb);
    let run_id = sb
        .run(&["run", "--target", &t, "--category", "cat_regression"])
        .stdout
        .trim()
        .to_owned();
    assert!(run_id.starts_with("run_"), "{run_id}");
    let r = sb.run(&[
        "wait",
        &run_id,
        "--timeout",
        "1s",
        "--poll-interval",
        "100ms",
    ]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("gave up waiting for run {run_id}")),
        "{}",
        r.stderr
    );
    // How far it had come, since the live line that showed it is gone.
    let last = r.stderr.lines().last().unwrap();
    assert!(
        last.contains("; it was still ") && last.contains("/3 done, 0 failed (doksi wait"),
        "{last}"
    );
    // The run goes on; waiting again picks it up.
    let again = sb.run(&["wait", &run_id, "--poll-interval", "100ms"]);
    assert_eq!(again.code, 0, "{}", again.stderr);
}

#[test]
fn unknown_run_is_exit_3() {
    let sb = Sandbox::start(&[]);
    let r = sb.run(&["status", "run_doesnotexist"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 404"), "{}", r.stderr);
}

#[test]
fn bad_or_missing_key_is_exit_2_and_sends_nothing() {
    let sb = Sandbox::start(&[]);
    for key in [
        "dk_live_nothex",
        "sk_live_0123456789abcdef0123456789abcdef01234567",
    ] {
        let r = sb.run_with(
            &["upload", path_str(&unlock_apk())],
            &[("DOKSI_API_KEY", key)],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("API key is malformed"), "{}", r.stderr);
        assert!(
            !r.stderr.contains(key),
            "the key must not be echoed: {}",
            r.stderr
        );
    }
    let r = sb.run_with(&["status", "run_1"], &[("DOKSI_API_KEY", "")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(sb.total(), 0);
    // A well-formed key the server does not know is the server's 401: exit 3.
    let r = sb.run_with(
        &["status", "run_1"],
        &[(
            "DOKSI_API_KEY",
            "dk_live_0000000000000000000000000000000000000000",
        )],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("HTTP 401"), "{}", r.stderr);
}

#[test]
fn matrix_file_entries_may_name_an_apk() {
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        apk_fixtures().join("appium-android-ime-2.0.0-debug.apk"),
        dir.path().join("ime.apk"),
    )
    .unwrap();
    let matrix = dir.path().join("matrix.json");
    std::fs::write(
        &matrix,
        r#"{"matrix":[
            {"platform":"android","apk":"ime.apk","category_ids":["cat_smoke"],"artifacts":[{"type":"authentication","strategy":"generated"}]},
            {"platform":"web","web_url":"https://staging.example.com","test_ids":["t_login"]}
        ]}"#,
    )
    .unwrap();
    let run = ok_json(&sb.run(&[
        "run",
        "--matrix",
        path_str(&matrix),
        "--wait",
        "--json",
        "--poll-interval",
        "100ms",
    ]));
    assert_eq!(run["tests_total"], 3);
    assert_eq!(sb.count("PUT /uploads"), 1);
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"[{"platform":"ios","target_id":"bin_1","test_ids":["t"]}]"#,
    )
    .unwrap();
    let before = sb.total();
    let r = sb.run(&["run", "--matrix", path_str(&bad)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("entry 0") && r.stderr.contains("ios"),
        "{}",
        r.stderr
    );
    assert_eq!(sb.total(), before);
}

#[test]
fn cache_list_shows_and_clear_forgets() {
    let sb = Sandbox::start(&[]);
    let t = target(&sb);
    let list = ok_json(&sb.run(&["cache", "list", "--json"]));
    assert_eq!(list[0]["target_id"], t.as_str());
    assert_eq!(list[0]["package"], "io.appium.unlock");
    // Whose entry, in words: the base URL's host:port and the key's last four characters.
    let host = sb.base_url.strip_prefix("http://").unwrap();
    let host = host.split('/').next().unwrap();
    let hint = &sb.key[sb.key.len() - 4..];
    assert_eq!(list[0]["host"], host);
    assert_eq!(list[0]["key_hint"], hint);
    let scope = list[0]["scope"].as_str().unwrap().to_owned();
    assert_eq!(scope.len(), 16, "the scope hash is still there: {list}");
    let r = sb.run(&["cache", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "a header and one row: {}", r.stdout);
    assert!(
        lines[0].starts_with("TARGET") && lines[0].contains("PACKAGE"),
        "{}",
        r.stdout
    );
    assert!(lines[1].starts_with(t.as_str()), "{}", r.stdout);
    let at = lines[0].find("PACKAGE").unwrap();
    assert!(
        lines[1]
            .get(at..)
            .unwrap_or("")
            .starts_with("io.appium.unlock"),
        "columns line up: {}",
        r.stdout
    );
    let at = lines[0].find("SCOPE").unwrap();
    assert_eq!(
        lines[1].get(at..),
        Some(format!("{host} key …{hint}").as_str()),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(&scope), "{}", r.stdout);
    let r = sb.run(&["cache", "clear"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with(&format!(
            "removed 1 cached target from {}",
            sb.cache_dir().display()
        )),
        "{}",
        r.stdout
    );
    let again = ok_json(&sb.run(&["upload", "--json", path_str(&unlock_apk())]));
    assert_eq!(again[0]["cached"], false);
}

/// A scope file from a doksi that did not yet record host and key hint lists under its scope
/// hash; the next upload records them. `clear` counts in words.
#[test]
fn cache_list_of_an_older_scope_file_shows_the_scope_hash() {
    let sb = Sandbox::start(&[]);
    let t = target(&sb);
    let folder = sb.cache_dir().join("targets-v1");
    let file = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let object = json.as_object_mut().unwrap();
    assert!(object.remove("host").is_some() && object.remove("key_hint").is_some());
    std::fs::write(&file, serde_json::to_string(&json).unwrap()).unwrap();
    let scope = file.file_stem().unwrap().to_str().unwrap();

    let list = ok_json(&sb.run(&["cache", "list", "--json"]));
    assert_eq!(list[0]["target_id"], t.as_str());
    assert_eq!(list[0]["scope"], scope);
    assert!(
        list[0]["host"].is_null() && list[0]["key_hint"].is_null(),
        "{list}"
    );
    let r = sb.run(&["cache", "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    let at = lines[0].find("SCOPE").unwrap();
    assert_eq!(lines[1].get(at..), Some(scope), "{}", r.stdout);

    // Another APK's upload writes the file again, with host and key hint.
    let other = apk_fixtures().join("appium-android-ime-2.0.0-debug.apk");
    let r = sb.run(&["upload", path_str(&other)]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let list = ok_json(&sb.run(&["cache", "list", "--json"]));
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    let hint = &sb.key[sb.key.len() - 4..];
    for entry in list.as_array().unwrap() {
        assert_eq!(entry["key_hint"], hint, "{list}");
    }
    let r = sb.run(&["cache", "clear"]);
    assert!(
        r.stdout.starts_with("removed 2 cached targets from "),
        "{}",
        r.stdout
    );
    let r = sb.run(&["cache", "clear"]);
    assert!(
        r.stdout.starts_with("removed 0 cached targets from "),
        "{}",
        r.stdout
    );
}

#[test]
fn demo_runs_end_to_end_and_shows_the_cache_hit() {
    let home = tempfile::tempdir().unwrap();
    let out = crate::common::doksi(home.path())
        .arg("demo")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("uploaded: target bin_"), "{stderr}");
    assert!(stderr.contains("cached: target bin_"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .matches(": passed (")
            .count(),
        2
    );
}

#[test]
fn in_one_stream_each_result_is_told_once_and_the_verdict_is_last() {
    let sb = Sandbox::start(&[]);
    let args = ["--category", "cat_failing", "--category", "cat_smoke"];
    let (code, log) = merged_ci(&sb, &args);
    assert_eq!(code, 1, "{log}");
    let lines: Vec<&str> = log.lines().collect();
    let results: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("  passed ") || l.starts_with("  failed "))
        .collect();
    assert_eq!(results.len(), 1, "{log}");
    for r in &results {
        assert_eq!(
            lines.iter().filter(|l| l == r).count(),
            1,
            "{r:?} told more than once:\n{log}"
        );
    }
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("Payment declined"))
            .count(),
        1,
        "{log}"
    );
    // The verdict comes after every result, and for a failed run the error line is the verdict
    // and the summary both: no summary line says the same again before it.
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("run ") && l.contains(": failed (")),
        "{log}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("1 of 3 tests failed, 2 passed"),
        "the verdict is not last:\n{log}"
    );

    // Apart, as a script reads them, stdout has the summary and the failed test.
    let r = ci(&sb, &args);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stdout.starts_with("run run_2: failed ("), "{}", r.stdout);
    assert!(r.stdout.contains("Payment declined"), "{}", r.stdout);
    assert!(r.stderr.contains("Payment declined"), "{}", r.stderr);
}

#[test]
fn in_one_stream_upload_names_each_target_once() {
    let sb = Sandbox::start(&[]);
    let apk = unlock_apk();
    let (code, log) = merged(&sb, &["upload", path_str(&apk)], &[]);
    assert_eq!(code, 0, "{log}");
    let target = log
        .lines()
        .find_map(|l| l.split_once('\t').map(|(t, _)| t.to_owned()))
        .unwrap_or_else(|| panic!("no `target\\tpath` line:\n{log}"));
    assert_eq!(log.matches(target.as_str()).count(), 1, "{log}");
    // Apart, stderr still tells the step.
    let r = sb.run(&["upload", path_str(&apk), "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("uploaded: target"), "{}", r.stderr);
}

#[test]
fn upload_quarter_lines_in_a_log_tell_each_quarter_s_own_amount() {
    let sb = Sandbox::start(&[]);
    let big = apk_fixtures().join("appium-uiautomator2-server-10.6.6.apk");
    let r = sb.run(&["upload", path_str(&big), "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let quarters: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("uploading ") && l.contains("% ("))
        .collect();
    assert_eq!(quarters.len(), 4, "{}", r.stderr);
    let mib = |s: &str| -> f64 { s.trim_end_matches(" MiB").parse().unwrap() };
    let mut total = None;
    for (i, line) in quarters.iter().enumerate() {
        let pct = format!("{}% (", (i + 1) * 25);
        let rest = line
            .split_once(&pct)
            .unwrap_or_else(|| panic!("{line:?}: not {pct}"))
            .1
            .trim_end_matches(')');
        let (sent, of) = rest.split_once(" of ").unwrap();
        let (sent, of) = (mib(sent), mib(of));
        assert_eq!(*total.get_or_insert(of), of, "{}", r.stderr);
        let expected = of * (i + 1) as f64 / 4.0;
        assert!(
            (sent - expected).abs() <= 0.1,
            "{line:?}: {sent} MiB is not {}% of {of} MiB",
            (i + 1) * 25
        );
    }
}

#[cfg(unix)]
#[test]
fn ctrl_c_during_an_upload_says_what_was_registered_and_exits_130() {
    let sb = Sandbox::start(&["--fault", "POST /targets=stall-after-create"]);
    let big = apk_fixtures().join("appium-uiautomator2-server-10.6.6.apk");
    let mut cmd = sb.command();
    cmd.args(["upload", path_str(&big)])
        .stdout(std::process::Stdio::null());
    // All sent, and the registration hangs: the upload is under way when the signal comes.
    let (code, seen) = crate::common::signal_when(cmd, "100% (", "-INT");
    assert_eq!(code, 130, "{seen}");
    assert!(
        seen.lines().last().unwrap().starts_with(
            "doksi: error: interrupted by SIGINT; the uploads that finished are registered and cached, the one under way is not cached"
        ),
        "{seen}"
    );
    assert_eq!(sb.runs_created(), 0);
}

#[test]
fn a_long_wait_tells_a_line_at_least_every_progress_interval() {
    let sb = Sandbox::start(&["--run-step", "1s"]);
    let apk = unlock_apk();
    let mut args = vec!["ci", path_str(&apk), "--category", "cat_smoke"];
    args.extend(FAST);
    let alive = |stderr: &str| -> Vec<String> {
        stderr
            .lines()
            .filter(|l| l.contains(" done, ") && l.ends_with(" elapsed"))
            .map(str::to_owned)
            .collect()
    };
    let r = sb.run_with(&args, &[("DOKSI_PROGRESS_INTERVAL", "300ms")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines = alive(&r.stderr);
    assert!(lines.len() >= 2, "{}", r.stderr);
    for l in &lines {
        let (_, rest) = l.split_once(": ").unwrap();
        let parts: Vec<&str> = rest.split(", ").collect();
        assert_eq!(parts.len(), 4, "{l}");
        assert!(["queued", "running"].contains(&parts[0]), "{l}");
        let (done, total) = parts[1].trim_end_matches(" done").split_once('/').unwrap();
        assert!(done.parse::<u64>().unwrap() <= 2, "{l}");
        assert_eq!(total, "2", "{l}");
        assert_eq!(parts[2], "0 failed", "{l}");
    }
    // By default a minute goes by before such a line: none in a run of seconds.
    let r = sb.run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(alive(&r.stderr), Vec::<String>::new(), "{}", r.stderr);
}

/// `doksi sandbox -v` prints a line per request it serves, as its request log records it:
/// method, path (query values masked), status, duration; never a header, never the key.
/// Without -v it prints none.
#[test]
fn sandbox_v_prints_each_request_it_serves() {
    let served_lines = |verbose: bool| {
        let log = tempfile::NamedTempFile::new().unwrap();
        let flags: &[&str] = if verbose { &["-v"] } else { &[] };
        let sb = Sandbox::start_with_stderr(flags, log.reopen().unwrap());
        let apk = unlock_apk();
        let mut args = vec!["ci", path_str(&apk), "--category", "cat_smoke", "--json"];
        args.extend(FAST);
        assert_eq!(ok_json(&sb.run(&args))["status"], "passed");
        // A line is written before its answer goes out: by now every one is in the file.
        let stderr = std::fs::read_to_string(log.path()).unwrap();
        let lines: Vec<String> = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("sandbox: "))
            .map(str::to_owned)
            .collect();
        (sb, lines)
    };

    let (sb, lines) = served_lines(true);
    let log = sb.requests()["log"].as_array().unwrap().clone();
    assert_eq!(lines.len(), log.len(), "{lines:#?}");
    for (line, entry) in lines.iter().zip(&log) {
        let parts: Vec<&str> = line.split(' ').collect();
        let [method, path, status, duration] = parts[..] else {
            panic!("not METHOD PATH STATUS DURATION: {line:?}");
        };
        assert_eq!(method, entry["method"], "{line}");
        assert_eq!(status, entry["status"].to_string(), "{line}");
        assert!(path.contains(entry["route"].as_str().unwrap()), "{line}");
        let ms = duration
            .strip_suffix("ms")
            .unwrap_or_else(|| panic!("{line}"));
        assert!(ms.parse::<u64>().is_ok(), "{line}");
        assert!(
            !line.contains(&sb.key) && !line.contains("Bearer"),
            "{line}"
        );
        // Of a query, only the names: a presigned URL's signature is a value.
        if let Some((_, query)) = path.split_once('?') {
            for pair in query.split('&') {
                assert!(pair.ends_with("=…"), "{line}");
            }
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("POST /external/integration/cicd/uploads 200 ")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("PUT /uploads/")
            && l.contains("?X-Amz-Date=…&X-Amz-Expires=…&X-Amz-Signature=… 200 ")),
        "{lines:#?}"
    );
    for route in ["POST /external", "GET /external"] {
        assert!(
            lines.iter().any(|l| l.starts_with(route)),
            "{route}: {lines:#?}"
        );
    }

    let (_, lines) = served_lines(false);
    assert_eq!(lines, Vec::<String>::new());
}
