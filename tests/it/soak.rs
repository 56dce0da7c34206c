//! A bounded, randomized soak: rounds of 1–4 `doksi ci` processes sharing one cache, against
//! the sandbox with random faults on every route. Whatever the faults, no run is created twice,
//! every cached target is the right one, no process outlives its `--timeout` by more than its
//! uploads and a small margin, and nothing panics. The seed is printed; `DOKSI_SOAK_SEED=N`
//! replays a run.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{apk_fixtures, doksi};
use crate::sandbox::{Sandbox, delete, get};

const ROUNDS: usize = 24;
const TIMEOUT: Duration = Duration::from_secs(4);
/// Uploads and run creation come before `--timeout` starts: with `--attempts 3` and a 2 s
/// request timeout, each step's retries are bounded; this is their allowance plus slack.
const MARGIN: Duration = Duration::from_secs(20);

const FAULTS: [(&str, &[&str]); 5] = [
    (
        "POST /uploads",
        &["503", "429:0", "502-html", "reset", "500"],
    ),
    ("PUT /uploads", &["500", "reset-mid-body", "expire", "503"]),
    (
        "POST /targets",
        &["503", "502-html", "truncate", "reset-after-create"],
    ),
    (
        "POST /runs",
        &[
            "503",
            "429:0",
            "500",
            "serve-then-504",
            "serve-then-502",
            "reset-after-create",
            "stall-after-create",
            "truncate",
            "not-json",
        ],
    ),
    (
        "GET /runs",
        &["504", "429:0", "not-json", "truncate", "404", "reset"],
    ),
];

/// xorshift64*: enough randomness to vary faults, reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn sha256(path: &std::path::Path) -> String {
    let digest = Sha256::digest(std::fs::read(path).unwrap());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn random_faults_never_make_a_second_run_a_wrong_cache_entry_or_a_panic() {
    let seed = std::env::var("DOKSI_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    println!("soak seed {seed} (DOKSI_SOAK_SEED={seed} replays it)");
    let mut rng = Rng(seed);
    let apks: Vec<_> = [
        "appium-unlock-2.0.0-debug.apk",
        "appium-android-ime-2.0.0-debug.apk",
        "io.appium.settings-2.0.0-debug.apk",
    ]
    .iter()
    .map(|n| apk_fixtures().join(n))
    .collect();
    let sb = Sandbox::start(&["--credits", "100000"]);
    let mut invocations = 0u64;
    let mut codes: BTreeMap<i32, u32> = BTreeMap::new();
    for round in 0..ROUNDS {
        for (route, faults) in FAULTS {
            if rng.below(3) > 0 {
                let fault = faults[rng.below(faults.len())];
                sb.fault(route, fault, 1 + rng.below(2) as u32);
            }
        }
        let procs = 1 + rng.below(4);
        let children: Vec<_> = (0..procs)
            .map(|_| {
                let apk = &apks[rng.below(apks.len())];
                let mut cmd = doksi(&sb.cache_dir());
                cmd.env("DOKSI_BASE_URL", &sb.base_url)
                    .env("DOKSI_API_KEY", &sb.key)
                    .env("DOKSI_CACHE_DIR", sb.cache_dir())
                    .args(["ci", apk.to_str().unwrap(), "--category", "cat_smoke"])
                    .args(["--timeout", &format!("{}s", TIMEOUT.as_secs())])
                    .args(["--poll-interval", "100ms", "--retry-delay", "10ms"])
                    .args(["--request-timeout", "2s", "--attempts", "3"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped());
                (Instant::now(), cmd.spawn().unwrap())
            })
            .collect();
        invocations += procs as u64;
        for (started, child) in children {
            let out = child.wait_with_output().unwrap();
            let took = started.elapsed();
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code().unwrap_or(-1);
            assert!(
                !stderr.contains("panicked") && code != 101,
                "seed {seed} round {round}: {stderr}"
            );
            assert!(
                [0, 3, 4].contains(&code),
                "seed {seed} round {round}: exit {code}: {stderr}"
            );
            assert!(
                took <= TIMEOUT + MARGIN,
                "seed {seed} round {round}: took {took:?}: {stderr}"
            );
            *codes.entry(code).or_default() += 1;
        }
        // What a round left in the plan must not leak into the next one's count.
        delete(&format!("{}/faults", sb.admin_url));
    }
    println!("exit codes over {invocations} invocations: {codes:?}");
    let created = sb.runs_created();
    let passed = u64::from(codes.get(&0).copied().unwrap_or(0));
    assert!(
        (passed..=invocations).contains(&created),
        "seed {seed}: {created} runs for {invocations} invocations, {passed} of which passed"
    );
    // Every cached target is the one the server registered for those very bytes.
    let targets: Value =
        serde_json::from_slice(&get(&format!("{}/targets", sb.admin_url))).unwrap();
    let out = doksi(&sb.cache_dir())
        .env("DOKSI_CACHE_DIR", sb.cache_dir())
        .args(["cache", "list", "--json"])
        .output()
        .unwrap();
    let cached: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_hash: BTreeMap<String, &std::path::PathBuf> =
        apks.iter().map(|p| (sha256(p), p)).collect();
    for entry in &cached {
        let sha = entry["sha256"].as_str().unwrap();
        let apk = by_hash
            .get(sha)
            .unwrap_or_else(|| panic!("seed {seed}: cached hash of no APK: {entry}"));
        let target = &targets[entry["target_id"].as_str().unwrap()];
        assert!(
            target.is_object(),
            "seed {seed}: cached {entry} is not a target the server has"
        );
        assert_eq!(
            target["package"],
            entry["package"],
            "seed {seed}: {} cached as another APK's target",
            apk.display()
        );
        let uploaded = sb.stored_upload(target["upload_id"].as_str().unwrap());
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(uploaded)).unwrap();
        let mut inner = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_index(0).unwrap(), &mut inner).unwrap();
        assert_eq!(
            inner,
            std::fs::read(apk).unwrap(),
            "seed {seed}: the target's upload holds other bytes than {}",
            apk.display()
        );
    }
}
