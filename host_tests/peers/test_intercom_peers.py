"""The door station on the virtual board (firmware/main.py on the MicroPython unix port, compiled
as `make deploy` compiles it) against real peers on 127.0.0.1 (CPython, pytest).

Kamailio is the PBX (one per module; the outage test has its own) and baresip phones answer,
reject, ring or call in and key DTMF (RFC 4733). The loopback proxy (tools/proxy.py) and the
scripted CPython phone (tools/phone.py) serve the config and soak tests, which need no Debian
peers. The tests drive the board through its console (press, release, heap, quit) and read its
`EVENT` lines, waiting on them with deadlines; nothing waits on a timer of the board's.
Missing peers skip (or fail with MPSIP_REQUIRE_PEERS=1).
"""

import os
import shutil
import time

import pytest

from tools import demo, peers
from tools.phone import Phone
from tools.proxy import LoopbackProxy
from tools.virtual_board import romfs_beside

from .conftest import USERS

HEAP = demo.BOARD_HEAP  # the named heap of the virtual board (tools/demo.py says why it is not 96K)
PIN = demo.PIN
SOAK_CALLS = int(os.environ.get("MPSIP_SOAK_CALLS", "200"))
# The soak runs at the board's heap (MPSIP_BOARD_HEAP to try another). Its calls go back to back
# (~30 a second, a board places one a minute); each leaves its finished transactions for up to
# 32 s (RFC 3261 17.1.1.2 Timer D for the 407'd INVITE, RFC 6026 Timer M for the answered one,
# Timer K for our BYE, Timer J for theirs). The table keeps at most transaction.MAX_TX of ours
# and of theirs: beyond it the finished one nearest its end goes (mpsip/transaction.py shed), so
# the heap during a round stays near one table's worth (~1.8 KB a call; MAX_TX // 4 of ours
# and MAX_TX of theirs kept).


@pytest.fixture(scope="module")
def firmware(tmp_path_factory):
    """The board's flash as deploy fills it, built once: per test a copy gets its config."""
    d = str(tmp_path_factory.mktemp("firmware"))
    return demo.build_board(d, None)


@pytest.fixture(scope="module")
def pbx(tmp_path_factory):
    peers.require("kamailio")
    kam = peers.Kamailio(USERS, workdir=str(tmp_path_factory.mktemp("kamailio"))).start()
    yield kam
    kam.cleanup()


@pytest.fixture
def board(started, firmware):
    """Factory: board(registrar_port, **config overrides) -> a booted Board registered as `ua`.
    Every board made is checked at teardown: a MemoryError (or the station's own report of
    one) fails the test even where the test itself did not look (CI once missed one)."""
    made = []

    def make(registrar_port, wait_registered=True, host=None, user="ua", password=None, heap=HEAP, **over):
        d = started.dir("board")
        shutil.rmtree(d)
        shutil.copytree(firmware, d)
        shutil.copyfile(romfs_beside(firmware), romfs_beside(d))  # its ROMFS partition
        reg = "127.0.0.1:%d" % registrar_port
        cfg = demo.door_config(
            reg,
            user,
            password or USERS.get(user, ""),
            [],
            peers.free_port(tcp=False),
            rtp_port(),
            **over,
        )
        demo.write_json(os.path.join(d, "config.json"), cfg)
        b = demo.Board(d, heap)
        started.add(b)
        made.append(b)
        demo.write_json(os.path.join(d, "board.json"), board_json(host))
        b.start()
        if wait_registered:
            b.wait("registered", 10)
        return b

    yield make
    for b in made:
        b.stop()  # quit first: what the shutdown prints counts too
        assert not memory_errors(b.output()), "board at heap %s:\n%s" % (b.heap, b.output()[-3000:])


def rtp_port():
    """An even port with the odd one above it free (RTP and RTCP, RFC 3550 11)."""
    p = peers.free_ports(3, tcp=False)
    return p + (p & 1)


def board_json(host):
    import json

    with open(os.path.join(peers.ROOT, "boards", "virtual", "board.json")) as f:
        b = json.load(f)
    b["host"] = host or {}
    return b


def memory_errors(out):
    """Lines saying the board ran out of heap: a MemoryError that escaped (a traceback, or the
    user agent's `what=sip detail=MemoryError...`) or one the station caught (`what=memory`)."""
    return [ln for ln in out.splitlines() if "MemoryError" in ln or "what=memory" in ln]


def check_clean(b):
    out = b.output()
    assert not memory_errors(out) and "Traceback" not in out and "what=sip" not in out, out[-3000:]


def callings(b):
    return [kv["target"].split(":")[1].split("@")[0] for _, kv in b.events("calling")]


# ---------------------------------------------------------------- calling out


def test_sequential_goes_on_after_no_answer_and_busy_until_someone_answers(pbx, phone, board):
    alice = phone("alice", registrar_port=pbx.port, answermode="manual")  # rings, nobody picks up
    bob = phone("bob", registrar_port=pbx.port, answermode="manual")  # busy: rejects
    carol = phone("carol", registrar_port=pbx.port)  # answers
    b = board(
        pbx.port,
        call__targets=[alice.aor, bob.aor, carol.aor],
        call__ring_timeout_s=5,
    )
    b.send("press")
    b.wait("ringing", 5, target=alice.aor)
    alice.wait_event("CALL_INCOMING", 5)
    bob.wait_event("CALL_INCOMING", 10)  # after alice's 5 s ring timeout
    assert alice.wait_event("CALL_CLOSED", 2)  # cancelled
    bob.hangup()  # declines: busy
    b.wait("connected", 10)
    carol.wait_event("CALL_ESTABLISHED", 3)
    assert callings(b) == ["alice", "bob", "carol"]
    b.send("press")  # pressing again hangs up
    assert b.wait("call-ended", 5)["reason"] == "hangup"
    carol.wait_event("CALL_CLOSED", 3)
    check_clean(b)


def ring_two_in_parallel(pbx, phone, board):
    """alice and bob (answering by hand) both ringing from one press of the board's button."""
    alice = phone("alice", registrar_port=pbx.port, answermode="manual")
    bob = phone("bob", registrar_port=pbx.port, answermode="manual")
    b = board(pbx.port, call__targets=[alice.aor, bob.aor], call__mode="parallel")
    b.send("press")
    alice.wait_event("CALL_INCOMING", 5)
    bob.wait_event("CALL_INCOMING", 5)
    return alice, bob, b


def test_parallel_rings_everyone_and_the_first_answer_wins(pbx, phone, board):
    alice, bob, b = ring_two_in_parallel(pbx, phone, board)
    bob.accept()
    assert b.wait("connected", 5)["peer"] == bob.aor
    alice.wait_event("CALL_CLOSED", 5)  # CANCEL (RFC 3261 9.1): alice stops ringing
    bob.hangup()
    assert b.wait("call-ended", 5)["reason"] == "bye"
    check_clean(b)


def test_parallel_with_everyone_busy_ends_as_no_answer(pbx, phone, board):
    alice, bob, b = ring_two_in_parallel(pbx, phone, board)
    alice.hangup()
    bob.hangup()
    assert b.wait("call-ended", 5)["reason"] == "no-answer"
    assert b.events("connected") == []
    check_clean(b)


# ---------------------------------------------------------------- the door


def _called_by_button(pbx, phone, board, **over):
    bob = phone("bob", registrar_port=pbx.port)
    b = board(pbx.port, call__targets=[bob.aor], **over)
    b.send("press")
    b.wait("connected", 8)
    bob.wait_event("CALL_ESTABLISHED", 3)
    time.sleep(0.3)  # the media flows both ways: RFC 4733 events have a stream to ride on
    return b, bob


def test_the_right_pin_opens_the_door_for_relay_s(pbx, phone, board):
    b, bob = _called_by_button(pbx, phone, board, door__relay_s=1)
    bob.send_dtmf(PIN + "#")
    assert b.wait("door-open", 3)["seconds"] == "1"
    t0 = time.monotonic()
    assert [kv["digit"] for _, kv in b.events("dtmf")] == list(PIN + "#")  # each once
    b.wait("relay", 1, state="on")
    b.wait("relay", 3, state="off")
    assert 0.7 < time.monotonic() - t0 < 2.0  # the pulse is relay_s long
    assert all(kv["via"] == "rtp" for _, kv in b.events("dtmf"))
    bob.hangup()
    b.wait("call-ended", 5)
    check_clean(b)


def test_wrong_pins_are_counted_then_locked_out(pbx, phone, board):
    b, bob = _called_by_button(pbx, phone, board, door__max_tries=2, door__lockout_s=30)
    bob.send_dtmf("0000#")
    assert b.wait("door-denied", 3)["tries"] == "1"
    bob.send_dtmf("9999#")
    assert b.wait("lockout", 3)["seconds"] == "30"
    bob.send_dtmf(PIN + "#")  # the right PIN, but locked out: ignored
    time.sleep(0.5)
    assert b.events("door-open") == [] and b.events("relay") == []
    bob.hangup()
    b.wait("call-ended", 5)
    check_clean(b)


# ---------------------------------------------------------------- calls coming in


def test_only_allowed_callers_through_the_pbx_are_answered(pbx, phone, board):
    alice = phone("alice", registrar_port=pbx.port)
    bob = phone("bob", registrar_port=pbx.port)
    b = board(pbx.port, answer__allow=["sip:bob@127.0.0.1"], answer__delay_s=0.5)
    alice.dial("ua")  # not on the list: 403, nothing rings
    assert b.wait("rejected", 5) == {"sender": alice.aor, "status": "403"}
    assert alice.wait_event("CALL_CLOSED", 3)["param"].startswith("403")
    assert b.events("ringing") == []
    bob.command("dial", "sip:ua@127.0.0.1:%d" % b_port(b))  # listed, but not through the PBX
    assert b.wait("rejected", 5)["status"] == "403"
    bob.wait_event("CALL_CLOSED", 3)
    bob.dial("ua")  # listed and through the PBX: answered after answer.delay_s
    b.wait("ringing", 5)
    assert b.wait("connected", 3)["peer"] == bob.aor
    bob.wait_event("CALL_ESTABLISHED", 3)
    bob.hangup()
    b.wait("call-ended", 5)
    check_clean(b)


def b_port(b):
    import json

    with open(os.path.join(b.dir, "config.json")) as f:
        return json.load(f)["sip"]["local_port"]


# ---------------------------------------------------------------- push-to-talk, call limit


def test_push_to_talk_sends_the_microphone_only_while_the_button_is_held(pbx, phone, board):
    bob = phone("bob", registrar_port=pbx.port, tone_hz=600)
    b = board(pbx.port, ptt=True, call__targets=[bob.aor], answer__allow="*")
    b.send("press")  # no call yet: the button calls
    b.send("release")
    b.wait("connected", 8)
    bob.wait_event("CALL_ESTABLISHED", 3)
    time.sleep(1.5)  # released: listening, silence is sent
    b.send("press")
    time.sleep(1.5)  # held: the board's 440 Hz is sent
    b.send("release")
    time.sleep(1.5)
    bob.hangup()
    b.wait("call-ended", 5)
    (rec,) = bob.recordings("dec")
    w = demo.tone_windows(rec, demo.BOARD_TONE)
    tone = [i for i, x in enumerate(w) if x]
    assert 10 <= len(tone) <= 17, w  # about 1.5 s of tone, in windows of 100 ms
    first, last = tone[0], tone[-1]
    assert last - first <= 17 and first >= 12  # one stretch, after the first 1.5 s of silence
    assert not any(w[last + 3 :]) and not any(w[: first - 2])  # silence (None) before and after
    check_clean(b)


def test_the_call_limit_warns_ten_seconds_before_and_hangs_up(pbx, phone, board):
    bob = phone("bob", registrar_port=pbx.port)
    b = board(pbx.port, call__targets=[bob.aor], call__max_call_s=20)
    b.send("press")
    b.wait("connected", 8)
    t0 = time.monotonic()
    assert b.wait("call-warning", 12)["seconds"] == "10"
    assert 9 < time.monotonic() - t0 < 11
    b.wait("call-limit", 12)
    assert 19 < time.monotonic() - t0 < 21
    assert b.wait("call-ended", 2)["reason"] == "hangup"
    bob.wait_event("CALL_CLOSED", 3)
    check_clean(b)


# ---------------------------------------------------------------- the registrar goes away


def test_after_a_registrar_outage_the_board_registers_again(kamailio, board):
    # expires 60: refreshes every 30 s (RFC 3261 10.2.4). Kamailio is down across the refresh
    # and comes back with an empty location table: the REGISTER still being retransmitted
    # (RFC 3261 17.1.2.2, until Timer F) reaches it and the board is back. The board's clock
    # is moved past the refresh (`skip`), not waited for.
    b = board(kamailio.port, sip__expires=60)
    assert kamailio.contacts("ua")
    kamailio.stop()
    b.send("skip 31")
    b.wait("skip", 5)
    b.send("heap")  # read once the round after the skip has run its timers: the refresh went out
    b.wait("heap", 5)
    assert not b.events("registered")[1:]  # unanswered, while the registrar is down
    kamailio.start()
    assert kamailio.contacts("ua") == []  # the restarted registrar has forgotten us
    t0 = time.monotonic()
    b.wait("registered", 60)
    took = time.monotonic() - t0
    # within 60 s (the issue); in fact within one retransmission interval (at most T2 = 4 s,
    # RFC 3261 17.1.2.2) of the restart: the refresh was already out, moved by the skip
    assert kamailio.contacts("ua") and took < 10
    print("registered again %.1f s after the restart" % took)
    check_clean(b)


# ---------------------------------------------------------------- bad config, soak (no Debian peers)


@pytest.fixture
def proxy(started):
    px = LoopbackProxy({"door": "door-pw", "phone": "phone-pw"}, workdir=started.dir("proxy"))
    return started.add(px).start()


def test_a_bad_config_is_reported_key_by_key_and_the_rest_runs(proxy, board):
    b = board(
        proxy.port,
        user="door",
        password="door-pw",
        call__ring_timeout_s="x",
        door__pins=["12"],
        colour="red",
    )
    lines = [kv for _, kv in b.events("error") if kv.get("what") == "config"]
    keys = sorted(kv["key"] for kv in lines)
    assert keys == ["call.ring_timeout_s", "colour", "door.pins[0]"], lines
    assert "between 5 and 300" in [kv for kv in lines if kv["key"] == "call.ring_timeout_s"][0]["problem"]
    b.wait("network", 1)  # and the network and registration came up all the same (above)


def test_soak_many_calls_no_memory_error_and_the_heap_comes_back(proxy, board, tmp_path):
    # Two rounds of SOAK_CALLS calls, each followed by `skip 33` (the board's clock 33 s on:
    # the last transactions' Timers J/K/M run out at 32 s; nothing sleeps). The first round takes
    # the heap to its working shape: the codec tables built on the first call, and the
    # transaction table's dict grown to the round's peak (a MicroPython dict never shrinks). The
    # second round must then leave the heap where the first did: anything a call leaves behind
    # would show. Every other call the phone hangs up: its BYE must never meet a 503 (the bound
    # on the table takes every BYE of a call).
    phone = Phone("phone", "phone-pw", ("127.0.0.1", proxy.port), answer="auto")
    phone.start()
    try:
        phone.wait("registered", 5)
        target = "sip:phone@127.0.0.1:%d" % proxy.port
        b = board(proxy.port, user="door", password="door-pw", call__targets=[target])
        b.send("heap")
        boot = int(b.wait("heap", 5)["used"])
        used = []
        for _ in range(2):
            t0 = time.monotonic()
            peak = 0
            for i in range(SOAK_CALLS):
                b.send("press")
                phone.wait("connected", 5)
                b.wait("connected", 5)
                if i & 1:
                    phone.hangup()  # their BYE
                    assert b.wait("call-ended", 5)["reason"] == "bye"
                else:
                    b.send("press")  # ours
                    assert b.wait("call-ended", 5)["reason"] == "hangup"
                phone.wait("ended", 5)
                if i % 10 == 9:  # the heap during the round, the table at its bound
                    b.send("heap")
                    peak = max(peak, int(b.wait("heap", 5)["used"]))
            took = time.monotonic() - t0
            b.send("skip 33")
            b.wait("skip", 5)
            b.send("heap")  # read in the loop's next round: the timers due ran before it
            used.append(int(b.wait("heap", 5)["used"]))
            print("soak: %d calls in %.1f s at %s; heap used %d after boot, at most %d during the calls, %d after 33 s"
                  % (SOAK_CALLS, took, b.heap, boot, peak, used[-1]))  # fmt: skip
        assert len(b.events("connected")) == 2 * SOAK_CALLS
        assert abs(used[1] - used[0]) <= 2048, used
        check_clean(b)
        assert "EVENT error" not in b.output()
    finally:
        phone.stop()
