"""Run every dual-runtime test file on the MicroPython unix port, one process per file.

Each file gets a fresh `micropython -X heapsize=96K` so the heap cap is the board's,
and two files run at a time (CI has two cores). Prints the failures and a closing
'micropython: N passed, N failed' line; exits non-zero on any failure.
"""

import glob
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
HEAP = os.environ.get("MPSIP_HEAP", "96K")
TIMEOUT_S = 600


def run_file(path):
    cmd = [MICROPYTHON, "-X", "heapsize=" + HEAP, os.path.join(ROOT, "host_tests", "mprun.py"), path]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode() + "\nTIMEOUT after %ds" % TIMEOUT_S, -1
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
    return path, passed, failed, rc, out


def main(argv):
    files = argv or sorted(glob.glob(os.path.join(ROOT, "host_tests", "test_*.py")))
    total_p = total_f = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for path, passed, failed, rc, out in pool.map(run_file, files):
            name = os.path.basename(path)
            print("  %-32s %5d passed %3d failed" % (name, passed, failed))
            if failed or rc:
                print(out[-6000:])
                failed = failed or 1
            total_p += passed
            total_f += failed
    print("micropython: %d passed, %d failed" % (total_p, total_f))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
