# Viper kernels for g711.py and dsp.py, imported only on MicroPython (the ptr
# annotations do not exist elsewhere). Each one is the twin of a plain-Python
# kernel with the same name ending in _py and must produce identical bytes.
# Loads through ptr16/ptr32 are unsigned, so signed values are fixed up by hand;
# all arithmetic stays within 32 bits (see the overflow note in dsp.py).
# Loops walk their pointers (src = ptr8(int(src) + 1)) with the end address in a
# parameter: the x64 emitter keeps only the first three locals in registers, and a
# constant index is one load. Addresses compare as ints: below 2**31 on every ESP32
# memory map, and positive on 64-bit hosts. 32-bit loads/stores only where the
# address is 4-byte aligned (Xtensa raises LoadStoreAlignment otherwise).
# Encoders: tab is g711.enc_table(law) (129 segment entries, then bias and mask);
# the code is the low byte of (entry + (y >> shift)): the 8-bit store drops the
# shift in the entry's high byte and wraps mu-law's negative first base.
import micropython
from micropython import const

_C1 = const(10428)
_C2 = const(-2923)
_C3 = const(1259)
_C4 = const(-572)
_SEG = const(129)  # g711.enc_table: the bias, then the mask, follow the segment entries


@micropython.viper
def enc_v(src: ptr16, n: int, dst: ptr8, tab: ptr16):
    r = int(tab[_SEG])
    m = int(tab[_SEG + 1])
    n = int(src) + 2 * n  # the end address (see the module comment)
    while int(src) < n:
        y = int(src[0])
        if y & 0x8000:
            y = (y ^ 0xFFFF) + r
            t = int(tab[y >> 8])
            dst[0] = (t + (y >> (t >> 8))) ^ m ^ 0x80
        else:
            y += r
            t = int(tab[y >> 8])
            dst[0] = (t + (y >> (t >> 8))) ^ m
        src = ptr16(int(src) + 2)
        dst = ptr8(int(dst) + 1)


@micropython.viper
def dec_v(src: ptr8, n: int, dst: ptr16, tab: ptr16):
    # Two samples per 32-bit store (little-endian: the first in the low half), four
    # per pass, where dst is aligned; one at a time otherwise and for the tail.
    n += int(src)  # the end address
    if (int(dst) & 3) == 0:
        while int(src) + 3 < n:
            ptr32(dst)[0] = tab[src[0]] | (tab[src[1]] << 16)
            ptr32(dst)[1] = tab[src[2]] | (tab[src[3]] << 16)
            src = ptr8(int(src) + 4)
            dst = ptr16(int(dst) + 8)
    while int(src) < n:
        dst[0] = tab[src[0]]
        src = ptr8(int(src) + 1)
        dst = ptr16(int(dst) + 2)


@micropython.viper
def copy_v(dst: ptr8, doff: int, src: ptr8, soff: int, n: int):
    # Word copies when both ends are 4-byte aligned (the jitter ring, packet payloads
    # at offset 12), 16 bytes per pass; the buffers must not overlap.
    dst = ptr8(int(dst) + doff)
    src = ptr8(int(src) + soff)
    doff = int(dst) + n  # now the end address
    if ((int(dst) | int(src)) & 3) == 0:
        while int(dst) + 15 < doff:
            ptr32(dst)[0] = ptr32(src)[0]
            ptr32(dst)[1] = ptr32(src)[1]
            ptr32(dst)[2] = ptr32(src)[2]
            ptr32(dst)[3] = ptr32(src)[3]
            dst = ptr8(int(dst) + 16)
            src = ptr8(int(src) + 16)
    while int(dst) < doff:
        dst[0] = src[0]
        dst = ptr8(int(dst) + 1)
        src = ptr8(int(src) + 1)


@micropython.viper
def fill_v(dst: ptr8, off: int, n: int, value: int):
    dst = ptr8(int(dst) + off)
    off = int(dst) + n  # now the end address
    if (int(dst) & 3) == 0:
        w = value & 0xFF
        w |= w << 8
        w |= w << 16
        while int(dst) + 15 < off:
            ptr32(dst)[0] = w
            ptr32(dst)[1] = w
            ptr32(dst)[2] = w
            ptr32(dst)[3] = w
            dst = ptr8(int(dst) + 16)
    while int(dst) < off:
        dst[0] = value
        dst = ptr8(int(dst) + 1)


@micropython.viper
def mic16_v(src: ptr16, n: int, dst: ptr8, tab: ptr16, prm: ptr32):
    r = int(tab[_SEG])
    m = int(tab[_SEG + 1])
    g = int(prm[1])
    n = int(src) + 2 * n  # the end address (see the module comment)
    if g == 256:  # unity gain: x * 256 >> 8 == x, in range, plain G.711
        while int(src) < n:
            y = int(src[0])
            if y & 0x8000:
                y = (y ^ 0xFFFF) + r
                t = int(tab[y >> 8])
                dst[0] = (t + (y >> (t >> 8))) ^ m ^ 0x80
            else:
                y += r
                t = int(tab[y >> 8])
                dst[0] = (t + (y >> (t >> 8))) ^ m
            src = ptr16(int(src) + 2)
            dst = ptr8(int(dst) + 1)
        return
    while int(src) < n:
        v = (((int(src[0]) ^ 0x8000) - 0x8000) * g) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v < 0:
            v = r - 1 - v
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m ^ 0x80
        else:
            v += r
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m
        src = ptr16(int(src) + 2)
        dst = ptr8(int(dst) + 1)


@micropython.viper
def mic32_v(src: ptr16, n: int, dst: ptr8, tab: ptr16, prm: ptr32):
    r = int(tab[_SEG])
    m = int(tab[_SEG + 1])
    s = int(prm[0])
    a = 16 - s
    g = int(prm[1])
    n = int(src) + 4 * n  # the end address; src and dst walk (see the module comment)
    while int(src) < n:
        # (hi << 16 | lo) >> s without 32-bit sign trouble on 64-bit hosts
        h = (int(src[1]) ^ 0x8000) - 0x8000
        x = (h << a) + (int(src[0]) >> s)
        if x > 32767:
            x = 32767
        elif x < -32768:
            x = -32768
        v = (x * g) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v < 0:
            v = r - 1 - v
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m ^ 0x80
        else:
            v += r
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m
        src = ptr16(int(src) + 4)
        dst = ptr8(int(dst) + 1)


@micropython.viper
def mic16d_v(src: ptr16, n: int, dst: ptr8, tab: ptr16, prm: ptr32, st: ptr16):
    # two outputs per pass (n is even): the delay lines shift by two, half the moves
    r = int(tab[_SEG])
    m = int(tab[_SEG + 1])
    g = int(prm[1])
    e0 = (int(st[0]) ^ 0x8000) - 0x8000
    e1 = (int(st[1]) ^ 0x8000) - 0x8000
    e2 = (int(st[2]) ^ 0x8000) - 0x8000
    e3 = (int(st[3]) ^ 0x8000) - 0x8000
    e4 = (int(st[4]) ^ 0x8000) - 0x8000
    e5 = (int(st[5]) ^ 0x8000) - 0x8000
    e6 = (int(st[6]) ^ 0x8000) - 0x8000
    e7 = (int(st[7]) ^ 0x8000) - 0x8000
    o0 = (int(st[8]) ^ 0x8000) - 0x8000
    o1 = (int(st[9]) ^ 0x8000) - 0x8000
    o2 = (int(st[10]) ^ 0x8000) - 0x8000
    o3 = (int(st[11]) ^ 0x8000) - 0x8000
    n = int(src) + 4 * n  # the end address; src and dst walk (see the module comment)
    while int(src) < n:
        xa = (int(src[0]) ^ 0x8000) - 0x8000
        xb = (int(src[1]) ^ 0x8000) - 0x8000
        xc = (int(src[2]) ^ 0x8000) - 0x8000
        xd = (int(src[3]) ^ 0x8000) - 0x8000
        # output i: even taps over (xb, e0..e6), centre o2
        v = (16384 * o2 + _C1 * (e2 + e3) + _C2 * (e1 + e4) + _C3 * (e0 + e5) + _C4 * (xb + e6) + 16384) >> 15
        v = (v * g) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v < 0:
            v = r - 1 - v
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m ^ 0x80
        else:
            v += r
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m
        # output i + 1: even taps over (xd, xb, e0..e5), centre o1
        v = (16384 * o1 + _C1 * (e1 + e2) + _C2 * (e0 + e3) + _C3 * (xb + e4) + _C4 * (xd + e5) + 16384) >> 15
        v = (v * g) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v < 0:
            v = r - 1 - v
            t = int(tab[v >> 8])
            dst[1] = (t + (v >> (t >> 8))) ^ m ^ 0x80
        else:
            v += r
            t = int(tab[v >> 8])
            dst[1] = (t + (v >> (t >> 8))) ^ m
        e7 = e5
        e6 = e4
        e5 = e3
        e4 = e2
        e3 = e1
        e2 = e0
        e1 = xb
        e0 = xd
        o3 = o1
        o2 = o0
        o1 = xa
        o0 = xc
        src = ptr16(int(src) + 8)
        dst = ptr8(int(dst) + 2)
    st[0] = e0
    st[1] = e1
    st[2] = e2
    st[3] = e3
    st[4] = e4
    st[5] = e5
    st[6] = e6
    st[7] = e7
    st[8] = o0
    st[9] = o1
    st[10] = o2
    st[11] = o3


@micropython.viper
def mic32d_v(src: ptr16, n: int, dst: ptr8, tab: ptr16, prm: ptr32, st: ptr16):
    # two outputs per pass (n is even): the delay lines shift by two, half the moves
    r = int(tab[_SEG])
    m = int(tab[_SEG + 1])
    s = int(prm[0])
    a = 16 - s
    g = int(prm[1])
    e0 = (int(st[0]) ^ 0x8000) - 0x8000
    e1 = (int(st[1]) ^ 0x8000) - 0x8000
    e2 = (int(st[2]) ^ 0x8000) - 0x8000
    e3 = (int(st[3]) ^ 0x8000) - 0x8000
    e4 = (int(st[4]) ^ 0x8000) - 0x8000
    e5 = (int(st[5]) ^ 0x8000) - 0x8000
    e6 = (int(st[6]) ^ 0x8000) - 0x8000
    e7 = (int(st[7]) ^ 0x8000) - 0x8000
    o0 = (int(st[8]) ^ 0x8000) - 0x8000
    o1 = (int(st[9]) ^ 0x8000) - 0x8000
    o2 = (int(st[10]) ^ 0x8000) - 0x8000
    o3 = (int(st[11]) ^ 0x8000) - 0x8000
    n = int(src) + 8 * n  # the end address; src and dst walk (see the module comment)
    while int(src) < n:
        h = (int(src[1]) ^ 0x8000) - 0x8000
        xa = (h << a) + (int(src[0]) >> s)
        if xa > 32767:
            xa = 32767
        elif xa < -32768:
            xa = -32768
        h = (int(src[3]) ^ 0x8000) - 0x8000
        xb = (h << a) + (int(src[2]) >> s)
        if xb > 32767:
            xb = 32767
        elif xb < -32768:
            xb = -32768
        h = (int(src[5]) ^ 0x8000) - 0x8000
        xc = (h << a) + (int(src[4]) >> s)
        if xc > 32767:
            xc = 32767
        elif xc < -32768:
            xc = -32768
        h = (int(src[7]) ^ 0x8000) - 0x8000
        xd = (h << a) + (int(src[6]) >> s)
        if xd > 32767:
            xd = 32767
        elif xd < -32768:
            xd = -32768
        # output i: even taps over (xb, e0..e6), centre o2
        v = (16384 * o2 + _C1 * (e2 + e3) + _C2 * (e1 + e4) + _C3 * (e0 + e5) + _C4 * (xb + e6) + 16384) >> 15
        v = (v * g) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v < 0:
            v = r - 1 - v
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m ^ 0x80
        else:
            v += r
            t = int(tab[v >> 8])
            dst[0] = (t + (v >> (t >> 8))) ^ m
        # output i + 1: even taps over (xd, xb, e0..e5), centre o1
        v = (16384 * o1 + _C1 * (e1 + e2) + _C2 * (e0 + e3) + _C3 * (xb + e4) + _C4 * (xd + e5) + 16384) >> 15
        v = (v * g) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        if v < 0:
            v = r - 1 - v
            t = int(tab[v >> 8])
            dst[1] = (t + (v >> (t >> 8))) ^ m ^ 0x80
        else:
            v += r
            t = int(tab[v >> 8])
            dst[1] = (t + (v >> (t >> 8))) ^ m
        e7 = e5
        e6 = e4
        e5 = e3
        e4 = e2
        e3 = e1
        e2 = e0
        e1 = xb
        e0 = xd
        o3 = o1
        o2 = o0
        o1 = xa
        o0 = xc
        src = ptr16(int(src) + 16)
        dst = ptr8(int(dst) + 2)
    st[0] = e0
    st[1] = e1
    st[2] = e2
    st[3] = e3
    st[4] = e4
    st[5] = e5
    st[6] = e6
    st[7] = e7
    st[8] = o0
    st[9] = o1
    st[10] = o2
    st[11] = o3


@micropython.viper
def spk_v(src: ptr8, n: int, dst: ptr16, tab: ptr16, vol: int):
    n += int(src)  # the end address (see the module comment)
    if vol == 256:  # unity: x * 256 >> 8 == x, never saturates: dec_v's loop
        if (int(dst) & 3) == 0:
            while int(src) + 3 < n:
                ptr32(dst)[0] = tab[src[0]] | (tab[src[1]] << 16)
                ptr32(dst)[1] = tab[src[2]] | (tab[src[3]] << 16)
                src = ptr8(int(src) + 4)
                dst = ptr16(int(dst) + 8)
        while int(src) < n:
            dst[0] = tab[src[0]]
            src = ptr8(int(src) + 1)
            dst = ptr16(int(dst) + 2)
        return
    while int(src) < n:
        v = (((int(tab[src[0]]) ^ 0x8000) - 0x8000) * vol) >> 8
        if v > 32767:
            v = 32767
        elif v < -32768:
            v = -32768
        dst[0] = v
        src = ptr8(int(src) + 1)
        dst = ptr16(int(dst) + 2)


@micropython.viper
def spku_v(src: ptr8, n: int, dst: ptr16, tab: ptr16, vol: int, st: ptr16):
    # two inputs per pass (n is even), as in the decimators
    d0 = (int(st[0]) ^ 0x8000) - 0x8000
    d1 = (int(st[1]) ^ 0x8000) - 0x8000
    d2 = (int(st[2]) ^ 0x8000) - 0x8000
    d3 = (int(st[3]) ^ 0x8000) - 0x8000
    d4 = (int(st[4]) ^ 0x8000) - 0x8000
    d5 = (int(st[5]) ^ 0x8000) - 0x8000
    d6 = (int(st[6]) ^ 0x8000) - 0x8000
    d7 = (int(st[7]) ^ 0x8000) - 0x8000
    n += int(src)  # the end address; src and dst walk (see the module comment)
    while int(src) < n:
        ua = (((int(tab[src[0]]) ^ 0x8000) - 0x8000) * vol) >> 8
        if ua > 32767:
            ua = 32767
        elif ua < -32768:
            ua = -32768
        ub = (((int(tab[src[1]]) ^ 0x8000) - 0x8000) * vol) >> 8
        if ub > 32767:
            ub = 32767
        elif ub < -32768:
            ub = -32768
        z = (2 * _C4 * (ua + d6) + 2 * _C3 * (d0 + d5) + 2 * _C2 * (d1 + d4) + 2 * _C1 * (d2 + d3) + 16384) >> 15
        if z > 32767:
            z = 32767
        elif z < -32768:
            z = -32768
        dst[0] = z
        dst[1] = d2
        z = (2 * _C4 * (ub + d5) + 2 * _C3 * (ua + d4) + 2 * _C2 * (d0 + d3) + 2 * _C1 * (d1 + d2) + 16384) >> 15
        if z > 32767:
            z = 32767
        elif z < -32768:
            z = -32768
        dst[2] = z
        dst[3] = d1
        d7 = d5
        d6 = d4
        d5 = d3
        d4 = d2
        d3 = d1
        d2 = d0
        d1 = ua
        d0 = ub
        src = ptr8(int(src) + 2)
        dst = ptr16(int(dst) + 8)
    st[0] = d0
    st[1] = d1
    st[2] = d2
    st[3] = d3
    st[4] = d4
    st[5] = d5
    st[6] = d6
    st[7] = d7


@micropython.viper
def parse_v(h: ptr32, buf: ptr8, start: int, end: int) -> int:
    # rtp.parse_py's twin: same checks in the same order, same codes (rtp.E_*)
    if end - start < 12:
        return -1
    b0 = buf[start]
    if (b0 & 0xC0) != 0x80:
        return -2
    b1 = buf[start + 1]
    pt = b1 & 0x7F
    if pt >= 72 and pt <= 76:
        return -4
    cc = b0 & 0x0F
    off = start + 12 + 4 * cc
    if off > end:
        return -1
    if b0 & 0x10:
        if off + 4 > end:
            return -1
        off += 4 + 4 * ((buf[off + 2] << 8) | buf[off + 3])
        if off > end:
            return -1
    plen = end - off
    if b0 & 0x20:
        pad = buf[end - 1]
        if pad == 0 or pad > plen:
            return -3
        plen -= pad
    h[0] = b1 >> 7
    h[1] = pt
    h[2] = (buf[start + 2] << 8) | buf[start + 3]
    h[3] = (buf[start + 4] << 8) | buf[start + 5]
    h[4] = (buf[start + 6] << 8) | buf[start + 7]
    h[5] = (buf[start + 8] << 8) | buf[start + 9]
    h[6] = (buf[start + 10] << 8) | buf[start + 11]
    h[7] = off
    h[8] = plen
    h[9] = cc
    return 0
