# G.711 mu-law (PCMU) and A-law (PCMA), buffer to buffer, bit-exact with the
# ITU-T G.191 STL reference (g711.c: one's complement for negative inputs, so
# mu-law differs from CPython's audioop/Sun g711.c on 508 negative inputs).
#
# Samples are int16 little-endian in a byte buffer; codes are one byte each.
# Encode is the segment method of g711.c, with one small table per law. With
# m = x for x >= 0 and m = ~x for x < 0, and y = m + bias (mu-law 132 = 4 * 33,
# the ITU bias at the input's scale; A-law 0):
#   s = the shift of y's segment, from the table at y >> 8 (segments start at
#       powers of two, so y >> s falls in 16..31: 16 + the 4-bit mantissa)
#   code = (16 * s - 64 + (y >> s)) ^ mask
# A-law's segment 0 is linear like segment 1 (shift 4, y >> 4 in 0..15); mu-law's
# first segment has shift 3, so its base 16 * 3 - 64 is negative (the byte wraps).
# mask: bit 7 set for x >= 0, and ITU's output inversions (mu-law all bits, A-law
# 0x55). mu-law clips at absno 0x1FFF: entry 128 (y >= 32768) gives 127 with any y.
# Checked over all 65536 inputs. Decode uses a 256-entry int16 table. The tables
# are built per law on first use and kept: 262 bytes to encode, 512 to decode.
import array

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


# RFC 3551 6: the static payload types double as codec identifiers.
PCMU = const(0)
PCMA = const(8)

# The code an all-zero signal encodes to (what a muted microphone sends).
SILENCE_ULAW = const(0xFF)
SILENCE_ALAW = const(0xD5)


def silence_code(law):
    return SILENCE_ULAW if law == PCMU else SILENCE_ALAW


def decode_sample(law, code):
    """Reference decoder (ITU-T G.191 STL ulaw_expand/alaw_expand) for one code byte."""
    if law == PCMU:
        m = ~code & 0xFF
        e = (m >> 4) & 7
        step = 4 << (e + 1)
        v = (0x80 << e) + step * (m & 15) + (step >> 1) - 4 * 33
        return -v if code < 0x80 else v
    if law != PCMA:
        raise ValueError("law must be PCMU or PCMA")
    ix = (code ^ 0x55) & 0x7F
    e = ix >> 4
    mant = ix & 15
    if e > 0:
        mant += 16
    mant = (mant << 4) + 8
    if e > 1:
        mant <<= e - 1
    return mant if code > 127 else -mant


_tables = {}
_SEG = const(129)  # enc_table: entries 0..128 by y >> 8, then the bias and the mask


def enc_table(law):
    """129 entries (shift << 8 | base byte) by y >> 8, then bias and mask (module comment)."""
    key = law + 1000
    t = _tables.get(key)
    if t is None:
        r = 132 if law == PCMU else 0
        t = array.array("H", bytes(2 * _SEG + 4))
        for i in range(_SEG):
            y = max(i << 8, r)  # the smallest y reaching entry i
            s = 3 if law == PCMU else 4
            while y >> s > 31:
                s += 1
            t[i] = (s << 8) | ((16 * s - 64 - (i >> 7)) & 0xFF)  # i = 128: mu-law's clip
        t[_SEG] = r
        t[_SEG + 1] = 0xFF if law == PCMU else 0xD5
        _tables[key] = t
    return t


def dec_table(law):
    """256 int16 values, code -> linear sample."""
    t = _tables.get(law)
    if t is None:
        t = array.array("h", bytes(512))  # filled in place: no 256-entry list on the way
        for c in range(256):
            t[c] = decode_sample(law, c)
        _tables[law] = t
    return t


# The kernels (re-exported: jitter, media, dsp and tests call g711.copy and g711.fill;
# tests and tools/bench_media.py the codec kernels, kernel(src, n, dst, table): no bounds checked)
try:
    from mpsip._g711v import copy_v as copy  # noqa: F401
    from mpsip._g711v import dec_v as dec_kernel  # noqa: F401
    from mpsip._g711v import enc_v as enc_kernel  # noqa: F401
    from mpsip._g711v import fill_v as fill  # noqa: F401

    VIPER = True
except ImportError:  # CPython, or a port without the native emitter: the plain twins
    from mpsip._g711p import copy_py as copy  # noqa: F401
    from mpsip._g711p import dec_py as dec_kernel  # noqa: F401
    from mpsip._g711p import enc_py as enc_kernel  # noqa: F401
    from mpsip._g711p import fill_py as fill  # noqa: F401

    VIPER = False
