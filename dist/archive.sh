#!/bin/sh
# dist/archive.sh: the release archives, byte for byte reproducible.
#
#   dist/archive.sh [--out DIR] [--target TRIPLE] [--binary PATH]
#
# For each target, doksi-<version>-<target>.tar.gz (.zip for Windows targets) holding
# doksi-<version>-<target>/ with the binary, README.md, LICENSE-MIT and LICENSE-APACHE; then
# SHA256SUMS over every doksi-<version>-* archive in DIR (default: target/dist).
#
# Targets: --target, else this machine's (rustc -vV) and every other whose standard library
# rustup has installed. Each is built with `cargo build --release --locked`, except:
#   - with cargo-zigbuild and zig (on PATH, or the ziglang wheel: pip install cargo-zigbuild
#     ziglang), `cargo zigbuild`, and for a *-linux-gnu target
#     `--target <target>.2.17`: a binary that runs on glibc 2.17 and later (CentOS 7, Ubuntu
#     14.04 on), where a plain build needs the glibc of the machine it was built on or newer;
#   - --binary PATH packages a binary already built for the target (one --target, default this
#     machine's), so the tests and the release workflow build once and package here.
# The version is Cargo.toml's. Reproducible: entries sorted, owner and group 0, modes 755/644,
# every mtime SOURCE_DATE_EPOCH (default: the last commit's time), gzip without name or time,
# zip without extra fields, in UTC. Needs GNU tar (gtar on macOS), gzip, zip for Windows
# targets, and sha256sum or shasum.
set -eu

die() {
    printf 'archive.sh: %s\n' "$*" >&2
    exit 1
}

root=$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)
out=$root/target/dist
targets=
binary=
while [ $# -gt 0 ]; do
    case $1 in
        --out) [ $# -ge 2 ] || die "--out needs a folder"; out=$2; shift 2 ;;
        --target) [ $# -ge 2 ] || die "--target needs a target triple"; targets="$targets $2"; shift 2 ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
        -h | --help) sed -n '2,/^set -eu/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
done

# [package] version, or [workspace.package]'s when the package inherits it.
version=$(awk '
    /^\[/ { section = $0 }
    (section == "[package]" || section == "[workspace.package]") && /^version *= *"/ {
        sub(/^version *= *"/, ""); sub(/".*/, ""); print; exit
    }' "$root/Cargo.toml")
[ -n "$version" ] || die "no version in $root/Cargo.toml"

if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git -C "$root" log -1 --format=%ct 2>/dev/null) \
        || die "SOURCE_DATE_EPOCH is unset and $root has no git history to take it from"
fi
case $SOURCE_DATE_EPOCH in
    '' | *[!0-9]*) die "SOURCE_DATE_EPOCH must be seconds since 1970, not $SOURCE_DATE_EPOCH" ;;
esac
export SOURCE_DATE_EPOCH

host=$(rustc -vV 2>/dev/null | sed -n 's/^host: //p') || true
if [ -z "$targets" ]; then
    [ -n "$host" ] || die "no rustc to tell this machine's target: pass --target"
    targets=$host
    if [ -z "$binary" ] && command -v rustup >/dev/null 2>&1; then
        for t in $(rustup target list --installed); do
            [ "$t" = "$host" ] || targets="$targets $t"
        done
    fi
fi
if [ -n "$binary" ]; then
    set -- $targets
    [ $# -eq 1 ] || die "--binary packages one target, not $targets"
    [ -f "$binary" ] || die "--binary $binary: no such file"
fi

if tar --version 2>/dev/null | grep -q 'GNU tar'; then
    gnutar=tar
elif command -v gtar >/dev/null 2>&1; then
    gnutar=gtar
else
    die "GNU tar is needed for reproducible archives (on macOS: brew install gnu-tar)"
fi
if command -v sha256sum >/dev/null 2>&1; then
    sha256() { sha256sum "$@"; }
else
    sha256() { shasum -a 256 "$@"; }
fi

zigbuild=
# zig on PATH, or the ziglang wheel from PyPI, which cargo-zigbuild finds through python3.
if [ -z "$binary" ] && cargo zigbuild --help >/dev/null 2>&1 \
    && { command -v zig || python3 -m ziglang version; } >/dev/null 2>&1; then
    zigbuild=yes
fi

# build TARGET: builds doksi for TARGET, prints the binary's path.
build() {
    case $1 in
        *-linux-gnu) zigtarget=$1.2.17 ;;
        *) zigtarget=$1 ;;
    esac
    if [ -n "$zigbuild" ]; then
        (cd "$root" && cargo zigbuild --release --locked --target "$zigtarget") >&2
    else
        (cd "$root" && cargo build --release --locked --target "$1") >&2
    fi || die "the build for $1 failed"
    dir=${CARGO_TARGET_DIR:-$root/target}
    case $1 in
        *-windows-*) echo "$dir/$1/release/doksi.exe" ;;
        *) echo "$dir/$1/release/doksi" ;;
    esac
}

mkdir -p "$out"
out=$(CDPATH= cd -- "$out" && pwd -P)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
for target in $targets; do
    bin=${binary:-$(build "$target")}
    name=doksi-$version-$target
    rm -rf "${stage:?}/$name"
    mkdir "$stage/$name"
    case $target in
        *-windows-*) exe=doksi.exe ;;
        *) exe=doksi ;;
    esac
    cp "$bin" "$stage/$name/$exe"
    for doc in README.md LICENSE-MIT LICENSE-APACHE; do
        cp "$root/$doc" "$stage/$name/$doc"
    done
    chmod 755 "$stage/$name" "$stage/$name/$exe"
    chmod 644 "$stage/$name/README.md" "$stage/$name/LICENSE-MIT" "$stage/$name/LICENSE-APACHE"
    case $target in
        *-windows-*)
            command -v zip >/dev/null 2>&1 || die "zip is needed for $name.zip"
            # zip keeps local times: with TZ=UTC and every file's mtime the epoch, the stored
            # times are fixed; -X leaves out uid/gid and the extra time fields.
            find "$stage/$name" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
            rm -f "$out/$name.zip.tmp.$$"
            (cd "$stage" && printf '%s\n' "$name/" "$name/$exe" "$name/LICENSE-APACHE" \
                "$name/LICENSE-MIT" "$name/README.md" \
                | LC_ALL=C sort | TZ=UTC zip -X -q -@ "$out/$name.zip.tmp.$$")
            mv -f "$out/$name.zip.tmp.$$" "$out/$name.zip"
            echo "$out/$name.zip"
            ;;
        *)
            # tar, then gzip, not a pipe: POSIX sh has no pipefail to see tar fail.
            LC_ALL=C "$gnutar" --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 \
                --numeric-owner --format=gnu -C "$stage" -cf "$stage/$name.tar" "$name"
            gzip -n <"$stage/$name.tar" >"$out/$name.tar.gz.tmp.$$"
            mv -f "$out/$name.tar.gz.tmp.$$" "$out/$name.tar.gz"
            echo "$out/$name.tar.gz"
            ;;
    esac
done

(
    cd "$out"
    set --
    for f in doksi-"$version"-*.tar.gz doksi-"$version"-*.zip; do
        [ -f "$f" ] && set -- "$@" "$f"
    done
    [ $# -gt 0 ] || exit 0
    sha256 $(printf '%s\n' "$@" | LC_ALL=C sort) >SHA256SUMS.tmp.$$
    mv -f SHA256SUMS.tmp.$$ SHA256SUMS
)
echo "$out/SHA256SUMS"
