# DTMF as RFC 4733 telephone-events (payload: event 8 bits | E R volume(6) |
# duration 16 bits, in timestamp units), sent and received on the audio stream.

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
        for i in range(len(digits)):
            # a slice, not `for ch in digits`: MicroPython interns each character it iterates
            c = DIGITS.find(digits[i : i + 1].upper())  # RFC 4733 event code (any case), or -1
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
    """One event per key press from RFC 4733 packets, passed to on_event(digit,
    duration_ms) (digit: a one-character str). An event is reported when its end
    packet arrives, or - when every end packet is lost - when a packet with a new
    timestamp arrives or nothing was heard for timeout_ms. Packets with an already
    reported timestamp (the repeated end packets) are ignored. (SIP INFO digits do
    not come here: the UA reports them itself.)
    """

    def __init__(self, timeout_ms=200, on_event=None, ticks_diff=_sub):
        self.timeout_ms = timeout_ms
        self.on_event = on_event
        self.diff = ticks_diff
        self.reset()

    def reset(self):
        """A new call: no event open, none reported."""
        self.bad = 0
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
            self._end()  # its end packets were all lost
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
            self._end()

    @micropython.native  # once per frame while an event is open
    def poll(self, now_ms):
        """Report an open event nothing was heard of for timeout_ms."""
        if self.open and self.diff(now_ms, self.last_ms) >= self.timeout_ms:
            self._end()

    def _end(self):
        """Report the open event, closed and remembered (its repeated end packets are
        ignored). Its duration: RFC 4733 2.5.1.3, in timestamp units (8 kHz G.711)."""
        self.open = False
        self.done_hi = self.ts_hi
        self.done_lo = self.ts_lo
        if self.on_event is not None:
            c = self.code
            self.on_event(DIGITS[c : c + 1], self.dur // 8)  # a slice: DIGITS[c] would intern
