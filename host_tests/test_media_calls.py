# One MediaSession for every call (as intercom/sound.py keeps it): start() takes each
# call's socket, codec and ptime within what the session was made for, and a reused
# session behaves as a fresh one. (Its own file: each file's test code shares the
# 96 KB MicroPython heap with two sessions.)
import gc
import sys

from media_fakes import A_ADDR, B_ADDR, MP, CpySock, FakeClock, MpSock, PeakSink, Tone, pair, run

from mpsip import g711, media
from support import raises


class Sum:
    """A sink keeping a checksum of every sample it was given, and the frame count."""

    def __init__(self, rate=8000):
        self.rate = rate
        self.sum = 0
        self.frames = 0

    def write(self, buf):
        t = self.sum
        for i in range(len(buf)):
            t = (t * 31 + buf[i]) & 0xFFFFFF
        self.sum = t
        self.frames += 1


def _call(a, b, clock):
    """The same call on any pair of sessions: talk, a DTMF digit each way, talk."""
    got = []
    got_b = []
    a.sink = Sum()
    b.sink = Sum()
    a.dtmf_rx.on_event = lambda d, ms: got.append(d)
    b.dtmf_rx.on_event = lambda d, ms: got_b.append(d)
    clock.t = 1000000
    run(clock, (a, b), 12)
    b.send_dtmf("5")
    a.send_dtmf("#")
    run(clock, (a, b), 30)
    return (
        a.sink.sum,
        b.sink.sum,
        a.rx_packets,
        b.rx_packets,
        a.jb.played,
        b.jb.played,
        a.jb.concealed,
        got_b,
        got,
        a.port.latched,
        b.port.latched,
    )


def test_a_reused_session_behaves_as_a_fresh_one():
    clock = FakeClock()
    fresh = _call(*pair({}, clock)[:2], clock)
    gc.collect()
    a, b, sa, sb = pair({}, clock, b_cls=MpSock)
    a.start(MpSock({}, A_ADDR), B_ADDR, g711.PCMA, 10, 96)  # another call first: A-law, 10 ms
    run(clock, (a,), 5)
    a.send_dtmf("123")  # left half sent, and a's stream, stats and jitter buffer in use
    a.mute_mic = True
    net = {}
    b.start(MpSock(net, B_ADDR), A_ADDR)
    a.start(MpSock(net, A_ADDR), B_ADDR)
    run(clock, (a, b), 8)
    a.send_dtmf("99")  # an event on the wire at the end of the call
    run(clock, (a, b), 2)
    assert a.dtmf_tx.code >= 0 and a.jb.count > 0 and a.port.latched
    old = (a.sender.ssrc_hi, a.sender.ssrc_lo, a.sender.seq, a.sender.ts_hi)
    a.stop()
    b.stop()
    assert a.poll() == 20000 and not a.running  # stopped: no frame runs
    gc.collect()
    net = {}
    a.start(MpSock(net, A_ADDR), B_ADDR)  # the next call, PCMU 20 ms as the fresh pair's
    b.start(CpySock(net, B_ADDR), A_ADDR)
    # RFC 3550 5.1: a new stream; nothing of the last call is left
    assert (a.sender.ssrc_hi, a.sender.ssrc_lo, a.sender.seq, a.sender.ts_hi) != old
    assert a.sender.packets == 0 and a.frames == 0
    assert a.jb.count == 0 and not a.jb.synced and a.jb.played == 0 and a.jb.spf == 160
    assert a.dtmf_tx.code < 0 and a.dtmf_tx.size == 0 and not a.dtmf_rx.open
    assert not a.port.latched and not a.port.connected and a.port.remote == B_ADDR
    assert a.peer_hi < 0 and a.stats.received == 0 and not a.mute_mic
    assert a.mic.law == g711.PCMU and a.mic.samples == 160 and len(a.mic_buf) == a.mic.in_bytes
    assert _call(a, b, clock) == fresh


def test_start_takes_each_calls_codec_and_ptime_up_to_the_one_made_for():
    s = media.MediaSession(None, None, Tone(), PeakSink(), FakeClock())  # made for 20 ms
    assert not s.running and s.poll() == 20000
    s.start(MpSock({}, A_ADDR), B_ADDR, g711.PCMA, 10)
    assert s.mic.samples == 80 and s.jb.spf == 80 and s.jb.n == 14 and len(s.tx_audio) == 92
    assert s.pt == g711.PCMA and s.spk.law == g711.PCMA and len(s.spk_buf) == 160
    s.start(MpSock({}, A_ADDR), B_ADDR, g711.PCMU, 40)  # RFC 4566 6: a hint; sent at 20 ms
    assert s.mic.samples == 160 and s.pacer.period == 20000
    raises(ValueError, s.start, MpSock({}, A_ADDR), B_ADDR, 3)
    raises(ValueError, s.start, MpSock({}, A_ADDR), B_ADDR, 0, 25)


def test_rtcp_code_is_loaded_only_for_an_rtcp_socket():
    sys.modules.pop("mpsip.rtcp", None)
    gc.collect()
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock)
    run(clock, (a, b), 3)
    assert "mpsip.rtcp" not in sys.modules and a.rtcp is None
    a.stop()
    a.start(MpSock({}, A_ADDR), B_ADDR, rtcp_sock=MpSock({}, ("127.0.0.1", 40001)))
    assert "mpsip.rtcp" in sys.modules and a.rtcp is not None
    a.start(MpSock({}, A_ADDR), B_ADDR)  # the next call without: the reports stop
    assert a.rtcp is None


def test_later_calls_on_real_sockets_start_allocating_next_to_nothing():
    import socket

    from test_media_loop import _udp_socketpair

    (sa, sb), (aa, ba) = _udp_socketpair()
    s = media.MediaSession(None, None, Tone(), PeakSink(), FakeClock())
    used = []
    try:
        for _ in range(4):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # made before measuring
            gc.collect()
            if MP:
                gc.disable()
            before = gc.mem_alloc() if MP else 0
            s.start(sock, ba)
            used.append(gc.mem_alloc() - before if MP else 0)
            gc.enable()
            s.frame()
            s.stop()
            sock.close()
    finally:
        sa.close()
        sb.close()
    # After the first start (it makes the port's select.poll: ~1 KB), each allocates the
    # RFC 3550 5.1 random SSRC/sequence/timestamp (urandom's bytes: one 32-byte block on
    # the 64-bit unix port) and select.poll's entry for the socket: 128 bytes measured.
    assert max(used[1:]) <= 160, used
