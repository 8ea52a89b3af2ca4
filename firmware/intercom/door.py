# The door: DTMF PINs entered with a trailing '#', the relay pulse, wrong tries and the
# lockout. Digits come from RFC 4733 events or SIP INFO alike (one stream). Time is the
# caller's ticks_ms with MicroPython's wrapping arithmetic; nothing here sleeps.
#
# What a commercial door station does (2N, Akuvox): '*' clears what was typed, a PIN
# longer than 16 digits is a wrong try, an idle pause of 10 s forgets a half-typed PIN,
# and during a lockout digits are ignored without counting.

_MAX_DIGITS = 16
_IDLE_MS = 10000


class Door:
    """feed(digit, now) -> None, "open", "denied" or "lockout" (the event to report);
    tick(now) drops the relay when its pulse is over. relay(on) drives the hardware."""

    def __init__(self, pins, relay, clock, relay_s=3, max_tries=3, lockout_s=60):
        self.pins = tuple(pins)
        self.relay = relay
        self.clock = clock
        self.relay_ms = int(relay_s * 1000)
        self.max_tries = max_tries
        self.lockout_ms = int(lockout_s * 1000)
        self.typed = ""
        self.last = None  # ticks_ms of the last digit
        self.tries = 0
        self.locked_until = None
        self.open_until = None

    def _since(self, t, now):
        return self.clock.ticks_diff(now, t)

    def feed(self, digit, now):
        if self.locked_until is not None:
            if self._since(self.locked_until, now) < 0:
                return None  # locked out: ignored, not counted
            self.locked_until = None
            self.tries = 0
        if self.last is not None and self._since(self.last, now) > _IDLE_MS:
            self.typed = ""
        self.last = now
        if digit == "*":
            self.typed = ""
            return None
        if digit != "#":
            self.typed += digit
            if len(self.typed) <= _MAX_DIGITS:
                return None
        code = self.typed
        self.typed = ""
        if digit == "#" and code in self.pins:
            self.tries = 0
            self.pulse(now)
            return "open"
        self.tries += 1
        if self.tries >= self.max_tries:
            self.locked_until = self.clock.ticks_add(now, self.lockout_ms)
            return "lockout"
        return "denied"

    def pulse(self, now):
        self.relay(True)
        self.open_until = self.clock.ticks_add(now, self.relay_ms)

    def tick(self, now):
        if self.open_until is not None and self._since(self.open_until, now) >= 0:
            self.open_until = None
            self.relay(False)

    def reset_entry(self):
        """A new call starts with an empty entry (tries and lockout persist)."""
        self.typed = ""
        self.last = None
