# Audio sources and sinks: the small duck-typed interface the media loop uses.
#
#   source.fmt          's16' (16-bit PCM) or 's32' (32-bit I2S slots, data left-justified)
#   source.rate         8000 or 16000
#   source.readinto(b)  fill b with one frame of mono little-endian samples and return
#                       len(b); return 0 when no frame is available (the loop sends silence)
#   sink.rate           8000 or 16000; frames are s16 LE mono
#   sink.write(b)       take one frame
#   close()             optional on both
#
# An ESP32 machine.I2S RX configured with bits=32 fits as a source with fmt 's32'
# (that class belongs to the platform layer: this module is pure code). These
# implementations allocate nothing per frame. WAV files (host only) are in wav.py.
import array
import math

from mpsip import g711

try:
    import micropython
except ImportError:  # CPython: @micropython.native is a compiler directive on MicroPython

    class micropython:
        native = staticmethod(lambda f: f)


class SilenceSource:
    def __init__(self, rate=8000, fmt="s16"):
        self.rate = rate
        self.fmt = fmt

    def readinto(self, buf):
        n = len(buf)
        g711.fill(buf, 0, n, 0)
        return n


class ToneSource:
    """Sine at freq Hz: a 256-entry table walked by a 24-bit phase accumulator with
    linear interpolation (no per-frame allocation, any frequency below rate/2)."""

    def __init__(self, freq, rate=8000, amplitude=8000, fmt="s16"):
        if not 0 < freq < rate // 2 or not 0 < amplitude <= 32767:
            raise ValueError("tone out of range")
        self.rate = rate
        self.fmt = fmt
        # one period and the first sample again, for interpolation; filled in place (an
        # array grown by append leaves its old copies as holes in a heap being fragmented)
        self.table = t = array.array("h", bytes(514))
        for i in range(257):
            t[i] = int(amplitude * math.sin(2 * math.pi * i / 256))
        self.inc = (freq * (1 << 24) + rate // 2) // rate
        self.phase = 0

    @micropython.native  # once per frame
    def readinto(self, buf):
        t = self.table
        ph = self.phase
        inc = self.inc
        wide = self.fmt == "s32"
        w = 4 if wide else 2
        n = len(buf) // w
        j = 0
        for _ in range(n):
            i = ph >> 16
            a = t[i]
            v = a + (((t[i + 1] - a) * ((ph >> 8) & 0xFF)) >> 8)
            if wide:
                buf[j] = 0
                buf[j + 1] = 0
                j += 2
            buf[j] = v & 0xFF
            buf[j + 1] = (v >> 8) & 0xFF
            j += 2
            ph = (ph + inc) & 0xFFFFFF
        self.phase = ph
        return n * w


class NullSink:
    def __init__(self, rate=8000):
        self.rate = rate
        self.frames = 0

    def write(self, buf):
        self.frames += 1
