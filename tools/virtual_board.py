"""The virtual board: the MicroPython unix port behind a pty, so that mpremote (unmodified) and
`make deploy/config/repl/logs` talk to it as to a board on a serial port.

    .venv/bin/python tools/virtual_board.py [DIR] [--heap 96K] [--romfs FILE] [--rom-partition]
                                            [--log FILE] [--echo] [--once]

The first line on stdout is the pty to connect to (e.g. /dev/pts/3); it runs until stopped
(Ctrl-C, SIGTERM). DIR (default build/virtual-board) is the board's flash: the interpreter
runs in it, with sys.path ['', '.frozen', './lib'] as a board has ['', '.frozen', '/lib'].
Its ROMFS partition is the file DIR.romfs beside it (--romfs names another): without that file
the board has no ROMFS partition (a stock firmware); with it, the board is one built with
MICROPY_VFS_ROM and a 256 KB romfs partition (a shorter file is padded with erased flash, 0xFF;
--rom-partition creates a blank one). At every reset the partition is mapped read-only outside
the heap, and when it holds a ROMFS image that is mounted at /rom, first on sys.path
(tools/romfs.py); a blank partition is not mounted, as a board skips it. vfs.rom_ioctl is
there for mpremote (`mpremote romfs query/deploy`, `make deploy ROMFS=1`): writes go to the file
and take effect at the next reset, as a board's flash does. tools/demo.py's build_board() writes
an image there directly.

It behaves like a board:
- at power-up boot.py, then main.py run when present, then the REPL;
- Ctrl-C interrupts the running program, also one started from the raw REPL;
- the raw REPL and raw-paste mode work (that is what mpremote uses);
- Ctrl-D at the friendly REPL or on an empty raw REPL line, sys.exit(), or the interpreter
  ending for any reason, is a soft reset: "MPY: soft reboot", a fresh interpreter, boot.py,
  then main.py and the friendly REPL, or straight back to the raw REPL when it was in it
  (so mpremote works with or without `resume`);
- machine.reset() (what `mpremote reset` calls) is a hard reset: a fresh interpreter, boot.py,
  main.py, the friendly REPL.

How: two pseudo-terminals. The interpreter's stdin/stdout is the first, its controlling
terminal (the unix port's REPL needs a tty; Ctrl-C arrives as SIGINT). Clients open the
second, and this process relays bytes between the two, filling in what the unix port does
not do as a board would:
- while it runs code from the raw REPL the unix port keeps the terminal raw (no SIGINT), so
  a Ctrl-C from the client then is delivered as SIGINT (a board's UART driver does the same);
- a soft reset is a new interpreter process, entered into the raw REPL when the old one was;
- machine (a module of the unix port without reset()) is wrapped so that reset() asks for a
  hard reset; main.py raising SystemExit asks for a soft reset; with a ROMFS partition, vfs is
  wrapped in the raw REPL after a soft reset (where mpremote works) to add rom_ioctl. The requests travel as OSC
  escape sequences on the console (ignored by terminals) and are taken out of the stream.
Output nobody reads is dropped, oldest first, as a UART would drop it.
"""

import argparse
import ctypes
import fcntl
import os
import platform
import pty
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
import tty

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DIR = os.path.join(ROOT, "build", "virtual-board")

RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
SOFT_REBOOT = b"MPY: soft reboot\r\n"
MARK = b"\x1b]vboard;"  # OSC: terminals ignore what they do not know
MARK_END = b"\x07"

# Runs in MicroPython (-i -c BOOT) at every reset: the machine wrapper, boot.py, main.py. With a
# ROMFS partition, a reset into the raw REPL (mpremote's soft reset) also wraps vfs to add
# rom_ioctl, compiled from $VBOARD_ROM at first use: only mpremote's romfs commands and deploy's
# probe use it, and a boot that runs main.py leaves it out, so the firmware's heap is as on a
# board (the wrapper holds ~0.4 KB).
BOOT = r"""
import sys, machine
class _Machine:
    def reset(self, w=sys.stdout.write):
        w("\x1b]vboard;reset\x07")
        while True:
            pass
    def __getattr__(self, name, m=machine):
        return getattr(m, name)
sys.modules["machine"] = _Machine()
%sdef _run(name, g=globals()):
    try:
        f = open(name)
    except OSError:
        return
    src = f.read()
    f.close()
    try:
        exec(src, g)
    except SystemExit:
        sys.stdout.write("\x1b]vboard;soft\x07")
        while True:
            pass
    except BaseException as e:
        sys.print_exception(e)
_run("boot.py")
if %d:
    _run("main.py")
del _Machine, _run, sys, machine
"""

# Put into BOOT (at its %s) in the raw REPL of a board with a ROMFS partition; main.py runs
# inside BOOT, so a boot that runs it leaves these lines out altogether.
VFS_WRAPPER = r"""import vfs
class _Vfs:
    def __getattr__(self, name, m=vfs):
        if name != "rom_ioctl":
            return getattr(m, name)
        import os
        g = {}
        exec(os.getenv("VBOARD_ROM"), g)
        self.rom_ioctl = g[name]
        return self.rom_ioctl
sys.modules["vfs"] = _Vfs()
del _Vfs, vfs
"""

# vfs.rom_ioctl of a board with one ROMFS partition (the ops of extmod/vfs.h
# MP_VFS_ROM_IOCTL_*, as ports/esp8266/vfs_rom_ioctl.c implements them; mpremote's
# commands.py _do_romfs_deploy is the caller): 1 -> number of partitions, 2 -> partition 0 as a
# memoryview of the read-only mapping, 3 (write prepare) erases the first LENGTH bytes, 4 writes
# at OFFSET, 5 (write complete). A negative errno for anything else (no 6: the block size, so
# mpremote erases once). Writes go to the partition file; the mapping keeps the old bytes until
# the next reset, as a board's flash cache would until it remaps.
ROM_IOCTL = """
import uctypes
_at, _size, _path = %d, %d, %r
def rom_ioctl(op, part=0, a=0, b=None):
    if op == 1:
        return 1
    if part != 0:
        return -2
    if op == 2:
        return memoryview(uctypes.bytearray_at(_at, _size))
    if op == 5:
        return 0
    if op == 3:
        a = (a + 4095) // 4096 * 4096
    if op not in (3, 4) or a > _size or (op == 4 and a + len(b) > _size):
        return -22
    with open(_path, "r+b") as f:
        if op == 3:
            blank = b"\\xff" * 4096
            for _ in range(a // 4096):
                f.write(blank)
            return 4
        f.seek(a)
        f.write(b)
    return 0
"""

ROM_SIZE = 256 * 1024  # the virtual board's ROMFS partition


# The number of read(2), to tell a REPL waiting for input from a running program.
_READ = {"x86_64": "0", "aarch64": "63", "arm64": "63", "riscv64": "63"}.get(platform.machine())


def _child_setup():
    # In the new session: the pty becomes the controlling terminal (Ctrl-C -> SIGINT), and
    # the interpreter dies with this process even when it is killed without a chance to stop it.
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG (Linux)
    except (OSError, AttributeError):
        pass


def find_micropython():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    return here if os.path.exists(here) else shutil.which("micropython")


def romfs_beside(directory):
    """The virtual board's ROMFS partition: the file beside its flash directory."""
    return os.path.normpath(os.path.abspath(directory)) + ".romfs"


def blank_partition(path):
    """Create the ROMFS partition file at path, erased (0xFF), unless there is one."""
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(b"\xff" * ROM_SIZE)
    return path


def run_rom(path, argv):
    """The interpreter (argv: the unix port's arguments) on a board whose ROMFS partition is the
    file at path: mapped read-only outside the heap, mounted at /rom when it holds an image, and
    reachable through vfs.rom_ioctl (VFS_WRAPPER reads ROM_IOCTL from the environment)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import romfs

    def setup(address, length):
        os.environ["VBOARD_ROM"] = ROM_IOCTL % (address, length, os.path.abspath(path))

    return romfs.run(path, argv, ROM_SIZE, setup)


def interpreter(micropython, partition):
    """The command that starts the unix port of a board whose ROMFS partition is the file
    `partition` (read at every start, as flash is: a new image takes effect at the next reset);
    without that file the board has no ROMFS, as a stock firmware."""
    if os.path.exists(partition):
        return [sys.executable, os.path.abspath(__file__), "run-rom", partition]
    return [micropython]


class VirtualBoard:
    def __init__(
        self, directory, heap="96K", micropython=None, log=None, echo=False, once=False, romfs=None, partition=False
    ):
        self.dir = os.path.abspath(directory)
        os.makedirs(self.dir, exist_ok=True)
        self.heap = heap
        self.romfs = romfs or romfs_beside(self.dir)
        if partition:
            blank_partition(self.romfs)
        self.micropython = micropython or find_micropython()
        if not self.micropython:
            raise SystemExit("virtual_board: no micropython found (make venv installs it into .venv)")
        self.log = open(log, "ab") if log else None
        self.echo = echo
        self.once = once
        # The interpreter's terminal: no output processing (the REPL writes \r\n itself), no
        # echo, no line editing, but ISIG so that Ctrl-C is SIGINT while a program runs.
        self.ma, self.sa = pty.openpty()
        attrs = termios.tcgetattr(self.sa)
        attrs[0] &= ~(termios.IXON | termios.IXOFF | termios.IXANY)
        attrs[1] = 0
        attrs[3] = termios.ISIG
        attrs[6][termios.VMIN] = 1
        attrs[6][termios.VTIME] = 0
        self.term = attrs
        # The clients' side: raw, like a serial port.
        self.mb, self.sb = pty.openpty()
        tty.setraw(self.sb)
        self.path = os.ttyname(self.sb)
        for fd in (self.ma, self.mb):
            os.set_blocking(fd, False)
        self.child = None
        self.to_child = bytearray()
        self.pending = bytearray()  # client input held while the raw REPL comes back
        self.held = b""  # output held back: the start of a request split across reads
        self.phase = None  # None, "banner" (waiting for the first prompt), "raw" (for RAW_BANNER)
        self.raw = False  # in the raw REPL
        self.raw_idle = False  # at the raw REPL prompt with an empty line
        self.tail = b""
        self.stop = False
        self.exit_code = 0
        self.starts = []

    # ------------------------------------------------------------------ interpreter

    def _spawn(self, raw):
        termios.tcsetattr(self.sa, termios.TCSANOW, self.term)  # a killed REPL may leave it raw
        termios.tcflush(self.sa, termios.TCIOFLUSH)
        now = time.monotonic()
        self.starts = [t for t in self.starts if now - t < 2] + [now]
        if len(self.starts) > 5:
            time.sleep(1)  # a boot loop (main.py exits at once): do not spin
        env = dict(os.environ, MICROPYPATH=".frozen:./lib")
        rom = os.path.exists(self.romfs)
        cmd = ["-X", "heapsize=" + self.heap, "-i", "-c", BOOT % (VFS_WRAPPER if rom and raw else "", not raw)]
        cmd = interpreter(self.micropython, self.romfs) + cmd
        self.child = subprocess.Popen(
            cmd,
            stdin=self.sa,
            stdout=self.sa,
            stderr=self.sa,
            cwd=self.dir,
            env=env,
            start_new_session=True,
            preexec_fn=_child_setup,
        )
        self.raw = raw
        self.raw_idle = False
        self.tail = b""
        self.held = b""
        self.phase = "banner" if raw else None

    def _kill(self):
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
            self.child.wait()
        self._drain()

    def _drain(self):
        # What the interpreter wrote before it ended is still in the pty: pass it on.
        while True:
            try:
                data = os.read(self.ma, 4096)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            if self._output(data):
                return

    def _reset(self, soft, raw):
        self._kill()
        if soft:
            self._to_client(SOFT_REBOOT)
        self._note("soft reset" if soft else "hard reset")
        self._spawn(raw)

    def _note(self, what):
        line = "virtual board: %s\n" % what
        sys.stderr.write(line)
        sys.stderr.flush()
        if self.log:
            self.log.write(b"[" + line.strip().encode() + b"]\n")
            self.log.flush()

    def _interrupt(self):
        """Deliver Ctrl-C as SIGINT when the interpreter runs code with the terminal raw."""
        if self.child is None or self.child.poll() is not None:
            return False
        if termios.tcgetattr(self.ma)[3] & termios.ISIG:
            return False  # the terminal turns the byte into SIGINT itself
        pid = self.child.pid
        try:
            with open("/proc/%d/syscall" % pid) as f:
                call = f.read().split()
            with open("/proc/%d/status" % pid) as f:
                caught = [ln for ln in f.read().splitlines() if ln.startswith("SigCgt:")]
        except OSError:
            return False
        if _READ is None or call[:2] == [_READ, "0x0"]:
            return False  # waiting for console input: the REPL takes the byte
        if not caught or not int(caught[0].split()[1], 16) & (1 << (signal.SIGINT - 1)):
            return False  # no handler installed: SIGINT would kill it
        os.kill(pid, signal.SIGINT)
        return True

    # ------------------------------------------------------------------ streams

    def _to_client(self, data):
        if self.log:
            self.log.write(data)
            self.log.flush()
        if self.echo:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        while data:
            try:
                n = os.write(self.mb, data)
            except BlockingIOError:
                # Nobody reads: drop the oldest output, as a UART nobody listens to loses it.
                termios.tcflush(self.sb, termios.TCIFLUSH)
                try:
                    n = os.write(self.mb, data)
                except BlockingIOError:
                    return
            data = data[n:]

    def _output(self, data):
        """Interpreter output -> client. True when it asked for a reset (the process is gone)."""
        data = self.held + data
        self.held = b""
        i = data.find(MARK)
        if i < 0:
            # Hold back a tail that may be the start of a request split across reads.
            for k in range(min(len(MARK), len(data)), 0, -1):
                if MARK.startswith(data[-k:]):
                    data, self.held = data[:-k], data[-k:]
                    break
        else:
            end = data.find(MARK_END, i)
            if end < 0:
                data, self.held = data[:i], data[i:]
            else:
                what = data[i + len(MARK) : end]
                self._pass(data[:i])
                self._reset(soft=what != b"reset", raw=False)
                return True
        self._pass(data)
        return False

    def _pass(self, data):
        if not data:
            return
        if self.phase == "banner":
            # A soft reset in the raw REPL: boot.py has run when the first prompt shows; the
            # unix port's banner is not a board's, so it is swallowed, and Ctrl-A sent.
            self.tail += data
            if not self.tail.endswith(b">>> "):
                return
            i = self.tail.rfind(b"MicroPython ")
            self._to_client(self.tail[: max(i, 0)])
            self.tail = b""
            self.phase = "raw"
            self.to_child += b"\x01"
            return
        if self.phase == "raw":
            self.tail += data
            i = self.tail.find(RAW_BANNER)
            if i < 0:
                return
            data = self.tail[i:]
            self.tail = b""
            self.phase = None
            self.to_child += self.pending
            self.pending = bytearray()
        self._to_client(data)
        self.tail = (self.tail + data)[-64:]
        if RAW_BANNER in self.tail:
            self.raw = True
        self.raw_idle = self.raw and (self.tail.endswith(RAW_BANNER + b">") or self.tail.endswith(b"\x04>"))

    def _input(self, data):
        """Client input -> interpreter."""
        if self.phase is not None:
            self.pending += data
            return
        for i in range(len(data)):
            b = data[i]
            if b == 4 and self.raw_idle:
                # Ctrl-D on an empty raw REPL line: a soft reset, back into the raw REPL.
                self._reset(soft=True, raw=True)
                self.pending += data[i + 1 :]
                return
            if b == 3 and self._interrupt():
                continue
            if b == 2 and self.raw_idle:
                self.raw = False
            if b != 1:
                self.raw_idle = False
            self.to_child.append(b)

    # ------------------------------------------------------------------ main loop

    def run(self):
        print(self.path, flush=True)
        rom = ", ROMFS partition %s" % self.romfs if os.path.exists(self.romfs) else ""
        self._note("%s, heap %s, flash %s%s" % (self.micropython, self.heap, self.dir, rom))
        self._spawn(raw=False)
        while not self.stop:
            wr = [self.ma] if self.to_child else []
            try:
                r, w, _ = select.select([self.ma, self.mb], wr, [], 0.05)
            except InterruptedError:
                continue
            if self.ma in w:
                try:
                    n = os.write(self.ma, self.to_child)
                    del self.to_child[:n]
                except BlockingIOError:
                    pass
            if self.ma in r:
                try:
                    data = os.read(self.ma, 4096)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    self._output(data)
            if self.mb in r:
                try:
                    data = os.read(self.mb, 4096)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    self._input(data)
            child = self.child
            if child.poll() is not None:
                self._drain()
                if self.child is not child:
                    continue  # its last output asked for a reset, which has started a new one
                code = child.returncode
                if self.once:
                    self.exit_code = code if code >= 0 else 128 - code
                    break
                if code < 0:
                    self._note("micropython ended by signal %d" % -code)
                self._reset(soft=True, raw=self.raw)
        self._kill()
        return self.exit_code


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run-rom"] and len(argv) > 2:  # the interpreter process of a board with ROMFS
        return run_rom(argv[1], argv[2:])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", nargs="?", default=DEFAULT_DIR, help="the board's flash (default build/virtual-board)")
    ap.add_argument("--heap", default="96K", help="MicroPython heap, as for -X heapsize= (default 96K)")
    ap.add_argument("--micropython", help="the unix port to run (default: the venv's micropython)")
    ap.add_argument("--romfs", help="the board's ROMFS partition file (default DIR.romfs, used when it exists)")
    ap.add_argument("--rom-partition", action="store_true", help="create a blank ROMFS partition when there is none")
    ap.add_argument("--log", help="append everything the board prints to this file")
    ap.add_argument("--echo", action="store_true", help="also print what the board prints on stdout")
    ap.add_argument("--once", action="store_true", help="exit when the interpreter ends instead of resetting")
    args = ap.parse_args(argv)
    vb = VirtualBoard(
        args.dir, args.heap, args.micropython, args.log, args.echo, args.once, args.romfs, args.rom_partition
    )

    def stop(signum, frame):
        vb.stop = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, stop)
    return vb.run()


if __name__ == "__main__":
    sys.exit(main())
