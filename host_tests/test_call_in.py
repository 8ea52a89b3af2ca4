# mprun-heap: 104K needs 100K: the process holds, beside the UA, the fakes, the scripted peer's
# parsed copies and the test code (~70 KB between tests); the UA itself runs its peer tests
# (Kamailio, SIPp, baresip) at the board's 96K: host_tests/peers/test_ua_peers.py (issue 3)
# Calls through the user agent, callee side, against a scripted peer on a fake wire, stepped
# clock: ringing, the answer retransmitted until the ACK, CANCEL, reject, re-INVITE, INFO, BYE,
# Timer C (the caller side: test_call.py).
from sipfakes import PEER, answer, methods, offer, request, statuses, step
from uafakes import REG, RR, deliver, incoming, make, sdp_answer, without_heap


def test_incoming_call_rings_and_is_answered_with_sdp_until_acked():
    ua, clock, wire, events = incoming()
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
    ua, clock, wire, events = incoming()
    c = ua.calls[0]
    c.answer()
    wire.sent = []
    step(clock, ua, 32100)
    assert "BYE" in methods(wire) and events[-1] == ("ended", "no-ack")


def test_caller_cancels_before_the_answer():
    ua, clock, wire, events = incoming()
    wire.sent = []
    deliver(ua, request("CANCEL", branch="z9hG4bKinvite1"), PEER)
    assert sorted(statuses(wire)) == [200, 487] and events[-1] == ("ended", "cancelled")
    deliver(ua, request("CANCEL", branch="z9hG4bKnothing", call_id="x"), PEER)
    assert statuses(wire) == [481]


def test_reject_sends_the_status_and_the_ack_is_absorbed():
    ua, clock, wire, events = incoming()
    c = ua.calls[0]
    c.reject(403)
    ((r, _),) = wire.take()[-1:]
    assert r.status == 403 and events[-1] == ("ended", "403")
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKinvite1"), PEER)
    step(clock, ua, 8000)
    assert wire.sent == []  # Timer G stopped by the ACK


def test_reinvite_for_hold_and_info_dtmf_in_the_dialog():
    ua, clock, wire, events = incoming()
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
    ua, clock, wire, events = incoming(body=b"")
    c = ua.calls[0]
    c.answer()
    ((ok, _),) = wire.take()[-1:]
    assert ok.status == 200 and b"m=audio 40000" in ok.body
    ack = request("ACK", to_tag=c.local_tag, branch="z9hG4bKack2", body=sdp_answer(ok, 30004))
    deliver(ua, ack, PEER)
    assert events[-1][0] == "connected" and events[-1][1].port == 30004


def test_a_registration_refresh_does_not_touch_a_call():
    ua, clock, wire, events = incoming()
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
    ua, clock, wire, events = incoming()
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
    ua, clock, wire, events = incoming()
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
    ua, clock, wire, events = incoming()
    without_heap(step, clock, ua, 180100, 1000)
    assert ua.calls == [] and ua.txs.table == {} and events[-1] == ("ended", "timeout")


def test_an_ended_call_is_not_kept_by_its_transactions():
    ua, clock, wire, events = incoming()
    c = ua.calls[0]
    c.answer()
    deliver(ua, request("ACK", to_tag=c.local_tag, branch="z9hG4bKack1"), PEER)
    deliver(ua, request("BYE", to_tag=c.local_tag, cseq=2), PEER)
    # 64*T1 of absorbing retransmissions ahead: key, timers and the bytes to send again only
    for t in ua.txs.table.values():
        assert t.req is None and t.data is None and t.cb is None
    assert c.endpoint is None and c.reason == "bye"
