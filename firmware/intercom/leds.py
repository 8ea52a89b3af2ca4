# The status LED: one blink pattern per state, stepped from the main loop (no timer, no
# allocation, not even on a change of state). A state is 3 bytes of colour (r, g, b) then
# its pattern: on/off durations in units of 50 ms, starting with "on": 2, 38 = 100 ms on,
# 1.9 s off. Solid states have one duration. (One bytes object a state, in one dict: the
# table costs the heap a few hundred bytes, not a tuple and a string per state.)
#
# What the states look like (the common convention of door stations and VoIP phones:
# the faster the blink, the more it wants attention):
#   booting      fast flicker          no-network   one short blink every 2 s
#   registering  slow even blink       registered   on
#   ringing      fast even blink       in-call      on, off briefly every 2 s
#   error        double blink, pause
# A colour LED (WS2812) shows the state's colour while "on", dim (a WS2812 at full power
# glares in a hallway); a plain LED only on/off.
_UNIT_MS = 50

STATES = {
    "booting": b"\x10\x10\x10\x01\x01",
    "no-network": b"\x20\x00\x00\x02\x26",
    "registering": b"\x20\x10\x00\x0a\x0a",
    "registered": b"\x00\x18\x00\x01",
    "ringing": b"\x00\x00\x28\x03\x03",
    "in-call": b"\x00\x20\x20\x26\x02",
    "error": b"\x30\x00\x00\x02\x02\x02\x0e",
}


class Leds:
    """set(state) picks the pattern; step(now_ms) drives output(state, on) at each edge.
    output is the platform's: a GPIO level, or the state's colour (STATES[state][:3]) for
    a colour LED."""

    def __init__(self, output, clock):
        self.output = output
        self.clock = clock
        self.state = None
        self.steps = b"\x00\x00\x00\x01"
        self.i = 3  # the pattern's current step: an index into steps
        self.edge = 0  # ticks_ms of the next change

    def set(self, state):
        steps = STATES.get(state)
        if state == self.state or steps is None:
            return
        self.state = state
        self.steps = steps
        self.i = 3
        self.output(state, True)
        self.edge = self.clock.ticks_add(self.clock.ticks_ms(), steps[3] * _UNIT_MS)

    def step(self, now):
        """Advance the pattern; ms until the next edge (the loop may sleep that long)."""
        steps = self.steps
        if len(steps) == 4:
            return 1000  # solid
        c = self.clock
        left = c.ticks_diff(self.edge, now)
        if left > 0:
            return left
        i = self.i + 1
        if i == len(steps):
            i = 3
        self.i = i
        self.output(self.state, not ((i - 3) & 1))
        # from the planned edge, not from now: a late loop does not stretch the pattern
        ms = steps[i] * _UNIT_MS
        self.edge = c.ticks_add(self.edge, ms)
        if c.ticks_diff(self.edge, now) < 0:
            self.edge = c.ticks_add(now, ms)
        return c.ticks_diff(self.edge, now)
