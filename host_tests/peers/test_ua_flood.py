"""mpsip's user agent on the MicroPython unix port under a flood (CPython, pytest).

SIPp's tools/sipp/uac_flood.xml sends 1,000 malformed and unknown-method requests to tools/sipua.py
(100 rounds of ten kinds, each with its own branch and Call-ID, 2 ms between rounds), then one good
OPTIONS that must get 200. The UA must answer what it can (400/405/481/501/505), drop what it
cannot, keep no state for any of it, and still serve: the OPTIONS gets 200, another one afterwards
too, the process is alive and logged no error. Missing peers skip (or fail with
MPSIP_REQUIRE_PEERS=1).
"""

import os

from tools import peers

from .test_ua_peers import SipUa, compiled  # noqa: F401 (a fixture)

# The smallest heap (in 8K steps) with which the test passed 15 runs of 15 (72K: 0 of 5). The flood
# itself costs next to nothing: its answers keep no transaction (RFC 3261 8.2.7), and the module loaded
# on demand for them stays while the burst lasts instead of being loaded again per datagram. What sets
# the figure is the process: MicroPython, tools/sipua.py and the UA (~55 KB in use when ready) and the
# receive buffer. MPSIP_FLOOD_HEAP overrides it, to find the figure again.
FLOOD_HEAP = os.environ.get("MPSIP_FLOOD_HEAP", "80K")


def test_a_flood_of_bad_requests_leaves_the_ua_answering(started, sipp, compiled):  # noqa: F811
    ua = started.add(SipUa(started.dir("sipua"), FLOOD_HEAP)).start()
    s = sipp("uac_flood.xml", remote="127.0.0.1:%d" % ua.port, extra_args=["-s", "ua"], timeout=30).start()
    rc = s.wait()
    # SIPp's one "call" is the closing OPTIONS: 200 within 5 s, after the thousand
    assert rc == 0 and s.stats().get("SuccessfulCall(C)") == "1", s.report()
    # What got through the socket was answered as RFC 3261 8.2 says (the kernel drops what overflows
    # the UA's socket buffer, so not every one): each kind of answer is there. The SIP/3.0 request
    # has a SIP/3.0 Via too: nothing to address a 505 to, dropped (as the scenario allows).
    seen = s.messages()
    counts = {st: seen.count("SIP/2.0 %d " % st) for st in (200, 400, 405, 481, 501, 505)}
    print("flood answered: %s" % counts)
    assert all(counts[st] for st in (400, 405, 481, 501)), counts
    reply = peers.sip_request(ua.port, "OPTIONS", ruri="sip:ua@127.0.0.1:%d" % ua.port)
    assert peers.status_of(reply) == 200 and "INVITE" in peers.header_of(reply, "Allow")
    ua.check()
