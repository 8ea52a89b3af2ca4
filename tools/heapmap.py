"""Where the door station's heap goes, on the MicroPython unix port (64-bit: 8-byte pointers,
32-byte GC blocks), with the firmware as `make deploy` builds it (.mpy, main.py as source).

    python tools/heapmap.py [--heap 224K] [--no-station] [--refresh] [--fit] [--json build/heapmap.json]

1. imports: a fresh interpreter imports the station's modules one by one in the order the
   station loads them (each module after the ones it imports), and prints per module the
   heap it holds after gc.collect() (gc.mem_alloc() delta) and how many qstrs it added to the
   dynamic qstr pools (micropython.qstr_info()): the pools grow in chunks, so a module that
   triggers a new pool is charged for it;
2. station: the virtual board (tools/virtual_board.py) boots against the loopback proxy
   (tools/proxy.py), registers, the button calls a scripted phone (tools/phone.py) that
   answers, the phone hangs up; the console command `heap` gives the heap in use after a
   collection at each point: boot, idle registered, in a call, after the call, and (from
   micropython.mem_info(), which the command also prints) the largest free piece of it.
   With --refresh, the station also registers again in the middle of the call (the console's
   net-down / net-up: back after a loss it registers, as it does for a refresh), so the
   REGISTER, its 401 and the lent modules that answer it (mpsip.regrare, mpsip.auth) meet a
   heap that holds a call: the real peak, which a call alone does not reach (a registrar that
   challenges every REGISTER does this at every refresh that falls in a call);
3. --fit (slower, ~1 min): the smallest heap, in 8K steps, at which 2. passes with no
   MemoryError on the console.
Prints a table and writes build/heapmap.json. The yardstick for heap work: quick (~5 s
without --fit), run it before and after a change.
"""

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tools import demo  # noqa: E402
from tools.virtual_board import interpreter, romfs_beside  # noqa: E402


def _tuple_in(path, name):
    """The literal tuple assigned to `name` at the top of a source file, or None."""
    if not os.path.exists(path):
        return None
    with open(path) as f:
        tree = ast.parse(f.read())
    for s in tree.body:
        if isinstance(s, ast.Assign) and name in [getattr(t, "id", "") for t in s.targets]:
            return tuple(ast.literal_eval(s.value))
    return None


OUT = os.path.join(ROOT, "build", "heapmap")
FIRMWARE = os.path.join(ROOT, "firmware")
# What the station loads at boot besides the modules named in station.py: the platform layer.
_PLATFORM = ("hal.host",)
# Loaded at boot and dropped before the loop starts (their qstrs stay: the pools never shrink).
DROPPED = ("intercom.startup", "intercom.config")
# Lent by the user agent when needed (a digest challenge, a rare request) and dropped after a
# poll round that did not use them: loaded in the middle of a call's path, into whatever heap
# is left then (the station interns their names at boot). Measured last, not counted in "kept
# after boot".
LENT = _tuple_in(os.path.join(FIRMWARE, "intercom", "startup.py"), "LENT") or (
    "mpsip.rare",
    "mpsip.regrare",
    "mpsip.auth",
)
_MAX_FREE = re.compile(r"max free sz: (\d+)")
_GC_BLOCK = 32  # bytes: 4 words of the 64-bit unix port
_QSTR = re.compile(r"qstr pool: n_pool=(\d+), n_qstr=(\d+), n_str_data_bytes=(\d+), n_total_bytes=(\d+)")


# ---------------------------------------------------------------- the import order


def _source(name, src):
    base = os.path.join(src, *name.split("."))
    for p in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.exists(p):
            return p
    return None


def _top_imports(path, name):
    """Module names a source file imports at its top level (not inside functions), in order;
    `try: import x / except ImportError` fallbacks included (only those that exist count)."""
    with open(path) as f:
        tree = ast.parse(f.read())
    pkg = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out = []

    def visit(stmts):
        for s in stmts:
            if isinstance(s, ast.Import):
                out.extend(a.name for a in s.names)
            elif isinstance(s, ast.ImportFrom):
                mod = s.module or ""
                if s.level:
                    mod = ".".join(pkg.split(".")[: len(pkg.split(".")) - s.level + 1] + ([mod] if mod else []))
                out.append(mod)
                out.extend(mod + "." + a.name for a in s.names)  # `from pkg import module`
            elif isinstance(s, ast.Try):
                visit(s.body)
            elif isinstance(s, ast.If):
                visit(s.body)
                visit(s.orelse)

    visit(tree.body)
    return out


def import_order(roots, src=FIRMWARE):
    """The firmware's modules in load order: roots one by one, each after what it imports."""
    order = []
    seen = set()

    def load(name):
        if name in seen:
            return  # loaded, or being loaded (a cycle ends here)
        seen.add(name)
        path = _source(name, src)
        if path is None:
            return  # a built-in or stdlib module (gc, sys, micropython ...), or a class
        parent = name.rpartition(".")[0]
        if parent:
            load(parent)  # a package's __init__ runs before its modules
        for dep in _top_imports(path, name):
            load(dep)
        order.append(name)

    for r in roots:
        load(r)
    return order


def station_roots(src=FIRMWARE):
    """What the station loads at boot, in order: intercom.station, the boot module, the modules
    of a call it preloads (startup.CALL_MODULES), the config (dropped after), the platform;
    then the modules the user agent lends itself (startup.LENT: measured last, apart)."""
    path = os.path.join(src, "intercom", "startup.py")
    call = _tuple_in(path, "CALL_MODULES") or _tuple_in(os.path.join(src, "intercom", "station.py"), "_CALL_MODULES")
    roots = ["intercom.station", "intercom.startup"] + list(call or ()) + ["intercom.config"] + list(_PLATFORM)
    return roots + list(LENT)


# ---------------------------------------------------------------- per-module import cost

_PROBE = """
import gc, micropython
def q():
    micropython.qstr_info()
gc.collect()
print("BASE", gc.mem_alloc())
q()
for n in %r:
    gc.collect()
    a = gc.mem_alloc()
    __import__(n)
    gc.collect()
    print("MOD", n, gc.mem_alloc() - a)
    q()
gc.collect()
print("END", gc.mem_alloc())
"""


def import_costs(board_dir, order, micropython, heap="1024K"):
    """[{module, bytes, qstrs, qstr_bytes}] and the totals, from one fresh interpreter (with the
    board's ROMFS image mounted first when it has one)."""
    env = dict(os.environ, MICROPYPATH=".frozen:./lib:")
    argv = interpreter(micropython, romfs_beside(board_dir)) + ["-X", "heapsize=" + heap, "-c", _PROBE % (order,)]
    p = subprocess.run(argv, cwd=board_dir, env=env, capture_output=True, text=True, timeout=60)
    if p.returncode:
        raise SystemExit("heapmap: the import probe failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    rows, q, base, end = [], None, 0, 0
    for line in p.stdout.splitlines():
        m = _QSTR.match(line)
        if m:
            now = [int(x) for x in m.groups()]
            if rows and q is not None:
                rows[-1]["qstrs"] = now[1] - q[1]
                rows[-1]["qstr_bytes"] = now[3] - q[3]
                rows[-1]["qstr_pools"] = now[0] - q[0]
            q = now
        elif line.startswith("MOD "):
            _, name, n = line.split()
            rows.append({"module": name, "bytes": int(n)})
        elif line.startswith("BASE "):
            base = int(line.split()[1])
        elif line.startswith("END "):
            end = int(line.split()[1])
    qstr = {"pools": q[0], "qstrs": q[1], "str_bytes": q[2], "total_bytes": q[3]} if q else {}
    kept = end - base - sum(r["bytes"] for r in rows if r["module"] in DROPPED or r["module"] in LENT)
    return rows, {"total": end - base, "kept": kept, "qstr": qstr}


# ---------------------------------------------------------------- the station, live


def station_heap(board_dir, heap, log=None, refresh=False):
    """{"boot", "registered", "in_call", ("refreshed",) "after_call": bytes in use} of the
    running station; refresh: it registers again in the call (see the module's doc)."""
    from tools.phone import Phone
    from tools.proxy import LoopbackProxy

    work = os.path.join(OUT, "proxy")
    os.makedirs(work, exist_ok=True)
    proxy = LoopbackProxy({"door": "door-pw", "phone": "phone-pw"}, workdir=work)
    proxy.start()
    reg = "127.0.0.1:%d" % proxy.port
    cfg = demo.door_config(reg, "door", "door-pw", ["sip:phone@%s" % reg], demo.free_port(), demo.free_port())
    demo.write_json(os.path.join(board_dir, "config.json"), cfg)
    phone = Phone("phone", "phone-pw", ("127.0.0.1", proxy.port), answer="auto")
    board = demo.Board(board_dir, heap, log=log)
    out = {}

    def used(key):
        """The heap in use (the EVENT line) and its largest free piece: the `heap` command
        also prints micropython.mem_info(), whose "max free sz" counts 32-byte GC blocks (a
        heap in pieces fails an allocation with tens of KB free)."""
        n = board.output().count("max free sz")
        board.send("heap")
        got = int(board.wait("heap", 5)["used"])
        end = time.monotonic() + 2
        while board.output().count("max free sz") == n and time.monotonic() < end:
            time.sleep(0.05)
        sizes = _MAX_FREE.findall(board.output())
        if len(sizes) > n:
            out.setdefault("largest_free", {})[key] = int(sizes[-1]) * _GC_BLOCK
        return got

    try:
        phone.start()
        phone.wait("registered", 10)
        board.start()
        out["boot"] = int(board.events("boot")[0][1]["heap"])  # start() waited for it
        board.wait("registered", 15)
        out["registered"] = used("registered")
        board.send("press")
        phone.wait("connected", 10)
        board.wait("connected", 10)
        time.sleep(1.0)  # frames flow: the jitter buffer and the codec at work
        out["in_call"] = used("in_call")
        if refresh:
            board.send("net-down")
            board.wait("error", 5, what="network")
            board.send("net-up")
            board.wait("registered", 10)
            out["refreshed"] = used("refreshed")
        phone.hangup()
        board.wait("call-ended", 5)
        time.sleep(0.3)
        out["after_call"] = used("after_call")
        errors = [line for line in board.output().splitlines() if "MemoryError" in line or "what=memory" in line]
        if errors:
            out["errors"] = errors
    finally:
        board.stop()
        phone.stop()
        proxy.stop()
    return out


def fits(board_dir, heap, refresh=False):
    """True when the station boots, registers, makes a call and ends it at this heap with no
    MemoryError (caught or not) on its console."""
    try:
        out = station_heap(board_dir, heap, refresh=refresh)
    except Exception:  # noqa: BLE001 - a timeout (a call that never came) is a no too
        return False
    return not out.get("errors")


def smallest_heap(board_dir, lo_k, hi_k, step_k=8, refresh=False):
    """The smallest heap (KB, a multiple of step_k) in lo_k..hi_k at which fits(); None if
    not even hi_k does. A bisection: the boundary is not sharp (fragmentation), so it is a
    yardstick to compare changes by, not a heap to run with: give that a margin."""
    if not fits(board_dir, "%dK" % hi_k, refresh):
        return None
    lo, hi = lo_k // step_k, hi_k // step_k  # fits at hi; below lo untested
    if fits(board_dir, "%dK" % (lo * step_k), refresh):
        return lo * step_k
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(board_dir, "%dK" % (mid * step_k), refresh):
            hi = mid
        else:
            lo = mid
    return hi * step_k


# ---------------------------------------------------------------- the table


def kb(n):
    return "%.1f" % (n / 1024.0)


def report(rows, totals, station, heap):
    lines = ["%-22s %8s %6s %8s" % ("module (load order)", "KB", "qstrs", "qstr KB")]
    cum = 0
    for r in rows:
        cum += r["bytes"]
        lines.append(
            "%-22s %8s %6d %8s%s"
            % (
                r["module"],
                kb(r["bytes"]),
                r.get("qstrs", 0),
                kb(r.get("qstr_bytes", 0)),
                ("  (+%d qstr pool)" % r["qstr_pools"] if r.get("qstr_pools") else "")
                + ("  dropped after boot" if r["module"] in DROPPED else "")
                + ("  lent on demand" if r["module"] in LENT else ""),
            )
        )
    lines.append("%-22s %8s" % ("imports, total", kb(totals["total"])))
    lines.append("%-22s %8s" % ("kept after boot", kb(totals["kept"])))
    q = totals.get("qstr")
    if q:
        lines.append(
            "qstr pools: %d pools, %d qstrs, %s KB of strings, %s KB in all"
            % (q["pools"], q["qstrs"], kb(q["str_bytes"]), kb(q["total_bytes"]))
        )
    if station:
        lines.append("station (heap %s, KB in use after gc.collect()):" % heap)
        free = station.get("largest_free", {})
        for k in ("boot", "registered", "in_call", "refreshed", "after_call"):
            if k in station:
                piece = "   largest free piece %s KB" % kb(free[k]) if k in free else ""
                lines.append("  %-20s %8s%s" % (k.replace("_", " "), kb(station[k]), piece))
        for e in station.get("errors", ()):
            lines.append("  ERROR " + e)
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heap", help="the station's heap (default demo.BOARD_HEAP, with --files demo.FILES_HEAP)")
    ap.add_argument("--files", action="store_true", help="the firmware as .mpy files on the flash, not in ROMFS")
    ap.add_argument("--no-station", action="store_true", help="import costs only (no proxy, phone, board)")
    ap.add_argument("--json", default=os.path.join(ROOT, "build", "heapmap.json"))
    ap.add_argument("--verbose", action="store_true", help="print the board's console")
    ap.add_argument("--refresh", action="store_true", help="register again in the middle of the call")
    ap.add_argument(
        "--fit", action="store_true", help="also find the smallest heap (8K steps) for boot, registration and a call"
    )
    args = ap.parse_args(argv)
    args.heap = args.heap or (demo.FILES_HEAP if args.files else demo.BOARD_HEAP)
    from tools.virtual_board import find_micropython

    mp = find_micropython()
    if not mp:
        raise SystemExit("heapmap: no micropython (make venv installs it into .venv)")
    board_dir = os.path.join(OUT, "board")
    shutil.rmtree(OUT, ignore_errors=True)
    demo.build_board(board_dir, None, {"mic": "tone:440"}, rom=not args.files)
    order = import_order(station_roots())
    rows, totals = import_costs(board_dir, order, mp)
    station = None
    if not args.no_station:
        station = station_heap(board_dir, args.heap, log=print if args.verbose else None, refresh=args.refresh)
    smallest = None
    if args.fit:
        smallest = smallest_heap(board_dir, 48, int(args.heap.rstrip("Kk")), refresh=args.refresh)
    print(report(rows, totals, station, args.heap))
    if args.fit:
        what = "a call with a registration in it" if args.refresh else "a call"
        print("smallest heap for boot, registration and %s: %s" % (what, "%dK" % smallest if smallest else "none"))
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        out = {"heap": args.heap, "imports": rows, "totals": totals, "station": station, "smallest_k": smallest}
        out["refresh"] = args.refresh
        out["romfs"] = not args.files
        json.dump(out, f, indent=1)
    print("wrote %s" % os.path.relpath(args.json, ROOT))
    return 1 if station and station.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
