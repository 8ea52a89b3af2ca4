# Fakes shared by test_media.py and test_media_loop.py: an in-memory UDP (sockets with
# MicroPython's and CPython's receive semantics), a settable clock with MicroPython's ticks
# arithmetic, a tone source and a peak-measuring sink. Two test files rather than one keep
# each process's loaded test code small: it shares the 96 KB MicroPython heap with two sessions.
import array
import gc
import math
import sys

# One module at a time, collecting in between: imported as one chain, the transient
# garbage of loading fragments the 96 KB MicroPython heap beyond what the tests need.
for _m in ("mpsip.g711", "mpsip.rtp", "mpsip.jitter", "mpsip.dtmf", "mpsip.dsp", "mpsip.media"):
    __import__(_m)
    gc.collect()

from mpsip import g711, media  # noqa: E402

g711.enc_table(g711.PCMU)  # the codec tables (~0.9 KB) live beside the modules, not in a test's space
g711.dec_table(g711.PCMU)
gc.collect()

try:
    import micropython

    heap_lock = micropython.heap_lock
    heap_unlock = micropython.heap_unlock
except (ImportError, AttributeError):  # CPython: the behaviour is still asserted
    heap_lock = heap_unlock = None

MP = sys.implementation.name == "micropython"
MASK = (1 << 30) - 1
HALF = 1 << 29


class FakeClock:
    """MicroPython ticks arithmetic (period 2**30) over a settable µs counter."""

    def __init__(self, t_us=0):
        self.t = t_us

    def ticks_us(self):
        return self.t & MASK

    def ticks_ms(self):
        return (self.t // 1000) & MASK

    def ticks_diff(self, a, b):
        return ((a - b + HALF) & MASK) - HALF

    def ticks_add(self, a, b):
        return (a + b) & MASK


class MpSock:
    """A UDP socket with MicroPython 1.29 semantics and no allocation per datagram:
    readinto() concatenates queued datagrams until the buffer is full (truncating the
    last), recvfrom() allocates, connect() filters sources."""

    def __init__(self, net, addr, slots=6, size=176):
        self.net = net
        self.addr = addr
        net[addr] = self  # net: {address: socket}
        self.size = size
        self.slots = slots
        self.ring = bytearray(slots * size)
        self.lens = array.array("i", [0] * slots)
        self.srcs = [None] * slots
        self.head = 0
        self.count = 0
        self.peer = None
        self.sent = 0
        self.sent_connected = 0  # of those, through send() after connect()
        self.drops = 0

    def setblocking(self, flag):
        pass

    def connect(self, addr):
        self.peer = addr

    def sendto(self, data, addr):
        self.sent += 1
        dst = self.net.get(addr)
        if dst is not None:
            dst.deliver(data, self.addr)
        return len(data)

    def send(self, data):
        """After connect(), as on a real socket: to the connected peer."""
        self.sent_connected += 1
        return self.sendto(data, self.peer)

    def deliver(self, data, src):
        n = len(data)
        if (self.peer is not None and src != self.peer) or self.count == self.slots:
            self.drops += 1
            return
        i = (self.head + self.count) % self.slots
        g711.copy(self.ring, i * self.size, data, 0, n)
        self.lens[i] = n
        self.srcs[i] = src
        self.count += 1

    def newest(self):
        """The datagram delivered last (still queued), as bytes."""
        i = (self.head + self.count - 1) % self.slots
        return bytes(self.ring[i * self.size : i * self.size + self.lens[i]])

    def _pop(self):
        i = self.head
        self.head = (i + 1) % self.slots
        self.count -= 1
        return i

    def readinto(self, buf):
        if self.count == 0:
            return None
        got = 0
        room = len(buf)
        while self.count and got < room:
            i = self._pop()
            n = min(self.lens[i], room - got)
            g711.copy(buf, got, self.ring, i * self.size, n)
            got += n
        return got

    def recvfrom(self, bufsize):
        if self.count == 0:
            raise OSError(11)  # EAGAIN
        i = self._pop()
        return bytes(self.ring[i * self.size : i * self.size + self.lens[i]]), self.srcs[i]


class CpySock(MpSock):
    """CPython's semantics: recvfrom_into keeps datagram boundaries."""

    def recvfrom_into(self, buf):
        if self.count == 0:
            raise OSError(11)
        i = self._pop()
        n = self.lens[i]
        g711.copy(buf, 0, self.ring, i * self.size, n)
        return n, self.srcs[i]


class Tone:
    """A source (audio.py interface) whose tone period divides the frame: one frame
    is computed on the first call and copied after. amp 0: silence."""

    def __init__(self, freq=1000, rate=8000, amp=8000, fmt="s16"):
        self.freq = freq
        self.rate = rate
        self.amp = amp
        self.fmt = fmt
        self.frame = None

    def readinto(self, buf):
        n = len(buf)
        if self.frame is None or len(self.frame) != n:  # (a reused session: another ptime)
            w = 4 if self.fmt == "s32" else 2
            self.frame = f = bytearray(n)
            for i in range(n // w):
                v = int(self.amp * math.sin(2 * math.pi * self.freq * i / self.rate)) & 0xFFFF
                f[w * i + w - 2] = v & 0xFF
                f[w * i + w - 1] = v >> 8
        g711.copy(buf, 0, self.frame, 0, n)
        return n


class PeakSink:
    def __init__(self, rate=8000):
        self.rate = rate
        self.frames = 0
        self.loud = 0  # frames with a peak above 1000
        self.peak = 0

    def write(self, buf):
        m = 0
        for i in range(0, len(buf), 2):
            v = buf[i] | (buf[i + 1] << 8)
            if v & 0x8000:
                v = 0x10000 - v
            if v > m:
                m = v
        self.frames += 1
        if m > 1000:
            self.loud += 1
        if m > self.peak:
            self.peak = m


A_ADDR = ("127.0.0.1", 40000)
B_ADDR = ("127.0.0.1", 50000)


def pair(
    net, clock, a_src=None, b_src=None, a_sink=None, b_sink=None, rtcp=False, b_remote=A_ADDR, b_cls=CpySock, **kw
):
    # a: MicroPython socket semantics; b: CPython's unless b_cls says otherwise
    sa = MpSock(net, A_ADDR)
    sb = b_cls(net, B_ADDR)
    ra = rb = None
    if rtcp:
        ra = MpSock(net, ("127.0.0.1", 40001), 4, 96)  # compound RTCP: ~70 bytes
        rb = b_cls(net, ("127.0.0.1", 50001), 4, 96)
    a = media.MediaSession(
        sa,
        B_ADDR,
        a_src or Tone(),
        a_sink or PeakSink(),
        clock=clock,
        rtcp_sock=ra,
        rtcp_remote=("127.0.0.1", 50001),
        **kw,
    )
    b = media.MediaSession(
        sb,
        b_remote,
        b_src or Tone(amp=0),
        b_sink or PeakSink(),
        clock=clock,
        rtcp_sock=rb,
        rtcp_remote=("127.0.0.1", 40001),
        **kw,
    )
    return a, b, sa, sb


def run(clock, sessions, frames):
    for _ in range(frames):
        for s in sessions:
            s.frame()
        clock.t += 20000


def heap_locked_frames(a, b, clock, frames):
    pair = (a, b)  # built before the lock: a tuple is an allocation
    if heap_lock is None:  # CPython: the same frames, behaviour still asserted
        run(clock, pair, frames)
        return
    heap_lock()
    try:
        run(clock, pair, frames)
    finally:
        heap_unlock()
