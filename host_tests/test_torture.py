# RFC 4475 and RFC 5118 torture messages, one test per message, as their INDEX.tsv says.
from torture import expected, rfc4475, rfc5118, to_wire

from mpsip.message import Request, SipParseError, parse, validate
from support import raises, read_data

CASES = {
    # longreq.dat (3.5 KB of long values) has a file and a process of its own: test_torture_long.
    "test_valid_message_parses_and_round_trips": [n for n in rfc4475("valid") if n != "longreq.dat"],
    "test_invalid_message_is_rejected_or_tolerated": rfc4475("invalid"),
    "test_semantic_message_parses_for_the_ua_to_judge": rfc4475("semantic"),
    "test_ipv6_valid_message_parses_in_wire_form": rfc5118("valid") + rfc5118("valid-tolerate"),
    "test_ipv6_archive_form_parses_or_raises_parse_error": rfc5118("valid") + rfc5118("invalid"),
}


def content(msg):
    """What a round trip must keep: start line, headers (Content-Length is recomputed and
    empty values are not written), body."""
    hs = [(k, v) for k, v in msg.headers if k != "content-length" and v]
    if isinstance(msg, Request):
        return (msg.method, msg.uri.to_str(), hs, msg.body)
    return (msg.status, msg.reason, hs, msg.body)


def test_valid_message_parses_and_round_trips(case):
    msg = parse(read_data("rfc4475/" + case), True)
    wire = msg.to_bytes()
    expect = content(msg)
    msg = None  # longreq.dat twice over does not fit a 96 KB heap beside the tests
    again = parse(wire, True)
    assert content(again) == expect
    assert again.to_bytes() == wire


def test_invalid_message_is_rejected_or_tolerated(case):
    data = read_data("rfc4475/" + case)
    expect = expected(case)
    if expect == "liberal":
        msg = parse(data, True)
        assert parse(msg.to_bytes(), True).method == msg.method
    else:
        err = raises(SipParseError, parse, data, True)
        assert err.status == expect, (case, err.status, err.reason)


def test_semantic_message_parses_for_the_ua_to_judge(case):
    data = read_data("rfc4475/" + case)
    if case == "mcl01.dat":
        assert raises(SipParseError, parse, data).status == 400
        return
    msg = parse(data)
    expect = expected(case)
    assert expect in (400, 405, 406, 415, 416, 420, 200, "drop", "accept")
    if expect == 400:
        assert raises(SipParseError, validate, msg).status == 400
    else:
        validate(msg)


def test_ipv6_valid_message_parses_in_wire_form(case):
    msg = parse(to_wire(read_data("rfc5118/" + case)), True)
    assert content(parse(msg.to_bytes())) == content(msg)
    for via in msg.vias:
        assert via.host


def test_ipv6_archive_form_parses_or_raises_parse_error(case):
    # The archive's own bytes (bare LF, lengths that disagree) are a robustness case.
    try:
        parse(read_data("rfc5118/" + case))
    except SipParseError as e:
        assert e.status == 400
