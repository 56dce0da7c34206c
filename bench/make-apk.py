#!/usr/bin/env python3
"""Writes an APK-like test file of a given size for the upload benchmarks.

    bench/make-apk.py SIZE OUT.apk [BASE.apk]

SIZE is in MiB (1,048,576 bytes: "100", "1024"), or in MB with the suffix ("1000MB" is
10^9 bytes).

Every entry of BASE (default: tests/fixtures/apks/appium-unlock-2.0.0-debug.apk, so the file
keeps a real AndroidManifest.xml and resources.arsc, and `doksi inspect`, `aapt dump badging`
and the sandbox's POST /targets all read it) is copied in its original order and compression,
then STORED entries of random bytes (assets/payload-N.bin, 64 MiB each, the last one shorter)
are added until the file is SIZE to the byte. Random bytes are
incompressible, like the dex and native code of a real release APK, so no tool can shortcut
them. The original signature is not kept (nothing here verifies it).

    bench/make-apk.py --native SIZE OUT.apk [BASE.apk]

A native-heavy APK, as a Flutter, React Native, game or on-device-ML app is: BASE's entries,
then real shared libraries from this machine (the largest ELF files among
/usr/lib/x86_64-linux-gnu/*.so*, each one that still fits, largest first) as
lib/x86_64/libNAME.so, until no further one fits in SIZE (so the file is at most SIZE, not
exactly it). They are stored as AGP (3.6+) and `zipalign -p` store them: uncompressed, their data
page-aligned (4096) by padding the local header's extra field (the 0xD935 alignment record), and
every other stored entry (resources.arsc is always stored) 4-aligned. Unlike random bytes, native
code compresses (to 33-48% at deflate level 1). The same machine and arguments give the same
bytes.
"""

import os
import struct
import sys
import zipfile
from pathlib import Path

PIECE = 64 << 20
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE = ROOT / "tests/fixtures/apks/appium-unlock-2.0.0-debug.apk"
# Fixed timestamp: two files of the same size differ only in their random payload.
DATE = (2024, 1, 1, 0, 0, 0)
LIBDIR = Path("/usr/lib/x86_64-linux-gnu")
PAGE = 4096
# zipalign's extra-field record: header id, data size, then the alignment and zero padding.
ALIGN_ID = 0xD935


def central_size(zf):
    """Bytes the central directory and end record will take for the entries written so far."""
    return sum(
        46 + len(i.filename.encode()) + len(i.extra) + len(i.comment) for i in zf.infolist()
    ) + 22


def write_aligned(zf, info, data, align):
    """Writes one STORED entry whose data starts at a multiple of ALIGN in the file."""
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell() + 30 + len(info.filename.encode()) + 6
    pad = -start % align
    info.extra = struct.pack("<HHH", ALIGN_ID, 2 + pad, align) + bytes(pad)
    zf.writestr(info, data)
    # As zipalign leaves it: the padding is in the local header only, not the central directory.
    info.extra = b""


def shared_libraries():
    """(size, path) of the real ELF shared objects in LIBDIR, largest first, each file once."""
    seen, found = set(), []
    for path in sorted(LIBDIR.glob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        st = path.stat()
        if (st.st_dev, st.st_ino) in seen:
            continue
        with path.open("rb") as f:
            if f.read(4) != b"\x7fELF":
                continue
        seen.add((st.st_dev, st.st_ino))
        found.append((st.st_size, path))
    found.sort(key=lambda sp: (-sp[0], str(sp[1])))
    return found


def add_native(dst, target):
    """Adds lib/x86_64/*.so entries, largest first, while each still fits in TARGET bytes."""
    names, added = set(), 0
    for size, path in shared_libraries():
        name = "lib/x86_64/" + path.name.split(".so")[0] + ".so"
        if name in names:
            continue
        entry = 30 + len(name) + 6 + PAGE - 1 + size + 46 + len(name)
        if dst.fp.tell() + entry + central_size(dst) > target:
            continue
        info = zipfile.ZipInfo(name, DATE)
        info.external_attr = 0o100755 << 16
        write_aligned(dst, info, path.read_bytes(), PAGE)
        names.add(name)
        added += size
    if not names:
        sys.exit(f"make-apk.py: no shared library in {LIBDIR} fits in {target} bytes")
    return len(names), added


def check_aligned(path):
    """Fails unless every lib/*.so is STORED with its data on a page boundary."""
    with zipfile.ZipFile(path) as zf, path.open("rb") as f:
        for info in zf.infolist():
            if not info.filename.startswith("lib/"):
                continue
            f.seek(info.header_offset + 26)
            name_len, extra_len = struct.unpack("<HH", f.read(4))
            data = info.header_offset + 30 + name_len + extra_len
            if info.compress_type != zipfile.ZIP_STORED or data % PAGE:
                sys.exit(f"make-apk.py: {info.filename} is not stored page-aligned (data at {data})")


def main():
    args = sys.argv[1:]
    native = "--native" in args
    if native:
        args.remove("--native")
    if len(args) not in (2, 3):
        sys.exit(__doc__.strip())
    sys.argv[1:] = args
    spec = sys.argv[1]
    if spec.upper().endswith("MB"):
        target = int(float(spec[:-2]) * 1_000_000)
    else:
        target = int(float(spec) * (1 << 20))
    out = Path(sys.argv[2])
    base = Path(sys.argv[3]) if len(sys.argv) == 4 else DEFAULT_BASE
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(base) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            copy = zipfile.ZipInfo(info.filename, info.date_time)
            copy.compress_type = info.compress_type
            copy.external_attr = info.external_attr
            if native and (info.compress_type == zipfile.ZIP_STORED or info.filename == "resources.arsc"):
                write_aligned(dst, copy, src.read(info), 4)
            else:
                dst.writestr(copy, src.read(info))
        if native:
            libs, lib_bytes = add_native(dst, target)
        n = 0
        while not native:
            name = f"assets/payload-{n}.bin"
            # What the file would be with this entry empty: its local header, its central record.
            here = dst.fp.tell()
            overhead = 30 + len(name) + 46 + len(name)
            room = target - here - overhead - central_size(dst)
            if room <= 0:
                if n == 0:
                    sys.exit(f"make-apk.py: {target} bytes is smaller than the base APK")
                break
            # A last piece too small for its own headers goes into this one instead.
            size = room if room < PIECE + 4096 else PIECE
            info = zipfile.ZipInfo(name, DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o100644 << 16
            dst.writestr(info, os.urandom(size))
            n += 1
            if size == room:
                break
    got = tmp.stat().st_size
    if native:
        check_aligned(tmp)
        tmp.replace(out)
        print(f"{out}: {got} bytes, {libs} shared libraries ({lib_bytes} bytes) stored page-aligned",
              file=sys.stderr)
        return
    if got != target:
        tmp.unlink()
        sys.exit(f"make-apk.py: wrote {got} bytes, wanted {target}")
    tmp.replace(out)
    print(f"{out}: {got} bytes, {n} payload entries", file=sys.stderr)


if __name__ == "__main__":
    main()
