# mprun-heap: 144K the user agent, the message core and digest do not fit 96 KB together yet (issue 2/3 notes)
# Registration against a scripted registrar on a fake wire, stepped clock: digest after
# 401, refresh before the granted expiry, 423, back-off and Retry-After, the backup
# registrar, received/rport behind NAT, unregister.
from sipfakes import answer, methods, step
from uafakes import BACKUP, REG, _challenge, _registered, make

from mpsip import digest


def test_register_answers_the_digest_challenge_and_reports_the_granted_expiry():
    ua, clock, wire, events = make()
    ua.register()
    ((r1, to1),) = wire.take()
    assert r1.method == "REGISTER" and to1 == REG and r1.get("expires") == "600"
    assert r1.contacts[0].uri.to_str() == "sip:door@127.0.0.1:5062" and ";rport;" in r1.get("via")
    ua.feed(_challenge(r1), REG)
    ((r2, _),) = wire.take()
    cred = digest.parse_authorization(r2.get("authorization"))
    assert digest.verify(cred, "REGISTER", password="doorpw") and cred.uri == "sip:127.0.0.1"
    # RFC 3261 10.2.4: one Call-ID, CSeq rising; a new branch per request
    assert r2.call_id == r1.call_id and r2.cseq == r1.cseq + 1 and r2.top_via.branch != r1.top_via.branch
    ua.feed(answer(r2, 200, extra=(("Contact", "<sip:door@127.0.0.1:5062>;expires=120"),)), REG)
    assert events == [("registered", 120)] and ua.reg.state == "registered"


def test_refresh_before_the_granted_expiry_with_the_same_call_id():
    ua, clock, wire, events, req = _registered(granted=120)
    step(clock, ua, 79000)
    assert wire.sent == []
    step(clock, ua, 1100)  # 120 - 40 s: room for a timed-out attempt before expiry
    ((r, _),) = wire.take()
    assert r.method == "REGISTER" and r.call_id == req.call_id and r.cseq == req.cseq + 1


def test_short_grant_refreshes_at_half_time():
    ua, clock, wire, events, req = _registered(granted=60)
    step(clock, ua, 29000)
    assert wire.sent == []
    step(clock, ua, 1100)
    assert methods(wire.take()) == ["REGISTER"]


def test_wrong_password_is_not_retried_with_the_same_nonce():
    ua, clock, wire, events = make()
    ua.register()
    ua.feed(_challenge(wire.last()), REG)
    ua.feed(_challenge(wire.last()), REG)  # the same nonce again: refused
    assert events == [("registration-failed", "auth")] and ua.reg.state == "failed"
    wire.sent = []
    step(clock, ua, 59000)
    assert wire.sent == []
    step(clock, ua, 1100)
    assert methods(wire.take()) == ["REGISTER"]


def test_stale_nonce_is_answered_again():
    ua, clock, wire, events = make()
    ua.register()
    ua.feed(_challenge(wire.last(), "n1"), REG)
    ua.feed(_challenge(wire.last(), "n1", stale=True), REG)
    r = wire.last()
    assert digest.parse_authorization(r.get("authorization")).nonce == "n1" and events == []


def test_423_asks_again_with_min_expires():
    ua, clock, wire, events = make(expires=30)
    ua.register()
    ua.feed(answer(wire.last(), 423, extra=(("Min-Expires", "90"),)), REG)
    assert wire.last().get("expires") == "90" and events == []


def test_failures_back_off_and_retry_after_is_honoured():
    ua, clock, wire, events = make()
    ua.register()
    ua.feed(answer(wire.last(), 503), REG)
    assert events == [("registration-failed", "503")]
    wire.sent = []
    step(clock, ua, 4900)
    assert wire.sent == []
    step(clock, ua, 200)  # 5 s
    ua.feed(answer(wire.last(), 500), REG)
    wire.sent = []
    step(clock, ua, 9900)
    assert wire.sent == []
    step(clock, ua, 200)  # then 10 s
    ua.feed(answer(wire.last(), 503, extra=(("Retry-After", "120"),)), REG)
    wire.sent = []
    step(clock, ua, 119000)
    assert wire.sent == []
    step(clock, ua, 1100)
    assert methods(wire.take()) == ["REGISTER"]


def test_backup_registrar_while_the_primary_is_silent():
    ua, clock, wire, events = make(backup=BACKUP)
    ua.register()
    step(clock, ua, 32100)  # Timer F on the primary
    sent = wire.take()
    assert {a for _, a in sent} == {REG, BACKUP} and sent[-1][1] == BACKUP
    r = sent[-1][0]
    ua.feed(answer(r, 200, extra=(("Expires", "300"),)), BACKUP)
    assert events == [("registered", 300)] and ua.reg.server() == BACKUP
    step(clock, ua, 260100)  # refresh: the primary is tried first
    assert wire.take()[0][1] == REG
    step(clock, ua, 32100)  # still silent: the backup, before the binding expires
    assert wire.take()[-1][1] == BACKUP


def test_transport_error_is_a_failure_with_back_off():
    ua, clock, wire, events = make()
    wire.up = False
    ua.register()
    assert events == [("registration-failed", "transport")]
    wire.up = True
    step(clock, ua, 5100)
    assert methods(wire.take()) == ["REGISTER"]


def test_contact_follows_received_and_rport_behind_nat():
    ua, clock, wire, events = make()
    ua.register()
    r = wire.last()
    via = r.get("via").replace(";rport", ";received=203.0.113.7;rport=40123")
    r.set("via", via)
    ua.feed(answer(r, 200), REG)
    r2 = wire.last()
    assert r2.contacts[0].uri.to_str() == "sip:door@203.0.113.7:40123" and events == []
    ua.feed(answer(r2, 200), REG)
    assert events == [("registered", 600)]


def test_unregister_sends_expires_zero():
    ua, clock, wire, events, req = _registered()
    ua.unregister()
    r = wire.last()
    assert r.get("expires") == "0" and r.call_id == req.call_id
    ua.feed(answer(r, 200), REG)
    assert events[-1] == ("unregistered", None)
