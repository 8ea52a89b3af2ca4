"""Calls with audio and DTMF between mpsip's user agent (MicroPython unix port) and a baresip phone.

tools/sipua.py runs the UA from a ROMFS image of the compiled .mpy tree under `-X heapsize=MEDIA_HEAP`,
its MediaSession paced every 20 ms from its loop: the microphone a tone (--mic tone:HZ) or a WAV
file, what it receives recorded (--record).
baresip plays a tone of its own (aufile) and records what it receives (sndfile *-dec.wav). Both
directions of call through Kamailio, PCMU and PCMA each forced on both sides: each recording holds
the other side's tone (frequency estimated here within 2%), over most of the call; DTMF keyed in
baresip arrives as RFC 4733 events, each digit once; ours reach baresip. Then the same through
tools/lossy_relay.py dropping 5% of the RTP each way: audio and DTMF still pass, nothing raises.
"""

import math
import os
import time
import wave

import pytest

from tools import peers
from tools.lossy_relay import LossyRelay

from .test_ua_peers import SipUa, compiled, registered_to  # noqa: F401 (compiled: a fixture)

# The UA with media on the MicroPython unix port, run from a ROMFS image (tools/romfs.py: the
# firmware's .mpy files mapped outside the heap and imported in place, as a board built with ROMFS
# does; `make deploy ROMFS=1`). Heap in use after a collection, 2026-11-25: ~70 KB ready, ~81-82 KB
# in a call (EVENT connected heap=). That is under the board's 96K, but the heap is then in pieces:
# at 96K every test passed 3 runs of 3, then the 5%-loss test failed 7 runs of 8 (no 464-byte piece
# for the call's media) after a change to nothing but the launcher's Python; at 104K the PCMA call
# from the phone with the WAV microphone found no 804-byte piece for the incoming INVITE (1 run of
# 2). 112K and 120K passed 2 runs of 2 each; MEDIA_HEAP is 112K plus one 8K step. From .mpy files
# the same tests needed 144K. MPSIP_MEDIA_HEAP overrides it.
MEDIA_HEAP = os.environ.get("MPSIP_MEDIA_HEAP", "120K")

PHONE_HZ = 440  # baresip's tone
UA_HZ = 1000  # ours with --mic tone:HZ
WAV_HZ = 700  # ours from a WAV file (mpsip.wav.WavSource)
TOLERANCE = 0.02


@pytest.fixture
def media_ua(started, compiled):  # noqa: F811
    """Factory: media_ua("--answer", ...) -> a running SipUa with an RTP port of its own."""

    def make(*args, rtp_port=None):
        ua = SipUa(workdir=started.dir("sipua"), heap=MEDIA_HEAP, rom=True)
        ua.rtp_port = rtp_port or peers.free_port(tcp=False)
        ua.record = os.path.join(ua.dir, "heard.wav")
        return started.add(ua).start("--rtp-port", ua.rtp_port, "--record", ua.record, *args)

    return make


# ---------------------------------------------------------------- what a recording holds


def read_wav(path):
    """(rate, [samples]) of a 16-bit mono WAV."""
    with wave.open(path, "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1, path
        rate, data = w.getframerate(), w.readframes(w.getnframes())
    return rate, [int.from_bytes(data[i : i + 2], "little", signed=True) for i in range(0, len(data), 2)]


def middle(samples, keep=0.6):
    """The middle `keep` of a recording: no ringing-in, no jitter-buffer fill, no hangup tail."""
    cut = int(len(samples) * (1 - keep) / 2)
    return samples[cut : len(samples) - cut]


def tone_frequency(samples, rate):
    """Frequency of a tone from the periods between its rising zero crossings (interpolated
    between samples): the mean of those within 10% of the median period, so that a gap (a
    lost or concealed frame) or a phase jump adds an outlier, not an error. A hysteresis of
    a tenth of the RMS keeps codec noise in silent gaps from counting as crossings."""
    rms = math.sqrt(sum(x * x for x in samples) / len(samples))
    thr = rms / 10
    crossings = []
    low = False
    for i in range(1, len(samples)):
        a, b = samples[i - 1], samples[i]
        if a < -thr:
            low = True
        if low and a < 0 <= b:
            crossings.append(i - 1 + a / (a - b))
            low = False
    periods = sorted(b - a for a, b in zip(crossings, crossings[1:], strict=False))
    if len(periods) < 10:
        return None
    median = periods[len(periods) // 2]
    near = [p for p in periods if abs(p - median) <= 0.1 * median]
    return rate * len(near) / sum(near)


def loud_fraction(samples, rate, floor=500):
    """Fraction of the 20 ms windows whose RMS is above `floor` (tones here: ~5600 RMS)."""
    n = rate // 50
    windows = [samples[i : i + n] for i in range(0, len(samples) - n + 1, n)]
    loud = [w for w in windows if math.sqrt(sum(x * x for x in w) / n) > floor]
    return len(loud) / max(1, len(windows))


def heard(path, want_hz):
    """The tone heard in a recording: (frequency, loud fraction, seconds), checked against want_hz."""
    rate, samples = read_wav(path)
    mid = middle(samples)
    f = tone_frequency(mid, rate)
    loud = loud_fraction(mid, rate)
    seconds = len(samples) / rate
    assert f is not None and abs(f - want_hz) <= TOLERANCE * want_hz, (path, f, want_hz)
    assert loud >= 0.9, (path, loud)
    return f, loud, seconds


def test_the_tone_estimate_is_exact_enough_and_ignores_gaps():
    """The measuring stick: a 437 Hz sine with 20 ms gaps of silence and of low noise (lost
    frames) reads within 0.1%; 2% apart are told apart; silence is not counted as heard."""
    rate = 8000
    samples = [int(6000 * math.sin(2 * math.pi * 437 * i / rate)) for i in range(3 * rate)]
    for k in range(10):
        start = 1000 + k * 2000
        for i in range(start, start + 160):
            samples[i] = (i % 3) - 1 if k % 2 else 0
    f = tone_frequency(middle(samples), rate)
    assert abs(f - 437) < 0.437
    assert tone_frequency([int(6000 * math.sin(2 * math.pi * 446 * i / rate)) for i in range(rate)], rate) > 445
    assert loud_fraction(samples[:rate] + [0] * rate, rate) == 0.5


# ---------------------------------------------------------------- the call


def dtmf_digits(ua):
    return [kv["digit"] for n, kv in ua.events() if n == "dtmf" and kv.get("via") == "rtp"]


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %.1fs" % (what, timeout))
        time.sleep(0.05)


def converse(ua, phone, keyed, ours, seconds):
    """Both ends connected: key `keyed` on the phone, expect `ours` (--dtmf) at the phone, talk
    for `seconds` in all."""
    t0 = time.monotonic()
    time.sleep(0.4)  # audio flowing both ways first
    phone.send_dtmf(keyed)
    wait_for(lambda: len(dtmf_digits(ua)) >= len(keyed), 4, "RFC 4733 DTMF at the UA")
    got = [phone.wait_event("CALL_DTMF_START", 4)["param"] for _ in ours]
    assert got == list(ours)
    time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
    time.sleep(0.3)  # late duplicates of the last event's end packets would show as a second event
    assert dtmf_digits(ua) == list(keyed)  # each digit once


CALLS = [
    # (codec, who calls, our microphone)
    ("PCMU", "ua", "tone"),
    ("PCMU", "phone", "tone"),
    ("PCMA", "ua", "wav"),
    ("PCMA", "phone", "wav"),
]


@pytest.mark.parametrize("codec,caller,mic", CALLS, ids=["-".join(c) for c in CALLS])
def test_audio_both_ways_and_rfc4733_dtmf_with_baresip(kamailio, phone, media_ua, codec, caller, mic):
    bob = phone("bob", tone_hz=PHONE_HZ, codec=codec.lower())
    ua_hz = UA_HZ if mic == "tone" else WAV_HZ
    mic_arg = "tone:%d" % UA_HZ if mic == "tone" else peers.tone_wav(WAV_HZ, 30)
    args = registered_to(kamailio) + ("--codecs", codec, "--mic", mic_arg, "--dtmf", "24*")
    if caller == "ua":
        ua = media_ua(*args, "--call", "sip:bob@127.0.0.1", "--hangup-after", 3.0)
    else:
        ua = media_ua(*args, "--answer")
        ua.wait_event("registered")
        bob.dial("ua")
    kv = ua.wait_event("connected", 8, call=1)
    assert kv["codec"] == codec
    bob.wait_event("CALL_ESTABLISHED", 5)
    converse(ua, bob, "159#", "24*", 2.6 if caller == "ua" else 3.0)
    if caller == "phone":
        bob.hangup()
        assert ua.wait_event("ended", 3, call=1)["reason"] == "bye"
    else:
        assert ua.wait_event("ended", 3, call=1)["reason"] == "hangup"
    bob.wait_event("CALL_CLOSED", 3)
    rtp = ua.wait_event("rtp", 1, call=1)
    ua.check()

    assert "Set audio decoder: %s" % codec in bob.log()
    (phone_heard,) = bob.recordings("dec")
    f_ua, loud_ua, s_ua = heard(ua.record, PHONE_HZ)  # what we received: baresip's tone
    f_ph, loud_ph, s_ph = heard(phone_heard, ua_hz)  # what baresip received: ours
    assert s_ua > 2.0 and s_ph > 1.8  # (baresip records no audio while our DTMF replaces it)
    print(
        "%s, %s calls: UA heard %.1f Hz (%+.2f%%, %.0f%% loud, %.1f s), phone heard %.1f Hz (%+.2f%%, "
        "%.0f%% loud, %.1f s); connected heap %s; rtp %s"
        % (codec, caller, f_ua, 100 * (f_ua / PHONE_HZ - 1), 100 * loud_ua, s_ua, f_ph,
           100 * (f_ph / ua_hz - 1), 100 * loud_ph, s_ph, kv.get("heap"), rtp)
    )  # fmt: skip


def test_audio_and_dtmf_pass_through_5_percent_rtp_loss_each_way(kamailio, phone, media_ua):
    """The relay sits in front of our RTP port: our SDP names the relay (--rtp-port) and the UA
    binds behind it (--rtp-local). baresip sends to the relay, which forwards to us from its
    upstream socket; symmetric RTP (RFC 4961) latches our sending onto that socket, so the relay
    carries both directions and drops 5% of each."""
    local = peers.free_port(tcp=False)
    relay = LossyRelay(("127.0.0.1", 0), ("127.0.0.1", local), seed=7, loss=0.05).start()
    try:
        bob = phone("bob", tone_hz=PHONE_HZ)
        ua = media_ua(
            *registered_to(kamailio),
            *("--rtp-local", local, "--mic", "tone:%d" % UA_HZ, "--dtmf", "24*", "--answer"),
            rtp_port=relay.listen[1],
        )
        ua.wait_event("registered")
        bob.dial("ua")
        kv = ua.wait_event("connected", 8, call=1)
        bob.wait_event("CALL_ESTABLISHED", 5)
        converse(ua, bob, "159#", "24*", 4.0)
        bob.hangup()
        assert ua.wait_event("ended", 3, call=1)["reason"] == "bye"
        bob.wait_event("CALL_CLOSED", 3)
        rtp = ua.wait_event("rtp", 1, call=1)
        c = relay.counters()
    finally:
        relay.stop()
    ua.check()
    (phone_heard,) = bob.recordings("dec")
    f_ua, loud_ua, _ = heard(ua.record, PHONE_HZ)
    f_ph, loud_ph, _ = heard(phone_heard, UA_HZ)
    print(
        "5%% RTP loss: UA heard %.1f Hz (%.0f%% loud), phone heard %.1f Hz (%.0f%% loud); relay %s; rtp %s; "
        "connected heap %s" % (f_ua, 100 * loud_ua, f_ph, 100 * loud_ph, c, rtp, kv.get("heap"))
    )
    # Both directions went through the relay, and it dropped some of each.
    for d in ("up", "down"):
        assert c[d]["received"] > 150 and c[d]["dropped"] > 0, c
    assert int(rtp["lost"]) == c["up"]["dropped"]  # RFC 3550 A.3: what we counted missing
    assert int(rtp["concealed"]) > 0  # the jitter buffer covered the gaps
