# Microphone/speaker paths: fused kernels against a straightforward unfused
# reference (convert, FIR, gain, G.711 one sample at a time), viper against the
# plain twin on MicroPython, and the half-band filter's measured response. Also the
# host audio sources and sinks (audio.py, wav.py) that feed these paths (here rather than in
# test_media.py, whose two sessions need the heap).
import math
import sys

from g711codec import decode, encode, encode_sample

from mpsip import _g711p, audio, dsp, g711, wav
from support import raises

_C1, _C2, _C3, _C4 = dsp.TAPS
_H = [_C4, 0, _C3, 0, _C2, 0, _C1, 16384, _C1, 0, _C2, 0, _C3, 0, _C4]
MP = sys.implementation.name == "micropython"
KERNELS = ["mic16", "mic16d", "mic32", "mic32d", "spk", "spku"]
CASES = {
    "test_fused_kernel_matches_unfused_reference": [(k, law) for k in KERNELS for law in ("PCMU", "PCMA")],
    "test_unity_and_zero_gain_paths_match_the_unfused_reference": [(k, "PCMU") for k in KERNELS],
    "test_viper_and_plain_kernels_give_identical_bytes": KERNELS,
    "test_mic_kernels_encode_segment_edges_and_clipping_like_the_reference": [
        (k, law) for k in KERNELS[:4] for law in ("PCMU", "PCMA")
    ],
}
_LAW = {"PCMU": g711.PCMU, "PCMA": g711.PCMA}
for _law in (g711.PCMU, g711.PCMA):  # the codec tables live beside the modules, as on the station,
    g711.enc_table(_law)  # not in the middle of the heap a test has just freed
    g711.dec_table(_law)


def _sat(v):
    return 32767 if v > 32767 else (-32768 if v < -32768 else v)


def _noise(n, seed, lo, hi):
    """Deterministic pseudo-random ints in [lo, hi], edges included often."""
    out = []
    s = seed
    for i in range(n):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        if i % 17 == 0:
            out.append(hi if (s >> 4) & 1 else lo)
        else:
            out.append(lo + (s >> 8) % (hi - lo + 1))
    return out


def _pack(values, width):
    b = bytearray(width * len(values))
    for i, v in enumerate(values):
        v &= (1 << (8 * width)) - 1
        for j in range(width):
            b[width * i + j] = (v >> (8 * j)) & 0xFF
    return b


def _s16(b, i):
    v = b[2 * i] | (b[2 * i + 1] << 8)
    return v - 0x10000 if v & 0x8000 else v


def _ref_mic(values, law, wide, decim, shift, gain):
    x = [_sat(v >> shift) for v in values] if wide else list(values)
    if decim:
        p = [0] * 14 + x
        y = []
        for i in range(len(x) // 2):
            acc = 0
            for t in range(15):
                acc += _H[t] * p[2 * i + 1 + t]
            y.append((acc + 16384) >> 15)  # saturated after the gain, below
        x = y
    return bytearray([encode_sample(law, _sat((v * gain) >> 8)) for v in x])


def _ref_spk(codes, law, up, vol):
    u = [_sat((g711.decode_sample(law, c) * vol) >> 8) for c in codes]
    if not up:
        return _pack(u, 2)
    p = [0] * 7 + u
    z = []
    for m in range(len(u)):
        acc = 0
        for t in range(0, 15, 2):
            acc += 2 * _H[t] * p[m + 7 - t // 2]
        z.append(_sat((acc + 16384) >> 15))
        z.append(p[m + 4])  # the centre tap: u[m - 3]
    return _pack(z, 2)


def _run_mic(kernel, src, n, law, prm_shift, gain, st):
    import array

    prm = array.array("i", [prm_shift, gain])
    dst = bytearray(n)
    if st is not None:
        kernel(src, n, dst, g711.enc_table(law), prm, st)
    else:
        kernel(src, n, dst, g711.enc_table(law), prm)
    return dst


def _mic_case(name, law, impl_table, frames=3, n=40, ref=True, gain=None):
    import array

    wide = name.startswith("mic32")
    decim = name.endswith("d")
    shift, g = (12, 300) if wide else (16, 200)  # gain < 1 keeps filter overshoot visible
    gain = g if gain is None else gain
    if wide:
        values = _noise(n * frames * (2 if decim else 1), 7, -0x80000000, 0x7FFFFF00)
    else:
        values = _noise(n * frames * (2 if decim else 1), 7, -32768, 32767)
    per = n * (2 if decim else 1)
    st = array.array("h", [0] * 12) if decim else None
    out = bytearray()
    for f in range(frames):  # frame by frame: the filter state must carry over
        src = _pack(values[f * per : (f + 1) * per], 4 if wide else 2)
        out += _run_mic(impl_table[name], src, n, law, shift, gain, st)
    return out, _ref_mic(values, law, wide, decim, shift, gain) if ref else None


def _spk_case(name, law, impl_table, frames=3, n=40, ref=True, vol=300):
    import array

    codes = bytearray(_noise(n * frames, 11, 0, 255))
    st = array.array("h", [0] * 8)
    out = bytearray()
    tab = g711.dec_table(law)
    for f in range(frames):
        dst = bytearray(n * (4 if name == "spku" else 2))
        src = codes[f * n : (f + 1) * n]
        if name == "spku":
            impl_table[name](src, n, dst, tab, vol, st)
        else:
            impl_table[name](src, n, dst, tab, vol)
        out += dst
    return out, _ref_spk(codes, law, name == "spku", vol) if ref else None


def test_fused_kernel_matches_unfused_reference(case):
    name, law_name = case
    law = _LAW[law_name]
    for table in [_g711p.PY] + ([dsp.V] if MP else []):
        if name.startswith("mic"):
            got, want = _mic_case(name, law, table)
        else:
            got, want = _spk_case(name, law, table)
        assert got == want, (name, law_name)


def test_unity_and_zero_gain_paths_match_the_unfused_reference(case):
    # The viper kernels skip the multiply at unity gain/volume (mic16, spk); the 8 kHz
    # kernels also take odd frame lengths (spk stores words where it can, then a tail).
    name, law_name = case
    law = _LAW[law_name]
    n = 40 if name.endswith("d") or name == "spku" else 37
    for g in (256, 0, 257):
        for table in [_g711p.PY] + ([dsp.V] if MP else []):
            if name.startswith("mic"):
                got, want = _mic_case(name, law, table, 2, n, gain=g)
            else:
                got, want = _spk_case(name, law, table, 2, n, vol=g)
            assert got == want, (name, law_name, g)


def test_viper_and_plain_kernels_give_identical_bytes(case):
    if not MP:
        assert not dsp.VIPER and dsp._kernels(None) is _g711p.PY
        return
    assert dsp.VIPER
    for law in (g711.PCMU, g711.PCMA):
        if case.startswith("mic"):
            a, _ = _mic_case(case, law, _g711p.PY, 4, 160, False)
            b, _ = _mic_case(case, law, dsp.V, 4, 160, False)
        else:
            a, _ = _spk_case(case, law, _g711p.PY, 4, 160, False)
            b, _ = _spk_case(case, law, dsp.V, 4, 160, False)
        assert a == b


def _edge_levels():
    """Levels where the segment encoder can go wrong: its segment edges (mu-law's with
    the bias 132), mu-law's clip (absno 0x1FFF from 32636 up), both signs and the ends."""
    levels = [0, 1, 4, 5, 15, 16, 123, 124, 131, 132, 32635, 32636, 32767]
    for k in range(8):
        edge = 256 << k
        levels += [edge - 133, edge - 132, edge - 1, edge]
    return [x for v in levels if v < 32768 for x in (v, -v - 1)]


def test_mic_kernels_encode_segment_edges_and_clipping_like_the_reference(case):
    # Every kernel has its own copy of the G.711 step. A constant level settles each
    # one to that level (the half-band filter's DC gain is exactly 1), so after 10
    # outputs the code must be the reference encoder's, at unity gain and at x2
    # (which saturates the upper levels).
    import array

    name, law_name = case
    law = _LAW[law_name]
    wide = name.startswith("mic32")
    per = 20 if name.endswith("d") else 10  # inputs per level: 10 outputs
    levels = _edge_levels()
    width = 4 if wide else 2
    src = bytearray(width * per * len(levels))  # filled in place: a list of 1800 ints is 16 KB
    for i, v in enumerate(levels):
        one = _pack([v << 16 if wide else v], width)
        for j in range(per):
            src[width * (per * i + j) : width * (per * i + j + 1)] = one
    n = 10 * len(levels)
    for g in (256, 512):
        want = [encode_sample(law, _sat((v * g) >> 8)) for v in levels]
        for table in [_g711p.PY] + ([dsp.V] if MP else []):
            dst = bytearray(n)
            prm = array.array("i", [16, g])
            st = array.array("h", [0] * 12)
            if name.endswith("d"):
                table[name](src, n, dst, g711.enc_table(law), prm, st)
            else:
                table[name](src, n, dst, g711.enc_table(law), prm)
            assert [dst[10 * i + 9] for i in range(len(levels))] == want, (name, law_name, g)


def _tone(freq, rate, n, amp, phase0=0, wide=False):
    w = 2 * math.pi * freq / rate
    vals = [int(amp * math.sin(w * (i + phase0))) for i in range(n)]
    return _pack([v << 16 for v in vals] if wide else vals, 4 if wide else 2)


def _rms_db_through_mic(freq, fmt="s16", amp=10000):
    path = dsp.MicPath(g711.PCMU, fmt=fmt, rate=16000)
    wide = fmt == "s32"
    codes = bytearray(160)
    pcm = bytearray(320)
    acc = 0.0
    count = 0
    for f in range(12):
        path.process(_tone(freq, 16000, 320, amp, f * 320, wide), codes)
        if f < 2:
            continue  # filter settling
        decode(g711.PCMU, codes, pcm)
        for i in range(160):
            v = _s16(pcm, i)
            acc += v * v
        count += 160
    return 10 * math.log10(acc / count / (amp * amp / 2.0))


def test_decimator_passes_speech_band_and_rejects_aliases():
    # A 16 kHz microphone decimated to 8 kHz: tones below 3 kHz pass flat, tones
    # above 5 kHz would alias into the band and must be attenuated.
    assert abs(_rms_db_through_mic(1000)) < 0.5
    assert abs(_rms_db_through_mic(3000)) < 1.0
    assert _rms_db_through_mic(6000) < -40.0  # designed: -51 dB
    assert _rms_db_through_mic(5000) < -30.0
    assert _rms_db_through_mic(7000) < -30.0


def test_decimator_response_is_the_same_from_i2s_32_bit_slots():
    assert abs(_rms_db_through_mic(1000, "s32")) < 0.5
    assert _rms_db_through_mic(6000, "s32") < -40.0


def _goertzel_db(pcm, n, freq, rate, amp):
    w = 2 * math.pi * freq / rate
    re = im = 0.0
    for i in range(n):
        v = _s16(pcm, i)
        re += v * math.cos(w * i)
        im += v * math.sin(w * i)
    mag = 2 * math.sqrt(re * re + im * im) / n
    return 20 * math.log10(mag / amp + 1e-9)


def test_interpolator_keeps_the_tone_and_suppresses_the_image():
    # 1 kHz at 8 kHz upsampled to 16 kHz: sample repetition would leave an image at
    # 7 kHz only ~16 dB down; the half-band interpolator puts it 33 dB down.
    path = dsp.SpeakerPath(g711.PCMU, rate=16000)
    pcm8 = _tone(1000, 8000, 160 * 6, 12000)
    codes = bytearray(160 * 6)
    encode(g711.PCMU, pcm8, codes)
    out = bytearray(640 * 6)
    for f in range(6):
        frame = bytearray(640)
        path.process(codes[f * 160 : (f + 1) * 160], frame)
        out[f * 640 : (f + 1) * 640] = frame
    tail = out[640 * 2 :]
    n = len(tail) // 2
    assert abs(_goertzel_db(tail, n, 1000, 16000, 12000)) < 0.5
    assert _goertzel_db(tail, n, 7000, 16000, 12000) < -30.0
    # not sample repetition: even and odd outputs differ
    assert sum(1 for i in range(0, n, 2) if _s16(tail, i) != _s16(tail, i + 1)) > n // 4


def test_s32_shift_takes_the_top_bits_of_a_left_justified_24_bit_sample():
    # INMP441: 24-bit data in bits 31..8. shift 16 keeps bits 31..16; 12 adds 24 dB.
    vals = [0x123456 << 8, -(0x2345 << 16), 0x7FFFFF << 8, -(1 << 31), 5 << 8]
    src = _pack(vals, 4)
    for shift, gain in ((16, 256), (12, 256), (16, 512), (8, 256)):
        path = dsp.MicPath(g711.PCMA, fmt="s32", rate=8000, samples=5, shift=shift, gain=gain)
        out = bytearray(5)
        path.process(src, out)
        want = [encode_sample(g711.PCMA, _sat((_sat(v >> shift) * gain) >> 8)) for v in vals]
        assert list(out) == want, (shift, gain)


def test_gain_saturates_instead_of_wrapping():
    src = _pack([20000, -20000, 100], 2)
    path = dsp.MicPath(g711.PCMU, samples=3, gain=4 * 256)
    out = bytearray(3)
    path.process(src, out)
    assert out[0] == encode_sample(g711.PCMU, 32767)
    assert out[1] == encode_sample(g711.PCMU, -32768)
    assert out[2] == encode_sample(g711.PCMU, 400)


def test_unity_gain_8k_path_equals_plain_g711_encode():
    src = _pack(_noise(160, 3, -32768, 32767), 2)
    a = bytearray(160)
    b = bytearray(160)
    dsp.MicPath(g711.PCMA).process(src, a)
    encode(g711.PCMA, src, b)
    assert a == b


def test_speaker_volume_and_silence():
    codes = bytearray([encode_sample(g711.PCMU, 8000)] * 160)
    path = dsp.SpeakerPath(g711.PCMU, volume=128)
    out = bytearray(320)
    assert path.process(codes, out) == 320
    assert _s16(out, 0) == g711.decode_sample(g711.PCMU, codes[0]) // 2
    path.process(codes, out, gain=0)
    assert out == bytearray(320)
    out[0] = 1
    path.silence(out)
    assert out == bytearray(320)


def test_bad_configuration_is_refused():
    raises(ValueError, dsp.MicPath, g711.PCMU, "s24")
    raises(ValueError, dsp.MicPath, g711.PCMU, "s16", 44100)
    raises(ValueError, dsp.MicPath, g711.PCMU, "s32", 16000, 160, 4)
    raises(ValueError, dsp.SpeakerPath, g711.PCMU, 48000)
    raises(ValueError, dsp.MicPath, g711.PCMU, "s16", 8000, 160, 16, -1)


def test_frame_sizes_follow_format_and_rate():
    assert dsp.MicPath(g711.PCMU, "s32", 16000).in_bytes == 160 * 2 * 4
    assert dsp.MicPath(g711.PCMU, "s16", 8000, samples=80).in_bytes == 160
    assert dsp.SpeakerPath(g711.PCMU, 16000).out_bytes == 640


# --- host audio sources and sinks ---

_WAV = "/tmp/mpsip_test_media_%s.wav" % sys.implementation.name


def _remove(path):
    import os

    try:
        os.remove(path)
    except OSError:
        pass


def test_wav_sink_writes_a_valid_header_and_source_reads_it_back():
    sink = wav.WavSink(_WAV, 16000)
    frame = bytearray(640)
    for f in range(3):
        for i in range(320):
            frame[2 * i] = (f * 7 + i) & 0xFF
            frame[2 * i + 1] = f
        sink.write(frame)
    sink.close()
    with open(_WAV, "rb") as fh:
        data = fh.read()
    assert len(data) == 44 + 1920
    assert data[0:4] == b"RIFF" and data[8:16] == b"WAVEfmt " and data[36:40] == b"data"
    assert (data[4] | data[5] << 8) == 36 + 1920 and (data[40] | data[41] << 8) == 1920
    assert (data[24] | data[25] << 8) == 16000
    src = wav.WavSource(_WAV)
    assert src.rate == 16000 and src.fmt == "s16"
    got = bytearray(640)
    for f in range(3):
        assert src.readinto(got) == 640
        assert got[1] == f and got[2] == (f * 7 + 1) & 0xFF
    assert src.readinto(got) == 0
    src.close()
    _remove(_WAV)


def test_wav_source_pads_the_last_frame_and_can_loop():
    sink = wav.WavSink(_WAV, 8000)
    sink.write(bytearray(b"\x01" * 500))  # 250 samples: one full 160-sample frame and a bit
    sink.close()
    src = wav.WavSource(_WAV)
    buf = bytearray(320)
    assert src.readinto(buf) == 320
    assert src.readinto(buf) == 320 and buf[179] == 1 and buf[180] == 0
    assert src.readinto(buf) == 0
    src.close()
    src = wav.WavSource(_WAV, loop=True)
    for _ in range(5):
        assert src.readinto(buf) == 320
    assert buf == bytearray(b"\x01" * 320)
    src.close()
    _remove(_WAV)


def test_wav_source_refuses_what_it_cannot_play():
    with open(_WAV, "wb") as fh:
        fh.write(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x02\x00\x40\x1f\x00\x00")
        fh.write(b"\x00\x7d\x00\x00\x04\x00\x10\x00data\x00\x00\x00\x00")
    raises(ValueError, wav.WavSource, _WAV)  # stereo
    with open(_WAV, "wb") as fh:
        fh.write(b"JUNK" * 5)
    raises(ValueError, wav.WavSource, _WAV)
    _remove(_WAV)


def test_tone_source_frequency_and_formats():
    src = audio.ToneSource(1000, 8000, 10000)
    buf = bytearray(1600)  # 800 samples = 100 ms
    assert src.readinto(buf) == 1600
    crossings = 0
    prev = 0
    for i in range(800):
        v = buf[2 * i] | (buf[2 * i + 1] << 8)
        v = v - 0x10000 if v & 0x8000 else v
        if prev < 0 <= v:
            crossings += 1
        prev = v
    assert crossings in (99, 100)  # 1000 Hz over 100 ms
    wide = audio.ToneSource(1000, 16000, 10000, fmt="s32")
    b32 = bytearray(64)
    wide.readinto(b32)
    assert b32[0] == 0 and b32[1] == 0 and b32[4] == 0 and b32[5] == 0  # low 16 bits empty
    raises(ValueError, audio.ToneSource, 5000, 8000)


def test_silence_source_and_null_sink():
    s = audio.SilenceSource(16000, "s32")
    buf = bytearray(b"\x01" * 64)
    assert s.readinto(buf) == 64 and buf == bytearray(64)
    n = audio.NullSink()
    n.write(buf)
    assert n.frames == 1


def test_short_buffers_are_refused_not_overrun():
    # the viper kernels do not check bounds: the wrappers must
    mic = dsp.MicPath(g711.PCMU, "s32", 16000)
    raises(ValueError, mic.process, bytearray(1279), bytearray(160))
    raises(ValueError, mic.process, bytearray(1280), bytearray(159))
    spk = dsp.SpeakerPath(g711.PCMU, 16000)
    raises(ValueError, spk.process, bytearray(160), bytearray(639))
    raises(ValueError, spk.silence, bytearray(10))
