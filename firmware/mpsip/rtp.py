# RTP (RFC 3550) header writing and parsing into preallocated storage, receiver
# statistics (RFC 3550 A.1, A.8). RTCP (and the A.3 loss it reports) is in rtcp.py,
# loaded only when used.
#
# 32-bit fields (timestamp, SSRC, NTP) are kept as two 16-bit halves: on a 32-bit
# board a small int holds 31 bits, so a full 32-bit value would be a heap-allocated
# long on every packet. Differences are taken with ts_sub(), clamped to +-2**28.
# Bad packets are reported by negative return codes, never raised: the media loop
# counts and drops them without allocating an exception per packet.
import array
from os import urandom  # unix, ESP32 and CPython all have it
from struct import pack_into

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x

    class micropython:  # @micropython.native is a compiler directive on MicroPython
        native = staticmethod(lambda f: f)


HEADER = const(12)

# parse() results
OK = const(0)
E_SHORT = const(-1)  # shorter than the header, its CSRC list or its extension
E_VERSION = const(-2)  # RFC 3550 5.1: V must be 2
E_PADDING = const(-3)  # RFC 3550 5.1: padding count 0 or longer than the payload
E_RTCP = const(-4)  # RFC 5761 4: PT 72-76 is RTCP (SR..APP) sharing the port

_TS_CLAMP = const(0x10000000)


def ts_sub(ahi, alo, bhi, blo):
    """a - b for 32-bit timestamps given as 16-bit halves, modulo 2**32, as a signed
    int clamped to +-2**28 (9 hours at 8 kHz): enough to order packets, never a long."""
    dh = (ahi - bhi) & 0xFFFF
    if dh >= 0x8000:
        dh -= 0x10000
    if dh >= 0x0FFF:
        return _TS_CLAMP
    if dh < -0x1000:
        return -_TS_CLAMP
    return (dh << 16) + alo - blo


# parse() fills a header array (new_header(): an array of plain ints, so reading a
# field allocates nothing) at these indexes.
MARKER = const(0)
PT = const(1)
SEQ = const(2)
TS_HI = const(3)
TS_LO = const(4)
SSRC_HI = const(5)
SSRC_LO = const(6)
OFF = const(7)  # payload start, an index into the parsed buffer
PLEN = const(8)  # payload length without padding
CC = const(9)


def new_header():
    return array.array("i", [0] * 10)


try:
    from mpsip._g711v import parse_v as parse  # noqa: F401 (media calls rtp.parse)
except ImportError:  # CPython: the plain twin
    from mpsip._g711p import parse_py as parse  # noqa: F401


class Sender:
    """Outgoing stream state. RFC 3550 5.1: SSRC, first sequence number and first
    timestamp are random; sequence wraps at 16 bits, timestamp at 32."""

    def __init__(self, pt, ssrc=None, seq=None, ts=None):
        self.reset(pt, ssrc, seq, ts)

    def reset(self, pt, ssrc=None, seq=None, ts=None):
        """A new stream (each call: RFC 3550 5.1, 8.1). ssrc and ts, when given (tests),
        are (hi, lo) pairs of 16-bit halves."""
        r = urandom(10)
        self.pt = pt
        self.ssrc_hi = (r[0] << 8) | r[1]  # (hi, lo) 16-bit halves
        self.ssrc_lo = (r[2] << 8) | r[3]
        self.seq = (r[8] << 8) | r[9] if seq is None else seq
        self.ts_hi = (r[4] << 8) | r[5]
        self.ts_lo = (r[6] << 8) | r[7]
        if ssrc is not None:
            self.ssrc_hi, self.ssrc_lo = ssrc
        if ts is not None:
            self.ts_hi, self.ts_lo = ts
        self.packets = 0  # RFC 3550 6.4.1 sender's packet and octet counts
        self.octets = 0

    @micropython.native  # once per packet: native code skips the bytecode dispatch
    def write(self, buf, pt, marker, ts_hi, ts_lo, plen):
        """Write a 12-byte header for a plen-byte payload and count the packet; the
        sequence number advances. Returns the packet length."""
        # RFC 3550 5.1: V=2, no padding/extension/CSRC; one C call, no allocation
        pack_into(
            ">BBHHHHH", buf, 0, 0x80, pt | (0x80 if marker else 0), self.seq, ts_hi, ts_lo, self.ssrc_hi, self.ssrc_lo
        )
        self.seq = (self.seq + 1) & 0xFFFF
        self.packets += 1
        self.octets += plen
        return HEADER + plen

    @micropython.native
    def advance(self, samples):
        """The media clock moves on by one frame, whether or not a packet was sent."""
        lo = self.ts_lo + samples  # 0 <= samples < 65536; no tuple, so no allocation
        if lo > 0xFFFF:
            lo -= 0x10000
            self.ts_hi = (self.ts_hi + 1) & 0xFFFF
        self.ts_lo = lo


_MAX_DROPOUT = const(3000)  # RFC 3550 A.1
_MAX_MISORDER = const(100)


class RecvStats:
    """Receiver side of one source: RFC 3550 A.1 sequence tracking, A.3 loss, A.8
    interarrival jitter (in timestamp units, scaled by 16 as in A.8)."""

    def __init__(self, rate=8000):
        self.rate_k = rate // 1000  # timestamp units per ms
        self.reset(0)

    def reset(self, seq):
        self.max_seq = seq
        self.cycles = 0  # count of sequence number wraps (A.1 cycles >> 16)
        self.base_seq = seq
        self.bad_seq = -1
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0
        self.jitter16 = 0
        self.last_us = 0
        self.last_ts_hi = -1
        self.last_ts_lo = 0

    @micropython.native
    def update(self, seq, ts_hi, ts_lo, now_us, ticks_diff):
        """A packet: RFC 3550 A.1 sequence tracking without probation (the caller resets
        on a new source), then, for audio, the A.8 jitter: J += (|D| - J) / 16, D in
        timestamp units. ticks_diff None: no jitter sample (RFC 4733 2.3: telephone-event
        timestamps stand still). Returns False for a packet to drop as a restart
        candidate. The media loop's hot path: the common case (a sequence step below
        MAX_DROPOUT, the same timestamp high half) comes first."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta < _MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += 1
            self.max_seq = seq
        elif udelta <= 0x10000 - _MAX_MISORDER:
            # a very large jump: accept only when the next packet follows it (A.1)
            if seq == self.bad_seq:
                self.reset(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: duplicate or reordered packet, counted below
        self.received += 1
        if ticks_diff is None:
            return True
        if self.last_ts_hi >= 0:
            dt_us = ticks_diff(now_us, self.last_us)
            if 0 <= dt_us < 10000000:  # a pause of 10 s or more starts afresh
                if ts_hi == self.last_ts_hi:  # the common case, without a call
                    d = ts_lo - self.last_ts_lo
                else:
                    d = ts_sub(ts_hi, ts_lo, self.last_ts_hi, self.last_ts_lo)
                d = (dt_us // 125) * self.rate_k // 8 - d
                if d < 0:
                    d = -d
                if d < 0x100000:
                    self.jitter16 += d - ((self.jitter16 + 8) >> 4)
        self.last_us = now_us
        self.last_ts_hi = ts_hi
        self.last_ts_lo = ts_lo
        return True
