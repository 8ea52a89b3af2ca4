# SIP over UDP (RFC 3261 18): one non-blocking socket bound to the configured port.
#
# The interface the user agent sees is send(data, addr) -> bool and recv() -> (data,
# addr) or None, addresses as ("host", port) on every runtime, so a TCP or TLS transport
# can be added beside this class later. The MicroPython unix port's sockets want
# getaddrinfo() socket addresses for sendto and return raw ones from recvfrom; ESP32's and
# CPython's use tuples: both are handled here and nowhere else.
#
# The receive buffer: MicroPython has no recv_into, and readinto() on a non-blocking UDP
# socket goes on reading until the buffer is full - it would glue queued datagrams
# together and cut the last one. So recvfrom() takes one transient block of the bound per
# datagram (the bytes are then shrunk to the datagram, or copied and the block freed),
# and only when poll() says a datagram is there: the loop asks far more often than
# datagrams come, and each empty read would leave a 4 KB block of garbage. A heap in
# pieces (MicroPython's GC does not compact) may have no 4 KB block: the datagram is then
# read with the smaller bound, one Ethernet frame's worth, which every SIP message not
# fragmented fits (RFC 3261 18.1.1 sends requests above 1300 bytes over TCP); a longer one
# arrives cut and gets 400. A heap in smaller pieces still may have no block even for
# that, and not for a moment: the UA would then hear nothing again (it was seen in a call
# at 96K: every ACK and re-INVITE left queued while our 200 went on being retransmitted).
# So one block of the smaller bound is held from the start, while the heap is whole, and
# let go when a 4 KB read finds no room; it is taken back before a later read, once a
# collection has made room again. (A spare of the 4 KB bound was tried once: 4 KB held all
# the time for the rare long datagram; 1.5 KB against going deaf is worth it.)
import select
import socket

MAX_DATAGRAM = 4096  # RFC 3261 18.1.1: UDP messages near the MTU; PBX INVITEs reach ~3 KB
SMALL_DATAGRAM = 1500


def _host(raw):
    """('host', port) from what recvfrom returned."""
    if isinstance(raw, tuple):
        return raw[0], raw[1]
    fam, ip, port = socket.sockaddr(raw)  # MicroPython unix: (family, packed address, port)
    if len(ip) == 4:
        return "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3]), port
    return ":".join("%x" % ((ip[i] << 8) | ip[i + 1]) for i in range(0, 16, 2)), port


class Udp:
    def __init__(self, host="0.0.0.0", port=5060):
        self.host = host
        self.port = port
        s = self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(host, port)[0][-1])
        s.setblocking(False)
        self._addrs = {}  # ("host", port) -> socket address, resolved once
        self.errors = 0
        self.spare = bytearray(SMALL_DATAGRAM)  # see the top of the file
        # Asked before each read: recvfrom() takes its block before it knows whether
        # anything is queued, and the poll loop reads far more often than datagrams come.
        self._ready = select.poll()
        self._ready.register(s, select.POLLIN)

    def send(self, data, addr):
        try:
            a = self._addrs.get(addr)
            if a is None:
                if len(self._addrs) > 16:
                    self._addrs.clear()
                a = self._addrs[addr] = socket.getaddrinfo(addr[0], addr[1])[0][-1]
            self.sock.sendto(data, a)
            return True
        except OSError:  # unreachable, no route, DNS: RFC 3261 18.4 transport error
            self.errors += 1
            return False

    def recv(self):
        """(data, addr) of the next datagram, or None; MemoryError (the datagram stays
        queued) when even the smaller bound finds no room, the spare let go."""
        if not self._ready.poll(0):
            return None
        if self.spare is None:  # let go for an earlier read: back, if there is room again
            try:
                self.spare = bytearray(SMALL_DATAGRAM)
            except MemoryError:
                pass
        try:
            try:
                data, raw = self.sock.recvfrom(MAX_DATAGRAM)
            except MemoryError:
                self.spare = None  # its block is room for this read, if there is no other
                data, raw = self.sock.recvfrom(SMALL_DATAGRAM)
        except OSError:  # an ICMP error surfaced (or nothing after all): nothing to read
            return None
        return data, _host(raw)

    def close(self):
        self.sock.close()


async def serve(ua, idle_ms=20):
    """Drive a user agent from asyncio: read what arrived, fire due timers, sleep until
    the next timer (at most idle_ms, which bounds the receive latency). asyncio is
    imported here, not with the module: it costs ~4 KB of heap a loop driven by poll()
    (tests, tools/sipua.py) does without."""
    import asyncio

    sleep_ms = getattr(asyncio, "sleep_ms", None)
    while ua.running:
        wait = min(ua.poll(), idle_ms)
        if sleep_ms:
            await sleep_ms(wait)
        else:  # CPython
            await asyncio.sleep(wait / 1000)
