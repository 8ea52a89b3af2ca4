"""Issue 6 end to end: `make deploy` puts the real firmware (firmware/, compiled as for a board)
onto the virtual board with the real mpremote; the deployed firmware boots, registers to
Kamailio and answers a call from baresip. What is deployed is exactly what runs.

- plain deploy: the board's flash holds mpy-cross's output byte for byte and no firmware source
  but main.py; from .mpy files the station needs demo.FILES_HEAP (152K on the 64-bit port).
- `make deploy ROMFS=1`: the modules go into the board's ROMFS partition (one image, written by
  `mpremote romfs deploy`), the flash holds main.py, board.json and the config and no .mpy, and
  the station runs at demo.BOARD_HEAP (96K, the board's heap); a board without a partition is
  refused with what to flash, and nothing is written.
"""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from tools import demo, peers, romfs
from tools.boardproc import BoardProcess
from tools.virtual_board import ROM_SIZE, blank_partition, romfs_beside

from .conftest import USERS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MK = os.path.join(ROOT, "mk", "deploy.mk")


@pytest.fixture
def start_board(tmp_path):
    """start_board(heap, partition): a virtual board on tmp_path/flash, with a blank ROMFS
    partition (tmp_path/flash.romfs, erased) when partition is true."""
    started = []

    def start(heap, partition=False):
        flash = str(tmp_path / "flash")
        if partition:
            blank_partition(romfs_beside(flash))
        vb = BoardProcess(flash, str(tmp_path / "console.log"), heap=heap).start()
        started.append(vb)
        return vb

    yield start
    for vb in started:
        vb.stop()
        print(vb.console()[-4000:])  # shown when the test failed


def door_config(kamailio_port):
    return {
        "sip": {"registrar": "127.0.0.1:%d" % kamailio_port, "user": "ua", "password": USERS["ua"]},
        "call": {"targets": ["sip:bob@127.0.0.1"]},
        "door": {"pins": ["4711"]},
        "answer": {"auto": True, "allow": ["sip:bob@127.0.0.1"], "delay_s": 0},
        "net": "lan",
        "board": "virtual",
    }


def sha(data):
    return hashlib.sha256(data).hexdigest()


def make_deploy(board, cfg, tmp_path, *variables):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    build = str(tmp_path / "build")
    cmd = ["make", "--no-print-directory", "-f", MK, "deploy", "PORT=" + board.pty, "CONFIG=%s" % path]
    cmd += ["DEPLOY_BUILD=" + build] + list(variables)
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300), build


def registers_and_answers_baresip(board, phone):
    # The reset at the end of deploy booted it: it registers to Kamailio...
    board.wait_console(r"EVENT registered", 30)
    # ...and answers baresip (bob is in answer.allow, the call comes through Kamailio).
    bob = phone("bob")
    bob.dial("ua")
    board.wait_console(r"EVENT connected", 30)
    bob.wait_event("CALL_ESTABLISHED", 10)
    bob.hangup()
    board.wait_console(r"EVENT call-ended reason=bye", 20)
    run = board.console().partition("EVENT boot ")[2]  # before: mpremote's probes at the raw REPL
    assert "Traceback" not in run and "what=memory" not in run, run


def test_make_deploy_puts_the_firmware_on_the_board_which_registers_and_answers_baresip(
    kamailio, phone, start_board, tmp_path
):
    peers.require("baresip")
    board = start_board(demo.FILES_HEAP)  # from .mpy files the station needs more than 96K
    cfg = door_config(kamailio.port)
    cfg["sip"]["local_port"] = peers.free_port(udp=True, tcp=False)
    board.wait_console(r">>> $")
    p, build = make_deploy(board, cfg, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr

    # What is on the flash is what mpy-cross made (the manifest lists it by hash) and nothing else
    # of the firmware's: main.py as source, every other module only as .mpy.
    files = board.files()
    manifest = json.loads(files["deploy-manifest.json"])
    assert manifest["board"] == "virtual"
    for dev, digest in manifest["files"].items():
        assert sha(files[dev]) == digest, dev
        if dev.endswith(".mpy"):
            with open(os.path.join(build, dev), "rb") as f:
                assert f.read() == files[dev], dev
    with open(os.path.join(ROOT, "firmware", "main.py"), "rb") as f:
        assert files["main.py"] == f.read()
    assert "mpsip/ua.mpy" in files and "intercom/station.mpy" in files
    assert [f for f in files if f.endswith(".py") and f not in ("main.py", "boot.py")] == []
    assert json.loads(files["config.json"]) == cfg
    registers_and_answers_baresip(board, phone)


def test_make_deploy_romfs_puts_the_modules_in_rom_and_the_station_runs_in_the_boards_heap(
    kamailio, phone, start_board, tmp_path
):
    peers.require("baresip")
    board = start_board(demo.BOARD_HEAP, partition=True)  # a fresh board: its partition erased
    cfg = door_config(kamailio.port)
    cfg["sip"]["local_port"] = peers.free_port(udp=True, tcp=False)
    board.wait_console(r">>> $")
    p, build = make_deploy(board, cfg, tmp_path, "ROMFS=1")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "ROMFS image deployed" in p.stdout, p.stdout

    # The partition holds the image deploy built from mpy-cross's output, byte for byte, the zeros
    # mpremote pads its last 4 KB chunk with, then erased flash; the image holds every module
    # (tools/romfs.py builds the same bytes from the build directory).
    with open(os.path.join(build, "firmware.romfs"), "rb") as f:
        image = f.read()
    with open(romfs_beside(board.dir), "rb") as f:
        partition = f.read()
    assert len(partition) == ROM_SIZE
    end = (len(image) + 4095) // 4096 * 4096
    assert partition[: len(image)] == image
    assert partition[len(image) : end] == bytes(end - len(image)) and partition[end:] == b"\xff" * (ROM_SIZE - end)
    assert image == romfs.image(build)
    assert os.path.isfile(os.path.join(build, "mpsip", "ua.mpy"))
    # The flash holds what runs from source and the config: no module, no package directory.
    files = board.files()
    assert sorted(files) == ["board.json", "config.json", "deploy-manifest.json", "main.py"]
    manifest = json.loads(files["deploy-manifest.json"])
    assert manifest["romfs"] == {"bytes": len(image), "sha256": sha(image)}
    assert json.loads(files["config.json"]) == cfg

    # Booted by deploy's reset with the image mounted at /rom, in the board's 96K heap.
    registers_and_answers_baresip(board, phone)
    assert "heap %s, flash %s, ROMFS partition" % (demo.BOARD_HEAP, board.dir) in board.console()


def test_make_deploy_romfs_on_a_board_without_a_romfs_partition_says_what_to_flash_and_writes_nothing(
    start_board, tmp_path
):
    board = start_board(demo.BOARD_HEAP)  # no flash.romfs: a stock firmware, no ROMFS
    board.wait_console(r">>> $")
    p, build = make_deploy(board, door_config(5060), tmp_path, "ROMFS=1")
    assert p.returncode == 2, p.stdout + p.stderr
    assert "has no ROMFS support (no vfs.rom_ioctl)" in p.stderr, p.stderr
    assert "MICROPY_VFS_ROM and a partition table with a romfs partition" in p.stderr
    assert "Nothing was written" in p.stderr
    assert board.files() == {} and not os.path.exists(romfs_beside(board.dir))


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
