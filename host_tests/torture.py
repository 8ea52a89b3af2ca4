# What each RFC 4475 / RFC 5118 message must get, shared by the parser tests and the
# user-agent tests (which send the "semantic" ones over UDP and check the response).
#
# data/rfc4475/expected.tsv holds our decision per message (a table, not module data: on a
# 96 KB heap a dict of it costs the tests several KB):
# - invalid (RFC 4475 3.1.2): the status parse(strict=True) raises, or "liberal" where the
#   RFC lets an element accept the message and we do (the test checks what we ignore);
# - semantic (3.2-3.4): parse() accepts them (mcl01 excepted: its framing is ambiguous,
#   3.3.9) and a user agent (not a registrar or proxy) answers with that status, "drop"s
#   the response, or "accept"s the request.
from support import read_tsv


def expected(name):
    for row in read_tsv("rfc4475/expected.tsv"):
        if row[0] == name:
            return int(row[1]) if row[1].isdigit() else row[1]
    raise KeyError(name)


def _by_kind(index):
    kinds = {}
    for row in read_tsv(index):
        kinds.setdefault(row[2], []).append(row[0])
    return kinds


# Read once: on a 96 KB heap, every pass over an index leaves small strings scattered.
_RFC4475 = _by_kind("rfc4475/INDEX.tsv")
_RFC5118 = _by_kind("rfc5118/INDEX.tsv")


def rfc4475(kind):
    return _RFC4475[kind]


def rfc5118(kind):
    return _RFC5118[kind]


def to_wire(data):
    """RFC 5118's archive uses bare LF and Content-Lengths counted that way (see the corpus
    README): give the message as it would be on the wire — CRLF, an empty line, true length."""
    text = data.replace(b"\r\n", b"\n")
    head, sep, body = text.partition(b"\n\n")
    lines = head.split(b"\n")
    body = body.replace(b"\n", b"\r\n")
    out = []
    for line in lines:
        name = line.split(b":", 1)[0].strip().lower()
        if name == b"content-length" or name == b"l":
            line = b"Content-Length: %d" % len(body)
        out.append(line)
    return b"\r\n".join(out) + b"\r\n\r\n" + body
