# The media session end to end over an in-memory UDP (media_fakes.py): a tone crossing,
# mute and push-to-talk, DTMF, latching, packet splitting, bad packets, SSRC changes,
# geometry. The heap-locked loop, RTCP, real sockets and pacing: test_media_loop.py;
# one session across calls: test_media_calls.py.
import gc

from media_fakes import A_ADDR, B_ADDR, FakeClock, MpSock, PeakSink, Tone, pair, run

from mpsip import g711, media, rtp
from support import raises


def test_tone_crosses_from_one_session_to_the_other():
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock)
    run(clock, (a, b), 50)
    assert b.rx_packets == 50 and a.rx_packets == 49  # b's last packet is still queued
    assert b.sink.loud >= 47 and 7000 < b.sink.peak < 8500  # the 1 kHz tone, after prefill
    assert a.sink.loud == 0  # b sends silence
    assert b.rx_bad == 0 and b.jb.concealed == 0 and b.jb.late == 0
    assert b.port.latched and a.port.latched


def test_the_first_packet_of_each_stream_carries_the_marker():
    # RFC 3551 4.1: the marker bit on the first packet of a stream, on no other; a new
    # call's stream (start() again) marks its first packet again
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock)
    a.frame()
    assert sb.newest()[1] == 0x80 | g711.PCMU
    a.frame()
    assert sb.newest()[1] == g711.PCMU
    net = {}
    b.start(MpSock(net, B_ADDR), A_ADDR)
    a.start(MpSock(net, A_ADDR), B_ADDR, g711.PCMA)
    a.frame()
    assert net[B_ADDR].newest()[1] == 0x80 | g711.PCMA


def test_i2s_32_bit_16_khz_microphone_and_16_khz_speaker():
    clock = FakeClock()
    net = {}
    src = Tone(1000, 16000, 8000, fmt="s32")
    a, b, sa, sb = pair(net, clock, a_src=src, b_sink=PeakSink(16000), mic_shift=16)
    assert a.mic.in_bytes == 160 * 2 * 4 and b.spk.out_bytes == 640
    run(clock, (a, b), 30)
    assert b.sink.loud >= 27 and 7000 < b.sink.peak < 8700


def test_mute_sends_silence_and_push_to_talk_mutes_the_speaker():
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock)
    run(clock, (a, b), 10)
    silence = bytes([g711.SILENCE_ULAW]) * 160
    a.mute_mic = True  # muted: packets keep flowing, with encoded silence
    a.frame()
    assert sb.count == 1 and sb.newest()[12:] == silence
    a.mute_mic = False
    run(clock, (a, b), 1)
    assert sb.newest()[12:] != silence
    loud = b.sink.loud
    b.mute_speaker = True  # push-to-talk held (intercom/sound.py): b's speaker is muted
    run(clock, (a, b), 10)  # although a's tone keeps arriving
    assert b.sink.loud == loud and b.rx_packets == 22
    b.mute_speaker = False  # released: b listens, its microphone muted
    b.mute_mic = True
    run(clock, (a, b), 10)
    assert b.sink.loud >= loud + 9


def test_dtmf_goes_out_as_rfc4733_and_comes_back_as_events():
    clock = FakeClock()
    got = []
    a, b, sa, sb = pair({}, clock)
    b.dtmf_rx.on_event = lambda d, ms: got.append((d, ms))
    run(clock, (a, b), 3)
    assert a.send_dtmf("1#x") == 2
    run(clock, (a, b), 40)
    assert got == [("1", 200), ("#", 200)]


def test_peer_address_is_latched_from_its_first_packet():
    # b was told a wrong address (a NAT in between): it answers where a's RTP comes from
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock, b_remote=("10.0.0.9", 1234))
    run(clock, (b,), 3)
    assert a.rx_packets == 0
    run(clock, (a, b), 5)
    # b latched in round 1; its packets reach a from round 2 on and a reads them a round later
    assert b.port.remote == A_ADDR and a.rx_packets == 3
    # a (MicroPython socket semantics) latched in round 3 and connected its socket: rounds 4
    # and 5 went through send(). b (recvfrom_into keeps datagram boundaries) never connects.
    assert a.port.connected and sa.peer == B_ADDR and not b.port.connected
    assert sa.sent_connected == 2 and sb.sent_connected == 0 and b.rx_packets == 5
    a = b = sa = sb = None
    gc.collect()  # one pair at a time fits the 96 KB heap
    clock2 = FakeClock()
    a, b, sa, sb = pair({}, clock2, b_remote=None)  # no address at all until a speaks
    run(clock2, (b, a), 5)
    assert b.port.remote == A_ADDR and a.rx_packets == 3  # b sends from round 3 on


def test_concatenated_reads_are_split_at_packet_boundaries():
    # a's socket has MicroPython semantics: after latching, three queued datagrams
    # (two audio, one telephone-event) come back from one readinto()
    clock = FakeClock()
    got = []
    a, b, sa, sb = pair({}, clock)
    a.dtmf_rx.on_event = lambda d, ms: got.append(d)
    run(clock, (a, b), 5)  # a has read 4 packets, b's fifth is queued
    b.frame()
    b.send_dtmf("9")
    b.frame()
    b.frame()
    assert sa.count == 4  # audio, audio, DTMF start (M=1), DTMF continuation
    a.frame()
    assert a.rx_split == 3 and a.rx_bad == 0 and a.rx_packets == 8
    run(clock, (b, a), 20)
    assert got == ["9"] and a.rx_bad == 0 and a.jb.late == 0


def test_malformed_and_foreign_packets_are_counted_not_raised():
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock)
    run(clock, (a, b), 3)
    for junk in (b"\x00" * 20, b"\x80", b"\xa0\x00\x00\x01" + b"\x00" * 8 + b"\x00", b"\x81" + b"\x00" * 11):
        sb.deliver(junk, A_ADDR)
        b.frame()
    assert b.rx_bad == 4
    pkt = bytearray(172)
    rtp.Sender(13, ssrc=(b.peer_hi, b.peer_lo), seq=1, ts=(0, 0)).write(pkt, 13, 0, 0, 0, 160)  # comfort noise PT
    sb.deliver(pkt, A_ADDR)
    b.frame()
    assert b.rx_other == 1
    run(clock, (a, b), 3)
    assert b.rx_packets == 6


def test_new_ssrc_is_adopted_after_two_packets_in_sequence():
    clock = FakeClock()
    a, b, sa, sb = pair({}, clock)
    run(clock, (a, b), 10)
    old = (b.peer_hi, b.peer_lo)
    a.sender = rtp.Sender(g711.PCMU)  # the peer restarted its stream
    run(clock, (a, b), 10)
    assert (b.peer_hi, b.peer_lo) != old and b.ssrc_changes == 1
    assert (b.peer_hi, b.peer_lo) == (a.sender.ssrc_hi, a.sender.ssrc_lo)
    assert b.rx_other == 1 and b.jb.played >= 14


def test_media_reads_the_header_fields_where_rtp_writes_them():
    assert media.FIELDS == (rtp.PT, rtp.SEQ, rtp.TS_HI, rtp.TS_LO, rtp.SSRC_HI, rtp.SSRC_LO, rtp.OFF, rtp.PLEN)


def test_session_geometry_and_bad_parameters():
    s = MpSock({}, A_ADDR)
    a = media.MediaSession(s, B_ADDR, Tone(), PeakSink(), ptime=40)
    assert a.mic.samples == 320 and a.jb.spf == 320 and len(a.tx) == 332 and a.mic.in_bytes == 640
    raises(ValueError, media.MediaSession, s, B_ADDR, Tone(), PeakSink(), None, 3)  # not G.711
    raises(ValueError, media.MediaSession, s, B_ADDR, Tone(), PeakSink(), None, 0, 25)  # ptime
