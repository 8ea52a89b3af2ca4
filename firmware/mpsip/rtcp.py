# RTCP (RFC 3550 6): one compound report every ~5 s and the peer's reports parsed,
# for a MediaSession given an RTCP socket. A module of its own, imported only then:
# the station runs without it (its heap cost is in the media notes).
from struct import pack_into

from mpsip.g711 import copy

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


RTCP_SR = const(200)
RTCP_RR = const(201)
RTCP_SDES = const(202)
RTCP_BYE = const(203)
_RTCP_MS = const(5000)  # RFC 3550 6.2: 5 s minimum interval, randomized +-50% (6.3.1)


class Rtcp:
    """One compound report (SR or RR, with one report block when a source is heard,
    then SDES CNAME: RFC 3550 6.1) built into a preallocated buffer, and parsing of
    the peer's reports. Times are elapsed ms since the session started, which RFC
    3550 6.4.1 allows in place of wallclock for the NTP timestamp."""

    def __init__(self, cname=b"mpsip"):
        if len(cname) > 64:
            raise ValueError("CNAME longer than 64 bytes")
        # SDES chunk: SSRC, then the CNAME item (type 1, length, text), END, pad to 32
        # bits: everything after the SSRC never changes, so it is built once here.
        item = (2 + len(cname) + 1 + 3) & ~3
        self.sdes_len = 8 + item
        self.item = bytearray(item)
        self.item[0] = 1
        self.item[1] = len(cname)
        copy(self.item, 2, cname, 0, len(cname))
        self.buf = bytearray(28 + 24 + self.sdes_len)
        self.port = None  # a UdpPort, made at the first start()
        self._rng = 0x2F6B
        self.reset()

    def reset(self):
        """What the peer told us, forgotten (a new call)."""
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

    def start(self, sock, remote, clock):
        if self.port is None:
            from mpsip.media import UdpPort  # (media imports this module: not at the top)

            self.port = UdpPort(256)  # a 2-party compound: ~100 bytes
            for k in (8, 28):  # RR or SR, with or without a report block: views made now
                for b in (0, 24):
                    self.port.view(self.buf, k + b + self.sdes_len)
        self.port.open(sock, remote)
        self.reset()
        self.clock = clock
        self.t0 = clock.ticks_ms()
        self.due = clock.ticks_add(self.t0, _RTCP_MS // 2)

    def poll(self, m, now_ms):
        """Once per frame of MediaSession m: read what came in, send a report when due."""
        port = self.port
        c = self.clock
        elapsed = c.ticks_diff(now_ms, self.t0)
        s = m.sender
        for _ in range(4):
            n = port.recv()
            if n <= 0:
                break
            if not port.latched:
                port.latch(port.src)
            self.parse(port.buf, n, s.ssrc_hi, s.ssrc_lo, elapsed)
        if c.ticks_diff(now_ms, self.due) >= 0:
            k = self.build(s, m.stats, m.peer_hi >= 0, m.peer_hi, m.peer_lo, elapsed)
            port.send(port.view(self.buf, k))
            r = self._rng  # xorshift16: the RFC 3550 6.3.1 randomization, no allocation
            r ^= (r << 7) & 0xFFFF
            r ^= r >> 9
            r ^= (r << 8) & 0xFFFF
            self._rng = r
            self.due = c.ticks_add(now_ms, _RTCP_MS // 2 + ((r * _RTCP_MS) >> 16))

    def build(self, sender, stats, have_source, ssrc_hi, ssrc_lo, now_ms):
        """Write the compound packet for now_ms; returns its length. An SR once we have
        sent RTP, else an RR; stats/have_source describe the peer's stream. Counts and
        jitter stay below 2**30 (small ints on every port) for days of audio."""
        b = self.buf
        rc = 1 if have_source else 0
        if sender.packets:
            secs = now_ms // 1000
            frac = ((now_ms % 1000) << 16) // 1000  # top 16 bits of the NTP fraction
            # RFC 3550 6.4.1: NTP seconds and fraction, the RTP timestamp of the same instant
            pack_into(
                ">BBHHHHHHHHHII",
                b,
                0,
                0x80 | rc,
                RTCP_SR,
                0,
                sender.ssrc_hi,
                sender.ssrc_lo,
                (secs >> 16) & 0xFFFF,
                secs & 0xFFFF,
                frac,
                0,
                sender.ts_hi,
                sender.ts_lo,
                sender.packets,
                sender.octets,
            )
            self.sr_hi = secs & 0xFFFF
            self.sr_lo = frac
            self.sr_ms = now_ms
            n = 28
        else:
            pack_into(">BBHHH", b, 0, 0x80 | rc, RTCP_RR, 0, sender.ssrc_hi, sender.ssrc_lo)
            n = 8
        if have_source:  # RFC 3550 6.4.1 report block
            # RFC 3550 A.3: cumulative loss (duplicates can make it < 0) and the 8-bit
            # fixed-point fraction lost since the last report (all lost reads 255/256)
            expected = (stats.cycles << 16) + stats.max_seq - stats.base_seq + 1
            lost = expected - stats.received
            exp_int = expected - stats.expected_prior
            lost_int = exp_int - stats.received + stats.received_prior
            stats.expected_prior = expected
            stats.received_prior = stats.received
            fraction = 0 if exp_int == 0 or lost_int <= 0 else min(255, (lost_int << 8) // exp_int)
            if lost > 0x7FFFFF:
                lost = 0x7FFFFF
            elif lost < -0x800000:
                lost = -0x800000
            lsr_hi = lsr_lo = d = 0
            if self.lsr_ms >= 0:
                lsr_hi = self.lsr_hi
                lsr_lo = self.lsr_lo
                d = now_ms - self.lsr_ms  # DLSR in 1/65536 s
            pack_into(
                ">HHBBHHHIHHHH",
                b,
                n,
                ssrc_hi,
                ssrc_lo,
                fraction,
                (lost >> 16) & 0xFF,
                lost & 0xFFFF,
                stats.cycles & 0xFFFF,  # extended highest sequence number
                stats.max_seq,
                stats.jitter16 >> 4,
                lsr_hi,
                lsr_lo,
                (d // 1000) & 0xFFFF,
                ((d % 1000) << 16) // 1000,
            )
            n += 24
        pack_into(">H", b, 2, n // 4 - 1)
        # SDES with one chunk: CNAME (RFC 3550 6.5.1)
        pack_into(">BBHHH", b, n, 0x81, RTCP_SDES, self.sdes_len // 4 - 1, sender.ssrc_hi, sender.ssrc_lo)
        copy(b, n + 8, self.item, 0, len(self.item))
        return n + self.sdes_len

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
