#!/usr/bin/env bash
# Upload benchmarks for doksi against the local sandbox: the docs' curl flow, `doksi upload`
# cold (--force) and warm (cache hit), and the floor (hash + raw PUT); then `doksi inspect` on a
# big APK against `aapt dump badging`, and `doksi apks` on a large monorepo against `find`.
# Prints markdown tables at the end, with the ratios the targets are stated in.
#
#   bench/upload.sh                                   # defaults below
#   SIZES="1 100" RUNS=7 bench/upload.sh
#   RUNS_1024=3 MODULES=20 FILES=500 bench/upload.sh  # fewer 1 GB rounds, a smaller tree
#
# Environment (all optional):
#   SIZES       APK sizes in MiB, or in MB with the suffix (default "1 100 1024"; "1000MB" is
#               10^9 bytes, the largest "1 GB" the docs' curl flow can still send, see below);
#               each is bench/make-apk.py's output: appium-unlock's entries plus incompressible
#               STORED payload
#   RUNS        timed rounds per size (default 5; 4 × that below 10 MB, where a round takes
#               a fraction of a second and noise is largest); RUNS_<size> (RUNS_1, RUNS_1024,
#               RUNS_1000MB) overrides it for one size
#   SEED        seed for the order of the variants in each round (default 1)
#   WARMUP      untimed rounds per size first (default 1)
#   SMALL_RUNS  timed rounds for inspect/aapt and apks/find (default 20)
#   INSPECT_BIG, INSPECT_SMALL  sizes in MiB for `doksi inspect` (default 1024 and 1)
#   MODULES     modules in the generated monorepo (default 200; 0 skips it)
#   FILES       files under each module's build/intermediates (default 2500: 500k in all)
#   SUBDIRS     folders those files are spread over (default 20)
#   DOKSI_BIN   measure this binary instead of building target/release/doksi
#   TIMER       "rusage" (default): timed rounds run under bench/rusage.py (the wait4() rusage
#               that /usr/bin/time -v reads, with a clock around the spawn only), warm-up rounds
#               under `/usr/bin/time -v`, and peak RSS comes from those (a Python parent's own
#               RSS would put an 8 MB floor under it); "time": every round under /usr/bin/time -v,
#               wall time taken around it less the median cost of `/usr/bin/time -v true` (its
#               figures have 10 ms resolution and its exec costs 3-12 ms on a loaded machine,
#               which swamps the 1 MiB cases)
#
# How it measures. Every variant of one size runs once per round, in an order shuffled each
# round, so a noisy neighbour hurts all alike and no variant always follows the same one (the
# docs' flow leaves a GB of freshly written pages behind); medians are over the rounds. What the
# sandbox stored is deleted, untimed, after every run, so no writeback of one run lands in the
# next. Each run reports wall time, CPU (user + sys of the command and every child it waited
# for) and peak RSS (the largest of those processes). The page cache is warm (every file is read
# before it is measured). inspect/aapt and apks/find alternate the same way, SMALL_RUNS rounds
# after 3 warm-ups. Compare ratios from one run only.
#
# The floor (d) is, per round, `openssl dgst -sha256 FILE` plus `curl -T FILE` to a presigned
# URL minted untimed just before: it has no POST /targets. The sandbox runs on this machine; its
# work (hashing and storing every PUT body; for POST /targets, in a and b only, extracting the
# APK from the zip to a scratch file: about 1 s per GiB here) is in the wall times, not the CPU.
#
# The docs' flow may fail rather than be slow: `curl --data-binary @app.zip` reads the whole zip
# into memory first, and the curl tool caps that read at 1 GiB (MAX_FILE2MEMORY in curl 7.88;
# later versions raised it), so a 1024 MiB APK's zip is refused with "option --data-binary: out
# of memory". That is reported in the table, not timed; the other variants are still measured.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SIZES=${SIZES:-"1 100 1024"}
RUNS=${RUNS:-5}
WARMUP=${WARMUP:-1}
SMALL_RUNS=${SMALL_RUNS:-20}
INSPECT_BIG=${INSPECT_BIG:-1024}
INSPECT_SMALL=${INSPECT_SMALL:-1}
MODULES=${MODULES:-200}
FILES=${FILES:-2500}
SUBDIRS=${SUBDIRS:-20}
BASE_APK=$ROOT/tests/fixtures/apks/appium-unlock-2.0.0-debug.apk
DOKSI=$ROOT/target/release/doksi

die() {
    echo "upload.sh: $*" >&2
    exit 1
}
# label SIZE: "100 MiB", "1000 MB"
label() { if [[ $1 == *MB ]]; then echo "${1%MB} MB"; else echo "$1 MiB"; fi; }
# bytes SIZE
bytes() { if [[ $1 == *MB ]]; then echo $((${1%MB} * 1000000)); else echo $(($1 * 1048576)); fi; }

# --- tools -------------------------------------------------------------------------------------

need=()
for t in curl zip jq openssl aapt python3; do
    command -v "$t" >/dev/null || need+=("$t")
done
[[ -x /usr/bin/time ]] || need+=(time)
if ((${#need[@]})); then
    echo "== missing ${need[*]}, trying apt-get install -y" >&2
    apt-get install -y "${need[@]}" >/dev/null 2>&1 || die "cannot install ${need[*]}"
fi

# shellcheck source=bench/doksi-binary.sh
source "$ROOT/bench/doksi-binary.sh"

# shellcheck source=bench/sandbox.sh
source "$ROOT/bench/sandbox.sh"
make_work doksi-upload-bench
export DOKSI_CACHE_DIR=$WORK/cache
# curl-flow.sh's app.zip too, so an interrupted run leaves nothing behind.
export TMPDIR=$WORK
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# --- measuring ---------------------------------------------------------------------------------

# One "key<TAB>size<TAB>round<TAB>wall_ms<TAB>cpu_ms<TAB>rss_kb" line per measured run.
RESULTS=$WORK/results.tsv
: >"$RESULTS"
OVERHEAD_MS=0
TIMER=${TIMER:-rusage}
# The interpreter itself, not a pyenv shim: its start-up is outside the window anyway, but
# shims cost a fork or two per run.
PY=$(python3 -c 'import sys; print(sys.executable)')

# timed KEY SIZE ROUND CMD...: runs CMD once and records it; a failing command stops the
# benchmark (a fast failure is not a result), unless MAY_FAIL=1, when the failure is recorded
# in $WORK/failed-KEY-SIZE instead. Output goes to $WORK/out, $WORK/err.
timed() {
    local key=$1 size=$2 round=$3
    shift 3
    local t0 t1 ok=1
    t0=$EPOCHREALTIME
    local gnu=0
    [[ $TIMER == time || $round == -* ]] && gnu=1
    if ((gnu)); then
        /usr/bin/time -v -o "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || ok=0
    else
        "$PY" -S "$ROOT/bench/rusage.py" "$WORK/time" "$@" >"$WORK/out" 2>"$WORK/err" || ok=0
    fi
    t1=$EPOCHREALTIME
    if ((!ok)); then
        cat "$WORK/err" >&2
        if [[ ${MAY_FAIL:-0} == 1 ]]; then
            grep -v '^upload.sh\|^curl: try' "$WORK/err" | tail -1 >"$WORK/failed-$key-$size"
            return 0
        fi
        die "$key ($size) failed: $*"
    fi
    if ((gnu)); then
        awk -F': ' -v k="$key" -v s="$size" -v r="$round" -v t0="$t0" -v t1="$t1" -v o="$OVERHEAD_MS" '
            /User time \(seconds\)/ { u = $2 } /System time \(seconds\)/ { y = $2 }
            /Maximum resident set size/ { m = $2 }
            END { w = (t1 - t0) * 1000 - o; if (w < 0) w = 0
                  printf "%s\t%s\t%s\t%.3f\t%.0f\t%d\n", k, s, r, w, (u + y) * 1000, m }' \
            "$WORK/time" >>"$RESULTS"
    else
        awk -v k="$key" -v s="$size" -v r="$round" \
            '{ printf "%s\t%s\t%s\t%.3f\t%.1f\t%d\n", k, s, r, $1, $2, $3 }' "$WORK/time" >>"$RESULTS"
    fi
}

# stats KEY SIZE COLUMN: "median min max" of a column (4 wall, 5 cpu, 6 rss) over timed rounds.
stats() {
    awk -F'\t' -v k="$1" -v s="$2" -v c="$3" '$1 == k && $2 == s && $3 >= 0 { print $c }' "$RESULTS" |
        sort -g | awk '{ t[NR] = $1 } END {
            if (NR == 0) { print "nan nan nan"; exit }
            m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            printf "%.2f %.2f %.2f\n", m, t[1], t[NR] }'
}
median() { stats "$1" "$2" "${3:-4}" | cut -d' ' -f1; }
# peak KEY SIZE: the largest peak RSS (kB) /usr/bin/time -v saw, warm-up rounds included.
peak() {
    awk -F'\t' -v k="$1" -v s="$2" -v all="$([[ $TIMER == time ]] && echo 1)" \
        '$1 == k && $2 == s && (all || $3 < 0) && $6 > m { m = $6 } END { print m + 0 }' "$RESULTS"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# verdict VALUE OP LIMIT: PASS or MISS
verdict() { awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
    ok = (op == "<=") ? v <= l : (op == "<") ? v < l : v >= l; print ok ? "PASS" : "MISS" }'; }

if [[ $TIMER == time ]]; then
    # The wrapper's own cost, taken off every wrapped wall time.
    for ((i = 0; i < 21; i++)); do timed overhead 0 "$i" true; done
    OVERHEAD_MS=$(median overhead 0)
fi

# --- APKs --------------------------------------------------------------------------------------

apk_of() { echo "$WORK/apk-$1/app-release.apk"; }
make_apk() {
    local f
    f=$(apk_of "$1")
    [[ -f $f ]] && return
    mkdir -p "$(dirname "$f")"
    echo "== generating a $(label "$1") APK" >&2
    python3 bench/make-apk.py "$1" "$f"
    # Both decoders must read it, and agree on the package, before any time means anything.
    local ours theirs
    ours=$("$DOKSI" inspect --json "$f" | jq -r .package) || die "doksi inspect failed on $f"
    theirs=$(aapt dump badging "$f" | sed -n "s/^package: name='\([^']*\)'.*/\1/p") ||
        die "aapt dump badging failed on $f"
    [[ $ours == "$theirs" && -n $ours ]] || die "$f: doksi says '$ours', aapt says '$theirs'"
}

# --- sandbox -----------------------------------------------------------------------------------

start_sandbox --port 0

# run_variant VARIANT SIZE ROUND FILE
run_variant() {
    local v=$1 size=$2 round=$3 f=$4
    case $v in
        curl)
            # Once it has failed for a size it would only fail again (after zipping 1 GB).
            [[ -f $WORK/failed-curl-$size ]] && return
            MAY_FAIL=1 timed curl "$size" "$round" bench/curl-flow.sh "$f"
            ;;
        cold)
            timed cold "$size" "$round" "$DOKSI" upload --force "$f"
            grep -q ' uploaded: target ' "$WORK/err" || die "doksi upload --force did not upload: $(cat "$WORK/err")"
            ;;
        warm)
            timed warm "$size" "$round" "$DOKSI" upload "$f"
            grep -q ' cached: target ' "$WORK/err" || die "doksi upload was not a cache hit: $(cat "$WORK/err")"
            ;;
        openssl) timed openssl "$size" "$round" openssl dgst -sha256 "$f" ;;
        put)
            local url
            url=$(mint_url floor) || die "cannot mint an upload URL"
            timed put "$size" "$round" curl -sSf -T "$f" -H 'Content-Type: application/zip' -o /dev/null "$url"
            ;;
    esac
}

VARIANTS=(curl cold warm openssl put)
RANDOM=${SEED:-1}
for size in $SIZES; do
    make_apk "$size"
    f=$(apk_of "$size")
    cat "$f" >/dev/null
    runs_var=RUNS_$size
    runs=${!runs_var:-}
    if [[ -z $runs ]]; then
        runs=$RUNS
        (($(bytes "$size") >= 10 * 1000000)) || runs=$((RUNS * 4))
    fi
    echo "$runs" >"$WORK/runs-$size"
    echo "== $(label "$size"): $WARMUP warm-up + $runs timed rounds of ${VARIANTS[*]}" >&2
    # A first upload fills the cache the warm runs hit.
    "$DOKSI" upload "$f" >/dev/null 2>"$WORK/err" || die "first upload failed: $(cat "$WORK/err")"
    for ((r = -WARMUP; r < runs; r++)); do
        order=("${VARIANTS[@]}")
        for ((j = ${#order[@]} - 1; j > 0; j--)); do
            k=$((RANDOM % (j + 1)))
            v=${order[j]} && order[j]=${order[k]} && order[k]=$v
        done
        for v in "${order[@]}"; do
            run_variant "$v" "$size" "$r" "$f"
            drop_uploads
        done
        echo "   round $r: $(awk -F'\t' -v s="$size" -v r="$r" '$2 == s && $3 == r { printf "%s %.0f ms  ", $1, $4 }' "$RESULTS")" >&2
    done
    # The floor, per round: hash, then the raw PUT.
    awk -F'\t' -v s="$size" '$2 == s && ($1 == "openssl" || $1 == "put") {
            w[$3] += $4; c[$3] += $5; if ($6 > m[$3]) m[$3] = $6 }
        END { for (r in w) printf "floor\t%s\t%s\t%.2f\t%.0f\t%d\n", s, r, w[r], c[r], m[r] }' \
        "$RESULTS" >>"$RESULTS"
    # The 1 GB file stays for `inspect`; smaller ones are cheap to keep.
done

# --- inspect vs aapt, apks vs find: short commands ---------------------------------------------

# alternate ROUNDS "KEY CMD..." ...: 3 warm-up then ROUNDS timed rounds, the commands in turn.
# A CMD is shell words quoted with printf %q where needed; no pipes or redirections.
alternate() {
    local rounds=$1
    shift
    local r spec
    for ((r = -3; r < rounds; r++)); do
        for spec in "$@"; do
            eval "timed ${spec%% *} - $r ${spec#* }"
        done
    done
}
small_stats() { stats "$1" - 4; }
# small_usage KEY: "median-CPU-ms max-RSS-kB"
small_usage() { echo "$(stats "$1" - 5 | cut -d' ' -f1) $(peak "$1" -)"; }

make_apk "$INSPECT_BIG"
make_apk "$INSPECT_SMALL"
BIG=$(apk_of "$INSPECT_BIG")
SMALL=$(apk_of "$INSPECT_SMALL")
echo "== doksi inspect / aapt dump badging, $SMALL_RUNS rounds" >&2
q() { printf '%q' "$1"; }
alternate "$SMALL_RUNS" "inspect_big $(q "$DOKSI") inspect $(q "$BIG")" \
    "aapt_big aapt dump badging $(q "$BIG")" \
    "inspect_small $(q "$DOKSI") inspect $(q "$SMALL")"

TREE_NOTE=
if ((MODULES > 0)); then
    TREE=$WORK/tree
    echo "== generating $MODULES modules x $FILES intermediate files" >&2
    "$ROOT/bench/make-monorepo.sh" "$TREE" "$MODULES" "$FILES" "$SUBDIRS" "$BASE_APK"
    total_files=$(find "$TREE" -type f | wc -l)
    found=$("$DOKSI" apks "$TREE" --json | jq length) || die "doksi apks failed on the tree"
    ((found == MODULES)) || die "doksi apks found $found APKs, expected $MODULES"
    listed=$(find "$TREE" -name '*.apk' | wc -l)
    echo "== tree: $total_files files; doksi apks and find list $found and $listed APKs" >&2
    echo "== doksi apks / find, $SMALL_RUNS rounds" >&2
    alternate "$SMALL_RUNS" "apks $(q "$DOKSI") apks $(q "$TREE")" \
        "find find $(q "$TREE") -name '*.apk'"
    TREE_NOTE="$MODULES modules × $FILES intermediate files ($total_files files)"
fi

# --- tables ------------------------------------------------------------------------------------

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# row LABEL KEY SIZE: wall median (min–max), CPU median, peak RSS (largest over the rounds)
row() {
    local w c r
    if [[ -f $WORK/failed-$2-$3 ]]; then
        printf '| %s | %s | fails: %s | | | |\n' "$(label "$3")" "$1" "$(cat "$WORK/failed-$2-$3")"
        return
    fi
    read -r -a w < <(stats "$2" "$3" 4)
    read -r -a c < <(stats "$2" "$3" 5)
    printf '| %s | %s | %.1f | %.1f–%.1f | %.1f | %s |\n' "$(label "$3")" "$1" "${w[0]}" "${w[1]}" "${w[2]}" \
        "${c[0]}" "$(mb "$(peak "$2" "$3")")"
}

echo
echo "doksi $(git describe --always --dirty 2>/dev/null || echo '?'), $(nproc) cores" \
    "($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))," \
    "sha_ni: $(grep -qw sha_ni /proc/cpuinfo && echo yes || echo no), $(curl --version | head -1 | cut -d' ' -f1-2)," \
    "$(openssl version | cut -d' ' -f1-2); load average $LOAD_BEFORE before, $LOAD_AFTER after$BINARY_NOTE"
if [[ $TIMER == time ]]; then
    how="/usr/bin/time -v; wall times less the wrapper's own ${OVERHEAD_MS} ms"
else
    how="bench/rusage.py (wait4 rusage, as /usr/bin/time -v reads it) for wall and CPU, /usr/bin/time -v in the warm-up rounds for peak RSS"
fi
echo "Warm page cache; sandbox on 127.0.0.1; rounds alternate the variants (order shuffled); timer: $how."
echo
echo "| size | what | wall ms (median) | wall min–max | CPU ms (median) | peak RSS MB (/usr/bin/time -v) |"
echo "|---|---|---:|---:|---:|---:|"
for size in $SIZES; do
    runs=$(cat "$WORK/runs-$size")
    row "(a) docs' curl flow (bench/curl-flow.sh); $runs rounds" curl "$size"
    row "(b) \`doksi upload --force\` (cold)" cold "$size"
    row "(c) \`doksi upload\` (warm, cache hit)" warm "$size"
    row "(d1) \`openssl dgst -sha256\`" openssl "$size"
    row "(d2) \`curl -T\` raw APK to storage" put "$size"
    row "(d) floor = d1 + d2, per round" floor "$size"
done

echo
echo "| size | b/a (target ≤ 0.33 at ≥ 100 MiB) | b/d (target ≤ 1.3 at ≥ 100 MiB) | c/openssl (target ≤ 1.2) | doksi peak RSS MB (target < 40) |"
echo "|---|---|---|---|---|"
for size in $SIZES; do
    if [[ -f $WORK/failed-curl-$size ]]; then
        ba="— (a fails)"
    else
        ba=$(ratio "$(median cold "$size")" "$(median curl "$size")")
    fi
    bd=$(ratio "$(median cold "$size")" "$(median floor "$size")")
    co=$(ratio "$(median warm "$size")" "$(median openssl "$size")")
    rss=$(mb "$(printf '%s\n' "$(peak cold "$size")" "$(peak warm "$size")" | sort -g | tail -1)")
    if (($(bytes "$size") >= 100 * 1000000)); then
        if [[ -f $WORK/failed-curl-$size ]]; then vba="n/a"; else vba=$(verdict "$ba" "<=" 0.3333); fi
        vbd=$(verdict "$bd" "<=" 1.3)
    else
        vba="(not a target)"
        vbd="(not a target)"
    fi
    echo "| $(label "$size") | $ba $vba | $bd $vbd | $co $(verdict "$co" "<=" 1.2) | $rss $(verdict "$rss" "<" 40) |"
done

read -r ib ib_lo ib_hi < <(small_stats inspect_big)
read -r ab ab_lo ab_hi < <(small_stats aapt_big)
read -r is is_lo is_hi < <(small_stats inspect_small)
read -r ib_cpu ib_rss < <(small_usage inspect_big)
read -r ab_cpu ab_rss < <(small_usage aapt_big)
read -r is_cpu is_rss < <(small_usage inspect_small)
echo
echo "Short commands: medians of $SMALL_RUNS alternating rounds after 3 warm-ups (peak RSS from those)."
echo
echo "| what | wall ms (median) | wall min–max | CPU ms | peak RSS MB | ratio | target |"
echo "|---|---:|---:|---:|---:|---|---|"
r1=$(ratio "$ib" "$ab")
r2=$(ratio "$ib" "$is")
printf '| `doksi inspect`, %s APK | %.2f | %.2f–%.2f | %s | %s | %s × aapt; %s × own %s time | ≤ 1 × aapt %s; ≤ 1.5 × own %s |\n' \
    "$(label "$INSPECT_BIG")" "$ib" "$ib_lo" "$ib_hi" "$ib_cpu" "$(mb "$ib_rss")" "$r1" "$r2" "$(label "$INSPECT_SMALL")" \
    "$(verdict "$r1" "<=" 1)" "$(verdict "$r2" "<=" 1.5)"
printf '| `aapt dump badging`, same APK | %.2f | %.2f–%.2f | %s | %s | 1.00 | |\n' "$ab" "$ab_lo" "$ab_hi" "$ab_cpu" "$(mb "$ab_rss")"
printf '| `doksi inspect`, %s APK | %.2f | %.2f–%.2f | %s | %s | 1.00 | |\n' "$(label "$INSPECT_SMALL")" "$is" "$is_lo" "$is_hi" "$is_cpu" "$(mb "$is_rss")"
if [[ -n $TREE_NOTE ]]; then
    read -r ap ap_lo ap_hi < <(small_stats apks)
    read -r fi_ fi_lo fi_hi < <(small_stats find)
    read -r ap_cpu ap_rss < <(small_usage apks)
    read -r fi_cpu fi_rss < <(small_usage find)
    r3=$(ratio "$ap" "$fi_")
    printf '| `doksi apks`, %s | %.2f | %.2f–%.2f | %s | %s | %s × find | < 1 × find %s |\n' \
        "$TREE_NOTE" "$ap" "$ap_lo" "$ap_hi" "$ap_cpu" "$(mb "$ap_rss")" "$r3" "$(verdict "$r3" "<" 1)"
    printf "| \`find -name '*.apk'\`, same tree | %.2f | %.2f–%.2f | %s | %s | 1.00 | |\n" "$fi_" "$fi_lo" "$fi_hi" "$fi_cpu" "$(mb "$fi_rss")"
fi
