# ESP32 boards: button, relay, status LED, I2S microphone and amplifier, Wi-Fi or
# Ethernet, watchdog. Every pin and I2S setting comes from the board's board.json
# (boards/<name>/, copied to the flash by `make deploy`); nothing here names a pin.
#
# Audio: machine.I2S in blocking mode. The loop reads one 20 ms frame per frame tick; the
# DMA has filled it meanwhile, so readinto returns at once, and the write of a frame
# finds room. The internal buffers (ibuf) are capped at _MAX_DELAY_MS of audio each:
# what sits in them is delay added to the call (ITU-T G.114: keep one-way delay low;
# 60 ms on the board leaves the network and the jitter buffer most of 150 ms).
import select
import sys
import time

import machine
import network

import hal
from intercom.leds import STATES
from mpsip.audio import SilenceSource

_DEBOUNCE_MS = 30  # a push button bounces for a few ms; 30 ms is below a deliberate press
_MAX_DELAY_MS = 60
_WDT_MS = 10000  # the loop feeds it every 20 ms; a DNS lookup or Wi-Fi join may take seconds
_FRAME_MS = 20


class Button:
    """A push button polled from the loop, debounced: poll(now) -> "press", "release" or None."""

    def __init__(self, spec):
        pull = {"up": machine.Pin.PULL_UP, "down": machine.Pin.PULL_DOWN}.get(spec.get("pull") or "")
        if pull is None:
            self.pin = machine.Pin(spec["pin"], machine.Pin.IN)
        else:
            self.pin = machine.Pin(spec["pin"], machine.Pin.IN, pull)
        self.active = spec.get("active", 0)
        self.raw = False
        self.state = False
        self.since = time.ticks_ms()

    def poll(self, now):
        raw = self.pin.value() == self.active
        if raw != self.raw:
            self.raw = raw
            self.since = now
        elif raw != self.state and time.ticks_diff(now, self.since) >= _DEBOUNCE_MS:
            self.state = raw
            return "press" if raw else "release"
        return None


def _ibuf(spec, sample_bytes):
    """The board's ibuf, capped at _MAX_DELAY_MS of audio but holding at least two frames."""
    per_ms = spec["rate"] // 1000 * sample_bytes
    return max(2 * _FRAME_MS * per_ms, min(spec.get("ibuf", 0) or 1 << 30, _MAX_DELAY_MS * per_ms))


def _i2s(spec, mode, sample_bytes):
    pin = machine.Pin
    return machine.I2S(
        spec["id"],
        sck=pin(spec["sck"]),
        ws=pin(spec["ws"]),
        sd=pin(spec["sd"]),
        mode=mode,
        bits=spec["bits"],
        format=machine.I2S.MONO if spec.get("format", "MONO") == "MONO" else machine.I2S.STEREO,
        rate=spec["rate"],
        ibuf=_ibuf(spec, sample_bytes),
    )


class I2sMic:
    """machine.I2S RX as an audio source: 32-bit slots ("s32", the INMP441's 24 bits
    left-justified) or 16-bit samples, at the board's rate."""

    def __init__(self, spec):
        self.rate = spec["rate"]
        self.fmt = "s32" if spec["bits"] == 32 else "s16"
        self.i2s = _i2s(spec, machine.I2S.RX, spec["bits"] // 8)

    def readinto(self, buf):
        return self.i2s.readinto(buf)

    def deinit(self):
        self.i2s.deinit()


class I2sSpeaker:
    """machine.I2S TX as an audio sink: 16-bit mono at the board's rate."""

    def __init__(self, spec):
        self.rate = spec["rate"]
        self.i2s = _i2s(spec, machine.I2S.TX, 2)

    def write(self, buf):
        self.i2s.write(buf)

    def deinit(self):
        self.i2s.deinit()


def _microphone(spec, out):
    if spec and spec.get("mode", "std") == "std":
        return I2sMic(spec)
    # A PDM microphone (M5Stack Atom Echo) is not readable through the stock machine.I2S;
    # calls still work, sending silence (boards/m5stack-atom-echo/README.md).
    out("EVENT error what=audio problem=no microphone machine.I2S can read on this board")
    return SilenceSource(16000 if spec else 8000)


class NoSpeaker:
    rate = 8000

    def write(self, buf):
        pass


class Platform:
    def __init__(self, board, cfg, out):
        self.poller = select.poll()
        # ipoll (MicroPython) reuses one result tuple: no allocation per round of the loop
        self._wait = getattr(self.poller, "ipoll", self.poller.poll)
        self.out = out
        pins = board.get("pins") or {}
        i2s = board.get("i2s") or {}
        b = pins.get("button")
        self.button = Button(b) if b else None
        r = pins.get("relay")
        self.relay_pin = None
        if r:
            self.relay_active = r.get("active", 1)
            self.relay_pin = machine.Pin(r["pin"], machine.Pin.OUT, value=1 - self.relay_active)
        self._led_pin = None
        self._pixel = None
        led = pins.get("led")
        if led and led.get("kind") == "ws2812":
            import neopixel

            self._pixel = neopixel.NeoPixel(machine.Pin(led["pin"]), 1)
        elif led:
            self.led_active = led.get("active", 1)
            self._led_pin = machine.Pin(led["pin"], machine.Pin.OUT, value=1 - self.led_active)
        mic = i2s.get("mic")
        self.mic = _microphone(mic, out)
        self.mic_shift = mic.get("shift", 16) if mic else 16
        amp = i2s.get("amp")
        self.speaker = I2sSpeaker(amp) if amp else NoSpeaker()
        self.half_duplex = board.get("duplex") == "half"
        self.kind = cfg["net"]
        self.wifi = cfg["wifi"]
        self.eth = board.get("eth")
        self.nic = None
        self.wdt = machine.WDT(timeout=_WDT_MS)

    # --- outputs -------------------------------------------------------------------------
    def relay(self, on):
        if self.relay_pin is not None:
            self.relay_pin.value(self.relay_active if on else 1 - self.relay_active)
        self.out("EVENT relay state=%s" % ("on" if on else "off"))

    def led(self, state, on):
        if self._pixel is not None:
            c = STATES[state] if on else b"\x00\x00\x00"
            self._pixel[0] = (c[0], c[1], c[2])
            self._pixel.write()
        elif self._led_pin is not None:
            self._led_pin.value(self.led_active if on else 1 - self.led_active)

    # --- inputs --------------------------------------------------------------------------
    def input(self):
        if self.button is None:
            return None
        return self.button.poll(time.ticks_ms())

    # --- network -------------------------------------------------------------------------
    def net_start(self):
        """Start joining (non-blocking); the station checks net_ok() and calls this again
        with back-off while it fails."""
        try:
            if self.kind == "lan":
                if self.nic is None:
                    self.nic = self._lan()
                self.nic.active(True)
                return
            if self.nic is None:
                self.nic = network.WLAN(network.STA_IF)
                self.nic.active(True)
            if not self.nic.isconnected():
                try:
                    self.nic.disconnect()  # a join still in progress would refuse a new one
                except OSError:
                    pass
                self.nic.connect(self.wifi["ssid"], self.wifi["password"])
        except (OSError, ValueError) as e:
            self.out("EVENT error what=network problem=%s" % e)

    def _lan(self):
        e = self.eth or {}
        if not e:
            raise ValueError("net is lan but board.json has no eth section")
        pin = machine.Pin
        phy = getattr(network, "PHY_" + e.get("phy", "LAN8720"))
        power = e.get("power")
        # The stubs know only the generic LAN(id, phy_type, phy_addr, ref_clk_mode); ESP32's
        # takes the RMII pins as well (MicroPython docs, ESP32 quick reference: LAN).
        return network.LAN(  # type: ignore[call-arg]
            mdc=pin(e["mdc"]),
            mdio=pin(e["mdio"]),
            power=pin(power) if power is not None else None,
            phy_type=phy,
            phy_addr=e.get("phy_addr", 0),
            ref_clk=pin(e["ref_clk"]),
            ref_clk_mode=pin.OUT if e.get("ref_clk_mode") == "out" else pin.IN,
        )

    def net_ok(self):
        return self.nic is not None and self.nic.isconnected()

    def ip(self):
        return self.nic.ifconfig()[0] if self.nic is not None else "0.0.0.0"

    # --- sockets (RTP) and the loop's sleep: hal/__init__.py's, shared with the other platform
    open_rtp = hal.open_rtp
    address = hal.address
    watch = hal.watch
    unwatch = hal.unwatch
    wait = hal.wait

    # --- the loop ------------------------------------------------------------------------
    def feed(self):
        self.wdt.feed()

    def close(self):
        for x in (self.mic, self.speaker):
            if hasattr(x, "deinit"):
                x.deinit()


if sys.platform != "esp32":  # imported elsewhere by mistake: say so at once
    raise ImportError("hal.esp32 runs on ESP32 boards only")
