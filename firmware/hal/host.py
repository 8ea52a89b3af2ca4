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
# - the network is the host's: up, at "ip" (default 127.0.0.1), unless `net-down`;
# - time: `skip <seconds>` moves the station's clock forward (EVENT skip seconds=<s>): every
#   timer - transactions, registration, the app, LEDs, the media pacer - sees one clock (the
#   platform's `clock`, which intercom/startup.py takes), so a test runs 32 s of RFC 3261
#   timers out at once instead of sleeping. The timers due run before the next line is read.
import select
import sys

import hal
from mpsip.audio import NullSink, ToneSource

try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us
except ImportError:  # CPython: mpsip.media's, the same wrapping arithmetic
    from mpsip.media import ticks_add, ticks_diff, ticks_ms, ticks_us

COMMANDS = ("press", "release", "quit", "heap", "net-down", "net-up")


class Clock:
    """The host's ticks (the time module's; mpsip.media's on CPython) plus what `skip`
    added. A board's platform has none: its station uses the time module itself."""

    ms = us = 0  # skipped so far, kept within half a ticks period (ticks_add takes no more)

    def ticks_ms(self):
        return ticks_add(ticks_ms(), self.ms)

    def ticks_us(self):
        return ticks_add(ticks_us(), self.us)

    ticks_add = staticmethod(ticks_add)
    ticks_diff = staticmethod(ticks_diff)

    def skip(self, ms):
        while ms > 0:  # in steps below half the 2**30 period of a board's (and CPython's) ticks
            n = ms if ms < 100000 else 100000
            self.ms = ticks_diff(ticks_add(self.ms, n), 0)
            self.us = ticks_diff(ticks_add(self.us, n * 1000), 0)
            ms -= n


class Platform:
    def __init__(self, board, cfg, out, stdin=None):
        self.poller = select.poll()
        # ipoll (MicroPython) reuses one result tuple: no allocation per round of the loop
        self._wait = getattr(self.poller, "ipoll", self.poller.poll)
        self.out = out
        host = board.get("host") or {}
        self.host_ip = host.get("ip", "127.0.0.1")
        rate = host.get("rate", 8000)
        mic = host.get("mic", "tone:440")
        if mic.startswith("tone:"):
            self.mic = ToneSource(int(mic[5:]), rate)
        else:  # a WAV played in a loop (mpsip.wav is loaded only for one)
            from mpsip.wav import WavSource

            self.mic = WavSource(mic, loop=True)
        spk = host.get("speaker", "")
        if spk:  # a board that records loads the recorder's module (hal/recorder.py)
            from hal.recorder import Recorder

            self.speaker = Recorder(spk, rate)
        else:
            self.speaker = NullSink(rate)
        self.mic_shift = 16
        self.half_duplex = board.get("duplex") == "half"
        self.link = True
        self.relay_on = None
        self.pattern = None
        self.feeds = 0
        self.clock = Clock()
        self.stdin = stdin or sys.stdin
        try:  # on the loop's poller: a line typed wakes its sleep, and input() asks it too
            self.poller.register(self.stdin, select.POLLIN)
            self.fd = self.stdin.fileno()  # what CPython's poll names it by
        except (OSError, ValueError, AttributeError, TypeError):  # no console (a test's stdin)
            self.stdin = None
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
            for x in self._wait(0):  # readable now: the console, or only sockets?
                if x[0] is self.stdin or x[0] == self.fd:
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
        if cmd.startswith("skip "):
            try:
                s = float(cmd[5:])
            except ValueError:
                s = -1
            if s >= 0:
                self.clock.skip(int(s * 1000))
                self.out("EVENT skip seconds=%s" % cmd[5:].strip())
                return None  # (None ends the station's reading for this round: its timers run)
        if cmd:
            self.out(
                "EVENT error what=console problem=unknown command %s (%s, skip <seconds>)" % (cmd, ", ".join(COMMANDS))
            )
        return None

    # --- network -------------------------------------------------------------------------
    def net_start(self):
        pass  # the host's network is up already

    def net_ok(self):
        return self.link

    def ip(self):
        return self.host_ip

    # --- sockets (RTP) and the loop's sleep: hal/__init__.py's, shared with the other platform
    open_rtp = hal.open_rtp
    address = hal.address
    watch = hal.watch
    unwatch = hal.unwatch
    wait = hal.wait

    # --- the loop ------------------------------------------------------------------------
    def feed(self):
        self.feeds += 1  # no watchdog on a host: counted, for the tests

    def close(self):
        for x in (self.mic, self.speaker):
            if hasattr(x, "close"):
                x.close()
