"""Board definitions: boards/<name>/board.json (pins, I2S, flashing) — load and check (CPython).

    board = boards.load("esp32-devkitc")     # a checked dict; BoardError says what is wrong
    boards.names()                           # every board in boards/
    boards.flash_offset(board)               # 0x1000

`python tools/boards.py` checks every board and prints a table; it exits 1 on a problem.
Pin numbers live only in board.json files; the checks below know each chip's GPIOs (which
exist, which are taken by flash, PSRAM, USB, the console or Ethernet, which are input-only)
so that a typo in a pin number is caught on the host, not by a board that will not boot.
The firmware may read a board.json copied to the device (make deploy copies it): it stays
plain JSON, pins as integers, absent parts as null.
"""

import fnmatch
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOARDS = os.path.join(ROOT, "boards")


class BoardError(Exception):
    """A missing or invalid board definition; the message says what to do."""


def _pins(*ranges):
    s = set()
    for r in ranges:
        s.update(range(r[0], r[1] + 1) if isinstance(r, tuple) else (r,))
    return s


# Per chip: GPIOs that exist, those reserved on every module (flash/PSRAM, USB, console UART),
# the input-only ones, where MicroPython's firmware goes in flash, and the mpy-cross arch.
CHIPS = {
    # ESP32 datasheet 2.2: GPIO6-11 are the SPI flash, 34-39 are inputs only; UART0 is 1/3.
    "esp32": {
        "gpio": _pins((0, 5), (12, 19), (21, 23), (25, 27), (32, 39)),
        "reserved": _pins(1, 3),
        "input_only": _pins((34, 39)),
        "offset": 0x1000,
        "march": "xtensawin",
        "i2s": (0, 1),
    },
    # ESP32-S3 datasheet 2.3: GPIO26-32 SPI flash, 33-37 octal PSRAM on R8 modules,
    # 19/20 native USB, 43/44 UART0; no input-only pins.
    "esp32s3": {
        "gpio": _pins((0, 21), (26, 48)),
        "reserved": _pins((26, 37), 19, 20, 43, 44),
        "input_only": set(),
        "offset": 0x0,
        "march": "xtensawin",
        "i2s": (0, 1),
    },
    # The virtual board (MicroPython unix port): nothing to flash, no pins.
    "host": {"gpio": set(), "reserved": set(), "input_only": set(), "offset": None, "march": "host", "i2s": ()},
}
# ESP32 EMAC RMII data pins (ESP32 TRM 10.4): fixed, taken whenever Ethernet is used.
RMII = _pins(19, 21, 22, 25, 26, 27)
PHYS = ("LAN8720", "IP101", "RTL8201", "DP83848", "KSZ8041", "KSZ8081")
BAUDS = (115200, 230400, 460800, 921600)
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_VERSION = re.compile(r"^\d+\.\d+\.\d+$")


def names(boards_dir=BOARDS):
    """Board names: the folders of boards/ that hold a board.json."""
    if not os.path.isdir(boards_dir):
        return []
    return sorted(n for n in os.listdir(boards_dir) if os.path.isfile(os.path.join(boards_dir, n, "board.json")))


def read(name, boards_dir=BOARDS):
    """The parsed board.json of `name`, unchecked."""
    known = names(boards_dir)
    if not name:
        raise BoardError("BOARD is not set: give BOARD=<name>, one of: %s" % ", ".join(known))
    if name not in known:
        raise BoardError("no board %r in boards/: give BOARD=<name>, one of: %s" % (name, ", ".join(known)))
    path = os.path.join(boards_dir, name, "board.json")
    try:
        with open(path) as f:
            return json.load(f)
    except ValueError as e:
        raise BoardError("%s is not valid JSON: %s" % (path, e)) from None


def _is_pin(v):
    return isinstance(v, int) and not isinstance(v, bool)


def problems(board, name):
    """Everything wrong with a parsed board.json, one string each ([] when it is fine)."""
    out = []

    def need(key, ok, what):
        if key not in board:
            out.append("%s: missing (%s)" % (key, what))
            return False
        if not ok(board[key]):
            out.append("%s: must be %s, got %s" % (key, what, json.dumps(board[key])))
            return False
        return True

    need("name", lambda v: v == name, "the folder name %r" % name)
    need("description", lambda v: isinstance(v, str) and v, "a sentence saying what the board and its parts are")
    if not need("chip", lambda v: v in CHIPS, "one of " + ", ".join(CHIPS)):
        return out
    chip = CHIPS[board["chip"]]
    need("micropython", lambda v: isinstance(v, str) and _VERSION.match(v), 'the MicroPython version tested, "1.29.0"')
    need("mpy_march", lambda v: v == chip["march"], "%r for %s" % (chip["march"], board["chip"]))
    need("console_baud", lambda v: v in BAUDS, "one of %s" % (BAUDS,))
    need("net", lambda v: isinstance(v, list) and v and set(v) <= {"wifi", "lan"}, 'a list of "wifi" and/or "lan"')
    need("duplex", lambda v: v in ("full", "half"), '"full" or "half"')
    if chip["offset"] is not None:
        need("flash_offset", lambda v: v == "0x%x" % chip["offset"], '"0x%x" for %s' % (chip["offset"], board["chip"]))
        need("baud", lambda v: v in BAUDS, "one of %s" % (BAUDS,))
        version = board.get("micropython", "?")
        need(
            "firmware",
            lambda v: isinstance(v, str) and v.endswith("-v%s.bin" % version),
            "the firmware file name (a pattern, * for the build date) ending in -v%s.bin" % version,
        )
        need("firmware_url", lambda v: isinstance(v, str) and v.startswith("https://"), "where to download it")
    if not need("pins", lambda v: isinstance(v, dict), "an object"):
        return out
    if not need("i2s", lambda v: isinstance(v, dict), "an object"):
        return out

    used = {}  # pin -> what uses it
    shared = set(board.get("shared_pins", []))
    reserved = set(chip["reserved"])
    eth = board.get("eth")
    if eth is not None:
        reserved |= RMII

    def pin(where, v, output, optional=False):
        if v is None and optional:
            return
        if not _is_pin(v) or v not in chip["gpio"]:
            out.append("%s: %s is not a GPIO of the %s" % (where, json.dumps(v), board["chip"]))
        elif v in reserved:
            taken = "flash, PSRAM, USB, console or Ethernet"
            out.append("%s: GPIO%d is taken (%s) on the %s" % (where, v, taken, board["chip"]))
        elif output and v in chip["input_only"]:
            out.append("%s: GPIO%d is input-only and cannot drive an output" % (where, v))
        elif v in used and v not in shared:
            out.append("%s: GPIO%d is already used by %s (list it in shared_pins if meant)" % (where, v, used[v]))
        else:
            used[v] = where

    pins = board["pins"]
    for part in ("button", "relay", "led"):
        if chip["offset"] is None:
            break
        p = pins.get(part, "absent")
        where = "pins." + part
        if p is None and part != "button":
            continue  # a board without a relay or LED says null
        if not isinstance(p, dict):
            out.append('%s: must be an object {"pin": n, ...}%s' % (where, "" if part == "button" else " or null"))
            continue
        pin(where, p.get("pin"), part != "button")
        if part == "led" and p.get("kind") not in ("gpio", "ws2812"):
            out.append('pins.led.kind: must be "gpio" or "ws2812"')
        if (part != "led" or p.get("kind") == "gpio") and p.get("active") not in (0, 1):
            out.append("%s.active: must be 0 or 1 (the level that means pressed/on)" % where)
        if part == "button" and p.get("pull") not in ("up", "down", None):
            out.append('pins.button.pull: must be "up", "down" or null (external resistor)')
    i2s = board["i2s"]
    for part in ("mic", "amp") if chip["offset"] is not None else ():
        s = i2s.get(part)
        where = "i2s." + part
        if not isinstance(s, dict):
            out.append("%s: must be an object with id, sck, ws, sd, bits, rate, format, ibuf" % where)
            continue
        if s.get("id") not in chip["i2s"]:
            out.append("%s.id: must be one of %s" % (where, chip["i2s"]))
        mode = s.get("mode", "std")
        if mode not in ("std", "pdm") or (mode == "pdm" and part != "mic"):
            out.append('%s.mode: must be "std"%s' % (where, ' or "pdm"' if part == "mic" else ""))
        pin(where + ".sck", s.get("sck"), True, optional=mode == "pdm")
        pin(where + ".ws", s.get("ws"), True)
        pin(where + ".sd", s.get("sd"), part == "amp")
        if s.get("bits") not in (16, 24, 32):
            out.append("%s.bits: must be 16, 24 or 32" % where)
        if s.get("rate") not in (8000, 16000):
            out.append("%s.rate: must be 8000 or 16000 (the firmware's G.711 path)" % where)
        if s.get("format") not in ("MONO", "STEREO"):
            out.append('%s.format: must be "MONO" or "STEREO"' % where)
        if not (_is_pin(s.get("ibuf")) and 1024 <= s["ibuf"] <= 65536):
            out.append("%s.ibuf: must be a whole number of bytes from 1024 to 65536" % where)
        if "shift" in s and not (_is_pin(s["shift"]) and 8 <= s["shift"] <= 16):
            out.append("%s.shift: must be 8 to 16 (32-bit slot >> shift = 16-bit sample)" % where)
    if isinstance(i2s.get("mic"), dict) and isinstance(i2s.get("amp"), dict):
        if i2s["mic"].get("id") == i2s["amp"].get("id") and board.get("duplex") != "half":
            out.append('i2s: mic and amp share I2S id %s: only with "duplex": "half"' % i2s["mic"].get("id"))
    if eth is not None:
        if "lan" not in board.get("net", []):
            out.append('net: a board with eth must list "lan"')
        if not isinstance(eth, dict) or eth.get("phy") not in PHYS:
            out.append("eth.phy: must be one of " + ", ".join(PHYS))
        else:
            if not (_is_pin(eth.get("phy_addr")) and 0 <= eth["phy_addr"] <= 31):
                out.append("eth.phy_addr: must be 0 to 31")
            if eth.get("ref_clk_mode") not in ("in", "out"):
                out.append('eth.ref_clk_mode: must be "in" or "out"')
            for key in ("mdc", "mdio", "power", "ref_clk"):
                pin("eth." + key, eth.get(key), True, optional=key == "power")
    elif "lan" in board.get("net", []) and board["chip"] != "host":
        out.append('net: "lan" needs an eth object (the PHY settings)')
    return out


def load(name, boards_dir=BOARDS):
    """The checked board.json of `name`; BoardError lists every problem."""
    board = read(name, boards_dir)
    found = problems(board, name)
    if found:
        path = os.path.join(boards_dir, name, "board.json")
        raise BoardError("%s:\n  %s" % (path, "\n  ".join(found)))
    return board


def flash_offset(board):
    return int(board["flash_offset"], 16)


def firmware_matches(board, filename):
    """Whether a firmware file name looks like the one the board was tested with."""
    return fnmatch.fnmatch(os.path.basename(filename), board["firmware"])


def main(argv):
    boards_dir = argv[0] if argv else BOARDS
    rc = 0
    print("%-20s %-8s %-7s %-8s %-11s %s" % ("board", "chip", "offset", "baud", "MicroPython", "firmware"))
    for name in names(boards_dir):
        try:
            b = load(name, boards_dir)
        except BoardError as e:
            print("%-20s PROBLEM %s" % (name, e))
            rc = 1
            continue
        if not os.path.isfile(os.path.join(boards_dir, name, "README.md")):
            print("%-20s PROBLEM no README.md with the wiring" % name)
            rc = 1
        row = (
            name,
            b["chip"],
            b.get("flash_offset", "-"),
            b.get("baud", "-"),
            b["micropython"],
            b.get("firmware", "-"),
        )
        print("%-20s %-8s %-7s %-8s %-11s %s" % row)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
