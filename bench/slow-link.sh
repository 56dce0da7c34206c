#!/usr/bin/env bash
# Uploads over an emulated slow link (issue 24): doksi's `--compress never|always|auto` against
# `curl -T` of the stored upload zip, per link and per APK, as ratios from one run.
#
#   sudo bench/slow-link.sh                    # as root: `unshare -n`; otherwise `unshare -rn`
#   RUNS=3 LINKS="20mbit" bench/slow-link.sh   # fewer rounds, one link
#
# Environment (all optional):
#   LINKS        rates to shape loopback to, in tc's units, and "lo" for unshaped loopback
#                (default "20mbit 100mbit lo")
#   RUNS         timed rounds per link (default 5); RUNS_<link> overrides it for one link
#                (default RUNS_20mbit=3: a round there takes about two minutes; RUNS_lo=3 × RUNS:
#                a round there takes a second)
#   WARMUP       untimed rounds per link first (default 1)
#   SEED         seed for the order of the variants in each round (default 1)
#   FIXTURE      the real APK, (a) (default tests/fixtures/apks/appium-uiautomator2-server-10.6.6.apk,
#                the largest fixture: 18 MB, nearly all deflated dex)
#   NATIVE_SIZE  the native-heavy APK's size limit in MiB, (b) (default 80; bench/make-apk.py
#                --native fills it with this machine's largest shared libraries, stored
#                page-aligned under lib/x86_64/ as AGP stores them)
#   BURST        tbf's burst (default 64kb: loopback's 64 KB GSO packets are dropped below it)
#   DOKSI_BIN    measure this binary instead of building target/release/doksi
#
# How it measures. The script re-runs itself in a network namespace of its own (nothing but a
# loopback, brought up with MTU 1500) and starts `doksi sandbox` there. Each link is a tbf qdisc
# on that loopback (`tc qdisc replace dev lo root tbf rate R burst BURST latency 100ms`; netem
# is not in this kernel), or none; the sandbox's API and storage both sit behind it. Per link,
# every round runs each variant once on each APK, the order shuffled each round, and the medians
# of wall time over the rounds are compared:
#   curl    `curl -T` of the stored upload zip (the APK in a zip, ZIP_STORED, made once, untimed)
#           to a presigned URL minted untimed just before: the bytes doksi `never` sends, with
#           no hashing and no POST /targets
#   never, always, auto   `doksi upload -v --force --compress X` (hash, mint, PUT, POST /targets)
# `auto` decides from the link rate doksi measured on earlier uploads to the same host, which it
# keeps in its cache folder: each link has a cache folder of its own, and its warm-up round
# (untimed) is what `auto` first learns the link from. A doksi without --compress (before
# issue 24 lands) is measured as `never` alone. What the sandbox stored is deleted, untimed,
# after every run. The page cache is warm (every file is read first).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DOKSI=$ROOT/target/release/doksi

die() {
    echo "slow-link.sh: $*" >&2
    exit 1
}

# --- outside: tools, the binary, then into a namespace of our own ---------------------------

if [[ -z ${SLOW_LINK_INSIDE:-} ]]; then
    need=()
    for t in curl jq python3 unshare ip tc; do
        command -v "$t" >/dev/null || need+=("$t")
    done
    if ((${#need[@]})); then
        echo "== missing ${need[*]}, trying apt-get install -y" >&2
        pkgs=$(printf '%s\n' "${need[@]}" | sed 's/^unshare$/util-linux/; s/^ip$/iproute2/; s/^tc$/iproute2/' | sort -u)
        # shellcheck disable=SC2086 # one package per word
        apt-get install -y $pkgs >/dev/null 2>&1 || die "cannot install ${need[*]}"
    fi
    # shellcheck source=bench/doksi-binary.sh
    source "$ROOT/bench/doksi-binary.sh"
    if ((EUID == 0)); then ns=(unshare -n); else ns=(unshare -rn); fi
    export SLOW_LINK_INSIDE=1 SLOW_LINK_DOKSI=$DOKSI SLOW_LINK_NOTE=$BINARY_NOTE
    exec "${ns[@]}" "$0" "$@"
fi

# --- inside the namespace ------------------------------------------------------------------

DOKSI=$SLOW_LINK_DOKSI
LINKS=${LINKS:-"20mbit 100mbit lo"}
RUNS=${RUNS:-5}
RUNS_20mbit=${RUNS_20mbit:-3}
RUNS_lo=${RUNS_lo:-$((RUNS * 3))}
WARMUP=${WARMUP:-1}
FIXTURE=${FIXTURE:-$ROOT/tests/fixtures/apks/appium-uiautomator2-server-10.6.6.apk}
NATIVE_SIZE=${NATIVE_SIZE:-80}
BURST=${BURST:-64kb}

links=$(ip -o link show | wc -l)
((links == 1)) || die "expected a network namespace with only a loopback, found $links links"
ip link set lo up
ip link set lo mtu 1500

# shellcheck source=bench/sandbox.sh
source "$ROOT/bench/sandbox.sh"
make_work doksi-slow-link
export TMPDIR=$WORK
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if "$DOKSI" upload --help | grep -q -- --compress; then
    MODES=(never always auto)
    COMPRESS=1
else
    echo "== this doksi has no --compress: measuring 'never' (its only way) against curl -T" >&2
    MODES=(never)
    COMPRESS=0
fi
VARIANTS=(curl "${MODES[@]}")

# --- the APKs and their stored zips ---------------------------------------------------------

[[ -f $FIXTURE ]] || die "no fixture APK at $FIXTURE"
mkdir -p "$WORK/apk-a" "$WORK/apk-b"
cp "$FIXTURE" "$WORK/apk-a/$(basename "$FIXTURE")"
declare -A APK=([a]=$WORK/apk-a/$(basename "$FIXTURE") [b]=$WORK/apk-b/app-native-release.apk)
python3 bench/make-apk.py --native "$NATIVE_SIZE" "${APK[b]}"
APKS=(a b)
apk_path() { echo "${APK[$1]}"; }
# The zip doksi `never` sends: the APK, stored, under its file name.
for a in "${APKS[@]}"; do
    f=$(apk_path "$a")
    python3 - "$f" "$f.zip" <<'EOF'
import os, sys, zipfile
with zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as z:
    z.write(sys.argv[1], os.path.basename(sys.argv[1]))
EOF
    cat "$f" "$f.zip" >/dev/null
done
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f", b / 1e6 }'; }
apk_label() {
    local f
    f=$(apk_path "$1")
    case $1 in
        a) echo "(a) $(basename "$f"), $(mb "$f") MB" ;;
        b) echo "(b) native-heavy, $(mb "$f") MB" ;;
    esac
}

# --- the sandbox ----------------------------------------------------------------------------

start_sandbox --port 0 --storage-port 0

# --- measuring ------------------------------------------------------------------------------

# One "link<TAB>apk<TAB>variant<TAB>round<TAB>seconds" line per run.
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# run LINK APK VARIANT ROUND: one run, timed around the command only.
run() {
    local link=$1 a=$2 v=$3 round=$4 f t0 t1 url cmd
    f=$(apk_path "$a")
    case $v in
        curl)
            url=$(mint_url slow-link) || die "cannot mint an upload URL"
            cmd=(curl -sSf -T "$f.zip" -H 'Content-Type: application/zip' -o /dev/null "$url")
            ;;
        *)
            cmd=("$DOKSI" upload -v --force "$f")
            ((COMPRESS)) && cmd+=(--compress "$v")
            ;;
    esac
    t0=$EPOCHREALTIME
    "${cmd[@]}" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; die "$v on $a at $link failed"; }
    t1=$EPOCHREALTIME
    if [[ $v != curl ]]; then
        grep -q ' uploaded: target ' "$WORK/err" || die "doksi upload --force did not upload: $(cat "$WORK/err")"
        # What -v says it chose, for the table (the last round's).
        grep -iE 'deflat|stored|compress' "$WORK/err" | head -1 | sed 's/^doksi: [^ ]*: //' >"$WORK/chose-$link-$a-$v" || true
    fi
    drop_uploads
    awk -v l="$link" -v a="$a" -v v="$v" -v r="$round" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%.3f\n", l, a, v, r, t1 - t0 }' >>"$RESULTS"
}

median() {
    awk -F'\t' -v l="$1" -v a="$2" -v v="$3" '$1 == l && $2 == a && $3 == v && $4 >= 0 { print $5 }' "$RESULTS" |
        sort -g | awk '{ t[NR] = $1 } END {
            if (NR == 0) { print "nan"; exit }
            printf "%.3f\n", (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

shape() {
    tc qdisc del dev lo root 2>/dev/null || true
    [[ $1 == lo ]] || tc qdisc add dev lo root tbf rate "$1" burst "$BURST" latency 100ms
}

RANDOM=${SEED:-1}
for link in $LINKS; do
    shape "$link"
    # auto learns this link's rate from uploads on this link only.
    export DOKSI_CACHE_DIR=$WORK/cache-$link
    runs_var=RUNS_$link
    runs=${!runs_var:-$RUNS}
    echo "$runs" >"$WORK/runs-$link"
    echo "== $link: $WARMUP warm-up + $runs timed rounds of ${VARIANTS[*]} on ${APKS[*]}" >&2
    for ((r = -WARMUP; r < runs; r++)); do
        order=()
        for a in "${APKS[@]}"; do
            for v in "${VARIANTS[@]}"; do order+=("$a $v"); done
        done
        for ((j = ${#order[@]} - 1; j > 0; j--)); do
            k=$((RANDOM % (j + 1)))
            x=${order[j]} && order[j]=${order[k]} && order[k]=$x
        done
        for job in "${order[@]}"; do
            read -r a v <<<"$job"
            run "$link" "$a" "$v" "$r"
        done
        echo "   round $r: $(awk -F'\t' -v l="$link" -v r="$r" '$1 == l && $4 == r { printf "%s/%s %.3fs  ", $2, $3, $5 }' "$RESULTS")" >&2
    done
done
shape lo

# --- the table ------------------------------------------------------------------------------

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "doksi $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores" \
    "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $(curl --version | head -1 | cut -d' ' -f1-2);" \
    "load average $LOAD_BEFORE before, $LOAD_AFTER after$SLOW_LINK_NOTE"
echo "Own network namespace, loopback MTU 1500, tbf burst $BURST; sandbox in the namespace; median wall seconds" \
    "over the rounds (variants and APKs shuffled in each, after $WARMUP warm-up); (×) is the ratio to curl -T in the same run."
((COMPRESS)) || echo "This doksi has no --compress: only never is measured."
echo
echo "| link | APK | rounds | curl -T stored zip | doksi never | doksi always | doksi auto | auto/never | auto chose (-v) |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
for link in $LINKS; do
    for a in "${APKS[@]}"; do
        c=$(median "$link" "$a" curl)
        cells=()
        for v in never always auto; do
            if [[ " ${MODES[*]} " == *" $v "* ]]; then
                m=$(median "$link" "$a" "$v")
                cells+=("$m s ($(ratio "$m" "$c")×)")
            else
                cells+=("—")
            fi
        done
        if ((COMPRESS)); then
            an=$(ratio "$(median "$link" "$a" auto)" "$(median "$link" "$a" never)")
            chose=$(sed 's/|/\\|/g' "$WORK/chose-$link-$a-auto" 2>/dev/null)
        else
            an="—"
            chose="—"
        fi
        printf '| %s | %s | %s | %s s | %s | %s | %s | %s | %s |\n' "$([[ $link == lo ]] && echo "loopback" || echo "$link")" \
            "$(apk_label "$a")" "$(cat "$WORK/runs-$link")" "$c" "${cells[@]}" "$an" "$chose"
    done
done

# --- issue 24's targets ---------------------------------------------------------------------

((COMPRESS)) || exit 0
verdict() { awk -v v="$1" -v l="$2" 'BEGIN { print (v <= l) ? "PASS" : "MISS" }'; }
echo
echo "| target (issue 24) | ratio | |"
echo "|---|---:|---|"
for link in $LINKS; do
    if [[ $link == 20mbit ]]; then
        x=$(ratio "$(median "$link" b auto)" "$(median "$link" b curl)")
        echo "| native-heavy at 20mbit: auto ≤ 0.65 × curl -T | $x | $(verdict "$x" 0.65) |"
    fi
    for a in "${APKS[@]}"; do
        x=$(ratio "$(median "$link" "$a" auto)" "$(median "$link" "$a" never)")
        if [[ $link == lo ]]; then
            echo "| $(apk_label "$a") on loopback: auto ≤ 1.02 × never | $x | $(verdict "$x" 1.02) |"
        elif [[ $a == a ]]; then
            echo "| $(apk_label "$a") at $link: auto ≤ 1.02 × never | $x | $(verdict "$x" 1.02) |"
        fi
    done
done
