"""tools/proxy.py between real peers on 127.0.0.1 (CPython only): SIPp and baresip register through
it with digest and call each other through it.

The SIPp callee registers itself from the port calls must reach (proxy_uas_register.xml) and answers
them in its out-of-call scenario, which also checks what the proxy did to the INVITE (Via, rport,
Record-Route, Max-Forwards) or, for a CANCEL, that CANCEL and ACK carry the INVITE's branch.
Missing peers skip (or fail with MPSIP_REQUIRE_PEERS=1).
"""

import os
import subprocess
import sys

import pytest

from tools import peers
from tools.proxy import LoopbackProxy

from .conftest import USERS


@pytest.fixture
def proxy(started):
    """tools/proxy.py as a child process on a free port, with the test accounts."""
    return started.add(LoopbackProxy(USERS, workdir=started.dir("proxy"))).start()


def _callee(sipp, proxy, ooc, calls=1):
    """A SIPp callee registered as carol through the proxy, its calls handled by `ooc`."""
    s = sipp(
        "proxy_uas_register.xml",
        remote="127.0.0.1:%d" % proxy.port,
        extra_args=["-oocsf", os.path.join(peers.SCENARIOS, ooc), "-au", "carol", "-ap", USERS["carol"]],
        keys={"user": "carol", "expires": 300, "calls": calls},
        timeout=15,
    ).start()
    line = proxy.wait_line("PROXY registered carol", 5)
    assert line == "PROXY registered carol contact=<sip:carol@127.0.0.1:%d> expires=300" % s.port
    return s


def _caller(sipp, proxy, scenario):
    return sipp(
        scenario,
        remote="127.0.0.1:%d" % proxy.port,
        extra_args=["-s", "carol", "-au", "alice", "-ap", USERS["alice"]],
        keys={"caller": "alice"},
        timeout=15,
    )


def test_proxy_answers_options_challenges_register_and_listens_on_loopback_only(proxy):
    assert peers.status_of(peers.sip_request(proxy.port, "OPTIONS")) == 200
    reply = peers.sip_request(proxy.port, "REGISTER", user="alice")
    assert peers.status_of(reply) == 401
    assert 'qop="auth"' in peers.header_of(reply, "WWW-Authenticate")
    script = os.path.join(peers.ROOT, "tools", "proxy.py")
    p = subprocess.run([sys.executable, script, "--listen", "0.0.0.0:5060"], capture_output=True, text=True, timeout=10)
    assert p.returncode == 2 and "loopback only" in p.stderr


def test_sipp_uas_registers_and_sipp_uac_calls_it_through_the_proxy(proxy, sipp):
    uas = _callee(sipp, proxy, "proxy_uas_call.xml")
    uac = _caller(sipp, proxy, "proxy_uac.xml")
    assert uac.run() == 0, uac.report()
    assert uac.stats().get("SuccessfulCall(C)") == "1", uac.report()
    assert uas.wait() == 0, uas.report()  # its checks of the forwarded INVITE passed, then it unregistered
    target = "sip:carol@127.0.0.1:%d -> 127.0.0.1:%d" % (uas.port, uas.port)
    assert proxy.wait_line("PROXY challenge 407 sip:carol@", 1).endswith("(INVITE: no credentials)")
    for method in ("INVITE", "ACK", "BYE"):  # ACK and BYE through the Route the 200 set up
        assert proxy.wait_line("PROXY forward %s %s" % (method, target), 1)
    assert proxy.wait_line("PROXY response 200 BYE -> 127.0.0.1:%d" % uac.port, 1)
    assert proxy.wait_line("PROXY unregistered carol", 2)
    assert proxy.lines("PROXY reject") == [] and proxy.lines("PROXY error") == []


def test_sipp_uac_cancels_a_ringing_sipp_uas_through_the_proxy(proxy, sipp):
    uas = _callee(sipp, proxy, "proxy_uas_cancel.xml")
    uac = _caller(sipp, proxy, "uac_cancel.xml")
    assert uac.run() == 0, uac.report()
    assert "SIP/2.0 487" in uac.messages()
    assert uas.wait() == 0, uas.report()  # CANCEL and ACK matched its INVITE transaction
    assert proxy.wait_line("PROXY forward CANCEL sip:carol@127.0.0.1:%d" % uas.port, 1)
    assert proxy.lines("PROXY error") == []


def test_two_baresip_phones_register_and_call_each_other_through_the_proxy(proxy, phone):
    alice = phone("alice", registrar_port=proxy.port)
    bob = phone("bob", registrar_port=proxy.port)
    assert proxy.wait_line("PROXY registered alice contact=<sip:alice-", 1).endswith("expires=600")
    assert proxy.wait_line("PROXY registered bob contact=<sip:bob-", 1)
    alice.dial("bob")
    assert alice.wait_event("CALL_ESTABLISHED", 5)["peeruri"].startswith("sip:bob@")
    assert bob.wait_event("CALL_ESTABLISHED", 5)["peeruri"].startswith("sip:alice@")
    alice.hangup()
    alice.wait_event("CALL_CLOSED", 5)
    bob.wait_event("CALL_CLOSED", 5)
    assert proxy.wait_line("PROXY forward INVITE sip:bob-", 1).endswith("-> 127.0.0.1:%d" % bob.sip_port)
    assert proxy.wait_line("PROXY forward BYE sip:bob-", 1)


def test_a_call_to_an_unknown_user_gets_404(proxy, phone):
    alice = phone("alice", registrar_port=proxy.port)
    alice.dial("nobody")
    assert alice.wait_event("CALL_CLOSED", 5)["param"] == "404 Not Found"
    assert proxy.wait_line("PROXY reject 404 sip:nobody@127.0.0.1:%d" % proxy.port, 1)
