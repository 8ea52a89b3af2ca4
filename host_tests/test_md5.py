# The pure-Python MD5 (mpsip.md5) used where hashlib has no md5: RFC 1321 A.5 test
# suite, and agreement with the runtime's hashlib.md5 around the padding boundaries.
import hashlib
from binascii import hexlify

from mpsip.md5 import md5

# RFC 1321 appendix A.5 "test suite".
RFC1321 = [
    ("", "d41d8cd98f00b204e9800998ecf8427e"),
    ("a", "0cc175b9c0f1b6a831c399e269772661"),
    ("abc", "900150983cd24fb0d6963f7d28e17f72"),
    ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
    ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
    ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
    ("1234567890" * 8, "57edf4a22be3c955ac49da2e2107b67a"),
]

# Lengths where RFC 1321 3.1 padding changes shape: the length field fits after the
# 0x80 byte only up to 55 bytes of a block; 56..63 need an extra block.
LENGTHS = [0, 1, 54, 55, 56, 57, 63, 64, 65, 118, 119, 120, 121, 127, 128, 129, 191, 192, 1000]

CASES = {"test_rfc1321_suite": list(range(len(RFC1321))), "test_matches_hashlib_at_length": LENGTHS}


def _data(n):
    return bytes((i * 131 + 7) & 0xFF for i in range(n))


def test_rfc1321_suite(case):
    text, want = RFC1321[case]
    assert hexlify(md5(text.encode()).digest()).decode() == want
    assert md5(text.encode()).hexdigest() == want


def test_matches_hashlib_at_length(case):
    d = _data(case)
    assert md5(d).digest() == hashlib.md5(d).digest()


def test_update_in_pieces_equals_one_shot():
    d = _data(300)
    for step in (1, 7, 55, 56, 64, 65):
        h = md5()
        for i in range(0, len(d), step):
            h.update(d[i : i + step])
        assert h.digest() == hashlib.md5(d).digest(), step


def test_digest_does_not_end_the_hash():
    h = md5(b"abc")
    first = h.digest()
    assert h.digest() == first
    h.update(b"def")
    assert h.digest() == hashlib.md5(b"abcdef").digest()


def test_accepts_bytearray_and_memoryview():
    d = _data(70)
    want = hashlib.md5(d).digest()
    assert md5(bytearray(d)).digest() == want
    assert md5(memoryview(d)[:]).digest() == want
