# Whole-buffer G.711 through the kernels this runtime selected (viper on MicroPython, the
# plain twins on CPython): what test_g711.py and test_dsp.py check against (the firmware
# itself only calls the kernels per frame, so it keeps no such wrapper).
from mpsip import g711


def encode(law, src, dst):
    """All of src (int16 LE) G.711-encoded into dst."""
    assert len(src) // 2 <= len(dst)  # the kernels do not check bounds
    g711.enc_kernel(src, len(src) // 2, dst, g711.enc_table(law))


def decode(law, src, dst):
    """All of src's codes decoded into int16 LE samples in dst."""
    assert 2 * len(src) <= len(dst)
    g711.dec_kernel(src, len(src), dst, g711.dec_table(law))
