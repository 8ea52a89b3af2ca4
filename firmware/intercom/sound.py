# The door station's audio around the media loop: one MediaSession on the platform's
# microphone and speaker, made at boot and reused by every call (a call's start then
# allocates next to nothing), and what a door station adds to it:
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
from mpsip.media import MediaSession

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


class Player:
    """One end of the audio with a tone that replaces its frames while one plays: the
    microphone as MediaSession's source (readinto) or the speaker as its sink (write, where
    the half-duplex gate listens). next() steps the tone's on/off durations one frame at a
    time: is this frame on. (One class for both ends: each class costs the heap its own.)"""

    def __init__(self, dev=None, tone=None, gate=None):
        self.dev = dev
        self.tone = tone
        self.gate = gate  # the speaker of a half-duplex board: peak(buf, n); else None
        if dev is not None:
            self.rate = dev.rate
            self.fmt = getattr(dev, "fmt", "s16")  # (a sink has none: only the source's is read)
        self.steps = ()  # () when no tone plays
        self.loop = False
        self.i = 0
        self.left = 0
        self.hang = 0  # the speaker: frames left with the far end counted as speaking

    def play(self, steps, loop=False, hz=_SIGNAL_HZ):
        t = self.tone
        if t is not None:  # ToneSource's phase step: one sine table serves every tone
            t.inc = (hz * (1 << 24) + t.rate // 2) // t.rate
        self.steps = steps
        self.loop = loop
        self.i = 0
        self.left = steps[0] // _PTIME

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

    def readinto(self, buf):
        got = self.dev.readinto(buf)  # read even during a tone: drains the I2S buffer
        if self.next():
            return self.tone.readinto(buf)
        return got

    def write(self, buf):
        if self.next():
            self.tone.readinto(buf)
        elif self.gate is not None:
            if self.gate(buf, len(buf) >> 1) > _GATE_LEVEL:
                self.hang = _GATE_HANG
            elif self.hang:
                self.hang -= 1
        self.dev.write(buf)


class Sound:
    """mic/speaker: the platform's source and sink (mpsip/audio.py's interface).
    open_rtp() -> a UDP socket bound to the local RTP port; address(host, port) -> what
    its sendto() takes; on_dtmf(digit, ms) for RFC 4733 digits. start(call) is the
    application's media factory."""

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
        self.open_rtp = open_rtp
        self.address = address
        gain = min(int(UNITY * 10 ** (mic_gain_db / 20) + 0.5), 16384)  # dB as the DSP's Q8
        amp = _TONE_LEVEL
        if mic.fmt == "s32":  # the tone fills the top 16 bits of a slot the DSP shifts down
            amp >>= 16 - mic_shift
        amp = max(1, min(32767, amp * UNITY // max(gain, 1)))  # the mic gain comes after
        tone = ToneSource(_SIGNAL_HZ, mic.rate, amp, mic.fmt)
        self.mic = Player(mic, tone)
        spk = ToneSource(_SIGNAL_HZ, speaker.rate, _TONE_LEVEL)
        if amp == _TONE_LEVEL:  # the same sine (its table is rate- and format-free): 0.5 KB once
            spk.table = tone.table
        gate = None
        if half_duplex:  # the voice gate's level meter, loaded only for a board that gates
            try:
                from intercom._peakv import peak_v as gate
            except ImportError:  # CPython, or a port without the native emitter
                from intercom.peak import peak_py as gate
        self.speaker = Player(speaker, spk, gate)
        # Made now, while the heap is whole, with the preferred codec's G.711 tables (0.9 KB
        # since the segment encoder; the old 4 KB mu-law table, built at a call's answer,
        # once found no room in a heap fragmented by ringing and retransmissions). The
        # other law's, at its first call.
        self.session = MediaSession(
            None,
            None,
            self.mic,
            self.speaker,
            clock,
            pt=g711.PCMU if codec == "PCMU" else g711.PCMA,
            ptime=_PTIME,
            mic_shift=mic_shift,
            mic_gain=gain,
            volume=UNITY * volume // 100,
            on_dtmf=on_dtmf,
        )
        self.live = False  # a call's media is running
        self.ringing = False  # ring-back on the speaker, paced by the idle session's Pacer
        self.sock = None
        self.talking = None  # push-to-talk: None (not used), True (held), False
        self.may_send = True  # False when the answer says recvonly/inactive

    # --- the application's media factory and session controls ------------------------------
    def start(self, call):
        neg = call.neg
        self.ringback(False)
        self.sock = self.open_rtp()
        self.talking = None
        self.session.start(
            self.sock,
            self.address(neg.address, neg.port),
            neg.pt,
            neg.ptime if neg.ptime in (10, 20, 30, 40) else _PTIME,  # above 20: sent at 20
            neg.dtmf_pt or 101,
        )
        self.live = True
        # RFC 3264 6.1: recvonly/inactive from our side: no audio (encoded silence still flows)
        self.may_send = neg.direction not in ("recvonly", "inactive")
        return self

    def ptt(self, talking):
        """Held: the microphone is live and the speaker muted; released: the reverse."""
        self.talking = talking
        self.session.mute_speaker = talking

    def tone(self, name):
        steps = TONES[name]
        self.mic.play(steps)
        self.speaker.play(steps)

    def close(self):
        """The call's media ends; the session stays for the next call."""
        self.live = False
        self.session.stop()
        self.mic.steps = self.speaker.steps = ()  # no tone plays on
        self.speaker.hang = 0
        if self.sock is not None:
            if hasattr(self.sock, "close"):
                self.sock.close()
            self.sock = None

    def ringback(self, on):
        """On the speaker only: the caller at the door hears that the far end rings."""
        if on and not self.live and not self.ringing:
            self.speaker.play(TONES["ringback"], True, _RINGBACK_HZ)
            p = self.session.pacer  # (start() sets its period again)
            p.period = _PTIME * 1000
            p.start()
            self.ringing = True
        elif not on and self.ringing:
            self.speaker.steps = ()
            self.ringing = False

    # --- the loop ------------------------------------------------------------------------------
    def poll(self):
        """Run a due frame; ms until the next is due (1000 when there is nothing to play)."""
        s = self.session
        if self.live:
            # Who may be heard this frame: a tone always (it is ours, not the room's);
            # else not while push-to-talk is released or the gate hears the far end.
            mute = not self.may_send
            if not mute and not self.mic.steps:
                mute = self.talking is False or self.speaker.hang > 0
            s.mute_mic = mute
            return s.poll() // 1000
        if not self.ringing:
            return 1000
        w = s.pacer.due()
        if w:
            return w // 1000
        buf = s.spk_all  # a 20 ms frame at the speaker's rate, free between calls
        g711.fill(buf, 0, len(buf), 0)
        self.speaker.write(buf)  # the player puts the ring-back's on frames in
        return 0
