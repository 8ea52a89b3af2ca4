# The platform layer: what the door station needs from a board, one module per kind.
#   hal/esp32.py  ESP32 boards (machine, network; pins and I2S from board.json)
#   hal/host.py   the virtual board (MicroPython unix port or CPython; console and files)
# Both have Platform(board, cfg, out) with: relay(on), led(state, on), input() -> "press",
# "release", "quit", ... or None, mic / speaker (mpsip/audio.py's source and sink),
# mic_shift, half_duplex, open_rtp(ip, port) -> socket, address(host, port) -> sendto's
# address, net_start(), net_ok(), ip(), watch(sock) / unwatch(sock), wait(ms), feed()
# (the watchdog) and close(). intercom/station.py picks one by sys.platform.
# (Each platform has its own socket methods, the same few lines in both: a shared base class
# cost every board a class and this package's module, ~0.7 KB of heap, for five methods.)
