# The media loop end to end: two MediaSessions talking over an in-memory UDP
# (fake sockets with MicroPython's and CPython's receive semantics) and over real
# UDP sockets on 127.0.0.1; 500 frames under micropython.heap_lock(); pacing with
# an injected clock. audio.py's sources and sinks are tested in test_dsp.py: this
# file keeps its imports small so that two sessions fit the 96 KB MicroPython heap.
import array
import gc
import math
import sys

# One module at a time, collecting in between: imported as one chain, the transient
# garbage of loading fragments the 96 KB MicroPython heap beyond what the tests need.
for _m in ("mpsip.g711", "mpsip.rtp", "mpsip.jitter", "mpsip.dtmf", "mpsip.dsp", "mpsip.media"):
    __import__(_m)
    gc.collect()

from mpsip import g711, media, rtp  # noqa: E402
from support import raises  # noqa: E402

g711.enc_table(g711.PCMU)  # the codec tables (5 KB) live beside the modules, not in a test's space
g711.dec_table(g711.PCMU)
gc.collect()

try:
    import micropython

    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock
except (ImportError, AttributeError):  # CPython: the behaviour is still asserted
    heap_lock = heap_unlock = None

MP = sys.implementation.name == "micropython"
_MASK = (1 << 30) - 1
_HALF = 1 << 29


class FakeClock:
    """MicroPython ticks arithmetic (period 2**30) over a settable µs counter."""

    def __init__(self, t_us=0):
        self.t = t_us

    def ticks_us(self):
        return self.t & _MASK

    def ticks_ms(self):
        return (self.t // 1000) & _MASK

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def ticks_add(self, a, b):
        return (a + b) & _MASK


class MpSock:
    """A UDP socket with MicroPython 1.29 semantics and no allocation per datagram:
    readinto() concatenates queued datagrams until the buffer is full (truncating the
    last), recvfrom() allocates, connect() filters sources."""

    def __init__(self, net, addr, slots=6, size=176):
        self.net = net
        self.addr = addr
        net[addr] = self  # net: {address: socket}
        self.size = size
        self.slots = slots
        self.ring = bytearray(slots * size)
        self.lens = array.array("i", [0] * slots)
        self.srcs = [None] * slots
        self.head = 0
        self.count = 0
        self.peer = None
        self.sent = 0
        self.drops = 0

    def setblocking(self, flag):
        pass

    def connect(self, addr):
        self.peer = addr

    def sendto(self, data, addr):
        self.sent += 1
        dst = self.net.get(addr)
        if dst is not None:
            dst.deliver(data, self.addr)
        return len(data)

    def deliver(self, data, src):
        n = len(data)
        if (self.peer is not None and src != self.peer) or self.count == self.slots:
            self.drops += 1
            return
        i = (self.head + self.count) % self.slots
        g711.copy(self.ring, i * self.size, data, 0, n)
        self.lens[i] = n
        self.srcs[i] = src
        self.count += 1

    def newest(self):
        """The datagram delivered last (still queued), as bytes."""
        i = (self.head + self.count - 1) % self.slots
        return bytes(self.ring[i * self.size : i * self.size + self.lens[i]])

    def _pop(self):
        i = self.head
        self.head = (i + 1) % self.slots
        self.count -= 1
        return i

    def readinto(self, buf):
        if self.count == 0:
            return None
        got = 0
        room = len(buf)
        while self.count and got < room:
            i = self._pop()
            n = min(self.lens[i], room - got)
            g711.copy(buf, got, self.ring, i * self.size, n)
            got += n
        return got

    def recvfrom(self, bufsize):
        if self.count == 0:
            raise OSError(11)  # EAGAIN
        i = self._pop()
        return bytes(self.ring[i * self.size : i * self.size + self.lens[i]]), self.srcs[i]


class CpySock(MpSock):
    """CPython's semantics: recvfrom_into keeps datagram boundaries."""

    def recvfrom_into(self, buf):
        if self.count == 0:
            raise OSError(11)
        i = self._pop()
        n = self.lens[i]
        g711.copy(buf, 0, self.ring, i * self.size, n)
        return n, self.srcs[i]


class Tone:
    """A source (audio.py interface) whose tone period divides the frame: one frame
    is computed on the first call and copied after. amp 0: silence."""

    def __init__(self, freq=1000, rate=8000, amp=8000, fmt="s16"):
        self.freq = freq
        self.rate = rate
        self.amp = amp
        self.fmt = fmt
        self.frame = None

    def readinto(self, buf):
        n = len(buf)
        if self.frame is None:
            w = 4 if self.fmt == "s32" else 2
            self.frame = f = bytearray(n)
            for i in range(n // w):
                v = int(self.amp * math.sin(2 * math.pi * self.freq * i / self.rate)) & 0xFFFF
                f[w * i + w - 2] = v & 0xFF
                f[w * i + w - 1] = v >> 8
        g711.copy(buf, 0, self.frame, 0, n)
        return n


class PeakSink:
    def __init__(self, rate=8000):
        self.rate = rate
        self.frames = 0
        self.loud = 0  # frames with a peak above 1000
        self.peak = 0

    def write(self, buf):
        m = 0
        for i in range(0, len(buf), 2):
            v = buf[i] | (buf[i + 1] << 8)
            if v & 0x8000:
                v = 0x10000 - v
            if v > m:
                m = v
        self.frames += 1
        if m > 1000:
            self.loud += 1
        if m > self.peak:
            self.peak = m


A_ADDR = ("127.0.0.1", 40000)
B_ADDR = ("127.0.0.1", 50000)


def _pair(
    net, clock, a_src=None, b_src=None, a_sink=None, b_sink=None, rtcp=False, b_remote=A_ADDR, b_cls=CpySock, **kw
):
    # a: MicroPython socket semantics; b: CPython's unless b_cls says otherwise
    sa = MpSock(net, A_ADDR)
    sb = b_cls(net, B_ADDR)
    ra = rb = None
    if rtcp:
        ra = MpSock(net, ("127.0.0.1", 40001), 4, 96)  # compound RTCP: ~70 bytes
        rb = b_cls(net, ("127.0.0.1", 50001), 4, 96)
    a = media.MediaSession(
        sa,
        B_ADDR,
        a_src or Tone(),
        a_sink or PeakSink(),
        clock=clock,
        rtcp_sock=ra,
        rtcp_remote=("127.0.0.1", 50001),
        **kw,
    )
    b = media.MediaSession(
        sb,
        b_remote,
        b_src or Tone(amp=0),
        b_sink or PeakSink(),
        clock=clock,
        rtcp_sock=rb,
        rtcp_remote=("127.0.0.1", 40001),
        **kw,
    )
    return a, b, sa, sb


def _run(clock, sessions, frames):
    for _ in range(frames):
        for s in sessions:
            s.frame()
        clock.t += 20000


def test_tone_crosses_from_one_session_to_the_other():
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock)
    _run(clock, (a, b), 50)
    assert b.rx_packets == 50 and a.rx_packets == 49  # b's last packet is still queued
    assert b.sink.loud >= 47 and 7000 < b.sink.peak < 8500  # the 1 kHz tone, after prefill
    assert a.sink.loud == 0  # b sends silence
    assert b.rx_bad == 0 and b.jb.concealed == 0 and b.jb.late == 0
    assert b.port.latched and a.port.latched


def test_i2s_32_bit_16_khz_microphone_and_16_khz_speaker():
    clock = FakeClock()
    net = {}
    src = Tone(1000, 16000, 8000, fmt="s32")
    a, b, sa, sb = _pair(net, clock, a_src=src, b_sink=PeakSink(16000), mic_shift=16)
    assert a.mic.in_bytes == 160 * 2 * 4 and b.spk.out_bytes == 640
    _run(clock, (a, b), 30)
    assert b.sink.loud >= 27 and 7000 < b.sink.peak < 8700


def test_mute_sends_silence_and_push_to_talk_mutes_the_speaker():
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock)
    _run(clock, (a, b), 10)
    silence = bytes([g711.SILENCE_ULAW]) * 160
    a.mute()  # muted: packets keep flowing, with encoded silence
    a.frame()
    assert sb.count == 1 and sb.newest()[12:] == silence
    a.mute(False)
    _run(clock, (a, b), 1)
    assert sb.newest()[12:] != silence
    loud = b.sink.loud
    b.ptt(True)  # b talks: its speaker is muted although a's tone keeps arriving
    _run(clock, (a, b), 10)
    assert b.sink.loud == loud and b.rx_packets == 22 and not b.mute_mic
    b.ptt(False)  # b listens: its microphone is muted
    assert b.mute_mic and not b.mute_speaker
    _run(clock, (a, b), 10)
    assert b.sink.loud >= loud + 9
    b.ptt_off()
    assert not b.mute_mic and not b.mute_speaker


def test_dtmf_goes_out_as_rfc4733_and_comes_back_as_events():
    clock = FakeClock()
    got = []
    a, b, sa, sb = _pair({}, clock)
    b.dtmf_rx.on_event = lambda d, ms: got.append((d, ms))
    _run(clock, (a, b), 3)
    assert a.send_dtmf("1#x") == 2
    _run(clock, (a, b), 40)
    assert got == [("1", 200), ("#", 200)]
    assert b.dtmf_rx.get() == "1" and b.dtmf_rx.get() == "#" and b.dtmf_rx.get() is None
    b.dtmf_rx.feed_info("7")  # SIP INFO joins the same queue
    assert b.dtmf_rx.get() == "7"


def test_peer_address_is_latched_from_its_first_packet():
    # b was told a wrong address (a NAT in between): it answers where a's RTP comes from
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock, b_remote=("10.0.0.9", 1234))
    _run(clock, (b,), 3)
    assert a.rx_packets == 0
    _run(clock, (a, b), 5)
    # b latched in round 1; its packets reach a from round 2 on and a reads them a round later
    assert b.port.remote == A_ADDR and a.rx_packets == 3
    a = b = sa = sb = None
    gc.collect()  # one pair at a time fits the 96 KB heap
    clock2 = FakeClock()
    a, b, sa, sb = _pair({}, clock2, b_remote=None)  # no address at all until a speaks
    _run(clock2, (b, a), 5)
    assert b.port.remote == A_ADDR and a.rx_packets == 3  # b sends from round 3 on


def test_concatenated_reads_are_split_at_packet_boundaries():
    # a's socket has MicroPython semantics: after latching, three queued datagrams
    # (two audio, one telephone-event) come back from one readinto()
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock)
    _run(clock, (a, b), 5)  # a has read 4 packets, b's fifth is queued
    b.frame()
    b.send_dtmf("9")
    b.frame()
    b.frame()
    assert sa.count == 4  # audio, audio, DTMF start (M=1), DTMF continuation
    a.frame()
    assert a.rx_split == 3 and a.rx_bad == 0 and a.rx_packets == 8
    _run(clock, (b, a), 20)
    assert a.dtmf_rx.get() == "9" and a.rx_bad == 0 and a.jb.late == 0


def test_malformed_and_foreign_packets_are_counted_not_raised():
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock)
    _run(clock, (a, b), 3)
    for junk in (b"\x00" * 20, b"\x80", b"\xa0\x00\x00\x01" + b"\x00" * 8 + b"\x00", b"\x81" + b"\x00" * 11):
        sb.deliver(junk, A_ADDR)
        b.frame()
    assert b.rx_bad == 4
    pkt = bytearray(172)
    rtp.Sender(13, ssrc=(b.peer_hi, b.peer_lo), seq=1).write_audio(pkt, 160)  # comfort noise PT
    sb.deliver(pkt, A_ADDR)
    b.frame()
    assert b.rx_other == 1
    _run(clock, (a, b), 3)
    assert b.rx_packets == 6


def test_new_ssrc_is_adopted_after_two_packets_in_sequence():
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock)
    _run(clock, (a, b), 10)
    old = (b.peer_hi, b.peer_lo)
    a.sender = rtp.Sender(g711.PCMU)  # the peer restarted its stream
    _run(clock, (a, b), 10)
    assert (b.peer_hi, b.peer_lo) != old and b.ssrc_changes == 1
    assert (b.peer_hi, b.peer_lo) == (a.sender.ssrc_hi, a.sender.ssrc_lo)
    assert b.rx_other == 1 and b.jb.played >= 14


def _heap_locked_frames(a, b, clock, frames):
    pair = (a, b)  # built before the lock: a tuple is an allocation
    if heap_lock is None:  # CPython: the same frames, behaviour still asserted
        _run(clock, pair, frames)
        return
    heap_lock()
    try:
        _run(clock, pair, frames)
    finally:
        heap_unlock()


def test_500_frames_allocate_nothing():
    # MicroPython's receive path (readinto + splitting) at both ends, the 16 kHz s32
    # microphone, the 16 kHz speaker and DTMF inside heap_lock: any allocation raises
    # MemoryError. (CPython's recvfrom_into returns a tuple: not a MicroPython path.)
    clock = FakeClock(_MASK - 3000000)  # ticks wrap during the run
    src = Tone(500, 16000, 9000, fmt="s32")
    a, b, sa, sb = _pair({}, clock, a_src=src, b_sink=PeakSink(16000), b_cls=MpSock)
    _run(clock, (a, b), 5)  # warm-up: a port allocates in recvfrom until it has latched
    a.send_dtmf("42")
    _heap_locked_frames(a, b, clock, 500)
    assert b.rx_packets == 505 and a.rx_packets == 504
    assert b.dtmf_rx.get() == "4" and b.dtmf_rx.get() == "2"
    assert b.sink.loud > 450 and a.rx_bad == b.rx_bad == 0


def test_rtcp_reports_flow_both_ways_without_allocating():
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock, rtcp=True, b_cls=MpSock)
    # The RTCP ports latch (and allocate, in recvfrom) on the first report, 2.5-7.5 s in
    _run(clock, (a, b), 400)
    assert a.rtcp_port.latched and b.rtcp_port.latched
    got_a = a.rtcp.received
    got_b = b.rtcp.received
    _heap_locked_frames(a, b, clock, 400)  # 8 s more: at least one report each way
    assert a.rtcp.received >= got_a + 2 and b.rtcp.received >= got_b + 2  # SR + SDES
    assert a.rtcp.bad == 0 and b.rtcp.bad == 0
    assert a.rtcp.peer_lost == 0 and 0 <= a.rtcp.rtt_ms <= 40


def _udp_socket_pair():
    import socket

    def sockaddr(port):
        return socket.getaddrinfo("127.0.0.1", port)[0][-1]

    socks = []
    addrs = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        if hasattr(s, "getsockname"):
            s.bind(("127.0.0.1", 0))
            addrs.append(s.getsockname())
        else:  # MicroPython: no getsockname, pick a port
            from os import urandom

            for _ in range(50):
                r = urandom(2)
                port = 20000 + ((r[0] << 8) | r[1]) % 30000
                try:
                    s.bind(sockaddr(port))
                    break
                except OSError:
                    pass
            addrs.append(sockaddr(port))
        socks.append(s)
    return socks, addrs


def test_real_udp_sockets_on_loopback():
    (sa, sb), (aa, ba) = _udp_socket_pair()
    try:
        clock = FakeClock()
        a = media.MediaSession(sa, ba, Tone(), PeakSink(), clock=clock)
        b = media.MediaSession(sb, aa, Tone(amp=0), PeakSink(), clock=clock)
        _run(clock, (a, b), 5)
        assert a.port.latched and b.port.latched
        a.send_dtmf("*")
        _heap_locked_frames(a, b, clock, 200)
        assert b.rx_packets == 205 and a.rx_packets == 204
        assert b.dtmf_rx.get() == "*"
        assert b.sink.loud >= 180 and a.port.errors == 0 and b.rx_bad == 0
    finally:
        sa.close()
        sb.close()


def test_pacer_has_no_drift_over_30000_frames_with_jitter():
    clock = FakeClock(_MASK - 10000000)  # the µs ticks wrap 35 times over 10 minutes
    p = media.Pacer(clock, 20000)
    t0 = clock.t
    seed = 1
    frames = 0
    while frames < 30000:
        w = p.due()
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        if w:
            clock.t += w + (seed >> 8) % 4000  # the sleep overshoots by up to 4 ms
        else:
            frames += 1
            clock.t += 300 + (seed >> 8) % 2000  # the frame's own work
    elapsed = clock.t - t0
    # the 30000th frame ran within one period of its deadline: 600 s, not 600 s + jitter
    assert 30000 * 20000 - 20000 <= elapsed <= 30000 * 20000 + 6000
    assert p.skipped == 0 and p.n == 30000


def test_stall_drops_the_backlog_and_keeps_rtp_time():
    clock = FakeClock()
    a, b, sa, sb = _pair({}, clock)
    a.pacer.start()
    while a.pacer.n < 10:
        w = a.poll()
        clock.t += w
    ts_before = (a.sender.ts_hi << 16) | a.sender.ts_lo
    clock.t += 500000  # half a second stuck (flash write, Wi-Fi)
    while a.poll() == 0:
        pass
    ts_after = (a.sender.ts_hi << 16) | a.sender.ts_lo
    # 25 periods passed: 24 frames dropped, one run now; RTP time moved 25 frames
    assert a.pacer.skipped == 24 and a.pacer.n == 11
    assert (ts_after - ts_before) & 0xFFFFFFFF == 25 * 160


def test_media_reads_the_header_fields_where_rtp_writes_them():
    assert media.FIELDS == (rtp.PT, rtp.SEQ, rtp.TS_HI, rtp.TS_LO, rtp.SSRC_HI, rtp.SSRC_LO, rtp.OFF, rtp.PLEN)


def test_session_geometry_and_bad_parameters():
    s = MpSock({}, A_ADDR)
    a = media.MediaSession(s, B_ADDR, Tone(), PeakSink(), ptime=40)
    assert a.samples == 320 and a.jb.spf == 320 and len(a.tx) == 332 and a.mic.in_bytes == 640
    raises(ValueError, media.MediaSession, s, B_ADDR, Tone(), PeakSink(), None, 3)  # not G.711
    raises(ValueError, media.MediaSession, s, B_ADDR, Tone(), PeakSink(), None, 0, 25)  # ptime
