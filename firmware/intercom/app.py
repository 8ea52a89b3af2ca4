# What a door station does with the user agent: the button calls the targets (one after
# the other, or all at once with the first answer winning), a DTMF PIN opens the door,
# calls from allowed phones are answered, push-to-talk. Events go out one per line as
# `EVENT <name> key=value ...` (the host demo and the tests read them). The door (PIN
# entry, relay pulse, wrong tries, lockout) is part of the one Intercom object: a class of
# its own cost the heap a module and a class for two methods.
#
# Hardware arrives as callables: relay(on), led(state), media(call) -> session or None
# (intercom/sound.py builds the MediaSession for a call's negotiated audio: the session
# has ptt(talking), tone(name), close()), ringback(on) for the tone while an outgoing call
# rings. The app never imports machine or network; time is ticks_ms from the injected clock
# with MicroPython's wrapping arithmetic; nothing here sleeps.
#
# LED states (intercom/leds.py turns each into a blink pattern) are plain strings:
# "registering", "registered", "ringing", "in-call", "error".
_BUSY = ("486", "600", "603", "480", "404", "408", "timeout", "unreachable", "cancelled")
_MAX_DIGITS = 16  # a longer entry is a wrong try
_IDLE_MS = 10000  # a pause this long forgets a half-typed PIN


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
        # Not given (a test): bool, a built-in that takes the one argument and does nothing
        # with it (a lambda here would be two more functions in the heap).
        self.led = led or bool
        self.media_factory = media
        self.ringback = ringback or bool
        self.out = out
        # Where calls may come from: (ip, port) of the registrars. The platform sets the
        # resolved addresses when the registrar is a name; these do for IP literals.
        self.servers = [s for s in (ua.registrar, ua.backup) if s]
        # The settings are read from cfg where they are used (a copy in an attribute each
        # would grow this object's dict, for the few times a call reads them).
        self.cfg = cfg
        self.typed = ""  # the PIN entry so far
        self.last = None  # ticks_ms of the last digit
        self.tries = 0
        self.locked_until = None
        self.open_until = None  # the relay's pulse ends
        self.relay = relay
        self.calls = []  # our outgoing attempts (several in parallel mode)
        self.active = None  # the connected call
        self.incoming = None
        # The one deadline before a call connects: an incoming call's auto-answer, or the ring
        # timeout of our outgoing ones (never both: an incoming call is refused while we call).
        self.due = None
        self.next_target = 0
        self.warned = False
        self.end_at = 0
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

    # --- the button -------------------------------------------------------------------------
    def button(self, pressed):
        if self.cfg["ptt"] and self.active is not None:
            if self.session:
                self.session.ptt(pressed)  # held: talk (speaker muted); released: listen
            return
        if not pressed:
            return
        c = self.incoming
        if c is not None:
            self.due = None
            c.answer()  # no auto-answer: the button picks up
        elif self.active is not None or self.calls:
            self.hangup("button")
        else:
            c = self.cfg["call"]
            targets = c["targets"]
            if not targets:
                self.emit("error", "what", "no-call-targets")
                return
            # parallel: every target at once; sequential: the first, the others from "ended"
            for t in targets if c["mode"] == "parallel" else targets[:1]:
                self._dial(t)
            self.next_target = len(self.calls)
            self.led("ringing")

    def _dial(self, target):
        self.emit("calling", "target", target)
        self.calls.append(self.ua.call(target))
        clock = self.clock
        self.due = clock.ticks_add(clock.ticks_ms(), int(self.cfg["call"]["ring_timeout_s"] * 1000))

    def hangup(self, why):
        calls = self.calls
        self.calls = []  # taken first: their "ended" must not dial the next target
        for c in calls:
            c.hangup()
        if calls:
            self.ringback(False)
            self.due = None
            self._idle(why)
        if self.active is not None:
            self.active.hangup()
        if self.incoming is not None:
            self.incoming.reject(603)

    def _idle(self, reason):
        """A call is over: say so, and the LED shows the registration's state again."""
        self.emit("call-ended", "reason", reason)
        self.led("registered" if self.ua.reg.state == "registered" else "registering")

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
            if call in self.calls:
                # parallel: the first answer wins, the others are cancelled (RFC 3261 9.1)
                others = self.calls
                self.calls = []
                for c in others:
                    if c is not call:
                        c.hangup()
            self.incoming = None
            self.due = None
            self.active = call
            self.ringback(False)
            self.warned = False
            clock = self.clock
            self.end_at = clock.ticks_add(clock.ticks_ms(), int(self.cfg["call"]["max_call_s"] * 1000))
            self.typed = ""  # a new call starts with an empty entry (tries and lockout persist)
            self.last = None
            self.emit("connected", "codec", arg.codec, "peer", call.remote_uri)
            self.led("in-call")
            self._media(call)
        elif name == "media" and call is self.active and self.session:
            self._media(call)  # a re-INVITE changed the media: a new session for it
        elif name == "ended":
            if call is self.active:
                self.active = None
                self._media(None)
                self._idle(arg)
            elif call is self.incoming:
                self.incoming = None
                self.due = None
                self._idle(arg)
            elif call in self.calls:
                self.calls.remove(call)
                if self.calls:
                    return  # parallel: others still ringing
                c = self.cfg["call"]
                targets = c["targets"]
                if c["mode"] != "parallel" and self.next_target < len(targets) and arg in _BUSY:
                    # sequential: busy, declined, no answer -> the next target
                    self._dial(targets[self.next_target])
                    self.next_target += 1
                    return
                self.due = None
                self.ringback(False)
                self._idle("no-answer" if arg in _BUSY else arg)
        elif name == "incoming":
            # The INVITE must come from a registrar (address and port: on one host the phones
            # share its address) and name an allowed caller in From.
            src = tuple(call.itx.addr) if call.itx else None
            a = self.cfg["answer"]
            allow = a["allow"]
            ok = src in self.servers and ("*" in allow or uri_key(call.remote_uri) in [uri_key(u) for u in allow])
            if not ok or self.active is not None or self.calls or self.incoming is not None:
                # not an allowed phone via our PBX (or we are busy): nothing rings, no audio
                status = 486 if ok else 403
                call.reject(status)
                self.emit("rejected", "sender", call.remote_uri, "status", status)
                return
            self.incoming = call
            self.emit("ringing", "sender", call.remote_uri)
            self.led("ringing")
            if a["auto"]:  # else the button answers
                clock = self.clock
                self.due = clock.ticks_add(clock.ticks_ms(), int(a["delay_s"] * 1000))
        elif name == "dtmf" and call is self.active:
            self.dtmf(arg, "info")
        elif name == "message":
            self.emit("message", "sender", arg[0])
        elif name == "error":
            self.emit("error", "detail", str(arg).replace(" ", "_"), "what", "sip")

    # --- DTMF and the door -------------------------------------------------------------------------
    # A PIN is entered with a trailing '#', its digits from RFC 4733 events or SIP INFO alike
    # (one stream). What a commercial door station does (2N, Akuvox): '*' clears what was
    # typed, a PIN longer than 16 digits is a wrong try, an idle pause of 10 s forgets a
    # half-typed PIN, and during a lockout digits are ignored without counting.
    def dtmf(self, digit, via="rtp"):
        """A digit from the active call: RFC 4733 (via the media session) or SIP INFO."""
        if self.active is None:
            return
        self.emit("dtmf", "digit", digit, "via", via)
        clock = self.clock
        now = clock.ticks_ms()
        if self.locked_until is not None:
            if clock.ticks_diff(now, self.locked_until) < 0:
                return  # locked out: ignored, not counted
            self.locked_until = None
            self.tries = 0
        if self.last is not None and clock.ticks_diff(now, self.last) > _IDLE_MS:
            self.typed = ""
        self.last = now
        if digit == "*":
            self.typed = ""
            return
        if digit != "#":
            self.typed += digit
            if len(self.typed) <= _MAX_DIGITS:
                return
        code = self.typed
        self.typed = ""
        d = self.cfg["door"]
        if digit == "#" and code in d["pins"]:
            self.tries = 0
            self.relay(True)  # the pulse: tick() ends it
            ms = int(d["relay_s"] * 1000)
            self.open_until = clock.ticks_add(now, ms)
            self.emit("door-open", "seconds", ms // 1000)
            if self.session and hasattr(self.session, "tone"):
                self.session.tone("confirm")
            return
        self.tries += 1
        if self.tries < d["max_tries"]:
            self.emit("door-denied", "tries", self.tries)
        else:
            ms = int(d["lockout_s"] * 1000)
            self.locked_until = clock.ticks_add(now, ms)
            self.emit("lockout", "seconds", ms // 1000)

    # --- media ---------------------------------------------------------------------------------------
    def _media(self, call):
        """Close the running session; with a call that has audio, start one for it."""
        s = self.session
        self.session = None
        if s:
            s.close()
        import gc

        gc.collect()  # between calls, never inside a frame: the next session wants room
        if call is not None and self.media_factory and call.neg is not None:
            self.session = s = self.media_factory(call)
            if s and self.cfg["ptt"]:
                s.ptt(False)  # push-to-talk starts listening

    # --- time ----------------------------------------------------------------------------------------
    def tick(self):
        clock = self.clock
        now = clock.ticks_ms()
        t = self.open_until
        if t is not None and clock.ticks_diff(now, t) >= 0:
            self.open_until = None
            self.relay(False)  # the door's pulse is over
        t = self.due
        if t is not None and clock.ticks_diff(now, t) >= 0:
            self.due = None
            if self.incoming is not None:
                self.incoming.answer()  # auto-answer, after the delay
            else:
                # ring timeout: cancel; sequential mode goes on with the next target from "ended"
                for c in list(self.calls):
                    c.hangup()
        if self.active is not None:
            left = clock.ticks_diff(self.end_at, now)
            if left <= 10000 and not self.warned:
                self.warned = True
                self.emit("call-warning", "seconds", max((left + 999) // 1000, 0))  # whole seconds left, rounded up
                if self.session and hasattr(self.session, "tone"):
                    self.session.tone("warning")
            if left <= 0:
                self.emit("call-limit")
                self.active.hangup()
