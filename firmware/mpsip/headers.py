# Structured header values: lists, parameters, name-addr/addr-spec, Via, CSeq (RFC 3261 25.1, 20).
from mpsip.error import SipParseError
from mpsip.uri import get_param, params_str, parse_hostport, parse_uri

# RFC 3261 25.1: token characters (alphanum plus these).
_TOKEN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~"
_MAX_U32 = 0xFFFFFFFF


def _bad(what, s):
    raise SipParseError(400, "bad %s: %s" % (what, s[:60]))


def is_token(s):
    if not s:
        return False
    for c in s:
        if c not in _TOKEN:
            return False
    return True


def scan_quoted(s, i):
    """s[i] is '"': return (unescaped text, index after the closing quote). RFC 3261 25.1 quoted-pair."""
    out = ""
    n = len(s)
    j = i + 1
    start = j
    while j < n:
        c = s[j]
        if c == '"':
            return out + s[start:j], j + 1
        if c == "\\":
            if j + 1 >= n:
                break
            out += s[start:j] + s[j + 1]
            j += 2
            start = j
        else:
            j += 1
    raise SipParseError(400, "unterminated quoted string: " + s[:60])


def quote(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_list(value):
    """Split a comma-separated header value (RFC 3261 7.3.1), honouring quotes and <...>.
    An empty element is an error (RFC 4475 3.1.2.1)."""
    if '"' not in value and "<" not in value:
        parts = value.split(",")
    else:
        parts = []
        depth = 0
        start = i = 0
        n = len(value)
        while i < n:
            c = value[i]
            if c == '"':
                i = scan_quoted(value, i)[1]
                continue
            if c == "<":
                depth += 1
            elif c == ">":
                depth -= 1
            elif c == "," and depth == 0:
                parts.append(value[start:i])
                start = i + 1
            i += 1
        parts.append(value[start:])
    out = []
    for p in parts:
        p = p.strip()
        if not p:
            _bad("list element", value)
        out.append(p)
    return out


def parse_params(s):
    """Header parameters ';name[=value]' with LWS allowed around ';' and '=' (RFC 3261 7.3.1).
    Values are tokens, hosts or quoted strings (kept quoted). Names are lower-cased."""
    params = []
    if not s:
        return params
    if '"' not in s:
        parts = s.split(";")
        if parts[0].strip():
            _bad("parameters", s)
        for p in parts[1:]:
            name, eq, value = p.partition("=")
            name = name.strip()
            if not is_token(name):
                _bad("parameter", s)
            if eq:
                value = value.strip()
                if not value:
                    _bad("parameter value", s)
                params.append((name.lower(), value))
            else:
                params.append((name.lower(), None))
        return params
    # Slow path: a quoted value may hold ';' or '='.
    i, n = 0, len(s)
    while i < n:
        while i < n and s[i] in " \t":
            i += 1
        if i >= n:
            break
        if s[i] != ";":
            _bad("parameters", s)
        i += 1
        j = i
        while j < n and s[j] not in "=;":
            j += 1
        name = s[i:j].strip()
        if not is_token(name):
            _bad("parameter", s)
        if j < n and s[j] == "=":
            j += 1
            while j < n and s[j] in " \t":
                j += 1
            if j < n and s[j] == '"':
                end = scan_quoted(s, j)[1]
                value = s[j:end]
            else:
                end = j
                while end < n and s[end] != ";":
                    end += 1
                value = s[j:end].strip()
                if not value:
                    _bad("parameter value", s)
            params.append((name.lower(), value))
            i = end
        else:
            params.append((name.lower(), None))
            i = j
    return params


class Address:
    """name-addr or addr-spec with header parameters: From, To, Contact, Route (RFC 3261 20.10).
    `display` is the unquoted display name or None; `uri` a Uri; `params` [(name, value)].
    The special Contact '*' has uri None."""

    def __init__(self, uri, display=None, params=None):
        self.uri = uri
        self.display = display
        self.params = params if params is not None else []

    def param(self, name, default=None):
        return get_param(self.params, name, default)

    @property
    def tag(self):
        return get_param(self.params, "tag")

    def set_param(self, name, value):
        self.params = [p for p in self.params if p[0] != name]
        self.params.append((name, value))

    def to_str(self):
        if self.uri is None:
            return "*"
        s = "<%s>" % self.uri.to_str()
        if self.display:
            s = quote(self.display) + " " + s
        return s + params_str(self.params)

    __str__ = to_str

    def __repr__(self):
        return "<Address %s>" % self.to_str()


def parse_address(value):
    v = value
    if v == "*":
        return Address(None)
    display = None
    if v[:1] == '"':
        display, i = scan_quoted(v, 0)
        v = v[i:].lstrip()
        if v[:1] != "<":
            _bad("name-addr", value)
    lt = v.find("<")
    if lt >= 0:
        if lt:
            # RFC 3261 25.1: display-name = *(token LWS); RFC 4475 3.1.1.6 allows no LWS before '<'.
            display = " ".join(v[:lt].split())
            for word in display.split(" "):
                if not is_token(word):
                    _bad("display name", value)
        gt = v.find(">", lt)
        if gt < 0:
            _bad("name-addr", value)
        # RFC 4475 3.1.2.14: spaces inside <> are tolerated, never forwarded.
        uri = parse_uri(v[lt + 1 : gt].strip())
        rest = v[gt + 1 :]
    else:
        # addr-spec: parameters after ';' belong to the header (RFC 3261 20.10). A URI with
        # ',', '?' or ';' of its own would need <> (RFC 4475 3.1.2.13).
        semi = v.find(";")
        spec = v if semi < 0 else v[:semi]
        if "?" in spec or "," in spec:
            _bad("addr-spec without <>", value)
        uri = parse_uri(spec.strip())
        rest = "" if semi < 0 else v[semi:]
    return Address(uri, display, parse_params(rest))


class Via:
    """One Via value (RFC 3261 20.42): sent-protocol, sent-by and parameters."""

    def __init__(self, transport, host, port=None, params=None):
        self.transport = transport
        self.host = host
        self.port = port
        self.params = params if params is not None else []

    def param(self, name, default=None):
        return get_param(self.params, name, default)

    @property
    def branch(self):
        return get_param(self.params, "branch")

    def set_param(self, name, value):
        self.params = [p for p in self.params if p[0] != name]
        self.params.append((name, value))

    def to_str(self):
        hp = self.host if self.port is None else "%s:%d" % (self.host, self.port)
        return "SIP/2.0/%s %s%s" % (self.transport, hp, params_str(self.params))

    __str__ = to_str


def parse_via(value):
    head, semi, params = value.partition(";")
    parts = head.split("/")
    if len(parts) != 3:
        _bad("Via", value)
    name = parts[0].strip()
    version = parts[1].strip()
    tail = parts[2].split()
    if len(tail) != 2 or not is_token(tail[0]):
        _bad("Via", value)
    if name.upper() != "SIP":
        _bad("Via protocol", value)
    if version != "2.0":
        raise SipParseError(505, "SIP version not supported: " + version)
    host, port = parse_hostport(tail[1])
    return Via(tail[0].upper(), host, port, parse_params(semi + params) if semi else [])


def parse_u32(s, what):
    """A decimal that must fit 32 bits (RFC 3261 8.1.1.5, RFC 4475 3.1.2.4)."""
    s = s.strip()
    if not s or len(s) > 10 or not s.isdigit():
        _bad(what, s)
    n = int(s)
    if n > _MAX_U32:
        _bad(what, s)
    return n


def parse_cseq(value):
    parts = value.split()
    if len(parts) != 2 or not is_token(parts[1]):
        _bad("CSeq", value)
    return parse_u32(parts[0], "CSeq"), parts[1]
