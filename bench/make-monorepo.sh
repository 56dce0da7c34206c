#!/usr/bin/env bash
# Generates a Gradle-like monorepo for the discovery benchmarks: MODULES modules, each with FILES
# small files under build/intermediates (spread over SUBDIRS folders named as AGP names them) and
# one APK with its AGP output-metadata.json under build/outputs/apk/release.
# Usage: bench/make-monorepo.sh TREE MODULES FILES SUBDIRS APK
set -euo pipefail
TREE=$1 MODULES=$2 FILES=$3 SUBDIRS=$4 APK=$5

# One module's intermediates, written once and copied.
TEMPLATE=$(mktemp -d)
trap 'rm -rf "$TEMPLATE"' EXIT
names=(javac dex merged_res merged_manifests compiled_local_resources apk_ide_redirect_file
    incremental merged_java_res stripped_native_libs packaged_manifests processed_res
    runtime_symbol_list symbol_list_with_package_name compile_and_runtime_not_namespaced_r_class_jar
    desugar_graph mixed_scope_dex_archive project_dex_archive sub_project_dex_archive
    global_synthetics_dex signing_config_versions)
for ((d = 0; d < SUBDIRS; d++)); do
    name=${names[d % ${#names[@]}]}
    ((d < ${#names[@]})) || name+=_$((d / ${#names[@]}))
    mkdir -p "$TEMPLATE/$name/release"
    for ((f = d; f < FILES; f += SUBDIRS)); do
        echo "intermediate $f" >"$TEMPLATE/$name/release/f$f.bin"
    done
done

for ((m = 1; m <= MODULES; m++)); do
    out=$TREE/mod$m/build/outputs/apk/release
    mkdir -p "$out" "$TREE/mod$m/src/main"
    cp -r "$TEMPLATE" "$TREE/mod$m/build/intermediates"
    cp "$APK" "$out/mod$m-release.apk"
    cat >"$out/output-metadata.json" <<JSON
{"version":3,"artifactType":{"type":"APK","kind":"Directory"},"applicationId":"io.appium.unlock","variantName":"release","elements":[{"type":"SINGLE","filters":[],"attributes":[],"versionCode":2,"versionName":"2.0.0","outputFile":"mod$m-release.apk"}],"elementType":"File"}
JSON
done
