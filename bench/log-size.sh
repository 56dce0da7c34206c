#!/usr/bin/env bash
# How much a person reads of a run in one stream (`2>&1`, a CI log), for two doksi binaries
# against one sandbox: lines, bytes, and result links told more than once. Two runs each:
#   wide:  10 web destinations × (cat_regression + cat_failing) = 40 tests, 10 failed;
#   rerun: 3 web destinations × (cat_flaky + cat_failing), --retries 1.
#
#   bench/log-size.sh OLD_DOKSI NEW_DOKSI
#
# The sandbox is started from NEW_DOKSI on free loopback ports and stopped at the end.
set -euo pipefail

OLD=${1:?usage: log-size.sh OLD_DOKSI NEW_DOKSI}
NEW=${2:?usage: log-size.sh OLD_DOKSI NEW_DOKSI}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/log-size.XXXXXX")
"$NEW" sandbox --port 0 --storage-port 0 --run-step 200ms >"$SCRATCH/sandbox.json" 2>/dev/null &
SANDBOX=$!
trap 'kill $SANDBOX 2>/dev/null; rm -rf "$SCRATCH"' EXIT
for _ in $(seq 50); do [[ -s $SCRATCH/sandbox.json ]] && break; sleep 0.1; done
field() { sed -E "s/.*\"$1\":\"([^\"]*)\".*/\1/" "$SCRATCH/sandbox.json"; }
export DOKSI_BASE_URL DOKSI_API_KEY DOKSI_CACHE_DIR=$SCRATCH/cache
DOKSI_BASE_URL=$(field base_url)
DOKSI_API_KEY=$(field api_key)

wide=()
for i in 0 1 2 3 4 5 6 7 8 9; do wide+=(--web-url "https://shop$i.example"); done
rerun=(--web-url https://a.example --web-url https://b.example --web-url https://c.example)

printf '%-8s %-6s %6s %7s %12s\n' binary run lines bytes "links twice"
for which in old new; do
    bin=$OLD; [[ $which == new ]] && bin=$NEW
    for run in wide rerun; do
        log=$SCRATCH/$which-$run.log
        case $run in
            wide) "$bin" run --wait --poll-interval 200ms "${wide[@]}" \
                --category cat_regression --category cat_failing >"$log" 2>&1 || true ;;
            rerun) "$bin" run --wait --poll-interval 200ms "${rerun[@]}" \
                --category cat_flaky --category cat_failing --retries 1 >"$log" 2>&1 || true ;;
        esac
        twice=$(grep -o 'http://[^ ]*/runs/res_[0-9]*' "$log" | sort | uniq -d | wc -l)
        printf '%-8s %-6s %6d %7d %12d\n' "$which" "$run" "$(wc -l <"$log")" "$(wc -c <"$log")" "$twice"
    done
done
