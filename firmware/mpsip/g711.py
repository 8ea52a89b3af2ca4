# G.711 mu-law (PCMU) and A-law (PCMA), buffer to buffer, bit-exact with the
# ITU-T G.191 STL reference (g711.c: one's complement for negative inputs, so
# mu-law differs from CPython's audioop/Sun g711.c on 508 negative inputs).
#
# Samples are int16 little-endian in a byte buffer; codes are one byte each.
# Encode is table driven: the ITU algorithm depends only on a reduced magnitude,
# so one byte per reduced magnitude is exact (checked over all 65536 inputs):
#   mu-law: code7 = TU[(m + 4) >> 3]  (4097 bytes)   A-law: code7 = TA[m >> 4]  (2048 bytes)
# where m = x for x >= 0 and m = ~x for x < 0, and bit 7 is set for x >= 0.
# Only the law in use is built (lazily). Decode uses a 256-entry int16 table.
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


def encode_sample(law, x):
    """Reference encoder (ITU-T G.191 STL ulaw_compress/alaw_compress) for one int16."""
    if law == PCMU:
        absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
        if absno > 0x1FFF:
            absno = 0x1FFF
        i = absno >> 6
        seg = 1
        while i:
            seg += 1
            i >>= 1
        out = ((8 - seg) << 4) | (15 - ((absno >> seg) & 15))
        return out | 0x80 if x >= 0 else out
    if law != PCMA:
        raise ValueError("law must be PCMU or PCMA")
    ix = (~x) >> 4 if x < 0 else x >> 4
    if ix > 15:
        iexp = 1
        while ix > 31:
            ix >>= 1
            iexp += 1
        ix += (iexp << 4) - 16
    if x >= 0:
        ix |= 0x80
    return ix ^ 0x55


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


def enc_table(law):
    """7-bit codes indexed by the reduced magnitude (see the module comment)."""
    key = law + 1000
    t = _tables.get(key)
    if t is None:
        r, k = enc_shift(law)
        t = bytearray(((32767 + r) >> k) + 1)
        for i in range(len(t)):
            # the smallest magnitude that reduces to index i
            t[i] = encode_sample(law, max(0, (i << k) - r)) & 0x7F
        _tables[key] = t
    return t


def enc_shift(law):
    """(round, shift) of the table index: index = (magnitude + round) >> shift."""
    return (4, 3) if law == PCMU else (0, 4)


def dec_table(law):
    """256 int16 values, code -> linear sample."""
    t = _tables.get(law)
    if t is None:
        t = array.array("h", bytes(512))  # filled in place: no 256-entry list on the way
        for c in range(256):
            t[c] = decode_sample(law, c)
        _tables[law] = t
    return t


# --- plain-Python kernels (the twins of the viper kernels in _g711v.py). Kernels
# take lengths on trust: viper does not check bounds, callers size the buffers. ---


def enc_py(src, n, dst, tab, r, k):
    """n int16 LE samples from src -> n codes into dst."""
    for i in range(n):
        x = src[2 * i] | (src[2 * i + 1] << 8)
        if x & 0x8000:
            dst[i] = tab[((x ^ 0xFFFF) + r) >> k]
        else:
            dst[i] = tab[(x + r) >> k] | 0x80


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


try:
    from mpsip._g711v import copy_v, dec_v, enc_v, fill_v

    VIPER = True
except ImportError:  # CPython, or a port without the native emitter
    enc_v = dec_v = copy_v = fill_v = None
    VIPER = False

enc_kernel = enc_v or enc_py
dec_kernel = dec_v or dec_py
copy = copy_v or copy_py
fill = fill_v or fill_py


def encode(law, src, dst, n=None):
    """Encode n int16 LE samples (default: all of src) into dst; returns n."""
    if n is None:
        n = len(src) // 2
    if 2 * n > len(src) or n > len(dst):
        raise ValueError("buffer too small")  # the viper kernels do not check bounds
    r, k = enc_shift(law)
    enc_kernel(src, n, dst, enc_table(law), r, k)
    return n


def decode(law, src, dst, n=None):
    """Decode n codes (default: all of src) into int16 LE samples in dst; returns n."""
    if n is None:
        n = len(src)
    if n > len(src) or 2 * n > len(dst):
        raise ValueError("buffer too small")
    dec_kernel(src, n, dst, dec_table(law))
    return n
