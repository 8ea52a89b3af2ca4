# The platform layer: what the door station needs from a board, one module per kind.
#   hal/esp32.py  ESP32 boards (machine, network; pins and I2S from board.json)
#   hal/host.py   the virtual board (MicroPython unix port or CPython; console and files)
# Both have Platform(board, cfg, out) with: relay(on), led(state, on), input() -> "press",
# "release", "quit", ... or None, mic / speaker (mpsip/audio.py's source and sink),
# mic_shift, half_duplex, open_rtp(ip, port) -> socket, address(host, port) -> sendto's
# address, net_start(), net_ok(), ip(), watch(sock) / unwatch(sock), wait(ms), feed()
# (the watchdog) and close(). intercom/station.py picks one by sys.platform.
import select
import socket


class Sockets:
    """The socket side both platforms share: RTP sockets and the loop's sleep."""

    def __init__(self):
        self.poller = select.poll()
        # ipoll (MicroPython) reuses one result tuple: no allocation per round of the loop
        self._wait = getattr(self.poller, "ipoll", self.poller.poll)

    def open_rtp(self, ip, port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(socket.getaddrinfo(ip, port)[0][-1])
        return s

    def address(self, host, port):
        return socket.getaddrinfo(host, port)[0][-1]

    def watch(self, sock):
        self.poller.register(sock, select.POLLIN)

    def unwatch(self, sock):
        try:
            self.poller.unregister(sock)
        except (KeyError, OSError, ValueError):
            pass

    def wait(self, ms):
        """Sleep up to ms, less when something watched becomes readable."""
        for _ in self._wait(ms):
            break
