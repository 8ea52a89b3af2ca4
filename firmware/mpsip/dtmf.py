# DTMF as RFC 4733 telephone-events (payload: event 8 bits | E R volume(6) |
# duration 16 bits, in timestamp units), sent and received on the audio stream,
# plus digits from SIP INFO fed into the same event queue.
import array

try:
    from micropython import const
except ImportError:

    def const(x):
        return x

    class micropython:  # @micropython.native is a compiler directive on MicroPython
        native = staticmethod(lambda f: f)


# RFC 4733 3.2: events 0-9, * = 10, # = 11, A-D = 12-15 (a str: no tuple of 16 objects)
DIGITS = "0123456789*#ABCD"
PAYLOAD = const(4)


class DtmfSender:
    """Queue of key presses sent one packet per frame tick.

    RFC 4733 2.5.1.2: the first packet of an event has the marker bit; every packet
    carries the event's start timestamp and the duration so far (step per packet).
    2.5.1.4: the final packet (E bit, full duration) is sent three times; with
    end_same_seq, as SIPp and Asterisk do, the three copies share one sequence number.
    """

    def __init__(self, pt=101, volume=10, step=160, duration=800, gap=2, end_same_seq=True, size=32):
        if not 0 < duration <= 0xFFFF or step <= 0 or not 0 <= volume <= 63:
            raise ValueError("bad DTMF timing")
        self.volume = volume
        self.duration = duration  # whole event (samples)
        self.gap = gap  # silent ticks between events
        self.end_same_seq = end_same_seq
        self.queue = bytearray(size)
        self.reset(pt, step)

    def reset(self, pt, step):
        """A new call: its telephone-event payload type and frame step, nothing queued."""
        self.pt = pt
        self.step = step  # duration growth per packet (samples)
        self.head = 0
        self.size = 0
        self.code = -1  # event being sent
        self.k = 0  # packets sent for it
        self.ends = 0  # end packets sent
        self.wait = 0
        self.ts_hi = 0
        self.ts_lo = 0
        self.end_seq = 0

    def press(self, digits):
        """Queue each valid digit of a str; returns how many were queued."""
        n = 0
        for ch in digits:
            c = DIGITS.find(ch.upper())  # RFC 4733 event code (any case), or -1
            if c >= 0 and self.size < len(self.queue):
                self.queue[(self.head + self.size) % len(self.queue)] = c
                self.size += 1
                n += 1
        return n

    @micropython.native  # once per frame while an event is on the wire
    def next(self, sender, buf):
        """The packet for this tick into buf (header included); returns its length or 0.
        Call once per tick; the audio clock (sender.ts) keeps running meanwhile."""
        if self.code < 0:
            if self.wait > 0:
                self.wait -= 1
                return 0
            if self.size == 0:
                return 0
            self.code = self.queue[self.head]
            self.head = (self.head + 1) % len(self.queue)
            self.size -= 1
            self.k = 0
            self.ends = 0
            self.ts_hi = sender.ts_hi  # RFC 4733 2.3.5: the event's start instant
            self.ts_lo = sender.ts_lo
        dur = self.k * self.step
        end = dur >= self.duration
        if end:
            dur = self.duration
            if self.ends == 0:
                self.end_seq = sender.seq
            elif self.end_same_seq:
                sender.seq = self.end_seq
            self.ends += 1
        b = 12
        buf[b] = self.code
        buf[b + 1] = (0x80 if end else 0) | self.volume
        buf[b + 2] = dur >> 8
        buf[b + 3] = dur & 0xFF
        n = sender.write(buf, self.pt, self.k == 0, self.ts_hi, self.ts_lo, PAYLOAD)
        self.k += 1
        if self.ends >= 3:
            self.code = -1
            self.wait = self.gap
        return n


def _sub(a, b):
    return a - b


class DtmfReceiver:
    """One event per key press from RFC 4733 packets or SIP INFO.

    An event is reported when its end packet arrives, or - when every end packet is
    lost - when a packet with a new timestamp arrives or nothing was heard for
    timeout_ms. Packets with an already reported timestamp (the repeated end packets)
    are ignored. Read events with get(), or pass on_event(digit, duration_ms).
    """

    def __init__(self, rate=8000, timeout_ms=200, on_event=None, ticks_diff=_sub, size=16):
        self.rate_k = rate // 1000
        self.timeout_ms = timeout_ms
        self.on_event = on_event
        self.diff = ticks_diff
        self.codes = bytearray(size)
        self.durs = array.array("i", [0] * size)
        self.reset()

    def reset(self):
        """A new call: no event open, none queued, none reported."""
        self.head = 0
        self.size = 0
        self.overflow = 0
        self.bad = 0
        self.duration = 0  # of the event get() returned last, ms
        self.open = False
        self.code = 0
        self.dur = 0
        self.ts_hi = 0
        self.ts_lo = 0
        self.last_ms = 0
        self.done_hi = -1  # timestamp of the last reported RTP event
        self.done_lo = 0

    @micropython.native  # once per telephone-event packet
    def packet(self, buf, off, plen, ts_hi, ts_lo, now_ms):
        """Feed the payload of one telephone-event packet."""
        if plen < PAYLOAD:
            self.bad += 1
            return
        code = buf[off]
        end = buf[off + 1] & 0x80
        dur = (buf[off + 2] << 8) | buf[off + 3]
        if ts_hi == self.done_hi and ts_lo == self.done_lo:
            return  # a repeated end packet, or a late one of an event already reported
        if self.open and (ts_hi != self.ts_hi or ts_lo != self.ts_lo):
            self._push(-1, 0)  # its end packets were all lost
        if code > 15:
            return  # not DTMF (flash, tones): RFC 4733 receivers may ignore events
        if not self.open:
            self.open = True
            self.code = code
            self.dur = 0
            self.ts_hi = ts_hi
            self.ts_lo = ts_lo
        if dur > self.dur:
            self.dur = dur
        self.last_ms = now_ms
        if end:
            self._push(-1, 0)

    @micropython.native  # once per frame while an event is open
    def poll(self, now_ms):
        """Report an open event nothing was heard of for timeout_ms."""
        if self.open and self.diff(now_ms, self.last_ms) >= self.timeout_ms:
            self._push(-1, 0)

    def feed_info(self, digit, duration_ms=250):
        """A digit from SIP INFO (application/dtmf-relay Signal=): same queue. Returns
        False for something that is not a DTMF digit."""
        c = DIGITS.find(digit.upper()) if len(digit) == 1 else -1
        if c < 0:
            return False
        self._push(c, duration_ms)
        return True

    def _push(self, code, ms):
        """Report an event (on_event, and the queue get() reads); code -1: the RTP event
        now open, which is closed and remembered (its repeated end packets are ignored)."""
        if code < 0:
            self.open = False
            self.done_hi = self.ts_hi
            self.done_lo = self.ts_lo
            code = self.code
            ms = self.dur // self.rate_k
        if self.on_event is not None:
            self.on_event(DIGITS[code], ms)
        if self.size == len(self.codes):
            self.overflow += 1
            return
        i = (self.head + self.size) % len(self.codes)
        self.codes[i] = code
        self.durs[i] = ms
        self.size += 1

    def get(self):
        """The next digit as a one-character str, or None; its duration (ms) is left
        in self.duration."""
        if self.size == 0:
            return None
        c = self.codes[self.head]
        self.duration = self.durs[self.head]
        self.head = (self.head + 1) % len(self.codes)
        self.size -= 1
        return DIGITS[c]
