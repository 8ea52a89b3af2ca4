# Jitter buffer for G.711 (one byte per sample): a ring of N preallocated frame
# slots addressed by RTP timestamp relative to the playout position, so packets
# are reordered by timestamp (sequence numbers only detect duplicates: RFC 4733
# events share the sequence space, leaving gaps the audio must not wait for).
#
# Playout: get() once per frame tick. A missing frame while later ones are waiting
# is lost: conceal it (repeat the last frame, fading) and move on. Nothing waiting
# at all is an underrun: conceal without moving, which adds one frame of delay
# (a late packet then still plays). The target delay follows the RFC 3550 A.8
# jitter estimate between min_ms and max_ms; excess delay is shed by dropping one
# frame when the buffer never fell below target for a whole second.
import array

from mpsip import g711
from mpsip.rtp import ts_sub

try:
    from micropython import const
except ImportError:

    def const(x):
        return x

    class micropython:  # @micropython.native is a compiler directive on MicroPython
        native = staticmethod(lambda f: f)


# put() results
PUT_OK = const(0)
PUT_LATE = const(1)  # behind the playout position: dropped
PUT_DUP = const(2)  # same slot, same sequence number: dropped
PUT_RESYNC = const(3)  # accepted after a jump: the buffer restarted at this packet
PUT_EMPTY = const(4)  # no payload

# get() returns a gain (Q8) for the frame left in .out: 256 a received frame,
# less while concealing a loss, 0 for silence (nothing to play).
FADE = b"\xcd\x80\x33"  # 205, 128, 51: -2, -6, -14 dB, then silence
_WINDOW = const(50)  # get() calls between delay reductions (1 s at 20 ms)


class JitterBuffer:
    """Made once for frames of `samples` at `ptime` ms and every shorter ptime of 10 ms
    steps (a session reused across calls: configure() takes each call's geometry in
    the same ring and counters start again)."""

    def __init__(self, samples=160, ptime=20, min_ms=40, max_ms=100, law=g711.PCMU):
        if samples <= 0 or ptime <= 0 or not 0 < min_ms <= max_ms:
            raise ValueError("bad jitter buffer geometry")
        self.min_ms = min_ms
        self.max_ms = max_ms
        cap = slots = 0
        p = ptime
        while p > 0:  # the most bytes and slots any geometry up to ptime needs
            k = self._frames(p)
            cap = max(cap, k * (samples * p // ptime))
            slots = max(slots, k)
            p -= 10
        self.ring = bytearray(cap)
        self.seq = array.array("i", [-1] * slots)  # -1: empty slot
        self.out = bytearray(samples)
        self.configure(samples, ptime, law)

    def _frames(self, ptime):
        """Slots for ptime: the deepest target and headroom for reordering beyond it."""
        self.fmin = max(1, (self.min_ms + ptime - 1) // ptime)
        self.fmax = max(self.fmin, (self.max_ms + ptime - 1) // ptime)
        return self.fmax + 4

    def configure(self, samples, ptime, law=g711.PCMU):
        """A new call's geometry (within what the buffer was made for), emptied."""
        n = self._frames(ptime)
        if samples * n > len(self.ring) or n > len(self.seq) or samples > len(self.out):
            raise ValueError("bad jitter buffer geometry")
        self.spf = samples  # samples (= bytes) per frame
        self.n = n
        self.ring_len = n * samples
        self.silence = g711.silence_code(law)
        self.target = self.fmin
        # counters
        self.played = 0
        self.concealed = 0
        self.late = 0
        self.dups = 0
        self.resyncs = 0
        self.dropped = 0  # frames shed to cut delay or on overflow
        self.reset()

    def reset(self, ts_hi=-1, ts_lo=0):
        """Forget everything (new SSRC, new call leg): the next packet restarts playout.
        Given a timestamp (put() resynchronising), restart at it now: its frame plays
        target-1 ticks from now (the prefill)."""
        for i in range(self.n):
            self.seq[i] = -1
        self.synced = ts_hi >= 0
        self.count = 0
        self.play = 0  # slot index of the next frame to play
        self.play_hi = ts_hi  # its RTP timestamp
        self.play_lo = ts_lo
        self.hold = self.target - 1
        self.streak = 0  # consecutive concealed ticks
        self.last_ok = False  # .out holds a frame of this stream worth repeating
        self.top = 0  # 1 + offset (frames from the playout position) of the newest slot filled
        self.low = self.n
        self.ticks = 0

    @micropython.native  # when the estimate moves
    def set_jitter(self, jitter):
        """Adapt the target to the RFC 3550 A.8 jitter (timestamp units): one frame
        plus three mean deviations, within [min_ms, max_ms]."""
        t = (self.spf + 3 * jitter + self.spf - 1) // self.spf
        t = self.fmin if t < self.fmin else (self.fmax if t > self.fmax else t)
        if t > self.target and self.synced:
            self.hold += t - self.target  # grow now; shrinking waits for a calm second
        self.target = t

    @micropython.native  # once per packet / frame
    def put(self, buf, off, plen, seq, ts_hi, ts_lo):
        """Store the payload buf[off:off+plen] of packet (seq, ts). Returns PUT_*."""
        if plen <= 0 or off < 0 or off + plen > len(buf):
            return PUT_EMPTY  # (the copies are viper: never past the buffer)
        spf = self.spf
        # The common case, once per frame: one whole frame of our size, on a slot boundary
        # within the ring and the current timestamp half. Same result as _put() (which
        # test_jitter checks), without its general arithmetic.
        if plen == spf and ts_hi == self.play_hi and self.synced:
            d = ts_lo - self.play_lo
            if 0 <= d < self.ring_len and d % spf == 0:
                f = d // spf
                s = (self.play + f) % self.n
                q = self.seq
                if q[s] == seq:
                    self.dups += 1
                    return PUT_DUP
                if q[s] < 0:
                    self.count += 1
                q[s] = seq
                if f >= self.top:
                    self.top = f + 1
                g711.copy(self.ring, s * spf, buf, off, spf)
                return PUT_OK
        return self._put(buf, off, plen, seq, ts_hi, ts_lo)

    @micropython.native  # once per packet off the common case
    def _put(self, buf, off, plen, seq, ts_hi, ts_lo):
        """put() in general: any length, any offset, resynchronising when needed."""
        spf = self.spf
        ring_len = self.ring_len
        status = PUT_OK
        if not self.synced:
            self.reset(ts_hi, ts_lo)
            status = PUT_RESYNC
        if ts_hi == self.play_hi:  # the common case, without a call
            d = ts_lo - self.play_lo
        else:
            d = ts_sub(ts_hi, ts_lo, self.play_hi, self.play_lo)
        if d < 0:
            if d > -8 * ring_len:
                self.late += 1
                return PUT_LATE
            d = ring_len  # far behind: the sender restarted its clock
        if d + plen > ring_len:
            # beyond the ring: the stream jumped (silence suppression, a new clock)
            self.resyncs += 1
            self.reset(ts_hi, ts_lo)
            status = PUT_RESYNC
            d = 0
            if plen > ring_len:
                plen = ring_len
        first = d // spf
        last = (d + plen - 1) // spf
        n = self.n
        slot = (self.play + first) % n
        if self.seq[slot] == seq:
            self.dups += 1
            return PUT_DUP
        partial = d % spf or plen % spf
        for f in range(first, last + 1):
            s = (self.play + f) % n
            if self.seq[s] < 0:
                if partial:
                    g711.fill(self.ring, s * spf, spf, self.silence)  # gaps in a slot stay silent
                self.count += 1
            self.seq[s] = seq
        if last + 1 > self.top:
            self.top = last + 1
        # copy, wrapping at the end of the ring
        pos = (self.play * spf + d) % ring_len
        part = ring_len - pos
        if part >= plen:
            g711.copy(self.ring, pos, buf, off, plen)
        else:
            g711.copy(self.ring, pos, buf, off, part)
            g711.copy(self.ring, 0, buf, off + part, plen - part)
        return status

    @micropython.native  # once per packet / frame
    def get(self):
        """Next frame into self.out; returns its gain (see FADE)."""
        if not self.synced:
            return 0
        if self.count < self.low:
            self.low = self.count
        t = self.ticks + 1
        if t >= _WINDOW:
            if self.low > self.target and self.hold == 0:
                self._skip(1)  # a whole second above target: shed one frame of delay
            t = 0
            self.low = self.n
        self.ticks = t
        if self.count >= self.n - 1:
            self._skip(1)  # about to overflow
        if self.hold > 0:
            self.hold -= 1
        elif self.seq[self.play] >= 0:  # the common case, kept free of calls but the copy
            s = self.play
            spf = self.spf
            g711.copy(self.out, 0, self.ring, s * spf, spf)
            self.seq[s] = -1
            self.count -= 1
            self.streak = 0
            self.last_ok = True
            self.played += 1
            self.play = (s + 1) % self.n  # _skip()'s advance, inline
            lo = self.play_lo + spf
            if lo > 0xFFFF:
                lo -= 0x10000
                self.play_hi = (self.play_hi + 1) & 0xFFFF
            self.play_lo = lo
            if self.top > 0:
                self.top -= 1
            return 256
        elif self.count:
            # Lost: later frames are waiting. Skip the hole up to the target depth (after an
            # underrun the playout position lags by the ticks spent waiting), conceal once.
            self._skip(0)
            while self.seq[self.play] < 0 and self.top >= self.target:
                self._skip(0)
        # else an underrun: wait here, the frame may be late
        # Conceal: the last frame again, fading, then silence
        s = self.streak
        self.streak = s + 1
        if s < len(FADE) and self.last_ok:
            self.concealed += 1
            return FADE[s]
        return 0

    @micropython.native  # per lost or shed frame
    def _skip(self, shed):
        """Move the playout position on one frame, dropping what is there (counted as
        shed delay when shed is 1)."""
        s = self.play
        if self.seq[s] >= 0:
            self.seq[s] = -1
            self.count -= 1
        self.dropped += shed
        self.play = (s + 1) % self.n
        lo = self.play_lo + self.spf  # 32-bit timestamp as halves, no tuple (no allocation)
        if lo > 0xFFFF:
            lo -= 0x10000
            self.play_hi = (self.play_hi + 1) & 0xFFFF
        self.play_lo = lo
        if self.top > 0:
            self.top -= 1
