"""Issue 3's loss test: with 20% loss each way, 50 registrations and 50 calls (set up, ACKed, torn
down) with no failure and no transaction left behind (CPython, pytest; the UA on MicroPython).

tools/lossy_relay.py (seeded) sits between mpsip's user agent (tools/sipua.py on the MicroPython unix
port, media running) and Kamailio; a baresip phone answers on the far side of Kamailio, without loss.
The UA registers with Expires 2 (a refresh, with its 401 round, every second or so, through the
loss and across the calls) and calls the phone 50 times, one after the other, hanging up each 0.3 s
after it connects. Then it unregisters and runs until its own transaction table and call list are
empty (--drain): every transaction ended by its own timers (RFC 3261 17: D, J, K, M run out), none
kept by a missing answer. That count is the UA's own, printed at exit.
"""

import os
import time

from tools import peers
from tools.lossy_relay import LossyRelay

from .conftest import USERS
from .test_ua_peers import SipUa, compiled  # noqa: F401 (a fixture)

CALLS = 50
REGISTRATIONS = 50
LOSS = 0.2
SEED = 3
# Signalling only: media through loss is test_media_peers' (5% RTP loss). 50 registrations
# (expires 2 s) and 50 calls in ~2 minutes, each leaving transactions that absorb
# retransmissions for up to 32 s (RFC 3261 17, RFC 6026), is far more at once than a door
# station meets; with it the UA passed on 2026-11-25 at 112K (twice), 128K and 160K, once of
# twice at 104K, and at 96K it lost registrations and calls to its heap (registration-failed
# reason=heap, Timer B/F timeouts while it could not read) without failing otherwise - the
# UA's other peer tests pass at 96K (test_ua_peers.UA_HEAP). 112K and one 8K step: 120K.
# MPSIP_LOSS_HEAP overrides it.
LOSS_HEAP = os.environ.get("MPSIP_LOSS_HEAP", "120K")


def test_50_registrations_and_50_calls_through_20_percent_loss_leave_nothing_behind(started, phone, compiled):  # noqa: F811
    peers.require("kamailio")
    kam = started.add(peers.Kamailio(USERS, nat=True, workdir=started.dir("kamailio-nat"))).start()
    bob = phone("bob", registrar_port=kam.port)
    relay = LossyRelay(("127.0.0.1", 0), ("127.0.0.1", kam.port), seed=SEED, loss=LOSS).start()
    t0 = time.monotonic()
    try:
        ua = started.add(SipUa(workdir=started.dir("sipua"), heap=LOSS_HEAP))
        ua.start(
            *("--registrar", "%s:%d" % relay.listen, "--user", "ua", "--password", USERS["ua"]),
            *("--domain", "127.0.0.1", "--expires", 2, "--rtp-port", peers.free_port(tcp=False)),
            *("--call", "sip:bob@127.0.0.1", "--calls", CALLS, "--hangup-after", 0.3),
            *("--registrations", REGISTRATIONS, "--drain", 40),
        )
        ua.wait_event("connected", 30, call=1)  # (fail early when nothing works at all)
        exit_kv = ua.wait_event("exit", 240)
        seconds = time.monotonic() - t0
        rc = ua.proc.wait(5)
        c = relay.counters()
    finally:
        relay.stop()
    events = ua.events()

    def named(name):
        return [kv for n, kv in events if n == name]

    connected, ended, registered = named("connected"), named("ended"), named("registered")
    established = closed = 0
    while bob.poll_event("CALL_ESTABLISHED"):
        established += 1
    while bob.poll_event("CALL_CLOSED"):
        closed += 1
    print(
        "20%% loss, %d calls: %.0f s; %d registrations; UA exit %s; phone %d established, %d closed; "
        "relay %s; first connected heap %s"
        % (CALLS, seconds, len(registered), exit_kv, established, closed, c, connected[0].get("heap"))
    )
    # Every call set up and torn down by us, once each; the phone saw each start and end: our
    # INVITEs (each answering Kamailio's 407) and BYEs got through the loss.
    assert [kv["call"] for kv in connected] == [str(i) for i in range(1, CALLS + 1)]
    assert [(kv["call"], kv["reason"]) for kv in ended] == [(str(i), "hangup") for i in range(1, CALLS + 1)]
    assert established == CALLS and closed == CALLS
    # Registrations all through: refreshes, then the unregistration at the end.
    assert len(registered) >= REGISTRATIONS and not named("registration-failed")
    assert named("unregistered")
    # Nothing left behind: the UA's own transaction table and call list, emptied by the timers.
    assert exit_kv["tx"] == "0" and exit_kv["calls"] == "0", exit_kv
    assert rc == 0 and not named("error")
    assert "Traceback" not in ua.log() and "MemoryError" not in ua.log()
    # The loss was real, each way.
    for d in ("up", "down"):
        assert c[d]["dropped"] >= 0.15 * c[d]["received"] > 0, c
