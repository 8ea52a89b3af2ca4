# mprun-heap: 112K needs 108K: the process holds, beside the UA, the fakes, the scripted peer's
# parsed copies and the test code (~70 KB between tests); the UA itself runs its peer tests
# (Kamailio, SIPp, baresip) at the board's 96K: host_tests/peers/test_ua_peers.py (issue 3)
# Calls through the user agent against a scripted peer on a fake wire, stepped clock: the
# caller side (offer, ringing, early media, 200/ACK with the route set, CANCEL and its races,
# 407, failures); the callee side is test_call_in.py (two files: each process holds less
# test code beside the firmware in the 96K heap).
from sipfakes import PEER, answer, methods, offer, request, statuses, step
from uafakes import CHALLENGE, REG, RR, deliver, incoming, make, sdp_answer, verified

from mpsip.message import parse


def _outgoing():
    ua, clock, wire, events = make()
    c = ua.call("sip:alice@127.0.0.1")
    ((inv, to),) = wire.take()
    return ua, clock, wire, events, c, inv


def test_invite_carries_an_offer_goes_to_the_registrar_and_183_brings_early_media():
    ua, clock, wire, events, c, inv = _outgoing()
    assert inv.method == "INVITE" and inv.uri.to_str() == "sip:alice@127.0.0.1"
    assert inv.get("content-type") == "application/sdp" and b"m=audio 40000 RTP/AVP 0 8 101" in inv.body
    assert inv.from_addr.tag == c.local_tag and inv.to_addr.tag is None and c.state == "calling"
    assert inv.contacts[0].uri.to_str() == "sip:door@127.0.0.1:5062"
    deliver(ua, answer(inv, 183, body=sdp_answer(inv)), REG)
    assert c.state == "early" and events[-1][0] == "early" and c.neg.port == 30000


def test_ringing_then_200_ack_with_route_set_then_bye():
    ua, clock, wire, events, c, inv = _outgoing()
    deliver(ua, answer(inv, 100), REG)
    deliver(ua, answer(inv, 180, extra=RR), REG)
    assert c.state == "ringing" and events[-1] == ("ringing", 180)
    ok = answer(inv, 200, extra=RR + (("Contact", "<sip:alice@127.0.0.1:5080>"),), body=sdp_answer(inv))
    deliver(ua, ok, REG)
    ((ack, to),) = wire.take()
    # 13.2.2.4 / 12.1.2: the ACK is in the dialog: To tag, the INVITE's CSeq, a new branch,
    # the Record-Route reversed as Route, the R-URI the Contact, sent to the first route
    assert ack.method == "ACK" and ack.to_addr.tag == "peer1" and ack.cseq == inv.cseq
    assert ack.top_via.branch != inv.top_via.branch and ack.uri.to_str() == "sip:alice@127.0.0.1:5080"
    assert ack.get_all("route") == ["<sip:10.0.0.2;lr>", "<sip:127.0.0.1:5060;lr>"] and to == ("10.0.0.2", 5060)
    assert c.state == "connected" and events[-1][0] == "connected"
    neg = events[-1][1]
    assert neg.codec == "PCMU" and neg.port == 30000 and neg.dtmf_pt == 101
    deliver(ua, ok, REG)  # the 200 again (our ACK was lost): the same ACK again
    route = ack.get_all("route")
    ack = ack.to_bytes()
    assert wire.sent == [(ack, to)]
    wire.sent = []
    c.hangup()
    ((bye, to),) = wire.take()
    assert bye.method == "BYE" and bye.cseq == inv.cseq + 1 and bye.get_all("route") == route
    assert c.state == "ended" and c.reason == "hangup" and events[-1] == ("ended", "hangup")
    deliver(ua, answer(bye, 200), ("10.0.0.2", 5060))
    assert ua.calls == []
    # RFC 6026 7.2: for Timer M the INVITE's transaction keeps our ACK and where it went,
    # not the call; the 200 once more is ACKed once more
    assert c.itx.cb is None and c.itx.data is None and c.itx.req is None
    deliver(ua, ok, REG)
    assert wire.sent == [(ack, to)]


def test_the_200_retransmitted_after_the_transaction_ended_is_acked_again():
    ua, clock, wire, events, c, inv = _outgoing()
    ok = answer(inv, 200, body=sdp_answer(inv))
    deliver(ua, ok, REG)
    wire.sent = []
    step(clock, ua, 33000)  # Timer M gone
    deliver(ua, ok, REG)
    assert methods(wire) == ["ACK"]


def test_hangup_while_ringing_cancels_and_the_487_is_acked():
    ua, clock, wire, events, c, inv = _outgoing()
    deliver(ua, answer(inv, 180), REG)
    c.hangup()
    ((cancel, to),) = wire.take()
    # 9.1: the INVITE's R-URI, branch, From, To (no tag), Call-ID and CSeq number
    assert cancel.method == "CANCEL" and cancel.top_via.branch == inv.top_via.branch and to == REG
    assert cancel.cseq == inv.cseq and cancel.to_addr.tag is None and cancel.uri == inv.uri
    assert events[-1] == ("ended", "cancelled")
    deliver(ua, answer(cancel, 200), REG)
    deliver(ua, answer(inv, 487), REG)
    ((ack, _),) = wire.take()
    assert ack.method == "ACK" and ack.top_via.branch == inv.top_via.branch


def test_cancel_waits_for_a_provisional_response_and_a_200_crossing_it_is_acked_then_byed():
    ua, clock, wire, events, c, inv = _outgoing()
    c.hangup()  # nothing heard yet: RFC 3261 9.1 forbids CANCEL now
    assert wire.sent == [] and c.state == "ended"
    deliver(ua, answer(inv, 100), REG)
    assert methods(wire) == ["CANCEL"]
    deliver(ua, answer(inv, 200, body=sdp_answer(inv)), REG)  # RFC 3261 15: the 200 won the race
    assert methods(wire) == ["ACK", "BYE"]
    assert [e for e in events if e[0] == "connected"] == []


def test_407_is_answered_once_with_credentials():
    ua, clock, wire, events, c, inv = _outgoing()
    ch = CHALLENGE % ("nx", "")
    deliver(ua, answer(inv, 407, extra=(("Proxy-Authenticate", ch),)), REG)
    inv2 = parse(wire.sent[-1][0])  # only what is checked is parsed: the heap is the board's
    assert methods(wire) == ["ACK", "INVITE"]
    assert inv2.cseq == inv.cseq + 1 and inv2.call_id == inv.call_id and inv2.from_addr.tag == inv.from_addr.tag
    inv = None
    deliver(ua, answer(inv2, 407, extra=(("Proxy-Authenticate", ch),)), REG)
    assert events[-1] == ("ended", "407")
    cred = inv2.get("proxy-authorization")
    inv2 = None
    assert verified(cred, "INVITE", "sip:alice@127.0.0.1")


CASES = {"test_failure_outcomes": [404, 408, 480, 486, 603, 0]}


def test_failure_outcomes(case):
    status = case  # 0: no answer at all
    ua, clock, wire, events, c, inv = _outgoing()
    if status == 0:
        step(clock, ua, 32100)  # Timer B
        assert events[-1] == ("ended", "timeout")
        return
    deliver(ua, answer(inv, status), REG)
    assert events[-1] == ("ended", str(status)) and methods(wire) == ["ACK"]


def test_no_common_codec_ends_the_call_with_bye_or_gets_488():
    bad = offer(codecs="9").replace(b"a=rtpmap:0 PCMU/8000\r\n", b"a=rtpmap:9 G722/8000\r\n")
    ua, clock, wire, events, c, inv = _outgoing()  # our offer, an answer we cannot use
    deliver(ua, answer(inv, 200, body=bad), REG)
    assert methods(wire) == ["ACK", "BYE"] and events[-1] == ("ended", "488")
    ua, clock, wire, events = incoming(body=bad)  # an offer we cannot answer
    assert statuses(wire) == [100, 488] and ua.calls == []


def test_our_own_calls_never_make_us_refuse_and_a_full_table_never_stops_a_hangup_nor_close():
    ua, clock, wire, events = make(max_tx=2)
    calls = [ua.call(u) for u in ("sip:a@127.0.0.1", "sip:b@127.0.0.1", "sip:c@127.0.0.1")]
    wire.sent = []  # three INVITEs of ours at work
    deliver(ua, request("INVITE", body=offer()), PEER)
    assert statuses(wire) == [100, 180]  # not 503
    c = ua.calls[-1]
    c.answer()
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKack1"), PEER)
    for i in range(2):  # the server side full of requests at work
        deliver(ua, request("MESSAGE", call_id=str(i), branch="z9hG4bK" + str(i)), PEER)
    wire.sent = []
    c.hangup()
    assert methods(wire) == ["BYE"] and c.reason == "hangup"
    ua.close()  # every call ends (close() skipped every second one once)
    assert ua.calls == [] and [c.reason for c in calls] == ["cancelled"] * 3


def test_a_response_again_after_its_transaction_went_early_is_acked_by_the_call_or_dropped():
    # Beyond the bound on our finished transactions (transaction.py shed) the one nearest its
    # end goes: a retransmitted 407 then meets none (dropped: no ACK, no second INVITE), a
    # retransmitted 200 goes to the call (ACKed again while it lasts, dropped once it ended).
    from mpsip.transaction import TERMINATED

    ua, clock, wire, events, c, inv = _outgoing()
    ch = answer(inv, 407, extra=(("Proxy-Authenticate", CHALLENGE % ("nx", "")),))
    deliver(ua, ch, REG)
    first = ua.txs.match(parse(ch))
    inv = parse(wire.sent[-1][0])
    ok = answer(inv, 200, body=sdp_answer(inv))
    inv = None
    deliver(ua, ok, REG)
    ack = wire.sent[-1]
    assert c.state == "connected"
    for u in ("sip:b@127.0.0.1", "sip:c@127.0.0.1", "sip:d@127.0.0.1", "sip:e@127.0.0.1"):
        wire.sent = []
        clock.t += 10  # (the one nearest its end goes: the first ones here)
        b = ua.call(u)  # a burst of calls, each refused
        deliver(ua, answer(wire.last(), 486), REG)
        assert b.state == "ended"
    assert first.state == TERMINATED and c.itx.state == TERMINATED  # both went early
    wire.sent = []
    dropped = ua.dropped
    deliver(ua, ch, REG)
    assert wire.sent == [] and c.state == "connected" and ua.dropped == dropped + 1
    deliver(ua, ok, REG)
    assert wire.sent == [ack]
    c.hangup()
    wire.sent = []
    deliver(ua, ok, REG)
    assert wire.sent == [] and ua.dropped == dropped + 2


def test_their_bye_is_taken_with_the_table_full_of_requests_at_work():
    ua, clock, wire, events = make(max_tx=2)  # (the board's 16 parsed INVITEs: 60 KB)
    c = ua.call("sip:alice@127.0.0.1")
    inv = wire.last()
    deliver(ua, answer(inv, 200, body=sdp_answer(inv)), REG)
    inv = None
    for i in range(2):  # the server side full of requests at work (no answer yet)
        ua.txs.server(parse(request("INVITE", call_id="x%d" % i, branch="z9hG4bKx%d" % i)), PEER)
    wire.sent = []
    deliver(ua, request("BYE", call_id=c.call_id, ftag="peer1", to_tag=c.local_tag, cseq=2), PEER)
    assert statuses(wire) == [200] and c.state == "ended" and c.reason == "bye"
