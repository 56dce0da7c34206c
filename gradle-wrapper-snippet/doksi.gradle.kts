// doksi.gradle.kts: run Doksi UI tests on the APK a variant builds, and fail the build on the
// verdict. The Kotlin DSL twin of doksi.gradle; see README.md beside it.
//
// Apply it in the application module's build.gradle.kts (not the root project, not a library
// module), below the Android plugin:
//     apply(from = "doksi.gradle.kts")
// It adds one task per application variant, `doksiSmoke<Variant>`, which runs
//     doksi ci <APK folder> --variant <variant> --category C1 ... [--test T] [--auth A] [--timeout T]
// With the Android Gradle plugin 7 or later (androidComponents), the APK folder is the variant's
// `SingleArtifact.APK` from AGP's artifact API, a task input: Gradle builds the APK first,
// wherever the build puts it, and doksi reads that folder's output-metadata.json. With older
// plugins the task depends on `assemble<Variant>` and doksi searches <projectDir>.
// In an Android library, dynamic-feature or test module it adds nothing and logs a warning. In a
// project without the Android plugins it adds doksiSmoke<Variant> for the variants named by
// doksi.variants, else for those of release and debug whose assemble<Variant> task this very
// project has (so a multi-project root gets none).
//
// Settings: a Gradle property (-Pdoksi.categories=cat_a,cat_b), else the environment variable:
// doksi.categories/DOKSI_CATEGORIES, doksi.tests/DOKSI_TESTS, doksi.auth/DOKSI_AUTH,
// doksi.timeout/DOKSI_TIMEOUT, doksi.pollInterval/DOKSI_POLL_INTERVAL,
// doksi.extraArgs/DOKSI_EXTRA_ARGS, doksi.executable/DOKSI_EXECUTABLE, doksi.skip/DOKSI_SKIP,
// doksi.variants/DOKSI_VARIANTS; and doksi.version (a property only), which resolves doksi from
// this build's repositories as the Maven artifact ai.doksi:doksi:<version>:<os>-<arch>@exe.
// The API key is never passed by this script: doksi reads DOKSI_API_KEY from the environment.
//
// Needs a Gradle with a working Kotlin DSL (6.x or later; 7.x or later for the configuration
// cache). Every setting is read while configuring; the task action uses only local values it
// captured, never `project` or anything else of this script.

import java.io.File
import java.util.Locale
import java.util.concurrent.TimeUnit
import org.gradle.api.Action
import org.gradle.api.DomainObjectCollection
import org.gradle.api.GradleException
import org.gradle.api.file.Directory
import org.gradle.api.file.FileCollection
import org.gradle.api.provider.Provider
import org.gradle.kotlin.dsl.withGroovyBuilder

fun doksiSetting(property: String, variable: String): String? =
    (project.findProperty(property)?.toString() ?: System.getenv(variable))?.trim()

fun doksiList(value: String?): List<String> =
    value?.split(',')?.map { it.trim() }?.filter { it.isNotEmpty() } ?: emptyList()

val doksiCategories: List<String> = doksiList(doksiSetting("doksi.categories", "DOKSI_CATEGORIES"))
val doksiTests: List<String> = doksiList(doksiSetting("doksi.tests", "DOKSI_TESTS"))
val doksiAuth: String? = doksiSetting("doksi.auth", "DOKSI_AUTH")
val doksiTimeout: String? = doksiSetting("doksi.timeout", "DOKSI_TIMEOUT")
val doksiPollInterval: String? = doksiSetting("doksi.pollInterval", "DOKSI_POLL_INTERVAL")
val doksiExtraArgs: List<String> = (doksiSetting("doksi.extraArgs", "DOKSI_EXTRA_ARGS") ?: "")
    .split(Regex("\\s+")).filter { it.isNotEmpty() }
val doksiVariants: List<String> = doksiList(doksiSetting("doksi.variants", "DOKSI_VARIANTS"))
// `-Pdoksi.skip` alone (an empty property) means true; an empty DOKSI_SKIP does not.
val doksiSkip: Boolean = doksiSetting("doksi.skip", "DOKSI_SKIP").let { v ->
    v != null && ((v.isEmpty() && project.findProperty("doksi.skip") != null) ||
        listOf("true", "1", "yes").any { it.equals(v, ignoreCase = true) })
}

// How to start doksi: the named executable, else the doksi.version artifact, else the project's
// doksiw wrapper (not on Windows, which has no `sh`), else PATH.
val doksiWindows: Boolean = File.separatorChar == '\\'
val doksiExecutable: String? = doksiSetting("doksi.executable", "DOKSI_EXECUTABLE")?.takeIf { it.isNotEmpty() }
// A property only, like a dependency's version: it belongs in the build (gradle.properties).
val doksiVersion: String? = project.findProperty("doksi.version")?.toString()?.trim()?.takeIf { it.isNotEmpty() }
// The classifier names protoc's (os-maven-plugin's): linux-x86_64, osx-aarch_64, windows-x86_64...
val doksiOsName: String = System.getProperty("os.name")
val doksiArch: String = System.getProperty("os.arch")
val doksiClassifier: String? = run {
    val os = doksiOsName.toLowerCase(Locale.ROOT)
    val arch = doksiArch.toLowerCase(Locale.ROOT)
    val osPart = when {
        os.startsWith("linux") -> "linux"
        os.startsWith("mac") -> "osx"
        os.startsWith("windows") -> "windows"
        else -> null
    }
    val archPart = when (arch) {
        "amd64", "x86_64", "x64" -> "x86_64"
        "aarch64", "arm64" -> "aarch_64"
        else -> null
    }
    if (osPart != null && archPart != null) "$osPart-$archPart" else null
}
// With doksi.version: the artifact, as protobuf's Gradle plugin resolves protoc, through this
// build's own repositories (Maven Central, a corporate proxy), into Gradle's cache; resolved
// when a task runs, so configuring never downloads it.
val doksiArtifact: String? =
    if (doksiExecutable == null && doksiVersion != null && doksiClassifier != null)
        "ai.doksi:doksi:$doksiVersion:$doksiClassifier@exe"
    else null
val doksiResolved: FileCollection? = if (doksiExecutable == null && doksiVersion != null) {
    val configuration = configurations.findByName("doksiExe") ?: configurations.create("doksiExe").apply {
        description = "The doksi executable that the doksiSmoke tasks run (doksi.version)."
        isVisible = false
        isTransitive = false
        isCanBeConsumed = false
    }
    doksiArtifact?.let { dependencies.add(configuration.name, it) }
    project.files(configuration)
} else null
val doksiLauncher: List<String> = when {
    doksiExecutable != null -> {
        val exe = doksiExecutable
        val relativePath = (exe.contains('/') || exe.contains(File.separator)) && !File(exe).isAbsolute
        listOf(if (relativePath) project.file(exe).absolutePath else exe)
    }
    doksiResolved != null -> emptyList()
    else -> listOf(project.file("doksiw"), project.rootProject.file("doksiw"))
        .firstOrNull { !doksiWindows && it.isFile }
        ?.let { listOf("sh", it.absolutePath) }
        ?: listOf("doksi")
}
val doksiProjectDir: String = project.projectDir.absolutePath

// What doksi's exit codes mean, for the build failure's message.
val doksiMeanings: Map<Int, String> = mapOf(
    1 to "Doksi tests failed",
    2 to "doksi usage or input error: a bad flag or key, or no APK found",
    3 to "Doksi API or network error",
    4 to "Timed out waiting for the Doksi verdict; the run goes on",
    5 to "Doksi test-credit quota exceeded",
    127 to "doksi could not be started: not installed?",
    130 to "doksi was interrupted; the run goes on",
    143 to "doksi was terminated; the run may go on"
)

val doksiRegistered: MutableSet<String> = mutableSetOf()

fun doksiSuffix(variant: String): String = "" + Character.toUpperCase(variant[0]) + variant.substring(1)

// `apkFolder`: the variant's APK folder from AGP's artifact API, or null to search the project
// folder for the variant's APK after `assemble<Variant>`.
fun doksiRegister(variant: String, needAssemble: Boolean, apkFolder: Provider<*>?) {
    val suffix = doksiSuffix(variant)
    val taskName = "doksiSmoke$suffix"
    if (!doksiRegistered.add(taskName)) return
    val assembleName = "assemble$suffix"
    val hasAssemble = apkFolder == null && (needAssemble || tasks.names.contains(assembleName))

    // Read now, when the variants are known, rather than when the script is applied: a build
    // script may set buildDir below the `apply(from = ...)`.
    val buildDir: File = project.layout.buildDirectory.get().asFile
    // Each task's JUnit report goes where Gradle's own test tasks put theirs, so CI globs such as
    // `**/build/test-results/**/*.xml` (Jenkins, GitLab, Bitrise) pick it up with the unit tests.
    val report = File(buildDir, "test-results/$taskName/TEST-doksi.xml").absolutePath
    // The whole command line but the executable (with doksi.version, known when the task
    // runs) and the APK folder (known when its producer has run), fixed now; the key is not on
    // it. Only these locals reach doLast.
    val launcher = ArrayList(doksiLauncher)
    val arguments: List<String> = ArrayList<String>().apply {
        addAll(listOf("--variant", variant))
        doksiCategories.forEach { addAll(listOf("--category", it)) }
        doksiTests.forEach { addAll(listOf("--test", it)) }
        doksiAuth?.takeIf { it.isNotEmpty() }?.let { addAll(listOf("--auth", it)) }
        doksiTimeout?.takeIf { it.isNotEmpty() }?.let { addAll(listOf("--timeout", it)) }
        doksiPollInterval?.takeIf { it.isNotEmpty() }?.let { addAll(listOf("--poll-interval", it)) }
        addAll(listOf("--junit", report))
        addAll(doksiExtraArgs)
    }
    // The key belongs in DOKSI_API_KEY, never on a command line that logs and `ps` can show.
    val keyOnCommandLine = doksiExtraArgs.any { it.startsWith("--api-key") }
    // Without categories or tests from here, doksi takes them from DOKSI_CONFIG, --config or
    // doksi.toml, or refuses with exit code 2; the failure then says where to name them.
    val chosen = doksiCategories.isNotEmpty() || doksiTests.isNotEmpty()
    val skip = doksiSkip
    val projectDir = doksiProjectDir
    val meanings = HashMap(doksiMeanings)
    val version = doksiVersion
    val artifact = doksiArtifact
    val resolved = doksiResolved
    val platform = "$doksiOsName on $doksiArch"
    // Where the resolved file is copied when it cannot be made executable where it is.
    val copyDir = File(buildDir, "doksi/$version").absolutePath
    // A provider, not a path: it is read when the task runs, after the APK is built.
    val folder = apkFolder

    tasks.register(taskName) {
        group = "verification"
        description = "Runs Doksi UI tests on the $variant APK (doksi ci) and fails on their verdict."
        if (hasAssemble) {
            dependsOn(assembleName)
        }
        if (folder != null) {
            // An input, so Gradle runs the task that produces the folder first (AGP's
            // package<Variant>), with no task named here. `files`, not `dir`: a file tree of a
            // provider does not carry the provider's producer on every Gradle this supports.
            inputs.files(folder).withPropertyName("doksiApkFolder")
        }
        enabled = !skip
        doLast {
            // An earlier run's report must not outlive this run: if this one fails before doksi
            // writes its own, or is cancelled, CI would show the old results.
            val oldReport = File(report)
            if (oldReport.exists() && !oldReport.delete()) {
                throw GradleException("Cannot delete the previous Doksi report $report")
            }
            if (keyOnCommandLine) {
                throw GradleException("Do not pass --api-key in doksi.extraArgs: set the DOKSI_API_KEY environment variable.")
            }
            val command = ArrayList<String>(launcher)
            if (resolved != null) {
                if (artifact == null) {
                    throw GradleException(
                        "doksi.version=$version: doksi is not published for $platform; " +
                            "pass -Pdoksi.executable=PATH instead."
                    )
                }
                var exe: File = try {
                    resolved.singleFile
                } catch (e: Exception) {
                    // Its messages, not the exception itself: of a chain, Gradle reports only the
                    // resolution failure, which would hide what to do.
                    val why = generateSequence<Throwable>(e) { t -> t.cause?.takeIf { it !== t } }
                        .joinToString("\n") { it.message ?: it.toString() }
                    throw GradleException(
                        "Cannot resolve doksi $version ($artifact) from this build's " +
                            "repositories. Add a repository that has it (mavenCentral(), or your proxy of it), or " +
                            "pass -Pdoksi.executable=PATH.\n" + why
                    )
                }
                // Gradle's cache keeps no file modes; where the file cannot be made executable in
                // place (a read-only cache), a copy in the build folder is.
                if (!exe.canExecute() && !exe.setExecutable(true)) {
                    val copy = File(copyDir, exe.name)
                    copy.parentFile.mkdirs()
                    val partial = File.createTempFile("doksi", ".partial", copy.parentFile)
                    java.nio.file.Files.copy(
                        exe.toPath(), partial.toPath(), java.nio.file.StandardCopyOption.REPLACE_EXISTING
                    )
                    if (!partial.setExecutable(true)) {
                        partial.delete()
                        throw GradleException("Cannot make $exe or a copy of it in $copyDir executable.")
                    }
                    java.nio.file.Files.move(
                        partial.toPath(), copy.toPath(),
                        java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE
                    )
                    exe = copy
                }
                command.add(exe.absolutePath)
            }
            command.addAll(listOf("ci", if (folder != null) (folder.get() as Directory).asFile.absolutePath else projectDir))
            command.addAll(arguments)
            // Cancelling the build must stop doksi rather than orphan it. A daemon that gives up
            // on a cancelled build exits, which runs this hook; an interrupt of this thread ends
            // the wait below. The Doksi run itself goes on either way. The hook is in place before
            // doksi starts, and starting and stopping exclude each other, so a cancel that comes
            // the moment doksi starts stops it too.
            val guard = Object()
            val started = arrayOfNulls<Process>(1)
            val stopping = booleanArrayOf(false)
            val stopper = Thread({
                synchronized(guard) {
                    stopping[0] = true
                    started[0]?.destroy()
                }
            }, "doksi-stop")
            Runtime.getRuntime().addShutdownHook(stopper)
            val process = try {
                synchronized(guard) {
                    if (stopping[0]) {
                        throw GradleException("Build cancelled before doksi started.")
                    }
                    val p = ProcessBuilder(command).directory(File(projectDir)).start()
                    started[0] = p
                    p
                }
            } catch (e: java.io.IOException) {
                try {
                    Runtime.getRuntime().removeShutdownHook(stopper)
                } catch (ignored: IllegalStateException) {
                }
                throw GradleException(
                    "Cannot run ${command[0]}: ${e.message}. Install doksi (cargo install doksi), " +
                        "add the doksiw wrapper, set doksi.version, or pass -Pdoksi.executable=PATH.",
                    e
                )
            }
            try {
                process.outputStream.close()
                // doksi's stdout goes to the build log as it comes; its stderr too, and its last
                // `doksi:` line (the reason it gives) is kept for the failure message. Each is
                // read on a thread of its own, so that this one only waits, interruptibly.
                val said = java.util.Collections.synchronizedList(ArrayList<String>())
                val errors = Thread {
                    process.errorStream.bufferedReader(Charsets.UTF_8).forEachLine { line ->
                        System.err.println(line)
                        if (line.isNotBlank()) said.add(line.trim())
                    }
                }
                val output = Thread {
                    val buffer = ByteArray(8192)
                    val out = process.inputStream
                    while (true) {
                        val n = out.read(buffer)
                        if (n < 0) break
                        System.out.write(buffer, 0, n)
                        System.out.flush()
                    }
                }
                errors.start()
                output.start()
                val code = try {
                    while (!process.waitFor(1, TimeUnit.SECONDS)) {
                        // Waking up each second, an interrupt (a cancelled build) is seen.
                    }
                    val exit = process.exitValue()
                    errors.join()
                    output.join()
                    exit
                } catch (e: InterruptedException) {
                    process.destroy()
                    throw GradleException(
                        "Build interrupted; the Doksi run goes on: doksi was stopped " +
                            "(doksi wait RUN_ID picks the run up).",
                        e
                    )
                }
                if (code != 0) {
                    val lines = ArrayList(said)
                    val reason = lines.lastOrNull { it.startsWith("doksi") } ?: lines.lastOrNull()
                    val meaning = meanings[code] ?: "doksi failed with exit code $code"
                    val hint = if (code == 2 && !chosen)
                        " (pass -Pdoksi.categories=cat_a,cat_b or set DOKSI_CATEGORIES, or name them in doksi.toml)"
                    else ""
                    throw GradleException("$meaning (doksi exit code $code)" + (reason?.let { ": $it" } ?: "") + hint)
                }
            } finally {
                if (process.isAlive) {
                    process.destroy()
                }
                try {
                    Runtime.getRuntime().removeShutdownHook(stopper)
                } catch (ignored: IllegalStateException) {
                    // The JVM is shutting down; the hook has run or is running.
                }
            }
        }
    }
}

var doksiAndroid = false
plugins.withId("com.android.application") {
    doksiAndroid = true
    // No Android Gradle plugin types here: a script plugin does not see them, so its API is
    // reached through Groovy's dynamic calls.
    val components = extensions.findByName("androidComponents")
    if (components != null) {
        // Android Gradle plugin 7 and later: each variant's APK folder from its artifacts. The
        // artifact type is reached through AGP's own class loader; AGP 4.2 (androidComponents,
        // but ArtifactType.APK instead of SingleArtifact.APK) takes the name-based path.
        val apkType: Any? = listOf(components.javaClass.classLoader, javaClass.classLoader).asSequence()
            .mapNotNull { loader ->
                try {
                    Class.forName("com.android.build.api.artifact.SingleArtifact\$APK", true, loader)
                        .getField("INSTANCE").get(null)
                } catch (e: ReflectiveOperationException) {
                    null
                }
            }
            .firstOrNull()
        components.withGroovyBuilder {
            val all = "selector"()!!.withGroovyBuilder { "all"() }
            "onVariants"(all, object : Action<Any> {
                override fun execute(variant: Any) {
                    val folder = apkType?.let { type ->
                        variant.withGroovyBuilder { getProperty("artifacts") }!!
                            .withGroovyBuilder { "get"(type) } as Provider<*>
                    }
                    doksiRegister(variant.withGroovyBuilder { getProperty("name") } as String, true, folder)
                }
            })
        }
    } else {
        @Suppress("UNCHECKED_CAST")
        val variants = extensions.getByName("android")
            .withGroovyBuilder { getProperty("applicationVariants") } as DomainObjectCollection<Any>
        variants.all(object : Action<Any> {
            override fun execute(variant: Any) {
                doksiRegister(variant.withGroovyBuilder { getProperty("name") } as String, true, null)
            }
        })
    }
}
// Other Android modules have no APK of their own to test: nothing is added there.
var doksiOtherAndroid: String? = null
listOf("com.android.library", "com.android.dynamic-feature", "com.android.test").forEach { id ->
    plugins.withId(id) { doksiOtherAndroid = id }
}
afterEvaluate {
    val other = doksiOtherAndroid
    if (doksiAndroid) {
        // The variants come from the Android plugin.
    } else if (other != null) {
        project.logger.warn(
            "doksi.gradle.kts adds no doksiSmoke tasks to ${project.path}, a $other " +
                "module: apply it in the application module (com.android.application) instead."
        )
    } else if (doksiVariants.isNotEmpty()) {
        // A plain project: the variants named, else release and debug where this project assembles them.
        doksiVariants.forEach { doksiRegister(it, false, null) }
    } else {
        listOf("release", "debug")
            .filter { tasks.names.contains("assemble" + doksiSuffix(it)) }
            .forEach { doksiRegister(it, true, null) }
    }
}
