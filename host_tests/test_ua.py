# mprun-heap: 112K the user agent and the message core do not fit 96 KB together yet (issue 2/3 notes)
# The requests a PBX sends outside calls, and bad input: OPTIONS keepalives, NOTIFY,
# MESSAGE, methods we do not take, 420, retransmissions, malformed datagrams, 416/415/406,
# INFO DTMF bodies. Registration: test_register.py; calls: test_call.py.
from sipfakes import PEER, request, statuses
from uafakes import make

from mpsip.ua import info_dtmf


def _exchange(ua, wire, data):
    wire.sent = []
    ua.feed(data, PEER)
    return wire.take()


def test_options_keepalive_gets_allow_and_accept():
    ua, clock, wire, events = make()
    ((r, to),) = _exchange(ua, wire, request("OPTIONS").replace(b"Max-Forwards: 70", b"Max-Forwards: 0"))
    assert r.status == 200 and to == PEER and "INVITE" in r.get("allow") and "application/sdp" in r.get("accept")
    assert r.get("supported") is None  # never an empty header (PEERS.md)


def test_notify_and_message_are_accepted_and_reported():
    ua, clock, wire, events = make()
    body = b"Messages-Waiting: yes\r\n"
    assert statuses(_exchange(ua, wire, request("NOTIFY", extra=(("Event", "message-summary"),), body=body))) == [200]
    assert events[-1] == ("notify", ("message-summary", body))
    msg = request("MESSAGE", extra=(("Content-Type", "text/plain"),))
    assert statuses(_exchange(ua, wire, msg)) == [200]
    assert events[-1][0] == "message" and events[-1][1][0] == "sip:alice@127.0.0.1"


def test_methods_we_do_not_take():
    ua, clock, wire, events = make()
    ((r, _),) = _exchange(ua, wire, request("SUBSCRIBE"))
    assert r.status == 405 and "BYE" in r.get("allow")
    assert statuses(_exchange(ua, wire, request("FOO"))) == [501]
    assert statuses(_exchange(ua, wire, request("BYE", to_tag="nope"))) == [481]
    assert statuses(_exchange(ua, wire, request("INFO"))) == [481]


def test_unknown_require_gets_420_with_unsupported():
    ua, clock, wire, events = make()
    ((r, _),) = _exchange(ua, wire, request("OPTIONS", extra=(("Require", "100rel, foo"),)))
    assert r.status == 420 and r.get("unsupported") == "100rel, foo"


def test_retransmitted_request_gets_the_same_response():
    ua, clock, wire, events = make()
    ((r1, _),) = _exchange(ua, wire, request("OPTIONS"))
    ((r2, _),) = _exchange(ua, wire, request("OPTIONS"))
    assert r1.to_bytes() == r2.to_bytes()


def test_malformed_input_gets_its_status_or_is_dropped_and_the_loop_lives():
    ua, clock, wire, events = make()
    bad_cseq = request("OPTIONS").replace(b"CSeq: 1 OPTIONS", b"CSeq: 99999999999 OPTIONS")
    assert statuses(_exchange(ua, wire, bad_cseq)) == [400]
    no_via = b"OPTIONS sip:door@127.0.0.1 SIP/2.0\r\nCall-ID: x\r\n\r\n"
    assert _exchange(ua, wire, no_via) == []  # nothing to address a response to
    v3 = request("OPTIONS").replace(b"OPTIONS sip:door@127.0.0.1:5062 SIP/2.0", b"OPTIONS sip:door@x SIP/3.0")
    assert statuses(_exchange(ua, wire, v3)) == [505]
    for junk in (b"", b"\r\n\r\n", b"\x00\xff" * 40, b"SIP/2.0 200 OK\r\n\r\n", b"INVITE"):
        assert _exchange(ua, wire, junk) == []
    assert ua.dropped >= 4 and statuses(_exchange(ua, wire, request("OPTIONS", cseq=7))) == [200]


def test_unknown_uri_scheme_and_unreadable_bodies():
    ua, clock, wire, events = make()
    assert statuses(_exchange(ua, wire, request("OPTIONS", uri="foo:bar"))) == [416]
    inv = request("INVITE", body=b"xyz", extra=(("Content-Type", "application/unknown"),))
    ((r, _),) = _exchange(ua, wire, inv)
    assert r.status == 415 and r.get("accept") == "application/sdp"
    inv = request("INVITE", cseq=2, extra=(("Accept", "text/nobodyKnowsThis"),))
    assert statuses(_exchange(ua, wire, inv)) == [406]


CASES = {
    "test_info_dtmf_bodies": [
        ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", "5"),
        ("application/dtmf-relay", "Signal= #\r\n", "#"),
        ("application/dtmf-relay", "Signal=11\r\n", "#"),
        ("application/dtmf", "*", "*"),
        ("application/dtmf-relay", "Duration=160\r\n", None),
        ("text/plain", "5", None),
        ("application/dtmf", "55", None),
    ]
}


def test_info_dtmf_bodies(case):
    ct, body, digit = case
    from mpsip.message import parse

    req = parse(request("INFO", extra=(("Content-Type", ct),), body=body.encode()))
    assert info_dtmf(req) == digit
