# The steady-state media loop: 500 frames under micropython.heap_lock() (any allocation
# raises MemoryError), RTCP both ways without allocating, real UDP sockets on 127.0.0.1,
# and pacing without drift with an injected clock.
from media_fakes import (
    MASK,
    FakeClock,
    MpSock,
    PeakSink,
    Tone,
    heap_locked_frames,
    pair,
    run,
)

from mpsip import media


def test_500_frames_allocate_nothing():
    # MicroPython's receive path (readinto + splitting) at both ends, the 16 kHz s32
    # microphone, the 16 kHz speaker and DTMF inside heap_lock: any allocation raises
    # MemoryError. (CPython's recvfrom_into returns a tuple: not a MicroPython path.)
    clock = FakeClock(MASK - 3000000)  # ticks wrap during the run
    src = Tone(500, 16000, 9000, fmt="s32")
    a, b, sa, sb = pair({}, clock, a_src=src, b_sink=PeakSink(16000), b_cls=MpSock)
    run(clock, (a, b), 5)  # warm-up: a port allocates in recvfrom until it has latched
    a.send_dtmf("42")
    # (no on_event: the digit it is given is a new str. The receiver's last event code
    # tells what was reported: "4" is over after 15 frames, "2" not yet begun.)
    heap_locked_frames(a, b, clock, 15)
    rx = b.dtmf_rx
    assert rx.code == 4 and not rx.open and rx.done_hi >= 0
    heap_locked_frames(a, b, clock, 485)
    assert b.rx_packets == 505 and a.rx_packets == 504
    assert rx.code == 2 and not rx.open
    assert b.sink.loud > 450 and a.rx_bad == b.rx_bad == 0


def test_rtcp_reports_flow_both_ways_without_allocating():
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock, rtcp=True, b_cls=MpSock)
    # The RTCP ports latch (and allocate, in recvfrom) on the first report, 2.5-7.5 s in
    run(clock, (a, b), 400)
    assert a.rtcp.port.latched and b.rtcp.port.latched
    got_a = a.rtcp.received
    got_b = b.rtcp.received
    heap_locked_frames(a, b, clock, 400)  # 8 s more: at least one report each way
    assert a.rtcp.received >= got_a + 2 and b.rtcp.received >= got_b + 2  # SR + SDES
    assert a.rtcp.bad == 0 and b.rtcp.bad == 0
    assert a.rtcp.peer_lost == 0 and 0 <= a.rtcp.rtt_ms <= 40


def _udp_socketpair():
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
    (sa, sb), (aa, ba) = _udp_socketpair()
    try:
        clock = FakeClock()
        a = media.MediaSession(sa, ba, Tone(), PeakSink(), clock=clock)
        b = media.MediaSession(sb, aa, Tone(amp=0), PeakSink(), clock=clock)
        run(clock, (a, b), 5)
        assert a.port.latched and b.port.latched
        a.send_dtmf("*")
        heap_locked_frames(a, b, clock, 200)
        assert b.rx_packets == 205 and a.rx_packets == 204
        assert b.dtmf_rx.code == 10 and not b.dtmf_rx.open and b.dtmf_rx.done_hi >= 0  # "*" reported
        assert b.sink.loud >= 180 and a.port.errors == 0 and b.rx_bad == 0
    finally:
        sa.close()
        sb.close()


def test_pacer_has_no_drift_over_30000_frames_with_jitter():
    clock = FakeClock(MASK - 10000000)  # the µs ticks wrap 35 times over 10 minutes
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
    a, b, sa, sb = pair({}, clock)
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
