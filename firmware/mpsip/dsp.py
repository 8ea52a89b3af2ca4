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


# --- plain-Python twins of the viper kernels: same integer arithmetic, one sample at
# a time (compact rather than fast: on MicroPython they only run in tests) ---


def _sample(src, i, wide, s):
    """Input sample i as an int: s16 LE, or an s32 LE slot >> s saturated to 16 bits."""
    if wide:
        j = 4 * i
        x = src[j] | (src[j + 1] << 8) | (src[j + 2] << 16) | (src[j + 3] << 24)
        if x & 0x80000000:
            x -= 0x100000000
        x >>= s
        return 32767 if x > 32767 else (-32768 if x < -32768 else x)
    x = src[2 * i] | (src[2 * i + 1] << 8)
    return x - 0x10000 if x & 0x8000 else x


def _code(v, g, tab, r, k):
    """Gain (Q8), saturate, G.711 through the reduced-magnitude table (g711.py)."""
    v = (v * g) >> 8
    if v > 32767:
        v = 32767
    elif v < -32768:
        v = -32768
    return tab[(r - 1 - v) >> k] if v < 0 else tab[(v + r) >> k] | 0x80


def _mic(src, n, dst, tab, prm, st, wide):
    r = prm[0]
    k = prm[1]
    s = prm[2]
    g = prm[3]
    if st is None:  # 8 kHz: no filter
        for i in range(n):
            dst[i] = _code(_sample(src, i, wide, s), g, tab, r, k)
        return
    # Delay lines: e[0..7] the last 8 odd-indexed inputs (the even taps of the window,
    # newest first), o[0..3] the last 4 even-indexed inputs (o[3] is the centre tap).
    e = list(st[0:8])
    o = list(st[8:12])
    for i in range(n):
        o.insert(0, _sample(src, 2 * i, wide, s))
        o.pop()
        e.insert(0, _sample(src, 2 * i + 1, wide, s))
        e.pop()
        y = (
            16384 * o[3]
            + _C1 * (e[3] + e[4])
            + _C2 * (e[2] + e[5])
            + _C3 * (e[1] + e[6])
            + _C4 * (e[0] + e[7])
            + _ROUND
        ) >> 15
        dst[i] = _code(y, g, tab, r, k)  # y may overshoot int16 (|y| < 46800): saturated after the gain
    for i in range(8):
        st[i] = e[i]
    for i in range(4):
        st[8 + i] = o[i]


def mic16_py(src, n, dst, tab, prm):
    """n s16 LE samples at 8 kHz -> gain -> n codes."""
    _mic(src, n, dst, tab, prm, None, False)


def mic32_py(src, n, dst, tab, prm):
    """n s32 LE I2S slots at 8 kHz -> >> shift -> gain -> n codes."""
    _mic(src, n, dst, tab, prm, None, True)


def mic16d_py(src, n, dst, tab, prm, st):
    """2n s16 LE samples at 16 kHz -> half-band decimate -> gain -> n codes."""
    _mic(src, n, dst, tab, prm, st, False)


def mic32d_py(src, n, dst, tab, prm, st):
    """2n s32 LE I2S slots at 16 kHz -> >> shift -> decimate -> gain -> n codes."""
    _mic(src, n, dst, tab, prm, st, True)


def _put(dst, i, v):
    dst[2 * i] = v & 0xFF
    dst[2 * i + 1] = (v >> 8) & 0xFF


def spk_py(src, n, dst, tab, vol, st=None):
    """n codes -> volume -> n s16 LE samples; with st, half-band interpolated x2 -> 2n."""
    if st is not None:
        d = list(st)
    for i in range(n):
        v = (tab[src[i]] * vol) >> 8
        v = 32767 if v > 32767 else (-32768 if v < -32768 else v)
        if st is None:
            _put(dst, i, v)
            continue
        d.insert(0, v)
        d.pop()
        # Interpolation doubles the taps (zero-stuffing halves the energy); the odd
        # output is the centre tap alone, i.e. a delayed input sample.
        z = (
            2 * _C4 * (d[0] + d[7])
            + 2 * _C3 * (d[1] + d[6])
            + 2 * _C2 * (d[2] + d[5])
            + 2 * _C1 * (d[3] + d[4])
            + _ROUND
        ) >> 15
        _put(dst, 2 * i, 32767 if z > 32767 else (-32768 if z < -32768 else z))
        _put(dst, 2 * i + 1, d[3])
    if st is not None:
        for i in range(8):
            st[i] = d[i]


spku_py = spk_py


try:
    from mpsip._g711v import mic16_v, mic16d_v, mic32_v, mic32d_v, spk_v, spku_v

    VIPER = True
except ImportError:  # CPython, or a port without the native emitter
    mic16_v = mic16d_v = mic32_v = mic32d_v = spk_v = spku_v = None
    VIPER = False

# kernel sets by name, so tests can run both twins side by side
PY = {"mic16": mic16_py, "mic16d": mic16d_py, "mic32": mic32_py, "mic32d": mic32d_py}
PY["spk"] = spk_py
PY["spku"] = spku_py
V = {"mic16": mic16_v, "mic16d": mic16d_v, "mic32": mic32_v, "mic32d": mic32d_v}
V["spk"] = spk_v
V["spku"] = spku_v


def _kernels(impl):
    if impl == "py":
        return PY
    if impl == "viper":
        if not VIPER:
            raise ValueError("viper kernels need MicroPython")
        return V
    return V if VIPER else PY


class MicPath:
    """One frame of raw microphone samples -> one frame of G.711 codes.

    fmt 's16' (PCM, WAV) or 's32' (I2S slots), rate 8000 or 16000 (decimated to 8 kHz).
    shift (s32 only): sample16 = sample32 >> shift. gain: Q8 multiplier after filtering.
    """

    def __init__(self, law, fmt="s16", rate=8000, samples=160, shift=16, gain=UNITY, impl=None):
        if fmt not in ("s16", "s32") or rate not in (8000, 16000):
            raise ValueError("mic format must be s16/s32 at 8000/16000 Hz")
        if not SHIFT_MIN <= shift <= SHIFT_MAX or not 0 <= gain <= GAIN_MAX:
            raise ValueError("shift 8..16, gain 0..16384 (Q8)")
        if rate == 16000 and samples % 2:
            raise ValueError("samples per frame must be even")  # the 16 kHz kernels take pairs
        self.law = law
        self.samples = samples  # codes per frame (8 kHz)
        self.decim = rate == 16000
        self.in_bytes = samples * (2 if self.decim else 1) * (4 if fmt == "s32" else 2)
        r, k = g711.enc_shift(law)
        self.prm = array.array("i", [r, k, shift, gain])
        self.tab = g711.enc_table(law)
        self.st = array.array("h", [0] * 12)
        name = ("mic32" if fmt == "s32" else "mic16") + ("d" if self.decim else "")
        self._k = _kernels(impl)[name]

    def set_gain(self, gain):
        if not 0 <= gain <= GAIN_MAX:
            raise ValueError("gain 0..16384 (Q8)")
        self.prm[3] = gain

    def reset(self):
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
        self.law = law
        self.samples = samples
        self.up = rate == 16000
        self.out_bytes = samples * (4 if self.up else 2)
        self.volume = volume
        self.tab = g711.dec_table(law)
        self.st = array.array("h", [0] * 8)
        self._k = _kernels(impl)["spku" if self.up else "spk"]

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

    def silence(self, dst):
        """Zero samples; the interpolator's history is cleared so the next frame starts clean."""
        if len(dst) < self.out_bytes:
            raise ValueError("buffer too small")
        g711.fill(dst, 0, self.out_bytes, 0)
        if self.up:
            self.reset()
        return self.out_bytes
