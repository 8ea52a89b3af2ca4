# SDP (mpsip.sdp): parsing and building RFC 4566 descriptions, and the RFC 3264
# offer/answer for one G.711 audio stream with telephone-event.
from mpsip import sdp
from mpsip.sdp import SdpError
from support import raises


def crlf(text):
    return text.replace("\n", "\r\n").encode()


# RFC 4566 5 example.
RFC4566 = """v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
c=IN IP4 224.2.17.12/127
t=2873397496 2873404696
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
"""

# A softphone-style offer: session-level c=, several codecs, unknown lines and attributes.
PHONE = """v=0
o=alice 2890844526 2890844526 IN IP4 host.atlanta.example.com
s=-
c=IN IP4 192.0.2.101
b=AS:84
t=0 0
x=an unknown line type
a=tool:someclient 1.0
m=audio 49170 RTP/AVP 9 8 0 96 101
b=TIAS:64000
a=rtpmap:9 G722/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:0 PCMU/8000
a=rtpmap:96 opus/48000/2
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=x-custom:keep me
a=ptime:30
a=sendrecv
"""


def offer(fmts="0 8 101", attrs="", session="", conn="c=IN IP4 192.0.2.101\n", extra_media=""):
    return crlf(
        "v=0\no=bob 1 1 IN IP4 192.0.2.101\ns=-\n"
        + conn
        + "t=0 0\n"
        + session
        + extra_media
        + "m=audio 49170 RTP/AVP "
        + fmts
        + "\n"
        + "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\n"
        + attrs
    )


def value(part, t, name=None):
    """The value of a section's first t= line, or with a name of its first a=name[:value]
    ('' for a flag); None when absent. The model is its .lines: this reads them."""
    for lt, v in part.lines:
        n, _, rest = v.partition(":")
        if lt == t and name is None:
            return v
        if lt == t and n == name:
            return rest
    return None


def ep(**kw):
    return sdp.AudioEndpoint("198.51.100.7", 50000, sess_id=77, **kw)


MALFORMED = [
    b"",
    b"\r\n\r\n",
    b"v=1\r\no=- 1 1 IN IP4 a\r\n",
    b"s=-\r\nv=0\r\n",
    b"v=0\r\ns=-\r\n",  # no o=
    b"v=0\r\no=- 1 IN IP4 a\r\n",  # five o= fields
    b"v=0\r\no=- 1 x IN IP4 a\r\n",  # version not a number
    b"v=0\r\no=- 1 1 IN IP4 a\r\no=- 1 1 IN IP4 a\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nv=0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio abc RTP/AVP 0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio -1 RTP/AVP 0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 5000/x RTP/AVP 0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nno equals sign\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\nV=0\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\na\r\n",
    b"v=0\r\no=- 1 1 IN IP4 a\r\ns=\xff\xfe\r\n",  # not UTF-8
    b"\x00=0",
    12,
]

DIRECTIONS = [
    # (offer's direction attribute, answer we must give, held)
    ("sendrecv", "sendrecv", False),
    ("sendonly", "recvonly", True),
    ("recvonly", "sendonly", False),
    ("inactive", "inactive", True),
]

CASES = {
    "test_malformed_sdp_raises_400": list(range(len(MALFORMED))),
    "test_answer_direction_follows_the_offer": DIRECTIONS,
}


# --- parsing and building


def test_rfc4566_example_round_trips_byte_exact():
    body = crlf(RFC4566)
    d = sdp.parse(body)
    assert d.to_bytes() == body
    assert d.__bytes__() == body
    assert d.origin == ["jdoe", "2890844526", "2890842807", "IN", "IP4", "10.47.16.5"]
    assert d.name == "SDP Seminar"
    assert [(m.kind, m.port, m.proto, m.fmts) for m in d.media] == [
        ("audio", 49170, "RTP/AVP", ["0"]),
        ("video", 51372, "RTP/AVP", ["99"]),
    ]
    # RFC 4566 5.7: multicast TTL is not part of the address; the session-level recvonly
    # applies to the stream: we may only send
    neg = ep().answer(d)[1]
    assert (neg.address, neg.port, neg.direction, neg.held) == ("224.2.17.12", 49170, "sendonly", False)
    assert d.media[1].rtpmaps() == {"99": ("H263-1998", 90000)}


def test_lf_only_and_str_input_give_crlf_output_with_same_content():
    assert sdp.parse(RFC4566).to_bytes() == crlf(RFC4566)
    assert sdp.parse(RFC4566.encode()).to_bytes() == crlf(RFC4566)
    assert sdp.parse(bytearray(crlf(RFC4566))).to_bytes() == crlf(RFC4566)


def test_unknown_lines_and_attributes_survive_a_round_trip():
    d = sdp.parse(crlf(PHONE))
    assert d.to_bytes() == crlf(PHONE)
    assert value(d, "x") == "an unknown line type" and value(d, "a", "tool") == "someclient 1.0"
    m = d.media[0]
    assert value(m, "a", "x-custom") == "keep me" and value(m, "b") == "TIAS:64000"
    assert m.rtpmaps()["96"] == ("OPUS", 48000)
    assert value(m, "a", "fmtp") == "101 0-16"


def test_media_level_connection_direction_and_ptime_override_session_level():
    session = "v=0\no=- 1 1 IN IP4 ::1\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\na=sendonly\na=ptime:30\n"
    # the stream's own lines win, the first of each kind
    own = "m=audio 4000 RTP/AVP 0\nc=IN IP6 2001:db8::5\na=inactive\na=sendrecv\na=ptime:40\na=ptime:10\n"
    neg = ep().answer(crlf(session + own))[1]
    assert (neg.address, neg.direction, neg.held, neg.ptime) == ("2001:db8::5", "inactive", True, 40)
    # a stream without them takes the session's
    neg = ep().answer(crlf(session + "m=audio 4002 RTP/AVP 0\n"))[1]
    assert (neg.address, neg.direction, neg.held, neg.ptime) == ("192.0.2.1", "recvonly", True, 30)


def test_missing_connection_is_an_error_only_when_needed():
    d = sdp.parse(crlf("v=0\no=- 1 1 IN IP4 a\ns=-\nt=0 0\nm=audio 4000 RTP/AVP 0\n"))
    assert raises(SdpError, ep().answer, d).status == 400


def test_port_count_and_blank_lines_are_accepted():
    d = sdp.parse(b"v=0\r\no=- 1 1 IN IP4 a\r\ns=-\r\n\r\nm=audio 5000/2 RTP/AVP 0\r\n\r\n")
    assert (d.media[0].port, d.media[0].nports) == (5000, 2)
    assert d.to_bytes().endswith(b"m=audio 5000/2 RTP/AVP 0\r\n")


def test_malformed_sdp_raises_400(case):
    assert raises(SdpError, sdp.parse, MALFORMED[case]).status == 400


def test_every_truncation_parses_or_raises_sdp_error():
    body = crlf(PHONE)
    for n in range(len(body) + 1):
        try:
            d = sdp.parse(body[:n])
        except SdpError:
            continue
        try:
            ep().answer(d)
        except SdpError:
            pass


def test_built_description_orders_lines_per_rfc4566():
    d = sdp.Description(["-", "5", "9", "IN", "IP4", "192.0.2.1"], "call")
    d.add("a", "recvonly")
    d.add("t", "0 0")
    d.add("c", "IN IP4 192.0.2.1")
    d.add("b", "AS:64")
    d.add("i", "info")
    m = sdp.Media("audio", 4000, "RTP/AVP", ["0"])
    m.add("a", "ptime:20")
    m.add("c", "IN IP4 192.0.2.2")
    m.add("a", "inactive")
    d.media.append(m)
    want = (
        "v=0\no=- 5 9 IN IP4 192.0.2.1\ns=call\ni=info\nc=IN IP4 192.0.2.1\nb=AS:64\nt=0 0\na=recvonly\n"
        "m=audio 4000 RTP/AVP 0\nc=IN IP4 192.0.2.2\na=ptime:20\na=inactive\n"
    )
    assert d.to_bytes() == crlf(want)
    assert sdp.parse(d.to_bytes()).to_bytes() == d.to_bytes()
    # the lines are the model: what is changed there is what is sent
    m.lines.remove(["a", "ptime:20"])
    assert d.lines[1] == ["c", "IN IP4 192.0.2.1"]
    d.lines[1][1] = "IN IP4 192.0.2.9"
    assert d.to_bytes() == crlf(want.replace("192.0.2.1\nb", "192.0.2.9\nb").replace("a=ptime:20\n", ""))


# --- offers


def test_offer_lists_our_codecs_dtmf_ptime_and_direction():
    d = sdp.AudioEndpoint("192.0.2.5", 40000, sess_id=1234).offer()
    want = (
        "v=0\no=- 1234 1 IN IP4 192.0.2.5\ns=-\nc=IN IP4 192.0.2.5\nt=0 0\n"
        "m=audio 40000 RTP/AVP 0 8 101\na=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\n"
        "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-15\na=ptime:20\na=sendrecv\n"
    )
    assert d.to_bytes() == crlf(want)


def test_offer_follows_settings_and_ipv6():
    e = sdp.AudioEndpoint("2001:db8::7", 41000, codecs=("PCMA",), dtmf_pt=None, ptime=40, sess_id=1)
    d = sdp.parse(e.offer("sendonly").to_bytes())
    m = d.media[0]
    assert d.origin[4:] == ["IP6", "2001:db8::7"] and d.lines[0] == ["c", "IN IP6 2001:db8::7"]
    assert m.fmts == ["8"] and m.rtpmaps() == {"8": ("PCMA", 8000)}
    assert m.lines[-2:] == [["a", "ptime:40"], ["a", "sendonly"]]
    # as a peer answering it sees it
    neg = ep().answer(d)[1]
    assert (neg.address, neg.port, neg.codec, neg.dtmf_pt) == ("2001:db8::7", 41000, "PCMA", None)
    assert (neg.ptime, neg.direction) == (40, "recvonly")


def test_session_version_increases_with_each_offer_and_answer():
    e = ep()
    versions = [
        e.offer().origin[2],
        e.offer().origin[2],
        e.answer(offer())[0].origin[2],
        e.offer("sendonly").origin[2],
    ]
    assert versions == ["1", "2", "3", "4"]
    assert e.offer().origin[1] == "77"  # sess-id stays (RFC 3264 8)


# --- answering an offer


def test_answer_takes_the_first_offered_codec_we_support():
    ans, neg = ep().answer(offer("8 0 101"))
    assert (neg.codec, neg.pt) == ("PCMA", 8)
    assert ans.media[0].fmts == ["8", "101"]
    # our own preference order does not override the offerer's
    ans, neg = ep(codecs=("PCMA", "PCMU")).answer(offer("0 8 101"))
    assert neg.codec == "PCMU"
    # nor can we pick a codec we did not enable
    ans, neg = ep(codecs=("PCMA",)).answer(offer("0 8 101"))
    assert neg.codec == "PCMA"


def test_answer_to_a_real_phone_offer():
    ans, neg = ep().answer(crlf(PHONE))
    assert (neg.address, neg.port, neg.pt, neg.codec) == ("192.0.2.101", 49170, 8, "PCMA")
    assert (neg.dtmf_pt, neg.ptime, neg.direction, neg.held) == (101, 30, "sendrecv", False)
    m = ans.media[0]
    assert (m.port, m.fmts) == (50000, ["8", "101"])
    assert ans.lines[0] == ["c", "IN IP4 198.51.100.7"]


def test_answer_echoes_the_offerers_telephone_event_and_dynamic_pts():
    body = offer("97 96", attrs="a=rtpmap:97 pcmu/8000\na=rtpmap:96 telephone-event/8000\n")
    ans, neg = ep().answer(body)
    assert (neg.pt, neg.codec, neg.dtmf_pt) == (97, "PCMU", 96)
    m = sdp.parse(ans.to_bytes()).media[0]
    assert m.fmts == ["97", "96"]
    assert m.rtpmaps() == {"97": ("PCMU", 8000), "96": ("TELEPHONE-EVENT", 8000)}
    assert value(m, "a", "fmtp") == "96 0-15"


def test_answer_uses_the_8000_hz_telephone_event():
    body = offer("0 100 101", attrs="a=rtpmap:100 telephone-event/48000\n")
    ans, neg = ep().answer(body)
    assert neg.dtmf_pt == 101 and ans.media[0].fmts == ["0", "101"]


def test_answer_without_offered_dtmf_or_with_dtmf_disabled():
    ans, neg = ep().answer(offer("0"))
    assert neg.dtmf_pt is None and ans.media[0].fmts == ["0"]
    ans, neg = ep(dtmf_pt=None).answer(offer("0 101"))
    assert neg.dtmf_pt is None and ans.media[0].fmts == ["0"]
    assert [v for t, v in ans.media[0].lines if v[:7] == "rtpmap:"] == ["rtpmap:0 PCMU/8000"]


def test_answer_rejects_video_and_extra_streams_in_place():
    video = "m=video 51372 RTP/AVP 31 99\na=rtpmap:99 h263-1998/90000\n"
    body = offer(extra_media=video) + crlf("m=audio 49180 RTP/AVP 0\nm=audio 49190 RTP/SAVP 0\n")
    ans, neg = ep().answer(body)
    got = [(m.kind, m.port, m.proto, m.fmts) for m in ans.media]
    assert got == [
        ("video", 0, "RTP/AVP", ["31", "99"]),
        ("audio", 50000, "RTP/AVP", ["0", "101"]),
        ("audio", 0, "RTP/AVP", ["0"]),
        ("audio", 0, "RTP/SAVP", ["0"]),
    ]
    assert neg.port == 49170


def test_answer_accepts_a_later_audio_stream_when_the_first_is_unusable():
    body = offer("0", extra_media="m=audio 40000 RTP/SAVP 0\n")
    ans, neg = ep().answer(body)
    assert [m.port for m in ans.media] == [0, 50000] and neg.port == 49170


def test_no_common_codec_raises_488():
    for body in (
        offer("9 96", attrs="a=rtpmap:9 G722/8000\na=rtpmap:96 opus/48000/2\n"),
        offer("96", attrs="a=rtpmap:96 PCMU/16000\n"),  # right name, wrong clock
        offer("0 8", conn="c=IN IP4 192.0.2.1\nm=video 5000 RTP/AVP 31\n").replace(b"m=audio 49170", b"m=audio 0"),
        crlf("v=0\no=- 1 1 IN IP4 a\ns=-\nc=IN IP4 192.0.2.1\nt=0 0\nm=video 5000 RTP/AVP 31\n"),
    ):
        assert raises(SdpError, ep().answer, body).status == 488


def test_answer_direction_follows_the_offer(case):
    direction, want, held = case
    ans, neg = ep().answer(offer(attrs="a=%s\n" % direction))
    assert ans.media[0].lines[-1] == ["a", want] and neg.direction == want
    assert neg.held == held


def test_session_level_direction_in_the_offer_is_honoured():
    ans, neg = ep().answer(offer(session="a=sendonly\n"))
    assert neg.direction == "recvonly" and neg.held


def test_old_style_hold_with_zero_address():
    ans, neg = ep().answer(offer(conn="c=IN IP4 0.0.0.0\n"))
    assert neg.held and neg.address == "0.0.0.0"
    assert neg.direction == "recvonly"  # nothing may be sent to 0.0.0.0 (RFC 3264 8.4)


def test_our_wanted_direction_limits_the_answer():
    assert ep().answer(offer(), "recvonly")[1].direction == "recvonly"
    assert ep().answer(offer(attrs="a=recvonly\n"), "recvonly")[1].direction == "inactive"
    assert ep().answer(offer(), "inactive")[1].direction == "inactive"


def test_answer_keeps_the_offers_timing_and_bad_ptime_falls_back():
    body = offer(attrs="a=ptime:abc\n").replace(b"t=0 0", b"t=3034423619 3042462419")
    ans, neg = ep().answer(body)
    assert value(ans, "t") == "3034423619 3042462419"
    assert neg.ptime == 20


def test_broken_rtpmap_lines_are_ignored_not_fatal():
    body = offer("0 96 8", attrs="a=rtpmap:96\na=rtpmap:96 X/abc\na=rtpmap:\n")
    assert ep().answer(body)[1].codec == "PCMU"


# --- processing the answer to our offer


def test_accept_reads_the_answer():
    a = sdp.AudioEndpoint("192.0.2.5", 40000, sess_id=1)
    a.offer()
    answer = crlf(
        "v=0\no=- 9 9 IN IP4 h\ns=-\nc=IN IP4 203.0.113.9\nt=0 0\nm=audio 6000 RTP/AVP 8 100\n"
        "a=rtpmap:8 PCMA/8000\na=rtpmap:100 telephone-event/8000\na=ptime:30\na=recvonly\n"
    )
    neg = a.accept(answer)
    assert (neg.address, neg.port, neg.pt, neg.codec) == ("203.0.113.9", 6000, 8, "PCMA")
    assert (neg.dtmf_pt, neg.ptime, neg.direction, neg.held) == (100, 30, "sendonly", False)


def test_accept_after_a_hold_offer_and_a_held_answer():
    a = sdp.AudioEndpoint("192.0.2.5", 40000, sess_id=1)
    a.offer("sendonly")
    neg = a.accept(ep().answer(a.offer("sendonly"))[0].to_bytes())
    assert neg.direction == "sendonly" and not neg.held
    a.offer()
    neg = a.accept(offer("0", attrs="a=sendonly\n"))
    assert neg.direction == "recvonly" and neg.held and neg.dtmf_pt is None


def test_accept_refused_audio_raises_488():
    a = sdp.AudioEndpoint("192.0.2.5", 40000, sess_id=1)
    a.offer()
    refused = crlf("v=0\no=- 9 9 IN IP4 h\ns=-\nc=IN IP4 203.0.113.9\nt=0 0\nm=audio 0 RTP/AVP 0\n")
    assert raises(SdpError, a.accept, refused).status == 488
    assert raises(SdpError, a.accept, b"junk").status == 400


def test_full_offer_answer_between_two_endpoints():
    alice = sdp.AudioEndpoint("192.0.2.5", 40000, sess_id=1)
    bob = sdp.AudioEndpoint("198.51.100.7", 50000, codecs=("PCMA", "PCMU"), dtmf_pt=110, sess_id=2)
    ans, at_bob = bob.answer(alice.offer().to_bytes())
    at_alice = alice.accept(ans.to_bytes())
    assert (at_bob.address, at_bob.port, at_alice.address, at_alice.port) == (
        "192.0.2.5",
        40000,
        "198.51.100.7",
        50000,
    )
    assert at_bob.codec == at_alice.codec == "PCMU" and at_bob.pt == at_alice.pt == 0
    assert at_bob.dtmf_pt == at_alice.dtmf_pt == 101  # the offerer's PT wins
