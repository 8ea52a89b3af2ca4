# The door station from power-up: config -> board -> network -> SIP -> the loop.
# firmware/main.py calls main(); tests build a Station with a fake platform and clock.
#
# Boot (intercom/startup.py, dropped once the loop starts, as the config module is): the
# LED shows "booting"; config.json is checked, each problem one EVENT line, and the rest of
# the config used; board.json gives the platform its pins and audio (hal/); the network starts.
# The loop, one round per wake-up (a datagram, console input, or the nearest deadline):
#   inputs (button, console) -> network watch -> ua.poll -> app.tick -> a media frame when
#   due -> LED pattern -> watchdog -> sleep.
# The network watch reconnects with back-off (1, 2, 4 .. 30 s) and registers again when
# the network is back: the registrar may have forgotten us meanwhile. gc.collect() runs
# only between calls: at the end of one (intercom/app.py), before the media buffers of the
# next, and every few seconds while idle - never inside a call's frames.
import gc
import sys

from intercom.leds import Leds

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_IDLE_GC_MS = const(5000)
_NET_CHECK_MS = const(1000)
_NET_BACKOFF_S = (1, 2, 4, 8, 16, 30)
_MAX_SLEEP_MS = const(20)  # the console and the button are read at least this often


class Station:
    """plat: the platform (hal/host.py, hal/esp32.py or a test's fake); clock: ticks_ms & co.;
    transport(ip, port): the SIP transport (default mpsip.transport.Udp); sound: the audio
    (default intercom.sound.Sound). Tests give fakes for both."""

    running = True  # until `quit` (a class attribute: one slot fewer in the instance's dict)

    def __init__(self, plat, clock, cfg, out=print, transport=None, sound=None):
        self.plat = plat
        self.clock = clock
        self.cfg = cfg
        self.out = out
        self.make_transport = transport
        self.make_sound = sound
        self.leds = Leds(plat.led, clock)
        self.ua = None
        self.app = None
        self.sound = None
        self.transport = None
        self.ip = None
        self.net_up = False
        self.net_fails = 0
        self.net_next = clock.ticks_ms()  # when to check (or retry) the network next
        self.net_retry = None
        self.last_gc = clock.ticks_ms()
        self.leds.set("booting")
        plat.net_start()

    # --- the sound's callbacks: bound methods (a lambda in startup would keep it alive) ---------
    def _open_rtp(self):
        return self.plat.open_rtp(self.ip, self.cfg["audio"]["rtp_port"] & ~1)  # RFC 3550 11: even

    def _rtp_dtmf(self, digit, ms):
        if self.app is not None:
            self.app.dtmf(digit, "rtp")

    def stop_sip(self):
        if self.app is not None:
            self.app.hangup("network")
        if self.sound is not None:
            self.sound.close()  # the call's media; the sound itself stays for the next network
        t = self.transport
        if t is not None:
            if hasattr(t, "sock"):
                self.plat.unwatch(t.sock)
            if hasattr(t, "close"):
                t.close()
        self.ua = self.app = self.transport = None
        gc.collect()

    # --- the loop ----------------------------------------------------------------------------------
    def step(self):
        """One round of the loop; ms the loop may sleep before the next."""
        c = self.clock
        plat = self.plat
        while True:
            what = plat.input()
            if what is None:
                break
            # net-down / net-up: the host platform's simulated link, seen by the network watch
            try:
                if what == "press" or what == "release":
                    if self.app is not None:
                        self.app.button(what == "press")
                elif what == "quit":
                    self.running = False
                elif what == "heap":  # in use and free after a collection, and the heap's map
                    gc.collect()  # ("max free sz" is its largest free piece, in GC blocks: heapmap.py)
                    try:
                        from micropython import mem_info

                        self.out("EVENT heap used=%d free=%d" % (gc.mem_alloc(), gc.mem_free()))
                        mem_info()
                    except ImportError:  # CPython cannot tell
                        self.out("EVENT heap used=0 free=0")
            except MemoryError:
                # A heap too fragmented for a datagram, a timer's message or a new call:
                # report it, collect and carry on (the transactions retransmit what was lost;
                # a press that found no room can be pressed again). A door station must not
                # stop on it.
                self.out("EVENT error what=memory")
                gc.collect()
        now = c.ticks_ms()
        # The network watch, once a second: reconnect with back-off, register again.
        if c.ticks_diff(now, self.net_next) >= 0:
            self.net_next = c.ticks_add(now, _NET_CHECK_MS)
            ok = plat.net_ok()
            if ok and not self.net_up:
                self.net_up = True
                self.net_fails = 0
                self.net_retry = None
                ip = plat.ip()
                self.out("EVENT network state=up ip=%s" % ip)
                sip = self.cfg["sip"]
                if not (sip["registrar"] and sip["user"]):
                    self.leds.set("error")
                else:
                    if self.ua is None or ip != self.ip:
                        self.stop_sip()
                        self.ip = ip
                        # Once per network (at boot, and when the address changed): its code
                        # lives in the boot module, loaded for it and dropped again.
                        from intercom import startup

                        try:
                            startup.start_sip(self, ip)
                        finally:
                            startup.drop("intercom.startup")
                        del startup  # (this name kept it alive for the whole round)
                    # A new UA's first REGISTER once the boot module is garbage (it lends
                    # mpsip.regrare: with both, a 136K heap had no room for it); again after a
                    # loss: the registrar may have dropped us meanwhile.
                    self.ua.register()
                    self.leds.set("registering")
            elif not ok and self.net_up:
                self.net_up = False
                self.out("EVENT error what=network problem=link down")
                self.leds.set("no-network")
                self.net_retry = now
            elif not ok:
                self.leds.set("no-network")
                if self.net_retry is None:
                    self.net_retry = c.ticks_add(now, 1000 * _NET_BACKOFF_S[0])
                elif c.ticks_diff(now, self.net_retry) >= 0:
                    # reconnect with back-off: a Wi-Fi join that keeps failing must not hog the radio
                    self.net_fails += 1
                    wait = _NET_BACKOFF_S[min(self.net_fails, len(_NET_BACKOFF_S) - 1)]
                    self.net_retry = c.ticks_add(now, 1000 * wait)
                    plat.net_start()
        wait = _MAX_SLEEP_MS
        ua = self.ua
        if ua is not None:
            try:
                w = ua.poll()
                self.app.tick()
            except MemoryError:
                self.out("EVENT error what=memory")  # as above
                gc.collect()
                w = _MAX_SLEEP_MS
            if w < wait:
                wait = w
            w = self.sound.poll()
            if w < wait:
                wait = w
            if not ua.calls and c.ticks_diff(now, self.last_gc) >= _IDLE_GC_MS:
                self.last_gc = now
                gc.collect()  # idle: no call, so no frame to delay
        w = self.leds.step(now)
        if w < wait:
            wait = w
        plat.feed()
        return wait if wait > 0 else 0

    def run(self):
        """The loop until `quit`; then hang up, unregister (waiting up to 2 s for the answer)
        and release everything."""
        plat = self.plat
        while self.running:
            plat.wait(self.step())
        ua = self.ua
        if ua is not None and self.net_up:
            self.app.hangup("quit")
            ua.unregister()
            c = self.clock
            end = c.ticks_add(c.ticks_ms(), 2000)
            while c.ticks_diff(end, c.ticks_ms()) > 0:
                w = ua.poll()
                if ua.reg.state in ("unregistered", "failed", "idle"):
                    break
                plat.wait(w if w < _MAX_SLEEP_MS else _MAX_SLEEP_MS)
        self.stop_sip()
        self.plat.close()
        self.out("EVENT exit")


def main(config_path="config.json", board_path="board.json", platform=None, clock=None, out=None, preload=None):
    """Boot and run until `quit` (the host's console) or forever (a board)."""
    from intercom import startup

    if preload is None:
        preload = startup.CALL_MODULES
    st, board = startup.start(config_path, board_path, platform, clock, out or _print, preload)
    startup.drop("intercom.startup")
    del startup  # its code and what it read are garbage now
    gc.collect()
    st.out("EVENT boot board=%s heap=%d" % (board, gc.mem_alloc() if hasattr(gc, "mem_alloc") else 0))
    st.run()
    return st


def _print(line):
    print(line)
    try:
        sys.stdout.flush()
    except AttributeError:
        pass
