# G.711 for the tests: whole buffers through the kernels this runtime selected (viper on
# MicroPython, the plain twins on CPython), and a one-sample reference encoder written as
# ITU-T G.191 writes it, that test_g711.py checks against the ITU vectors and the other tests
# check the kernels against. The firmware only calls the kernels per frame: it keeps neither.
from mpsip import g711
from mpsip.g711 import PCMA, PCMU


def encode(law, src, dst):
    """All of src (int16 LE) G.711-encoded into dst."""
    assert len(src) // 2 <= len(dst)  # the kernels do not check bounds
    g711.enc_kernel(src, len(src) // 2, dst, g711.enc_table(law))


def decode(law, src, dst):
    """All of src's codes decoded into int16 LE samples in dst."""
    assert 2 * len(src) <= len(dst)
    g711.dec_kernel(src, len(src), dst, g711.dec_table(law))


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
