"""tools/romfs.py: the ROMFS image of the compiled firmware, and the unix port running with it
mapped at /rom (CPython, pytest: it starts the MicroPython unix port)."""

import os
import subprocess
import sys

import pytest

from tools import romfs
from tools import run_micropython_tests as mprun

ROMFS = os.path.join(mprun.ROOT, "tools", "romfs.py")


def run(image, code, heap="96K", path=".frozen"):
    argv = [sys.executable, ROMFS, "run", image, "-X", "heapsize=" + heap, "-c", code]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=dict(os.environ, MICROPYPATH=path))
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.split()


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    mprun.compile_tree(("firmware",))  # the same modules as files, to compare with
    rom = mprun.compile_tree(("firmware",), rom=romfs.ROM)
    path = str(tmp_path_factory.mktemp("rom") / "firmware.romfs")
    romfs.build(path, os.path.join(rom, "firmware"))
    return path


def test_the_mount_goes_in_front_of_c_code_and_m_becomes_a_call_of_main():
    argv = romfs.arguments(["-X", "heapsize=96K", "-i", "-c", "print(1)"], 4096, 100)
    assert argv[:4] == ["-X", "heapsize=96K", "-i", "-c"]
    assert argv[4].startswith(romfs.MOUNT % (4096, 100)) and argv[4].endswith("print(1)")
    argv = romfs.arguments(["-X", "heapsize=96K", "-m", "sipua", "--port", "5062"], 4096, 100)
    assert argv[:3] == ["-X", "heapsize=96K", "-c"] and len(argv) == 4
    assert "sys.argv[:] = ['sipua', '--port', '5062']" in argv[3]
    assert argv[3].endswith("sys.exit(sipua.main(sys.argv[1:]))\n")


def test_other_command_lines_are_refused():
    for argv in (["script.py"], ["-X", "heapsize=96K"], ["-v", "-c", "1"]):
        with pytest.raises(romfs.RomfsError):
            romfs.arguments(argv, 4096, 100)


def test_a_directory_without_modules_is_an_empty_image_and_a_missing_one_an_error(tmp_path):
    assert romfs.image(str(tmp_path)) == b"\xd2\xcd\x31\x00"  # header and an empty root
    with pytest.raises(romfs.RomfsError):
        romfs.image(str(tmp_path / "nowhere"))


def test_modules_import_from_rom_first_on_sys_path(image):
    out = run(image, "import sys, mpsip.message\nprint(sys.path[0], mpsip.message.__file__)", path=".frozen")
    assert out == ["/rom", "/rom/mpsip/message.mpy"]


def test_a_module_from_the_image_keeps_its_bytecode_out_of_the_heap(image):
    """The point of ROMFS: the same .mpy costs far less heap imported in place than loaded
    from a file (its bytecode, strings and bytes constants stay in the image)."""
    code = "import gc\ngc.collect()\na = gc.mem_alloc()\nimport mpsip.message, mpsip.ua\n"
    code += "gc.collect()\nprint(gc.mem_alloc() - a)"
    from_rom = int(run(image, code)[0])
    files = os.path.join(mprun.BUILD, "firmware")
    argv = [mprun.MICROPYTHON, "-X", "heapsize=96K", "-c", code]
    env = dict(os.environ, MICROPYPATH=".frozen:" + files)
    p = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env)
    assert p.returncode == 0, p.stderr
    from_files = int(p.stdout.split()[0])
    assert from_rom < 0.7 * from_files, (from_rom, from_files)


def test_a_module_in_the_image_is_named_where_it_is_imported_from(image):
    """Its tracebacks name the file the board imported it from, its __file__: one string, so one
    qstr a module, not two (tools/deploy.py build())."""
    code = (
        "import io, sys\nimport mpsip.uri\ns = io.StringIO()\n"
        "try:\n    mpsip.uri.parse_uri('nothing')\nexcept Exception as e:\n    sys.print_exception(e, s)\n"
        "print(mpsip.uri.__file__)\n"
        "print(' '.join(sorted(set(w for w in s.getvalue().split('\"') if w.endswith('.mpy')))))\n"
    )
    assert run(image, code) == ["/rom/mpsip/uri.mpy", "/rom/mpsip/uri.mpy"]
