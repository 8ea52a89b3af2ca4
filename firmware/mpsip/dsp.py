# Microphone and speaker sample paths, each fused into one pass over the frame:
#   mic:     raw I2S/PCM frame -> 16-bit with gain -> (half-band decimate 16k->8k) -> G.711
#   speaker: G.711 -> 16-bit with volume -> (half-band interpolate 8k->16k) -> s16 LE
# Viper kernels (in _g711v.py) on MicroPython, the plain twins below elsewhere;
# both produce identical bytes (host_tests/test_dsp.py checks every variant).
#
# Half-band low-pass, 15 taps, Q15, designed minimax (passband 0-3 kHz at fs=16 kHz):
#   h = [C4, 0, C3, 0, C2, 0, C1, 16384, C1, 0, C2, 0, C3, 0, C4]
# Response: 1 kHz +0.2 dB, 3 kHz -0.1 dB, 3.4 kHz -1.2 dB, 4 kHz -6 dB (half-band),
# >= 32.9 dB rejection from 5 kHz to 8 kHz, 51 dB at 6 kHz. Every other tap is zero, so
# decimation costs 4 multiplies per output sample and interpolation 4 per input.
# Worst-case accumulator |32768 * 46748| < 2**31, so 32-bit viper ints never overflow.
import array

from mpsip import g711

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x

    class micropython:  # @micropython.native is a compiler directive on MicroPython
        native = staticmethod(lambda f: f)


_C1 = const(10428)
_C2 = const(-2923)
_C3 = const(1259)
_C4 = const(-572)
_ROUND = const(16384)
TAPS = (_C1, _C2, _C3, _C4)  # for tests and tools: the odd-offset taps, centre first

# I2S microphones deliver 32-bit slots, data left-justified (INMP441: 24 bits,
# SPH0645: 18 bits). sample16 = sample32 >> shift; 16 keeps the top 16 bits,
# smaller shifts add 6 dB each. Below 8 the 32-bit kernel arithmetic would overflow.
SHIFT_MIN = const(8)
SHIFT_MAX = const(16)
UNITY = const(256)  # gain and volume are Q8
GAIN_MAX = const(16384)


try:
    from mpsip._g711v import mic16_v, mic16d_v, mic32_v, mic32d_v, spk_v, spku_v

    VIPER = True
    # kernel sets by name (the plain twins' set, _g711p.PY, is loaded only when asked for)
    V = {"mic16": mic16_v, "mic16d": mic16d_v, "mic32": mic32_v, "mic32d": mic32d_v}
    V["spk"] = spk_v
    V["spku"] = spku_v
except ImportError:  # CPython, or a port without the native emitter
    VIPER = False
    V = None


def _kernels(impl):
    if impl == "viper" and not VIPER:
        raise ValueError("viper kernels need MicroPython")
    if impl == "py" or not VIPER:
        from mpsip._g711p import PY

        return PY
    return V


class MicPath:
    """One frame of raw microphone samples -> one frame of G.711 codes.

    fmt 's16' (PCM, WAV) or 's32' (I2S slots), rate 8000 or 16000 (decimated to 8 kHz).
    shift (s32 only): sample16 = sample32 >> shift. gain: Q8 multiplier after filtering
    (prm[1]: the kernels read it there).
    """

    def __init__(self, law, fmt="s16", rate=8000, samples=160, shift=16, gain=UNITY, impl=None):
        if fmt not in ("s16", "s32") or rate not in (8000, 16000):
            raise ValueError("mic format must be s16/s32 at 8000/16000 Hz")
        if not SHIFT_MIN <= shift <= SHIFT_MAX or not 0 <= gain <= GAIN_MAX:
            raise ValueError("shift 8..16, gain 0..16384 (Q8)")
        if rate == 16000 and samples % 2:
            raise ValueError("samples per frame must be even")  # the 16 kHz kernels take pairs
        self.decim = rate == 16000
        self.width = 4 if fmt == "s32" else 2
        self.cap = samples  # the largest frame configure() takes
        self.prm = array.array("i", [shift, gain])
        self.st = array.array("h", [0] * 12)
        name = ("mic32" if fmt == "s32" else "mic16") + ("d" if self.decim else "")
        self._k = _kernels(impl)[name]
        self.configure(law, samples)

    def configure(self, law, samples):
        """Another call: its law and frame size (up to the one made for), history cleared.
        Allocates nothing once the law's table exists (g711 keeps it)."""
        if samples > self.cap or (self.decim and samples % 2):
            raise ValueError("frame larger than made for")
        self.law = law
        self.samples = samples  # codes per frame (8 kHz)
        self.in_bytes = samples * (2 if self.decim else 1) * self.width
        self.tab = g711.enc_table(law)  # carries the law's bias and mask
        for i in range(12):
            self.st[i] = 0

    @micropython.native  # once per frame: native code skips the bytecode dispatch
    def process(self, src, dst):
        """src: in_bytes of raw samples; dst: at least `samples` bytes. Returns samples."""
        n = self.samples
        if len(src) < self.in_bytes or len(dst) < n:
            raise ValueError("buffer too small")  # viper does not check bounds
        if self.decim:
            self._k(src, n, dst, self.tab, self.prm, self.st)
        else:
            self._k(src, n, dst, self.tab, self.prm)
        return n


class SpeakerPath:
    """One frame of G.711 codes -> s16 LE at 8000 Hz or 16000 Hz (interpolated)."""

    def __init__(self, law, rate=8000, samples=160, volume=UNITY, impl=None):
        if rate not in (8000, 16000):
            raise ValueError("speaker rate must be 8000 or 16000")
        if rate == 16000 and samples % 2:
            raise ValueError("samples per frame must be even")  # the 16 kHz kernels take pairs
        self.up = rate == 16000
        self.cap = samples
        self.volume = volume
        self.st = array.array("h", [0] * 8)
        self._k = _kernels(impl)["spku" if self.up else "spk"]
        self.configure(law, samples)

    def configure(self, law, samples):
        """As MicPath.configure."""
        if samples > self.cap or (self.up and samples % 2):
            raise ValueError("frame larger than made for")
        self.law = law
        self.samples = samples
        self.out_bytes = samples * (4 if self.up else 2)
        self.tab = g711.dec_table(law)
        self.reset()

    def reset(self):
        for i in range(8):
            self.st[i] = 0

    @micropython.native  # once per frame (see MicPath.process)
    def process(self, src, dst, gain=UNITY):
        """Decode one frame from src into dst with volume * gain (both Q8); returns bytes."""
        n = self.samples
        if len(src) < n or len(dst) < self.out_bytes:
            raise ValueError("buffer too small")  # viper does not check bounds
        if self.up:
            self._k(src, n, dst, self.tab, (self.volume * gain) >> 8, self.st)
        else:
            self._k(src, n, dst, self.tab, (self.volume * gain) >> 8)
        return self.out_bytes

    @micropython.native  # once per silent frame
    def silence(self, dst):
        """Zero samples; the interpolator's history is cleared so the next frame starts clean."""
        if len(dst) < self.out_bytes:
            raise ValueError("buffer too small")
        g711.fill(dst, 0, self.out_bytes, 0)
        if self.up:
            self.reset()
        return self.out_bytes
