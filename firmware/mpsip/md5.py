# Pure-Python MD5 (RFC 1321) for MicroPython ports whose hashlib has no md5.
#
# auth.py (and digest.py, on hosts) import it only when `from hashlib import md5` fails. Same interface as
# hashlib: md5(data=b"") with update(), digest() and hexdigest(). Not a hot path:
# a digest answer hashes a few short strings per REGISTER/INVITE.
import struct
from binascii import hexlify

_M = 0xFFFFFFFF

# RFC 1321 3.4: T[i] = floor(2**32 * abs(sin(i))), i = 1..64. Written out, not computed,
# because ESP32 floats are single precision.
_T = (
    0xD76AA478, 0xE8C7B756, 0x242070DB, 0xC1BDCEEE, 0xF57C0FAF, 0x4787C62A, 0xA8304613, 0xFD469501,
    0x698098D8, 0x8B44F7AF, 0xFFFF5BB1, 0x895CD7BE, 0x6B901122, 0xFD987193, 0xA679438E, 0x49B40821,
    0xF61E2562, 0xC040B340, 0x265E5A51, 0xE9B6C7AA, 0xD62F105D, 0x02441453, 0xD8A1E681, 0xE7D3FBC8,
    0x21E1CDE6, 0xC33707D6, 0xF4D50D87, 0x455A14ED, 0xA9E3E905, 0xFCEFA3F8, 0x676F02D9, 0x8D2A4C8A,
    0xFFFA3942, 0x8771F681, 0x6D9D6122, 0xFDE5380C, 0xA4BEEA44, 0x4BDECFA9, 0xF6BB4B60, 0xBEBFBC70,
    0x289B7EC6, 0xEAA127FA, 0xD4EF3085, 0x04881D05, 0xD9D4D039, 0xE6DB99E5, 0x1FA27CF8, 0xC4AC5665,
    0xF4292244, 0x432AFF97, 0xAB9423A7, 0xFC93A039, 0x655B59C3, 0x8F0CCC92, 0xFFEFF47D, 0x85845DD1,
    0x6FA87E4F, 0xFE2CE6E0, 0xA3014314, 0x4E0811A1, 0xF7537E82, 0xBD3AF235, 0x2AD7D2BB, 0xEB86D391,
)  # fmt: skip
# RFC 1321 3.4: per-round shift amounts.
_S = (7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21)


def _compress(h, block):
    # RFC 1321 3.4: one 64-byte block, four rounds of 16 operations.
    x = struct.unpack("<16I", block)
    a, b, c, d = h
    for i in range(64):
        r = i >> 4
        if r == 0:
            f = d ^ (b & (c ^ d))  # F(b,c,d) = (b & c) | (~b & d)
            g = i
        elif r == 1:
            f = c ^ (d & (b ^ c))  # G(b,c,d) = (b & d) | (c & ~d)
            g = (5 * i + 1) & 15
        elif r == 2:
            f = b ^ c ^ d
            g = (3 * i + 5) & 15
        else:
            f = c ^ (b | (d ^ _M))  # I(b,c,d) = c ^ (b | ~d)
            g = (7 * i) & 15
        f = (a + f + _T[i] + x[g]) & _M
        s = _S[(r << 2) | (i & 3)]
        a, d, c = d, c, b
        b = (b + (((f << s) | (f >> (32 - s))) & _M)) & _M
    h[0] = (h[0] + a) & _M
    h[1] = (h[1] + b) & _M
    h[2] = (h[2] + c) & _M
    h[3] = (h[3] + d) & _M


class md5:
    # Lower-case name on purpose: a drop-in for hashlib.md5.
    def __init__(self, data=b""):
        self._h = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476]
        self._buf = b""
        self._n = 0
        if data:
            self.update(data)

    def update(self, data):
        data = self._buf + bytes(data)
        self._n += len(data) - len(self._buf)
        end = len(data) & ~63
        for i in range(0, end, 64):
            _compress(self._h, data[i : i + 64])
        self._buf = data[end:]

    def digest(self):
        # RFC 1321 3.1-3.2: a 1 bit, zeros to 56 mod 64, then the bit length, little-endian.
        n = self._n
        tail = self._buf + b"\x80" + bytes((55 - n) & 63) + struct.pack("<II", (n << 3) & _M, (n >> 29) & _M)
        h = list(self._h)
        for i in range(0, len(tail), 64):
            _compress(h, tail[i : i + 64])
        return struct.pack("<4I", h[0], h[1], h[2], h[3])

    def hexdigest(self):
        return hexlify(self.digest()).decode()
