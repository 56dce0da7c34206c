#!/usr/bin/env bash
# Offline benchmarks for doksi: manifest decoding against aapt, and APK discovery in a large
# Gradle-like tree against a plain `find`. Prints a markdown table at the end.
#
#   bench/offline.sh                          # defaults below
#   APK=path/to/big.apk MODULES=20 FILES=500 bench/offline.sh
#
# Environment (all optional):
#   APK        APK for `inspect` vs `aapt dump badging` (default: the 18 MB uiautomator2 server)
#   SMALL_APK  APK copied into every module of the generated tree (default: appium-unlock, 34 KB)
#   MODULES    modules in the generated tree (default 100)
#   FILES      files under each module's build/intermediates (default 2000)
#   SUBDIRS    folders those files are spread over (default 20)
#   RUNS       minimum timed runs per command (default 20, never below 10)
#   WARMUP     untimed runs per command first (default 5)
#   DOKSI_BIN  measure this binary instead of building target/release/doksi
#   TIMER      "loop" to time with the bash loop even when hyperfine is there
#
# Figures are for a warm page cache: the tree is built just before it is measured, and every
# command is warmed up first. The machine may be shared, so compare medians from one run only.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

APK=${APK:-../shared/apks/appium-uiautomator2-server-10.6.6.apk}
SMALL_APK=${SMALL_APK:-../shared/apks/appium-unlock-2.0.0-debug.apk}
MODULES=${MODULES:-100}
FILES=${FILES:-2000}
SUBDIRS=${SUBDIRS:-20}
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-5}
((RUNS >= 10)) || RUNS=10

DOKSI=$ROOT/target/release/doksi

die() {
    echo "offline.sh: $*" >&2
    exit 1
}

for f in "$APK" "$SMALL_APK"; do
    [[ -f $f ]] || die "no such APK: $f"
done

# --- tools -------------------------------------------------------------------------------------

# shellcheck source=bench/doksi-binary.sh
source "$ROOT/bench/doksi-binary.sh"

AAPT=$(command -v aapt) || die "aapt not found (Debian: apt-get install aapt)"

HYPERFINE=
if [[ ${TIMER:-} != loop ]]; then
    if ! command -v hyperfine >/dev/null; then
        echo "== hyperfine missing, trying apt-get install -y hyperfine" >&2
        apt-get install -y hyperfine >/dev/null 2>&1 || true
    fi
    HYPERFINE=$(command -v hyperfine || true)
fi
[[ -n $HYPERFINE ]] || echo "== no hyperfine: timing with a bash loop (median of $RUNS runs)" >&2

WORK=$(mktemp -d "${TMPDIR:-/tmp}/doksi-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# `apks` has no reason to touch the upload cache; make sure it could not touch the user's.
export DOKSI_CACHE_DIR=$WORK/cache

# --- timing ------------------------------------------------------------------------------------

# Results, one "key<TAB>median_ms" line per command.
RESULTS=$WORK/results.tsv
: >"$RESULTS"

# Fallback timer: the two commands (arrays named by $1 and $2) run alternately, WARMUP untimed
# rounds then RUNS timed ones, so a noisy neighbour hurts both alike. Prints "median1 median2" (ms).
loop_medians() {
    local -n a=$1 b=$2
    local i t0 t1 t2
    : >"$WORK/t1" && : >"$WORK/t2"
    for ((i = 0; i < WARMUP + RUNS; i++)); do
        t0=$(date +%s%N)
        "${a[@]}" >/dev/null 2>&1
        t1=$(date +%s%N)
        "${b[@]}" >/dev/null 2>&1
        t2=$(date +%s%N)
        if ((i >= WARMUP)); then
            echo $(((t1 - t0) / 1000)) >>"$WORK/t1"
            echo $(((t2 - t1) / 1000)) >>"$WORK/t2"
        fi
    done
    local med='{ t[NR] = $1 } END { printf "%.2f", ((NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2) / 1000 }'
    echo "$(sort -n "$WORK/t1" | awk "$med") $(sort -n "$WORK/t2" | awk "$med")"
}

# compare KEY1 CMD1 KEY2 CMD2: times both commands in the same run and records their medians.
# A CMD is one string of shell words (quoted with printf %q where needed), run without a shell
# and with its output discarded: no pipes or redirections.
compare() {
    local k1=$1 c1=$2 k2=$3 c2=$4
    echo "== $c1" >&2
    echo "   vs $c2" >&2
    if [[ -n $HYPERFINE ]]; then
        local csv=$WORK/last.csv
        "$HYPERFINE" -N --warmup "$WARMUP" --min-runs "$RUNS" --style basic \
            --export-csv "$csv" -n "$k1" "$c1" -n "$k2" "$c2" >&2
        # columns: command,mean,stddev,median,user,system,min,max (seconds); rows in given order
        awk -F, -v k1="$k1" -v k2="$k2" \
            'NR == 2 { printf "%s\t%.2f\n", k1, $4 * 1000 } NR == 3 { printf "%s\t%.2f\n", k2, $4 * 1000 }' \
            "$csv" >>"$RESULTS"
    else
        local -a w1 w2
        eval "w1=($c1)"
        eval "w2=($c2)"
        local m1 m2
        read -r m1 m2 < <(loop_medians w1 w2)
        printf '%s\t%s\n%s\t%s\n' "$k1" "$m1" "$k2" "$m2" >>"$RESULTS"
    fi
}

# --- 1. inspect vs aapt --------------------------------------------------------------------------

APK_ABS=$(realpath "$APK")
q_apk=$(printf '%q' "$APK_ABS")
q_doksi=$(printf '%q' "$DOKSI")
q_aapt=$(printf '%q' "$AAPT")
# Both must succeed before their times mean anything.
"$DOKSI" inspect --json "$APK_ABS" >/dev/null || die "doksi inspect failed on $APK"
"$AAPT" dump badging "$APK_ABS" >/dev/null || die "aapt dump badging failed on $APK"

compare inspect "$q_doksi inspect --json $q_apk" aapt "$q_aapt dump badging $q_apk"

# --- 2. apks vs find on a generated tree ---------------------------------------------------------

TREE=$WORK/tree
echo "== generating $MODULES modules x $FILES intermediate files in $TREE" >&2

"$ROOT/bench/make-monorepo.sh" "$TREE" "$MODULES" "$FILES" "$SUBDIRS" "$SMALL_APK"

total_files=$(find "$TREE" -type f | wc -l)
"$DOKSI" apks "$TREE" --json >"$WORK/apks.json" || die "doksi apks failed on the generated tree"
found=$(grep -c '"sha256"' "$WORK/apks.json" || true)
echo "== tree: $total_files files; doksi apks lists $found APKs" >&2
((found == MODULES)) || die "doksi apks found $found APKs, expected $MODULES"

q_tree=$(printf '%q' "$TREE")
compare apks "$q_doksi apks $q_tree --json" find "find $q_tree -name '*.apk'"

# --- table -------------------------------------------------------------------------------------

median() { awk -F'\t' -v k="$1" '$1 == k { print $2 }' "$RESULTS"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

m_inspect=$(median inspect)
m_aapt=$(median aapt)
m_apks=$(median apks)
m_find=$(median find)

if [[ -n $HYPERFINE ]]; then timer=$("$HYPERFINE" --version); else timer="bash loop"; fi
echo
echo "doksi $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores, $timer," \
    "warm page cache, medians of >= $RUNS runs after $WARMUP warm-ups$BINARY_NOTE"
echo
echo "| what | median ms | ratio |"
echo "|---|---:|---:|"
echo "| \`doksi inspect --json\` $(basename "$APK") ($(du -h "$APK_ABS" | cut -f1)) | $m_inspect | $(ratio "$m_inspect" "$m_aapt") × aapt |"
echo "| \`aapt dump badging\`, same APK | $m_aapt | 1.00 |"
echo "| \`doksi apks --json\`, $MODULES modules × $FILES intermediate files ($total_files files) | $m_apks | $(ratio "$m_apks" "$m_find") × find |"
echo "| \`find -name '*.apk'\`, same tree | $m_find | 1.00 |"
