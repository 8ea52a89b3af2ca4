"""G.711 against CPython's C audioop (stdlib up to 3.12; `audioop-lts` on 3.13+).

audioop implements the revised Sun g711.c: A-law and both decoders agree with the
ITU-T G.191 reference everywhere, mu-law encoding differs on exactly 508 negative
inputs at decision boundaries (ITU uses one's complement for negatives). mpsip
follows ITU; these tests pin down that the difference is exactly that one.
"""

import array
import warnings

import pytest

from mpsip import dsp, g711

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    audioop = pytest.importorskip("audioop")

ALL = array.array("h", range(-32768, 32768)).tobytes()


def _encode(law):
    """Every int16 encoded by the kernel this runtime selected."""
    out = bytearray(65536)
    g711.enc_kernel(ALL, 65536, out, g711.enc_table(law))
    return bytes(out)


def test_alaw_encode_equals_audioop_for_every_input():
    assert _encode(g711.PCMA) == audioop.lin2alaw(ALL, 2)


def test_mulaw_encode_differs_from_audioop_only_on_508_negative_boundaries():
    ours = _encode(g711.PCMU)
    theirs = audioop.lin2ulaw(ALL, 2)
    diff = [i - 32768 for i in range(65536) if ours[i] != theirs[i]]
    assert len(diff) == 508
    assert all(x < 0 for x in diff)
    # each differing input sits one code apart: ITU rounds toward the smaller magnitude
    for x in diff:
        a, b = ours[x + 32768], theirs[x + 32768]
        assert abs(a - b) == 1
        assert abs(g711.decode_sample(g711.PCMU, a)) < abs(g711.decode_sample(g711.PCMU, b))
    assert -1 in diff and ours[32767] == 0x7F and theirs[32767] == 0x7E


def test_decoders_equal_audioop_for_every_code():
    codes = bytes(range(256))
    for law, ref in ((g711.PCMU, audioop.ulaw2lin), (g711.PCMA, audioop.alaw2lin)):
        out = bytearray(512)
        g711.dec_kernel(codes, 256, out, g711.dec_table(law))
        assert bytes(out) == ref(codes, 2)


def test_unity_8k_mic_path_equals_audioop_alaw():
    path = dsp.MicPath(g711.PCMA, samples=65536)
    out = bytearray(65536)
    path.process(ALL, out)
    assert bytes(out) == audioop.lin2alaw(ALL, 2)
