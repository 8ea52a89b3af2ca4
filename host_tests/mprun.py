# Runs host_tests/test_*.py modules on the MicroPython unix port.
#
# The same files run under pytest on CPython. A test is a plain function named
# test_*; a module-level dict CASES maps a test name to the list of arguments it
# is called with once each (conftest.py gives pytest the same parametrization).
# Usage: micropython -X heapsize=96K mprun.py test_message [test_sdp ...]
# (tools/run_micropython_tests.py runs it from .mpy files: micropython -c "import mprun" NAME)
import gc
import sys

# tools/run_micropython_tests.py puts the compiled tree on MICROPYPATH; run from the
# source tree, this file finds the tests beside it and the firmware next door.
if not [p for p in sys.path if p.endswith("firmware")]:
    _here = __file__.rpartition("/")[0] or "."
    sys.path.append(_here)
    sys.path.append(_here + "/../firmware")


# Loading modules and running tests leaves the heap in small pieces (MicroPython's GC does
# not compact). A block held while modules load and between tests, and released for each
# test, gives every test one large contiguous region, as main.py does for its buffers.
_reserve = [None]


def _hold():
    gc.collect()
    for size in (32768, 24576, 16384, 8192, 4096):
        try:
            _reserve[0] = bytearray(size)
            return
        except MemoryError:
            pass


def _release():
    _reserve[0] = None
    gc.collect()


def _run(fn, name, args, counts):
    _release()
    try:
        fn(*args)
    except Exception as e:  # report every failure, keep going
        counts[1] += 1
        print("FAIL", name, type(e).__name__, e)
        sys.print_exception(e)
    else:
        counts[0] += 1
    _hold()


def _import(modname):
    _hold()
    try:
        return __import__(modname)
    except MemoryError:
        _release()  # too big to load beside the reserve: load it without
        return __import__(modname)


def run_module(modname, counts, only=None):
    mod = _import(modname)
    cases = getattr(mod, "CASES", {})
    for name in sorted(dir(mod)):
        if not name.startswith("test_") or (only and name != only):
            continue
        fn = getattr(mod, name)
        if not callable(fn):
            continue
        if name in cases:
            for case in cases[name]:
                _run(fn, "%s.%s[%s]" % (modname, name, case), (case,), counts)
        else:
            _run(fn, modname + "." + name, (), counts)


def main(argv):
    counts = [0, 0]
    for arg in argv:
        mod, _, only = arg.partition("::")
        if mod.endswith(".py"):
            mod = mod[:-3]
        run_module(mod.rpartition("/")[2], counts, only or None)
    print("%d passed, %d failed" % (counts[0], counts[1]))
    return 1 if counts[1] else 0


# As a script argv[0] is the script; under -c it is "-c": keep only test module names.
sys.exit(main([a for a in sys.argv if a.rpartition("/")[2].startswith("test_")]))
