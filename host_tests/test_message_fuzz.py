# Seeded mutation fuzzing of the parser on both runtimes (hypothesis does more on CPython,
# host_tests/cpython/test_message_props.py). Property: any byte string either parses —
# and then re-serializes to bytes that parse again — or raises SipParseError. Nothing else.
from mpsip.message import SipParseError, parse
from support import read_data

SEEDS = (
    "rfc4475/wsinv.dat",
    "rfc4475/esc01.dat",
    "rfc4475/intmeth.dat",
    "rfc4475/mpart01.dat",
    "rfc4475/unreason.dat",
    "rfc4475/semiuri.dat",
    "rfc4475/inv2543.dat",
    "rfc4475/transports.dat",
)
PER_SEED = 2600  # 8 x 2600 = 20,800 inputs
TOKENS = (b":", b";", b",", b"<", b">", b'"', b"\\", b"\r\n", b" ", b"\t", b"@", b"[", b"]", b"%", b"=",
          b"\x00", b"\xff", b"SIP/2.0", b"9" * 20, b"-1", b"\r\n\r\n", b"\r\n ", b"sip:", b"?")  # fmt: skip


class XorShift:
    """The same sequence on CPython and MicroPython (random differs between them)."""

    def __init__(self, seed):
        self.s = seed or 1

    def next(self, n):
        s = self.s
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        self.s = s
        return s % n


def mutate(rng, data):
    # Slicing, not bytearray slice assignment: MicroPython's bytearray cannot resize that way.
    for _ in range(1 + rng.next(4)):
        op = rng.next(6)
        i = rng.next(len(data) + 1)
        if op == 0 and data:  # flip a byte
            i = min(i, len(data) - 1)
            data = data[:i] + bytes([rng.next(256)]) + data[i + 1 :]
        elif op == 1:  # insert a troublesome token
            data = data[:i] + TOKENS[rng.next(len(TOKENS))] + data[i:]
        elif op == 2:  # delete a run
            data = data[:i] + data[i + 1 + rng.next(12) :]
        elif op == 3:  # truncate
            data = data[:i]
        elif op == 4:  # duplicate a run
            data = data[:i] + data[i : i + 1 + rng.next(40)] + data[i:]
        else:  # swap a run for a digit run
            data = data[:i] + b"9" * (1 + rng.next(12)) + data[i + 1 + rng.next(3) :]
    return data


def check(data):
    try:
        msg = parse(data, True)
    except SipParseError as e:
        assert 400 <= e.status <= 599, e.status
        return 0
    wire = msg.to_bytes()
    again = parse(wire, True)
    assert again.to_bytes() == wire
    return 1


def test_mutated_corpus_raises_only_parse_errors():
    total = ok = 0
    for n, name in enumerate(SEEDS):
        seed = read_data(name)
        rng = XorShift(0x9E3779B9 + n)
        for _ in range(PER_SEED):
            ok += check(mutate(rng, seed))
            total += 1
    assert total >= 20000
    assert 0 < ok < total  # the mutations exercise both outcomes


def test_random_bytes_raise_only_parse_errors():
    rng = XorShift(12345)
    for _ in range(2000):
        n = rng.next(200)
        check(bytes([rng.next(256) for _ in range(n)]))
