# What a door station does with the user agent: the button calls the targets (one after
# the other, or all at once with the first answer winning), a DTMF PIN opens the door,
# calls from allowed phones are answered, push-to-talk. Events go out one per line as
# `EVENT <name> key=value ...` (the host demo and the tests read them).
#
# Hardware arrives as callables: relay(on), led(state), media(call) -> session or None
# (intercom/sound.py builds the MediaSession for a call's negotiated audio: the session
# has ptt(talking), tone(name), close()), ringback(on) for the tone while an outgoing call
# rings. The app never imports machine or network; time is ticks_ms from the injected clock.
from intercom.door import Door

# LED states (intercom/leds.py turns each into a blink pattern) are plain strings:
# "registering", "registered", "ringing", "in-call", "error".
_BUSY = ("486", "600", "603", "480", "404", "408", "timeout", "unreachable", "cancelled")


def uri_key(uri):
    """'user@host' of a SIP URI, lower-cased host, no port or parameters: what answer.allow
    is matched on (a PBX rewrites ports and adds parameters)."""
    u = uri.split(":", 1)[1] if ":" in uri else uri
    u = u.split(";")[0].split("?")[0].strip("<> ")
    user, _, host = u.rpartition("@")
    return user + "@" + host.split(":")[0].lower()


class Intercom:
    def __init__(self, cfg, ua, clock, relay, led=None, media=None, out=print, ringback=None):
        self.ua = ua
        self.clock = clock
        self.led = led or (lambda state: None)
        self.media_factory = media
        self.ringback = ringback or (lambda on: None)
        self.out = out
        # Where calls may come from: (ip, port) of the registrars. The platform sets the
        # resolved addresses when the registrar is a name; these do for IP literals.
        self.servers = [s for s in (ua.registrar, ua.backup) if s]
        d = cfg["door"]
        self.door = Door(d["pins"], relay, clock, d["relay_s"], d["max_tries"], d["lockout_s"])
        c = cfg["call"]
        self.targets = list(c["targets"])
        self.parallel = c["mode"] == "parallel"
        self.ring_ms = int(c["ring_timeout_s"] * 1000)
        self.max_ms = int(c["max_call_s"] * 1000)
        a = cfg["answer"]
        self.allow = a["allow"]
        self.auto = a["auto"]
        self.delay_ms = int(a["delay_s"] * 1000)
        self.ptt = cfg["ptt"]
        self.calls = []  # our outgoing attempts (several in parallel mode)
        self.active = None  # the connected call
        self.incoming = None
        self.answer_at = None
        self.next_target = 0
        self.ring_until = None
        self.warned = False
        self.session = None
        ua.on_event = self.on_event
        self.led("booting")

    def emit(self, name, *kv):
        """One EVENT line: emit("dtmf", "digit", d, "via", v), keys in alphabetical order
        (short names: qstrs, shared; whole format strings would each be a heap object)."""
        line = "EVENT " + name
        for i in range(0, len(kv), 2):
            line += " %s=%s" % (kv[i], kv[i + 1])
        self.out(line)

    def now(self):
        return self.clock.ticks_ms()

    def _after(self, ms):
        return self.clock.ticks_add(self.now(), ms)

    def _due(self, t):
        return t is not None and self.clock.ticks_diff(self.now(), t) >= 0

    # --- the button -------------------------------------------------------------------------
    def button(self, pressed):
        if self.ptt and self.active is not None:
            if self.session:
                self.session.ptt(pressed)  # held: talk (speaker muted); released: listen
            return
        if not pressed:
            return
        if self.incoming is not None:
            self._answer()  # no auto-answer: the button picks up
        elif self.active is not None or self.calls:
            self.hangup("button")
        else:
            self.start_calling()

    def start_calling(self):
        if not self.targets:
            self.emit("error", "what", "no-call-targets")
            return
        self.next_target = 0
        if self.parallel:
            for t in self.targets:
                self._dial(t)
            self.next_target = len(self.targets)
        else:
            self._dial(self.targets[0])
            self.next_target = 1
        self.ring_until = self._after(self.ring_ms)
        self.led("ringing")

    def _dial(self, target):
        self.emit("calling", "target", target)
        self.calls.append(self.ua.call(target))

    def hangup(self, why):
        calls = self.calls
        self.calls = []  # taken first: their "ended" must not dial the next target
        for c in calls:
            c.hangup()
        if calls:
            self.ringback(False)
            self.ring_until = None
            self.emit("call-ended", "reason", why)
            self._idle()
        if self.active is not None:
            self.active.hangup()
        if self.incoming is not None:
            self.incoming.reject(603)

    # --- user agent events ------------------------------------------------------------------------
    def on_event(self, name, call, arg):
        if name == "registered":
            self.emit("registered", "expires", arg)
            self.led("registered" if self.active is None else "in-call")
        elif name == "unregistered":
            self.emit("unregistered")
        elif name == "registration-failed":
            self.emit("error", "reason", arg, "what", "registration")
            self.led("error" if self.active is None else "in-call")
        elif name == "ringing" and call in self.calls:
            self.emit("ringing", "target", call.remote_uri)
            self.ringback(True)
        elif name == "connected":
            self._connected(call, arg)
        elif name == "media" and call is self.active and self.session:
            self._stop_media()
            self._start_media(call)
        elif name == "ended":
            self._ended(call, arg)
        elif name == "incoming":
            self._incoming(call)
        elif name == "dtmf" and call is self.active:
            self.dtmf(arg, "info")
        elif name == "message":
            self.emit("message", "sender", arg[0])
        elif name == "error":
            self.emit("error", "detail", str(arg).replace(" ", "_"), "what", "sip")

    def _connected(self, call, neg):
        if call in self.calls:
            # parallel: the first answer wins, the others are cancelled (RFC 3261 9.1)
            others = self.calls
            self.calls = []
            for c in others:
                if c is not call:
                    c.hangup()
        self.incoming = None
        self.answer_at = None
        self.active = call
        self.ringback(False)
        self.ring_until = None
        self.warned = False
        self.end_at = self._after(self.max_ms)
        self.door.reset_entry()
        self.emit("connected", "codec", neg.codec, "peer", call.remote_uri)
        self.led("in-call")
        self._start_media(call)

    def _ended(self, call, reason):
        if call is self.active:
            self.active = None
            self._stop_media()
            self.emit("call-ended", "reason", reason)
            self._idle()
            return
        if call is self.incoming:
            self.incoming = None
            self.answer_at = None
            self.emit("call-ended", "reason", reason)
            self._idle()
            return
        if call not in self.calls:
            return
        self.calls.remove(call)
        if self.calls:
            return  # parallel: others still ringing
        if not self.parallel and self.next_target < len(self.targets) and reason in _BUSY:
            # sequential: busy, declined, no answer -> the next target
            self._dial(self.targets[self.next_target])
            self.next_target += 1
            self.ring_until = self._after(self.ring_ms)
            return
        self.ring_until = None
        self.ringback(False)
        self.emit("call-ended", "reason", "no-answer" if reason in _BUSY else reason)
        self._idle()

    def _idle(self):
        self.led("registered" if self.ua.reg.state == "registered" else "registering")

    def _incoming(self, call):
        # The INVITE must come from a registrar (address and port: on one host the phones
        # share its address) and name an allowed caller in From.
        src = tuple(call.itx.addr) if call.itx else None
        who = uri_key(call.remote_uri)
        allowed = "*" in self.allow or who in [uri_key(u) for u in self.allow]
        ok = src in self.servers and allowed
        if not ok or self.active is not None or self.calls or self.incoming is not None:
            # not an allowed phone via our PBX (or we are busy): nothing rings, no audio
            status = 486 if ok else 403
            call.reject(status)
            self.emit("rejected", "sender", call.remote_uri, "status", status)
            return
        self.incoming = call
        self.emit("ringing", "sender", call.remote_uri)
        self.led("ringing")
        if self.auto:
            self.answer_at = self._after(self.delay_ms)

    def _answer(self):
        c = self.incoming
        self.answer_at = None
        if c is not None:
            c.answer()

    # --- DTMF and the door -------------------------------------------------------------------------
    def dtmf(self, digit, via="rtp"):
        """A digit from the active call: RFC 4733 (via the media session) or SIP INFO."""
        if self.active is None:
            return
        self.emit("dtmf", "digit", digit, "via", via)
        r = self.door.feed(digit, self.now())
        if r == "open":
            self.emit("door-open", "seconds", self.door.relay_ms // 1000)
            if self.session and hasattr(self.session, "tone"):
                self.session.tone("confirm")
        elif r == "denied":
            self.emit("door-denied", "tries", self.door.tries)
        elif r == "lockout":
            self.emit("lockout", "seconds", self.door.lockout_ms // 1000)

    # --- media ---------------------------------------------------------------------------------------
    def _start_media(self, call):
        if self.media_factory and call.neg is not None:
            self.session = self.media_factory(call)
            if self.session and self.ptt:
                self.session.ptt(False)  # push-to-talk starts listening

    def _stop_media(self):
        s = self.session
        self.session = None
        if s:
            s.close()
        import gc

        gc.collect()  # between calls, never inside a frame

    # --- time ----------------------------------------------------------------------------------------
    def tick(self):
        self.door.tick(self.now())
        if self._due(self.answer_at):
            self._answer()
        if self.calls and self._due(self.ring_until):
            # ring timeout: cancel; sequential mode goes on with the next target from _ended
            self.ring_until = None
            for c in list(self.calls):
                c.hangup()
        if self.active is not None:
            left = self.clock.ticks_diff(self.end_at, self.now())
            if left <= 10000 and not self.warned:
                self.warned = True
                self.emit("call-warning", "seconds", max((left + 999) // 1000, 0))  # whole seconds left, rounded up
                if self.session and hasattr(self.session, "tone"):
                    self.session.tone("warning")
            if left <= 0:
                self.emit("call-limit")
                self.active.hangup()
