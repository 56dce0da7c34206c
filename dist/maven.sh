#!/usr/bin/env bash
# Writes doksi's binaries as a Maven repository, the way protoc is published, so that the Gradle
# snippet (gradle-wrapper-snippet/doksi.gradle, with doksi.version set) resolves doksi through a
# build's own repositories (Maven Central, or a corporate proxy of it):
#
#   dist/maven.sh --version 0.2.0 --out DIR linux/doksi:linux-x86_64 win/doksi.exe:windows-x86_64 ...
#
# DIR/ai/doksi/doksi/
#   maven-metadata.xml (+ .sha256 .sha1 .md5)   every version under DIR; latest and release are the
#                                                one written now, as a deploy leaves them
#   <version>/doksi-<version>.pom (+ checksums)
#   <version>/doksi-<version>-<classifier>.exe (+ checksums), one per binary given
#
# Classifiers are protoc's (os-maven-plugin's names): linux-x86_64, linux-aarch_64, osx-x86_64,
# osx-aarch_64, windows-x86_64. The output is the same bytes for the same inputs: no timestamp
# but maven-metadata.xml's lastUpdated, which is SOURCE_DATE_EPOCH's time, and left out without it.
# Signing (.asc, which Maven Central wants too) is the release workflow's job.
set -euo pipefail

GROUP_PATH=ai/doksi
ARTIFACT=doksi
CLASSIFIERS="linux-x86_64 linux-aarch_64 osx-x86_64 osx-aarch_64 windows-x86_64"

die() {
    printf 'maven.sh: %s\n' "$*" >&2
    exit 2
}

usage="usage: dist/maven.sh --version VERSION --out DIR BINARY:CLASSIFIER..."
version=
out=
inputs=()
while [ $# -gt 0 ]; do
    case $1 in
        --version) [ $# -ge 2 ] || die "$usage"; version=$2; shift 2 ;;
        --version=*) version=${1#*=}; shift ;;
        --out) [ $# -ge 2 ] || die "$usage"; out=$2; shift 2 ;;
        --out=*) out=${1#*=}; shift ;;
        -h | --help) printf '%s\n' "$usage"; exit 0 ;;
        --) shift; inputs+=("$@"); break ;;
        -*) die "unknown option $1 ($usage)" ;;
        *) inputs+=("$1"); shift ;;
    esac
done
[ -n "$version" ] && [ -n "$out" ] && [ "${#inputs[@]}" -gt 0 ] || die "$usage"
# A version becomes a folder name and XML text: nothing there needs quoting.
[[ $version =~ ^[0-9A-Za-z][0-9A-Za-z._+-]*$ ]] || die "version '$version' is not like 1.2.3 or 1.2.3-rc.1"
for tool in sha256sum sha1sum md5sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (GNU coreutils)"
done

# Each input checked before anything is written.
seen=" "
for input in "${inputs[@]}"; do
    [[ $input == *:* ]] || die "'$input' is not BINARY:CLASSIFIER"
    binary=${input%:*}
    classifier=${input##*:}
    [[ " $CLASSIFIERS " == *" $classifier "* ]] || die "unknown classifier '$classifier' (one of: $CLASSIFIERS)"
    [[ $seen != *" $classifier "* ]] || die "classifier '$classifier' given twice"
    seen="$seen$classifier "
    [ -f "$binary" ] || die "$binary: no such file"
done

# FILE's digests beside it, as Maven repositories hold them: the hex digest alone.
checksums() {
    local tool ext
    for tool in sha256sum:sha256 sha1sum:sha1 md5sum:md5; do
        ext=${tool#*:}
        "${tool%:*}" "$1" | { read -r sum _ && printf '%s' "$sum"; } > "$1.$ext.tmp"
        mv -f "$1.$ext.tmp" "$1.$ext"
    done
}

# Copies (or writes stdin to) DEST through a temporary file, then its checksums.
put() {
    local dest=$1
    if [ $# -ge 2 ]; then cat -- "$2"; else cat; fi > "$dest.tmp"
    chmod 644 "$dest.tmp"
    mv -f "$dest.tmp" "$dest"
    checksums "$dest"
}

base=$out/$GROUP_PATH/$ARTIFACT
dir=$base/$version
mkdir -p "$dir"

put "$dir/$ARTIFACT-$version.pom" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>ai.doksi</groupId>
  <artifactId>$ARTIFACT</artifactId>
  <version>$version</version>
  <packaging>pom</packaging>
  <name>doksi</name>
  <description>The doksi command-line tool, one executable per platform (classifier: os-arch, type exe), for the Gradle snippet to resolve</description>
  <url>https://doksi.ai</url>
  <licenses>
    <license>
      <name>MIT</name>
      <url>https://opensource.org/licenses/MIT</url>
    </license>
    <license>
      <name>Apache-2.0</name>
      <url>https://www.apache.org/licenses/LICENSE-2.0</url>
    </license>
  </licenses>
  <developers>
    <developer>
      <name>Doksi</name>
      <url>https://doksi.ai</url>
    </developer>
  </developers>
  <scm>
    <url>https://github.com/doksi-ai/doksi</url>
    <connection>scm:git:https://github.com/doksi-ai/doksi.git</connection>
  </scm>
</project>
EOF

for input in "${inputs[@]}"; do
    put "$dir/$ARTIFACT-$version-${input##*:}.exe" "${input%:*}"
done

# Every version this repository holds (a folder with its pom), oldest first.
versions=$(
    cd "$base"
    for d in */; do
        d=${d%/}
        if [ -f "$d/$ARTIFACT-$d.pom" ]; then printf '%s\n' "$d"; fi
    done | LC_ALL=C sort -V
)
last_updated=
if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    [[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH '$SOURCE_DATE_EPOCH' is not a number of seconds"
    last_updated="    <lastUpdated>$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S)</lastUpdated>
"
fi
{
    printf '<?xml version="1.0" encoding="UTF-8"?>\n<metadata>\n'
    printf '  <groupId>ai.doksi</groupId>\n  <artifactId>%s</artifactId>\n' "$ARTIFACT"
    printf '  <versioning>\n    <latest>%s</latest>\n    <release>%s</release>\n    <versions>\n' "$version" "$version"
    printf '%s\n' "$versions" | while read -r v; do printf '      <version>%s</version>\n' "$v"; done
    printf '    </versions>\n%s  </versioning>\n</metadata>\n' "$last_updated"
} | put "$base/maven-metadata.xml"
