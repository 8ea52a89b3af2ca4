# The door station's audio around the media loop: one MediaSession per call on the
# platform's microphone and speaker, and what a door station adds to it:
# - tones: ring-back on the speaker while an outgoing call rings (no session yet), a
#   confirmation when the door opens and a warning before the call limit, heard at both
#   ends (they replace the microphone's frame on the way out and the speaker's frame);
# - the half-duplex voice gate for boards without echo cancellation: while the far end is
#   heard on the speaker the microphone is muted (encoded silence keeps flowing), and
#   for a hang time after, so the tail of the speaker's sound is not sent back as echo.
# Every buffer and tone table is allocated here, once; a frame allocates nothing.
from mpsip import g711
from mpsip.audio import ToneSource
from mpsip.dsp import UNITY
from mpsip.media import MediaSession, Pacer

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


_PTIME = const(20)
# ITU-T E.180 (and ETSI ES 201 970): ring-back is 425 Hz, 1 s on, 4 s off in most of
# Europe; the other signals are short 880 Hz beeps, well apart from the ring-back.
_RINGBACK_HZ = const(425)
_SIGNAL_HZ = const(880)
TONES = {
    "ringback": (1000, 4000),  # repeats
    "confirm": (120, 80, 120, 80, 360),  # door open: two short, one long
    "warning": (400, 200, 400, 200, 400),  # 10 s left
}
_TONE_LEVEL = const(6000)  # s16 peak at the codec input: about -15 dBFS
_GATE_LEVEL = const(1000)  # speaker peak above which the far end counts as speaking
_GATE_HANG = const(12)  # frames (240 ms) the microphone stays muted after that


def peak_py(buf, n):
    """Largest |sample| of the first n s16 LE samples of buf (every one: a stride would
    miss tones whose period it divides)."""
    m = 0
    for i in range(0, 2 * n, 2):
        v = buf[i] | (buf[i + 1] << 8)
        if v & 0x8000:
            v = 0x10000 - v
        if v > m:
            m = v
    return m


try:
    from intercom._peakv import peak_v as peak
except ImportError:  # CPython, or a port without the native emitter
    peak = peak_py


def _inc(tone, hz):
    """ToneSource's phase step for hz: one sine table serves every tone of a path."""
    return (hz * (1 << 24) + tone.rate // 2) // tone.rate


class Player:
    """Steps a tone's on/off durations one frame at a time: next() -> is this frame on.
    With a ToneSource, play() also tunes it to the tone's frequency."""

    def __init__(self, tone=None):
        self.tone = tone
        self.steps = ()
        self.loop = False
        self.i = 0
        self.left = 0

    def play(self, steps, loop=False, hz=_SIGNAL_HZ):
        if self.tone is not None:
            self.tone.inc = _inc(self.tone, hz)
        self.steps = steps
        self.loop = loop
        self.i = 0
        self.left = steps[0] // _PTIME

    def stop(self):
        self.steps = ()

    def next(self):
        steps = self.steps
        while steps:
            if self.left > 0:
                self.left -= 1
                return not (self.i & 1)
            self.i += 1
            if self.i >= len(steps):
                if not self.loop:
                    self.steps = ()
                    return False
                self.i = 0
            self.left = steps[self.i] // _PTIME
        return False


class _Mic:
    """The microphone as MediaSession's source, a tone replacing it while one plays."""

    def __init__(self, mic, tone):
        self.mic = mic
        self.rate = mic.rate
        self.fmt = mic.fmt
        self.tone = tone
        self.player = Player(tone)

    def readinto(self, buf):
        got = self.mic.readinto(buf)  # read even during a tone: drains the I2S buffer
        if self.player.next():
            return self.tone.readinto(buf)
        return got


class _Speaker:
    """The speaker as MediaSession's sink: tones replace the frame, the gate listens."""

    def __init__(self, speaker, tone, gate):
        self.speaker = speaker
        self.rate = speaker.rate
        self.tone = tone
        self.gate = gate
        self.samples = speaker.rate // 1000 * _PTIME
        self.player = Player(tone)
        self.hang = 0  # frames left with the far end counted as speaking

    def write(self, buf):
        if self.player.next():
            self.tone.readinto(buf)
        elif self.gate:
            if peak(buf, self.samples) > _GATE_LEVEL:
                self.hang = _GATE_HANG
            elif self.hang:
                self.hang -= 1
        self.speaker.write(buf)


def q8_db(db):
    """A gain in dB as the DSP's Q8 multiplier (UNITY = 0 dB)."""
    return int(UNITY * 10 ** (db / 20) + 0.5)


class Sound:
    """mic/speaker: the platform's source and sink (mpsip/audio.py's interface).
    open_rtp() -> a UDP socket bound to the local RTP port; address(host, port) -> what
    its sendto() takes. start(call) is the application's media factory."""

    def __init__(
        self,
        mic,
        speaker,
        clock,
        open_rtp,
        address,
        half_duplex=False,
        mic_shift=16,
        mic_gain_db=0,
        volume=80,
        on_dtmf=None,
        codec="PCMU",
    ):
        # The preferred codec's G.711 tables (4.6 KB for PCMU) are built now, while the
        # heap is whole: built at the first call's answer they once found no 4 KB block
        # in a heap fragmented by ringing and retransmissions. g711 keeps them.
        law = g711.PCMU if codec == "PCMU" else g711.PCMA
        g711.enc_table(law)
        g711.dec_table(law)
        self.clock = clock
        self.open_rtp = open_rtp
        self.address = address
        self.on_dtmf = on_dtmf
        self.mic_shift = mic_shift
        self.gain = min(q8_db(mic_gain_db), 16384)
        self.volume = UNITY * volume // 100
        amp = _TONE_LEVEL
        if mic.fmt == "s32":  # the tone fills the top 16 bits of a slot the DSP shifts down
            amp >>= 16 - mic_shift
        amp = max(1, min(32767, amp * UNITY // max(self.gain, 1)))  # the mic gain comes after
        self.mic = _Mic(mic, ToneSource(_SIGNAL_HZ, mic.rate, amp, mic.fmt))
        self.speaker = _Speaker(speaker, ToneSource(_SIGNAL_HZ, speaker.rate, _TONE_LEVEL), half_duplex)
        self.ring_buf = bytearray(self.speaker.samples * 2)
        self.ring_pacer = None
        self.session = None
        self.sock = None
        self.talking = None  # push-to-talk: None (not used), True (held), False
        self.may_send = True  # False when the answer says recvonly/inactive

    # --- the application's media factory and session controls ------------------------------
    def start(self, call):
        neg = call.neg
        self.ringback(False)
        self.sock = self.open_rtp()
        self.talking = None
        self.session = MediaSession(
            self.sock,
            self.address(neg.address, neg.port),
            self.mic,
            self.speaker,
            self.clock,
            pt=neg.pt,
            ptime=neg.ptime if neg.ptime in (10, 20, 30, 40) else _PTIME,
            dtmf_pt=neg.dtmf_pt or 101,
            mic_shift=self.mic_shift,
            mic_gain=self.gain,
            volume=self.volume,
            on_dtmf=self._dtmf,
        )
        # RFC 3264 6.1: recvonly/inactive from our side: no audio (encoded silence still flows)
        self.may_send = neg.direction not in ("recvonly", "inactive")
        return self

    def _dtmf(self, digit, ms):
        if self.on_dtmf is not None:
            self.on_dtmf(digit)

    def ptt(self, talking):
        """Held: the microphone is live and the speaker muted; released: the reverse."""
        self.talking = talking
        if self.session is not None:
            self.session.mute_speaker = talking

    def tone(self, name):
        steps = TONES[name]
        self.mic.player.play(steps)
        self.speaker.player.play(steps)

    def close(self):
        s = self.session
        self.session = None
        self.mic.player.stop()
        self.speaker.player.stop()
        self.speaker.hang = 0
        if s is not None:
            s.close()
        if self.sock is not None:
            if hasattr(self.sock, "close"):
                self.sock.close()
            self.sock = None

    def ringback(self, on):
        """On the speaker only: the caller at the door hears that the far end rings."""
        if on and self.session is None and self.ring_pacer is None:
            self.speaker.player.play(TONES["ringback"], True, _RINGBACK_HZ)
            self.ring_pacer = Pacer(self.clock, _PTIME * 1000)
        elif not on and self.ring_pacer is not None:
            self.speaker.player.stop()
            self.ring_pacer = None

    # --- the loop ------------------------------------------------------------------------------
    def poll(self):
        """Run a due frame; ms until the next is due (1000 when there is nothing to play)."""
        s = self.session
        if s is not None:
            # Who may be heard this frame: a tone always (it is ours, not the room's);
            # else not while push-to-talk is released or the gate hears the far end.
            mute = not self.may_send
            if not mute and not self.mic.player.steps:
                mute = self.talking is False or self.speaker.hang > 0
            s.mute_mic = mute
            return s.poll() // 1000
        p = self.ring_pacer
        if p is None:
            return 1000
        w = p.due()
        if w:
            return w // 1000
        buf = self.ring_buf
        g711.fill(buf, 0, len(buf), 0)
        self.speaker.write(buf)  # the player puts the ring-back's on frames in
        return 0
