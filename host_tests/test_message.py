# The message API: headers by any name, lists, addresses, URIs, building and responses.
from mpsip.headers import Address, parse_address, parse_params, parse_via, scan_quoted, split_list
from mpsip.message import Request, Response, SipParseError, parse, validate
from mpsip.uri import parse_hostport, parse_uri, unescape
from support import emptied, raises

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
    assert m.get("CALL-ID") == m.get("i") == m.get("Call-Id") == "call-1@10.0.0.1"
    assert m.get("content-type") == "application/sdp"
    assert m.get("Contact") is not None and m.get("Route") is None
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
    assert r.__bytes__() == wire  # bytes(r) on CPython (PEERS.md: the alias stays)


def test_set_add_remove_keep_order_and_caches_fresh():
    m = parse(INVITE)
    assert m.top_via.branch == "z9hG4bKabc"
    m.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKnew", first=True)
    assert m.top_via.branch == "z9hG4bKnew" and len(m.vias) == 3
    m.set("Max-Forwards", "69")
    assert m.max_forwards == 69 and m.get_all("max-forwards") == ["69"]
    m.remove("record-route")
    assert m.record_routes == []


def test_response_copies_what_rfc3261_8_2_6_says():
    req = parse(INVITE)
    r = req.response(180, to_tag="b2")
    assert isinstance(r, Response) and r.reason == "Ringing"
    assert [k for k, _ in r.headers] == ["via", "via", "from", "to", "call-id", "cseq", "record-route"]
    assert r.to_addr.tag == "b2"
    trying = req.response(100, to_tag="b2")
    assert trying.to_addr.tag is None and trying.get_all("record-route") == []
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


def test_views_are_parsed_once_and_unknown_attributes_raise():
    m = parse(INVITE)
    assert m.top_via is m.top_via and m.from_addr is m.from_addr and m.cseq == 7
    assert m.call_id == "call-1@10.0.0.1" and m.routes == [] and m.max_forwards == 70
    assert raises(AttributeError, getattr, m, "no_such_view")
    assert raises(AttributeError, getattr, m, "status")  # a request has none
    assert raises(AttributeError, getattr, m.top_via, "no_such_param")


def test_remove_and_set_to_none_drop_every_line():
    m = parse(INVITE)
    m.remove("v")
    assert m.get("via") is None and m.vias == [] and m.top_via is None
    m.set("Subject", None)
    assert m.get("subject") is None and m.get("subject", "-") == "-"


def test_names_outside_the_table_are_spelled_by_rule_or_as_the_rfcs_do():
    r = Request(
        "INVITE",
        "sip:a@b",
        [
            ("max-forwards", "70"),
            ("www-authenticate", 'Digest realm="a"'),
            ("MIME-VERSION", "1.0"),
            ("rack", "1 1 INVITE"),
            ("x-door-state", "open"),
            ("l", "99"),  # Content-Length is always recomputed
        ],
    )
    wire = r.to_bytes()
    for line in (b"Max-Forwards: 70", b'WWW-Authenticate: Digest realm="a"', b"MIME-Version: 1.0"):
        assert b"\r\n" + line + b"\r\n" in wire, line
    assert b"\r\nRAck: 1 1 INVITE\r\n" in wire and b"\r\nX-Door-State: open\r\n" in wire
    assert wire.endswith(b"\r\nContent-Length: 0\r\n\r\n") and wire.count(b"Content-Length") == 1


def test_spellings_learnt_from_peers_stay_bounded():
    from mpsip import message

    names = [("x-h%d" % i, "v") for i in range(30)]
    wire = Request("OPTIONS", "sip:a@b", names).to_bytes()
    assert b"\r\nX-H29: v\r\n" in wire and len(message._SPELL) <= 24  # a peer cannot grow it


def test_status_phrases_and_error_texts():
    assert Response(486).reason == "Busy Here" and Response(180).reason == "Ringing"
    assert Response(299).reason == "Unknown" and Response(200, "Fine").reason == "Fine"
    e = SipParseError(505)
    assert (e.status, e.reason, e.msg, str(e)) == (505, "Version Not Supported", None, "505 Version Not Supported")
    assert str(SipParseError(400, "bad via: x")) == "400 bad via: x"


def test_methods_is_a_tuple_of_the_rfc_methods():
    from mpsip.message import METHODS

    assert isinstance(METHODS, tuple) and len(METHODS) == 14
    assert "INVITE" in METHODS and "PUBLISH" in METHODS and "INV" not in METHODS


def test_response_to_unknown_method_with_mismatched_cseq_is_501():
    data = MINIMAL.replace(b"OPTIONS sip", b"FOO sip") % (b"1 FOO2", b"70")
    assert raises(SipParseError, parse, data, True).status == 501
    data = MINIMAL.replace(b"OPTIONS sip", b"BYE sip") % (b"1 OPTIONS", b"70")
    err = raises(SipParseError, parse, data, True)
    assert err.status == 400 and err.msg.method == "BYE"


def test_uri_equality_and_parts():
    a = parse_uri("sip:%61lice@EXAMPLE.com;transport=udp")
    assert a == parse_uri("sip:alice@example.com") and a != parse_uri("sip:alice@example.com:5070")
    assert a != parse_uri("sips:alice@example.com") and a != "sip:alice@example.com"
    assert a.is_sip and parse_uri("sips:x@y").is_sip and not parse_uri("tel:+1234").is_sip
    assert a.hostport() == "EXAMPLE.com" and parse_uri("sip:h:5060").hostport() == "h:5060"
    assert unescape("a%2541") == "a%41" and unescape("%zz%4") == "%zz%4"
    assert raises(SipParseError, unescape, "%ff").status == 400  # escaped octets that are not UTF-8


def test_host_and_port_bounds():
    assert parse_hostport("h") == ("h", None) and parse_hostport("h:0") == ("h", 0)
    assert parse_hostport("[::1]:65535") == ("[::1]", 65535) and parse_hostport("[::1]") == ("[::1]", None)
    for bad in ("", ":5060", "h:", "h:65536", "h:5x", "[::1", "[]", "[::1]x", "h h", "2001:db8::1"):
        assert raises(SipParseError, parse_hostport, bad).status == 400, bad


def test_quoted_strings_lists_and_params():
    assert scan_quoted('"a\\"b\\\\c" rest', 0) == ('a"b\\c', 9)
    assert raises(SipParseError, scan_quoted, '"open', 0).status == 400
    # RFC 3261 25.1: a display name is written as a quoted-string, '"' and '\\' escaped.
    assert Address(parse_uri("sip:a@b"), 'a"b\\', None).to_str() == '"a\\"b\\\\" <sip:a@b>'
    assert split_list('"x, y" <sip:a>, <sip:b;p=1,2>', ",") == ['"x, y" <sip:a>', "<sip:b;p=1,2>"]
    assert split_list("a ; b", ";") == ["a", "b"]
    assert raises(SipParseError, split_list, "a,,b", ",").status == 400
    assert parse_params(' ; Tag = 1 ;lr; q="a;b"') == [("tag", "1"), ("lr", None), ("q", '"a;b"')]
    for bad in ("x;a", ";", ";a=", ";a b", ';a="b'):
        assert raises(SipParseError, parse_params, bad).status == 400, bad


def test_addresses_and_vias_render_what_they_hold():
    a = parse_address("Door  Station <sip:door@h>;tag=1")
    assert (a.display, a.tag, a.uri.user) == ("Door Station", "1", "door")
    a.set_param("tag", "2")
    assert a.to_str() == '"Door Station" <sip:door@h>;tag=2' and str(a) == a.to_str()
    assert parse_address("*").to_str() == "*" and parse_address("sip:x@h;expires=5").param("expires") == "5"
    v = parse_via("SIP / 2.0 / udp host:5060 ; branch=z9hG4bK1;rport")
    assert (v.transport, v.host, v.port, v.branch, v.param("rport"), v.param("x")) == (
        "UDP",
        "host",
        5060,
        "z9hG4bK1",
        None,
        None,
    )
    v.set_param("rport", "5070")
    assert v.to_str() == "SIP/2.0/UDP host:5060;branch=z9hG4bK1;rport=5070"
    assert raises(SipParseError, parse_via, "SIP/3.0/UDP h").status == 505


# --- the Request-URI kept as text, lone CR/LF, learnt names -----------------------------------
OPTIONS = (
    b"OPTIONS %s SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n"
    b"To: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
)


def test_request_uri_is_written_as_it_came_until_read():
    wire = OPTIONS % b"SIP:Bob@Example.COM;Transport=UDP"
    m = parse(wire)
    assert m.to_bytes().startswith(b"OPTIONS SIP:Bob@Example.COM;Transport=UDP SIP/2.0\r\n")
    u = m.uri  # parsed on first read, then the same object
    assert (u.scheme, u.user, u.host, u.param("transport")) == ("sip", "Bob", "Example.COM", "UDP")
    assert m.uri is u
    u.set_param("lr", None)  # a change made through .uri is what is written
    assert m.to_bytes().startswith(b"OPTIONS sip:Bob@Example.COM;transport=UDP;lr SIP/2.0\r\n")
    r = Request("OPTIONS", "sip:a@b;X=1")
    assert r.to_bytes().startswith(b"OPTIONS sip:a@b;X=1 SIP/2.0\r\n") and r.uri.param("x") == "1"


def test_assigning_the_uri_replaces_it_whether_read_before_or_not():
    for read_first in (False, True):
        m = parse(OPTIONS % b"sip:old@h")
        if read_first:
            assert m.uri.user == "old"
        m.uri = parse_uri("sip:new@h:5070")
        assert m.uri.user == "new"
        assert m.to_bytes().startswith(b"OPTIONS sip:new@h:5070 SIP/2.0\r\n")
    r = Request("ACK", parse_uri("sips:c@d"))
    assert r.uri.scheme == "sips" and r.to_bytes().startswith(b"ACK sips:c@d SIP/2.0\r\n")


def test_a_bad_request_uri_fails_validate_with_400_and_the_request_attached():
    for uri in (b"<sip:a@b>", b"sip:", b"sip:a@b:99999", b"1sip:x"):
        m = parse(OPTIONS % uri)  # kept as text: parse() does not look at it
        err = raises(SipParseError, validate, m)
        assert err.status == 400 and err.msg is m, uri
        assert raises(SipParseError, parse, OPTIONS % uri, True).status == 400
        assert raises(SipParseError, getattr, m, "uri").status == 400


def test_a_method_that_is_not_a_token_is_400_even_with_a_wrong_version():
    data = (OPTIONS % b"sip:a@b").replace(b"OPTIONS sip", b"OPT<IONS sip")
    assert parse(data).method == "OPT<IONS"  # validate() checks it, as the UA does for every request
    assert raises(SipParseError, parse, data, True).status == 400
    assert raises(SipParseError, parse, data.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia")).status == 400
    assert raises(SipParseError, parse, OPTIONS.replace(b"SIP/2.0\r\nVia", b"SIP/3.0\r\nVia") % b"sip:a").status == 505


CASES = {
    "test_a_lone_cr_or_lf_anywhere_is_400": [
        b"OPTIONS sip:a@b\rx SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n",  # start line
        b"OPTIONS\nsip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nCS\req: 1 OPTIONS\r\n\r\n",  # name
        b"OPTIONS sip:a@b SIP/2.0\r\nCS\neq: 1 OPTIONS\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1\rOPTIONS\r\n\r\n",  # value
        b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1\nOPTIONS\r\n\r\n",
        b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\n\r\n\r\n",  # before the CRLF
        b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n b\nc\r\n\r\n",  # a folded line
        b"OPTIONS sip:a@b SIP/2.0\r\nSubject: a\r\n b\rc\r\n\r\n",
        b"SIP/2.0 200 O\rK\r\nCSeq: 1 OPTIONS\r\n\r\n",  # status line
        b"OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r",  # the datagram ends in a CR
        b"OPTIONS sip:a@b SIP/2.0\nCSeq: 1\rOPTIONS\n\n",  # bare LF: CR only before LF
    ],
}


def test_a_lone_cr_or_lf_anywhere_is_400(case):
    assert raises(SipParseError, parse, case).status == 400


def test_header_lines_in_every_spacing_and_case_give_the_same_headers():
    # Names are learnt (by their bytes) the first time: both passes must read the same.
    lines = (
        b"X-Learn-Me: v1",
        b"x-learn-me:v2",
        b"X-LEARN-ME :  v3 ",
        b"X-Learn-Me\t:\tv4",
        b"X-Learn-Me:",
        b"Subject: folded\r\n  twice\r\n\tover three lines",
        b"s:  compact  ",
    )
    data = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"\r\n".join(lines) + b"\r\n\r\n"
    want = [
        ("x-learn-me", "v1"),
        ("x-learn-me", "v2"),
        ("x-learn-me", "v3"),
        ("x-learn-me", "v4"),
        ("x-learn-me", ""),
        ("subject", "folded twice over three lines"),
        ("subject", "compact"),
    ]
    for _ in range(3):
        assert parse(data).headers == want


def test_a_name_that_is_not_a_token_is_400_learnt_or_not():
    for _ in range(2):
        for line in (b"X Y: v", b"X@Y: v", b": v", b"NoColon"):
            data = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\n" + line + b"\r\n\r\n"
            assert raises(SipParseError, parse, data).status == 400, line


def test_names_given_in_any_case_become_keys_and_values_become_str():
    r = Request("OPTIONS", "sip:a@b", [("VIA", "x"), ("v", "y"), ("Max-Forwards", 70), ("X-Seen", "1")])
    assert r.headers == [("via", "x"), ("via", "y"), ("max-forwards", "70"), ("x-seen", "1")]
    assert Response(200, None, [("Call-ID", "c")]).headers == [("call-id", "c")]
    assert r.get("VIA") == "x" and r.get_all("Via") == ["x", "y"] and r.get("MAX-FORWARDS") == "70"


def test_learnt_names_and_spellings_stay_bounded():
    from mpsip import message

    for i in range(40):  # a peer's names and a program's, all new
        m = parse(b"OPTIONS sip:a@b SIP/2.0\r\nX-Peer-%d: v\r\nY-Peer-%d: w\r\n\r\n" % (i, i))
        assert m.headers == [("x-peer-%d" % i, "v"), ("y-peer-%d" % i, "w")]
        r = Request("OPTIONS", "sip:a@b", [("Z-Mine-%d" % i, "z")])
        assert r.headers == [("z-mine-%d" % i, "z")] and b"\r\nZ-Mine-%d: z\r\n" % i in r.to_bytes()
    assert len(message._KEYS) <= 24 and len(message._NAMES) <= 24 and len(message._SPELL) <= 24
    long = "X-N" + "n" * 40  # long names are not kept at all, even with room
    restore = emptied(message._KEYS, message._SPELL)
    try:
        assert parse(b"OPTIONS sip:a@b SIP/2.0\r\n%s: v\r\n\r\n" % long.encode()).get(long) == "v"
        assert b"\r\n%s: v\r\n" % long.encode() in Request("OPTIONS", "sip:a@b", [(long, "v")]).to_bytes()
        assert not message._KEYS and not message._SPELL
    finally:  # the tables as the import made them, for the other tests
        restore()


def test_status_line_forms():
    assert parse(b"SIP/2.0 183\r\n\r\n").reason == ""
    r = parse(b"sip/2.0 200 OK  Fine \r\n\r\n")
    assert (r.status, r.reason) == (200, "OK  Fine")
    for bad in (b"SIP/2.0  200 OK\r\n\r\n", b"SIP/2.0 2x0 OK\r\n\r\n", b"SIP/2.0\r\n\r\n"):
        assert raises(SipParseError, parse, bad).status == 400, bad
    assert raises(SipParseError, parse, b"SIP/2.1 200 OK\r\n\r\n").status == 505
