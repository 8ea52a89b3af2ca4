# The virtual board's platform: the MicroPython unix port (or CPython) on a host, its
# directory the flash (tools/virtual_board.py). No pins, so:
# - the button is the console: lines `press`, `release`, `quit`; also `heap` (an EVENT
#   with the heap in use) and `net-down` / `net-up` (a simulated link loss);
# - the relay and the LED are EVENT lines: `EVENT relay state=on|off`, and
#   `EVENT led pattern=<state>` when the pattern changes (its blinking is not printed);
# - audio comes from and goes to files, as board.json's "host" section says:
#     "host": {"ip": "127.0.0.1", "mic": "tone:440" or "mic.wav", "speaker": "heard.wav", "rate": 8000}
#   mic: a sine tone (default 440 Hz) or a 16-bit mono WAV played in a loop; speaker: a
#   WAV recording of everything the speaker plays (calls, ring-back, tones), or nothing;
# - the network is the host's: up, at "ip" (default 127.0.0.1), unless `net-down`.
import select
import sys

from hal import Sockets
from mpsip.audio import NullSink, ToneSource

COMMANDS = ("press", "release", "quit", "heap", "net-down", "net-up")


class Recorder:
    """16-bit mono WAV of every frame written; the header is brought up to date every
    25 frames (half a second) and at close(), so a board that is killed leaves a file
    that plays up to the last half second. (mpsip.wav is imported where a WAV is used:
    a board with a tone for a microphone and no recording keeps its 2.8 KB free.)"""

    def __init__(self, path, rate=8000):
        from mpsip.wav import header

        self.header = header
        self.rate = rate
        self.f = open(path, "wb")
        self.size = 0
        self.n = 0
        self._header()

    def _header(self):
        self.f.seek(0)
        self.f.write(self.header(self.rate, self.size))
        self.f.seek(44 + self.size)

    def write(self, buf):
        self.f.write(buf)
        self.size += len(buf)
        self.n += 1
        if self.n % 25 == 0:
            self._header()

    def close(self):
        if self.f is not None:
            self._header()
            self.f.close()
            self.f = None


def mic_from(spec, rate):
    """'tone:HZ' or a WAV file name -> an audio source."""
    if spec.startswith("tone:"):
        return ToneSource(int(spec[5:]), rate)
    from mpsip.wav import WavSource

    return WavSource(spec, loop=True)


class Platform(Sockets):
    def __init__(self, board, cfg, out, stdin=None):
        Sockets.__init__(self)
        self.out = out
        host = board.get("host") or {}
        self.host_ip = host.get("ip", "127.0.0.1")
        rate = host.get("rate", 8000)
        self.mic = mic_from(host.get("mic", "tone:440"), rate)
        spk = host.get("speaker", "")
        self.speaker = Recorder(spk, rate) if spk else NullSink(rate)
        self.mic_shift = 16
        self.half_duplex = board.get("duplex") == "half"
        self.link = True
        self.relay_on = None
        self.pattern = None
        self.feeds = 0
        self.console = select.poll()
        self.stdin = stdin or sys.stdin
        try:
            self.poller.register(self.stdin, select.POLLIN)
            self.console.register(self.stdin, select.POLLIN)
        except (OSError, ValueError, AttributeError, TypeError):  # no console (a test's stdin)
            self.stdin = None
        self._peek = getattr(self.console, "ipoll", self.console.poll)
        self.pending = ""  # what was read beyond the first whole line

    # --- outputs -------------------------------------------------------------------------
    def relay(self, on):
        if on != self.relay_on:
            self.relay_on = on
            self.out("EVENT relay state=%s" % ("on" if on else "off"))

    def led(self, state, on):
        if state != self.pattern:
            self.pattern = state
            self.out("EVENT led pattern=%s" % state)

    # --- inputs --------------------------------------------------------------------------
    def input(self):
        """The next console command, or None when no whole line is waiting."""
        if "\n" not in self.pending:
            if self.stdin is None:
                return None
            for _ in self._peek(0):
                break
            else:
                return None
            # MicroPython's stdin reads what it is asked for, a line; CPython's TextIOWrapper
            # would buffer every line typed and leave poll() nothing to see: there, the fd is
            # read raw.
            try:
                from os import read

                got = read(self.stdin.fileno(), 256).decode()
            except ImportError:
                got = self.stdin.readline()
            if not got:  # end of input: no console any more (the board runs on)
                self.poller.unregister(self.stdin)
                self.console.unregister(self.stdin)
                self.stdin = None
            self.pending += got
            if "\n" not in self.pending:
                return None
        line, _, self.pending = self.pending.partition("\n")
        return self.command(line)

    def command(self, line):
        """A console line -> the command, or None (unknown ones are reported)."""
        cmd = line.strip()
        if cmd == "net-down" or cmd == "net-up":
            self.link = cmd == "net-up"
        if cmd in COMMANDS:
            return cmd
        if cmd:
            self.out("EVENT error what=console problem=unknown command %s (%s)" % (cmd, ", ".join(COMMANDS)))
        return None

    # --- network -------------------------------------------------------------------------
    def net_start(self):
        pass  # the host's network is up already

    def net_ok(self):
        return self.link

    def ip(self):
        return self.host_ip

    # --- the loop ------------------------------------------------------------------------
    def feed(self):
        self.feeds += 1  # no watchdog on a host: counted, for the tests

    def close(self):
        for x in (self.mic, self.speaker):
            if hasattr(x, "close"):
                x.close()
