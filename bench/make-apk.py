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
"""

import os
import sys
import zipfile
from pathlib import Path

PIECE = 64 << 20
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BASE = ROOT / "tests/fixtures/apks/appium-unlock-2.0.0-debug.apk"
# Fixed timestamp: two files of the same size differ only in their random payload.
DATE = (2024, 1, 1, 0, 0, 0)


def central_size(zf):
    """Bytes the central directory and end record will take for the entries written so far."""
    return sum(
        46 + len(i.filename.encode()) + len(i.extra) + len(i.comment) for i in zf.infolist()
    ) + 22


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.strip())
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
            dst.writestr(copy, src.read(info))
        n = 0
        while True:
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
    if got != target:
        tmp.unlink()
        sys.exit(f"make-apk.py: wrote {got} bytes, wanted {target}")
    tmp.replace(out)
    print(f"{out}: {got} bytes, {n} payload entries", file=sys.stderr)


if __name__ == "__main__":
    main()
