# SIP over UDP (RFC 3261 18): one non-blocking socket bound to the configured port.
#
# The interface the user agent sees is send(data, addr) -> bool and recv() -> (data,
# addr) or None, addresses as ("host", port) on every runtime, so a TCP or TLS transport
# can be added beside this class later. The MicroPython unix port's sockets want
# getaddrinfo() socket addresses for sendto and return raw ones from recvfrom; ESP32's and
# CPython's use tuples: both are handled here and nowhere else.
import socket

MAX_DATAGRAM = 4096  # RFC 3261 18.1.1: UDP messages near the MTU; PBX INVITEs reach ~3 KB


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
        try:
            data, raw = self.sock.recvfrom(MAX_DATAGRAM)
        except OSError:  # EAGAIN: nothing queued (or an ICMP error surfaced): nothing to read
            return None
        return data, _host(raw)

    def close(self):
        self.sock.close()


try:
    from asyncio import sleep_ms
except ImportError:  # CPython
    from asyncio import sleep

    async def sleep_ms(ms):
        await sleep(ms / 1000)


async def serve(ua, idle_ms=20):
    """Drive a user agent from asyncio: read what arrived, fire due timers, sleep until
    the next timer (at most idle_ms, which bounds the receive latency)."""
    while ua.running:
        wait = ua.poll()
        await sleep_ms(min(wait, idle_ms))
