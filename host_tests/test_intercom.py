# The door station's behaviour with a fake user agent and a stepped clock: the button
# calls the targets (sequential and parallel), ring timeout, DTMF PIN -> relay pulse,
# wrong PINs and lockout, who may call in, auto-answer, push-to-talk, the call limit.
from sipfakes import Clock

from intercom.app import Intercom, uri_key


class FakeCall:
    def __init__(self, ua, uri, src=None):
        self.ua = ua
        self.remote_uri = uri
        self.state = "calling"
        self.neg = None
        self.itx = None if src is None else type("Tx", (), {"addr": src})()

    def hangup(self):
        self.ua.log.append(("hangup", self.remote_uri))
        self.end("cancelled" if self.state != "connected" else "hangup")

    def answer(self):
        self.ua.log.append(("answer", self.remote_uri))
        self.connect()

    def reject(self, code):
        self.ua.log.append(("reject", code))
        self.end(str(code))

    def connect(self):
        self.state = "connected"
        self.neg = type("Neg", (), {"codec": "PCMU"})()
        self.ua.on_event("connected", self, self.neg)

    def end(self, reason):
        if self.state != "ended":
            self.state = "ended"
            self.ua.on_event("ended", self, reason)


class FakeUA:
    registrar = ("127.0.0.1", 5060)
    backup = None

    def __init__(self):
        self.log = []
        self.on_event = None
        self.reg = type("Reg", (), {"state": "registered"})()

    def call(self, uri):
        self.log.append(("call", uri))
        return FakeCall(self, uri)


class Session:
    def __init__(self):
        self.talk = None
        self.closed = False
        self.tones = []

    def ptt(self, on):
        self.talk = on

    def tone(self, name):
        self.tones.append(name)

    def close(self):
        self.closed = True


def config(**over):
    cfg = {
        "call": {"targets": ["sip:a@pbx", "sip:b@pbx"], "mode": "sequential", "ring_timeout_s": 20, "max_call_s": 120},
        "door": {"pins": ["1234"], "relay_s": 3, "max_tries": 3, "lockout_s": 60},
        "answer": {"auto": True, "allow": ["sip:boss@pbx"], "delay_s": 1},
        "ptt": False,
    }
    for k, v in over.items():
        sect, _, key = k.partition("__")
        if key:
            cfg[sect][key] = v
        else:
            cfg[sect] = v
    return cfg


def make(**over):
    clock = Clock()
    ua = FakeUA()
    relay = []
    lines = []
    sessions = []

    def media(call):
        s = Session()
        sessions.append(s)
        return s

    app = Intercom(config(**over), ua, clock, relay.append, media=media, out=lines.append)
    return app, ua, clock, relay, lines, sessions


def run(app, clock, ms):
    end = clock.t + ms
    while clock.t < end:
        clock.t += 100
        app.tick()


def events(lines):
    return [line.split()[1] for line in lines]


def test_button_calls_the_targets_one_after_the_other_on_busy_and_ring_timeout():
    app, ua, clock, relay, lines, _ = make()
    app.button(True)
    app.button(False)
    assert ua.log == [("call", "sip:a@pbx")]
    first = app.calls[0]
    first.end("486")  # busy: the next target at once
    assert ua.log[-1] == ("call", "sip:b@pbx")
    run(app, clock, 20100)  # nobody answers b: ring timeout cancels, and the list is done
    assert ("hangup", "sip:b@pbx") in ua.log
    assert lines[-1] == "EVENT call-ended reason=no-answer"


def test_parallel_first_answer_wins_and_the_others_are_cancelled():
    app, ua, clock, relay, lines, sessions = make(call__mode="parallel")
    app.button(True)
    assert [e for e in ua.log if e[0] == "call"] == [("call", "sip:a@pbx"), ("call", "sip:b@pbx")]
    app.calls[1].connect()
    assert ("hangup", "sip:a@pbx") in ua.log and app.active.remote_uri == "sip:b@pbx"
    assert "EVENT connected codec=PCMU peer=sip:b@pbx" in lines and len(sessions) == 1


def test_pressing_again_hangs_up():
    app, ua, clock, relay, lines, _ = make()
    app.button(True)
    app.button(True)
    assert ("hangup", "sip:a@pbx") in ua.log and ("call", "sip:b@pbx") not in ua.log
    assert lines[-1] == "EVENT call-ended reason=button"


def _connected(**over):
    app, ua, clock, relay, lines, sessions = make(**over)
    app.button(True)
    app.calls[0].connect()
    return app, ua, clock, relay, lines, sessions


def test_pin_opens_the_door_for_relay_s_and_confirms_with_a_tone():
    app, ua, clock, relay, lines, sessions = _connected()
    for d in "1234#":
        ua.on_event("dtmf", app.active, d)
    assert relay == [True] and "EVENT door-open seconds=3" in lines and sessions[0].tones == ["confirm"]
    run(app, clock, 2900)
    assert relay == [True]
    run(app, clock, 200)
    assert relay == [True, False]


def test_wrong_pins_lock_out_then_work_again():
    app, ua, clock, relay, lines, _ = _connected()
    for _ in range(3):
        for d in "9999#":
            app.dtmf(d)
    assert lines.count("EVENT door-denied tries=1") == 1 and "EVENT lockout seconds=60" in lines
    for d in "1234#":
        app.dtmf(d)
    assert relay == []  # ignored during the lockout
    clock.t += 60000
    for d in "1234#":
        app.dtmf(d)
    assert relay == [True]


def test_door_entry_rules():
    app, ua, clock, relay, lines, _ = _connected(door__pins=["1234", "42"], door__relay_s=1, door__max_tries=2)
    t0 = clock.t

    def feed(digits, t):
        """The door's events (not the dtmf lines) for digits typed t ms into the call."""
        clock.t = t0 + t
        n = len(lines)
        for d in digits:
            app.dtmf(d)
        return [ln.split()[1] for ln in lines[n:] if not ln.startswith("EVENT dtmf ")]

    assert feed("12*42#", 0) == ["door-open"]
    assert feed("12", 100) == []
    assert feed("34", 20000) == [] and feed("#", 20001) == ["door-denied"]  # 10 s idle forgot "12"
    assert feed("#", 20002) == ["lockout"]
    assert feed("42#", 20003) == []  # locked out: ignored, not counted
    assert feed("42#", 80010) == ["door-open"]
    assert feed("1" * 16, 80020) == [] and feed("1", 80030) == ["door-denied"]  # 17 digits: a wrong try


def test_allowed_caller_is_auto_answered_after_the_delay():
    app, ua, clock, relay, lines, _ = make()
    c = FakeCall(ua, "sip:boss@PBX:5070;transport=udp", src=("127.0.0.1", 5060))
    ua.on_event("incoming", c, None)
    assert "EVENT ringing sender=sip:boss@PBX:5070;transport=udp" in lines
    run(app, clock, 900)
    assert ("answer", c.remote_uri) not in ua.log
    run(app, clock, 200)
    assert ("answer", c.remote_uri) in ua.log and app.active is c


CASES = {
    "test_others_get_403_and_nothing_rings": [
        ("sip:stranger@pbx", ("127.0.0.1", 5060)),
        ("sip:boss@pbx", ("10.9.9.9", 5060)),  # the right name, not via our PBX
    ]
}


def test_others_get_403_and_nothing_rings(case):
    uri, src = case
    app, ua, clock, relay, lines, sessions = make()
    ua.on_event("incoming", FakeCall(ua, uri, src=src), None)
    assert ua.log == [("reject", 403)] and events(lines) == ["rejected"] and sessions == []


def test_without_auto_answer_the_button_picks_up():
    app, ua, clock, relay, lines, _ = make(answer__auto=False, answer__allow="*")
    c = FakeCall(ua, "sip:anyone@pbx", src=("127.0.0.1", 5060))
    ua.on_event("incoming", c, None)
    run(app, clock, 5000)
    assert app.active is None
    app.button(True)
    assert app.active is c


def test_push_to_talk_mutes_the_speaker_while_held():
    app, ua, clock, relay, lines, sessions = _connected(ptt=True)
    s = sessions[0]
    assert s.talk is False  # listening
    app.button(True)
    assert s.talk is True
    app.button(False)
    assert s.talk is False and app.active is not None


def test_call_limit_warns_ten_seconds_before_and_hangs_up():
    app, ua, clock, relay, lines, sessions = _connected()
    run(app, clock, 109900)
    assert "call-warning" not in events(lines)
    run(app, clock, 200)
    assert "EVENT call-warning seconds=10" in lines and sessions[0].tones == ["warning"]
    run(app, clock, 10000)
    assert "call-limit" in events(lines) and lines[-1] == "EVENT call-ended reason=hangup"
    assert sessions[0].closed


def test_registration_events_are_lines():
    app, ua, clock, relay, lines, _ = make()
    ua.on_event("registered", None, 600)
    ua.on_event("registration-failed", None, "auth")
    assert lines == ["EVENT registered expires=600", "EVENT error reason=auth what=registration"]


def test_allow_matching_ignores_port_params_and_host_case():
    assert uri_key("sip:Boss@PBX.example:5070;user=phone") == "Boss@pbx.example"
    assert uri_key("<sip:100@10.0.0.1>") == "100@10.0.0.1"


def test_ring_back_plays_while_the_target_rings_and_stops_when_answered_or_given_up():
    clock = Clock()
    ua = FakeUA()
    ring = []
    app = Intercom(config(), ua, clock, [].append, out=[].append, ringback=ring.append)
    app.button(True)
    ua.on_event("ringing", app.calls[0], 180)
    assert ring == [True]
    app.calls[0].connect()
    assert ring == [True, False]
    app.hangup("button")
    app.button(True)
    ua.on_event("ringing", app.calls[0], 180)
    app.button(True)  # pressed again: given up
    assert ring == [True, False, True, False]


def test_a_caller_on_the_registrars_host_but_not_its_port_is_refused():
    # On one host (or behind one NAT) phones share the PBX's address: the port tells them apart.
    app, ua, clock, relay, lines, sessions = make()
    ua.on_event("incoming", FakeCall(ua, "sip:boss@pbx", src=("127.0.0.1", 5070)), None)
    assert ua.log == [("reject", 403)]
    app.servers = [("10.0.0.5", 5060)]  # a registrar configured by name, resolved by the station
    c = FakeCall(ua, "sip:boss@pbx", src=("10.0.0.5", 5060))
    ua.on_event("incoming", c, None)
    assert app.incoming is c


def test_dtmf_lines_say_how_the_digit_came_and_digits_outside_a_call_are_ignored():
    app, ua, clock, relay, lines, sessions = make()
    app.dtmf("1", "rtp")
    assert lines == []
    app.button(True)
    app.calls[0].connect()
    app.dtmf("1", "rtp")
    ua.on_event("dtmf", app.active, "2")
    assert lines[-2:] == ["EVENT dtmf digit=1 via=rtp", "EVENT dtmf digit=2 via=info"]
