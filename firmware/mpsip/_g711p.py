# The plain-Python twins of the viper kernels in _g711v.py, same names ending in _py:
# CPython runs them; on MicroPython only the tests that compare both and
# MicPath/SpeakerPath(impl="py") load this module. Each must give identical bytes.
# Kernels take lengths on trust (viper does not check bounds): callers size the buffers.
try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# dsp.py's half-band taps (Q15) and rounding
_C1 = const(10428)
_C2 = const(-2923)
_C3 = const(1259)
_C4 = const(-572)
_ROUND = const(16384)
_SEG = const(129)  # g711.enc_table: the bias, then the mask, follow the segment entries
# rtp.py's parse() results and header array indexes (test_rtp checks both twins agree)
_OK = const(0)
_E_SHORT = const(-1)
_E_VERSION = const(-2)
_E_PADDING = const(-3)
_E_RTCP = const(-4)
_HEADER = const(12)
_MARKER = const(0)
_PT = const(1)
_SEQ = const(2)
_TS_HI = const(3)
_TS_LO = const(4)
_SSRC_HI = const(5)
_SSRC_LO = const(6)
_OFF = const(7)
_PLEN = const(8)
_CC = const(9)


# --- g711.py ---


def enc_py(src, n, dst, tab):
    """n int16 LE samples from src -> n codes into dst (tab: g711.enc_table)."""
    r = tab[_SEG]
    for i in range(n):
        y = src[2 * i] | (src[2 * i + 1] << 8)
        m = tab[_SEG + 1]
        if y & 0x8000:
            y ^= 0xFFFF  # ~x for x < 0 (ITU one's complement)
            m ^= 0x80
        y += r
        t = tab[y >> 8]
        dst[i] = ((t + (y >> (t >> 8))) & 0xFF) ^ m


def dec_py(src, n, dst, tab):
    """n codes from src -> n int16 LE samples into dst."""
    for i in range(n):
        v = tab[src[i]]
        dst[2 * i] = v & 0xFF
        dst[2 * i + 1] = (v >> 8) & 0xFF


def copy_py(dst, doff, src, soff, n):
    """n bytes from src[soff:] to dst[doff:]; the two must not overlap (copy_v moves words)."""
    for i in range(n):
        dst[doff + i] = src[soff + i]


def fill_py(dst, off, n, value):
    for i in range(n):
        dst[off + i] = value


# --- rtp.py ---


def parse_py(h, buf, start, end):
    """Parse the RTP packet in buf[start:end] into h. Returns _OK or an E_* code.
    (rtp.parse is the viper twin, _g711v.parse_v, where there is one.)"""
    if end - start < _HEADER:
        return _E_SHORT
    b0 = buf[start]
    if b0 & 0xC0 != 0x80:
        return _E_VERSION
    b1 = buf[start + 1]
    pt = b1 & 0x7F
    if 72 <= pt <= 76:
        return _E_RTCP
    cc = b0 & 0x0F
    off = start + _HEADER + 4 * cc  # RFC 3550 5.1: CSRC list, skipped
    if off > end:
        return _E_SHORT
    if b0 & 0x10:  # RFC 3550 5.3.1: header extension, skipped (16-bit length in words)
        if off + 4 > end:
            return _E_SHORT
        off += 4 + 4 * ((buf[off + 2] << 8) | buf[off + 3])
        if off > end:
            return _E_SHORT
    plen = end - off
    if b0 & 0x20:  # RFC 3550 5.1: the last octet counts the padding, itself included
        pad = buf[end - 1]
        if pad == 0 or pad > plen:
            return _E_PADDING
        plen -= pad
    h[_MARKER] = b1 >> 7
    h[_PT] = pt
    h[_SEQ] = (buf[start + 2] << 8) | buf[start + 3]
    h[_TS_HI] = (buf[start + 4] << 8) | buf[start + 5]
    h[_TS_LO] = (buf[start + 6] << 8) | buf[start + 7]
    h[_SSRC_HI] = (buf[start + 8] << 8) | buf[start + 9]
    h[_SSRC_LO] = (buf[start + 10] << 8) | buf[start + 11]
    h[_OFF] = off
    h[_PLEN] = plen
    h[_CC] = cc
    return _OK


# --- dsp.py (compact rather than fast: same integer arithmetic, one sample at a time) ---


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


def _code(v, g, tab):
    """Gain (Q8), saturate, G.711 by the segment table (g711.py's module comment)."""
    v = (v * g) >> 8
    if v > 32767:
        v = 32767
    elif v < -32768:
        v = -32768
    m = tab[_SEG + 1]
    if v < 0:
        v = ~v
        m ^= 0x80
    y = v + tab[_SEG]
    t = tab[y >> 8]
    return ((t + (y >> (t >> 8))) & 0xFF) ^ m  # the low byte, as the viper kernels store it


def _mic(src, n, dst, tab, prm, st, wide):
    s = prm[0]
    g = prm[1]
    if st is None:  # 8 kHz: no filter
        for i in range(n):
            dst[i] = _code(_sample(src, i, wide, s), g, tab)
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
        dst[i] = _code(y, g, tab)  # y may overshoot int16 (|y| < 46800): saturated after the gain
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

# the kernel set by name, as dsp.V
PY = {"mic16": mic16_py, "mic16d": mic16d_py, "mic32": mic32_py, "mic32d": mic32d_py}
PY["spk"] = spk_py
PY["spku"] = spku_py
