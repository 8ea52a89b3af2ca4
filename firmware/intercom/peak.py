# The half-duplex voice gate's level meter in plain Python, the twin of intercom/_peakv.py's
# viper one (test_sound.py checks both give the same number): used where viper is not
# (CPython, a port without the native emitter). A module of its own: a board that does not
# gate, or gates with viper, keeps its code out of the heap.


def peak_py(buf, n):
    """Largest |sample| of the first n s16 LE samples of buf (every one: a stride would
    miss tones whose period it divides)."""
    m = 0
    for i in range(0, 2 * n, 2):
        v = buf[i] | (buf[i + 1] << 8)
        if v & 0x8000:
            v = 0x10000 - v
        if v > m:
            m = v
    return m
