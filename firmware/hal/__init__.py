# The platform layer: what the door station needs from a board, one module per kind.
#   hal/esp32.py  ESP32 boards (machine, network; pins and I2S from board.json)
#   hal/host.py   the virtual board (MicroPython unix port or CPython; console and files)
# Both have Platform(board, cfg, out) with: relay(on), led(state, on), input() -> "press",
# "release", "quit", ... or None, mic / speaker (mpsip/audio.py's source and sink),
# mic_shift, half_duplex, open_rtp(ip, port) -> socket, address(host, port) -> sendto's
# address, net_start(), net_ok(), ip(), watch(sock) / unwatch(sock), wait(ms), feed()
# (the watchdog) and close(). intercom/station.py picks one by sys.platform.
# The socket side both share is here as plain functions each Platform class takes as its
# methods (open_rtp = hal.open_rtp ...): a shared base class cost every board a class object
# beside them (~0.7 KB of heap with its __init__), for five methods. They use the platform's
# `poller` (select.poll()) and `_wait` (its ipoll on MicroPython: ipoll reuses one result
# tuple, no allocation per round of the loop; poll on CPython).
import select
import socket


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
