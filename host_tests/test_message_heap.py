# What the message layer leaves on the heap: no interned characters, small learnt tables.
from mpsip import message, sdp
from mpsip.headers import split_list
from mpsip.message import Request, SipParseError, parse
from mpsip.uri import parse_hostport, parse_uri
from support import emptied, raises


def test_parsers_intern_no_character_a_peer_sends():
    # MicroPython interns the one-character str that indexing or iterating a str gives (a
    # qstr, for good): a parser walking a value character by character would grow the qstr
    # pools with whatever characters a peer sends. Nothing interns characters above U+00FF
    # ahead (the literals below are longer than one), and CPython makes a new str each time.
    chars = b"\xc7\x85\xc7\x86\xc7\x87\xc7\x88\xc7\x89\xc7\x8a".decode()  # U+01C5..U+01CA

    def interned(ch):
        b = ch.encode()
        return str(b, "utf-8") is str(b, "utf-8")

    assert len(chars) == 6 and not any(interned(chars[i : i + 1]) for i in range(6))
    a, b, c, d, e, f = [chars[i : i + 1] for i in range(6)]  # (slices: chars[i] would intern)
    assert split_list('"%s, x" <sip:%s@h>;p=%s, <sip:y@h>' % (a, b, c), ",")[1] == "<sip:y@h>"
    assert raises(SipParseError, parse_uri, "%s:x@h" % d).status == 400
    assert raises(SipParseError, parse_hostport, "[::1]%sx" % e).status == 400
    assert raises(sdp.SdpError, sdp.parse, "v=0\r\no=- 1 1 IN IP4 h\r\n%s=x\r\n" % f).status == 400
    for i in range(6):
        assert not interned(chars[i : i + 1]), i


def test_the_names_nearly_every_peer_sends_are_known_from_the_import():
    # Learnt as they first came, mid-registration or mid-call, each name's objects stayed
    # between the call's own and cut the heap into pieces: nothing is learnt from a dialog's
    # usual headers, and our spelling and a peer's that matches it are one object.
    keys, spell, names = dict(message._KEYS), dict(message._SPELL), dict(message._NAMES)
    data = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nRecord-Route: <sip:p;lr>\r\n"
        b"From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n"
        b"Contact: <sip:b@h>\r\nAllow: INVITE, ACK\r\nSupported: replaces\r\nServer: x\r\n"
        b"Date: d\r\nContent-Length: 0\r\n\r\n"
    )
    starts = [b"\r\n" + line.partition(b": ")[0] + b": " for line in data.split(b"\r\n")[1:-2]]
    assert len(starts) == 12 and all(k in keys for k in starts)
    for k in starts[:-1]:  # (Content-Length is written apart)
        assert [w for w in keys if w == k][0] is spell[keys[k]]
    assert parse(data).to_bytes() == data
    assert message._KEYS == keys and message._SPELL == spell and message._NAMES == names


def test_a_name_spelt_as_we_write_it_is_one_object_in_both_tables():
    restore = emptied(message._KEYS, message._SPELL)
    try:
        _shared()
    finally:  # the tables as the import made them, for the other tests
        restore()


def _shared():
    assert b"\r\nX-Shared: 1\r\n" in Request("OPTIONS", "sip:a@b", [("x-shared", "1")]).to_bytes()
    spelt = message._SPELL["x-shared"]
    for data in (b"OPTIONS sip:a@b SIP/2.0\r\nX-Shared: 2\r\n\r\n", b"OPTIONS sip:a@b SIP/2.0\r\nx-shared: 3\r\n\r\n"):
        assert parse(data).get("X-Shared") in ("2", "3")
    keys = list(message._KEYS)  # the line starts as they came, both spellings learnt
    assert len(keys) == 2 and spelt in keys and b"\r\nx-shared: " in keys
    assert [k for k in keys if k == spelt][0] is spelt  # ... ours not a copy
    assert parse(b"OPTIONS sip:a@b SIP/2.0\r\nX-Shared: 4\r\n\r\n").headers == [("x-shared", "4")]


def test_only_names_that_are_not_already_keys_are_learnt():
    message._NAMES.clear()
    r = Request("OPTIONS", "sip:a@b", [("call-id", "c"), ("x-lower", "v"), ("X-Upper", "w"), ("v", "SIP/2.0/UDP h")])
    assert r.headers == [("call-id", "c"), ("x-lower", "v"), ("x-upper", "w"), ("via", "SIP/2.0/UDP h")]
    assert sorted(message._NAMES) == ["X-Upper", "v"]  # lower-case long names are the keys already


def test_uris_and_addresses_without_parameters_hold_no_list_of_their_own():
    from mpsip.headers import parse_address

    u = parse_uri("sip:a@h")
    a = parse_address("<sip:b@h>")
    assert u.params == () and a.params == () and a.uri.params == ()
    assert "params" not in u.__dict__ and "params" not in a.__dict__  # the class's empty tuple
    u.set_param("lr", None)
    a.set_param("tag", "1")
    assert u.to_str() == "sip:a@h;lr" and a.to_str() == "<sip:b@h>;tag=1"
    assert parse_uri("sip:c@h").params == ()  # the class's tuple was not changed
    assert parse_uri("sip:a@h;x=1").params == [("x", "1")] and parse_address("<sip:b@h>;t=2").params == [("t", "2")]
