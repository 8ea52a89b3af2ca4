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

import hal
from mpsip.audio import NullSink, ToneSource

COMMANDS = ("press", "release", "quit", "heap", "net-down", "net-up")


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
