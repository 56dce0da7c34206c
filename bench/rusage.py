#!/usr/bin/env python3
"""Runs one command and writes what it cost, for bench/upload.sh.

    bench/rusage.py OUT CMD [ARG...]

Writes "wall_ms cpu_ms maxrss_kb exit_code" to OUT and exits with CMD's status. This is what
`/usr/bin/time -v` reports (the rusage wait4() returns: user + system time and the peak RSS of
the command and every child it waited for), without its two costs for short commands: its
figures are printed to 10 ms, and its own exec adds a few ms to any wall time taken around it.
Here the clock starts just before the spawn and stops when the command has been reaped; the
interpreter's start-up is outside the window. stdin, stdout and stderr are inherited.
"""

import os
import sys
import time


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__.strip())
    out, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawnp(cmd[0], cmd, os.environ)
    _, status, ru = os.wait4(pid, 0)
    t1 = time.perf_counter_ns()
    code = os.waitstatus_to_exitcode(status)
    cpu = (ru.ru_utime + ru.ru_stime) * 1000
    with open(out, "w") as f:
        f.write(f"{(t1 - t0) / 1e6:.3f} {cpu:.3f} {ru.ru_maxrss} {code}\n")
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
