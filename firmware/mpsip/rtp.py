# RTP (RFC 3550) header writing and parsing into preallocated storage, receiver
# statistics (RFC 3550 A.1, A.3, A.8) and a minimal RTCP SR/RR + SDES CNAME.
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


def ts32(h):
    """The timestamp as one int (a long on 32-bit boards: tests and logs only)."""
    return (h[TS_HI] << 16) | h[TS_LO]


def ssrc32(h):
    return (h[SSRC_HI] << 16) | h[SSRC_LO]


def parse_py(h, buf, start, end):
    """Parse the RTP packet in buf[start:end] into h. Returns OK or an E_* code.
    (parse is the viper twin, _g711v.parse_v, where there is one.)"""
    if end - start < HEADER:
        return E_SHORT
    b0 = buf[start]
    if b0 & 0xC0 != 0x80:
        return E_VERSION
    b1 = buf[start + 1]
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        return E_RTCP
    cc = b0 & 0x0F
    off = start + HEADER + 4 * cc  # RFC 3550 5.1: CSRC list, skipped
    if off > end:
        return E_SHORT
    if b0 & 0x10:  # RFC 3550 5.3.1: header extension, skipped (16-bit length in words)
        if off + 4 > end:
            return E_SHORT
        off += 4 + 4 * ((buf[off + 2] << 8) | buf[off + 3])
        if off > end:
            return E_SHORT
    plen = end - off
    if b0 & 0x20:  # RFC 3550 5.1: the last octet counts the padding, itself included
        pad = buf[end - 1]
        if pad == 0 or pad > plen:
            return E_PADDING
        plen -= pad
    h[MARKER] = b1 >> 7
    h[PT] = pt
    h[SEQ] = (buf[start + 2] << 8) | buf[start + 3]
    h[TS_HI] = (buf[start + 4] << 8) | buf[start + 5]
    h[TS_LO] = (buf[start + 6] << 8) | buf[start + 7]
    h[SSRC_HI] = (buf[start + 8] << 8) | buf[start + 9]
    h[SSRC_LO] = (buf[start + 10] << 8) | buf[start + 11]
    h[OFF] = off
    h[PLEN] = plen
    h[CC] = cc
    return OK


try:
    from mpsip._g711v import parse_v
except ImportError:  # CPython
    parse_v = None
parse = parse_v or parse_py


def _rand16(r, i):
    return (r[i] << 8) | r[i + 1]


def put16(buf, off, v):
    buf[off] = (v >> 8) & 0xFF
    buf[off + 1] = v & 0xFF


class Sender:
    """Outgoing stream state. RFC 3550 5.1: SSRC, first sequence number and first
    timestamp are random; sequence wraps at 16 bits, timestamp at 32."""

    def __init__(self, pt, ssrc=None, seq=None, ts=None):
        # ssrc and ts, when given (tests), are (hi, lo) pairs of 16-bit halves
        r = urandom(10)
        if ssrc is None:
            ssrc = (_rand16(r, 0), _rand16(r, 2))
        if ts is None:
            ts = (_rand16(r, 4), _rand16(r, 6))
        self.pt = pt
        self.ssrc_hi, self.ssrc_lo = ssrc  # (hi, lo) 16-bit halves
        self.seq = seq if seq is not None else _rand16(r, 8)
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

    def write_audio(self, buf, plen, marker=0):
        return self.write(buf, self.pt, marker, self.ts_hi, self.ts_lo, plen)

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

    def update_seq(self, seq):
        """RFC 3550 A.1 without probation (the caller resets on a new source).
        Returns False for a packet to drop as a restart candidate."""
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
        return True

    @micropython.native
    def update(self, seq, ts_hi, ts_lo, now_us, ticks_diff):
        """An audio packet: update_seq() then, if accepted, update_jitter(). The media
        loop's hot path: the common case (a sequence step below MAX_DROPOUT, the same
        timestamp high half) is done here without calling either (test_rtp compares)."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if udelta >= _MAX_DROPOUT or self.last_ts_hi != ts_hi:
            if not self.update_seq(seq):
                return False
            self.update_jitter(ts_hi, ts_lo, now_us, ticks_diff)
            return True
        if seq < self.max_seq:  # RFC 3550 A.1 (as update_seq)
            self.cycles += 1
        self.max_seq = seq
        self.received += 1
        dt_us = ticks_diff(now_us, self.last_us)  # RFC 3550 A.8 (as update_jitter)
        if 0 <= dt_us < 10000000:
            d = (dt_us // 125) * self.rate_k // 8 - (ts_lo - self.last_ts_lo)
            if d < 0:
                d = -d
            if d < 0x100000:
                self.jitter16 += d - ((self.jitter16 + 8) >> 4)
        self.last_us = now_us
        self.last_ts_lo = ts_lo
        return True

    def update_jitter(self, ts_hi, ts_lo, now_us, ticks_diff):
        """RFC 3550 A.8: J += (|D| - J) / 16, D in timestamp units."""
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

    def jitter(self):
        return self.jitter16 >> 4

    def expected(self):
        return self.cycles * 65536 + self.max_seq - self.base_seq + 1

    def lost(self):
        """RFC 3550 A.3 cumulative number of packets lost (duplicates can make it < 0)."""
        return self.expected() - self.received

    def fraction_lost(self):
        """RFC 3550 A.3: lost fraction since the last call, 8-bit fixed point."""
        expected = self.expected()
        exp_int = expected - self.expected_prior
        self.expected_prior = expected
        rec_int = self.received - self.received_prior
        self.received_prior = self.received
        lost_int = exp_int - rec_int
        if exp_int == 0 or lost_int <= 0:
            return 0
        return (lost_int << 8) // exp_int


# --- RTCP (RFC 3550 6) ---

RTCP_SR = const(200)
RTCP_RR = const(201)
RTCP_SDES = const(202)
RTCP_BYE = const(203)


class Rtcp:
    """One compound report (SR or RR, with one report block when a source is heard,
    then SDES CNAME: RFC 3550 6.1) built into a preallocated buffer, and parsing of
    the peer's reports. Times are elapsed ms since the session started, which RFC
    3550 6.4.1 allows in place of wallclock for the NTP timestamp."""

    def __init__(self, cname=b"mpsip"):
        if len(cname) > 64:
            raise ValueError("CNAME longer than 64 bytes")
        # SDES chunk: SSRC, CNAME item (type 1, length, text), END, pad to 32 bits
        sdes = 4 + 2 + len(cname) + 1
        sdes = (sdes + 3) & ~3
        self.sdes_len = 4 + sdes
        self.cname = cname
        self.buf = bytearray(28 + 24 + self.sdes_len)
        # what the peer told us
        self.lsr_hi = 0  # middle 32 bits of the peer's last SR NTP timestamp
        self.lsr_lo = 0
        self.lsr_ms = -1  # when it arrived (elapsed ms), -1: none yet
        self.sr_hi = 0  # middle 32 bits of our last SR
        self.sr_lo = 0
        self.sr_ms = -1
        self.rtt_ms = -1
        self.peer_fraction_lost = 0
        self.peer_lost = 0
        self.peer_jitter = 0
        self.peer_bye = False
        self.received = 0
        self.bad = 0

    def build(self, sender, stats, have_source, ssrc_hi, ssrc_lo, now_ms):
        """Write the compound packet for now_ms; returns its length. An SR once we have
        sent RTP, else an RR; stats/have_source describe the peer's stream."""
        b = self.buf
        rc = 1 if have_source else 0
        if sender.packets:
            b[0] = 0x80 | rc
            b[1] = RTCP_SR
            secs = now_ms // 1000
            frac = ((now_ms % 1000) << 16) // 1000  # top 16 bits of the NTP fraction
            put16(b, 4, sender.ssrc_hi)
            put16(b, 6, sender.ssrc_lo)
            put16(b, 8, (secs >> 16) & 0xFFFF)  # NTP seconds
            put16(b, 10, secs & 0xFFFF)
            put16(b, 12, frac)
            put16(b, 14, 0)
            put16(b, 16, sender.ts_hi)  # RTP timestamp of the same instant
            put16(b, 18, sender.ts_lo)
            _put32(b, 20, sender.packets)
            _put32(b, 24, sender.octets)
            self.sr_hi = secs & 0xFFFF
            self.sr_lo = frac
            self.sr_ms = now_ms
            n = 28
        else:
            b[0] = 0x80 | rc
            b[1] = RTCP_RR
            put16(b, 4, sender.ssrc_hi)
            put16(b, 6, sender.ssrc_lo)
            n = 8
        if have_source:  # RFC 3550 6.4.1 report block
            put16(b, n, ssrc_hi)
            put16(b, n + 2, ssrc_lo)
            lost = stats.lost()
            if lost > 0x7FFFFF:
                lost = 0x7FFFFF
            elif lost < -0x800000:
                lost = -0x800000
            b[n + 4] = stats.fraction_lost()
            b[n + 5] = (lost >> 16) & 0xFF
            put16(b, n + 6, lost & 0xFFFF)
            put16(b, n + 8, stats.cycles & 0xFFFF)  # extended highest sequence number
            put16(b, n + 10, stats.max_seq)
            _put32(b, n + 12, stats.jitter())
            if self.lsr_ms >= 0:
                put16(b, n + 16, self.lsr_hi)
                put16(b, n + 18, self.lsr_lo)
                d = now_ms - self.lsr_ms  # DLSR in 1/65536 s
                put16(b, n + 20, (d // 1000) & 0xFFFF)
                put16(b, n + 22, ((d % 1000) << 16) // 1000)
            else:
                for i in range(n + 16, n + 24):
                    b[i] = 0
            n += 24
        put16(b, 2, n // 4 - 1)
        # SDES with one chunk: CNAME (RFC 3550 6.5.1)
        b[n] = 0x81
        b[n + 1] = RTCP_SDES
        put16(b, n + 2, self.sdes_len // 4 - 1)
        b[n + 4] = b[4]
        b[n + 5] = b[5]
        b[n + 6] = b[6]
        b[n + 7] = b[7]
        b[n + 8] = 1
        b[n + 9] = len(self.cname)
        i = n + 10
        for c in self.cname:
            b[i] = c
            i += 1
        end = n + self.sdes_len
        while i < end:
            b[i] = 0  # END item, then padding
            i += 1
        return end

    def parse(self, buf, n, my_ssrc_hi, my_ssrc_lo, now_ms):
        """Accept a compound packet (or several concatenated) in buf[:n]. Returns the
        number of RTCP packets understood; malformed input is counted in self.bad."""
        off = 0
        got = 0
        while off + 4 <= n:
            b0 = buf[off]
            if b0 & 0xC0 != 0x80:
                self.bad += 1
                return got
            pt = buf[off + 1]
            end = off + 4 * (((buf[off + 2] << 8) | buf[off + 3]) + 1)
            if end > n or not 200 <= pt <= 204:
                self.bad += 1
                return got
            rc = b0 & 0x1F
            blocks = off + 8
            if pt == RTCP_SR:
                if end < off + 28 + 24 * rc:
                    self.bad += 1
                    return got
                self.lsr_hi = (buf[off + 10] << 8) | buf[off + 11]
                self.lsr_lo = (buf[off + 12] << 8) | buf[off + 13]
                self.lsr_ms = now_ms
                blocks = off + 28
            elif pt == RTCP_RR and end < off + 8 + 24 * rc:
                self.bad += 1
                return got
            if pt == RTCP_SR or pt == RTCP_RR:
                for j in range(rc):
                    self._block(buf, blocks + 24 * j, my_ssrc_hi, my_ssrc_lo, now_ms)
            elif pt == RTCP_BYE:
                self.peer_bye = True
            got += 1
            off = end
        self.received += got
        return got

    def _block(self, buf, p, my_hi, my_lo, now_ms):
        if (buf[p] << 8) | buf[p + 1] != my_hi or (buf[p + 2] << 8) | buf[p + 3] != my_lo:
            return  # about another source
        self.peer_fraction_lost = buf[p + 4]
        lost = (buf[p + 5] << 16) | (buf[p + 6] << 8) | buf[p + 7]
        self.peer_lost = lost - 0x1000000 if lost & 0x800000 else lost
        self.peer_jitter = (buf[p + 13] << 16) | (buf[p + 14] << 8) | buf[p + 15]
        lsr_hi = (buf[p + 16] << 8) | buf[p + 17]
        lsr_lo = (buf[p + 18] << 8) | buf[p + 19]
        if self.sr_ms >= 0 and lsr_hi == self.sr_hi and lsr_lo == self.sr_lo:
            # RFC 3550 6.4.1: RTT = A - LSR - DLSR, here from our own send time
            dlsr_ms = ((buf[p + 20] << 8) | buf[p + 21]) * 1000 + ((((buf[p + 22] << 8) | buf[p + 23]) * 1000) >> 16)
            rtt = now_ms - self.sr_ms - dlsr_ms
            self.rtt_ms = rtt if rtt >= 0 else 0


def _put32(buf, off, v):
    """v < 2**30 (a small int on every port): counts, jitter."""
    put16(buf, off, (v >> 16) & 0xFFFF)
    put16(buf, off + 2, v & 0xFFFF)
