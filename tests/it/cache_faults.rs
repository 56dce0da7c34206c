//! The cache is an optimisation: a folder that cannot be read, locked or written, or another
//! doksi stalled on the same APK, costs an upload at most — never the target the server
//! registered, nor the run.
//!
//! Tests run as root here, where permissions stop no write, so the faults are shapes that fail for
//! everyone: a file where a folder belongs, a folder where a file belongs.

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use doksi::cache::{Attempt, Cache, HashLock, LockWait, Scope};
use doksi::remark::Remark;
use doksi::upload::{Candidate, Reuse, Uploader};

use crate::common::ci;
use crate::sandbox::{Sandbox, path_str, unlock_apk};

/// The scope file the first upload to `sb` created.
fn scope_file(sb: &Sandbox) -> PathBuf {
    fs::read_dir(sb.cache_dir().join("targets-v1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a scope file")
}

fn upload_once(sb: &Sandbox) -> String {
    let r = sb.run(&["upload", path_str(&unlock_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout.split('\t').next().unwrap().to_owned()
}

#[test]
fn a_target_the_cache_cannot_keep_is_still_printed_and_run() {
    let sb = Sandbox::start(&[]);
    let first = upload_once(&sb);
    // The scope's lock file turned into a folder: no one, root included, can open it to write,
    // so storing any entry fails after the target is registered, as on a full disk.
    let lock = PathBuf::from(format!("{}.lock", scope_file(&sb).display()));
    fs::remove_file(&lock).unwrap();
    fs::create_dir(&lock).unwrap();

    let r = sb.run(&["upload", "--force", path_str(&unlock_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (target, path) = r.stdout.trim_end().split_once('\t').unwrap();
    assert!(
        target.starts_with("bin_") && target != first,
        "{}",
        r.stdout
    );
    assert_eq!(path, path_str(&unlock_apk()));
    let warning = r
        .stderr
        .lines()
        .find(|l| l.starts_with("doksi: warning: "))
        .unwrap_or_else(|| panic!("no warning: {}", r.stderr));
    assert!(
        warning.contains(&format!(
            "target {target} was not cached: cannot lock cache file"
        )) && warning.contains(&lock.display().to_string())
            && warning.contains("the next run will upload"),
        "{warning}"
    );
    assert_eq!(sb.count("PUT /uploads"), 2);

    let r = ci(&sb, &["--category", "cat_smoke", "--force"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("was not cached"), "{}", r.stderr);
    assert!(r.stdout.contains(": passed"), "{}", r.stdout);
    assert_eq!(sb.runs_created(), 1);
    assert_eq!(sb.count("PUT /uploads"), 3);
}

#[test]
fn an_unusable_cache_folder_is_one_warning_and_ci_still_runs() {
    let sb = Sandbox::start(&[]);
    let targets = sb.cache_dir().join("targets-v1");
    fs::create_dir_all(sb.cache_dir()).unwrap();
    fs::write(&targets, "a file where the folder belongs").unwrap();

    let r = ci(&sb, &["--category", "cat_smoke"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let warnings: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("doksi: warning: "))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].contains(&format!("cannot create cache folder {}", targets.display()))
            && warnings[0].contains("uploading without the cache"),
        "{}",
        warnings[0]
    );
    assert_eq!(sb.runs_created(), 1);
    assert_eq!(sb.count("PUT /uploads"), 1);

    // The cache's own commands have nothing to fall back on: they fail, and say why.
    for args in [&["cache", "list"][..], &["cache", "clear"]] {
        let r = sb.run(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!(
                "error: cannot create cache folder {}",
                targets.display()
            )),
            "{args:?}: {}",
            r.stderr
        );
    }
}

#[test]
fn without_any_cache_folder_upload_warns_and_uploads() {
    let sb = Sandbox::start(&[]);
    let out = sb
        .command()
        .env_remove("DOKSI_CACHE_DIR")
        .env_remove("HOME")
        .env_remove("XDG_CACHE_HOME")
        .args(["upload", "--json", path_str(&unlock_apk())])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["target_id"].as_str().unwrap().starts_with("bin_"));
    assert!(
        stderr.contains("doksi: warning: no cache folder: set DOKSI_CACHE_DIR"),
        "{stderr}"
    );
    assert_eq!(sb.count("PUT /uploads"), 1);
}

#[test]
fn a_folder_in_place_of_the_scope_file_is_set_aside_and_cleared() {
    let sb = Sandbox::start(&[]);
    upload_once(&sb);
    let scope = scope_file(&sb);
    fs::remove_file(&scope).unwrap();
    fs::create_dir_all(scope.join("inside")).unwrap();

    let r = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["cached"], false);
    assert!(
        r.stderr.contains(&scope.display().to_string()) && r.stderr.contains("it is a folder"),
        "{}",
        r.stderr
    );
    assert!(scope.is_file(), "a fresh scope file in its place");
    let aside = set_aside(&scope);
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(aside[0].join("inside").is_dir(), "kept whole for a look");
    let r = sb.run(&["upload", "--json", path_str(&unlock_apk())]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v[0]["cached"], true, "{}", r.stderr);

    // Back to a folder; `cache clear` takes it and the set-aside one away.
    fs::remove_file(&scope).unwrap();
    fs::create_dir(&scope).unwrap();
    let r = sb.run(&["cache", "clear"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!scope.exists());
    assert_eq!(set_aside(&scope), Vec::<PathBuf>::new());
}

fn set_aside(scope: &Path) -> Vec<PathBuf> {
    let name = scope.file_name().unwrap().to_str().unwrap();
    fs::read_dir(scope.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(&format!("{name}.corrupt-"))
        })
        .collect()
}

/// Takes the unlock APK's upload lock in `sb`'s cache as another doksi would, through the library,
/// which writes this process's pid into the lock file.
fn hold_upload_lock(sb: &Sandbox) -> (HashLock, Scope) {
    let cache = Cache::open(sb.cache_dir()).unwrap();
    let scope = scope_of(sb);
    let sha256 = doksi::package::Fingerprint::of(&unlock_apk())
        .unwrap()
        .sha256;
    match cache.try_lock_hash(&scope.id, &sha256).unwrap() {
        Attempt::Acquired(lock) => (lock, scope),
        Attempt::Held(h) => panic!("held already: {h:?}"),
    }
}

/// The scope doksi derives for `sb`'s URL and key.
fn scope_of(sb: &Sandbox) -> Scope {
    let base = doksi::api::BaseUrl::parse(&sb.base_url, doksi::api::Transport::HttpsOnly).unwrap();
    let key = doksi::api::ApiKey::parse(&sb.key).unwrap();
    Scope::new(
        base.as_str(),
        base.host(),
        &key.fingerprint(),
        key.last_four(),
    )
}

#[test]
fn a_held_upload_lock_is_waited_for_naming_its_holder() {
    let sb = Sandbox::start(&[]);
    let (held, _) = hold_upload_lock(&sb);
    let mut child = sb
        .command()
        .args(["upload", "--json", path_str(&unlock_apk())])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, heard) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap();
            let _ = lines.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let expected = format!(
        "doksi: waiting for another doksi (pid {}) uploading the same APK",
        std::process::id()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match heard.recv_timeout(left) {
            Ok(line) if line.starts_with(&expected) => break,
            Ok(_) => continue,
            Err(e) => panic!("no waiting line ({e}); expected {expected:?}"),
        }
    }
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "it waits");
    assert_eq!(sb.count("POST /uploads"), 0, "and sends nothing meanwhile");

    drop(held);
    let out = child.wait_with_output().unwrap();
    let stderr = reader.join().unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.matches("waiting for").count(),
        1,
        "said once: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["target_id"].as_str().unwrap().starts_with("bin_"));
    assert_eq!(sb.count("PUT /uploads"), 1);
}

#[test]
fn a_lock_held_past_the_wait_limit_is_given_up_and_the_apk_uploaded() {
    let sb = Sandbox::start(&[]);
    let (_held, scope) = hold_upload_lock(&sb);
    let apk = unlock_apk();
    let manifest = doksi::apk::inspect(&apk).unwrap().manifest;
    let fingerprint = doksi::package::Fingerprint::of(&apk).unwrap();
    let base = doksi::api::BaseUrl::parse(&sb.base_url, doksi::api::Transport::HttpsOnly).unwrap();
    let key = doksi::api::ApiKey::parse(&sb.key).unwrap();
    let client = doksi::api::client::Client::new(
        base,
        key,
        doksi::api::client::Timeouts::default(),
        doksi::api::retry::RetryPolicy::default(),
    );
    let cache = Cache::open(sb.cache_dir()).unwrap();
    let remarks = Mutex::new(Vec::new());
    let remark = |r: Remark| remarks.lock().unwrap().push(r);
    let limit = Duration::from_millis(600);
    let uploader = Uploader {
        client: &client,
        cache: Some(&cache),
        scope: scope.clone(),
        reuse: Reuse::Cached,
        lock_wait: LockWait {
            limit,
            poll: Duration::from_millis(50),
        },
        compress: doksi::package::Compress::Never,
        remark: &remark,
    };
    let candidate = Candidate {
        path: &apk,
        manifest: &manifest,
        fingerprint: &fingerprint,
        name: None,
        source: doksi::upload::Source::Apk,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let up = runtime
        .block_on(uploader.upload(candidate, &|_, _| {}))
        .unwrap();
    assert!(started.elapsed() >= limit);
    assert!(!up.cached);
    assert_eq!(sb.count("PUT /uploads"), 1, "uploaded without the lock");

    let pid = std::process::id();
    let mut remarks = remarks.into_inner().unwrap();
    // How the APK was sent, for -v, comes last: it is not what this test is about.
    assert!(
        matches!(remarks.pop(), Some(Remark::Detail(d)) if d.ends_with("stored (--compress never)")),
        "{remarks:?}"
    );
    assert_eq!(remarks.len(), 2, "{remarks:?}");
    assert!(
        matches!(&remarks[0], Remark::Note(n)
            if n.starts_with(&format!("waiting for another doksi (pid {pid}) uploading the same APK"))
            && n.ends_with("uploading anyway after 600ms")),
        "{remarks:?}"
    );
    assert!(
        matches!(&remarks[1], Remark::Warning(w)
            if w.starts_with(&format!("another doksi (pid {pid}) still holds"))
            && w.ends_with(&format!("after 600ms; uploading {} anyway", apk.display()))),
        "{remarks:?}"
    );
    // What it uploaded is cached all the same.
    let entry = cache.get(&scope.id, &fingerprint.sha256).unwrap().unwrap();
    assert_eq!(entry.target_id, up.target_id);
}

#[cfg(unix)]
#[test]
fn sigterm_while_waiting_for_an_upload_lock_ends_doksi_at_once() {
    let sb = Sandbox::start(&[]);
    let (_held, _) = hold_upload_lock(&sb);
    let mut child = sb
        .command()
        .args(["ci", path_str(&unlock_apk()), "--category", "cat_smoke"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (mut stderr, mut seen) = crate::common::stderr_until(&mut child, "waiting for");
    let sent = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::io::Read::read_to_string(&mut stderr, &mut seen).unwrap();
    let status = child.wait().unwrap();
    assert!(
        sent.elapsed() < Duration::from_secs(5),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(143), "{seen}");
    assert!(seen.contains("no run was started"), "{seen}");
    assert_eq!(sb.runs_created(), 0);
}

/// Another APK than [`unlock_apk`], for an upload that takes another hash lock.
fn ime_apk() -> PathBuf {
    crate::common::apk_fixtures().join("appium-android-ime-2.0.0-debug.apk")
}

/// The names in the cache's `targets-v1/locks/`.
fn lock_files(sb: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(sb.cache_dir().join("targets-v1").join("locks"))
        .map(|listing| {
            listing
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Sets a file's modification time `ago` back, as if it had lain there that long.
fn age(path: &Path, ago: Duration) {
    fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - ago)
        .unwrap();
}

#[cfg(unix)]
#[test]
fn an_upload_leaves_no_lock_file_behind() {
    let sb = Sandbox::start(&[]);
    let r = sb.run(&["upload", path_str(&unlock_apk()), path_str(&ime_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(sb.count("PUT /uploads"), 2);
    assert!(
        sb.cache_dir().join("targets-v1").join("locks").is_dir(),
        "the uploads took their locks there"
    );
    assert_eq!(lock_files(&sb), Vec::<String>::new());
    // A cached upload takes the lock too, and leaves nothing either.
    upload_once(&sb);
    assert_eq!(sb.count("PUT /uploads"), 2);
    assert_eq!(lock_files(&sb), Vec::<String>::new());
}

/// A doksi killed mid-upload leaves its lock file (the kernel drops the lock, not the file); an
/// hour on, the next doksi that uploads anything removes it. A lock someone holds stays, however
/// old its file.
#[cfg(unix)]
#[test]
fn a_lock_file_left_by_a_killed_doksi_is_trimmed_and_a_held_one_kept() {
    let sb = Sandbox::start(&[]);
    // The upload's first request is told to come back in a minute: it waits, holding the lock.
    sb.fault("POST /uploads", "429:60", 1);
    let mut child = sb
        .command()
        .args(["upload", path_str(&unlock_apk())])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = loop {
        let named_by_pid = lock_files(&sb).into_iter().find(|name| {
            let path = sb.cache_dir().join("targets-v1/locks").join(name);
            fs::read_to_string(path).is_ok_and(|text| text.trim() == pid)
        });
        if let Some(name) = named_by_pid
            && sb.count("POST /uploads") == 1
        {
            break sb.cache_dir().join("targets-v1/locks").join(name);
        }
        assert!(Instant::now() < deadline, "the upload never held its lock");
        std::thread::sleep(Duration::from_millis(20));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(left.exists(), "a killed holder removes nothing");

    // Beside it, over an hour old too, a lock another doksi holds; and a fresh leftover.
    let scope = scope_of(&sb);
    let cache = Cache::open(sb.cache_dir()).unwrap();
    let other_hash = "0".repeat(64);
    let held = match cache.try_lock_hash(&scope.id, &other_hash).unwrap() {
        Attempt::Acquired(lock) => lock,
        Attempt::Held(h) => panic!("held already: {h:?}"),
    };
    let held_file = left.with_file_name(format!("{}-{other_hash}.lock", scope.id));
    let young = left.with_file_name(format!("{}-{}.lock", scope.id, "1".repeat(64)));
    fs::write(&young, "999998\n").unwrap();
    for old in [&left, &held_file] {
        age(old, Duration::from_secs(2 * 60 * 60));
    }

    let r = sb.run(&["upload", path_str(&ime_apk())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!left.exists(), "the killed holder's lock file stayed");
    assert!(
        young.exists(),
        "a lock file younger than an hour was trimmed"
    );
    assert!(held_file.exists(), "a held lock's file was removed");
    let others = Cache::open(sb.cache_dir()).unwrap();
    match others.try_lock_hash(&scope.id, &other_hash).unwrap() {
        Attempt::Held(h) => assert_eq!(h.pid, Some(std::process::id())),
        Attempt::Acquired(_) => panic!("the held lock was lost"),
    }
    drop(held);
    assert!(!held_file.exists(), "released, its file goes");
}
