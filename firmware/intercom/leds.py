# The status LED: one blink pattern per state, stepped from the main loop (no timer, no
# allocation per step). A pattern is a string of on/off durations in units of 50 ms,
# starting with "on": "2 38" = 100 ms on, 1.9 s off. Solid states have one duration.
#
# What the states look like (the common convention of door stations and VoIP phones:
# the faster the blink, the more it wants attention):
#   booting      fast flicker          no-network   one short blink every 2 s
#   registering  slow even blink       registered   on
#   ringing      fast even blink       in-call      on, off briefly every 2 s
#   error        double blink, pause
# A colour LED (WS2812) shows the state's colour while "on"; a plain LED only on/off.
_UNIT_MS = 50

PATTERNS = {
    "booting": "1 1",
    "no-network": "2 38",
    "registering": "10 10",
    "registered": "1",
    "ringing": "3 3",
    "in-call": "38 2",
    "error": "2 2 2 14",
}

# (r, g, b) per state for colour LEDs, dim: a WS2812 at full power glares in a hallway
COLOURS = {
    "booting": (16, 16, 16),
    "no-network": (32, 0, 0),
    "registering": (32, 16, 0),
    "registered": (0, 24, 0),
    "ringing": (0, 0, 40),
    "in-call": (0, 32, 32),
    "error": (48, 0, 0),
}


class Leds:
    """set(state) picks the pattern; step(now_ms) drives output(state, on) at each edge.
    output is the platform's: a GPIO level, or the state's colour for a colour LED."""

    def __init__(self, output, clock):
        self.output = output
        self.clock = clock
        self.state = None
        self.steps = (1,)
        self.i = 0
        self.on = False
        self.edge = 0  # ticks_ms of the next change

    def set(self, state):
        if state == self.state or state not in PATTERNS:
            return
        self.state = state
        self.steps = tuple(int(s) * _UNIT_MS for s in PATTERNS[state].split())
        self.i = 0
        self.on = True
        self.output(state, True)
        self.edge = self.clock.ticks_add(self.clock.ticks_ms(), self.steps[0])

    def step(self, now):
        """Advance the pattern; ms until the next edge (the loop may sleep that long)."""
        if len(self.steps) == 1:
            return 1000  # solid
        c = self.clock
        left = c.ticks_diff(self.edge, now)
        if left > 0:
            return left
        self.i = (self.i + 1) % len(self.steps)
        self.on = not (self.i & 1)
        self.output(self.state, self.on)
        # from the planned edge, not from now: a late loop does not stretch the pattern
        self.edge = c.ticks_add(self.edge, self.steps[self.i])
        if c.ticks_diff(self.edge, now) < 0:
            self.edge = c.ticks_add(now, self.steps[self.i])
        return c.ticks_diff(self.edge, now)
