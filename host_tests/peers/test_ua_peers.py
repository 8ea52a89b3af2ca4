"""mpsip's user agent on the MicroPython unix port against real peers on 127.0.0.1 (CPython, pytest).

tools/sipua.py runs the UserAgent from the compiled .mpy tree under `micropython -X heapsize=UA_HEAP`
and prints one `EVENT name key=value ...` line per event; the tests read those lines and what the
peers saw: registration with digest, refresh and unregistration against Kamailio; calls both ways
with a baresip phone through Kamailio (BYE from each side, CANCEL, reject, INFO DTMF); the SIPp
scenarios of tools/sipp/ (CANCEL, 486, 603, hold/resume, no ACK) and an OPTIONS ping; the RFC 4475
semantic messages over UDP; registration and calls through tools/lossy_relay.py dropping 20% each way.
Missing peers skip (or fail with MPSIP_REQUIRE_PEERS=1). The no-ACK case waits out Timer H (64*T1, 33 s).
"""

import os
import re
import socket
import sys
import time

import pytest
from torture import expected, rfc4475

from support import read_data
from tools import peers, romfs
from tools import run_micropython_tests as mprun
from tools.lossy_relay import LossyRelay

from .conftest import USERS

# The UA at the board's 96 KB (issue 3). The hold/resume test once failed at 96K: in a heap in
# pieces the UA found no block for a datagram and heard nothing more (mpsip.transport now holds a
# spare block for that read). Since, this file and test_ua_flood.py passed 10 runs out of 11 at 96K
# on 2026-11-24 (the other failed in the INFO DTMF test, its log lost; alone it then passed 12 of 12),
# the hold/resume test alone 6 of 6. MPSIP_UA_HEAP overrides it, to find the figure again.
UA_HEAP = os.environ.get("MPSIP_UA_HEAP", "96K")

MICROPYPATH = ":".join((".frozen", os.path.join(mprun.BUILD, "firmware"), os.path.join(mprun.BUILD, "tools")))
# The same .mpy files as one ROMFS image (tools/romfs.py), as a board built with ROMFS runs them.
ROMFS_IMAGE = os.path.join(mprun.BUILD, "sipua.romfs")


@pytest.fixture(scope="module")
def compiled():
    """The firmware as a board runs it (.mpy, as tools/run_micropython_tests.py builds it) and
    sipua beside it."""
    mprun.compile_tree(("firmware", "tools"))  # tools/sipua.py and sipua_media.py
    rom = mprun.compile_tree(("firmware", "tools"), rom=romfs.ROM)
    romfs.build(ROMFS_IMAGE, os.path.join(rom, "firmware"), os.path.join(rom, "tools"))


class SipUa(peers._Proc):
    """tools/sipua.py on the MicroPython unix port; its stdout (the EVENT lines) in its log."""

    name = "sipua"

    def __init__(self, workdir=None, heap=UA_HEAP, rom=False):
        super().__init__(workdir)
        self.port = peers.free_port(tcp=False)
        self.heap = heap
        self.rom = rom  # run from ROMFS_IMAGE, not from the .mpy files
        self.used = set()

    def start(self, *args):
        if self.rom:
            run = [sys.executable, os.path.join(peers.ROOT, "tools", "romfs.py"), "run", ROMFS_IMAGE]
            argv = ["env", "MICROPYPATH=.frozen"] + run + ["-X", "heapsize=" + self.heap]
        else:
            argv = ["env", "MICROPYPATH=" + MICROPYPATH, mprun.MICROPYTHON, "-X", "heapsize=" + self.heap]
        self._spawn(argv + ["-m", "sipua", "--port", str(self.port)] + [str(a) for a in args], cwd=peers.ROOT)
        self.wait_event("ready")
        return self

    def events(self):
        """[(name, {key: value})] in order."""
        out = []
        for line in self.log().splitlines():
            if line.startswith("EVENT "):
                words = line.split()
                out.append((words[1], dict(w.split("=", 1) for w in words[2:] if "=" in w)))
        return out

    def names(self):
        return [n for n, _ in self.events()]

    def _take(self, name, match):
        for i, (n, kv) in enumerate(self.events()):
            if n == name and i not in self.used and all(kv.get(k) == str(v) for k, v in match.items()):
                self.used.add(i)
                return kv
        return None

    def wait_event(self, name, timeout=5.0, **match):
        """The next unconsumed `name` event whose keys match; fails after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            running = self.running()
            kv = self._take(name, match)  # after running(): the last lines of an exited UA count
            if kv is not None:
                return kv
            if time.monotonic() > deadline or not running:
                self._fail("no EVENT %s %s within %.1fs" % (name, match, timeout))
            time.sleep(0.02)

    def check(self):
        """No exception escaped into an `error` event or out of the process."""
        log = self.log()
        assert "EVENT error" not in log and "Traceback" not in log and "MemoryError" not in log, self.log_tail()
        assert self.running(), self.log_tail()


@pytest.fixture
def sipua(started, compiled):
    """Factory: sipua("--answer", ...) -> a running SipUa (on its own free port)."""

    def make(*args):
        return started.add(SipUa(workdir=started.dir("sipua"))).start(*args)

    return make


def registered_to(kam):
    return ("--registrar", "127.0.0.1:%d" % kam.port, "--user", "ua", "--password", USERS["ua"])


def kamailio_requests(kam, method, port):
    """The requests of `method` Kamailio logged from 127.0.0.1:port, as their cseq numbers."""
    pattern = r"REQ %s \S+ cseq=(\d+) from 127\.0\.0\.1:%d " % (method, port)
    return [int(n) for n in re.findall(pattern, kam.log())]


# ---------------------------------------------------------------- registration


def test_registers_with_digest_refreshes_before_expiry_and_unregisters(kamailio, sipua):
    # Expires 4 (Kamailio's min_expires is 1): refreshes come every 2 s (half the grant).
    ua = sipua(*registered_to(kamailio), "--expires", 4, "--unregister-after", 5.0)
    assert ua.wait_event("registered")["expires"] == "4"
    (contact,) = kamailio.contacts("ua")
    assert contact == "sip:ua@127.0.0.1:%d" % ua.port
    # The first REGISTER carried no credentials (Kamailio challenged it: 401), the second did.
    assert kamailio_requests(kamailio, "REGISTER", ua.port)[:2] == [1, 2]
    ua.wait_event("registered", 4)
    ua.wait_event("registered", 4)  # the second refresh: the first was answered and rescheduled
    last = time.monotonic()
    cseqs = kamailio_requests(kamailio, "REGISTER", ua.port)
    assert len(cseqs) >= 4 and cseqs == sorted(set(cseqs))  # one Call-ID, CSeq rising (RFC 3261 10.2.4)
    ua.wait_event("unregistered", 4)
    # Gone at once, not by expiry: the last refresh granted 4 s more.
    assert kamailio.wait_registered("ua", 1.0, registered=False)
    assert time.monotonic() - last < 3.0
    assert "registered" not in ua.names()[ua.names().index("unregistered") :]  # no refresh after it
    ua.check()


# ---------------------------------------------------------------- calls with baresip


def test_calls_baresip_through_kamailio_and_hangs_up(kamailio, phone, sipua):
    bob = phone("bob")
    ua = sipua(*registered_to(kamailio), "--call", "sip:bob@127.0.0.1", "--hangup-after", 1.0)
    ua.wait_event("registered")
    ua.wait_event("ringing", 5, call=1)
    kv = ua.wait_event("connected", 5, call=1)
    assert kv["codec"] == "PCMU" and kv["remote"].startswith("127.0.0.1:")
    assert bob.wait_event("CALL_ESTABLISHED", 5)["peeruri"].startswith("sip:ua@")
    assert ua.wait_event("ended", 3, call=1)["reason"] == "hangup"
    bob.wait_event("CALL_CLOSED", 3)  # our BYE reached it through Kamailio (the route set)
    ua.check()


def test_baresip_hanging_up_ends_our_call(kamailio, phone, sipua):
    bob = phone("bob")
    ua = sipua(*registered_to(kamailio), "--call", "sip:bob@127.0.0.1")
    ua.wait_event("connected", 8, call=1)
    bob.wait_event("CALL_ESTABLISHED", 5)
    bob.hangup()
    assert ua.wait_event("ended", 3, call=1)["reason"] == "bye"
    bob.wait_event("CALL_CLOSED", 3)
    ua.check()


def test_cancels_a_ringing_baresip_on_ring_timeout(kamailio, phone, sipua):
    bob = phone("bob", answermode="manual")
    ua = sipua(*registered_to(kamailio), "--call", "sip:bob@127.0.0.1", "--ring-timeout", 1.0)
    ua.wait_event("ringing", 5, call=1)
    bob.wait_event("CALL_INCOMING", 3)
    assert ua.wait_event("ended", 3, call=1)["reason"] == "cancelled"
    bob.wait_event("CALL_CLOSED", 3)  # the CANCEL went through Kamailio; its 487 was ACKed
    assert "connected" not in ua.names()
    ua.check()


def test_rejects_a_call_from_baresip_with_the_status_asked(kamailio, phone, sipua):
    alice = phone("alice")
    ua = sipua(*registered_to(kamailio), "--reject", 486)
    ua.wait_event("registered")
    alice.dial("ua")
    assert ua.wait_event("ended", 5, call=1)["reason"] == "486"
    assert alice.wait_event("CALL_CLOSED", 3)["param"].startswith("486")
    ua.check()


def test_answers_a_call_from_baresip_and_sends_info_dtmf(kamailio, phone, sipua):
    alice = phone("alice")
    ua = sipua(*registered_to(kamailio), "--answer", "--info-dtmf", "19#", "--hangup-after", 1.5)
    ua.wait_event("registered")
    alice.dial("ua")
    assert ua.wait_event("incoming", 5, call=1)["from"].startswith("sip:alice@")
    assert ua.wait_event("connected", 3, call=1)["codec"] == "PCMU"
    alice.wait_event("CALL_ESTABLISHED", 5)
    # application/dtmf-relay INFOs through Kamailio: baresip reports each digit, in order
    assert [alice.wait_event("CALL_DTMF_START", 3)["param"] for _ in range(3)] == ["1", "9", "#"]
    assert ua.wait_event("ended", 4, call=1)["reason"] == "hangup"
    alice.wait_event("CALL_CLOSED", 3)
    ua.check()


# ---------------------------------------------------------------- SIPp scenarios


def _sipp_ok(s, timeout=None):
    rc = s.wait(timeout)
    assert rc == 0, s.report()
    assert s.stats().get("SuccessfulCall(C)") == "1", s.report()


def test_sipp_cancel_while_ringing_gets_200_and_487(sipp, sipua):
    ua = sipua()  # rings, never answers
    s = sipp("uac_cancel.xml", remote="127.0.0.1:%d" % ua.port, extra_args=["-s", "ua"], timeout=20).start()
    ua.wait_event("incoming", 5, call=1)
    assert ua.wait_event("ended", 5, call=1)["reason"] == "cancelled"
    _sipp_ok(s)
    msgs = s.messages()
    assert "SIP/2.0 180" in msgs and "SIP/2.0 487" in msgs
    ua.check()


@pytest.mark.parametrize("scenario,status", [("uas_486.xml", 486), ("uas_603.xml", 603)])
def test_sipp_callee_rejecting_ends_our_call_with_its_status(sipp, sipua, scenario, status):
    s = sipp(scenario, timeout=20).start()
    ua = sipua("--call", "sip:carol@127.0.0.1:%d" % s.port)
    assert ua.wait_event("ended", 8, call=1)["reason"] == str(status)
    if status == 603:
        assert ua.wait_event("ringing", 0, call=1)["status"] == "180"
    _sipp_ok(s)  # the scenario demands the ACK of the final response
    ua.check()


def test_sipp_hold_and_resume_through_kamailio_are_answered(kamailio, sipp, sipua):
    ua = sipua(*registered_to(kamailio), "--answer")
    ua.wait_event("registered")
    s = sipp(
        "uac_hold.xml",
        remote="127.0.0.1:%d" % kamailio.port,
        extra_args=["-s", "ua", "-au", "alice", "-ap", USERS["alice"]],
        keys={"caller": "alice"},
        timeout=20,
    ).start()
    assert ua.wait_event("connected", 5, call=1)["dir"] == "sendrecv"
    assert ua.wait_event("media", 5, call=1)["dir"] == "recvonly"  # RFC 3264 8.4: hold answered
    assert ua.wait_event("media", 5, call=1)["dir"] == "sendrecv"
    assert ua.wait_event("ended", 5, call=1)["reason"] == "bye"
    _sipp_ok(s)  # it checked a=recvonly in the answer to hold, none of it in the answer to resume
    assert s.messages().count("Record-Route") >= 2  # the dialog went through Kamailio
    ua.check()


def test_sipp_caller_never_acking_gets_retransmitted_200s_then_bye(sipp, sipua):
    ua = sipua("--answer")
    s = sipp("uac_no_ack.xml", remote="127.0.0.1:%d" % ua.port, extra_args=["-s", "ua"], timeout=60).start()
    ua.wait_event("connected", 5, call=1)
    assert ua.wait_event("ended", 40, call=1)["reason"] == "no-ack"
    _sipp_ok(s)
    assert 31.0 <= s.stat_seconds("ResponseTime1(C)") <= 34.0
    # T1, 2T1, 4T1, T2, T2, ... (RFC 3261 13.3.1.4): ~11 copies of the 200 in 32 s
    assert s.messages().count("SIP/2.0 200 OK") >= 9
    ua.check()


def test_options_ping_gets_200_with_allow(sipua):
    ua = sipua()
    reply = peers.sip_request(ua.port, "OPTIONS", ruri="sip:ua@127.0.0.1:%d" % ua.port)
    assert peers.status_of(reply) == 200
    assert "INVITE" in peers.header_of(reply, "Allow")
    ua.check()


# ---------------------------------------------------------------- RFC 4475 semantic messages


def _statuses(sock, data, port, wait):
    """Send one datagram; the statuses of the responses that came back within `wait` s (until a
    final one)."""
    sock.sendto(data, ("127.0.0.1", port))
    got = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        try:
            reply = sock.recv(65535).decode("utf-8", "replace")
        except (TimeoutError, ConnectionRefusedError):
            break
        got.append(peers.status_of(reply))
        if got[-1] >= 200:
            break
    return got


def _rounds(names):
    """The messages in rounds without two of the same transaction: several reuse a Via branch
    with the same method (cparam01/02, unkscm/novelsc) and RFC 3261 17.2.3 makes the second a
    retransmission of the first; each gets a fresh UA instead, to be judged on its own."""
    rounds = [[]]
    seen = set()
    for name in names:
        data = read_data("rfc4475/" + name)
        branch = re.search(rb"branch=([^;\s]+)", data)
        key = (data.split(b" ", 1)[0], branch.group(1) if branch else name)
        if key in seen:
            rounds.append([])
            seen = set()
        seen.add(key)
        rounds[-1].append((name, data))
    return rounds


def test_rfc4475_semantic_messages_get_the_expected_response_and_the_loop_lives(sipua):
    wrong = []
    for messages in _rounds(rfc4475("semantic")):
        ua = sipua()
        for name, data in messages:
            want = expected(name)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("127.0.0.1", 0))
            try:
                got = _statuses(s, data, ua.port, {"drop": 0.3, "accept": 0.5}.get(want, 2.0))
            finally:
                s.close()
            if want == "drop":
                ok = got == []
            elif want == "accept":
                ok = bool(got) and all(100 <= g < 300 for g in got)
            else:
                ok = got[-1:] == [want]
            if not ok:
                wrong.append((name, want, got))
        assert peers.status_of(peers.sip_request(ua.port, "OPTIONS", ruri="sip:ua@127.0.0.1")) == 200
        ua.check()
    assert wrong == [], wrong


# ---------------------------------------------------------------- 20% loss


def test_registration_and_calls_complete_through_20_percent_loss(started, phone, sipua):
    """The UA behind tools/lossy_relay.py (20% dropped each way, seeded) registers to Kamailio,
    calls baresip and hangs up, then takes baresip's call, which baresip hangs up (before our
    --hangup-after: its BYE has 3 s for its retransmissions)."""
    peers.require("kamailio")
    kam = started.add(peers.Kamailio(USERS, nat=True, workdir=started.dir("kamailio-nat"))).start()
    bob = phone("bob", registrar_port=kam.port)
    # Seed 21: the relay's first datagram up (our first REGISTER) and its third down are
    # dropped whatever the timing, and more after (see LossyRelay.decide).
    relay = LossyRelay(("127.0.0.1", 0), ("127.0.0.1", kam.port), seed=21, loss=0.2).start()
    try:
        t0 = time.monotonic()
        ua = sipua(
            *("--registrar", "%s:%d" % relay.listen, "--user", "ua", "--password", USERS["ua"]),
            *("--domain", "127.0.0.1", "--call", "sip:bob@127.0.0.1", "--hangup-after", 3.0, "--answer"),
        )
        ua.wait_event("registered", 30)
        t_reg = time.monotonic() - t0
        ua.wait_event("connected", 30, call=1)
        bob.wait_event("CALL_ESTABLISHED", 10)
        assert ua.wait_event("ended", 10, call=1)["reason"] == "hangup"
        bob.wait_event("CALL_CLOSED", 20)  # our BYE, retransmitted until it got through
        t_out = time.monotonic() - t0
        bob.dial("ua")  # Kamailio reaches us through the relay (the Contact we fixed from rport)
        ua.wait_event("connected", 30, call=2)
        bob.wait_event("CALL_ESTABLISHED", 30)
        bob.hangup()
        assert ua.wait_event("ended", 30, call=2)["reason"] == "bye"
        t_in = time.monotonic() - t0 - t_out
        c = relay.counters()
    finally:
        relay.stop()
    print(
        "20%% loss: registered in %.1f s, outgoing call done at %.1f s, incoming call took %.1f s; relay %s"
        % (t_reg, t_out, t_in, c)
    )
    assert c["up"]["dropped"] > 0 and c["down"]["dropped"] > 0
    ua.check()
