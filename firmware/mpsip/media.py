# A call's media: microphone -> G.711 -> RTP; RTP -> jitter buffer -> G.711 ->
# speaker; RFC 4733 DTMF both ways; RTCP SR/RR (RFC 3550 6, rtcp.py) when asked for.
# Every buffer is allocated here, once per session, and a session serves call after
# call (start()/stop()): frame() allocates nothing on MicroPython, start() next to nothing.
#
# Sockets (what MicroPython 1.29 offers, see UdpPort): recvfrom() allocates a bytes
# and an address per datagram and there is no recv_into/recvfrom_into; readinto()
# is allocation-free but, non-blocking, keeps reading datagrams until the buffer is
# full or the socket is empty - several queued datagrams arrive concatenated. So:
# recvfrom until the peer's first valid RTP packet, then connect() the socket to
# that source (symmetric RTP, RFC 4961), send() instead of sendto() (no address to
# convert per packet) and use readinto(), splitting the buffer at
# packet boundaries known from the payload type (audio: one frame, RFC 4733: 4
# bytes) and confirmed by the next header's version and SSRC. CPython sockets have
# recvfrom_into, which keeps datagram boundaries: no splitting there.
# The per-packet socket and RTP methods are @micropython.native (every ESP32 and the
# unix port have the native emitter): the frame is bytecode-bound once the DSP is viper.
from mpsip import dsp, dtmf, g711, jitter, rtp

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x

    class micropython:  # @micropython.native is a compiler directive on MicroPython
        native = staticmethod(lambda f: f)


try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us
except ImportError:  # CPython: the same wrapping arithmetic (period 2**30) as MicroPython
    from time import monotonic_ns

    _PERIOD = 1 << 30

    def ticks_us():
        return (monotonic_ns() // 1000) & (_PERIOD - 1)

    def ticks_ms():
        return (monotonic_ns() // 1000000) & (_PERIOD - 1)

    def ticks_diff(a, b):
        return ((a - b + (_PERIOD >> 1)) & (_PERIOD - 1)) - (_PERIOD >> 1)

    def ticks_add(a, b):
        return (a + b) & (_PERIOD - 1)


class Clock:
    """The monotonic clock; tests inject an object with the same four methods."""

    ticks_us = staticmethod(ticks_us)
    ticks_ms = staticmethod(ticks_ms)
    ticks_diff = staticmethod(ticks_diff)
    ticks_add = staticmethod(ticks_add)


# rtp.new_header() field indexes (test_media checks they match rtp's: a const is only
# inlined within its own module, and an rtp.SEQ lookup per field would cost time)
_PT = const(1)
_SEQ = const(2)
_TS_HI = const(3)
_TS_LO = const(4)
_SSRC_HI = const(5)
_SSRC_LO = const(6)
_OFF = const(7)
_PLEN = const(8)
FIELDS = (_PT, _SEQ, _TS_HI, _TS_LO, _SSRC_HI, _SSRC_LO, _OFF, _PLEN)

_parse = rtp.parse  # bound once: a module attribute lookup per packet costs time

_RX_PACKETS = const(3)  # receive buffer: this many audio packets (see UdpPort)
_RX_READS = const(8)  # receive calls per frame: a flood cannot starve the loop
_MAX_LATE = const(5)  # frames behind before the backlog is dropped instead of replayed
_PTIMES = (10, 20, 30, 40)


class UdpPort:
    """A non-blocking UDP socket as the media loop uses it (see the module comment):
    the receive buffer is made once, open() takes each call's socket. recv() returns
    the bytes now in .buf (0: nothing); .exact says whether they are one datagram;
    .src is the sender before latching."""

    def __init__(self, size):
        self.buf = bytearray(size)
        self.size = size
        self._views = {}  # packet length -> memoryview: sendto needs exact-length buffers
        self.sock = self._poll = self._p = None
        try:  # one select.poll for the port's life, made with it (its first ipoll allocates)
            import select

            self._p = select.poll()
        except (ImportError, AttributeError):
            pass
        self.open(None, None)  # every attribute now: open() then only sets them, allocating nothing

    def open(self, sock, remote):
        self.close()
        self.sock = sock
        self.remote = remote
        self.latched = False
        self.connected = False  # send() instead of sendto(): no address to convert per packet
        self.src = None
        self.errors = 0
        self._into = getattr(sock, "recvfrom_into", None)
        self.exact = True
        try:
            sock.setblocking(False)
        except (AttributeError, OSError):
            pass
        if self._into is None and sock is not None:
            try:
                import select

                if self._p is None:
                    self._p = select.poll()
                self._poll = self._p
                self._poll.register(sock, select.POLLIN)
                for _ in self._poll.ipoll(0):
                    break
            except (ImportError, AttributeError, TypeError, ValueError, OSError):
                # A test double: recvfrom is tried directly. MicroPython 1.29 leaves the
                # refused object in the poll set (unregistering it crashes): a new one later.
                self._poll = self._p = None

    def close(self):
        """Forget the socket (its owner closes it) and the peer."""
        if self._poll is not None:
            try:
                self._poll.unregister(self.sock)
            except (OSError, ValueError, KeyError):
                pass
        self.sock = self._poll = None

    def view(self, buf, n):
        """An exact-length memoryview of buf (one buffer per port), cached per length:
        slicing allocates a new memoryview each time on MicroPython."""
        v = self._views.get(n)
        if v is None:
            v = memoryview(buf)[:n]
            self._views[n] = v
        return v

    @micropython.native  # once per packet: native code skips the bytecode dispatch
    def send(self, view):
        try:
            if self.connected:
                self.sock.send(view)
            elif self.remote is not None:
                self.sock.sendto(view, self.remote)
        except OSError:  # no route, ICMP refused, full buffer: media goes on
            self.errors += 1

    @micropython.native
    def recv(self):
        try:
            if self.latched and self._into is None:
                return self.sock.readinto(self.buf) or 0
            if self._into is not None:
                n, self.src = self._into(self.buf)
                return n
            if self._poll is not None:
                for _ in self._poll.ipoll(0):
                    break
                else:
                    return 0
            data, self.src = self.sock.recvfrom(len(self.buf))
            n = len(data)
            self.buf[:n] = data
            return n
        except OSError:  # EAGAIN: nothing queued (other errors: count, carry on)
            return 0

    def latch(self, addr):
        """RFC 4961: from now on send where the peer's packets come from."""
        self.remote = addr
        self.latched = True
        if self._into is None:
            self.exact = False  # readinto from now on
            try:
                self.sock.connect(addr)  # the kernel now drops other sources
                self.connected = hasattr(self.sock, "send")  # (a test double may lack it)
            except OSError:
                pass


class Pacer:
    """Frame deadlines start + n * period (ticks_add: wrap-safe), not now + period, so
    scheduling jitter never accumulates into drift. After a stall of more than
    _MAX_LATE frames the backlog is dropped (counted in .lost) instead of replayed."""

    def __init__(self, clock, period_us):
        self.clock = clock
        self.period = period_us
        self.start()

    def start(self):
        self.next = self.clock.ticks_us()
        self.n = 0
        self.lost = 0
        self.skipped = 0

    @micropython.native  # once per frame (and per wait)
    def due(self):
        """0: run a frame now (the next deadline is scheduled); else µs to wait."""
        c = self.clock
        late = c.ticks_diff(c.ticks_us(), self.next)
        if late < 0:
            return -late
        k = late // self.period
        if k > _MAX_LATE:
            self.next = c.ticks_add(self.next, k * self.period)
            self.lost += k
            self.skipped += k
        self.next = c.ticks_add(self.next, self.period)
        self.n += 1
        return 0


class MediaSession:
    """Media for a call, made once and reused for every call: each buffer is allocated
    here, sized for ptime (the largest packet time start() takes), so a call's start
    allocates next to nothing in a heap that ringing and retransmissions fragmented.
    source/sink: see audio.py; pt: g711.PCMU or g711.PCMA (its tables are built now;
    the other law's at the first call that uses it). With sock, start() is called at
    once with the other arguments (one session for one call, as in the tools)."""

    def __init__(
        self,
        sock,
        remote,
        source,
        sink,
        clock=None,
        pt=g711.PCMU,
        ptime=20,
        dtmf_pt=101,
        rtcp_sock=None,
        rtcp_remote=None,
        cname=b"mpsip",
        mic_shift=16,
        mic_gain=dsp.UNITY,
        volume=dsp.UNITY,
        jitter_min_ms=40,
        jitter_max_ms=100,
        on_dtmf=None,
    ):
        if pt not in (g711.PCMU, g711.PCMA) or ptime not in _PTIMES:
            raise ValueError("PCMU/PCMA with ptime 10, 20, 30 or 40")
        clock = clock or Clock()  # the pacer's (self.pacer.clock)
        self.source = source
        self.sink = sink
        n = 8 * ptime
        self.mic = dsp.MicPath(pt, source.fmt, source.rate, n, mic_shift, mic_gain)
        self.spk = dsp.SpeakerPath(pt, sink.rate, n, volume)
        self.mic_all = bytearray(self.mic.in_bytes)
        self.spk_all = bytearray(self.spk.out_bytes)
        self.tx = bytearray(rtp.HEADER + n)
        self.payload = memoryview(self.tx)[rtp.HEADER :]
        self.sender = rtp.Sender(pt)
        self.hdr = rtp.new_header()
        self.stats = rtp.RecvStats()
        self.jb = jitter.JitterBuffer(n, ptime, jitter_min_ms, jitter_max_ms, pt)
        self.dtmf_tx = dtmf.DtmfSender(dtmf_pt, step=n, duration=1600, gap=3)
        # ticks_diff bound once (a bound method per call allocates), kept as dtmf_rx.diff
        self.dtmf_rx = dtmf.DtmfReceiver(on_event=on_dtmf, ticks_diff=clock.ticks_diff)
        # A whole number of audio packets: concatenated reads of equal-sized packets fill
        # it exactly, so only a mix with shorter ones (DTMF) can truncate the last.
        self.port = UdpPort(_RX_PACKETS * (rtp.HEADER + n))
        self.pacer = Pacer(clock, 1000 * ptime)
        self.rtcp = None
        self._rtcp = cname  # until the first call with RTCP makes the Rtcp (kept for the next)
        self.mic_buf = self.mic_all  # views of the geometry in use (made again when it changes)
        self.spk_buf = self.spk_all
        self.running = False
        # Every attribute start() sets exists now, with its buffer views: a call's start then
        # neither grows this object's dict (48 entries once took a 944-byte block at the
        # answer, which a fragmented 144K heap did not have) nor makes views. 37 attributes
        # at most: a 37-slot dict (592 B); one more takes 47 slots (752 B). So what another
        # object holds is read there: the frame size is mic.samples, the telephone-event
        # type dtmf_tx.pt, the clock pacer.clock, the first packet sender.packets == 0.
        self.pt = pt
        self.tx_audio = self.port.view(self.tx, rtp.HEADER + n)
        self.port.view(self.tx, rtp.HEADER + dtmf.PAYLOAD)  # the DTMF packet's, cached now
        self._zero()
        if sock is not None:
            self.start(sock, remote, pt, ptime, dtmf_pt, rtcp_sock, rtcp_remote)

    def start(self, sock, remote, pt=g711.PCMU, ptime=20, dtmf_pt=101, rtcp_sock=None, rtcp_remote=None):
        """A call's media on sock (bound to the local RTP port) to remote (the peer's RTP
        address from SDP, as sock.sendto takes it; None to wait for the peer), in codec
        pt, ptime ms per packet, telephone-events as dtmf_pt. Everything a previous call
        left is reset: a new SSRC, sequence and timestamp (RFC 3550 5.1), the peer and
        its latched address forgotten, the jitter buffer and DTMF queues empty."""
        if pt not in (g711.PCMU, g711.PCMA) or ptime not in _PTIMES:
            raise ValueError("PCMU/PCMA with ptime 10, 20, 30 or 40")
        self.stop()
        self._zero()
        n = 8 * ptime
        if n > len(self.payload):  # RFC 4566 6: ptime is a hint; receiving any size works
            n = len(self.payload)
            ptime = n // 8
        self.pt = pt
        self.mic.configure(pt, n)
        self.spk.configure(pt, n)
        if len(self.mic_buf) != self.mic.in_bytes:  # another ptime: views of the new size
            self.mic_buf = memoryview(self.mic_all)[: self.mic.in_bytes]  # the source fills it whole
            self.spk_buf = memoryview(self.spk_all)[: self.spk.out_bytes]
        self.tx_audio = self.port.view(self.tx, rtp.HEADER + n)
        self.sender.reset(pt)
        self.stats.reset(0)
        self.jb.configure(n, ptime, pt)
        self.dtmf_tx.reset(dtmf_pt, n)
        self.dtmf_rx.reset()
        self.port.open(sock, remote)
        if rtcp_sock is not None:
            if not hasattr(self._rtcp, "poll"):  # still the cname
                from mpsip.rtcp import Rtcp

                self._rtcp = Rtcp(self._rtcp)
            self._rtcp.start(rtcp_sock, rtcp_remote, self.pacer.clock)
        self.rtcp = self._rtcp if rtcp_sock is not None else None
        self.pacer.period = 1000 * ptime
        self.pacer.start()
        self.running = True
        return self

    def _zero(self):
        self.mute_mic = False
        self.mute_speaker = False
        self.peer_hi = -1  # no peer yet (an SSRC half is 0..65535)
        self.peer_lo = 0
        self.cand_hi = -1  # a new SSRC on probation (RFC 3550 A.1: two in sequence)
        self.cand_lo = 0
        self.cand_seq = 0
        self.frames = 0
        self.jitter = 0  # RFC 3550 A.8 estimate last given to the jitter buffer
        self.rx_packets = 0
        self.rx_bad = 0  # malformed: counted, dropped
        self.rx_other = 0  # another payload type or an SSRC on probation
        self.rx_split = 0  # packets recovered from a concatenated read
        self.ssrc_changes = 0

    def stop(self):
        """The call's media ends: the sockets are let go (their owner closes them); the
        counters stay readable until the next start()."""
        self.running = False
        self.port.close()
        if self.rtcp is not None:
            self.rtcp.port.close()
            self.rtcp = None

    # --- controls (and mute_mic, mute_speaker: set them) ---

    def send_dtmf(self, digits):
        """Queue RFC 4733 events; returns how many digits were valid."""
        return self.dtmf_tx.press(digits)

    # --- the loop ---

    @micropython.native
    def poll(self):
        """Run a frame if one is due. Returns 0 after a frame (call again), else the µs
        until the next one is due: sleep that long (asyncio.sleep_ms, time.sleep_us)."""
        if not self.running:
            return self.pacer.period
        w = self.pacer.due()
        if w:
            return w
        if self.pacer.lost:  # a stall: the timestamps keep real time across the gap
            for _ in range(self.pacer.lost):
                self.sender.advance(self.mic.samples)
            self.pacer.lost = 0
        self.frame()
        return 0

    @micropython.native  # the frame and the packets: native code, faster and off the GC heap
    def frame(self):
        """One ptime step: mic -> RTP out; all pending RTP in; jitter -> speaker.
        (Hot path: attributes used twice are read into locals.)"""
        clock = self.pacer.clock
        now_us = clock.ticks_us()
        n = self.mic.samples
        tx = self.tx
        port = self.port
        sender = self.sender
        got = self.source.readinto(self.mic_buf)  # read even when muted: drains I2S DMA
        d = self.dtmf_tx
        if (d.code >= 0 or d.size) and d.next(sender, tx):
            port.send(port.view(tx, 16))  # an RFC 4733 event (12 + 4 bytes) replaces the audio
        else:
            if got and not self.mute_mic:
                self.mic.process(self.mic_buf, self.payload)
            else:  # muted: keep sending encoded silence (the peer's jitter buffer and NAT stay fed)
                g711.fill(tx, 12, n, g711.silence_code(self.pt))
            # RFC 3551 4.1: the marker on the first packet of the stream
            sender.write(tx, self.pt, sender.packets == 0, sender.ts_hi, sender.ts_lo, n)
            port.send(self.tx_audio)
        sender.advance(n)
        for _ in range(_RX_READS):
            got = port.recv()
            if got <= 0:
                break
            self._datagrams(got, now_us)
            if not port.exact and got < port.size:
                break  # readinto stopped short: the socket is empty (saves a syscall)
        jb = self.jb
        j = self.stats.jitter16 >> 4
        if j != self.jitter:
            self.jitter = j
            jb.set_jitter(j)
        g = jb.get()
        if g == 0 or self.mute_speaker:
            self.spk.silence(self.spk_buf)
        else:
            self.spk.process(jb.out, self.spk_buf, g)
        self.sink.write(self.spk_buf)
        if self.dtmf_rx.open or self.rtcp is not None:  # the ms clock only when needed
            now_ms = clock.ticks_ms()
            if self.dtmf_rx.open:
                self.dtmf_rx.poll(now_ms)
            if self.rtcp is not None:
                self.rtcp.poll(self, now_ms)
        self.frames += 1

    @micropython.native
    def _datagrams(self, n, now_us):
        port = self.port
        buf = port.buf
        h = self.hdr
        apt = self.pt
        dpt = self.dtmf_tx.pt
        off = 0
        while off < n:
            if _parse(h, buf, off, n):  # rtp.OK is 0
                self.rx_bad += 1
                return
            pt = h[_PT]
            plen = h[_PLEN]
            ssrc_hi = h[_SSRC_HI]
            ssrc_lo = h[_SSRC_LO]
            end = n
            if not port.exact:  # maybe several datagrams: audio is one frame, an event 4 bytes
                want = self.mic.samples if pt == apt else (dtmf.PAYLOAD if pt == dpt else -1)
                p = h[_OFF] + want
                if (
                    want >= 0
                    and plen > want
                    and p + 12 <= n
                    and buf[p] & 0xC0 == 0x80  # the next header: version 2, same SSRC
                    and (buf[p + 8] << 8) | buf[p + 9] == ssrc_hi
                    and (buf[p + 10] << 8) | buf[p + 11] == ssrc_lo
                ):
                    plen = want
                    end = p
                    self.rx_split += 1
            off = end
            if pt != apt and pt != dpt:
                self.rx_other += 1  # comfort noise, other codecs: not negotiated by us
                continue
            if not port.latched:
                port.latch(port.src)
            seq = h[_SEQ]
            if ssrc_hi != self.peer_hi or ssrc_lo != self.peer_lo:
                # Another SSRC: adopt the first source at once, a new one after two packets
                # in sequence (RFC 3550 8.2, A.1: a re-INVITE or a transfer changes it; a
                # stray or stale packet must not).
                if self.peer_hi >= 0:
                    if ssrc_hi != self.cand_hi or ssrc_lo != self.cand_lo or seq != (self.cand_seq + 1) & 0xFFFF:
                        self.cand_hi = ssrc_hi  # on probation
                        self.cand_lo = ssrc_lo
                        self.cand_seq = seq
                        self.rx_other += 1
                        continue
                    self.ssrc_changes += 1
                self.peer_hi = ssrc_hi
                self.peer_lo = ssrc_lo
                self.cand_hi = -1
                self.stats.reset(seq)
                self.jb.reset()
            ts_hi = h[_TS_HI]
            ts_lo = h[_TS_LO]
            if pt == apt:
                if not self.stats.update(seq, ts_hi, ts_lo, now_us, self.dtmf_rx.diff):
                    continue  # RFC 3550 A.1: a restart candidate
                self.jb.put(buf, h[_OFF], plen, seq, ts_hi, ts_lo)
            else:  # telephone-event timestamps stand still: no jitter sample (RFC 4733 2.3)
                if not self.stats.update(seq, 0, 0, 0, None):
                    continue
                self.dtmf_rx.packet(buf, h[_OFF], plen, ts_hi, ts_lo, self.pacer.clock.ticks_ms())
            self.rx_packets += 1

    def close(self):
        """stop(), and the source and sink closed too."""
        self.stop()
        for x in (self.source, self.sink):
            if hasattr(x, "close"):
                x.close()
