# RTP header write/parse (RFC 3550 5.1, 5.3.1), sequence/timestamp wrap, rejection
# of malformed packets by return code, receiver statistics (A.1, A.3, A.8) and
# the RTCP SR/RR + SDES compound (rtcp.py).
from mpsip import rtcp, rtp

try:
    import micropython

    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock
except (ImportError, AttributeError):  # CPython: nothing to lock
    heap_lock = heap_unlock = None

# A SIPp capture (host_tests/data/rfc4733): PT 101, seq 12080, ts 17632, M=1
SIPP = bytes.fromhex("80e52f30000044e00e05384e000a0000")


def ts32(h):  # the 32-bit fields as one int (a long on 32-bit boards: tests only)
    return (h[rtp.TS_HI] << 16) | h[rtp.TS_LO]


def ssrc32(h):
    return (h[rtp.SSRC_HI] << 16) | h[rtp.SSRC_LO]


def write_audio(s, buf, plen, marker=0):
    return s.write(buf, s.pt, marker, s.ts_hi, s.ts_lo, plen)


def test_parse_a_captured_packet():
    h = rtp.new_header()
    assert rtp.parse(h, SIPP, 0, len(SIPP)) == rtp.OK
    assert (h[rtp.MARKER], h[rtp.PT], h[rtp.SEQ], ts32(h), ssrc32(h)) == (1, 101, 12080, 17632, 0x0E05384E)
    assert (h[rtp.OFF], h[rtp.PLEN], h[rtp.CC]) == (12, 4, 0)


def test_every_truncation_of_the_header_is_rejected():
    h = rtp.new_header()
    for n in range(12):
        assert rtp.parse(h, SIPP, 0, n) == rtp.E_SHORT
    assert rtp.parse(h, SIPP, 0, 12) == rtp.OK and h[rtp.PLEN] == 0


def test_write_then_parse_round_trip_at_an_offset():
    s = rtp.Sender(8, ssrc=(0xDEAD, 0xBEEF), seq=7, ts=(1, 2))
    buf = bytearray(200)
    n = write_audio(s, buf, 160, marker=1)
    assert n == 172 and s.seq == 8 and s.packets == 1 and s.octets == 160
    assert buf[:12] == bytes.fromhex("8088000700010002deadbeef")
    room = bytearray(300)
    room[50 : 50 + n] = buf[:n]
    h = rtp.new_header()
    assert rtp.parse(h, room, 50, 50 + n) == rtp.OK
    assert (h[rtp.MARKER], h[rtp.PT], h[rtp.SEQ], h[rtp.TS_HI], h[rtp.TS_LO], ssrc32(h)) == (
        1,
        8,
        7,
        1,
        2,
        0xDEADBEEF,
    )
    assert (h[rtp.OFF], h[rtp.PLEN]) == (62, 160)


def test_sequence_and_timestamp_wrap():
    s = rtp.Sender(0, ssrc=(0, 1), seq=65535, ts=(0xFFFF, 0xFF60))
    buf = bytearray(12)
    h = rtp.new_header()
    got = []
    for _ in range(3):
        write_audio(s, buf, 0)
        rtp.parse(h, buf, 0, 12)
        got.append((h[rtp.SEQ], ts32(h)))
        s.advance(160)
    assert got == [(65535, 0xFFFFFF60), (0, 0), (1, 160)]


def test_random_start_values_differ_between_senders():
    a = rtp.Sender(0)
    b = rtp.Sender(0)
    assert (a.ssrc_hi, a.ssrc_lo, a.seq, a.ts_hi, a.ts_lo) != (b.ssrc_hi, b.ssrc_lo, b.seq, b.ts_hi, b.ts_lo)
    for v in (a.ssrc_hi, a.ssrc_lo, a.seq, a.ts_hi, a.ts_lo):
        assert 0 <= v <= 0xFFFF


def test_csrc_list_and_extension_are_skipped():
    # CC=2, X=1 with a 1-word extension, payload "abcd"
    pkt = bytes.fromhex("9200000100000002000000031111111122222222bede000101020304") + b"abcd"
    h = rtp.new_header()
    assert rtp.parse(h, pkt, 0, len(pkt)) == rtp.OK
    assert h[rtp.CC] == 2 and pkt[h[rtp.OFF] : h[rtp.OFF] + h[rtp.PLEN]] == b"abcd"


def test_padding_is_removed():
    pkt = bytes.fromhex("a00000010000000200000003") + b"abcd" + b"\x00\x00\x03"
    h = rtp.new_header()
    assert rtp.parse(h, pkt, 0, len(pkt)) == rtp.OK
    assert pkt[h[rtp.OFF] : h[rtp.OFF] + h[rtp.PLEN]] == b"abcd"


def test_malformed_packets_are_rejected_with_a_code():
    h = rtp.new_header()
    base = bytes.fromhex("800000010000000200000003")
    cases = [
        (bytes.fromhex("00") + base[1:], rtp.E_VERSION),
        (bytes.fromhex("40") + base[1:], rtp.E_VERSION),
        (bytes.fromhex("c0") + base[1:], rtp.E_VERSION),
        (bytes.fromhex("81") + base[1:], rtp.E_SHORT),  # CSRC promised, missing
        (bytes.fromhex("90") + base[1:] + b"\xbe\xde", rtp.E_SHORT),  # extension header cut
        (bytes.fromhex("90") + base[1:] + bytes.fromhex("bede0002") + b"1234", rtp.E_SHORT),
        (bytes.fromhex("a0") + base[1:] + b"ab\x00", rtp.E_PADDING),  # zero padding count
        (bytes.fromhex("a0") + base[1:] + b"ab\x04", rtp.E_PADDING),  # longer than the payload
        (bytes.fromhex("80c8") + base[2:], rtp.E_RTCP),  # an SR on the RTP port (RFC 5761)
        (bytes.fromhex("80cc") + base[2:], rtp.E_RTCP),
    ]
    for pkt, code in cases:
        assert rtp.parse(h, pkt, 0, len(pkt)) == code, pkt


def test_viper_and_plain_parsers_agree():
    import sys

    from mpsip import _g711p

    if sys.implementation.name == "micropython":
        from mpsip import _g711v

        assert rtp.parse is _g711v.parse_v
    else:
        assert rtp.parse is _g711p.parse_py
    base = bytes.fromhex("800000010000000200000003")
    pkts = [SIPP, base, base + b"abc"]
    for b0 in (0x00, 0x40, 0x81, 0x8F, 0x90, 0xA0, 0xB2, 0xC0):
        for tail in (b"", b"\x00", b"\x01", b"\x05", b"\x00\x01\x00\x00\x02", b"\xbe\xde\x00\x01xyzw\x02"):
            pkts.append(bytes([b0]) + base[1:] + tail)
    for pt in (0, 8, 13, 71, 72, 76, 77, 101, 127):
        pkts.append(base[:1] + bytes([pt | 0x80]) + base[2:] + b"\x11" * 8)
    s = 12345
    for _ in range(200):  # random junk of random length
        n = s % 40
        junk = bytearray(n)
        for i in range(n):
            s = (s * 1103515245 + 12345) & 0x7FFFFFFF
            junk[i] = (s >> 16) & 0xFF
        if n:
            junk[0] = (junk[0] & 0x3F) | 0x80  # mostly version 2, to get past the first check
        pkts.append(bytes(junk))
    a = rtp.new_header()
    b = rtp.new_header()
    for p in pkts:
        for end in range(len(p) + 1):
            for i in range(10):
                a[i] = b[i] = -7
            ra = _g711p.parse_py(a, p, 0, end)
            rb = rtp.parse(b, p, 0, end)
            assert ra == rb and a == b, (p, end)


def test_ts_sub_handles_wrap_and_clamps():
    assert rtp.ts_sub(0, 100, 0xFFFF, 0xFF00) == 356
    assert rtp.ts_sub(0xFFFF, 0xFF00, 0, 100) == -356
    assert rtp.ts_sub(0x8000, 0, 0, 0) == -(1 << 28)  # far apart: clamped, never a long
    assert rtp.ts_sub(0x0FFF, 0, 0, 0) == 1 << 28


def test_parse_and_write_do_not_allocate():
    if heap_lock is None:
        return
    s = rtp.Sender(0, ssrc=(0xFFFF, 0xFFFF), seq=1, ts=(0xFFFF, 0xFFFF))
    h = rtp.new_header()
    buf = bytearray(172)
    heap_lock()
    try:
        for _ in range(100):
            write_audio(s, buf, 160)
            s.advance(160)
            r = rtp.parse(h, buf, 0, 172)
            d = rtp.ts_sub(h[rtp.TS_HI], h[rtp.TS_LO], 0x8000, 0)
    finally:
        heap_unlock()
    assert r == rtp.OK and h[rtp.SEQ] == 100 and ts32(h) == 15839 and d == -(1 << 28)


def _diff(a, b):
    return a - b


def _arrive(st, seq, ts, now_us):
    assert st.update(seq, ts >> 16, ts & 0xFFFF, now_us, _diff)


def _loss(st):
    # RFC 3550 A.3 as the RTCP report block carries it (rtcp.py computes it there):
    # (fraction lost since the last report, cumulative lost)
    r = rtcp.Rtcp()
    n = r.build(rtp.Sender(0), st, True, 0, 0, 0)
    b = r.buf[n - r.sdes_len - 24 :]
    lost = (b[5] << 16) | (b[6] << 8) | b[7]
    return b[4], lost - 0x1000000 if lost & 0x800000 else lost


def test_stats_count_wraps_and_losses():
    st = rtp.RecvStats()
    st.reset(65530)
    seq = 65530
    for i in range(20):
        if i in (3, 4, 11):
            continue  # lost
        _arrive(st, (seq + i) & 0xFFFF, 160 * i, 20000 * i)
    assert st.cycles == 1 and st.max_seq == (65530 + 19) & 0xFFFF
    assert st.received == 17 and _loss(st) == ((3 << 8) // 20, 3)
    assert _loss(st) == (0, 3)  # nothing new since


def test_stats_big_jump_needs_a_second_packet():
    st = rtp.RecvStats()
    st.reset(100)
    assert st.update(100, 0, 0, 0, None)
    assert not st.update(20000, 0, 0, 0, None)  # restart candidate, dropped
    assert st.update(20001, 0, 0, 0, None)  # confirmed: the stream restarted
    assert st.max_seq == 20001 and st.received == 1


def test_jitter_is_zero_for_steady_arrivals_and_tracks_deviation():
    st = rtp.RecvStats()
    st.reset(0)
    for i in range(50):
        _arrive(st, i, 160 * i, 1000 + 20000 * i)
    assert (st.jitter16 >> 4) == 0
    # arrivals alternately 5 ms early and late: |D| = 10 ms = 80 units each time
    for i in range(50, 400):
        _arrive(st, i, 160 * i, 1000 + 20000 * i + (5000 if i % 2 else -5000))
    assert 75 <= (st.jitter16 >> 4) <= 80


_STATS = ("max_seq", "cycles", "base_seq", "bad_seq", "received", "jitter16", "last_us", "last_ts_hi", "last_ts_lo")


class _Reference:
    """RFC 3550 A.1 and A.8 written out plainly (longs allowed): what update() must do."""

    def __init__(self, seq):
        self.max_seq = self.base_seq = seq
        self.cycles = self.received = self.jitter16 = self.last_us = self.last_ts_lo = 0
        self.bad_seq = self.last_ts_hi = -1

    def update(self, seq, ts_hi, ts_lo, now):
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < 3000:
            if seq < self.max_seq:
                self.cycles += 1
            self.max_seq = seq
        elif udelta <= 0x10000 - 100:
            if seq != self.bad_seq:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
            self.__init__(seq)
        self.received += 1
        if self.last_ts_hi >= 0 and 0 <= now - self.last_us < 10000000:
            d = ((ts_hi << 16) | ts_lo) - ((self.last_ts_hi << 16) | self.last_ts_lo)
            d = (d + (1 << 31)) % (1 << 32) - (1 << 31)  # modulo 2**32, signed
            d = max(-(1 << 28), min(1 << 28, d))  # rtp.ts_sub's clamp
            d = abs((now - self.last_us) // 125 * 8 // 8 - d)
            if d < 0x100000:
                self.jitter16 += d - ((self.jitter16 + 8) >> 4)
        self.last_us = now
        self.last_ts_hi = ts_hi
        self.last_ts_lo = ts_lo
        return True


def test_stats_update_follows_rfc3550_a1_and_a8():
    # over in-order runs, losses, duplicates, reordering, big jumps, sequence and timestamp
    # wraps and odd arrival gaps, update() must return and leave what the plain model does.
    a = rtp.RecvStats()
    a.reset(65000)
    b = _Reference(65000)
    seq = 65000
    ts = 0xFFFF0000 - 160 * 50
    now = 0
    r = 99
    wraps = restarts = dropped = 0
    for i in range(3000):
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k = (r >> 16) % 50
        step = 1
        if i % 700 == 699:
            step = 20000  # a restart candidate (kept only if the next packet follows it)
        elif k == 0:
            step = 0  # duplicate
        elif k == 1:
            step = -3  # reordered
        elif k == 2:
            step = 5  # losses
        seq = (seq + step) & 0xFFFF
        ts = (ts + 160 * step) & 0xFFFFFFFF
        now += 20000 + ((r >> 8) % 7000 if k != 4 else 20000000)  # k == 4: a long pause
        got = a.update(seq, ts >> 16, ts & 0xFFFF, now, _diff)
        assert got == b.update(seq, ts >> 16, ts & 0xFFFF, now)
        for name in _STATS:
            assert getattr(a, name) == getattr(b, name), name
        wraps += seq < 10 and a.cycles > 0
        restarts += a.received == 1
        dropped += not got
    assert wraps and restarts >= 4 and dropped >= 4 and a.jitter16 > 0  # every path was taken


def test_stats_without_a_clock_count_sequence_only():
    st = rtp.RecvStats()
    st.reset(10)
    for seq in (10, 11, 12):
        assert st.update(seq, 5, 7, 1000 * seq, None)  # telephone-events: no jitter sample
    assert st.received == 3 and st.max_seq == 12 and st.last_ts_hi == -1 and st.jitter16 == 0


def test_rtcp_sr_rr_round_trip_gives_rtt_and_loss():
    a_tx = rtp.Sender(0, ssrc=(0x1111, 0x2222), seq=1, ts=(0, 0))
    b_tx = rtp.Sender(0, ssrc=(0x3333, 0x4444), seq=1, ts=(0, 0))
    a = rtcp.Rtcp(b"alice@127.0.0.1")
    b = rtcp.Rtcp(b"bob")
    a_stats = rtp.RecvStats()  # what a heard from b
    b_stats = rtp.RecvStats()
    b_stats.reset(1)
    for s in (1, 2, 4):
        b_stats.update(s, 0, 0, 0, None)  # seq 3 lost
    for _ in range(5):
        write_audio(a_tx, bytearray(172), 160)
    n = a.build(a_tx, a_stats, False, 0, 0, 1000)
    assert n % 4 == 0 and a.buf[1] == rtcp.RTCP_SR and a.buf[0] & 0x1F == 0
    assert b"alice@127.0.0.1" in bytes(a.buf[:n])
    assert b.parse(a.buf, n, 0x3333, 0x4444, 1000) == 2  # SR + SDES
    assert b.lsr_ms == 1000
    n = b.build(b_tx, b_stats, True, 0x1111, 0x2222, 1300)  # b sent nothing: an RR
    assert b.buf[1] == rtcp.RTCP_RR and b.buf[0] & 0x1F == 1
    assert a.parse(b.buf, n, 0x1111, 0x2222, 1350) == 2
    assert a.rtt_ms in (49, 50, 51)
    assert a.peer_lost == 1 and a.peer_fraction_lost == 256 // 4


def test_rtcp_malformed_input_is_counted_not_raised():
    r = rtcp.Rtcp()
    good = rtcp.Rtcp()
    n = good.build(rtp.Sender(0, ssrc=(1, 2)), rtp.RecvStats(), False, 0, 0, 5)
    assert r.parse(good.buf, n, 0, 0, 0) == 2  # an RR (nothing sent yet) and its SDES
    assert good.buf[1] == rtcp.RTCP_RR and r.bad == 0
    for bad in (b"\x00\xc8\x00\x01abcd", b"\x80\xc8\x00\x09abcd", b"\x80\x10\x00\x00", b"\x80\xc8\x00\x01abcd"):
        before = r.bad
        r.parse(bad, len(bad), 0, 0, 0)
        assert r.bad == before + 1, bad


def test_rtcp_bye_is_noted():
    r = rtcp.Rtcp()
    bye = bytes.fromhex("81cb000101020304")
    assert r.parse(bye, len(bye), 0, 0, 0) == 1 and r.peer_bye
