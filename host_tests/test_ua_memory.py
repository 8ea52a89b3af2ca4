# The user agent when the heap is short (the board's 96 KB): the loop's idle rounds allocate
# nothing, and a datagram that finds no heap even for the error path still ends cleanly.
# (Beside test_ua.py, not in it: each test file gets its own 96K process.)
from sipfakes import PEER, request
from uafakes import deliver, make, without_heap

from mpsip.message import parse


def test_idle_rounds_allocate_nothing_and_the_refresh_still_comes():
    # The board's loop polls every 20 ms: an idle round that allocated (a copy of the
    # transaction table, a tuple per transaction, "mpsip." + name per lent module) made
    # ~10 KB/s of garbage. On MicroPython the rounds run under heap_lock.
    from uafakes import _registered

    ua, clock, wire, events, req = _registered(granted=120)
    ua.poll()  # the round after the 200: lent modules dropped
    try:
        import micropython

        lock, unlock = micropython.heap_lock, micropython.heap_unlock
    except (ImportError, AttributeError):  # CPython: the behaviour only
        lock = unlock = lambda: None
    waits = [0] * 100
    lock()
    try:
        for i in range(100):  # 2 s with the REGISTER transactions still in the table
            waits[i] = ua.poll()
            clock.t += 20
    finally:
        unlock()
    assert wire.sent == [] and min(waits) > 0 and len(ua.txs.table) > 0
    clock.t += 120 * 1000
    ua.poll()
    assert [parse(d).method for d, _ in wire.sent] == ["REGISTER"]  # the refresh


def test_no_heap_even_for_the_error_path_still_ends_the_call_and_tells_the_app():
    # A heap so full that mpsip.rare (what handles failures) cannot be loaded either:
    # the INVITE's transaction and call go as if the request were lost, and the app still
    # hears of it (before: silence, and a call left in "incoming").
    import mpsip.call  # noqa: F401 - imported now, it binds the real load(), not the patch
    import mpsip.ua as ua_mod

    ua, clock, wire, events = make()
    saved = ua_mod.load

    def no_room(name):
        raise MemoryError

    ua_mod.load = no_room
    try:
        without_heap(deliver, ua, request("INVITE", body=b""), PEER)
    finally:
        ua_mod.load = saved
    assert wire.sent == [] and ua.calls == [] and ua.txs.table == {}
    assert events[-1] == ("error", "MemoryError")
