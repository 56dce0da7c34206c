//! The Gradle hook in gradle-wrapper-snippet/: the Groovy snippet run by a real `gradle` against
//! `doksi sandbox` (its Android paths against a stand-in Android Gradle plugin), the Kotlin
//! snippet checked as far as this machine allows, and the `doksiw` wrapper with stand-ins for
//! PATH's doksi and for cargo.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::tool;
use crate::sandbox::{Sandbox, path_str, unlock_apk};

pub(crate) fn snippets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("gradle-wrapper-snippet")
}

fn read_snippet(name: &str) -> String {
    std::fs::read_to_string(snippets().join(name)).unwrap()
}

/// A Groovy single-quoted string literal.
pub(crate) fn groovy_str(p: &Path) -> String {
    format!(
        "'{}'",
        path_str(p).replace('\\', "\\\\").replace('\'', "\\'")
    )
}

pub(crate) struct Output {
    pub(crate) code: Option<i32>,
    /// stdout then stderr.
    pub(crate) text: String,
}

/// Runs `cmd` to its end, or kills it after `limit`.
pub(crate) fn run_limited(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {limit:?}; output so far:\n{}\n{}",
                out.join().unwrap(),
                err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Output {
        code: status.code(),
        text: format!("{}\n{}", out.join().unwrap(), err.join().unwrap()),
    }
}

// ---------------------------------------------------------------------------------------------
// The Groovy snippet on a real Gradle.

/// A multi-project Gradle build, `shop`, whose root applies the snippet to every project with
/// `allprojects { apply from: ... }`, and has three subprojects:
/// - `app`, plain, whose `assembleRelease` produces what AGP would: the APK and its
///   output-metadata.json under app/build/outputs/apk/release;
/// - `lib`, with an `assembleRelease` and a plugin applied by the id `com.android.library` (a
///   stand-in: Gradle's own `base` plugin registered under that id by a plugin descriptor);
/// - `tool`, plain, with no assemble task and `doksi.variants=staging, qa` in its
///   gradle.properties.
///
/// Returns the root and the app folders.
pub(crate) fn gradle_project(root: &Path) -> (PathBuf, PathBuf) {
    let project = root.join("shop");
    let app = project.join("app");
    let made = root.join("made");
    std::fs::create_dir_all(&app).unwrap();
    let descriptors = project.join("fake-android/META-INF/gradle-plugins");
    std::fs::create_dir_all(&descriptors).unwrap();
    std::fs::write(
        descriptors.join("com.android.library.properties"),
        "implementation-class=org.gradle.api.plugins.BasePlugin\n",
    )
    .unwrap();
    std::fs::create_dir_all(project.join("lib")).unwrap();
    std::fs::write(
        project.join("lib/build.gradle"),
        "buildscript { dependencies { classpath files('../fake-android') } }\n\
         apply plugin: 'com.android.library'\n\
         task assembleRelease\n",
    )
    .unwrap();
    std::fs::create_dir_all(project.join("tool")).unwrap();
    std::fs::write(
        project.join("tool/gradle.properties"),
        "doksi.variants=staging, qa\n",
    )
    .unwrap();
    std::fs::create_dir_all(&made).unwrap();
    std::fs::copy(unlock_apk(), made.join("app-release.apk")).unwrap();
    let metadata = serde_json::json!({
        "version": 3,
        "artifactType": {"type": "APK", "kind": "Directory"},
        "applicationId": "io.appium.unlock",
        "variantName": "release",
        "elements": [{
            "type": "SINGLE",
            "filters": [],
            "attributes": [],
            "versionCode": 2,
            "versionName": "2.0.0",
            "outputFile": "app-release.apk"
        }],
        "elementType": "File"
    });
    std::fs::write(
        made.join("output-metadata.json"),
        serde_json::to_string_pretty(&metadata).unwrap(),
    )
    .unwrap();
    std::fs::write(
        project.join("settings.gradle"),
        "rootProject.name = 'shop'\ninclude 'app', 'lib', 'tool'\n",
    )
    .unwrap();
    std::fs::write(
        project.join("build.gradle"),
        format!(
            "allprojects {{\n    apply from: {}\n}}\n",
            groovy_str(&snippets().join("doksi.gradle"))
        ),
    )
    .unwrap();
    let build = format!(
        "task assembleRelease {{
    doLast {{
        def out = file('build/outputs/apk/release')
        out.mkdirs()
        ['app-release.apk', 'output-metadata.json'].each {{
            java.nio.file.Files.copy(new File({made}, it).toPath(), new File(out, it).toPath(),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING)
        }}
    }}
}}
",
        made = groovy_str(&made),
    );
    std::fs::write(app.join("build.gradle"), build).unwrap();
    (project, app)
}

/// `gradle --offline --no-daemon -q ARGS` in `project`, with the sandbox's URL, key and cache in
/// the environment (when there is one) and nothing else of ours.
pub(crate) fn gradle_command(
    gradle: &Path,
    project: &Path,
    home: &Path,
    sb: Option<&Sandbox>,
) -> Command {
    let mut cmd = Command::new(gradle);
    cmd.env_clear();
    for var in ["PATH", "JAVA_HOME", "LANG"] {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("HOME", home)
        .env("GRADLE_USER_HOME", home.join("gradle-user-home"))
        .current_dir(project)
        .args([
            "--offline",
            "--no-daemon",
            "-Dorg.gradle.daemon=false",
            "-q",
        ]);
    if let Some(sb) = sb {
        cmd.env("DOKSI_BASE_URL", &sb.base_url)
            .env("DOKSI_API_KEY", &sb.key)
            .env("DOKSI_CACHE_DIR", sb.cache_dir());
    }
    cmd
}

fn gradle(gradle: &Path, project: &Path, home: &Path, sb: &Sandbox, args: &[&str]) -> Output {
    let mut cmd = gradle_command(gradle, project, home, Some(sb));
    cmd.args(args);
    let start = Instant::now();
    let out = run_limited(cmd, Duration::from_secs(300));
    eprintln!("gradle {args:?}: {:?}", start.elapsed());
    out
}

#[test]
fn the_groovy_snippet_gates_a_gradle_build_on_the_verdict() {
    let Some(gradle_bin) = crate::common::needed_tool("gradle", "gradle") else {
        return;
    };
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let (project, app) = gradle_project(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let executable = format!("-Pdoksi.executable={}", env!("CARGO_BIN_EXE_doksi"));
    let run = |args: &[&str]| gradle(&gradle_bin, &project, &home, &sb, args);

    // Passing tests: the build passes, after :app:assembleRelease, with one run created (so
    // the root project, which has no assembleRelease, did not run doksi too).
    let passed = run(&[
        "doksiSmokeRelease",
        "-Pdoksi.categories=cat_smoke",
        &executable,
        "-Pdoksi.pollInterval=100ms",
    ]);
    assert_eq!(passed.code, Some(0), "{}", passed.text);
    assert!(
        app.join("build/outputs/apk/release/app-release.apk")
            .is_file(),
        "doksiSmokeRelease did not run assembleRelease first"
    );
    assert_eq!(sb.runs_created(), 1, "{}", passed.text);
    assert!(passed.text.contains("passed"), "{}", passed.text);
    // The JUnit report sits where Gradle's test tasks put theirs.
    let report = app.join("build/test-results/doksiSmokeRelease/TEST-doksi.xml");
    let xml = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{report:?}: {e}"));
    assert!(xml.contains(r#"name="Checkout flow""#), "{xml}");

    // No categories: doksi refuses (exit 2, nothing sent) and the failure says where to name
    // them. The passing run's report is gone, so CI cannot show its green results for this run.
    let before = sb.total();
    let unchosen = run(&["doksiSmokeRelease", &executable]);
    assert_ne!(unchosen.code, Some(0), "{}", unchosen.text);
    for expected in [
        "(doksi exit code 2): doksi: error: nothing to run",
        "(pass -Pdoksi.categories=cat_a,cat_b or set DOKSI_CATEGORIES, or name them in doksi.toml)",
    ] {
        assert!(
            unchosen.text.contains(expected),
            "no {expected:?} in:\n{}",
            unchosen.text
        );
    }
    assert_eq!(sb.total(), before, "{}", unchosen.text);
    assert!(
        !report.exists(),
        "the passing run's report outlived a failed run"
    );

    // A failing test: the build fails with the test's message and the snippet's.
    let failed = run(&[
        "doksiSmokeRelease",
        "-Pdoksi.categories=cat_failing",
        &executable,
        "-Pdoksi.pollInterval=100ms",
    ]);
    assert_ne!(failed.code, Some(0), "{}", failed.text);
    assert_eq!(sb.runs_created(), 2, "{}", failed.text);
    for expected in [
        "Payment declined",
        "Doksi tests failed (doksi exit code 1): doksi: error: run",
        "1 of 1 test failed, 0 passed",
    ] {
        assert!(
            failed.text.contains(expected),
            "no {expected:?} in:\n{}",
            failed.text
        );
    }
    assert!(
        !failed.text.contains("-Pdoksi.categories=cat_a"),
        "a hint about categories though they were given:\n{}",
        failed.text
    );

    // Skipped, and with no categories: passes without a request, so configuring without
    // categories does not break a build. The same build lists the tasks (and shows warnings):
    // `app` (which has assembleRelease) has doksiSmokeRelease, not doksiSmokeDebug (no
    // assembleDebug); `tool` has the variants its doksi.variants names; `lib` (an Android
    // library) has none, said in one warning; the root (no assemble task at all) has none.
    let before = sb.total();
    let skipped = run(&[
        "doksiSmokeRelease",
        "-Pdoksi.skip=true",
        &executable,
        "--warn",
        "tasks",
        "--all",
    ]);
    assert_eq!(skipped.code, Some(0), "{}", skipped.text);
    assert_eq!(sb.total(), before, "a skipped task sent requests");
    let mut listed: Vec<&str> = skipped
        .text
        .lines()
        .filter(|l| l.contains("doksiSmoke"))
        .map(|l| l.split(" - ").next().unwrap().trim())
        .collect();
    listed.sort();
    let warning = "doksi.gradle adds no doksiSmoke tasks to :lib, a com.android.library module: \
                   apply it in the application module (com.android.application) instead.";
    assert_eq!(
        listed,
        [
            "app:doksiSmokeRelease",
            warning,
            "tool:doksiSmokeQa",
            "tool:doksiSmokeStaging"
        ],
        "{}",
        skipped.text
    );

    for out in [&passed, &unchosen, &failed, &skipped] {
        assert!(
            !out.text.contains(&sb.key),
            "the API key reached the build log"
        );
    }
}

/// Cancelling the build stops doksi: a JVM that ends (as a Gradle daemon does when it gives up
/// on a cancelled build, or a `--no-daemon` Gradle on SIGTERM) takes doksi with it instead of
/// leaving it running with PPID 1. The doksi here is a stand-in that writes its pid, then sleeps.
#[test]
fn the_groovy_snippet_stops_doksi_when_gradle_ends() {
    let Some(gradle_bin) = crate::common::needed_tool("gradle", "gradle") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (project, _app) = gradle_project(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pid_file = dir.path().join("doksi.pid");
    let stand_in = dir.path().join("slow-doksi");
    write_script(
        &stand_in,
        &format!(
            "echo $$ > '{pid}.tmp' && '{mv}' '{pid}.tmp' '{pid}'\nexec '{sleep}' 300\n",
            pid = path_str(&pid_file),
            mv = path_str(&tool("mv").expect("mv")),
            sleep = path_str(&tool("sleep").expect("sleep")),
        ),
    );
    let mut cmd = gradle_command(&gradle_bin, &project, &home, None);
    cmd.args([
        "doksiSmokeRelease",
        "-Pdoksi.categories=cat_smoke",
        &format!("-Pdoksi.executable={}", path_str(&stand_in)),
    ]);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let doksi_pid = loop {
        if let Ok(pid) = std::fs::read_to_string(&pid_file) {
            break pid.trim().to_owned();
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("gradle ended ({status}) before starting doksi");
        }
        if start.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            panic!("gradle did not start doksi in 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let alive = |pid: &str| {
        // A process that ended but was not reaped yet (a zombie) counts as ended.
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            stat.rsplit(") ")
                .next()
                .is_some_and(|s| !s.starts_with('Z'))
        })
    };
    assert!(alive(&doksi_pid), "the stand-in doksi is not running");
    let term = Command::new(tool("kill").expect("kill"))
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = child.wait().unwrap();
    let gone = Instant::now();
    // Gradle's shutdown hook stops doksi within a second or two; on a loaded 2-core machine the
    // JVM itself can take far longer to get there, and that is not what this test is about.
    while alive(&doksi_pid) && gone.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let still = alive(&doksi_pid);
    if still {
        let _ = Command::new(tool("kill").expect("kill"))
            .args(["-KILL", &doksi_pid])
            .status();
    }
    assert!(!still, "doksi (pid {doksi_pid}) outlived gradle ({status})");
}

// ---------------------------------------------------------------------------------------------
// The Groovy snippet's Android paths, against a stand-in Android Gradle plugin.

/// A stand-in for the Android Gradle plugin (AGP), in Groovy, which Gradle compiles in the test
/// build's `buildSrc/`: the `android` DSL (build types, product flavors of one dimension, ABI
/// splits), the variants they make, and per variant a `package<Variant>` task that copies
/// fixture APKs where AGP writes its own (`<buildDir>/outputs/apk/[<flavor>/]<buildType>/`,
/// named `<archivesBaseName>-[<flavor>-][<abi>-]<buildType>.apk`) with their
/// output-metadata.json, and `assemble<Variant>` after it (which leaves a marker file
/// `<buildDir>/assembled-<variant>`), with AGP's aggregates (`assemble<BuildType>`,
/// `assemble<Flavor>`, `assemble`). Its two variant APIs, each from a plugin class of its own:
/// - `OldAppPlugin`, AGP 4.1: `android.applicationVariants`, a `DomainObjectSet` filled after
///   the build script is evaluated, after the variants' tasks exist;
/// - `NewAppPlugin`, AGP 7 and later (4.2 had the same calls, incubating):
///   `androidComponents.selector()` and `onVariants(VariantSelector, Action)` (beside an overload
///   for Kotlin's function type), whose callbacks run after evaluation, before the variants'
///   tasks exist, and which refuses a callback registered once they ran, with AGP's message.
///   Its `android` has no `applicationVariants`, as in AGP 9 (7 and 8 keep the old API beside
///   the new), so nothing but `androidComponents` gives the snippet any variant there. Each
///   variant has AGP's artifact API as far as the snippet uses it: `variant.artifacts.get(
///   SingleArtifact.APK)`, a `Provider<Directory>` of the variant's APK folder (which AGP's
///   `BuiltArtifactsLoader` reads by its output-metadata.json) that carries its producer,
///   `package<Variant>`. Gradle 4.4 has no provider that knows its producing task, so the fake's
///   is also a `Buildable` naming it, which Gradle 4.4 follows from a task input; on Gradle 7
///   and later AGP's provider carries its producer itself. `SingleArtifact.APK` is a nested class
///   with an `INSTANCE` field, as Kotlin compiles AGP's `object APK`.
const FAKE_AGP: [(&str, &str); 4] = [
    (
        "com/android/build/api/artifact/SingleArtifact.groovy",
        r#"package com.android.build.api.artifact

import org.gradle.api.file.Directory

// com.android.build.api.artifact.SingleArtifact, of which only APK.
abstract class SingleArtifact<T> {
    final String name
    SingleArtifact(String name) { this.name = name }

    static final class APK extends SingleArtifact<Directory> {
        // Public, as the field Kotlin makes for an `object`.
        public static final APK INSTANCE = new APK()
        APK() { super('APK') }
    }
}
"#,
    ),
    (
        "fakeagp/FakeAndroid.groovy",
        r#"package fakeagp

import groovy.json.JsonOutput
import org.gradle.api.NamedDomainObjectContainer
import org.gradle.api.Project

class BuildType {
    final String name
    BuildType(String name) { this.name = name }
}

class ProductFlavor {
    final String name
    String dimension
    ProductFlavor(String name) { this.name = name }
    void dimension(String dimension) { this.dimension = dimension }
}

// The `android { }` block both generations share.
class AndroidDsl {
    final NamedDomainObjectContainer<BuildType> buildTypes
    final NamedDomainObjectContainer<ProductFlavor> productFlavors
    final List<String> flavorDimensionList = []

    AndroidDsl(Project project) {
        buildTypes = project.container(BuildType)
        productFlavors = project.container(ProductFlavor)
        buildTypes.create('debug')
        buildTypes.create('release')
    }

    final Splits splits = new Splits()

    void buildTypes(Closure configure) { buildTypes.configure(configure) }
    void productFlavors(Closure configure) { productFlavors.configure(configure) }
    void flavorDimensions(String... names) { flavorDimensionList.addAll(names) }
    void splits(Closure configure) { configureWith(splits, configure) }

    static void configureWith(Object target, Closure configure) {
        configure.delegate = target
        configure.resolveStrategy = Closure.DELEGATE_FIRST
        configure.call()
    }
}

// android.splits.abi: enable, include, universalApk (as AGP's AbiSplitOptions).
class AbiSplit {
    boolean enabled
    boolean universal
    final List<String> abis = []
    void enable(boolean on) { enabled = on }
    void reset() { abis.clear() }
    void include(String... names) { abis.addAll(names) }
    void universalApk(boolean on) { universal = on }
}

class Splits {
    final AbiSplit abi = new AbiSplit()
    void abi(Closure configure) { AndroidDsl.configureWith(abi, configure) }
}

// A variant: a flavor (or none) and a build type.
class VariantInfo {
    final String name
    final String flavorName
    final String buildType

    VariantInfo(String flavorName, String buildType) {
        this.flavorName = flavorName
        this.buildType = buildType
        name = flavorName ? flavorName + FakeAndroid.capitalize(buildType) : buildType
    }

    // Where AGP puts its APKs: build/outputs/apk/[<flavor>/]<buildType>/.
    String getDirName() { flavorName ? flavorName + '/' + buildType : buildType }
}

class FakeAndroid {
    static String capitalize(String s) { s.substring(0, 1).toUpperCase() + s.substring(1) }

    static List<VariantInfo> variants(AndroidDsl dsl) {
        if (dsl.productFlavors.empty) {
            return dsl.buildTypes.collect { new VariantInfo(null, it.name) }
        }
        if (dsl.flavorDimensionList.size() != 1) {
            throw new IllegalStateException('the fake AGP knows exactly one flavor dimension')
        }
        List<VariantInfo> all = []
        dsl.productFlavors.each { f -> dsl.buildTypes.each { b -> all.add(new VariantInfo(f.name, b.name)) } }
        all
    }

    // The variant's APK folder, as the build's buildDir is when it is read.
    static File apkFolder(Project project, VariantInfo v) {
        new File(project.buildDir, 'outputs/apk/' + v.dirName)
    }

    // package<Variant> "builds" <archivesBaseName>-<flavor>-<buildType>.apk (a copy of the
    // root's fixture.apk) or, with ABI splits, one APK per ABI (fixture-<abi>.apk) and the
    // universal one, and output-metadata.json as `metadata` makes it from the elements;
    // assemble<Variant> depends on it and leaves a marker.
    static void createTasks(Project project, AndroidDsl dsl, List<VariantInfo> variants, Closure metadata) {
        Map<String, List<String>> aggregates = [:]
        variants.each { VariantInfo v ->
            String packaging = 'package' + capitalize(v.name)
            project.tasks.create(packaging) { t ->
                t.doLast {
                    File out = apkFolder(project, v)
                    out.mkdirs()
                    String base = project.archivesBaseName
                    AbiSplit split = dsl.splits.abi
                    // [type, ABI or null, fixture]
                    List<List> made = split.enabled
                        ? split.abis.collect { ['ONE_OF_MANY', it, 'fixture-' + it + '.apk'] } +
                            (split.universal ? [['UNIVERSAL', 'universal', 'fixture.apk']] : [])
                        : [['SINGLE', null, 'fixture.apk']]
                    List<Map> elements = made.collect { String type, String abi, String fixture ->
                        String apk = [base, v.flavorName, abi, v.buildType].findAll { it }.join('-') + '.apk'
                        java.nio.file.Files.copy(project.rootProject.file(fixture).toPath(),
                            new File(out, apk).toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING)
                        List filters = type == 'ONE_OF_MANY' ? [[filterType: 'ABI', value: abi]] : []
                        [type: type, filters: filters, versionCode: 2, versionName: '2.0.0', outputFile: apk]
                    }
                    new File(out, 'output-metadata.json').text =
                        JsonOutput.prettyPrint(JsonOutput.toJson(metadata(v, elements)))
                }
            }
            String name = 'assemble' + capitalize(v.name)
            project.tasks.create(name) { t ->
                t.group = 'build'
                t.description = 'Assembles main output for variant ' + v.name
                t.dependsOn(packaging)
                t.doLast {
                    new File(project.buildDir, 'assembled-' + v.name).text = ''
                }
            }
            // Without flavors, assemble<BuildType> is the variant's own task.
            [v.buildType, v.flavorName].findAll { it && it != v.name }.each { String part ->
                aggregates.get('assemble' + capitalize(part), []).add(name)
            }
        }
        aggregates.each { String name, List<String> parts ->
            project.tasks.create(name) { it.group = 'build'; it.dependsOn(parts) }
        }
        project.tasks.getByName('assemble').dependsOn(aggregates.keySet())
    }
}
"#,
    ),
    (
        "fakeagp/OldAppPlugin.groovy",
        r#"package fakeagp

import org.gradle.api.DomainObjectSet
import org.gradle.api.Plugin
import org.gradle.api.Project
import org.gradle.api.internal.DefaultDomainObjectSet

// com.android.build.gradle.api.ApplicationVariant, the part build scripts read most.
class OldApplicationVariant {
    private final VariantInfo info
    OldApplicationVariant(VariantInfo info) { this.info = info }
    String getName() { info.name }
    String getFlavorName() { info.flavorName ?: '' }
    String getDirName() { info.dirName }
}

// com.android.build.gradle.AppExtension
class AppExtension extends AndroidDsl {
    final DomainObjectSet<OldApplicationVariant> applicationVariants =
        new DefaultDomainObjectSet<OldApplicationVariant>(OldApplicationVariant)

    AppExtension(Project project) { super(project) }
}

// com.android.application of AGP 4.1: no androidComponents yet.
class OldAppPlugin implements Plugin<Project> {
    void apply(Project project) {
        project.plugins.apply('base')
        AppExtension android = project.extensions.create('android', AppExtension, project)
        // As AGP's createAndroidTasks, after evaluation: the variants' tasks, then their API
        // objects.
        project.afterEvaluate {
            List<VariantInfo> variants = FakeAndroid.variants(android)
            FakeAndroid.createTasks(project, android, variants) { VariantInfo v, List<Map> elements ->
                // AGP 4.1's output-metadata.json, version 1, with a task name for the variant.
                [
                    version      : 1,
                    artifactType : [type: 'APK', kind: 'Directory'],
                    applicationId: 'io.appium.unlock',
                    variantName  : 'process' + FakeAndroid.capitalize(v.name) + 'Resources',
                    elements     : elements,
                ]
            }
            variants.each { android.applicationVariants.add(new OldApplicationVariant(it)) }
        }
    }
}
"#,
    ),
    (
        "fakeagp/NewAppPlugin.groovy",
        r#"package fakeagp

import com.android.build.api.artifact.SingleArtifact
import org.gradle.api.Action
import org.gradle.api.Buildable
import org.gradle.api.Plugin
import org.gradle.api.Project
import org.gradle.api.Task
import org.gradle.api.file.Directory
import org.gradle.api.file.FileCollection
import org.gradle.api.provider.Provider
import org.gradle.api.tasks.TaskDependency

// A Provider<Directory> that knows the task producing it, as AGP's artifact providers do on
// Gradle 7 and later. Gradle 4.4 infers no task dependency from a provider (nor from a Buildable)
// among a task's input files, but does from a file collection built by a task: so the fake's
// provider is also that file collection.
class ProducedDirectory implements Provider<Directory>, FileCollection {
    @Delegate private final Provider<Directory> location
    @Delegate private final FileCollection files

    ProducedDirectory(Project project, Provider<Directory> location, String producer) {
        this.location = location
        // Looked up when asked: the producer is created after the onVariants callbacks, as in AGP.
        Buildable built = { ({ Task t -> [project.tasks.getByName(producer)] as Set } as TaskDependency) } as Buildable
        files = project.files(location).builtBy(built)
    }
}

// com.android.build.api.artifact.Artifacts, `get` only.
class Artifacts {
    private final Map<SingleArtifact, Provider> produced

    Artifacts(Map<SingleArtifact, Provider> produced) { this.produced = produced }

    public <T> Provider<T> get(SingleArtifact<T> type) {
        Provider found = produced[type]
        if (found == null) {
            throw new IllegalArgumentException('the fake AGP has no artifact ' + type.name)
        }
        found
    }
}

// Stands for kotlin.jvm.functions.Function1 (Kotlin is not on this classpath), the parameter
// type Kotlin gives `(VariantT) -> Unit`.
interface Function1<P1, R> {
    R invoke(P1 p1)
}

// com.android.build.api.variant.ApplicationVariant, its ComponentIdentity part.
class ApplicationVariant {
    private final VariantInfo info
    final Artifacts artifacts
    ApplicationVariant(VariantInfo info, Artifacts artifacts) {
        this.info = info
        this.artifacts = artifacts
    }
    String getName() { info.name }
    String getFlavorName() { info.flavorName }
    String getBuildType() { info.buildType }
}

// com.android.build.api.variant.VariantSelector (as AGP's VariantSelectorImpl: all variants
// unless narrowed).
class VariantSelector {
    private final String buildType
    VariantSelector(String buildType) { this.buildType = buildType }
    VariantSelector all() { this }
    VariantSelector withBuildType(String buildType) { new VariantSelector(buildType) }
    boolean appliesTo(ApplicationVariant v) { buildType == null || buildType == v.buildType }
}

// com.android.build.api.dsl.ApplicationExtension
class ApplicationExtension extends AndroidDsl {
    ApplicationExtension(Project project) { super(project) }
}

// com.android.build.api.variant.ApplicationAndroidComponentsExtension
class ApplicationAndroidComponentsExtension {
    private final List<List> operations = []
    private boolean executed

    VariantSelector selector() { new VariantSelector(null) }

    void onVariants(VariantSelector selector, Function1<? super ApplicationVariant, Object> callback) {
        onVariants(selector, { callback.invoke(it) } as Action<ApplicationVariant>)
    }

    void onVariants(VariantSelector selector, Action<? super ApplicationVariant> callback) {
        if (executed) {
            throw new RuntimeException('It is too late to add actions as the callbacks already executed.')
        }
        operations.add([selector, callback])
    }

    void execute(ApplicationVariant variant) {
        executed = true
        operations.each { VariantSelector s, Action a -> if (s.appliesTo(variant)) { a.execute(variant) } }
    }
}

// com.android.application of AGP 7 and later.
class NewAppPlugin implements Plugin<Project> {
    void apply(Project project) {
        project.plugins.apply('base')
        ApplicationExtension android = project.extensions.create('android', ApplicationExtension, project)
        ApplicationAndroidComponentsExtension components =
            project.extensions.create('androidComponents', ApplicationAndroidComponentsExtension)
        // After evaluation: the variants, their onVariants callbacks, then their tasks.
        project.afterEvaluate {
            List<VariantInfo> variants = FakeAndroid.variants(android)
            variants.each { VariantInfo v ->
                // Read when asked, so it follows the build's buildDir.
                Provider<Directory> folder = project.layout.buildDirectory.dir(
                    project.provider { 'outputs/apk/' + v.dirName })
                Provider apk = new ProducedDirectory(project, folder, 'package' + FakeAndroid.capitalize(v.name))
                components.execute(new ApplicationVariant(v, new Artifacts([(SingleArtifact.APK.INSTANCE): apk])))
            }
            FakeAndroid.createTasks(project, android, variants) { VariantInfo v, List<Map> elements ->
                [
                    version      : 3,
                    artifactType : [type: 'APK', kind: 'Directory'],
                    applicationId: 'io.appium.unlock',
                    variantName  : v.name,
                    elements     : elements.collect { it + [attributes: []] },
                    elementType  : 'File',
                ]
            }
        }
    }
}
"#,
    ),
];

/// The fake AGP in `project/buildSrc/`, the fixture APKs it copies (`fixture.apk`, and distinct
/// APKs for the ABI splits, `fixture-x86_64.apk` and `fixture-arm64-v8a.apk`), and the plugin
/// descriptors a module puts on its buildscript classpath to get `com.android.application`:
/// `agp-4.1/` (the old variant API) and `agp-7/` (androidComponents and the artifact API).
fn write_fake_agp(project: &Path) {
    let sources = project.join("buildSrc/src/main/groovy");
    for (name, text) in FAKE_AGP {
        let file = sources.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    // Compiled in Gradle's JVM rather than a compiler daemon of its own: one JVM start less.
    std::fs::write(
        project.join("buildSrc/build.gradle"),
        "tasks.withType(GroovyCompile) { groovyOptions.fork = false }\n",
    )
    .unwrap();
    for (fixture, apk) in split_fixtures() {
        std::fs::copy(apk, project.join(fixture)).unwrap();
    }
    for (agp, class) in [("agp-4.1", "OldAppPlugin"), ("agp-7", "NewAppPlugin")] {
        let descriptors = project.join(agp).join("META-INF/gradle-plugins");
        std::fs::create_dir_all(&descriptors).unwrap();
        std::fs::write(
            descriptors.join("com.android.application.properties"),
            format!("implementation-class=fakeagp.{class}\n"),
        )
        .unwrap();
    }
}

/// The fake AGP's fixtures: the universal (or only) APK and one distinct APK per ABI split, so
/// that which one doksi uploaded shows in the bytes.
fn split_fixtures() -> [(&'static str, PathBuf); 3] {
    let apks = crate::common::apk_fixtures();
    [
        ("fixture.apk", unlock_apk()),
        (
            "fixture-x86_64.apk",
            apks.join("appium-android-ime-2.0.0-debug.apk"),
        ),
        (
            "fixture-arm64-v8a.apk",
            apks.join("io.appium.settings-2.0.0-debug.apk"),
        ),
    ]
}

/// A multi-project build, `fleet`, with the fake AGP above in `buildSrc/` and two application
/// modules, each with flavors `free` and `paid` (so the variants freeDebug, freeRelease,
/// paidDebug, paidRelease):
/// - `old`, on the AGP 4.1 fake, the snippet applied by the root build script, before the
///   module applies the plugin (as `allprojects { apply from: ... }` does);
/// - `agp7`, on the AGP 7+ fake, the snippet applied below the plugin (as the README says).
///
/// Each module takes `com.android.application` from a plugin descriptor on its own buildscript
/// classpath, as a real build takes AGP from its buildscript dependencies.
/// Returns the (canonical) root folder.
fn android_gradle_project(root: &Path) -> PathBuf {
    let project = root.canonicalize().unwrap().join("fleet");
    write_fake_agp(&project);
    let snippet = groovy_str(&snippets().join("doksi.gradle"));
    for (module, agp, snippet_below) in [
        ("old", "agp-4.1", ""),
        ("agp7", "agp-7", &*format!("apply from: {snippet}\n")),
    ] {
        std::fs::create_dir_all(project.join(module)).unwrap();
        std::fs::write(
            project.join(module).join("build.gradle"),
            format!(
                "buildscript {{ dependencies {{ classpath files('../{agp}') }} }}
apply plugin: 'com.android.application'
{snippet_below}
android {{
    flavorDimensions 'tier'
    productFlavors {{
        free {{ dimension 'tier' }}
        paid {{ dimension 'tier' }}
    }}
}}
"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        project.join("settings.gradle"),
        "rootProject.name = 'fleet'\ninclude 'old', 'agp7'\n",
    )
    .unwrap();
    std::fs::write(
        project.join("build.gradle"),
        format!("project(':old') {{\n    apply from: {snippet}\n}}\n"),
    )
    .unwrap();
    project
}

#[test]
fn the_groovy_snippet_adds_a_task_per_variant_from_either_android_variant_api() {
    let Some(gradle_bin) = crate::common::needed_tool("gradle", "gradle") else {
        return;
    };
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let project = android_gradle_project(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let executable = format!("-Pdoksi.executable={}", env!("CARGO_BIN_EXE_doksi"));
    // One build: list the tasks; build another variant's APK in each module first (tasks named
    // on the command line run in that order), so that doksi must pick its variant's APK; then
    // one doksiSmoke task per module.
    let out = gradle(
        &gradle_bin,
        &project,
        &home,
        &sb,
        &[
            "tasks",
            "--all",
            ":old:assemblePaidDebug",
            ":agp7:assembleFreeRelease",
            ":old:doksiSmokeFreeRelease",
            ":agp7:doksiSmokePaidDebug",
            "-Pdoksi.categories=cat_smoke",
            &executable,
            "-Pdoksi.pollInterval=100ms",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text);

    // A task for each variant, from the Android plugin, and none from the plain-project
    // fallback, though the fakes, like AGP, have assembleRelease and assembleDebug.
    let listed = |what: &str| -> Vec<String> {
        let mut v: Vec<String> = out
            .text
            .lines()
            .filter(|l| l.contains(what))
            .map(|l| l.split(" - ").next().unwrap().trim().to_owned())
            .collect();
        v.sort();
        v
    };
    for module in ["old", "agp7"] {
        for aggregate in ["assembleRelease", "assembleDebug"] {
            let task = format!("{module}:{aggregate}");
            assert!(
                listed(aggregate).contains(&task),
                "no {task} in:\n{}",
                out.text
            );
        }
    }
    let mut expected: Vec<String> = ["old", "agp7"]
        .iter()
        .flat_map(|m| {
            ["FreeDebug", "FreeRelease", "PaidDebug", "PaidRelease"]
                .map(|v| format!("{m}:doksiSmoke{v}"))
        })
        .collect();
    expected.sort();
    assert_eq!(listed("doksiSmoke"), expected, "{}", out.text);

    // Each task built its variant's APK first (by assemble<Variant> on the old API, through the
    // artifact's producer on the new; and only that: no other variant was built), and doksi,
    // told `--variant` (and, on the new API, handed the variant's folder), took that variant's
    // APK from the flavor's folder, although the module had another variant's APK too.
    let apk = |module: &str, flavor: &str, build_type: &str| {
        project
            .join(module)
            .join("build/outputs/apk")
            .join(flavor)
            .join(build_type)
            .join(format!("{module}-{flavor}-{build_type}.apk"))
    };
    let (old_apk, agp7_apk) = (apk("old", "free", "release"), apk("agp7", "paid", "debug"));
    for (module, flavor, build_type, built) in [
        ("old", "free", "release", true),
        ("old", "paid", "debug", true),
        ("old", "free", "debug", false),
        ("old", "paid", "release", false),
        ("agp7", "paid", "debug", true),
        ("agp7", "free", "release", true),
        ("agp7", "free", "debug", false),
        ("agp7", "paid", "release", false),
    ] {
        let path = apk(module, flavor, build_type);
        assert_eq!(path.is_file(), built, "{path:?}\n{}", out.text);
    }
    let sent: Vec<&str> = out
        .text
        .lines()
        .filter_map(|l| {
            l.split_once(" uploaded: target ")
                .or_else(|| l.split_once(" cached: target "))
                .map(|(path, _)| path.trim())
        })
        .collect();
    assert_eq!(
        sent,
        [path_str(&old_apk), path_str(&agp7_apk)],
        "{}",
        out.text
    );
    assert_eq!(sb.runs_created(), 2, "{}", out.text);
    for (module, task) in [
        ("old", "doksiSmokeFreeRelease"),
        ("agp7", "doksiSmokePaidDebug"),
    ] {
        let report = project
            .join(module)
            .join("build/test-results")
            .join(task)
            .join("TEST-doksi.xml");
        let xml = std::fs::read_to_string(&report).unwrap_or_else(|e| panic!("{report:?}: {e}"));
        assert!(xml.contains(r#"name="Checkout flow""#), "{xml}");
        let results: Vec<_> = std::fs::read_dir(project.join(module).join("build/test-results"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(results, [task], "{module}: other doksiSmoke tasks ran");
    }
    assert!(
        !out.text.contains(&sb.key),
        "the API key reached the build log"
    );
}

/// A build, `aisle`, of two modules on the AGP 7+ fake, the snippet applied below the plugin:
/// - `relocated`: `buildDir = 'out'` and `archivesBaseName = 'shop-1.2'`, both set below the
///   snippet, so its release APK is `out/outputs/apk/release/shop-1.2-release.apk`;
/// - `splits`: flavors `free` and `paid`, ABI splits for x86_64 and arm64-v8a and the universal
///   APK, and `doksi.extraArgs=--abi arm64-v8a` in its gradle.properties.
///
/// Returns the (canonical) root folder.
fn artifact_api_project(root: &Path) -> PathBuf {
    let project = root.canonicalize().unwrap().join("aisle");
    write_fake_agp(&project);
    let snippet = groovy_str(&snippets().join("doksi.gradle"));
    let head = format!(
        "buildscript {{ dependencies {{ classpath files('../agp-7') }} }}\n\
         apply plugin: 'com.android.application'\n\
         apply from: {snippet}\n"
    );
    for (module, body) in [
        (
            "relocated",
            "buildDir = 'out'\narchivesBaseName = 'shop-1.2'\n",
        ),
        (
            "splits",
            "android {
    flavorDimensions 'tier'
    productFlavors {
        free { dimension 'tier' }
        paid { dimension 'tier' }
    }
    splits {
        abi {
            enable true
            reset()
            include 'x86_64', 'arm64-v8a'
            universalApk true
        }
    }
}
",
        ),
    ] {
        std::fs::create_dir_all(project.join(module)).unwrap();
        std::fs::write(
            project.join(module).join("build.gradle"),
            format!("{head}{body}"),
        )
        .unwrap();
    }
    std::fs::write(
        project.join("splits/gradle.properties"),
        "doksi.extraArgs=--abi arm64-v8a\n",
    )
    .unwrap();
    std::fs::write(
        project.join("settings.gradle"),
        "rootProject.name = 'aisle'\ninclude 'relocated', 'splits'\n",
    )
    .unwrap();
    project
}

/// The paths doksi printed as uploaded or found cached, in order.
fn sent_apks(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| {
            l.split_once(" uploaded: target ")
                .or_else(|| l.split_once(" cached: target "))
                .map(|(path, _)| path.trim())
        })
        .collect()
}

fn holds(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// On AGP 7+ each doksiSmoke task takes its variant's APK folder from
/// `variant.artifacts.get(SingleArtifact.APK)`: Gradle builds it through the provider's producer
/// (`package<Variant>`, not `assemble<Variant>` by name), wherever buildDir puts it and whatever
/// the APK is called, and doksi reads the folder's output-metadata.json, so of an ABI-split
/// variant it uploads the split `--abi` names and nothing else.
#[test]
fn the_groovy_snippet_takes_each_variants_apk_folder_from_the_artifact_api() {
    let Some(gradle_bin) = crate::common::needed_tool("gradle", "gradle") else {
        return;
    };
    let sb = Sandbox::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let project = artifact_api_project(dir.path());
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let executable = format!("-Pdoksi.executable={}", env!("CARGO_BIN_EXE_doksi"));
    let out = gradle(
        &gradle_bin,
        &project,
        &home,
        &sb,
        &[
            ":relocated:doksiSmokeRelease",
            ":splits:doksiSmokePaidRelease",
            "-Pdoksi.categories=cat_smoke",
            &executable,
            "-Pdoksi.pollInterval=100ms",
        ],
    );
    assert_eq!(out.code, Some(0), "{}", out.text);

    let relocated = project.join("relocated");
    let relocated_apk = relocated.join("out/outputs/apk/release/shop-1.2-release.apk");
    let splits = project.join("splits/build/outputs/apk/paid/release");
    let split = |abi: &str| splits.join(format!("splits-paid-{abi}-release.apk"));
    for built in [
        &relocated_apk,
        &split("x86_64"),
        &split("arm64-v8a"),
        &split("universal"),
    ] {
        assert!(built.is_file(), "{built:?} was not built:\n{}", out.text);
    }
    assert!(
        !relocated.join("build").exists(),
        "relocated wrote to build/ though its buildDir is out/"
    );
    assert!(
        !project.join("splits/build/outputs/apk/free").exists(),
        "another variant was built"
    );
    // The APKs came from the providers' producers; no task depended on assemble<Variant>.
    for marker in [
        relocated.join("out/assembled-release"),
        project.join("splits/build/assembled-paidRelease"),
    ] {
        assert!(!marker.exists(), "{marker:?}: assemble<Variant> ran");
    }

    // doksi was handed each folder: it took the renamed APK from out/, and of the splits the
    // one --abi names, which only the metadata says is arm64-v8a.
    let arm64 = split("arm64-v8a");
    assert_eq!(
        sent_apks(&out.text),
        [path_str(&relocated_apk), path_str(&arm64)],
        "{}",
        out.text
    );
    assert_eq!(sb.count("PUT /uploads"), 2, "{}", out.text);
    assert_eq!(sb.runs_created(), 2, "{}", out.text);
    let fixture = |name: &str| {
        let (_, apk) = split_fixtures()
            .into_iter()
            .find(|(f, _)| *f == name)
            .unwrap();
        std::fs::read(apk).unwrap()
    };
    let (unlock, ime, settings) = (
        fixture("fixture.apk"),
        fixture("fixture-x86_64.apk"),
        fixture("fixture-arm64-v8a.apk"),
    );
    let stored = [sb.stored_upload("upl_1"), sb.stored_upload("upl_2")];
    assert!(holds(&stored[0], &unlock), "upl_1 is not relocated's APK");
    assert!(
        holds(&stored[1], &settings),
        "upl_2 is not the arm64-v8a split"
    );
    for upload in &stored {
        assert!(!holds(upload, &ime), "the x86_64 split was uploaded");
    }

    for (report, task) in [
        (relocated.join("out/test-results"), "doksiSmokeRelease"),
        (
            project.join("splits/build/test-results"),
            "doksiSmokePaidRelease",
        ),
    ] {
        let xml = report.join(task).join("TEST-doksi.xml");
        let xml = std::fs::read_to_string(&xml).unwrap_or_else(|e| panic!("{xml:?}: {e}"));
        assert!(xml.contains(r#"name="Checkout flow""#), "{xml}");
    }
    assert!(
        !out.text.contains(&sb.key),
        "the API key reached the build log"
    );
}

// ---------------------------------------------------------------------------------------------
// The Kotlin snippet: no Gradle here runs Kotlin build scripts, so it is checked statically.

/// Brackets balanced and properly nested outside string literals and comments (Kotlin and
/// Groovy agree on `"…"`, `'…'`, `//` and `/* */`, which is all the snippets use).
fn check_brackets(name: &str, src: &str) {
    let mut stack: Vec<(char, usize)> = Vec::new();
    let chars: Vec<char> = src.chars().collect();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '\n' => line += 1,
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                i += 2;
                while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
                i += 2;
                continue;
            }
            '"' | '\'' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    assert_ne!(chars[i], '\n', "{name}:{line}: string runs past the line");
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            '(' | '{' | '[' => stack.push((c, line)),
            ')' | '}' | ']' => {
                let want = match c {
                    ')' => '(',
                    '}' => '{',
                    _ => '[',
                };
                let open = stack.pop();
                assert_eq!(
                    open.map(|o| o.0),
                    Some(want),
                    "{name}:{line}: {c} closes {open:?}"
                );
            }
            _ => {}
        }
        i += 1;
    }
    assert!(stack.is_empty(), "{name}: unclosed {stack:?}");
}

/// The text of the block that `doLast {` opens.
fn do_last_block(src: &str) -> &str {
    let start = src.find("doLast {").expect("a doLast block") + "doLast ".len();
    let mut depth = 0;
    for (i, c) in src[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &src[start..start + i + 1];
                }
            }
            _ => {}
        }
    }
    panic!("doLast block never closes");
}

fn mentions_word(src: &str, word: &str) -> bool {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    src.match_indices(word).any(|(at, _)| {
        !src[..at].chars().next_back().is_some_and(ident)
            && !src[at + word.len()..].chars().next().is_some_and(ident)
    })
}

/// Exit code → message, from lines like `    1  : 'Doksi tests failed',` (Groovy) or
/// `    1 to "Doksi tests failed",` (Kotlin).
fn meanings(src: &str, separator: &str) -> Vec<(u32, String)> {
    src.lines()
        .filter_map(|l| {
            let (code, rest) = l.trim().split_once(separator)?;
            let code: u32 = code.trim().parse().ok()?;
            let msg = rest.trim().trim_end_matches(',');
            Some((code, msg.trim_matches(|c| c == '\'' || c == '"').to_owned()))
        })
        .collect()
}

#[test]
fn the_kotlin_snippet_is_well_formed_and_mirrors_the_groovy_one() {
    let kts = read_snippet("doksi.gradle.kts");
    let groovy = read_snippet("doksi.gradle");
    check_brackets("doksi.gradle.kts", &kts);
    check_brackets("doksi.gradle", &groovy);
    // The same message for every exit code.
    let kotlin_meanings = meanings(&kts, " to ");
    assert_eq!(kotlin_meanings, meanings(&groovy, ":"));
    let codes: Vec<u32> = kotlin_meanings.iter().map(|m| m.0).collect();
    assert_eq!(codes, [1, 2, 3, 4, 5, 127, 130, 143]);
    assert_eq!(kotlin_meanings[0].1, "Doksi tests failed");
    // Configuration cache: the task action touches no project; the key is never passed.
    for (name, src) in [("doksi.gradle.kts", &kts), ("doksi.gradle", &groovy)] {
        let action: String = do_last_block(src)
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            !mentions_word(&action, "project"),
            "{name}: the task action uses `project`"
        );
        assert!(action.contains("ProcessBuilder(command)"), "{name}");
        // AGP 7+: the APK folder from the artifact API, a task input read when the task runs.
        for expected in [
            "com.android.build.api.artifact.SingleArtifact",
            "inputs.files(folder).withPropertyName(",
            "doksiApkFolder",
        ] {
            assert!(src.contains(expected), "{name}: no {expected:?}");
        }
        assert!(action.contains("folder.get()"), "{name}");
        assert!(
            !src.contains("DOKSI_API_KEY\")") && !src.contains("DOKSI_API_KEY')"),
            "{name} reads the key"
        );
    }
}

/// With Debian's `kotlin` and `libgradle-kotlin-dsl-java`: compile the Kotlin snippet against
/// the Gradle 4.4.1 API (and SLF4J's, which Gradle's `Logger` extends) (plus a stub for `tasks.register`, Gradle 4.9+). `kotlinc -script`
/// compiles, then fails to run the script for want of a Project, which is the expected end.
#[test]
fn the_kotlin_snippet_type_checks_against_the_gradle_api() {
    let lib = Path::new("/usr/share/gradle/lib");
    let groovy = Path::new("/usr/share/java/groovy-all.jar");
    let Some(kotlinc) = crate::common::needed_tool("kotlinc", "kotlin") else {
        return;
    };
    if !lib.join("gradle-kotlin-dsl.jar").is_file() || !groovy.is_file() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "Gradle's Kotlin DSL jar is not installed, and CI=true needs it (apt-get install libgradle-kotlin-dsl-java)"
        );
        eprintln!("skipped: Gradle's Kotlin DSL jar not installed (libgradle-kotlin-dsl-java)");
        return;
    }
    let mut jars: Vec<PathBuf> = Vec::new();
    for dir in [lib.to_path_buf(), lib.join("plugins")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "jar") {
                jars.push(p);
            }
        }
    }
    jars.sort();
    jars.push(groovy.to_path_buf());
    // Gradle's Logger extends SLF4J's (Debian's gradle depends on libslf4j-java for it).
    let slf4j = Path::new("/usr/share/java/slf4j-api.jar");
    if slf4j.is_file() {
        jars.push(slf4j.to_path_buf());
    }
    let classpath = std::env::join_paths(&jars).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.gradle.kts");
    std::fs::write(
        &script,
        format!(
            "{}\n// Gradle 4.9+ API, absent from the 4.4.1 jars compiled against.\n\
             fun org.gradle.api.tasks.TaskContainer.register(name: String, \
             configure: org.gradle.api.Task.() -> Unit): Unit = TODO(name + configure)\n",
            read_snippet("doksi.gradle.kts")
        ),
    )
    .unwrap();
    let mut cmd = Command::new(kotlinc);
    cmd.current_dir(dir.path())
        .arg("-script-templates")
        .arg("org.gradle.kotlin.dsl.KotlinBuildScript")
        .arg("-cp")
        .arg(classpath)
        .arg("-script")
        .arg(&script);
    let out = run_limited(cmd, Duration::from_secs(300));
    let errors: Vec<&str> = out.text.lines().filter(|l| l.contains("error:")).collect();
    assert!(errors.is_empty(), "kotlinc:\n{}", out.text);
    assert!(
        out.text
            .contains("unable to find appropriate constructor for class Check_gradle"),
        "kotlinc did not get as far as running the compiled script:\n{}",
        out.text
    );
}

// ---------------------------------------------------------------------------------------------
// doksiw.

fn sh() -> PathBuf {
    tool("sh").unwrap_or_else(|| PathBuf::from("/bin/sh"))
}

/// `sh doksiw ARGS` with PATH set to exactly `path` and nothing else inherited.
fn doksiw(script: &Path, path: &[&Path], env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = Command::new(sh());
    cmd.env_clear()
        .env("PATH", std::env::join_paths(path).unwrap())
        .envs(env.iter().copied())
        .arg(script)
        .args(args);
    run_limited(cmd, Duration::from_secs(60))
}

/// An executable shell script.
fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!{}\n{body}", path_str(&sh()))).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn doksiw_pins_this_crates_version_and_is_executable() {
    use std::os::unix::fs::PermissionsExt;
    let path = snippets().join("doksiw");
    let pin = format!("DOKSI_VERSION={}\n", env!("CARGO_PKG_VERSION"));
    assert!(
        read_snippet("doksiw").contains(&pin),
        "doksiw must pin {pin}"
    );
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o111, 0o111, "doksiw is not executable: {mode:o}");
    let syntax = Command::new(sh()).arg("-n").arg(&path).output().unwrap();
    assert!(
        syntax.status.success(),
        "sh -n doksiw: {}",
        String::from_utf8_lossy(&syntax.stderr)
    );
}

#[test]
fn doksiw_runs_the_doksi_on_path() {
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_doksi"), bin.path().join("doksi")).unwrap();
    let script = snippets().join("doksiw");
    let out = doksiw(&script, &[bin.path()], &[], &["--version"]);
    assert_eq!(out.code, Some(0), "{}", out.text);
    assert_eq!(
        out.text.trim(),
        format!("doksi {}", env!("CARGO_PKG_VERSION"))
    );
    assert!(
        !snippets().join(".doksi").exists(),
        "doksiw installed beside itself"
    );
}

/// Without doksi, doksiw downloads it, with curl or wget; with DOKSIW_INSTALL_ARGS, it builds it
/// with cargo. Missing the tool for the way it takes is one line and exit 127.
#[test]
fn doksiw_without_doksi_or_cargo_fails_in_one_line() {
    let empty = tempfile::tempdir().unwrap();
    let script = snippets().join("doksiw");
    for (env, missing) in [
        (
            vec![],
            "and neither curl nor wget is installed to download it",
        ),
        (
            vec![("DOKSIW_INSTALL_ARGS", "doksi --version 0.1.0")],
            "and cargo is missing to build it",
        ),
    ] {
        let out = doksiw(&script, &[empty.path()], &env, &["--version"]);
        assert_eq!(out.code, Some(127), "{}", out.text);
        let lines: Vec<&str> = out.text.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), 1, "{}", out.text);
        assert!(
            lines[0].starts_with("doksiw: doksi 0.1.0 is not installed (PATH has no doksi)")
                && lines[0].contains(missing),
            "{}",
            lines[0]
        );
    }
}

#[test]
fn doksiw_takes_another_doksi_version_only_when_told() {
    let bin = tempfile::tempdir().unwrap();
    // It logs each call, to count how often doksiw asks its version.
    let calls = bin.path().join("calls.log");
    write_script(
        &bin.path().join("doksi"),
        &format!(
            "echo \"$*\" >> '{}'\n\
             if [ \"$1\" = --version ]; then echo 'doksi 0.0.9'; else echo \"old doksi ran: $*\"; fi\n",
            path_str(&calls)
        ),
    );
    let script = snippets().join("doksiw");
    let refused = doksiw(&script, &[bin.path()], &[], &["ci", "."]);
    assert_eq!(refused.code, Some(127), "{}", refused.text);
    assert!(
        refused
            .text
            .contains("(PATH has doksi 0.0.9) and neither curl nor wget"),
        "{}",
        refused.text
    );
    assert_eq!(
        std::fs::read_to_string(&calls).unwrap(),
        "--version\n",
        "doksiw ran PATH's doksi other than once for its version"
    );
    let taken = doksiw(
        &script,
        &[bin.path()],
        &[("DOKSI_ANY_VERSION", "1")],
        &["ci", "."],
    );
    assert_eq!(taken.code, Some(0), "{}", taken.text);
    assert_eq!(taken.text.trim(), "old doksi ran: ci .");
}

/// A stand-in `cargo` that logs its arguments and "installs" the real binary under --root.
fn fake_cargo(dir: &Path, log: &Path) {
    let mkdir = tool("mkdir").expect("mkdir");
    let ln = tool("ln").expect("ln");
    write_script(
        &dir.join("cargo"),
        &format!(
            "printf '%s\\n' \"$@\" > '{log}'\n\
             while [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
             '{mkdir}' -p \"$root/bin\" && '{ln}' -s '{doksi}' \"$root/bin/doksi\"\n",
            log = path_str(log),
            mkdir = path_str(&mkdir),
            ln = path_str(&ln),
            doksi = env!("CARGO_BIN_EXE_doksi"),
        ),
    );
}

#[test]
fn doksiw_installs_the_pinned_version_once_with_cargo() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    // cargo builds doksi only when DOKSIW_INSTALL_ARGS asks (without it, doksiw downloads the
    // release archive: tests/it/dist.rs); crates.io is one source among others.
    let registry = format!("doksi --version {version}");
    for (case, install_args, expected_source) in [
        (
            "registry",
            registry.as_str(),
            vec!["doksi", "--version", version],
        ),
        ("path", "--path /src/doksi", vec!["--path", "/src/doksi"]),
        // Split at spaces, but not globbed: `/*` would otherwise become /bin /etc ...
        ("glob", "--path /*", vec!["--path", "/*"]),
    ] {
        let project = root.join(case);
        let bin = root.join(format!("{case}-bin"));
        std::fs::create_dir_all(&project).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(snippets().join("doksiw"), project.join("doksiw")).unwrap();
        let log = root.join(format!("{case}-cargo.log"));
        fake_cargo(&bin, &log);
        let env = [("DOKSIW_INSTALL_ARGS", install_args)];

        let first = doksiw(&project.join("doksiw"), &[&bin], &env, &["--version"]);
        assert_eq!(first.code, Some(0), "{case}: {}", first.text);
        assert!(
            first.text.contains(&format!("doksi {version}\n")),
            "{case}: {}",
            first.text
        );
        assert!(
            first
                .text
                .contains(&format!("doksiw: installing doksi {version} into")),
            "{case}: {}",
            first.text
        );
        let install_root = project.join(".doksi").join(version);
        let mut expected = vec![
            "install".to_owned(),
            "--locked".to_owned(),
            "--root".to_owned(),
            path_str(&install_root).to_owned(),
        ];
        expected.extend(expected_source.iter().map(|s| s.to_string()));
        let logged: Vec<String> = std::fs::read_to_string(&log)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(logged, expected, "{case}");

        // Second use: the installed binary, no cargo at all.
        std::fs::remove_file(bin.join("cargo")).unwrap();
        let second = doksiw(&project.join("doksiw"), &[&bin], &env, &["--version"]);
        assert_eq!(second.code, Some(0), "{case}: {}", second.text);
        assert_eq!(second.text.trim(), format!("doksi {version}"), "{case}");
    }
}

/// With CDPATH set, `cd sub` may go to another folder named `sub` and print its name; doksiw
/// still finds its own folder, and the doksi installed there.
#[test]
fn doksiw_finds_its_folder_whatever_cdpath_says() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let version = env!("CARGO_PKG_VERSION");
    let project = root.join("proj");
    let installed = project.join(".doksi").join(version).join("bin");
    std::fs::create_dir_all(&installed).unwrap();
    std::fs::create_dir_all(root.join("decoy").join("proj")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::copy(snippets().join("doksiw"), project.join("doksiw")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_doksi"), installed.join("doksi")).unwrap();
    let mut cmd = Command::new(sh());
    cmd.env_clear()
        .env("PATH", root.join("empty"))
        .env("CDPATH", root.join("decoy"))
        .current_dir(&root)
        .arg("proj/doksiw")
        .arg("--version");
    let out = run_limited(cmd, Duration::from_secs(60));
    assert_eq!(out.code, Some(0), "{}", out.text);
    assert_eq!(out.text.trim(), format!("doksi {version}"));
}
