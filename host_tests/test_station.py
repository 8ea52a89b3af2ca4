# mprun-heap: 116K passes 3 of 3 (2026-11-25; 112K fails 3 of 3; 124K was declared with
# the margin of 2026-11-24, 128K before the application side was trimmed):
# a registered UA (message, transaction, ua, register, call) and its state need ~100 KB beside
# mprun and the fakes; the UA is being slimmed (issue 3)
# The door station's loop (intercom/station.py): registration once the network is up, the
# network watch with back-off and re-registration, console and button inputs, watchdog,
# MemoryError survival and shutdown. A fake platform, a fake wire, a fake sound and a stepped
# clock; the registrar is a few lines answering REGISTER.
import sys

from sipfakes import Clock, Wire, answer

from intercom import startup, station
from mpsip.message import parse

# The modules of a registered station first, as the station's boot does (loaded between the
# test's objects they would break the heap up), and the names of the modules the user agent
# lends itself interned (intercom/startup.py LENT). The media modules are not needed: FakeSound.
startup.load_modules(("mpsip.ua", "mpsip.register", "mpsip.call", "intercom.app"))

REG = ("127.0.0.1", 5060)


class FakePlatform:
    def __init__(self, clock, wire):
        self.clock = clock
        self.wire = wire
        self.queue = []
        self.link = True
        self.starts = 0
        self.feeds = 0
        self.leds = []
        self.relays = []
        self.mic = self.speaker = None
        self.mic_shift = 16
        self.half_duplex = False
        self.registrar_up = True
        self.closed = False

    def led(self, state, on):
        if not self.leds or self.leds[-1] != state:
            self.leds.append(state)

    def relay(self, on):
        self.relays.append(on)

    def input(self):
        return self.queue.pop(0) if self.queue else None

    def net_start(self):
        self.starts += 1

    def net_ok(self):
        return self.link

    def ip(self):
        return "127.0.0.1"

    def feed(self):
        self.feeds += 1

    def open_rtp(self, ip, port):
        return ("rtp", ip, port)  # no call connects in these tests: a token for the opener

    def address(self, host, port):
        return (host, port)

    def watch(self, sock):
        pass

    def unwatch(self, sock):
        pass

    def wait(self, ms):
        self.clock.t += max(ms, 1)
        if self.registrar_up:
            for data, addr in self.wire.sent[len(self.answered) :]:
                self.answered.append(data)
                msg = parse(data)
                if addr == REG and getattr(msg, "method", None) == "REGISTER":
                    c = "%s;expires=%s" % (msg.get("contact"), msg.get("expires"))
                    self.wire.inbox.append((answer(msg, 200, extra=(("Contact", c),)), REG))

    answered = []

    def close(self):
        self.closed = True


class FakeSound:
    """intercom.sound.Sound's interface without the media modules (the test's heap is the
    board's: the media loop has its own tests)."""

    def __init__(self, *args, **kw):
        self.ringing = []
        self.args = args
        self.kw = kw

    def ringback(self, on):
        self.ringing.append(on)

    def start(self, call):
        return None  # no call connects in these tests

    def poll(self):
        return 1000

    def close(self):
        self.closed = True


def _base():
    from intercom.config import validate

    cfg, errors = validate(
        {
            "sip": {"registrar": "127.0.0.1:5060", "user": "door", "local_port": 5062},
            "call": {"targets": ["sip:100@127.0.0.1:5060"]},
            "net": "lan",
        }
    )
    # as at boot: loaded once, dropped (also from the package: its attribute would keep ~9 KB)
    startup.drop("intercom.config")
    return cfg


BASE = _base()
# The boot module dropped, as main() drops it: the station loads it again for each start of
# SIP and drops it after, so the tests run in the heap the board has (held here, it was a
# second copy beside the one each start loads).
startup.drop("intercom.startup")
startup = None


def config(**over):
    cfg = {}
    for k, v in BASE.items():
        cfg[k] = dict(v) if isinstance(v, dict) else v
    for k, v in over.items():
        sect, _, key = k.partition("__")
        cfg[sect][key] = v
    return cfg


def rig(cfg=None):
    clock = Clock()
    wire = Wire()
    plat = FakePlatform(clock, wire)
    plat.answered = []
    lines = []
    st = station.Station(plat, clock, cfg or config(), lines.append, transport=lambda ip, port: wire, sound=FakeSound)
    return st, plat, clock, wire, lines


def run(st, ms):
    clock = st.clock
    end = clock.t + ms
    while clock.t < end:
        st.plat.wait(min(st.step(), end - clock.t))


def sent(wire, method):
    return [parse(d) for d, _ in wire.sent if d.startswith(method.encode() + b" ")]


def events(lines, name):
    return [ln for ln in lines if ln.startswith("EVENT " + name)]


# ---------------------------------------------------------------- network and registration


def test_boot_registers_and_the_led_follows():
    st, plat, clock, wire, lines = rig()
    assert plat.leds == ["booting"] and plat.starts == 1
    run(st, 200)
    assert plat.leds == ["booting", "registering", "registered"]
    assert events(lines, "registered") == ["EVENT registered expires=600"]
    assert sent(wire, "REGISTER")[0].uri.to_str() == "sip:127.0.0.1:5060"


def test_the_first_register_goes_out_once_the_boot_module_is_dropped():
    # It lends mpsip.regrare: with the boot module still loaded, a 136K heap had no room.
    st, plat, clock, wire, lines = rig()
    boot_loaded = []  # per datagram sent: was the boot module loaded then
    send = wire.send

    def watching(data, addr):
        boot_loaded.append("intercom.startup" in sys.modules)
        return send(data, addr)

    wire.send = watching
    run(st, 200)
    assert sent(wire, "REGISTER") and boot_loaded[0] is False
    assert plat.leds == ["booting", "registering", "registered"]


def test_the_code_that_starts_sip_is_dropped_after_and_the_sound_gets_what_it_needs():
    st, plat, clock, wire, lines = rig(config(audio__rtp_port=40003))
    run(st, 200)
    assert st.ua is not None and "intercom.startup" not in sys.modules
    open_rtp = st.sound.args[3]
    assert open_rtp() == ("rtp", "127.0.0.1", 40002)  # RFC 3550 11: the even port below
    assert st.sound.kw["codec"] == "PCMU" and st.sound.kw["mic_shift"] == 16


def test_a_lost_network_is_retried_with_back_off_and_registration_follows_its_return():
    st, plat, clock, wire, lines = rig()
    run(st, 200)
    n = len(sent(wire, "REGISTER"))
    plat.link = False
    run(st, 1100)
    assert events(lines, "error") == ["EVENT error what=network problem=link down"]
    assert plat.leds[-1] == "no-network"
    t0 = clock.t
    starts = []
    while clock.t < t0 + 16000:
        before = plat.starts
        run(st, 100)
        if plat.starts != before:
            starts.append((clock.t - t0) // 1000)
    assert len(starts) == 4 and starts[1] - starts[0] >= 2 and starts[3] - starts[2] >= 7  # 1, 2, 4, 8 s apart
    plat.link = True
    run(st, 1500)
    assert events(lines, "network")[-1] == "EVENT network state=up ip=127.0.0.1"
    regs = sent(wire, "REGISTER")
    assert len(regs) == n + 1 and regs[-1].cseq > regs[0].cseq  # the same binding, refreshed
    assert plat.leds[-2:] == ["registering", "registered"]


def test_a_new_address_starts_sip_again_with_the_same_sound():
    st, plat, clock, wire, lines = rig()
    run(st, 200)
    ua, sound = st.ua, st.sound
    plat.link = False
    run(st, 1100)
    plat.ip = lambda: "127.0.0.9"  # the DHCP lease changed while the link was down
    plat.link = True
    run(st, 3000)
    assert events(lines, "network")[-1] == "EVENT network state=up ip=127.0.0.9"
    assert st.ua is not ua and st.ua.local[0] == "127.0.0.9"  # a new user agent for the address
    assert st.sound is sound and sound.closed  # the media stopped; the buffers made once, kept


def test_the_registrar_address_is_where_calls_may_come_from():
    st, plat, clock, wire, lines = rig()
    run(st, 100)
    assert st.app.servers == [REG]


# ---------------------------------------------------------------- the loop


def test_the_button_calls_the_target_and_release_alone_does_nothing():
    st, plat, clock, wire, lines = rig()
    run(st, 200)
    plat.queue += ["release"]
    run(st, 100)
    assert sent(wire, "INVITE") == []
    plat.queue += ["press", "release"]
    run(st, 100)
    (inv,) = sent(wire, "INVITE")
    assert inv.uri.to_str() == "sip:100@127.0.0.1:5060" and events(lines, "calling")
    assert plat.leds[-1] == "ringing"


def test_heap_command_and_the_watchdog_fed_every_round():
    st, plat, clock, wire, lines = rig()
    plat.queue.append("heap")
    st.step()
    (h,) = events(lines, "heap")
    used = int(h.split("used=")[1].split()[0])
    assert used > 0 if sys.implementation.name == "micropython" else used == 0
    for _ in range(5):
        st.step()
    assert plat.feeds == 6


def test_quit_hangs_up_unregisters_and_exits():
    st, plat, clock, wire, lines = rig()
    run(st, 200)
    plat.queue.append("quit")
    st.run()
    last = sent(wire, "REGISTER")[-1]
    assert last.get("expires") == "0"
    assert events(lines, "unregistered") and lines[-1] == "EVENT exit" and plat.closed


def fail_once(obj, name):
    """obj.name raises MemoryError on its next call only (no heap for it, once)."""
    real = getattr(obj, name)
    fails = [1]

    def once(*args):
        if fails:
            fails.pop()
            raise MemoryError()
        return real(*args)

    setattr(obj, name, once)


def test_a_memory_error_in_the_loop_is_reported_and_the_loop_goes_on():
    st, plat, clock, wire, lines = rig()
    run(st, 200)
    fail_once(st.ua, "poll")
    run(st, 100)
    assert events(lines, "error") == ["EVENT error what=memory"]
    plat.queue.append("press")
    run(st, 100)
    assert len(sent(wire, "INVITE")) == 1


def test_no_room_for_a_new_call_is_reported_and_the_next_press_works():
    st, plat, clock, wire, lines = rig()
    run(st, 200)
    fail_once(st.ua, "call")
    plat.queue.append("press")
    run(st, 100)
    assert events(lines, "error") == ["EVENT error what=memory"] and sent(wire, "INVITE") == []
    plat.queue.append("press")
    run(st, 100)
    assert len(sent(wire, "INVITE")) == 1


def test_the_registrar_is_resolved_to_the_address_its_invites_come_from():
    # /etc/hosts only: no query leaves the machine
    from intercom import startup

    try:
        assert startup.resolve("localhost", 5070) == ("127.0.0.1", 5070)
        assert startup.resolve("127.0.0.1", 5060) == REG
    finally:
        startup.drop("intercom.startup")
