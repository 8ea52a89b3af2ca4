# G.711 against the ITU-T G.191 STL vectors (host_tests/data/g711, int16 LE):
# sweep.src holds every int16 once; sweep-r.u/.a the code per input (low byte of
# a 16-bit word); sweep-r.reu/.rea encode+decode. Read in chunks: the MicroPython
# heap is 96 KB and each file is 128 KB.
import sys

from g711codec import decode, encode, encode_sample

from mpsip import _g711p, g711
from support import DATA, raises

_CHUNK = 1024  # samples per chunk
IMPLS = ["py", "viper"] if sys.implementation.name == "micropython" else ["py"]
CASES = {
    "test_encode_matches_itu_sweep": [(law, impl) for law in ("PCMU", "PCMA") for impl in IMPLS],
    "test_encode_decode_matches_itu_sweep": [(law, impl) for law in ("PCMU", "PCMA") for impl in IMPLS],
    "test_reference_encoder_matches_itu_sweep": ["PCMU", "PCMA"],
    "test_decode_table_matches_itu_table": ["PCMU", "PCMA"],
}
_LAW = {"PCMU": g711.PCMU, "PCMA": g711.PCMA}
_REF = {"PCMU": ("sweep-r.u", "sweep-r.reu"), "PCMA": ("sweep-r.a", "sweep-r.rea")}


def _kernels(impl):
    if impl == "viper":
        from mpsip import _g711v

        return _g711v.enc_v, _g711v.dec_v
    return _g711p.enc_py, _g711p.dec_py


def _sweep(law_name, ref_index, fn):
    """Call fn(src_chunk, ref_chunk, n) over the whole sweep; returns samples seen."""
    src = bytearray(2 * _CHUNK)
    ref = bytearray(2 * _CHUNK)
    total = 0
    with open(DATA + "g711/sweep.src", "rb") as fs, open(DATA + "g711/" + _REF[law_name][ref_index], "rb") as fr:
        while True:
            n = fs.readinto(src)
            if not n:
                break
            assert fr.readinto(ref) == n
            fn(src, ref, n // 2)
            total += n // 2
    return total


def test_encode_matches_itu_sweep(case):
    law_name, impl = case
    law = _LAW[law_name]
    enc, _ = _kernels(impl)
    tab = g711.enc_table(law)
    out = bytearray(_CHUNK)
    bad = [0]

    def check(src, ref, n):
        enc(src, n, out, tab)
        for i in range(n):
            if out[i] != ref[2 * i]:
                bad[0] += 1

    assert _sweep(law_name, 0, check) == 65536
    assert bad[0] == 0


def test_encode_decode_matches_itu_sweep(case):
    law_name, impl = case
    law = _LAW[law_name]
    enc, dec = _kernels(impl)
    tab = g711.enc_table(law)
    codes = bytearray(_CHUNK)
    out = bytearray(2 * _CHUNK)
    bad = [0]

    def check(src, ref, n):
        enc(src, n, codes, tab)
        dec(codes, n, out, g711.dec_table(law))
        if out[: 2 * n] != ref[: 2 * n]:
            bad[0] += 1

    assert _sweep(law_name, 1, check) == 65536
    assert bad[0] == 0


def test_reference_encoder_matches_itu_sweep(case):
    law = _LAW[case]
    bad = [0]

    def check(src, ref, n):
        for i in range(0, n, 7):  # every 7th input keeps the pure-Python loop short
            x = src[2 * i] | (src[2 * i + 1] << 8)
            if x & 0x8000:
                x -= 0x10000
            if encode_sample(law, x) != ref[2 * i]:
                bad[0] += 1

    _sweep(case, 0, check)
    assert bad[0] == 0


def test_decode_table_matches_itu_table(case):
    law = _LAW[case]
    tab = g711.dec_table(law)
    seen = 0
    # line by line: the whole table as lists of str does not fit beside the heap's other tenants
    with open(DATA + "g711/%s_decode.tsv" % ("ulaw" if case == "PCMU" else "alaw")) as f:
        for line in f:
            row = line.split("\t")
            if len(row) != 3 or not row[1].isdigit():
                continue  # comment and header lines
            code = int(row[1])
            assert tab[code] == int(row[2]), row
            assert g711.decode_sample(law, code) == int(row[2])
            seen |= 1 << code
    assert seen == (1 << 256) - 1


def test_viper_and_plain_give_identical_bytes_for_all_inputs():
    # On MicroPython the viper kernels must be the ones selected; on CPython the
    # selected kernels are the plain ones and this checks the module wiring.
    if sys.implementation.name == "micropython":
        from mpsip import _g711v

        assert g711.VIPER and g711.enc_kernel is _g711v.enc_v
    else:
        assert not g711.VIPER and g711.enc_kernel is _g711p.enc_py and g711.copy is _g711p.copy_py
    src = bytearray(2 * _CHUNK)
    a = bytearray(_CHUNK)
    b = bytearray(_CHUNK)
    da = bytearray(2 * _CHUNK)
    db = bytearray(2 * _CHUNK)
    for law in (g711.PCMU, g711.PCMA):
        tab = g711.enc_table(law)
        for base in range(0, 65536, _CHUNK):
            for i in range(_CHUNK):
                src[2 * i] = (base + i) & 0xFF
                src[2 * i + 1] = (base + i) >> 8
            g711.enc_kernel(src, _CHUNK, a, tab)
            _g711p.enc_py(src, _CHUNK, b, tab)
            assert a == b, (law, base)
            g711.dec_kernel(a, _CHUNK, da, g711.dec_table(law))
            _g711p.dec_py(b, _CHUNK, db, g711.dec_table(law))
            assert da == db, (law, base)


def test_encoder_tables_are_a_few_hundred_bytes():
    # Issue 4 (a call in a 96 KB heap): the segment method's table per law, not one
    # code per reduced magnitude (4 KB for mu-law, 2 KB for A-law, both resident).
    for law in (g711.PCMU, g711.PCMA):
        tab = g711.enc_table(law)
        assert tab is g711.enc_table(law)  # built once, kept
        assert len(bytes(tab)) <= 300  # its bytes (array buffer), both runtimes


def test_decode_kernel_gives_the_same_bytes_at_any_even_offset_and_length():
    # dec_v stores two samples per 32-bit word where dst is 4-byte aligned (Xtensa faults
    # on unaligned words) and one at a time otherwise and for the tail; nothing outside
    # dst[:2n] may change. (Odd offsets: 16-bit stores need 2-byte alignment on a board.)
    codes = bytearray(range(256))
    for law in (g711.PCMU, g711.PCMA):
        tab = g711.dec_table(law)
        for off in (0, 2, 4, 6):
            for n in (0, 1, 2, 3, 4, 5, 7, 8, 9, 160, 161, 255):
                a = bytearray(b"\xa5" * 528)
                b = bytearray(b"\xa5" * 528)
                g711.dec_kernel(memoryview(codes)[1:], n, memoryview(a)[off:], tab)
                _g711p.dec_py(memoryview(codes)[1:], n, memoryview(b)[off:], tab)
                assert a == b, (law, off, n)
                assert a[off + 2 * n :] == b"\xa5" * (528 - off - 2 * n)


def test_copy_and_fill_give_the_same_bytes_at_any_offset_and_length():
    # copy_v and fill_v move 32-bit words when both ends are aligned, bytes otherwise
    src = bytearray(range(256))
    for doff in (0, 1, 2, 3, 4, 12):
        for soff in (0, 1, 3, 4, 12):
            for n in (0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 160, 172):
                a = bytearray(b"\x5a" * 200)
                b = bytearray(b"\x5a" * 200)
                g711.copy(a, doff, src, soff, n)
                _g711p.copy_py(b, doff, src, soff, n)
                assert a == b, (doff, soff, n)
                g711.fill(a, soff, n, 0xD5)
                _g711p.fill_py(b, soff, n, 0xD5)
                assert a == b, (soff, n)


def test_mulaw_negative_boundaries_follow_itu_not_audioop():
    # ITU uses one's complement for negatives: -1..-4 encode like 0 (0x7F), where
    # CPython's audioop and Sun's g711.c give 0x7E (decodes to -8).
    for x in (-1, -2, -3, -4):
        assert encode_sample(g711.PCMU, x) == 0x7F
    src = bytearray(b"\xff\xff\xfe\xff\xfd\xff\xfc\xff")
    out = bytearray(4)
    encode(g711.PCMU, src, out)
    assert out == b"\x7f\x7f\x7f\x7f"
    assert g711.decode_sample(g711.PCMU, 0x7F) == 0 and g711.decode_sample(g711.PCMU, 0xFF) == 0


def test_silence_codes_are_the_encoded_zero_sample():
    assert encode_sample(g711.PCMU, 0) == g711.SILENCE_ULAW == g711.silence_code(g711.PCMU)
    assert encode_sample(g711.PCMA, 0) == g711.SILENCE_ALAW == g711.silence_code(g711.PCMA)
    assert g711.decode_sample(g711.PCMA, g711.SILENCE_ALAW) == 8  # A-law has no zero level


def test_encode_into_memoryview_at_an_offset_leaves_the_rest_alone():
    # The RTP payload sits 12 bytes into the packet buffer.
    pkt = bytearray(b"\xaa" * 20)
    src = bytearray(b"\x00\x00\x00\x80\xff\x7f\x10\x00")  # 0, -32768, 32767, 16
    encode(g711.PCMU, src, memoryview(pkt)[12:16])
    assert pkt[:12] == b"\xaa" * 12 and pkt[16:] == b"\xaa" * 4
    assert list(pkt[12:16]) == [encode_sample(g711.PCMU, x) for x in (0, -32768, 32767, 16)]
    out = bytearray(8)
    decode(g711.PCMU, memoryview(pkt)[12:16], out)
    assert out[0:2] == b"\x00\x00"


def test_unknown_law_is_refused():
    raises(ValueError, encode_sample, 3, 0)
    raises(ValueError, g711.decode_sample, 3, 0)


def test_copy_and_fill_helpers():
    a = bytearray(b"abcdefgh")
    b = bytearray(8)
    g711.copy(b, 2, a, 1, 4)
    assert b == b"\x00\x00bcde\x00\x00"
    g711.fill(b, 0, 3, 0x7F)
    assert b == b"\x7f\x7f\x7fcde\x00\x00"
    c = bytearray(8)
    _g711p.copy_py(c, 2, a, 1, 4)
    _g711p.fill_py(c, 0, 3, 0x7F)
    assert c == b
