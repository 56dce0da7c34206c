# Sourced by the benchmarks (after ROOT, DOKSI and die are set): sets DOKSI to the binary to
# measure and BINARY_NOTE to what the results table should say about it. DOKSI_BIN picks a
# prebuilt binary; otherwise the release build is refreshed.
BINARY_NOTE=
if [[ -n ${DOKSI_BIN:-} ]]; then
    DOKSI=$(realpath "$DOKSI_BIN")
    BINARY_NOTE=", binary $DOKSI_BIN"
else
    echo "== building doksi (release)" >&2
    if ! (cd "$ROOT" && cargo build --release --quiet); then
        # A tree mid-edit need not stop a benchmark of code that built a moment ago, but say so.
        [[ -x $DOKSI ]] || die "cargo build --release failed and there is no $DOKSI"
        built=$(date -r "$DOKSI" '+%Y-%m-%d %H:%M')
        echo "== WARNING: cargo build failed; measuring the existing $DOKSI (built $built)" >&2
        BINARY_NOTE=", BUILD FAILED: measured the binary built $built"
    fi
fi
[[ -x $DOKSI ]] || die "no binary at $DOKSI"
