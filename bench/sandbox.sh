# shellcheck shell=bash
# Sourced by the benchmarks (bench/upload.sh, bench/slow-link.sh): start `doksi sandbox` with
# its uploads stored under $WORK/sandbox (so the caller's EXIT trap removes them), export its
# URL and key, and the two helpers every upload benchmark needs. make_work first; start_sandbox
# needs $DOKSI and die().

# make_work NAME: a scratch folder $WORK (mktemp, NAME.XXXXXX) that goes on exit, with the
# sandbox started in it, however the script ends (Ctrl-C: exit 130).
make_work() {
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
    SANDBOX_PID=
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    if [[ -n $SANDBOX_PID ]]; then
        kill "$SANDBOX_PID" 2>/dev/null || true
        wait "$SANDBOX_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}

# start_sandbox [ARGS...]: the sandbox, with ARGS (e.g. --port 0 --storage-port 0); sets
# SANDBOX_PID and exports DOKSI_BASE_URL and DOKSI_API_KEY.
start_sandbox() {
    mkdir -p "$WORK/sandbox"
    TMPDIR=$WORK/sandbox "$DOKSI" sandbox "$@" >"$WORK/sandbox.json" 2>"$WORK/sandbox.err" &
    SANDBOX_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $WORK/sandbox.json ]] && break
        kill -0 "$SANDBOX_PID" 2>/dev/null || die "the sandbox exited: $(cat "$WORK/sandbox.err")"
        sleep 0.1
    done
    [[ -s $WORK/sandbox.json ]] || die "the sandbox printed nothing in 10 s"
    DOKSI_BASE_URL=$(jq -r .base_url "$WORK/sandbox.json")
    DOKSI_API_KEY=$(jq -r .api_key "$WORK/sandbox.json")
    export DOKSI_BASE_URL DOKSI_API_KEY
    echo "== sandbox at $DOKSI_BASE_URL (pid $SANDBOX_PID)" >&2
}

# Stored uploads are never read again once registered; dropping them keeps gigabytes off the disk.
drop_uploads() { find "$WORK/sandbox" -name '*.zip' -type f -delete; }

# mint_url NAME: a fresh presigned upload URL.
mint_url() {
    curl -sfX POST "$DOKSI_BASE_URL/uploads" -H "Authorization: Bearer $DOKSI_API_KEY" \
        -H "Content-Type: application/json" -d "{\"name\":\"$1\"}" | jq -er .upload_url
}
