"""The ESP32 platform code against MicroPython's own API: mypy with micropython-esp32-stubs
(machine, network, neopixel, esp32 as MicroPython 1.29 has them) and micropython-stdlib-stubs
(MicroPython's time, select, socket: ticks_ms and friends, poll.ipoll).

    python tools/typecheck.py          # exit 0 when clean (part of make test via `make typecheck`)

What is checked: firmware/hal/ and the application modules it imports, as MicroPython code: the
stubs replace CPython's standard library (mypy --custom-typeshed-dir), so a call CPython has and
MicroPython lacks is an error, and so is a wrong argument to machine.I2S or network.LAN.
Firmware has no type hints (STYLE.md): mypy infers from the stubs, with --check-untyped-defs so
the bodies of unannotated functions are checked too.
"""

import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FILES = ["firmware/hal/__init__.py", "firmware/hal/esp32.py"]
# follow_imports_for_stubs: "silent" applies to the stubs too (their own slips are not ours)
CONFIG = """[mypy]
custom_typeshed_dir = %(typeshed)s
python_version = 3.11
check_untyped_defs = True
follow_imports = silent
follow_imports_for_stubs = True
cache_dir = %(cache)s
"""


def site_packages():
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def esp32_stubs(site):
    """micropython-esp32-stubs puts machine.pyi & co. loose in site-packages (not a PEP 561
    package, and mypy refuses site-packages on MYPYPATH): link them into one folder."""
    from importlib import metadata

    out = os.path.join(ROOT, "build", "typecheck", "esp32-stubs")
    os.makedirs(out, exist_ok=True)
    files = list(metadata.distribution("micropython-esp32-stubs").files or ())
    files += [
        f for f in metadata.distribution("micropython-stdlib-stubs").files or () if str(f).startswith("_mpy_shed")
    ]
    for f in files:
        top = str(f).split("/")[0]
        if top.endswith(".dist-info") or not (top.endswith(".pyi") or "/" in str(f)):
            continue
        link = os.path.join(out, top)
        if not os.path.lexists(link):
            os.symlink(os.path.join(site, top), link)
    return out


def main(argv=None):
    site = site_packages()
    typeshed = site  # micropython-stdlib-stubs installs a typeshed layout there (stdlib/VERSIONS)
    if not os.path.exists(os.path.join(site, "stdlib", "VERSIONS")) or not glob.glob(os.path.join(site, "machine.pyi")):
        print("typecheck: micropython-esp32-stubs / micropython-stdlib-stubs are not installed (make venv)")
        return 2
    os.makedirs(os.path.join(ROOT, "build", "typecheck"), exist_ok=True)
    ini = os.path.join(ROOT, "build", "typecheck", "mypy.ini")
    with open(ini, "w") as f:
        f.write(CONFIG % {"typeshed": typeshed, "cache": os.path.join(ROOT, "build", "typecheck", "cache")})
    cmd = [sys.executable, "-m", "mypy", "--config-file", ini, "--pretty"]
    env = dict(os.environ, MYPYPATH=os.pathsep.join((os.path.join(ROOT, "firmware"), esp32_stubs(site))))
    return subprocess.run(cmd + FILES, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
