# Registration against a scripted registrar on a fake wire, stepped clock: digest after
# 401, refresh before the granted expiry, 423, back-off and Retry-After, the backup
# registrar, received/rport behind NAT, unregister.
from sipfakes import answer, methods, step
from uafakes import BACKUP, REG, _challenge, _registered, deliver, make, verified, without_heap

from mpsip.message import parse


def test_register_answers_the_digest_challenge_and_reports_the_granted_expiry():
    ua, clock, wire, events = make()
    ua.register()
    ((r1, to1),) = wire.take()
    assert r1.method == "REGISTER" and to1 == REG and r1.get("expires") == "600"
    assert r1.contacts[0].uri.to_str() == "sip:door@127.0.0.1:5062" and ";rport;" in r1.get("via")
    deliver(ua, _challenge(r1), REG)
    ((r2, _),) = wire.take()
    # RFC 3261 10.2.4: one Call-ID, CSeq rising; a new branch per request
    assert r2.call_id == r1.call_id and r2.cseq == r1.cseq + 1 and r2.top_via.branch != r1.top_via.branch
    deliver(ua, answer(r2, 200, extra=(("Contact", "<sip:door@127.0.0.1:5062>;expires=120"),)), REG)
    assert events == [("registered", 120)] and ua.reg.state == "registered"
    assert verified(r2.get("authorization"), "REGISTER", "sip:127.0.0.1")
    assert not verified(r2.get("authorization"), "INVITE", "sip:127.0.0.1")  # the check can fail


def test_refresh_before_the_granted_expiry_with_the_same_call_id():
    ua, clock, wire, events, req = _registered(granted=120)
    step(clock, ua, 79000)
    assert wire.sent == []
    step(clock, ua, 1100)  # 120 - 40 s: room for a timed-out attempt before expiry
    ((r, _),) = wire.take()
    req = parse(req)
    assert r.method == "REGISTER" and r.call_id == req.call_id and r.cseq == req.cseq + 1


def test_short_grant_refreshes_at_half_time():
    ua, clock, wire, events, req = _registered(granted=60)
    step(clock, ua, 29000)
    assert wire.sent == []
    step(clock, ua, 1100)
    assert methods(wire) == ["REGISTER"]


def test_wrong_password_is_not_retried_with_the_same_nonce():
    ua, clock, wire, events = make()
    ua.register()
    deliver(ua, _challenge(wire.last()), REG)
    deliver(ua, _challenge(wire.last()), REG)  # the same nonce again: refused
    assert events == [("registration-failed", "auth")] and ua.reg.state == "failed"
    wire.sent = []
    step(clock, ua, 59000)
    assert wire.sent == []
    step(clock, ua, 1100)
    assert methods(wire) == ["REGISTER"]


def test_stale_nonce_is_answered_again():
    ua, clock, wire, events = make()
    ua.register()
    deliver(ua, _challenge(wire.last(), "n1"), REG)
    deliver(ua, _challenge(wire.last(), "n1", stale=True), REG)
    r = wire.last()
    assert 'nonce="n1"' in r.get("authorization") and events == []


def test_no_heap_to_answer_the_challenge_retries_after_the_back_off():
    from mpsip.message import Request

    ua, clock, wire, events = make()
    ua.register()
    without_heap(deliver, ua, _challenge(wire.last()), REG, cls=Request)
    # the REGISTER with credentials could not be built: a failure with a timer, not a
    # registration waiting for nothing
    assert ua.reg.state == "failed" and events == [("registration-failed", "heap")]
    assert all(t.end for t in ua.txs.table.values())
    wire.sent = []
    step(clock, ua, 5100)  # the first back-off
    r = wire.last()
    assert methods(wire) == ["REGISTER"]
    # no heap for what the 2xx needs (mpsip.regrare) either: the same, not a lost timer
    from mpsip import register

    def no_heap(name):
        raise MemoryError

    saved = register.load
    register.load = no_heap
    try:
        deliver(ua, answer(r, 200), REG)
    finally:
        register.load = saved
    assert ua.reg.state == "failed" and ua.reg.due is not None and events[-1][1] == "heap"


def test_423_asks_again_with_min_expires():
    ua, clock, wire, events = make(expires=30)
    ua.register()
    deliver(ua, answer(wire.last(), 423, extra=(("Min-Expires", "90"),)), REG)
    assert wire.last().get("expires") == "90" and events == []


def test_failures_back_off_and_retry_after_is_honoured():
    ua, clock, wire, events = make()
    ua.register()
    deliver(ua, answer(wire.last(), 503), REG)
    assert events == [("registration-failed", "503")]
    wire.sent = []
    step(clock, ua, 4900)
    assert wire.sent == []
    step(clock, ua, 200)  # 5 s
    deliver(ua, answer(wire.last(), 500), REG)
    wire.sent = []
    step(clock, ua, 9900)
    assert wire.sent == []
    step(clock, ua, 200)  # then 10 s
    deliver(ua, answer(wire.last(), 503, extra=(("Retry-After", "120"),)), REG)
    wire.sent = []
    step(clock, ua, 119000)
    assert wire.sent == []
    step(clock, ua, 1100)
    assert methods(wire) == ["REGISTER"]


def test_backup_registrar_while_the_primary_is_silent():
    ua, clock, wire, events = make(backup=BACKUP)
    ua.register()
    step(clock, ua, 32100)  # Timer F on the primary
    r = wire.last()
    sent = wire.addrs()
    assert REG in sent and sent[-1] == BACKUP
    deliver(ua, answer(r, 200, extra=(("Expires", "300"),)), BACKUP)
    assert events == [("registered", 300)] and ua.reg.server() == BACKUP
    step(clock, ua, 260100)  # refresh: the primary is tried first
    assert wire.addrs()[0] == REG
    step(clock, ua, 32100)  # still silent: the backup, before the binding expires
    assert wire.addrs()[-1] == BACKUP


def test_transport_error_is_a_failure_with_back_off():
    ua, clock, wire, events = make()
    wire.up = False
    ua.register()
    assert events == [("registration-failed", "transport")]
    wire.up = True
    step(clock, ua, 5100)
    assert methods(wire) == ["REGISTER"]


def test_contact_follows_received_and_rport_behind_nat():
    ua, clock, wire, events = make()
    ua.register()
    r = wire.last()
    via = r.get("via").replace(";rport", ";received=203.0.113.7;rport=40123")
    r.set("via", via)
    deliver(ua, answer(r, 200), REG)
    r2 = wire.last()
    assert r2.contacts[0].uri.to_str() == "sip:door@203.0.113.7:40123" and events == []
    deliver(ua, answer(r2, 200), REG)
    assert events == [("registered", 600)]


def test_unregister_sends_expires_zero():
    ua, clock, wire, events, req = _registered()
    ua.unregister()
    r = wire.last()
    assert r.get("expires") == "0" and b"Call-ID: " + r.call_id.encode() in req
    deliver(ua, answer(r, 200), REG)
    assert events[-1] == ("unregistered", None)


def test_a_register_without_credentials_may_meet_the_nonce_again():
    # The refusal of a second challenge for the same nonce is for credentials we sent: the
    # REGISTER after the NAT fix-up carries none, and Kamailio challenges it with the nonce
    # it gave before (its last for their lifetime): that is answered, not a refusal.
    ua, clock, wire, events = make()
    ua.register()
    deliver(ua, _challenge(wire.last(), "n1"), REG)
    r = wire.last()
    r.set("via", r.get("via").replace(";rport", ";received=203.0.113.7;rport=40123"))
    r = answer(r, 200)  # (one parsed message at a time: the heap is the board's)
    deliver(ua, r, REG)
    r = wire.last()
    assert r.contacts[0].uri.to_str() == "sip:door@203.0.113.7:40123" and r.get("authorization") is None
    r = _challenge(r, "n1")
    deliver(ua, r, REG)
    r = wire.last()
    assert 'nonce="n1"' in r.get("authorization") and events == []
    r = answer(r, 200)
    deliver(ua, r, REG)
    assert events == [("registered", 600)]


def test_back_on_the_primary_the_backup_binding_is_removed():
    ua, clock, wire, events = make(backup=BACKUP)
    ua.register()
    step(clock, ua, 32100)  # the primary is silent: the backup takes us
    deliver(ua, answer(wire.last(), 200, extra=(("Expires", "300"),)), BACKUP)
    wire.sent = []
    step(clock, ua, 260100)  # the refresh goes to the primary, which answers now
    r = wire.last()
    assert wire.addrs() == [REG]
    deliver(ua, answer(r, 200, extra=(("Expires", "300"),)), REG)
    assert events[-1] == ("registered", 300) and ua.reg.server() == REG
    # RFC 3261 10.2.2: Expires 0 to the backup, on our Call-ID with the CSeq rising
    ((u, to),) = wire.take()
    assert to == BACKUP and u.get("expires") == "0" and u.call_id == r.call_id and u.cseq == r.cseq + 1
    r = None  # (the parsed messages the test holds cost the heap the board has)
    u = _challenge(u, "b1")
    deliver(ua, u, BACKUP)  # the backup wants credentials for it too
    ((u, to),) = wire.take()
    assert to == BACKUP and u.get("expires") == "0" and 'nonce="b1"' in u.get("authorization")
    u = answer(u, 200)
    deliver(ua, u, BACKUP)
    assert wire.sent == [] and events[-1] == ("registered", 300) and ua.reg.state == "registered"
    step(clock, ua, 260100)  # the next refresh: the primary, and no more backup business
    assert wire.addrs() == [REG]


def test_digest_auth_and_rare_are_dropped_after_use():
    # Loaded for a challenge (digest, auth) or a 2xx's details (rare) and forgotten by the
    # first poll() that needs them not: in sys.modules and on the package, or their ~11,
    # ~1 and ~6 KB would stay.
    import sys

    import mpsip

    saved = sys.modules.pop("mpsip.digest", None)  # pytest: another test file may hold it loaded
    if hasattr(mpsip, "digest"):
        delattr(mpsip, "digest")
    try:
        ua, clock, wire, events, req = _registered()
        assert b'nonce="n1"' in req and b"Authorization: " in req and events[-1][0] == "registered"
        for name in ("digest", "auth", "rare", "regrare"):
            assert "mpsip." + name not in sys.modules and not hasattr(mpsip, name)
    finally:
        if saved is not None:
            sys.modules["mpsip.digest"] = saved
            mpsip.digest = saved
