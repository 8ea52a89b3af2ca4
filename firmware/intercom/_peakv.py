# The viper twin of intercom/peak.py's peak_py, imported only on MicroPython (ptr8 exists only in
# viper code). Both must return the same number for the same frame (test_sound.py).
import micropython


@micropython.viper
def peak_v(buf, n: int) -> int:
    p = ptr8(buf)
    m = 0
    i = 0
    end = 2 * n
    while i < end:
        v = p[i] | (p[i + 1] << 8)
        if v & 0x8000:
            v = 0x10000 - v  # |v| of a negative s16
        if v > m:
            m = v
        i += 2
    return m
