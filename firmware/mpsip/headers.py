# Structured header values: lists, parameters, name-addr/addr-spec, Via, CSeq (RFC 3261 25.1, 20).
from mpsip.error import SipParseError
from mpsip.uri import _TOKEN, _bad, _Params, parse_hostport, parse_uri


def scan_quoted(s, n):
    """s[n] is '"': return (unescaped text, index after the closing quote). RFC 3261 25.1 quoted-pair."""
    out = ""
    n += 1
    while True:
        j = s.find('"', n)
        if j < 0:
            _bad("quote", s)
        i = s.find("\\", n, j)
        if i < 0:
            return out + s[n:j], j + 1
        out += s[n:i] + s[i + 1 : i + 2]
        n = i + 2


def split_list(value, sep):
    """Split a header value at `sep` outside quotes and <...> (RFC 3261 7.3.1: ',' between
    list elements); elements stripped. An empty element is an error (RFC 4475 3.1.2.1)."""
    if '"' not in value and "<" not in value:
        parts = value.split(sep)
    else:
        # From one '"', '<', '>' or sep to the next with find(): indexing a str would intern
        # each character it gives on MicroPython (a qstr each, for good).
        parts = []
        depth = start = i = 0
        n = len(value)
        while True:
            j = value.find(sep, i)
            if j < 0:
                j = n
            q = value.find('"', i, j)
            lt = value.find("<", i, j)
            gt = value.find(">", i, j)
            if lt < 0 or 0 <= gt < lt:
                lt = gt  # the first angle bracket
            if q >= 0 and (lt < 0 or q < lt):
                i = scan_quoted(value, q)[1]
            elif lt >= 0:
                depth += 1 if lt != gt else -1
                i = lt + 1
            elif j == n:
                break
            else:
                if depth == 0:
                    parts.append(value[start:j])
                    start = j + 1
                i = j + 1
        parts.append(value[start:])
    for i in range(len(parts)):
        p = parts[i] = parts[i].strip()
        if not p:
            _bad("list", value)
    return parts


def parse_params(s):
    """Header parameters ';name[=value]' with LWS allowed around ';' and '=' (RFC 3261 7.3.1).
    Values are tokens, hosts or quoted strings (kept quoted). Names are lower-cased."""
    params = []
    s = s.lstrip()
    if s:
        if not s.startswith(";"):
            _bad("params", s)
        for p in split_list(s[1:], ";"):
            name, eq, value = p.partition("=")
            name = name.rstrip()
            value = value.lstrip()
            if not name or name.strip(_TOKEN) or eq and not value:
                _bad("params", s)
            params.append((name if name.islower() else name.lower(), value if eq else None))
    return params


class Address(_Params):
    """name-addr or addr-spec with header parameters: From, To, Contact, Route (RFC 3261 20.10).
    `display` is the unquoted display name or None; `uri` a Uri; `params` [(name, value)],
    () when none; `tag` the tag parameter. The special Contact '*' has uri None."""

    display = None

    def __init__(self, uri, display, params):
        self.uri = uri
        if display is not None:
            self.display = display
        if params:
            self.params = params


def parse_address(value):
    v = value
    if v == "*":
        return Address(None, None, None)
    display = None
    if v.startswith('"'):
        display, i = scan_quoted(v, 0)
        v = v[i:].lstrip()
        if not v.startswith("<"):
            _bad("uri", value)
    lt = v.find("<")
    if lt >= 0:
        if lt:
            # RFC 3261 25.1: display-name = *(token LWS); RFC 4475 3.1.1.6 allows no LWS before '<'.
            display = " ".join(v[:lt].split())
            if display.replace(" ", "").strip(_TOKEN):
                _bad("display", value)
        gt = v.find(">", lt)
        if gt < 0:
            _bad("uri", value)
        # RFC 4475 3.1.2.14: spaces inside <> are tolerated, never forwarded.
        uri = parse_uri(v[lt + 1 : gt].strip())
        rest = v[gt + 1 :]
    else:
        # addr-spec: parameters after ';' belong to the header (RFC 3261 20.10). A URI with
        # ',', '?' or ';' of its own would need <> (RFC 4475 3.1.2.13).
        semi = v.find(";")
        if semi < 0:
            semi = len(v)
        spec = v[:semi].strip()
        if "?" in spec or "," in spec:
            _bad("uri", value)
        uri = parse_uri(spec)
        rest = v[semi:]
    return Address(uri, display, parse_params(rest))


class Via(_Params):
    """One Via value (RFC 3261 20.42): `transport`, sent-by `host` and `port`, `params`;
    `branch`. Made by parse_via() only (no __init__: a method costs heap)."""


def parse_via(value):
    semi = value.find(";")
    if semi < 0:
        semi = len(value)
    parts = value[:semi].split("/")
    tail = parts[2].split() if len(parts) == 3 else ()
    if len(tail) != 2 or not tail[0] or tail[0].strip(_TOKEN) or parts[0].strip().upper() != "SIP":
        _bad("via", value)
    version = parts[1].strip()
    if version != "2.0":
        raise SipParseError(505)
    v = Via()
    v.transport = tail[0].upper()
    v.host, v.port = parse_hostport(tail[1])
    v.params = parse_params(value[semi:])
    return v
