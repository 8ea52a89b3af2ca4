# CPython-only properties of mpsip.sdp (hypothesis): built descriptions survive
# to_bytes -> parse, and no input makes parsing or negotiation raise anything but SdpError.
from hypothesis import given, settings
from hypothesis import strategies as st

from mpsip import sdp
from mpsip.sdp import SdpError

# A token: no whitespace, so fields split back exactly as they were joined.
token = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=12)
digits = st.integers(0, 2**64).map(str)
# A line value: anything but CR/LF (RFC 4566 5: text fields end at CRLF).
value = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=30)
conn = st.builds(lambda at, a: "IN %s %s" % (at, a), st.sampled_from(["IP4", "IP6"]), token)
attr = st.one_of(
    st.sampled_from(["sendrecv", "sendonly", "recvonly", "inactive", "ptime:20", "rtpmap:0 PCMU/8000"]),
    st.builds(lambda n, v: n + ":" + v, token.filter(lambda t: ":" not in t), value),
)
session_line = st.one_of(
    st.tuples(st.sampled_from("iuepbtrzk" + "xy"), value),
    st.tuples(st.just("c"), conn),
    st.tuples(st.just("a"), attr),
)
media_line = st.one_of(
    st.tuples(st.sampled_from("ibk"), value),
    st.tuples(st.just("c"), conn),
    st.tuples(st.just("a"), attr),
)


@st.composite
def descriptions(draw):
    origin = [
        draw(token),
        draw(digits),
        draw(digits),
        "IN",
        draw(st.sampled_from(["IP4", "IP6"])),
        draw(token),
    ]
    d = sdp.Description(origin, draw(st.one_of(st.none(), value)))
    for t, v in draw(st.lists(session_line, max_size=8)):
        d.add(t, v)
    for _ in range(draw(st.integers(0, 3))):
        nports = draw(st.one_of(st.none(), st.integers(1, 65535)))
        m = sdp.Media(draw(token), draw(st.integers(0, 65535)), draw(token), draw(st.lists(token, max_size=5)), nports)
        for t, v in draw(st.lists(media_line, max_size=6)):
            m.add(t, v)
        d.media.append(m)
    return d


def _shape(d):
    media = [(m.kind, m.port, m.nports, m.proto, m.fmts, m.lines) for m in d.media]
    return d.origin, d.name, d.lines, media


@settings(max_examples=400)
@given(descriptions())
def test_build_then_parse_round_trips(d):
    body = d.to_bytes()
    back = sdp.parse(body)
    assert _shape(back) == _shape(d)
    assert back.to_bytes() == body
    assert sdp.parse(body.replace(b"\r\n", b"\n")).to_bytes() == body


def _negotiate(d):
    ep = sdp.AudioEndpoint("192.0.2.1", 4000, sess_id=1)
    for fn in (ep.answer, ep.accept):
        try:
            neg = fn(d)
        except SdpError as e:
            assert e.status in (400, 488)
            continue
        neg = neg[1] if isinstance(neg, tuple) else neg
        assert neg.codec in ("PCMU", "PCMA") and 0 < neg.port <= 65535
    for m in d.media:
        m.rtpmaps()


@settings(max_examples=1000)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_sdp_error(data):
    try:
        d = sdp.parse(data)
    except SdpError as e:
        assert e.status == 400
        return
    _negotiate(d)


# Lines that look like SDP, so the parser gets past v=/o= and negotiation runs.
sdp_ish_line = st.one_of(
    st.sampled_from(
        [
            "c=IN IP4 192.0.2.9",
            "c=IN IP4 0.0.0.0",
            "c=IN IP6 ::1",
            "m=audio 5000 RTP/AVP 0 8 101",
            "m=audio 0 RTP/AVP 0",
            "m=video 5002 RTP/AVP 31",
            "a=rtpmap:101 telephone-event/8000",
            "a=rtpmap:96 PCMA/8000",
            "a=sendonly",
            "a=inactive",
            "t=0 0",
        ]
    ),
    st.builds(lambda t, v: t + "=" + v, st.sampled_from("mcatbks"), value),
    st.builds(lambda v: "a=rtpmap:" + v, value),
    st.builds(lambda v: "a=ptime:" + v, value),
    st.builds(lambda v: "m=audio " + v, value),
)


@settings(max_examples=1000)
@given(st.lists(sdp_ish_line, max_size=12), st.sampled_from(["\r\n", "\n"]))
def test_sdp_like_text_raises_only_sdp_error(lines, eol):
    text = eol.join(["v=0", "o=- 1 1 IN IP4 h", "s=-"] + lines) + eol
    try:
        d = sdp.parse(text)
    except SdpError as e:
        assert e.status == 400
        return
    _negotiate(d)
    assert sdp.parse(d.to_bytes()).to_bytes() == d.to_bytes()
