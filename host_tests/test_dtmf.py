# RFC 4733 DTMF against real SIPp captures (host_tests/data/rfc4733): 12 digits,
# 10 packets each: M=1 duration 0, +320 per packet, end (E=1, 2240) sent 3 times
# with one sequence number. The JSON is scanned line by line for "rtp_hex": the
# whole tree does not fit a 96 KB MicroPython heap.
from mpsip import dtmf, rtp
from support import DATA, raises

_ORDER = "0123456789*#"


def _captures():
    """{digit: [packet bytes, ...]} in capture order."""
    caps = {}
    cur = None
    in_digits = False
    with open(DATA + "rfc4733/sipp_dtmf_pcaps_decoded.json") as f:
        for line in f:
            s = line.strip()
            if s.startswith('"digits"'):
                in_digits = True
            elif in_digits and len(s) == 6 and s[0] == '"' and s.endswith('": {'):
                cur = s[1]
                caps[cur] = []
            elif cur is not None and s.startswith('"rtp_hex"'):
                caps[cur].append(bytes.fromhex(s.split('"')[3]))
    return caps


def test_capture_scan_finds_every_packet():
    caps = _captures()
    assert sorted(caps) == sorted(_ORDER)
    for d in _ORDER:
        assert len(caps[d]) == 10


def test_event_codes_follow_rfc4733_table():
    tx = dtmf.DtmfSender()
    assert tx.press("0123456789*#ABCDad") == 18
    assert tx.queue[:18] == bytes(range(16)) + b"\x0c\x0f"
    assert tx.press("E f") == 0 and tx.size == 18
    got = []
    rx = dtmf.DtmfReceiver(on_event=lambda d, ms: got.append(d))
    for code in (15, 11, 10, 0):
        rx.packet(bytes([code, 0x8A, 0, 160]), 0, 4, 0, code, 0)  # E=1: reported at once
    assert got == ["D", "#", "*", "0"]


def _busy(tx):  # an event on the wire: the media loop sends it instead of audio
    return tx.code >= 0 or (tx.size > 0 and tx.wait == 0)


def test_sender_reproduces_sipp_packets_byte_for_byte():
    h = rtp.new_header()
    for d, pkts in _captures().items():
        assert rtp.parse(h, pkts[0], 0, len(pkts[0])) == rtp.OK
        sender = rtp.Sender(0, ssrc=(h[rtp.SSRC_HI], h[rtp.SSRC_LO]), seq=h[rtp.SEQ], ts=(h[rtp.TS_HI], h[rtp.TS_LO]))
        tx = dtmf.DtmfSender(pt=101, volume=10, step=320, duration=2240)
        assert tx.press(d) == 1
        buf = bytearray(16)
        for i, want in enumerate(pkts):
            assert _busy(tx)
            n = tx.next(sender, buf)
            assert buf[:n] == want, (d, i)
            sender.advance(160)  # the audio clock runs on; the event keeps its timestamp
        assert not _busy(tx) and tx.next(sender, buf) == 0


def test_sender_rfc_defaults_and_incrementing_end_sequence():
    sender = rtp.Sender(0, ssrc=(1, 2), seq=65534, ts=(0xFFFF, 0xFF00))
    tx = dtmf.DtmfSender(step=160, duration=480, end_same_seq=False, gap=1)
    tx.press("9#")
    buf = bytearray(16)
    h = rtp.new_header()
    seen = []
    for _ in range(20):
        n = tx.next(sender, buf)
        sender.advance(160)
        if n:
            assert rtp.parse(h, buf, 0, n) == rtp.OK
            ts = (h[rtp.TS_HI] << 16) | h[rtp.TS_LO]
            seen.append((buf[12], h[rtp.MARKER], buf[13] >> 7, (buf[14] << 8) | buf[15], h[rtp.SEQ], ts))
    # '9': durations 0, 160, 320, end 480 x3; seq wraps; the event timestamp is fixed
    assert [s[3] for s in seen[:6]] == [0, 160, 320, 480, 480, 480]
    assert [s[1] for s in seen[:6]] == [1, 0, 0, 0, 0, 0]
    assert [s[2] for s in seen[:6]] == [0, 0, 0, 1, 1, 1]
    assert [s[4] for s in seen[:6]] == [65534, 65535, 0, 1, 2, 3]
    assert all(s[5] == 0xFFFFFF00 for s in seen[:6])
    # '#' after a one-tick gap, timestamp = the audio clock then (wrapped past 2**32)
    assert seen[6][0] == 11 and seen[6][1] == 1
    assert seen[6][5] == (0xFFFFFF00 + 7 * 160) & 0xFFFFFFFF
    assert len(seen) == 12


def test_sender_ignores_invalid_digits_and_bounds_the_queue():
    tx = dtmf.DtmfSender(size=4)
    assert tx.press("1x2?") == 2
    assert tx.press("345") == 2
    raises(ValueError, dtmf.DtmfSender, 101, 10, 160, 0)
    raises(ValueError, dtmf.DtmfSender, 101, 64)


def test_pressing_keys_interns_no_character():
    # MicroPython interns the one-character str that iterating a str gives (a qstr, for
    # good): press() walks the digits by slices. Nothing interns U+01CB/U+01CC ahead (the
    # literal is longer than one); CPython makes a new str each time.
    chars = b"\xc7\x8b\xc7\x8c".decode()

    def interned(ch):
        b = ch.encode()
        return str(b, "utf-8") is str(b, "utf-8")

    assert not interned(chars[0:1]) and not interned(chars[1:2])
    assert dtmf.DtmfSender().press("1" + chars + "2") == 2
    assert not interned(chars[0:1]) and not interned(chars[1:2])


def _feed(rx, pkts, t0, keep=None, repeat=1):
    h = rtp.new_header()
    t = t0
    for p in pkts:
        t += 20
        if keep is not None and not keep(p):
            continue
        assert rtp.parse(h, p, 0, len(p)) == rtp.OK
        for _ in range(repeat):
            rx.packet(p, h[rtp.OFF], h[rtp.PLEN], h[rtp.TS_HI], h[rtp.TS_LO], t)
        rx.poll(t)
    return t


def _receiver(**kw):
    """A receiver and the list its events (digit, ms) are appended to."""
    got = []
    return dtmf.DtmfReceiver(on_event=lambda d, ms: got.append((d, ms)), **kw), got


def test_receiver_reports_one_event_per_press():
    caps = _captures()
    rx, got = _receiver()
    t = 0
    for d in _ORDER:
        t = _feed(rx, caps[d], t)
    assert got == [(d, 280) for d in _ORDER]  # 2240 samples at 8 kHz


def test_receiver_without_any_end_packet_reports_on_next_event_and_timeout():
    caps = _captures()
    rx, events = _receiver(timeout_ms=200)
    t = 0
    for d in _ORDER:
        t = _feed(rx, caps[d], t, keep=lambda p: not p[13] & 0x80)
    # all but the last were closed by the next event's new timestamp
    assert [e[0] for e in events] == list(_ORDER[:-1])
    assert events[0][1] == 1920 // 8  # the longest duration heard
    heard = t - 3 * 20  # the three dropped end packets were the last ticks
    rx.poll(heard + 199)
    assert len(events) == 11
    rx.poll(heard + 200)
    assert [e[0] for e in events] == list(_ORDER)
    rx.poll(heard + 1000)
    assert len(events) == 12  # reported once


def test_receiver_with_duplicates_lost_start_or_only_end_packets():
    caps = _captures()
    rx, got = _receiver()
    t = _feed(rx, caps["5"], 0, repeat=2)  # every packet twice
    t = _feed(rx, caps["7"], t, keep=lambda p: not p[1] & 0x80)  # the M=1 packet lost
    t = _feed(rx, caps["#"], t, keep=lambda p: p[13] & 0x80)  # only the end packets
    rx.poll(t + 1000)
    assert got == [("5", 280), ("7", 280), ("#", 280)]


def test_receiver_ignores_non_dtmf_events_and_short_payloads():
    rx, got = _receiver()
    rx.packet(bytes([16, 0x8A, 0, 160]), 0, 4, 0, 100, 0)  # flash, E=1
    rx.packet(bytes([1, 0x8A]), 0, 2, 0, 200, 0)
    rx.poll(10000)
    assert got == [] and rx.bad == 1


def test_receiver_timeout_survives_ticks_wrap():
    # MicroPython ticks_ms wraps at 2**30: the injected ticks_diff decides
    period = 1 << 30

    def diff(a, b):
        return ((a - b + period // 2) & (period - 1)) - period // 2

    rx, got = _receiver(ticks_diff=diff, timeout_ms=200)
    rx.packet(bytes([3, 10, 0, 160]), 0, 4, 0, 500, period - 50)
    rx.poll(100)  # 150 ms later, across the wrap
    assert got == []
    rx.poll(150)
    assert got == [("3", 20)]
