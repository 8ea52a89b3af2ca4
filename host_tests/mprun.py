# Runs host_tests/test_*.py modules on the MicroPython unix port.
#
# The same files run under pytest on CPython. A test is a plain function named
# test_*; a module-level dict CASES maps a test name to the list of arguments it
# is called with once each (conftest.py gives pytest the same parametrization).
# Usage: micropython -X heapsize=96K mprun.py test_message [test_sdp ...]
import gc
import sys

_here = __file__.rpartition("/")[0] or "."
sys.path.append(_here)
sys.path.append(_here + "/../firmware")


def _run(fn, name, args, counts):
    try:
        fn(*args)
    except Exception as e:  # report every failure, keep going
        counts[1] += 1
        print("FAIL", name, type(e).__name__, e)
        sys.print_exception(e)
    else:
        counts[0] += 1
    gc.collect()


def run_module(modname, counts, only=None):
    mod = __import__(modname)
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


sys.exit(main(sys.argv[1:]))
