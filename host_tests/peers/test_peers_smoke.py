"""The peer harness works on its own: Kamailio, baresip and SIPp on 127.0.0.1 (CPython only).

These tests prove the tools the user-agent tests will stand on, so a failure there points at the UA:
digest challenges from Kamailio, a real call between two baresip phones through it (audio both
ways, DTMF, hangup), registrar restart, the SIPp scenarios in tools/sipp/ run against baresip, and
a phone behind tools/lossy_relay.py. Missing peers skip (or fail with MPSIP_REQUIRE_PEERS=1).
"""

import socket
import time

import pytest

from tools import peers
from tools.lossy_relay import LossyRelay

from .conftest import USERS

TONE_A, TONE_B = 440, 600  # below ~600 Hz sox's "Rough frequency" is within 1% at 8 kHz


def within(value, target, tolerance=0.02):
    return value is not None and abs(value - target) <= tolerance * target


# ---------------------------------------------------------------- harness basics


def test_require_skips_or_fails_a_missing_peer(monkeypatch):
    monkeypatch.delenv("MPSIP_REQUIRE_PEERS", raising=False)
    with pytest.raises(pytest.skip.Exception):
        peers.require("no-such-peer")
    monkeypatch.setenv("MPSIP_REQUIRE_PEERS", "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-peer"):
        peers.require("no-such-peer")


def test_free_ports_bind_for_udp_and_tcp_and_never_repeat():
    seen = set()
    for _ in range(20):
        base = peers.free_ports(2)
        assert base not in seen and base + 1 not in seen
        seen.update((base, base + 1))
        socks = [socket.socket(socket.AF_INET, kind) for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM)]
        try:
            for s in socks:
                s.bind(("127.0.0.1", base + 1))
        finally:
            for s in socks:
                s.close()


# ---------------------------------------------------------------- Kamailio


def test_kamailio_challenges_register_with_401_and_invite_with_407(kamailio):
    reply = peers.sip_request(kamailio.port, "REGISTER", user="alice")
    assert peers.status_of(reply) == 401
    www = peers.header_of(reply, "WWW-Authenticate")
    assert www.startswith("Digest ") and 'realm="127.0.0.1"' in www and 'qop="auth"' in www

    reply = peers.sip_request(kamailio.port, "INVITE", ruri="sip:bob@127.0.0.1:%d" % kamailio.port, user="alice")
    assert peers.status_of(reply) == 407
    assert 'qop="auth"' in peers.header_of(reply, "Proxy-Authenticate")
    assert kamailio.contacts("alice") == []


def test_kamailio_restarts_on_the_same_port_with_an_empty_location_table(kamailio):
    kamailio.bind("carol", "sip:carol@127.0.0.1:5999")
    assert kamailio.contacts("carol") == ["sip:carol@127.0.0.1:5999"]
    port = kamailio.port
    kamailio.stop()
    assert peers.sip_request(port, "OPTIONS", timeout=0.1, tries=2) is None  # the outage is real
    kamailio.start()
    assert kamailio.port == port
    assert peers.status_of(peers.sip_request(port, "OPTIONS")) == 200
    assert kamailio.contacts("carol") == []  # usrloc is in memory: clients must re-register


# ---------------------------------------------------------------- two phones


def test_two_phones_call_through_kamailio_with_audio_both_ways_and_dtmf(kamailio, phone):
    alice = phone("alice", tone_hz=TONE_A)
    bob = phone("bob", tone_hz=TONE_B)
    # Registered means the digest exchange passed: Kamailio holds one contact each.
    (contact,) = kamailio.contacts("alice")
    assert contact.endswith("@127.0.0.1:%d" % alice.sip_port)
    assert len(kamailio.contacts("bob")) == 1

    alice.dial("bob")
    assert alice.wait_event("CALL_ESTABLISHED", 5)["peeruri"].startswith("sip:bob@")
    assert bob.wait_event("CALL_ESTABLISHED", 5)["peeruri"].startswith("sip:alice@")

    time.sleep(0.5)  # audio flowing both ways before the DTMF
    alice.send_dtmf("7")
    assert bob.wait_event("CALL_DTMF_START", 3)["param"] == "7"
    time.sleep(1.0)

    alice.hangup()
    alice.wait_event("CALL_CLOSED", 5)
    bob.wait_event("CALL_CLOSED", 5)

    (heard_by_bob,) = bob.recordings("dec")
    (heard_by_alice,) = alice.recordings("dec")
    assert within(peers.rough_frequency(heard_by_bob, trim_start=0.2), TONE_A)
    assert within(peers.rough_frequency(heard_by_alice, trim_start=0.2), TONE_B)
    assert peers.sox_stat(heard_by_bob)["Length (seconds)"] > 1.0


# ---------------------------------------------------------------- SIPp scenarios against baresip


def _sipp_ok(s):
    rc = s.run()
    assert rc == 0, s.report()
    assert s.stats().get("SuccessfulCall(C)") == "1", s.report()


def test_uac_cancel_scenario_cancels_a_ringing_baresip(kamailio, phone, sipp):
    bob = phone("bob", answermode="manual")
    s = sipp(
        "uac_cancel.xml",
        remote="127.0.0.1:%d" % kamailio.port,
        extra_args=["-s", "bob", "-au", "alice", "-ap", USERS["alice"]],
        keys={"caller": "alice"},
        timeout=20,
    )
    _sipp_ok(s)
    assert bob.wait_event("CALL_INCOMING", 2)
    bob.wait_event("CALL_CLOSED", 2)
    assert "SIP/2.0 487" in s.messages()


@pytest.mark.parametrize("scenario,status", [("uas_486.xml", "486 Busy Here"), ("uas_603.xml", "603 Decline")])
def test_uas_rejecting_scenarios_end_a_baresip_call(kamailio, phone, sipp, scenario, status):
    alice = phone("alice")
    s = sipp(scenario, timeout=20).start()
    kamailio.bind("carol", "sip:carol@127.0.0.1:%d" % s.port)
    alice.dial("carol")
    assert alice.wait_event("CALL_CLOSED", 10)["param"] == status
    assert s.wait() == 0, s.report()
    if scenario == "uas_603.xml":
        assert "CALL_RINGING" in alice.event_types()


def test_uac_hold_scenario_holds_and_resumes_baresip(kamailio, phone, sipp):
    phone("bob")
    s = sipp(
        "uac_hold.xml",
        remote="127.0.0.1:%d" % kamailio.port,
        extra_args=["-s", "bob", "-au", "alice", "-ap", USERS["alice"]],
        keys={"caller": "alice"},
        timeout=20,
    )
    _sipp_ok(s)
    assert "a=recvonly" in s.messages()  # baresip's answer to the hold


def test_uas_registrar_scenario_accepts_the_right_digest_only(sipp):
    peers.require("baresip")
    for password, ok in ((USERS["alice"], True), ("wrong", False)):
        s = sipp("uas_registrar.xml", keys={"user": "alice", "password": USERS["alice"], "expires": 60}, timeout=10)
        s.start()
        p = peers.Baresip("alice", password, s.port)  # registers to SIPp, not to Kamailio
        try:
            if ok:
                p.start(timeout=5)
            else:
                with pytest.raises(peers.PeerError):
                    p.start(timeout=2)
        finally:
            p.cleanup()
        assert (s.wait() == 0) is ok, s.report()
    assert "Expires: 60" in s.messages() or not ok


def test_uac_flood_scenario_leaves_baresip_answering_options(phone, sipp):
    bob = phone("bob")
    s = sipp("uac_flood.xml", remote="127.0.0.1:%d" % bob.sip_port, extra_args=["-s", "bob"], timeout=30)
    _sipp_ok(s)
    assert s.messages().count("UDP message sent") >= 1001
    assert bob.running() and bob.registered()


def test_uac_no_ack_scenario_gets_a_bye_after_64_t1(kamailio, phone, sipp):
    phone("bob")
    s = sipp(
        "uac_no_ack.xml",
        remote="127.0.0.1:%d" % kamailio.port,
        extra_args=["-s", "bob", "-au", "alice", "-ap", USERS["alice"]],
        keys={"caller": "alice"},
        timeout=60,
    )
    _sipp_ok(s)
    assert 31.0 <= s.stat_seconds("ResponseTime1(C)") <= 34.0


# ---------------------------------------------------------------- a phone behind the lossy relay


def test_phone_behind_the_relay_registers_and_takes_a_call_in_pcma(started, phone):
    peers.require("kamailio")
    kam = started.add(peers.Kamailio(USERS, nat=True, workdir=started.dir("kamailio-nat"))).start()
    relay = LossyRelay(("127.0.0.1", 0), ("127.0.0.1", kam.port), seed=1).start()
    try:
        alice = phone("alice", registrar_port=kam.port, outbound=relay.listen, codec="pcma")
        bob = phone("bob", registrar_port=kam.port, codec="pcma")
        bob.dial("alice")
        alice.wait_event("CALL_ESTABLISHED", 5)
        bob.wait_event("CALL_ESTABLISHED", 5)
        bob.hangup()
        alice.wait_event("CALL_CLOSED", 5)
        c = relay.counters()
    finally:
        relay.stop()
    # REGISTER x2 and the answers went up; the INVITE from Kamailio came down through the relay.
    assert c["up"]["forwarded"] >= 4 and c["down"]["forwarded"] >= 4
    assert b"INVITE sip:alice" in open(kam.log_path, "rb").read()
    assert "Set audio decoder: PCMA" in alice.log()
