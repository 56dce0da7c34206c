#!/usr/bin/env bash
# The upload as the Doksi docs show it with curl, for bench/upload.sh to time against
# `doksi upload`: mint a presigned URL, `zip` the APK, `curl --data-binary @app.zip` it, register
# the upload as a target. The commands are the docs' own; only the checks are added, so a failed
# step fails the script instead of being timed as a fast run.
#
#   DOKSI_BASE_URL=... DOKSI_API_KEY=... bench/curl-flow.sh path/to/app-release.apk
#
# Prints the target id on stdout. app.zip is written to a fresh temp folder (as in a clean CI
# checkout; `zip` would otherwise update an existing app.zip) and removed at the end.
set -euo pipefail

APK=${1:?usage: curl-flow.sh APK}
BASE=${DOKSI_BASE_URL:?set DOKSI_BASE_URL}
: "${DOKSI_API_KEY:?set DOKSI_API_KEY}"

SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/curl-flow.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
cd "$(dirname "$APK")"
APK_NAME=$(basename "$APK")

MINT=$(curl -sX POST "$BASE/uploads" -H "Authorization: Bearer $DOKSI_API_KEY" -H "Content-Type: application/json" -d '{"name":"storefront"}')
UPLOAD_ID=$(echo "$MINT" | jq -r .upload_id)
UPLOAD_URL=$(echo "$MINT" | jq -r .upload_url)
[[ $UPLOAD_ID != null && $UPLOAD_URL != null ]] || { echo "curl-flow.sh: mint failed: $MINT" >&2; exit 1; }

zip "$SCRATCH/app.zip" "$APK_NAME"

PUT=$(curl -X PUT "$UPLOAD_URL" -H "Content-Type: application/zip" --data-binary @"$SCRATCH/app.zip")
[[ -z $PUT ]] || { echo "curl-flow.sh: PUT refused: $PUT" >&2; exit 1; }

TARGET_ID=$(curl -sX POST "$BASE/targets" -H "Authorization: Bearer $DOKSI_API_KEY" -H "Content-Type: application/json" -d "{\"upload_id\":\"$UPLOAD_ID\"}" | jq -r .target_id)
[[ $TARGET_ID != null && -n $TARGET_ID ]] || { echo "curl-flow.sh: POST /targets failed" >&2; exit 1; }
echo "$TARGET_ID"
