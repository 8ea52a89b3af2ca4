# RFC 4475 3.1.1.7 longreq.dat: long values everywhere. It gets a process of its own so
# that on a 96 KB heap it is parsed and re-serialized beside nothing but the parser.
from mpsip.message import parse, validate
from support import read_data


def test_long_values_parse_and_round_trip():
    msg = parse(read_data("rfc4475/longreq.dat"), True)
    assert len(msg.get_all("via")) == 34  # strings: 34 parsed Vias would take ~17 KB here
    assert msg.to_addr.display.startswith("I have a user name of extremeextreme")
    assert len(msg.from_addr.tag) == 155
    n_headers = len(msg.headers)
    # Serialize from a fresh lazy parse: the strict one holds parsed addresses that, with
    # long values, leave too little contiguous heap for the 3.4 KB result.
    msg = None
    wire = parse(read_data("rfc4475/longreq.dat")).to_bytes()
    again = parse(wire)
    assert len(again.headers) == n_headers
    assert again.to_bytes() == wire
    validate(again)
