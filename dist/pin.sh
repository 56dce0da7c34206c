#!/bin/sh
# dist/pin.sh SHA256SUMS [ROOT]: pins a release everywhere this repository carries its SHA-256
# sums, from that release's SHA256SUMS (a file or URL, as doksiw --update takes it):
#   - gradle-wrapper-snippet/doksiw (by its own --update), which the GitHub Action (action.yml)
#     runs, so the action installs what doksiw pins;
#   - templates/doksi.yml, the GitLab CI/CD component, which runs without this repository: its
#     DOKSI_PINNED_VERSION, the default of its `version` input, and DOKSI_PINNED_SHA256SUMS, copied
#     from what doksiw now pins.
# ROOT is the repository (default: the one this script is in). The release workflow runs it
# before the tag's release is published (.github/workflows/release.yml, job `pin`).
set -eu

die() {
    printf 'dist/pin.sh: %s\n' "$*" >&2
    exit 2
}

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    die "usage: dist/pin.sh SHA256SUMS [ROOT]"
fi
# CDPATH unset for this cd: with it, cd may pick a folder of the same name elsewhere.
# shellcheck disable=SC1007
root=${2:-$(CDPATH= cd -- "$(dirname -- "$0")/.." && pwd -P)}
doksiw=$root/gradle-wrapper-snippet/doksiw
template=$root/templates/doksi.yml
if [ ! -f "$doksiw" ] || [ ! -f "$template" ]; then
    die "$root has no gradle-wrapper-snippet/doksiw or templates/doksi.yml"
fi

sh "$doksiw" --update "$1" || die "doksiw --update $1 failed (see above); nothing changed"

version=$(sed -n 's/^DOKSI_VERSION=//p' "$doksiw")
# The lines between DOKSI_SHA256SUMS=' and the closing ', as doksiw --update wrote them.
sums=$(sed -n "/^DOKSI_SHA256SUMS='\$/,/^'\$/p" "$doksiw" | sed '1d;$d')
if [ -z "$version" ] || [ -z "$sums" ]; then
    die "$doksiw pins nothing after --update"
fi

new=$template.pin.$$
awk -v version="$version" -v sums="$sums" '
    # The sums block: the marker line, then every line indented deeper than it, replaced.
    skipping && match($0, /^ */) && RLENGTH > indent && $0 !~ /^ *$/ { next }
    skipping && $0 ~ /^ *$/ { next }
    { skipping = 0 }
    /^ *DOKSI_PINNED_SHA256SUMS: \|$/ {
        print
        match($0, /^ */); indent = RLENGTH
        n = split(sums, line, "\n")
        for (i = 1; i <= n; i++) printf "%" (indent + 2) "s%s\n", "", line[i]
        skipping = 1
        next
    }
    /^ *DOKSI_PINNED_VERSION: / { sub(/"[^"]*"/, "\"" version "\"") }
    # The default of the version input: the line after `    version:` and its description.
    /^    version:$/ { in_version = 1 }
    in_version && /^      default: / { sub(/"[^"]*"/, "\"" version "\""); in_version = 0 }
    { print }
' "$template" >"$new" || { rm -f "$new"; die "cannot write $new"; }
mv -f "$new" "$template" || { rm -f "$new"; die "cannot replace $template"; }
printf 'dist/pin.sh: %s and %s pin doksi %s\n' "$doksiw" "$template" "$version" >&2
