# The requests a PBX sends outside calls, and bad input: OPTIONS keepalives, NOTIFY,
# MESSAGE, methods we do not take, 420, retransmissions, malformed datagrams, 416/415/406,
# INFO DTMF bodies; what stays on the heap: answers without transactions, merged requests,
# a bounded table, a flood, MemoryError, the modules loaded on demand and dropped.
# Registration: test_register.py; calls: test_call.py.
import sys

from sipfakes import PEER, Wire, request, statuses
from uafakes import REG, deliver, make, without_heap

import mpsip
from mpsip.message import parse


def _exchange(ua, wire, data):
    wire.sent = []
    deliver(ua, data, PEER)
    return wire.take()


def _statuses(ua, wire, data):
    wire.sent = []
    deliver(ua, data, PEER)
    return statuses(wire)


def test_options_keepalive_gets_allow_and_accept():
    ua, clock, wire, events = make()
    ((r, to),) = _exchange(ua, wire, request("OPTIONS").replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    assert r.status == 200 and to == PEER and "INVITE" in r.get("allow") and "application/sdp" in r.get("accept")
    assert r.get("supported") is None  # never an empty header (PEERS.md)


def test_notify_and_message_are_accepted_and_reported():
    ua, clock, wire, events = make()
    body = b"Messages-Waiting: yes\r\n"
    assert _statuses(ua, wire, request("NOTIFY", extra=(("Event", "message-summary"),), body=body)) == [200]
    assert events[-1] == ("notify", ("message-summary", body))
    msg = request("MESSAGE", extra=(("Content-Type", "text/plain"),))
    assert _statuses(ua, wire, msg) == [200]
    assert events[-1][0] == "message" and events[-1][1][0] == "sip:alice@127.0.0.1"
    assert _statuses(ua, wire, msg) == [200] and len(events) == 2  # a retransmission: no new event


def test_methods_we_do_not_take():
    ua, clock, wire, events = make()
    ((r, _),) = _exchange(ua, wire, request("SUBSCRIBE"))
    assert r.status == 405 and "BYE" in r.get("allow")
    assert _statuses(ua, wire, request("FOO")) == [501]
    assert _statuses(ua, wire, request("BYE", to_tag="nope")) == [481]
    assert _statuses(ua, wire, request("INFO")) == [481]


def test_unknown_require_gets_420_with_unsupported():
    ua, clock, wire, events = make()
    ((r, _),) = _exchange(ua, wire, request("OPTIONS", extra=(("Require", "100rel, foo"),)))
    assert r.status == 420 and r.get("unsupported") == "100rel, foo"


def test_retransmitted_request_gets_the_same_response_and_errors_keep_no_transaction():
    # RFC 3261 8.2.7: what changes nothing here is answered statelessly, so a flood of it
    # leaves no state; the To tag is the same for a retransmission (no dialog comes of it).
    ua, clock, wire, events = make()
    for m in ("OPTIONS", "SUBSCRIBE", "FOO", "CANCEL"):
        wire.sent = []
        deliver(ua, request(m), PEER)
        deliver(ua, request(m), PEER)
        ((d1, _), (d2, _)) = wire.sent  # one parsed at a time: the heap is the board's
        r = parse(d1)
        assert r.status in (200, 405, 481, 501) and r.to_addr.tag and d1 == d2
    assert _statuses(ua, wire, request("BYE", to_tag="nope")) == [481]
    assert ua.txs.table == {}


def test_malformed_input_gets_its_status_or_is_dropped_and_the_loop_lives():
    ua, clock, wire, events = make()
    bad_cseq = request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: 99999999999 OPTIONS")
    assert _statuses(ua, wire, bad_cseq) == [400]
    no_via = b"OPTIONS sip:door@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\n\r\n"
    assert _statuses(ua, wire, no_via) == []  # nothing to address a response to
    v3 = request("OPTIONS").replace(b"OPTIONS sip:door@127.0.0.1:5062 SIP/2.0", b"OPTIONS sip:door@x SIP/3.0")
    assert _statuses(ua, wire, v3) == [505]
    for junk in (b"", b"\r\n\r\n", b"\x00\xff" * 40, b"SIP/2.0 200 OK\r\n\r\n", b"INVITE"):
        assert _statuses(ua, wire, junk) == []
    assert ua.dropped >= 4 and _statuses(ua, wire, request("OPTIONS", cseq=7)) == [200]


CASES = {
    # (header removed, what the UA must send): 400 while a response can be addressed (a Via
    # to send it to, a CSeq to match it by: RFC 4475 3.3.1), nothing otherwise.
    # (one string a case: a tuple of them costs the 96 KB heap an object per item)
    "test_request_missing_a_mandatory_header": ["From 400", "To 400", "Call-ID 400", "Via", "CSeq"],
    # Content-Type after "application/" (or a whole one), body, digit ("" for none)
    "test_info_dtmf_bodies": [
        "dtmf-relay|Signal=5\r\nDuration=160\r\n|5",
        "dtmf-relay|Signal= #\r\n|#",
        "dtmf-relay|Signal=11\r\n|#",
        "dtmf|*|*",
        "dtmf-relay|Duration=160\r\n|",
        "text/plain|5|",
        "dtmf|55|",
    ],
}


def test_request_missing_a_mandatory_header(case):
    name, _, want = case.partition(" ")
    want = [int(want)] if want else []
    ua, clock, wire, events = make()
    lines = request("OPTIONS").split(b"\r\n")
    data = b"\r\n".join([x for x in lines if not x.startswith(name.encode() + b":")])
    assert len(data) < len(b"\r\n".join(lines))
    assert _statuses(ua, wire, data) == want
    assert ua.txs.table == {} and _statuses(ua, wire, request("OPTIONS", cseq=2)) == [200]


def test_unknown_uri_scheme_and_unreadable_bodies():
    ua, clock, wire, events = make()
    assert _statuses(ua, wire, request("OPTIONS", uri="foo:bar")) == [416]
    inv = request("INVITE", body=b"xyz", extra=(("Content-Type", "application/unknown"),))
    ((r, _),) = _exchange(ua, wire, inv)
    assert r.status == 415 and r.get("accept") == "application/sdp"
    inv = request("INVITE", cseq=2, extra=(("Accept", "text/nobodyKnowsThis"),))
    assert _statuses(ua, wire, inv) == [406]
    assert ua.calls == [] and ua.txs.table == {}


def test_merged_request_gets_482():
    # RFC 3261 8.2.2.2: the same From tag, Call-ID and CSeq as a request we have, on
    # another branch (a fork come back through another proxy): 482, and only once taken.
    ua, clock, wire, events = make()
    msg = request("MESSAGE", branch="z9hG4bKone", extra=(("Content-Type", "text/plain"),), body=b"hi")
    assert _statuses(ua, wire, msg) == [200]
    assert _statuses(ua, wire, msg.replace(b"z9hG4bKone", b"z9hG4bKtwo")) == [482]
    assert _statuses(ua, wire, msg) == [200]  # the original's retransmission
    assert [e[0] for e in events] == ["message"]
    other = msg.replace(b"z9hG4bKone", b"z9hG4bKthree").replace(b"1 MESSAGE", b"2 MESSAGE")
    assert _statuses(ua, wire, other) == [200]  # a new CSeq is a new request


class _Busy:
    """A transaction that is only there (a full table costs no heap to make): a server
    one, or with key "c" a client one."""

    mid = retx = end = None
    state = 0  # Trying: still at work

    def __init__(self, key="s"):
        self.key = key

    def fire(self, now):
        pass


def test_a_full_transaction_table_gets_503_with_retry_after():
    ua, clock, wire, events = make(max_tx=3)  # the board's is transaction.MAX_TX
    for i in range(3):
        ua.txs.table[i] = _Busy()
    for i in range(3, 20):  # our own requests at work do not count (calls, a refresh)
        ua.txs.table[i] = _Busy("c")
    msg = request("MESSAGE", extra=(("Content-Type", "text/plain"),))
    ((r, _),) = _exchange(ua, wire, msg)
    assert r.status == 503 and r.get("retry-after") and events == [] and len(ua.txs.table) == 20
    del ua.txs.table[0]
    assert _statuses(ua, wire, msg) == [200] and events[-1][0] == "message"


# The ten kinds of tools/sipp/uac_flood.xml: method|what to replace|with what, one bytes a
# kind (a tuple of pairs would cost the heap an object each); the fifth is no SIP at all.
_FLOOD = (
    b"FOO",
    b"PUBLISH",
    b"BYE",
    b"INVITE| SIP/2.0\r\n| SIP/3.0\r\n",
    b"this is not a sip message\r\njust: garbage\r\n\r\n",
    b"OPTIONS|Call-ID|X-Call-ID",
    b"OPTIONS|CSeq: 1 OPTIONS|CSeq: one INVITE",
    b"OPTIONS|Via: |Xia: ",
    b"INVITE|Content-Length: 0|This header has no colon\r\nContent-Length: 5000",
    b'OPTIONS|<sip:alice|"\xe9\xe8" <sip:alice',
)


def _flood(n, i):
    """The i-th kind of _FLOOD, round n: its own branch and Call-ID, so that nothing looks
    like a retransmission. (The scenario's tenth is 2.5 KB, for a receive buffer: the fake
    wire has none; host_tests/peers/test_ua_flood.py sends it.)"""
    if i == 4:
        return _FLOOD[4]
    tag = "%d-%d" % (n, i)
    k = _FLOOD[i].split(b"|")
    d = request(k[0].decode(), call_id=tag, branch="z9hG4bK" + tag, to_tag="nosuchdialog" if i == 2 else None)
    return d.replace(k[1], k[2], 1) if len(k) > 1 else d


def test_a_flood_of_bad_requests_leaves_no_state_and_the_loop_answers():
    try:
        from gc import collect, mem_alloc
    except ImportError:  # CPython: the state is checked, not the heap
        collect = mem_alloc = None
    ua, clock, wire, events = make()
    before = None
    for n in range(30):
        wire.sent = []
        for i in range(10):
            wire.inbox.append((_flood(n, i), PEER))
            if i % 5 == 4:
                ua.poll()  # five at a time: what a burst leaves queued
        assert len(wire.sent) >= 6 and ua.txs.table == {} and ua.calls == []
        if mem_alloc and n == 1:
            collect()
            before = mem_alloc()
    if before is not None:
        collect()
        assert mem_alloc() - before < 1024  # 280 more requests, no more heap
    assert "mpsip.rare" in sys.modules  # kept while each round needs it
    assert _statuses(ua, wire, request("OPTIONS", call_id="good")) == [200]
    assert "mpsip.rare" not in sys.modules and not hasattr(mpsip, "rare")  # a round without: dropped
    assert ua.dropped >= 30 * 6 and [e for e in events if e[0] == "error"] == []


def test_memory_error_while_reading_does_not_stop_the_loop():
    ua, clock, wire, events = make()
    deliver(ua, request("MESSAGE", extra=(("Content-Type", "text/plain"),)), PEER)
    assert len(ua.txs.table) == 1  # finished: absorbs retransmissions for 64*T1
    ua.register()
    wire.sent = []
    wire.inbox.append((request("OPTIONS"), PEER))
    recv = wire.recv

    def no_heap():  # the socket's read finds no heap for the datagram: it stays queued
        wire.recv = recv
        raise MemoryError

    wire.recv = no_heap
    clock.t = 500
    ua.poll()  # the timers still run: Timer E resends the REGISTER
    assert ua.dropped == 1 and [a for _, a in wire.sent] == [REG]
    assert len(ua.txs.table) == 1 and ua.reg.tx in ua.txs.table.values()  # what only absorbed went
    clock.t += 20  # reading waits a little (see the next test)
    ua.poll()
    assert statuses(wire) == [200]


def test_no_heap_to_read_backs_off_and_counts_once():
    ua, clock, wire, events = make()
    tried = []

    def no_heap():  # a datagram is queued, and no block for it, time after time
        tried.append(clock.t)
        raise MemoryError

    wire.recv = no_heap
    for _ in range(5):  # the loop comes back at once: no read until 20 ms have passed
        assert ua.poll() <= 20
    assert tried == [0] and ua.dropped == 1
    clock.t += 20
    ua.poll()
    ua.poll()
    assert tried == [0, 20] and ua.dropped == 1  # one event, however long it lasts
    del wire.recv  # the heap is back: the datagram is read, a later shortage counts again
    wire.inbox.append((request("OPTIONS"), PEER))
    clock.t += 20
    ua.poll()
    assert statuses(wire) == [200]
    wire.recv = no_heap
    ua.poll()
    assert ua.dropped == 2


def test_memory_error_while_answering_leaves_no_transaction_without_a_timer():
    ua, clock, wire, events = make()
    msg = request("MESSAGE", extra=(("Content-Type", "text/plain"),), body=b"x")
    without_heap(deliver, ua, msg, PEER)
    # the 200 could not be built: as if the request were lost, nothing kept, the app told
    assert wire.sent == [] and events[-1][0] == "error" and ua.txs.table == {}
    assert _statuses(ua, wire, msg) == [200]  # the retransmission gets its answer
    assert all(t.end for t in ua.txs.table.values())


def test_info_dtmf_bodies(case):
    from mpsip.rare import info_dtmf

    ct, body, digit = case.split("|")
    ct = ct if "/" in ct else "application/" + ct
    req = parse(request("INFO", extra=(("Content-Type", ct),), body=body.encode()))
    assert info_dtmf(req) == (digit or None)


def test_wire_is_a_transport():
    w = Wire()
    assert w.send(b"x", PEER) and w.recv() is None
