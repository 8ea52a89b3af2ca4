# The message API: headers by any name, lists, addresses, URIs, building and responses.
from mpsip.message import Request, Response, SipParseError, parse, validate
from mpsip.uri import parse_uri
from support import raises

INVITE = (
    b"INVITE sip:bob@example.com SIP/2.0\r\n"
    b"v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKabc;rport\r\n"
    b"Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKdef;received=10.0.0.9\r\n"
    b'f: "Alice \\"A\\"" <sip:alice@example.com>;tag=a1\r\n'
    b"t: Bob <sip:bob@example.com>\r\n"
    b"i: call-1@10.0.0.1\r\n"
    b"CSeq: 7 INVITE\r\n"
    b"m: <sip:alice@10.0.0.1:5060;transport=udp>;expires=60\r\n"
    b"Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
    b"Max-Forwards: 70\r\n"
    b"Subject: folded\r\n  over two lines\r\n"
    b"c: application/sdp\r\n"
    b"l: 4\r\n"
    b"\r\n"
    b"v=0\r\nJUNK"
)


def test_headers_by_any_case_or_compact_name():
    m = parse(INVITE)
    assert m.get("CALL-ID") == m.get("i") == m["Call-Id"] == "call-1@10.0.0.1"
    assert m.get("content-type") == "application/sdp"
    assert "Contact" in m and "Route" not in m
    assert m.get("Subject") == "folded over two lines"


def test_body_is_framed_by_content_length():
    assert parse(INVITE).body == b"v=0\r"


def test_list_headers_split_over_lines_and_commas():
    m = parse(INVITE)
    assert [v.host for v in m.vias] == ["10.0.0.1", "proxy.example.com"]
    assert m.top_via.branch == "z9hG4bKabc" and ("rport", None) in m.top_via.params
    assert m.vias[1].param("received") == "10.0.0.9"
    assert [r.uri.host for r in m.record_routes] == ["p1.example.com", "p2.example.com"]


def test_addresses_with_quoted_display_names_and_params():
    m = parse(INVITE)
    assert m.from_addr.display == 'Alice "A"' and m.from_addr.tag == "a1"
    assert m.to_addr.display == "Bob" and m.to_addr.tag is None
    c = m.contacts[0]
    assert c.uri.port == 5060 and c.uri.param("transport") == "udp" and c.param("expires") == "60"
    assert m.cseq == 7 and m.cseq_method == "INVITE" and m.max_forwards == 70


def test_uri_schemes():
    u = parse_uri("sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&x=y")
    assert (u.scheme, u.user, u.password, u.host, u.port) == (
        "sips",
        "alice",
        "secret",
        "[2001:db8::1]",
        5061,
    )
    assert ("lr", None) in u.params and u.param("transport") == "tcp" and u.headers == "subject=hi&x=y"
    assert u.to_str() == "sips:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&x=y"
    t = parse_uri("tel:+1-201-555-0123;phone-context=example.com")
    assert t.user == "+1-201-555-0123" and t.param("phone-context") == "example.com"
    o = parse_uri("urn:service:sos")
    assert o.scheme == "urn" and o.to_str() == "urn:service:sos"
    for bad in ("sip:", "sip:a@", "sip:host:99999", "sip:[::1", "nocolon", "sip:a b@host", "1sip:x"):
        assert raises(SipParseError, parse_uri, bad).status == 400


def test_build_request_and_round_trip():
    r = Request(
        "OPTIONS",
        "sip:pbx.example.com",
        [
            ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1;rport"),
            ("From", "<sip:door@pbx.example.com>;tag=9"),
            ("To", "<sip:pbx.example.com>"),
            ("Call-ID", "x@y"),
            ("CSeq", "1 OPTIONS"),
            ("Max-Forwards", "70"),
            ("Supported", ""),
        ],
    )
    wire = r.to_bytes()
    assert wire.startswith(b"OPTIONS sip:pbx.example.com SIP/2.0\r\nVia: SIP/2.0/UDP")
    assert b"Call-ID: x@y\r\nCSeq: 1 OPTIONS\r\n" in wire
    assert b"Supported" not in wire  # never an empty header
    assert wire.endswith(b"Content-Length: 0\r\n\r\n")
    again = parse(wire, True)
    assert again.method == "OPTIONS" and again.cseq == 1 and again.to_bytes() == wire


def test_set_add_remove_keep_order_and_caches_fresh():
    m = parse(INVITE)
    assert m.top_via.branch == "z9hG4bKabc"
    m.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew", first=True)
    assert m.top_via.branch == "z9hG4bKnew" and len(m.vias) == 3
    m.set("Max-Forwards", "69")
    assert m.max_forwards == 69 and m.count("max-forwards") == 1
    m.remove("record-route")
    assert m.record_routes == []


def test_response_copies_what_rfc3261_8_2_6_says():
    req = parse(INVITE)
    r = req.response(180, to_tag="b2")
    assert isinstance(r, Response) and r.reason == "Ringing"
    assert [k for k, _ in r.headers] == ["via", "via", "from", "to", "call-id", "cseq", "record-route"]
    assert r.to_addr.tag == "b2"
    trying = req.response(100, to_tag="b2")
    assert trying.to_addr.tag is None and trying.count("record-route") == 0
    again = parse(r.to_bytes(), True)
    assert again.status == 180 and again.to_addr.tag == "b2" and again.vias[1].host == "proxy.example.com"


def test_response_keeps_an_existing_to_tag():
    req = parse(INVITE.replace(b"t: Bob <sip:bob@example.com>", b"t: <sip:bob@example.com>;tag=old"))
    assert req.response(200, to_tag="new").to_addr.tag == "old"


BAD = [
    (b"", 400),
    (b"\r\n\r\n", 400),
    (b"INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP x\r\n\r\n", 400),
    (b"INVITE sip:a@b SIP/2.0\r\nl: -1\r\n\r\n", 400),
    (b"INVITE sip:a@b SIP/2.0\r\nl: 99999999999\r\n\r\n", 400),
    (b"INVITE sip:a@b SIP/3.0\r\n\r\n", 505),
    (b"INVITE sip:a@b HTTP/1.1\r\n\r\n", 400),
    (b"SIP/2.0 700 Weird\r\n\r\n", 400),
    (b"SIP/2.0 20 Short\r\n\r\n", 400),
    (b"SIP/2.0 4294967496 Big\r\n\r\n", 400),
    (b"INVITE sip:a@b SIP/2.0\r\nFrom: \xff\xfe\r\n\r\n", 400),
    (b" continuation\r\n\r\n", 400),
    (b"INVITE sip:a@b SIP/2.0\r\n continuation\r\n\r\n", 400),
]


def test_malformed_input_raises_parse_error_with_status():
    for data, status in BAD:
        err = raises(SipParseError, parse, data, True)
        assert err.status == status, (data, err.status, err.reason)


MINIMAL = (
    b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
    b"To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: %s\r\nMax-Forwards: %s\r\n\r\n"
)


def test_huge_numbers_are_errors_not_crashes():
    assert validate(parse(MINIMAL % (b"4294967295 OPTIONS", b"255"))) is None
    for cseq, mf in (
        (b"4294967296 OPTIONS", b"70"),
        (b"1 OPTIONS", b"256"),
        (b"9" * 400 + b" OPTIONS", b"70"),
    ):
        assert raises(SipParseError, parse, MINIMAL % (cseq, mf), True).status == 400


def test_leading_crlf_keepalives_are_ignored():
    assert parse(b"\r\n\r\n" + MINIMAL % (b"1 OPTIONS", b"70")).method == "OPTIONS"
