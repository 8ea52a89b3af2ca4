# The door station's audio around the media loop (intercom/sound.py): tones heard at both
# ends, ring-back while an outgoing call rings, push-to-talk and the half-duplex voice gate,
# seen in what the far end receives. Over an in-memory UDP with a stepped clock; the far end
# is a bare RTP peer (not a second MediaSession: the test shares the 96 KB heap with one).
import gc
from struct import pack_into

from g711codec import encode_sample
from media_fakes import A_ADDR, B_ADDR, MP, CpySock, FakeClock, MpSock, Tone, heap_lock, heap_unlock

from intercom import sound
from intercom.peak import peak_py
from mpsip import g711

gc.collect()


class Levels:
    """A sink noting per frame: 1 loud, 0 quiet."""

    def __init__(self, rate=8000):
        self.rate = rate
        self.seen = bytearray(320)
        self.n = 0

    def write(self, buf):
        if self.n < len(self.seen):
            self.seen[self.n] = 1 if peak_py(buf, len(buf) // 2) > 1000 else 0
        self.n += 1

    def marks(self, start=0):
        return "".join("x" if b else "." for b in self.seen[start : min(self.n, len(self.seen))])


class Far:
    """The far end: sends one PCMU packet per frame (a loud square wave or silence) and
    notes for each packet it receives whether it was loud."""

    def __init__(self, net, loud=False):
        self.sock = CpySock(net, B_ADDR)
        self.heard = Levels()
        self.loud = loud
        self.pkt = bytearray(172)
        self.seq = 0
        self.rx = bytearray(200)

    def frame(self):
        p = self.pkt
        pack_into("!BBHII", p, 0, 0x80, 0, self.seq, self.seq * 160, 0x1234)
        hi = encode_sample(g711.PCMU, 8000) if self.loud else 0xFF
        lo = encode_sample(g711.PCMU, -8000) if self.loud else 0xFF
        for i in range(160):
            p[12 + i] = hi if (i // 8) & 1 else lo  # 500 Hz
        self.seq += 1
        self.sock.sendto(p, A_ADDR)
        while True:
            try:
                n, _ = self.sock.recvfrom_into(self.rx)
            except OSError:
                break
            loud = 0
            for i in range(12, n):
                if abs(g711.decode_sample(g711.PCMU, self.rx[i])) > 1000:
                    loud = 1
                    break
            if self.heard.n < len(self.heard.seen):
                self.heard.seen[self.heard.n] = loud
            self.heard.n += 1


class Neg:
    def __init__(self, address="127.0.0.1", port=B_ADDR[1], direction="sendrecv"):
        self.address = address
        self.port = port
        self.pt = 0
        self.codec = "PCMU"
        self.dtmf_pt = 101
        self.ptime = 20
        self.direction = direction


class Call:
    def __init__(self, **kw):
        self.neg = Neg(**kw)


def rig(mic_amp=8000, far_loud=False, half_duplex=False, **kw):
    """Our Sound in a call with the far end; (sound, far, clock, our speaker, what far heard)."""
    net = {}
    clock = FakeClock()
    spk = Levels()
    s = sound.Sound(
        Tone(amp=mic_amp),
        spk,
        clock,
        lambda: MpSock(net, A_ADDR),
        lambda host, port: (host, port),
        half_duplex=half_duplex,
    )
    far = Far(net, far_loud)
    s.start(Call(**kw))
    return s, far, clock, spk, far.heard


def frames(s, b, clock, n):
    for _ in range(n):
        s.poll()
        b.frame()
        clock.t += 20000


def test_player_steps_on_and_off_by_frame():
    p = sound.Player()
    p.play((40, 20, 60))
    assert [p.next() for _ in range(7)] == [True, True, False, True, True, True, False]
    p.play((20, 40), loop=True)
    assert [p.next() for _ in range(6)] == [True, False, False, True, False, False]


def test_peak_twins_agree():
    try:  # the viper twin, as Sound loads it for a half-duplex board
        from intercom._peakv import peak_v as peak
    except ImportError:  # CPython
        peak = peak_py
    buf = bytearray(320)
    seed = 12345
    for trial in range(20):
        for i in range(320):
            seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
            buf[i] = (seed >> 16) & 0xFF
        if trial == 0:
            buf[0] = 0x00
            buf[1] = 0x80  # -32768: the largest magnitude
        assert peak(buf, 160) == peak_py(buf, 160)
    assert peak_py(buf, 0) == 0


def test_each_end_keeps_its_tone_level_whatever_the_mic_gain():
    # The speaker's tone at about -15 dBFS; the microphone's lowered by the gain the DSP
    # adds after it (12 dB: 6000 * 256 // 1019). One sine table serves both only when equal.
    for db, mic_peak in ((0, 6000), (12, 1507)):
        s = sound.Sound(Tone(), Levels(), FakeClock(), None, None, mic_gain_db=db)
        assert max(s.speaker.tone.table) == 6000 and max(s.mic.tone.table) == mic_peak
        assert (s.speaker.tone.table is s.mic.tone.table) == (db == 0)
        s = None
        gc.collect()


def test_confirm_tone_is_heard_at_both_ends_over_a_silent_microphone():
    s, b, clock, spk, far = rig(mic_amp=0)
    frames(s, b, clock, 10)
    assert far.n >= 9 and "x" not in far.marks()
    s.tone("confirm")  # 120 on, 80 off, 120 on, 80 off, 360 on: 38 frames
    frames(s, b, clock, 50)
    heard = far.marks()
    assert heard.count("x") >= 25 and heard.endswith("." * 8)  # then the silent mic again
    assert spk.marks().count("x") == 6 + 6 + 18  # the local speaker: exactly the on frames


def test_ringback_plays_one_second_in_five_on_the_speaker_only_while_ringing():
    clock = FakeClock()
    spk = Levels()
    s = sound.Sound(Tone(amp=0), spk, clock, None, None)
    assert s.poll() == 1000  # nothing to play: the loop may sleep
    s.ringback(True)
    for _ in range(300):  # 6 s of loop rounds, 20 ms apart
        s.poll()
        clock.t += 20000
    assert spk.marks() == "x" * 50 + "." * 200 + "x" * 50
    s.ringback(False)
    n = spk.n
    for _ in range(10):
        s.poll()
        clock.t += 20000
    assert spk.n == n


def test_push_to_talk_sends_only_while_held_and_mutes_the_speaker():
    s, b, clock, spk, far = rig(mic_amp=8000, far_loud=True)
    s.ptt(False)  # released: listening
    frames(s, b, clock, 20)
    assert "x" not in far.marks(5) and "x" in spk.marks(5)
    s.ptt(True)  # held: talking, the far end not heard
    start_far, start_spk = far.n, spk.n
    frames(s, b, clock, 20)
    assert far.marks(start_far + 5).count("x") >= 14 and "x" not in spk.marks(start_spk + 1)


def test_half_duplex_gate_mutes_the_mic_while_the_far_end_is_heard_and_a_hang_time_after():
    s, b, clock, spk, far = rig(mic_amp=8000, half_duplex=True)
    frames(s, b, clock, 20)
    assert far.marks(5).count("x") >= 14  # nobody at the far end: our mic is sent
    b.loud = True  # the far end speaks
    start = far.n
    frames(s, b, clock, 30)
    assert "x" not in far.marks(start + 8)  # gated (after the far end's audio reached us)
    b.loud = False
    start = far.n
    frames(s, b, clock, 40)
    got = far.marks(start)
    # silence for the jitter buffer's depth and the 240 ms hang, then our mic again
    assert got.startswith("." * 12) and got.endswith("x" * 10)


def test_without_the_gate_both_directions_flow_at_once():
    s, b, clock, spk, far = rig(mic_amp=8000, far_loud=True, half_duplex=False)
    frames(s, b, clock, 30)
    assert far.marks(10).count("x") >= 18 and spk.marks(10).count("x") >= 18


def test_recvonly_answer_sends_no_audio():
    s, b, clock, spk, far = rig(direction="recvonly")
    frames(s, b, clock, 20)
    assert far.n >= 19 and "x" not in far.marks()


def test_frames_with_tones_and_the_gate_allocate_nothing():
    s, b, clock, spk, far = rig(mic_amp=8000, far_loud=True, half_duplex=True)
    frames(s, b, clock, 10)  # warm up: first packets, latching, views cached
    s.tone("warning")
    if heap_lock is not None and MP:
        heap_lock()
        try:
            for _ in range(30):
                s.poll()
                clock.t += 20000
        finally:
            heap_unlock()
    else:
        for _ in range(30):
            s.poll()
            clock.t += 20000
    assert s.session.frames >= 40


def test_close_ends_the_calls_media_and_its_socket_and_keeps_the_session():
    s, b, clock, spk, far = rig()
    session = s.session
    sock = s.sock
    s.close()
    assert not s.live and s.sock is None and not session.running and session.port.sock is None
    assert s.poll() == 1000 and s.session is session
    s.start(Call())  # the next call: the same session on a new socket
    assert s.live and s.sock is not sock and session.port.sock is s.sock and session.running


def test_later_calls_start_allocating_next_to_nothing():
    # A station's life: the session is made at boot; a call's start then only takes the
    # call's socket. Sockets are made before measuring (the platform's, not ours).
    net = {}
    clock = FakeClock()
    socks = [MpSock({}, A_ADDR) for _ in range(3)]

    def open_rtp():
        sock = socks.pop()
        net[A_ADDR] = sock  # (a dict entry that exists: no allocation)
        return sock

    s = sound.Sound(Tone(), Levels(), clock, open_rtp, lambda host, port: B_ADDR)
    far = Far(net)
    call = Call()
    used = []
    for _ in range(3):
        gc.collect()
        if MP:
            gc.disable()
        before = gc.mem_alloc() if MP else 0
        s.start(call)
        used.append(gc.mem_alloc() - before if MP else 0)
        gc.enable()
        frames(s, far, clock, 5)
        assert s.session.rx_packets >= 4 and s.session.port.latched
        s.close()
    # What remains per start (MicroPython, 64-bit: 32-byte blocks): RFC 3550's random
    # SSRC, sequence and timestamp (urandom's 10 bytes) and, with this fake socket that
    # select.poll refuses, a poll object and the exception each time: 416 bytes measured
    # (128 with a real socket: test_media_calls.py). A new session was 7-9 KB.
    assert max(used[1:]) <= 512, used  # (the first start also makes the port's select.poll: ~1 KB)
