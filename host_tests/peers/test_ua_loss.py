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
# Signalling only: media through loss is test_media_peers' (5% RTP loss); with a MediaSession per
# call here (~7.3 KB in pieces, every 1-3 s) a fragmented heap failed a session's allocation once
# in CI at 288K. Calls follow each other faster than Timer M's 32 s (RFC 6026) lets a finished
# INVITE go, so the figure is above one call's. Passed on 2026-11-24 (other work loading the
# machine) at 128K, 144K and twice at 160K, after the UA's heap in a call went from ~92 to ~82 KB:
# 160K. MPSIP_LOSS_HEAP overrides it.
LOSS_HEAP = os.environ.get("MPSIP_LOSS_HEAP", "160K")


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
