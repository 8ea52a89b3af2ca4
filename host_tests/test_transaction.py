# RFC 3261 17 transactions with a stepped clock: every state, every timer, retransmission
# and absorption, matching by branch and method and the RFC 2543 fallback.
from sipfakes import PEER, Clock, Wire, answer, request, step

from mpsip import transaction as t
from mpsip.message import parse


def _timer(t):
    """The RFC 3261 letter of a timer ([number, deadline, ...]: transaction.py numbers them)."""
    return "ABCDEFGHIJKLM"[t[0]]


def _layer():
    clock = Clock()
    wire = Wire()
    return clock, wire, t.Transactions(wire.send, clock)


def _times(clock, wire, layer, ms):
    """The times (ms) at which something was sent while stepping ms."""
    out = []
    end = clock.t + ms
    while clock.t < end:
        n = len(wire.sent)
        clock.t += 50
        layer.tick()
        if len(wire.sent) > n:
            out.append(clock.t)
    return out


def _client(method):
    clock, wire, layer = _layer()
    got = []
    req = parse(request(method, cseq=1))
    tx = layer.client(req, PEER, lambda tx, r: got.append(None if r is None else r.status))
    return clock, wire, layer, tx, got, req


def test_invite_client_timer_a_doubles_until_timer_b_times_out():
    clock, wire, layer, tx, got, req = _client("INVITE")
    assert len(wire.sent) == 1 and tx.state == t.CALLING and _timer(tx.retx) == "A"
    times = _times(clock, wire, layer, 33000)
    assert times == [500, 1500, 3500, 7500, 15500, 31500]  # T1, 2T1, 4T1 ... (17.1.1.2)
    assert got == [None] and tx.error == "timeout" and tx.state == t.TERMINATED
    assert layer.table == {}


def test_non_invite_client_timer_e_caps_at_t2_and_timer_f_times_out():
    clock, wire, layer, tx, got, req = _client("OPTIONS")
    times = _times(clock, wire, layer, 33000)
    assert times[:6] == [500, 1500, 3500, 7500, 11500, 15500]  # capped at T2 = 4 s
    assert times[-1] == 31500 and got == [None]


def test_non_invite_client_provisional_moves_retransmissions_to_t2():
    clock, wire, layer, tx, got, req = _client("BYE")
    layer.match(parse(answer(req, 100))).on_response(parse(answer(req, 100)))
    assert tx.state == t.PROCEEDING and got == [100]
    # 17.1.2.2: the pending Timer E still fires, then it is reset to T2 each time
    assert _times(clock, wire, layer, 9000) == [500, 4500, 8500]


def test_non_invite_client_final_response_then_timer_k():
    clock, wire, layer, tx, got, req = _client("OPTIONS")
    resp = parse(answer(req, 200))
    assert layer.match(resp) is tx
    tx.on_response(resp)
    assert got == [200] and tx.state == t.COMPLETED and _timer(tx.end) == "K"
    tx.on_response(resp)  # a retransmission is absorbed
    assert got == [200]
    step(clock, layer, t.T4 + 100)
    assert tx.state == t.TERMINATED and layer.table == {}


def test_invite_client_error_response_is_acked_in_the_transaction():
    clock, wire, layer, tx, got, req = _client("INVITE")
    tx.on_response(parse(answer(req, 180)))
    assert tx.state == t.PROCEEDING and tx.retx is None  # no INVITE retransmissions now
    wire.sent = []
    resp = parse(answer(req, 486))
    tx.on_response(resp)
    ack = wire.last()
    # 17.1.1.3: same branch and R-URI, the response's To tag, CSeq number with ACK
    assert ack.method == "ACK" and ack.top_via.branch == req.top_via.branch
    assert ack.to_addr.tag == "peer1" and ack.cseq == 1 and ack.cseq_method == "ACK"
    assert ack.uri == req.uri and got == [180, 486] and tx.state == t.COMPLETED
    tx.on_response(resp)  # retransmitted 486: the ACK again, nothing up
    assert len(wire.sent) == 2 and wire.sent[0][0] == wire.sent[1][0] and got == [180, 486]
    step(clock, layer, 32100)  # Timer D
    assert tx.state == t.TERMINATED


def test_invite_client_2xx_is_accepted_and_retransmissions_go_up():
    clock, wire, layer, tx, got, req = _client("INVITE")
    ok = parse(answer(req, 200))
    tx.on_response(ok)
    assert tx.state == t.ACCEPTED and _timer(tx.end) == "M" and got == [200]
    tx.on_response(ok)  # RFC 6026: the UA re-ACKs it
    assert got == [200, 200]
    step(clock, layer, 32100)
    assert tx.state == t.TERMINATED and got == [200, 200]  # Timer M is not a failure


def test_invite_server_error_response_timer_g_until_ack_then_timer_i():
    clock, wire, layer = _layer()
    req = parse(request("INVITE"))
    tx = layer.server(req, PEER)
    tx.respond(parse(answer(req, 100)))
    assert tx.state == t.PROCEEDING
    tx.respond(req.response(486, to_tag="me"))
    assert tx.state == t.COMPLETED and _timer(tx.retx) == "G"
    times = _times(clock, wire, layer, 8000)
    assert times == [500, 1500, 3500, 7500]  # T1 doubling, capped at T2 (17.2.1)
    again = parse(request("INVITE"))
    assert layer.match(again) is tx
    n = len(wire.sent)
    tx.on_request(again)  # a retransmitted INVITE gets the 486 again
    assert len(wire.sent) == n + 1
    ack = parse(request("ACK", to_tag="me", cseq=1, branch=req.top_via.branch))
    assert layer.match(ack) is tx  # the ACK for a non-2xx matches the INVITE's transaction
    tx.on_request(ack)
    assert tx.state == t.CONFIRMED and tx.retx is None and _timer(tx.end) == "I"
    step(clock, layer, t.T4 + 100)
    assert tx.state == t.TERMINATED


def test_invite_server_no_ack_timer_h():
    clock, wire, layer = _layer()
    req = parse(request("INVITE"))
    got = []
    tx = layer.server(req, PEER, lambda tx, r: got.append(tx.error))
    tx.respond(req.response(603, to_tag="me"))
    step(clock, layer, 32100)
    assert got == ["timeout"] and tx.state == t.TERMINATED


def test_invite_server_2xx_is_resent_until_acked_then_timer_l():
    clock, wire, layer = _layer()
    req = parse(request("INVITE"))
    got = []
    tx = layer.server(req, PEER, lambda tx, r: got.append(tx.error))
    tx.respond(req.response(200, to_tag="me"))
    assert tx.state == t.ACCEPTED
    assert _times(clock, wire, layer, 4000) == [500, 1500, 3500]  # 13.3.1.4
    tx.acked()
    assert _times(clock, wire, layer, 10000) == []
    step(clock, layer, 30000)
    assert tx.state == t.TERMINATED and got == []  # acknowledged: L just ends it


def test_invite_server_2xx_never_acked_reports_timeout():
    clock, wire, layer = _layer()
    req = parse(request("INVITE"))
    got = []
    tx = layer.server(req, PEER, lambda tx, r: got.append(tx.error))
    tx.respond(req.response(200, to_tag="me"))
    step(clock, layer, 32100)
    assert got == ["timeout"]  # the UA sends BYE (13.3.1.4)


def test_non_invite_server_absorbs_retransmissions_until_timer_j():
    clock, wire, layer = _layer()
    req = parse(request("OPTIONS"))
    tx = layer.server(req, PEER)
    tx.on_request(req)  # before any response: nothing to resend (Trying)
    assert wire.sent == []
    tx.respond(req.response(200, to_tag="me"))
    tx.on_request(parse(request("OPTIONS")))
    assert len(wire.sent) == 2 and wire.sent[0] == wire.sent[1]
    assert not tx.respond(req.response(500))  # a second final response is refused
    step(clock, layer, 32100)
    assert tx.state == t.TERMINATED and layer.match(req) is None


def test_matching_by_branch_sent_by_and_method():
    clock, wire, layer = _layer()
    inv = parse(request("INVITE", branch="z9hG4bKabc"))
    tx = layer.server(inv, PEER)
    cancel = parse(request("CANCEL", branch="z9hG4bKabc"))
    assert layer.match(cancel) is None  # CANCEL is a transaction of its own (9.2)
    other = parse(request("INVITE", branch="z9hG4bKabd"))
    assert layer.match(other) is None
    assert layer.match(parse(request("ACK", branch="z9hG4bKabc"))) is tx


def test_rfc2543_fallback_matching_without_the_cookie():
    clock, wire, layer = _layer()
    old = parse(request("INVITE", branch="1234"))
    tx = layer.server(old, PEER)
    assert layer.match(parse(request("INVITE", branch="1234"))) is tx
    assert layer.match(parse(request("INVITE", branch="1234", cseq=2))) is None


def test_transport_error_ends_the_transaction_and_tells_the_user():
    clock, wire, layer = _layer()
    wire.up = False
    got = []
    tx = layer.client(parse(request("OPTIONS")), PEER, lambda tx, r: got.append(tx.error))
    assert got == ["transport"] and tx.state == t.TERMINATED and layer.table == {}


def test_tick_says_how_long_until_the_next_timer():
    clock, wire, layer, tx, got, req = _client("INVITE")
    assert layer.tick() == 500
    clock.t = 499
    assert layer.tick() == 1


def test_timers_survive_the_ticks_wrap():
    clock = Clock((1 << 30) - 700)  # wraps 700 ms from now
    wire = Wire()
    layer = t.Transactions(wire.send, clock)
    layer.client(parse(request("INVITE")), PEER, lambda tx, r: None)
    assert _times(clock, wire, layer, 4000) == [(1 << 30) - 200, (1 << 30) + 800, (1 << 30) + 2800]


def test_a_finished_server_transaction_keeps_only_what_absorbing_needs():
    clock, wire, layer = _layer()
    req = parse(request("OPTIONS"))
    tx = layer.server(req, PEER)
    tx.respond(req.response(200, to_tag="me"))
    # RFC 3261 17.2.2: for 64*T1 a retransmission gets the same bytes; the request (~4 KB
    # parsed) is not needed for that
    assert tx.req is None and tx.state == t.COMPLETED and _timer(tx.end) == "J"
    again = parse(request("OPTIONS"))
    assert layer.match(again) is tx
    tx.on_request(again)
    assert len(wire.sent) == 2 and wire.sent[0] == wire.sent[1]
    inv = parse(request("INVITE", branch="z9hG4bKinv"))
    tx = layer.server(inv, PEER)
    tx.respond(inv.response(200, to_tag="me"))
    assert tx.req is None and tx.cseq == 1 and tx.last is not None
    tx.acked()
    assert tx.last is None and _timer(tx.end) == "L"  # nothing more to resend


def test_a_finished_client_transaction_lets_go_of_its_request_and_user():
    clock, wire, layer, tx, got, req = _client("OPTIONS")
    seen = []
    tx.cb = lambda tx, r: seen.append(tx.last)
    assert tx.req is None  # a non-INVITE is kept as the bytes sent (and sent again)
    tx.on_response(parse(answer(req, 200)))
    # the user's callback still has them (to send it again with credentials)
    assert seen == [req.to_bytes()]
    assert tx.req is None and tx.cb is None and tx.last is None and _timer(tx.end) == "K"
    clock, wire, layer, tx, got, req = _client("INVITE")
    tx.cb = lambda tx, r: seen.append(tx.req)
    tx.on_response(parse(answer(req, 407)))
    # an INVITE's callback builds the next INVITE itself (Call.invite_out): the old one is
    # gone by then, only the ACK's bytes stay (17.1.1.3)
    assert seen[-1] is None and tx.req is None and tx.cb is None and wire.last().method == "ACK"


def test_a_server_transaction_has_a_timer_before_it_answers():
    # No path (a MemoryError while the response is built included) leaves a transaction in
    # the table for ever: until the final response a guard ends it - 64*T1 for non-INVITE
    # (the client gave up then), Timer C (3 min) for an INVITE, reported as a timeout.
    clock, wire, layer = _layer()
    got = []
    tx = layer.server(parse(request("MESSAGE")), PEER)
    inv = layer.server(parse(request("INVITE")), PEER, lambda tx, r: got.append(tx.error))
    inv.respond(inv.req.response(180, to_tag="me"))
    assert _timer(tx.end) == "J" and _timer(inv.end) == "C"
    step(clock, layer, 32100, 1000)
    assert tx.state == t.TERMINATED and inv.state == t.PROCEEDING and got == []
    step(clock, layer, 148000, 1000)
    assert inv.state == t.TERMINATED and got == ["timeout"] and layer.table == {}


def test_the_table_is_bounded_and_gives_up_finished_transactions_first():
    clock, wire, layer = _layer()
    req = parse(request("MESSAGE"))

    def new(i):  # one parsed request for them all, each on a branch of its own
        req.set("via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKm%s" % i)
        return layer.server(req, PEER)

    txs = [new(i) for i in range(t.MAX_TX)]
    # all at work (no final response yet): a new one is refused
    assert None not in txs and new("x") is None
    for i in (3, 1, 2):
        txs[i].respond(req.response(200, to_tag="me"))
        clock.t += 10
    # finished ones only absorb retransmissions: the one nearest its end goes for the new one
    assert new("x") is not None
    assert txs[3].state == t.TERMINATED and txs[1].state == txs[2].state == t.COMPLETED
    assert len(layer.table) == t.MAX_TX == layer.max_tx == 16  # the board's bound, by default


def test_the_bound_is_per_table_and_our_client_transactions_do_not_count():
    clock, wire, layer = _layer()
    small = t.Transactions(wire.send, clock, 2)  # a phone on a PC passes a roomier one
    assert small.max_tx == 2 and layer.max_tx == t.MAX_TX
    req = parse(request("MESSAGE"))
    for i in range(5):  # our own requests still at work (calls, a refresh): never refused
        req.set("via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKc%d" % i)
        small.client(req, PEER, None)
    got = []
    for i in range(3):
        req.set("via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKs%d" % i)
        got.append(small.server(req, PEER))
    assert got[0] and got[1] and got[2] is None and len(small.table) == 7
    small.client(req, PEER, None)  # and a full server side never stops us from sending (a BYE)
    assert len(small.table) == 8 and len(wire.sent) == 6


def test_a_call_every_5_s_each_way_never_gives_up_a_transaction_before_its_timer():
    # RFC 3261 17.2.1 / 17.2.2: a retransmitted BYE within Timer J must meet its transaction
    # (given up, it would be handled again: 481). An incoming call leaves two server
    # transactions for 64*T1 (INVITE in Accepted, BYE in Completed), an outgoing one two
    # client ones: 16 hold a call every 4 s; an intercom sees far fewer.
    clock, wire, layer = _layer()
    live = []
    for i in range(14):
        inv = parse(request("INVITE", call_id="i%d" % i, branch="z9hG4bKi%d" % i))
        tx = layer.server(inv, PEER)
        tx.respond(inv.response(200, to_tag="me"))
        tx.acked()
        del inv
        bye = parse(request("BYE", call_id="i%d" % i, branch="z9hG4bKb%d" % i, to_tag="me", cseq=2))
        tx = layer.server(bye, PEER)
        tx.respond(bye.response(200, to_tag="me"))
        live.append((clock.t, tx))
        bye = parse(request("INVITE", call_id="o%d" % i, branch="z9hG4bKo%d" % i))  # ours
        layer.client(bye, PEER, lambda tx, r: None).on_response(parse(answer(bye, 200)))
        del bye
        live = [(t0, tx) for t0, tx in live if clock.t - t0 < 32000]
        for _t0, tx in live:  # still there to answer a retransmission with its 200
            assert layer.table.get(tx.key) is tx and tx.last
        wire.sent = []
        step(clock, layer, 5000, 1000)


def test_cancel_finds_its_invite_by_branch():
    clock, wire, layer = _layer()
    inv = layer.server(parse(request("INVITE", branch="z9hG4bKabc")), PEER)
    old = layer.server(parse(request("INVITE", branch="2543", call_id="old")), PEER)
    # RFC 3261 9.2: 17.2.3's rules but for the method (and the RFC 2543 ones likewise)
    assert layer.match(parse(request("CANCEL", branch="z9hG4bKabc")), "INVITE") is inv
    assert layer.match(parse(request("CANCEL", branch="2543", call_id="old")), "INVITE") is old
    assert layer.match(parse(request("CANCEL", branch="z9hG4bKabd")), "INVITE") is None


def _udp():
    """A transport on a free port of 127.0.0.1 (MicroPython has no getsockname: try ports)."""
    from os import urandom

    from mpsip.transport import Udp

    for _ in range(20):
        port = 40000 + (urandom(1)[0] << 6) + (urandom(1)[0] & 63)
        try:
            return Udp("127.0.0.1", port)
        except OSError:  # taken
            pass
    raise OSError("no free port")


class _NoBigBlock:
    """A socket whose heap has no block for a 4 KB read: recvfrom(4096) raises MemoryError
    before reading (as MicroPython's does), smaller reads work."""

    def __init__(self, sock):
        self.sock = sock
        self.asked = []

    def recvfrom(self, n):
        self.asked.append(n)
        if n > 2048:
            raise MemoryError
        return self.sock.recvfrom(n)


def test_udp_reads_only_what_is_there_and_falls_back_to_a_smaller_block():
    a = _udp()
    b = _udp()
    real = b.sock
    try:
        b.sock = _NoBigBlock(real)
        assert b.recv() is None and b.sock.asked == []  # nothing queued: no read, no 4 KB block
        b.sock = real
        assert a.send(b"OPTIONS x", ("127.0.0.1", b.port))
        got = None
        for _ in range(100):  # loopback delivery is quick but not synchronous
            got = b.recv()
            if got:
                break
        assert got == (b"OPTIONS x", ("127.0.0.1", a.port))
        b.sock = _NoBigBlock(real)
        a.send(b"x" * 1200, ("127.0.0.1", b.port))
        got = None
        for _ in range(100):
            got = b.recv()
            if got:
                break
        # RFC 3261 18.1.1: an unfragmented datagram fits the smaller read
        assert got[0] == b"x" * 1200 and b.sock.asked == [4096, 1500]
    finally:
        b.sock = real
        a.close()
        b.close()


def _in_pieces():
    """MicroPython: the heap cut into pieces of ~350 bytes, none left for a 1.5 KB block
    (what a long call leaves in 96K); the pieces to hold meanwhile. None on CPython."""
    try:
        import gc

        import micropython  # noqa: F401
    except ImportError:
        return None
    held = [None] * 256
    gaps = [None] * 256
    gc.collect()
    try:
        for i in range(256):
            held[i] = bytearray(320)
            gaps[i] = bytearray(320)  # garbage once this returns: the gaps between
    except MemoryError:
        pass
    return held


class _OnlyTheSpare:
    """CPython's model of that heap: the only room for a read is the transport's spare."""

    def __init__(self, udp):
        self.udp = udp
        self.sock = udp.sock

    def recvfrom(self, n):
        if self.udp.spare is not None or n > 2048:
            raise MemoryError
        return self.sock.recvfrom(n)


def _next(udp):
    for _ in range(100):  # loopback delivery is quick but not synchronous
        got = udp.recv()
        if got:
            return got
    return None


def test_udp_still_hears_when_the_heap_has_no_block_even_for_the_smaller_read():
    # Seen at 96K in a call on hold: no block for even 1,500 bytes, every ACK and re-INVITE
    # left queued while our 200 was retransmitted. The spare block held from the start is
    # let go for the read, and taken back for the next once there is room.
    a = _udp()
    b = _udp()
    real = b.sock
    try:
        assert len(b.spare) == 1500
        a.send(b"x" * 1200, ("127.0.0.1", b.port))
        held = _in_pieces()
        if held is None:
            b.sock = _OnlyTheSpare(b)
        got = _next(b)
        held = None
        b.sock = real
        assert got[0] == b"x" * 1200 and b.spare is None
        a.send(b"OPTIONS y", ("127.0.0.1", b.port))
        assert _next(b)[0] == b"OPTIONS y" and len(b.spare) == 1500
    finally:
        b.sock = real
        a.close()
        b.close()


def _finished_invite(layer, i, status):
    """One of our INVITEs answered with status: Completed (Timer D) or Accepted (Timer M)."""
    inv = parse(request("INVITE", call_id="o%d" % i, branch="z9hG4bKo%d" % i))
    tx = layer.client(inv, PEER, lambda tx, r: None)
    tx.data = inv  # the user's (a Call): it must not stay with what only absorbs
    tx.on_response(parse(answer(inv, status)))
    return tx


def test_our_finished_transactions_are_bounded_the_one_nearest_its_end_going_first():
    # A burst of calls (the button pressed again and again) must not fill the heap with
    # transactions that only absorb retransmissions for 64*T1: with max_tx // 4 of ours in
    # the table, a finished one goes for the next; ours at work never go.
    clock, wire, layer = _layer()
    busy = parse(request("OPTIONS"))

    def at_work(i):
        busy.set("via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKw%d" % i)
        return layer.client(busy, PEER, None)

    work = [at_work(0), at_work(1)]
    done = []
    for i in range(2):
        done.append(_finished_invite(layer, i, 200 if i else 486))
        clock.t += 10
    assert len(layer.table) == 4 and layer.max_tx >> 2 == 4
    done.append(_finished_invite(layer, 2, 486))
    assert done[0].state == t.TERMINATED and done[0].key not in layer.table  # nearest its end
    assert len(layer.table) == 4 and done[1].state == t.ACCEPTED
    work += [at_work(i) for i in range(2, 6)]  # two go for them, then the table grows
    assert done[1].state == done[2].state == t.TERMINATED
    assert len(layer.table) == 6 and all(layer.table[tx.key] is tx for tx in work)
    done = _finished_invite(layer, 8, 486)  # with none finished, nothing else goes
    assert len(layer.table) == 7
    # what a finished one keeps: key, the timer, the bytes to send again (the ACK) - not the
    # request, the callback nor the user's data
    tx = done
    assert tx.req is None and tx.cb is None and tx.data is None and tx.last.startswith(b"ACK ")
    assert tx.retx is None and _timer(tx.end) == "D" and tx.cseq is None
    wire.sent = []
    tx.on_response(parse(answer(parse(request("INVITE", call_id="o8", branch="z9hG4bKo8")), 486)))
    assert wire.sent == [(tx.last, PEER)]  # 17.1.1.2: the 486 again gets the ACK again


def test_a_bye_is_never_refused_by_a_full_server_side():
    # The UA makes a server transaction for a BYE only for a call it has (else 481): a full
    # table must not keep the call up (and its audio) until the peer gives up.
    clock, wire, layer = _layer()
    small = t.Transactions(wire.send, clock, 2)
    req = parse(request("MESSAGE"))
    for i in range(2):
        req.set("via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKs%d" % i)
        assert small.server(req, PEER) is not None
    req.set("via", "SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bKs9")
    assert small.server(req, PEER) is None  # all at work: refused (503)
    bye = small.server(parse(request("BYE", to_tag="me", cseq=2)), PEER)
    assert bye is not None and small.table[bye.key] is bye
