"""`make deploy ROMFS=1` (tools/deploy.py --romfs) and the virtual board's ROMFS partition
(tools/virtual_board.py): the checks before anything is written, and the real mpremote writing
a firmware tree of the tests' own into the partition of a real virtual board.
"""

import hashlib
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import deploy  # noqa: E402
import virtual_board  # noqa: E402
from boardproc import BoardProcess  # noqa: E402

MK = os.path.join(ROOT, "mk", "deploy.mk")
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def make_deploy(port, fw, *variables):
    cmd = ["make", "--no-print-directory", "-f", MK, "deploy", "BOARD=virtual", "PORT=" + port]
    cmd += ["FIRMWARE_DIR=" + fw, "DEPLOY_BUILD=" + fw + "-build"] + list(variables)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def mpremote(port, *args):
    return subprocess.run([MPREMOTE, "connect", port] + list(args), capture_output=True, text=True, timeout=60)


def firmware(tmp_path, big=0):
    """A firmware tree: main.py (source on the board) and a package (into the image)."""
    fw = tmp_path / "fw"
    (fw / "pkg").mkdir(parents=True)
    (fw / "main.py").write_text("import pkg.greet\npkg.greet.hello()\n")
    (fw / "pkg" / "__init__.py").write_text("")
    (fw / "pkg" / "greet.py").write_text("def hello():\n    print('EVENT hello from', __file__)\n")
    if big:  # a module whose bytes constant alone is bigger than the partition
        (fw / "pkg" / "big.py").write_text("DATA = %r\n" % bytes(big))
    return str(fw)


@pytest.fixture
def board(tmp_path):
    """A virtual board with a blank (erased) 256 KB ROMFS partition."""
    flash = str(tmp_path / "flash")
    virtual_board.blank_partition(virtual_board.romfs_beside(flash))
    vb = BoardProcess(flash, str(tmp_path / "console.log")).start()
    vb.wait_console(r">>> $")
    yield vb
    vb.stop()
    print(vb.console()[-3000:])


# ---------------------------------------------------------------- the checks, on their own


def test_check_rom_refuses_a_firmware_without_romfs_support_naming_what_to_flash():
    with pytest.raises(deploy.DeployError) as e:
        deploy.check_rom("/dev/ttyUSB0", None, b"image")
    assert "no ROMFS support (no vfs.rom_ioctl)" in str(e.value)
    assert "MICROPY_VFS_ROM and a partition table with a romfs partition" in str(e.value)
    assert "Nothing was written" in str(e.value)


def test_check_rom_refuses_a_firmware_with_support_but_no_partition():
    for rom in ((0, 0, ""), (1, 0, "")):  # no partitions; rom_ioctl(2, 0) gave an errno
        with pytest.raises(deploy.DeployError) as e:
            deploy.check_rom("/dev/ttyUSB0", rom, b"image")
        assert "has no ROMFS partition" in str(e.value) and "Nothing was written" in str(e.value)


def test_check_rom_refuses_an_image_bigger_than_the_partition_saying_the_size_needed():
    with pytest.raises(deploy.DeployError) as e:
        deploy.check_rom("/dev/ttyUSB0", (1, 131072, ""), bytes(131768))
    assert "131768 bytes" in str(e.value) and "holds 131072" in str(e.value)
    assert "at least 132 KB" in str(e.value)


def test_check_rom_writes_only_an_image_the_partition_does_not_hold_already():
    image = b"\xd2\xcd\x31image"
    digest = hashlib.sha256(image).hexdigest()
    assert deploy.check_rom("p", (1, 4096, digest), image) is False
    assert deploy.check_rom("p", (1, 4096, hashlib.sha256(b"other").hexdigest()), image) is True
    assert deploy.check_rom("p", (1, 4096, ""), image) is True  # no hashlib on the board: write


def test_rom_leftovers_are_the_package_directories_deepest_first_that_exist():
    compiled = ["a/b/c.mpy", "a/d.mpy", "top.mpy", "x/y.mpy"]
    assert deploy.parents("a/b/c.mpy") == ["a", "a/b"] and deploy.parents("top.mpy") == []
    assert deploy.rom_leftovers(compiled, ["a", "a/b", "lib"]) == ["a/b", "a"]


# ---------------------------------------------------------------- with the virtual board


def test_mpremote_sees_the_virtual_boards_blank_partition_and_a_board_without_one(tmp_path, board):
    p = mpremote(board.pty, "romfs", "query")
    assert p.returncode == 0, p.stderr
    assert "ROMFS0 partition has size 262144 bytes" in p.stdout and "Not a valid ROMFS" in p.stdout
    bare = BoardProcess(str(tmp_path / "bare"), str(tmp_path / "bare.log")).start()
    try:
        bare.wait_console(r">>> $")
        p = mpremote(bare.pty, "romfs", "query")
        assert "ROMFS is not enabled on this device" in p.stdout, p.stdout + p.stderr
    finally:
        bare.stop()


def test_romfs_deploy_after_a_plain_deploy_removes_the_modules_and_their_directories(tmp_path, board):
    fw = firmware(tmp_path)
    p = make_deploy(board.pty, fw)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "pkg/greet.mpy" in board.files()
    board.wait_console(r"EVENT hello from pkg/greet.mpy")  # imported from the flash

    p = make_deploy(board.pty, fw, "ROMFS=1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "remove pkg/greet.mpy" in p.stdout and "remove directory pkg" in p.stdout
    # Nothing of the package is left to shadow the ROM's ('' is before /rom on a board).
    assert sorted(board.files()) == ["board.json", "deploy-manifest.json", "main.py"]
    assert not os.path.exists(os.path.join(board.dir, "pkg"))
    # The reset mounted the new image: main.py imports the package from /rom.
    board.wait_console(r"EVENT hello from /rom/pkg/greet.mpy")

    # Deployed again unchanged: the partition is not written again.
    p = make_deploy(board.pty, fw, "ROMFS=1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ROMFS image %d bytes (unchanged)" % os.path.getsize(fw + "-build/firmware.romfs") in p.stdout
    assert "ROMFS image deployed" not in p.stdout


def test_romfs_deploy_of_an_image_bigger_than_the_partition_fails_and_writes_nothing(tmp_path, board):
    fw = firmware(tmp_path, big=300 * 1024)
    p = make_deploy(board.pty, fw, "ROMFS=1")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "ROMFS partition on %s holds 262144" % board.pty in p.stderr and "Nothing was written" in p.stderr
    assert board.files() == {}
    with open(virtual_board.romfs_beside(board.dir), "rb") as f:
        assert f.read() == b"\xff" * virtual_board.ROM_SIZE
