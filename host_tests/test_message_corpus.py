# Specific facts about individual corpus messages: what the parser must extract from them.
from torture import to_wire

from mpsip.message import Request, Response, SipParseError, parse
from support import raises, read_data


def test_ipv6_reference_without_brackets_is_400():
    err = raises(SipParseError, parse, to_wire(read_data("rfc5118/archive/ipv6-bad.dat")), True)
    assert err.status == 400


def test_ipv6_port_inside_brackets_is_part_of_the_address():
    msg = parse(to_wire(read_data("rfc5118/archive/port-ambiguous.dat")))
    assert msg.uri.host == "[2001:db8::10:5070]" and msg.uri.port is None
    msg = parse(to_wire(read_data("rfc5118/archive/port-unambiguous.dat")))
    assert msg.uri.host == "[2001:db8::10]" and msg.uri.port == 5070


def test_via_received_with_and_without_brackets():
    for name in ("via-received-param-with-delim.dat", "via-received-param-no-delim.dat"):
        msg = parse(to_wire(read_data("rfc5118/archive/" + name)))
        assert msg.top_via.param("received").strip("[]") == "2001:db8::9:255"


def test_trailing_octets_after_content_length_are_ignored():
    msg = parse(read_data("rfc4475/dblreq.dat"))
    assert msg.method == "REGISTER" and msg.body == b""


def test_binary_multipart_body_framed_by_content_length():
    msg = parse(read_data("rfc4475/mpart01.dat"))
    assert len(msg.body) == 553
    assert b"\x00" in msg.body


def test_unusual_method_and_uri_survive():
    msg = parse(read_data("rfc4475/intmeth.dat"))
    assert msg.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert msg.uri.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert msg.to_addr.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    assert msg.cseq_method == msg.method


def test_percent_escapes_are_unescaped_once():
    from mpsip.uri import unescape

    msg = parse(read_data("rfc4475/esc01.dat"))
    assert unescape(msg.uri.user) == "sips:user@example.com"
    params = [(unescape(k), v and unescape(v)) for k, v in msg.contacts[0].uri.params]
    assert params == [("lr", None), ("name", "value%41")]


def test_escaped_null_does_not_truncate():
    from mpsip.uri import unescape

    msg = parse(read_data("rfc4475/escnull.dat"))
    users = [unescape(c.uri.user) for c in msg.contacts]
    assert len(users) == 2 and users[0] != users[1] and "\x00" in users[0]


def test_percent_in_method_and_header_name_is_not_an_escape():
    msg = parse(read_data("rfc4475/esc02.dat"))
    assert msg.method == "RE%47IST%45R"
    assert len(msg.contacts) == 2
    assert msg.get("C%6Fntact") == "<sip:alias2@host2.example.com>"


def test_tortuous_whitespace_and_folding():
    msg = parse(read_data("rfc4475/wsinv.dat"))
    assert msg.to_addr.tag == "1918181833n"
    assert msg.from_addr.display == 'J Rosenberg \\"'
    assert msg.from_addr.tag == "98asjd8"
    assert msg.max_forwards == 68 and msg.cseq == 9 and msg.cseq_method == "INVITE"
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert [v.branch for v in msg.vias] == ["390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239"]
    assert msg.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.get("subject") == ""
    assert msg.contacts[0].display == 'Quoted string ""'
    assert msg.contacts[0].param("q") == "0.33"
    assert len(msg.body) == 150


def test_response_with_utf8_reason_and_empty_reason():
    assert parse(read_data("rfc4475/unreason.dat")).status == 200
    r = parse(read_data("rfc4475/noreason.dat"))
    assert r.status == 100 and r.reason == ""


def test_rfc2543_invite_without_content_length_takes_the_rest():
    msg = parse(read_data("rfc4475/inv2543.dat"))
    assert msg.body.startswith(b"v=0") and msg.top_via.branch is None and msg.from_addr.tag is None


def test_resiprocate_extra_message_is_rejected():
    assert raises(SipParseError, parse, read_data("rfc4475/resiprocate-test.dat"), True).status == 400


def test_bad_version_error_carries_the_request_for_a_505():
    err = raises(SipParseError, parse, read_data("rfc4475/badvers.dat"), True)
    assert isinstance(err.msg, Request) and err.msg.call_id


def test_response_types():
    assert isinstance(parse(read_data("rfc4475/bcast.dat")), Response)
