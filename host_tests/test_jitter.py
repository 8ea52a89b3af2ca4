# Jitter buffer: reordering, loss concealment, duplicates, late packets, SSRC
# change, sequence/timestamp wrap, adaptive delay, other packet times, and no
# allocation per packet. One put() batch and one get() per 20 ms tick, as the
# media loop does; frame f carries the byte (f % 100) + 1 so playout is checkable.
from mpsip import g711, jitter
from support import raises

try:
    import micropython

    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock
except (ImportError, AttributeError):
    heap_lock = heap_unlock = None


class Stream:
    def __init__(self, seq0=1000, ts0=5000, spf=160):
        self.seq0 = seq0
        self.ts0 = ts0
        self.spf = spf
        self.pkt = bytearray(4 * spf)

    def put(self, jb, f, frames=1, samples=None):
        n = samples if samples is not None else frames * self.spf
        for i in range(n):
            self.pkt[i] = ((f + i // self.spf) % 100) + 1
        ts = (self.ts0 + f * self.spf) & 0xFFFFFFFF
        return jb.put(self.pkt, 0, n, (self.seq0 + f) & 0xFFFF, ts >> 16, ts & 0xFFFF)


def _tick(jb):
    """(gain, first byte of the frame) for one playout tick; byte 0 when silent."""
    g = jb.get()
    return (g, jb.out[0] if g else 0)


def _play(jb, stream, schedule, ticks):
    """schedule: {tick: [frame, ...]} arrivals; returns the frame byte per tick (0 silent,
    -b for a concealed repeat of frame byte b)."""
    out = []
    for t in range(ticks):
        for f in schedule.get(t, ()):
            stream.put(jb, f)
        g, b = _tick(jb)
        out.append(b if g == 256 else (-b if g else 0))
    return out


def test_in_order_stream_plays_after_the_target_delay():
    jb = jitter.JitterBuffer()
    assert jb.target == 2 and jb.fmax == 5
    s = Stream()
    out = _play(jb, s, {t: [t] for t in range(10)}, 10)
    assert out == [0] + list(range(1, 10))  # one tick of prefill: 40 ms target
    assert jb.played == 9 and jb.concealed == 0


def test_reordered_packets_play_in_timestamp_order():
    jb = jitter.JitterBuffer()
    s = Stream()
    sched = {0: [0], 1: [2], 2: [1, 3], 3: [5, 4], 4: [6], 5: [7], 6: [8], 7: [9]}
    out = _play(jb, s, sched, 9)
    assert out == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert jb.late == 0


def test_lost_frames_are_concealed_with_fade_then_silence():
    jb = jitter.JitterBuffer()
    s = Stream()
    lost = (3, 6, 7, 8, 9, 10)
    sched = {t: [t] for t in range(16) if t not in lost}
    g = []
    for t in range(16):
        for f in sched.get(t, ()):
            s.put(jb, f)
        g.append((jb.get(), jb.out[0]))
    # frame 3 lost: the repeat of frame 2 at -2 dB; frames 6-10 lost: fade, then silence
    assert g[3] == (256, 3) and g[4] == (205, 3) and g[5] == (256, 5)
    assert [x[0] for x in g[7:13]] == [205, 128, 51, 0, 0, 256]
    assert g[12][1] == 12
    assert jb.concealed == 4


def test_duplicates_are_dropped():
    jb = jitter.JitterBuffer()
    s = Stream()
    assert s.put(jb, 0) == jitter.PUT_RESYNC
    assert s.put(jb, 0) == jitter.PUT_DUP
    assert s.put(jb, 1) == jitter.PUT_OK
    assert s.put(jb, 1) == jitter.PUT_DUP
    assert jb.dups == 2 and jb.count == 2


def test_late_packets_are_dropped():
    jb = jitter.JitterBuffer()
    s = Stream()
    sched = {t: [t] for t in range(8) if t != 2}
    sched[6] = [6, 2]  # frame 2 shows up 80 ms after its turn
    out = _play(jb, s, sched, 8)
    assert out == [0, 1, 2, -2, 4, 5, 6, 7]  # tick t plays frame t - 1 (byte t)
    assert jb.late == 1


def test_underrun_waits_for_a_delayed_burst_instead_of_dropping_it():
    jb = jitter.JitterBuffer()
    s = Stream()
    sched = {0: [0], 1: [1], 5: [2, 3, 4, 5], 6: [6], 7: [7], 8: [8]}
    out = _play(jb, s, sched, 9)
    # frames 2..5 arrive 40 ms late all at once: concealed while waiting, then played
    assert out == [0, 1, 2, -2, -2, 3, 4, 5, 6]
    assert jb.late == 0


def test_ssrc_change_resyncs_to_the_new_stream():
    jb = jitter.JitterBuffer()
    a = Stream(seq0=100, ts0=1000)
    b = Stream(seq0=40000, ts0=3000000000)
    out = _play(jb, a, {t: [t] for t in range(5)}, 5)
    assert out[-1] == 4
    jb.reset()  # the media loop calls this on a new SSRC
    out = _play(jb, b, {t: [t + 50] for t in range(5)}, 5)
    assert out == [0, 51, 52, 53, 54]


def test_sequence_and_timestamp_wrap_do_not_disturb_playout():
    jb = jitter.JitterBuffer()
    s = Stream(seq0=65530, ts0=0xFFFFFFFF - 160 * 4 + 1)
    out = _play(jb, s, {t: [t] for t in range(20)}, 20)
    assert out == [0] + [(f % 100) + 1 for f in range(19)]
    assert jb.late == 0 and jb.dups == 0 and jb.resyncs == 0


def test_timestamp_jump_beyond_the_ring_restarts_playout():
    jb = jitter.JitterBuffer()
    s = Stream()
    _play(jb, s, {t: [t] for t in range(4)}, 4)
    assert s.put(jb, 500) == jitter.PUT_RESYNC  # e.g. after silence suppression
    assert jb.resyncs == 1 and jb.count == 1
    assert _tick(jb) == (0, 0)  # prefill again, silent: no repeat from before the jump
    assert _tick(jb) == (256, 1)  # frame 500


def test_adaptive_delay_grows_with_jitter_and_shrinks_when_calm():
    jb = jitter.JitterBuffer()
    s = Stream()
    f = 0
    for _ in range(10):
        s.put(jb, f)
        f += 1
        jb.get()
    base = jb.count
    jb.set_jitter(400)  # 50 ms mean deviation: 1 + 3*400/160 -> capped at 5 frames (100 ms)
    assert jb.target == 5
    for _ in range(10):
        s.put(jb, f)
        f += 1
        jb.get()
    assert jb.count == base + 3  # three held ticks added three frames of delay
    jb.set_jitter(0)
    assert jb.target == 2
    for _ in range(200):  # four calm seconds
        s.put(jb, f)
        f += 1
        jb.get()
    assert jb.count == base and jb.dropped == 3


def test_other_packet_times_and_geometry():
    for ptime, fmin, fmax in ((10, 4, 10), (20, 2, 5), (30, 2, 4), (40, 1, 3)):
        jb = jitter.JitterBuffer(samples=8 * ptime, ptime=ptime)
        assert (jb.fmin, jb.fmax, len(jb.out)) == (fmin, fmax, 8 * ptime)
    jb = jitter.JitterBuffer(samples=320, ptime=40)
    s = Stream(spf=320)
    out = _play(jb, s, {t: [t] for t in range(6)}, 6)
    assert out == [1, 2, 3, 4, 5, 6]  # target one 40 ms frame: no prefill tick
    raises(ValueError, jitter.JitterBuffer, 0)
    raises(ValueError, jitter.JitterBuffer, 160, 20, 100, 40)


def test_peer_packets_longer_or_shorter_than_our_frame():
    # a 40 ms packet fills two 20 ms slots; two 10 ms packets fill one
    jb = jitter.JitterBuffer()
    s = Stream()
    s.put(jb, 0, frames=2)
    assert jb.count == 2
    jb.get()
    assert jb.get() == 256 and jb.out[0] == 1 and jb.out[159] == 1
    assert jb.get() == 256 and jb.out[0] == 2
    jb = jitter.JitterBuffer()
    half = Stream(spf=80)
    half.put(jb, 0)
    half.put(jb, 1)
    assert jb.count == 1
    jb.get()
    assert jb.get() == 256 and jb.out[0] == 1 and jb.out[80] == 2


def test_partly_filled_slot_is_silent_where_nothing_arrived():
    jb = jitter.JitterBuffer(law=g711.PCMA)
    half = Stream(spf=80)
    half.put(jb, 1)  # 10 ms packets; the first sets the playout origin
    half.put(jb, 3)  # 20 ms later: the first half of the next frame, its second half missing
    jb.get()
    assert jb.get() == 256 and jb.out[0] == 2 and jb.out[80] == g711.SILENCE_ALAW
    assert jb.get() == 256 and jb.out[0] == 4 and jb.out[159] == g711.SILENCE_ALAW


def test_payload_outside_the_buffer_is_refused():
    jb = jitter.JitterBuffer()
    buf = bytearray(200)
    assert jb.put(buf, 100, 160, 1, 0, 0) == jitter.PUT_EMPTY  # would read past the end
    assert jb.put(buf, -1, 10, 1, 0, 0) == jitter.PUT_EMPTY
    assert jb.put(buf, 0, 0, 1, 0, 0) == jitter.PUT_EMPTY
    assert jb.count == 0 and not jb.synced


def test_put_and_get_do_not_allocate():
    if heap_lock is None:
        return
    jb = jitter.JitterBuffer()
    s = Stream(seq0=65000, ts0=0xFFFF0000)
    s.put(jb, 0)
    heap_lock()
    try:
        for f in range(1, 400):
            if f % 7:
                s.put(jb, f)
            if f % 11 == 0:
                s.put(jb, f)  # duplicate
            jb.get()
    finally:
        heap_unlock()
    assert jb.played > 300 and jb.dups > 30


_STATE = ("count", "play", "play_hi", "play_lo", "hold", "top", "late", "dups", "resyncs", "dropped", "played")


def test_put_fast_path_leaves_the_state_the_general_put_leaves():
    # put() stores a whole frame on a slot boundary itself and hands anything else to _put():
    # fed the same packets (in order, reordered, duplicated, late, lost, jumping, with the
    # timestamp's high half wrapping), the two must answer, store and play the same.
    a = jitter.JitterBuffer()
    b = jitter.JitterBuffer()
    pkt = bytearray(172)
    seq = 65000
    ts = 0xFFFF0000 - 160 * 40
    r = 7
    fast = 0
    for tick in range(1500):
        r = (r * 1103515245 + 12345) & 0x7FFFFFFF
        k = (r >> 16) % 40
        step = 1
        if k == 0:
            step = 0  # duplicate
        elif k == 1:
            step = -2  # reordered
        elif k == 2:
            step = -20  # late
        elif k == 3:
            step = 3  # two lost
        elif k == 4:
            step = 400  # beyond the ring: a resync
        seq = (seq + step) & 0xFFFF
        ts = (ts + 160 * step) & 0xFFFFFFFF
        for i in range(12, 172):
            pkt[i] = (seq + i) & 0xFF
        off = 12 if k != 5 else 92  # k == 5: a half frame (80 samples at an offset)
        n = 160 if k != 5 else 80
        before = a.dups + a.late + a.resyncs
        ra = a.put(pkt, off, n, seq, ts >> 16, ts & 0xFFFF)
        rb = b._put(pkt, off, n, seq, ts >> 16, ts & 0xFFFF)
        assert ra == rb, tick
        fast += ra == jitter.PUT_OK and a.dups + a.late + a.resyncs == before
        if tick % 3:  # playout runs slower than arrivals now and then: the buffer fills
            assert a.get() == b.get() and a.out == b.out, tick
        for name in _STATE:
            assert getattr(a, name) == getattr(b, name), (tick, name)
        assert a.seq == b.seq and a.ring == b.ring, tick
    assert fast > 800 and a.resyncs > 10 and a.late > 10 and a.dups > 10 and a.dropped > 10
