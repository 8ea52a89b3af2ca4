# mprun-heap: 124K needs 116K: ~84 KB stays between tests (SDP ~10 KB with the first call; ~617
# qstrs, 620 open a sixth pool of ~7 KB) and a test peaks ~20-30 KB above that (issue 3)
# Calls through the user agent against a scripted peer on a fake wire, stepped clock:
# caller side (offer, ringing, early media, 200/ACK with the route set, CANCEL and its
# races, 407, failures) and callee side (answer, 2xx until ACK, CANCEL, 488, re-INVITE, BYE).
from sipfakes import PEER, answer, methods, offer, request, statuses, step
from uafakes import CHALLENGE, REG, deliver, make, verified, without_heap

from mpsip.message import parse

RR = (("Record-Route", "<sip:127.0.0.1:5060;lr>"), ("Record-Route", "<sip:10.0.0.2;lr>"))


def _outgoing():
    ua, clock, wire, events = make()
    c = ua.call("sip:alice@127.0.0.1")
    ((inv, to),) = wire.take()
    return ua, clock, wire, events, c, inv


def _sdp_answer(msg, port=30000):
    """The peer's answer to our offer: PCMU and telephone-event, written as its stack would."""
    assert b"m=audio 40000 RTP/AVP 0 8 101" in msg.body
    return offer(port, "0 101")


def test_invite_carries_an_offer_goes_to_the_registrar_and_183_brings_early_media():
    ua, clock, wire, events, c, inv = _outgoing()
    assert inv.method == "INVITE" and inv.uri.to_str() == "sip:alice@127.0.0.1"
    assert inv.get("content-type") == "application/sdp" and b"m=audio 40000 RTP/AVP 0 8 101" in inv.body
    assert inv.from_addr.tag == c.local_tag and inv.to_addr.tag is None and c.state == "calling"
    assert inv.contacts[0].uri.to_str() == "sip:door@127.0.0.1:5062"
    deliver(ua, answer(inv, 183, body=_sdp_answer(inv)), REG)
    assert c.state == "early" and events[-1][0] == "early" and c.neg.port == 30000


def test_ringing_then_200_ack_with_route_set_then_bye():
    ua, clock, wire, events, c, inv = _outgoing()
    deliver(ua, answer(inv, 100), REG)
    deliver(ua, answer(inv, 180, extra=RR), REG)
    assert c.state == "ringing" and events[-1] == ("ringing", 180)
    ok = answer(inv, 200, extra=RR + (("Contact", "<sip:alice@127.0.0.1:5080>"),), body=_sdp_answer(inv))
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
    ok = answer(inv, 200, body=_sdp_answer(inv))
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
    deliver(ua, answer(inv, 200, body=_sdp_answer(inv)), REG)  # RFC 3261 15: the 200 won the race
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
    ua, clock, wire, events = _incoming(body=bad)  # an offer we cannot answer
    assert statuses(wire) == [100, 488] and ua.calls == []


# --- callee side ----------------------------------------------------------------------------


def _incoming(body=None, extra=()):
    ua, clock, wire, events = make()
    deliver(ua, request("INVITE", body=offer() if body is None else body, extra=RR + tuple(extra)), PEER)
    return ua, clock, wire, events


def test_incoming_call_rings_and_is_answered_with_sdp_until_acked():
    ua, clock, wire, events = _incoming()
    sent = wire.take()
    assert statuses(sent) == [100, 180] and sent[0][1] == PEER
    assert events[-1][0] == "incoming"
    c = ua.calls[0]
    ring = sent[1][0]
    assert ring.to_addr.tag == c.local_tag and ring.get_all("record-route") == [v for _, v in RR]
    assert c.answer()
    ((ok, _),) = wire.take()
    assert ok.status == 200 and ok.contacts and b"m=audio 40000 RTP/AVP 0 101" in ok.body
    assert events[-1][0] == "connected" and events[-1][1].port == 30000
    step(clock, ua, 1600)
    assert statuses(wire) == [200, 200]  # 500 ms, 1.5 s: resent until the ACK
    ack = request("ACK", to_tag=c.local_tag, branch="z9hG4bKack1")
    deliver(ua, ack, PEER)
    step(clock, ua, 10000)
    assert wire.sent == [] and c.state == "connected"
    # the caller's BYE, routed by our route set (Record-Route in order, 12.1.1)
    assert c.route == [v for _, v in RR]
    deliver(ua, request("BYE", to_tag=c.local_tag, cseq=2), PEER)
    assert statuses(wire) == [200] and events[-1] == ("ended", "bye")


def test_no_ack_for_our_200_ends_the_call_with_bye():
    ua, clock, wire, events = _incoming()
    c = ua.calls[0]
    c.answer()
    wire.sent = []
    step(clock, ua, 32100)
    assert "BYE" in methods(wire) and events[-1] == ("ended", "no-ack")


def test_caller_cancels_before_the_answer():
    ua, clock, wire, events = _incoming()
    wire.sent = []
    deliver(ua, request("CANCEL", branch="z9hG4bKinvite1"), PEER)
    assert sorted(statuses(wire)) == [200, 487] and events[-1] == ("ended", "cancelled")
    deliver(ua, request("CANCEL", branch="z9hG4bKnothing", call_id="x"), PEER)
    assert statuses(wire) == [481]


def test_reject_sends_the_status_and_the_ack_is_absorbed():
    ua, clock, wire, events = _incoming()
    c = ua.calls[0]
    c.reject(403)
    ((r, _),) = wire.take()[-1:]
    assert r.status == 403 and events[-1] == ("ended", "403")
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKinvite1"), PEER)
    step(clock, ua, 8000)
    assert wire.sent == []  # Timer G stopped by the ACK


def test_reinvite_for_hold_and_info_dtmf_in_the_dialog():
    ua, clock, wire, events = _incoming()
    c = ua.calls[0]
    c.answer()
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKack1"), PEER)
    wire.sent = []
    held = offer(port=30002, extra="a=sendonly")
    deliver(ua, request("INVITE", to_tag=c.local_tag, cseq=2, body=held), PEER)
    ((ok, _),) = wire.take()
    assert ok.status == 200 and b"a=recvonly" in ok.body
    name, neg = events[-1]
    assert name == "media" and neg.port == 30002 and neg.held
    ok = None
    info = request(
        "INFO", to_tag=c.local_tag, cseq=3, extra=(("Content-Type", "application/dtmf-relay"),), body=b"Signal=7\r\n"
    )
    deliver(ua, info, PEER)
    assert statuses(wire) == [200] and events[-1] == ("dtmf", "7")
    deliver(ua, request("INVITE", to_tag=c.local_tag, cseq=1, branch="z9hG4bKold", body=held), PEER)  # CSeq went back
    assert statuses(wire) == [500]


def test_invite_without_sdp_gets_our_offer_and_the_answer_comes_in_the_ack():
    ua, clock, wire, events = _incoming(body=b"")
    c = ua.calls[0]
    c.answer()
    ((ok, _),) = wire.take()[-1:]
    assert ok.status == 200 and b"m=audio 40000" in ok.body
    ack = request("ACK", to_tag=c.local_tag, branch="z9hG4bKack2", body=_sdp_answer(ok, 30004))
    deliver(ua, ack, PEER)
    assert events[-1][0] == "connected" and events[-1][1].port == 30004


def test_a_registration_refresh_does_not_touch_a_call():
    ua, clock, wire, events = _incoming()
    ua.register()
    deliver(ua, answer(wire.last(), 200, extra=(("Expires", "100"),)), REG)
    c = ua.calls[0]
    c.answer()
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKack1"), PEER)
    wire.sent = []
    step(clock, ua, 60100)  # the refresh goes out, and fails
    r = wire.last()
    assert methods(wire) == ["REGISTER"]
    deliver(ua, answer(r, 503), REG)
    assert c.state == "connected" and ua.calls == [c]


def test_a_fork_of_a_ringing_invite_coming_back_gets_482():
    # RFC 3261 8.2.2.2: the same From tag, Call-ID and CSeq on another branch (a proxy
    # forked it and both branches reach us): 482; one call rings, not two.
    ua, clock, wire, events = _incoming()
    wire.sent = []
    deliver(ua, request("INVITE", branch="z9hG4bKfork2", body=offer(), extra=RR), PEER)
    assert statuses(wire) == [482] and len(ua.calls) == 1 and ua.calls[0].state == "incoming"


def test_memory_error_while_answering_an_invite_leaves_nothing_behind():
    ua, clock, wire, events = make()
    without_heap(deliver, ua, request("INVITE", body=offer()), PEER)
    # not even the 100 went out: as if the INVITE were lost, no call, no transaction
    assert wire.sent == [] and ua.calls == [] and ua.txs.table == {} and [e[0] for e in events] == ["error"]
    deliver(ua, request("INVITE", body=offer()), PEER)  # its retransmission rings
    assert statuses(wire) == [100, 180] and ua.calls[0].state == "incoming"


def test_an_invite_never_answered_ends_on_timer_c_with_487_and_a_failed_answer_too():
    # The app never answers, or answer() found no heap for the 200: the transaction keeps
    # a timer all the same (RFC 3261 16.6 Timer C, 3 minutes); the call ends then, and the
    # caller is told: 487, as RFC 3261 13.3.1 says for an invitation expired unanswered.
    ua, clock, wire, events = _incoming()
    c = ua.calls[0]
    try:
        without_heap(c.answer)
    except MemoryError:
        pass
    assert c.state == "incoming" and all(t.end for t in ua.txs.table.values())
    wire.sent = []
    step(clock, ua, 179000, 1000)
    assert ua.calls == [c] and wire.sent == []
    step(clock, ua, 1100, 100)
    assert ua.calls == [] and events[-1] == ("ended", "timeout") and statuses(wire) == [487]
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKinvite1"), PEER)  # 17.2.1
    step(clock, ua, 6000, 1000)  # Timer I
    assert ua.txs.table == {} and wire.sent == []
    # no heap for the 487 either: the call ends all the same, nothing is left
    ua, clock, wire, events = _incoming()
    without_heap(step, clock, ua, 180100, 1000)
    assert ua.calls == [] and ua.txs.table == {} and events[-1] == ("ended", "timeout")


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


def test_an_ended_call_is_not_kept_by_its_transactions():
    ua, clock, wire, events = _incoming()
    c = ua.calls[0]
    c.answer()
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKack1"), PEER)
    deliver(ua, request("BYE", to_tag=c.local_tag, cseq=2), PEER)
    # 64*T1 of absorbing retransmissions ahead: key, timers and the bytes to send again only
    for t in ua.txs.table.values():
        assert t.req is None and t.data is None and t.cb is None
    assert c.endpoint is None and c.reason == "bye"
