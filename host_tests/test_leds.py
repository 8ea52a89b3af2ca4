# The status LED (intercom/leds.py): one pattern per state, stepped by the main loop with
# a stepped clock; the output sees every edge, solid states none.
from sipfakes import Clock

from intercom.leds import STATES, Leds


def rig():
    clock = Clock()
    seen = []
    leds = Leds(lambda state, on: seen.append((clock.t, state, on)), clock)
    return leds, clock, seen


def run(leds, clock, ms, step=10):
    end = clock.t + ms
    while clock.t < end:
        clock.t += step
        leds.step(clock.ticks_ms())


def test_every_state_the_app_and_station_use_has_a_pattern_and_a_colour():
    for state in ("booting", "no-network", "registering", "registered", "ringing", "in-call", "error"):
        colour, steps = STATES[state][:3], STATES[state][3:]
        assert len(colour) == 3 and max(colour) <= 48  # dim: full power glares
        assert len(steps) == 1 or len(steps) % 2 == 0  # on/off pairs
        assert min(steps) > 0


def test_ringing_blinks_150_ms_on_150_ms_off():
    leds, clock, seen = rig()
    leds.set("ringing")
    run(leds, clock, 600)
    assert seen == [
        (0, "ringing", True),
        (150, "ringing", False),
        (300, "ringing", True),
        (450, "ringing", False),
        (600, "ringing", True),
    ]


def test_no_network_is_a_short_blink_every_two_seconds():
    leds, clock, seen = rig()
    leds.set("no-network")
    run(leds, clock, 4000)
    assert [t for t, _, on in seen if on] == [0, 2000, 4000]
    assert [t for t, _, on in seen if not on] == [100, 2100]


def test_error_is_a_double_blink():
    leds, clock, seen = rig()
    leds.set("error")
    run(leds, clock, 1000)
    assert [(t, on) for t, _, on in seen] == [(0, True), (100, False), (200, True), (300, False), (1000, True)]


def test_solid_states_do_not_toggle_and_say_how_long_the_loop_may_sleep():
    leds, clock, seen = rig()
    leds.set("registered")
    run(leds, clock, 5000)
    assert seen == [(0, "registered", True)]
    assert leds.step(clock.ticks_ms()) == 1000


def test_setting_the_same_state_again_keeps_the_rhythm_and_a_new_one_starts_on():
    leds, clock, seen = rig()
    leds.set("registering")
    run(leds, clock, 700)
    leds.set("registering")
    run(leds, clock, 300)
    assert [t for t, _, on in seen] == [0, 500, 1000]
    leds.set("in-call")
    assert seen[-1] == (1000, "in-call", True)
    leds.set("no-such-state")
    assert leds.state == "in-call"


def test_a_late_loop_does_not_stretch_the_pattern_nor_replay_missed_edges():
    leds, clock, seen = rig()
    leds.set("booting")  # 50 ms on, 50 off
    clock.t = 1000  # the loop was busy for a second
    assert leds.step(clock.ticks_ms()) == 50
    assert len(seen) == 2
    run(leds, clock, 100, step=5)
    assert [t for t, _, _ in seen[2:]] == [1050, 1100]


class Edges:
    """An LED output that records edges into preallocated room (it runs under heap_lock)."""

    def __init__(self, clock):
        self.clock = clock
        self.times = [0] * 8
        self.ons = bytearray(8)
        self.n = 0

    def output(self, state, on):
        self.times[self.n] = self.clock.t
        self.ons[self.n] = on
        self.n += 1


def test_in_call_is_on_with_a_short_break_every_two_seconds_and_changes_allocate_nothing():
    clock = Clock()
    rec = Edges(clock)
    leds = Leds(rec.output, clock)
    leds.set("registered")
    try:
        import micropython

        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):  # CPython: the behaviour only
        lock = unlock = lambda: None
    lock()
    try:
        leds.set("in-call")
        for _ in range(400):
            clock.t += 10
            leds.step(clock.ticks_ms())
    finally:
        unlock()
    assert rec.n == 6 and rec.times[1:6] == [0, 1900, 2000, 3900, 4000] and list(rec.ons[1:6]) == [1, 0, 1, 0, 1]
