"""Property tests of the SIP parser (CPython only; MicroPython runs test_message_fuzz.py)."""

import os

from hypothesis import given, settings
from hypothesis import strategies as st

from mpsip.message import Request, Response, SipParseError, parse
from support import emptied

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "rfc4475")
CORPUS = [open(os.path.join(DATA, n), "rb").read() for n in sorted(os.listdir(DATA)) if n.endswith(".dat")]

TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1, max_size=12)
VALUE_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\r\n")
VALUE = st.text(VALUE_CHARS, min_size=1, max_size=40).map(str.strip).filter(bool)
HOST = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
UNSTRUCTURED = TOKEN.filter(lambda n: n.lower() not in STRUCTURED)
STRUCTURED = {"via", "v", "from", "f", "to", "t", "contact", "m", "cseq", "max-forwards", "content-length", "l"}
STRUCTURED |= {"route", "record-route", "call-id", "i"}


@st.composite
def requests(draw):
    method = draw(TOKEN)
    uri = "sip:%s@%s" % (draw(TOKEN), draw(HOST))
    headers = [
        ("Via", "SIP/2.0/UDP %s;branch=z9hG4bK%s" % (draw(HOST), draw(TOKEN))),
        ("From", "<sip:%s@%s>;tag=%s" % (draw(TOKEN), draw(HOST), draw(TOKEN))),
        ("To", "<%s>" % uri),
        ("Call-ID", draw(TOKEN)),
        ("CSeq", "%d %s" % (draw(st.integers(0, 2**32 - 1)), method)),
    ]
    headers += draw(st.lists(st.tuples(UNSTRUCTURED, VALUE), max_size=6))
    body = draw(st.binary(max_size=64))
    return Request(method, uri, headers, body)


@settings(max_examples=300, deadline=None)
@given(requests())
def test_built_request_parses_back_to_the_same_content(req):
    got = parse(req.to_bytes(), True)
    assert (got.method, got.uri.to_str(), got.body) == (req.method, req.uri.to_str(), req.body)
    assert [h for h in got.headers if h[0] != "content-length"] == req.headers


@settings(max_examples=200, deadline=None)
@given(st.integers(100, 699), st.text(VALUE_CHARS, max_size=30).map(str.strip), st.binary(max_size=32))
def test_built_response_parses_back(status, reason, body):
    r = Response(status, reason, [("Call-ID", "x"), ("CSeq", "1 INVITE")], body)
    got = parse(r.to_bytes())
    assert (got.status, got.reason, got.body, got.cseq) == (status, reason, body, 1)


def _only_parse_errors(data):
    try:
        msg = parse(data, True)
    except SipParseError as e:
        assert 400 <= e.status <= 599
        return
    assert parse(msg.to_bytes(), True).to_bytes() == msg.to_bytes()


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_nothing_but_parse_errors(data):
    _only_parse_errors(data)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from(CORPUS), st.data())
def test_mutated_corpus_raises_nothing_but_parse_errors(seed, data):
    b = bytearray(seed)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(b)))
        choice = data.draw(st.integers(0, 2))
        if choice == 0:
            b[i:i] = data.draw(st.binary(min_size=1, max_size=8))
        elif choice == 1:
            del b[i : i + data.draw(st.integers(1, 20))]
        else:
            b[i:i] = data.draw(st.sampled_from([b":", b";", b",", b"<", b'"', b"\r\n", b" ", b"\r\n\r\n", b"9" * 30]))
    _only_parse_errors(bytes(b))


NAME_CASE = st.sampled_from([str.lower, str.upper, str.title, lambda s: s])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(UNSTRUCTURED, NAME_CASE, st.sampled_from([": ", ":", " : ", ":\t"]), VALUE), max_size=8))
def test_header_lines_read_the_same_whether_their_names_are_learnt_or_not(lines):
    from mpsip import message

    head = "".join("\r\n%s%s%s" % (case(name), sep, value) for name, case, sep, value in lines)
    data = ("OPTIONS sip:a@b SIP/2.0%s\r\n\r\n" % head).encode()
    restore = emptied(message._KEYS)  # names met for the first time ...
    try:
        first = parse(data).headers
        again = parse(data).headers  # ... and learnt
        for _ in range(40):  # ... and with the table full of other names
            parse(b"OPTIONS sip:a@b SIP/2.0\r\nX-Other-%d: v\r\n\r\n" % len(message._KEYS))
        assert first == again == parse(data).headers == [(message.canonical(n), v) for n, _, _, v in lines]
    finally:  # the table as the import made it, for the other tests
        restore()


@settings(max_examples=500, deadline=None)
@given(requests(), st.sampled_from([b"\r", b"\n"]), st.data())
def test_a_lone_cr_or_lf_in_the_head_is_400(req, octet, data):
    wire = req.to_bytes()
    head = wire.index(b"\r\n\r\n")
    # Anywhere in the head but next to a CRLF (which would make a CRLF, or CR CR LF).
    spots = [i for i in range(1, head) if wire[i - 1 : i + 1].strip(b"\r\n") == wire[i - 1 : i + 1]]
    i = data.draw(st.sampled_from(spots))
    try:
        parse(wire[:i] + octet + wire[i:])
    except SipParseError as e:
        assert e.status == 400
    else:
        raise AssertionError("accepted a lone %r at %d" % (octet, i))
