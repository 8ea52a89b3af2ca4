# URIs in SIP: sip/sips (RFC 3261 19.1), tel (RFC 3966) and any other scheme kept opaque
# (RFC 3261 19.1.1 allows absoluteURI anywhere a URI goes).
from mpsip.error import SipParseError

_ALPHA = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_DIGITS = "0123456789"
_SCHEME = _ALPHA + _DIGITS + "+-."
_HOST = _ALPHA + _DIGITS + "-._"
_HEX6 = "0123456789abcdefABCDEF:."


def _bad(what, s):
    raise SipParseError(400, "bad %s: %s" % (what, s[:60]))


def parse_port(s):
    # RFC 3261 25.1: port = 1*DIGIT; anything above 65535 cannot be a UDP port.
    if not s or len(s) > 5 or not s.isdigit():
        _bad("port", s)
    p = int(s)
    if p > 65535:
        _bad("port", s)
    return p


def parse_hostport(s):
    """'host[:port]' or '[v6]:port' -> (host, port or None). IPv6 keeps its brackets."""
    if s[:1] == "[":
        end = s.find("]")
        if end < 3:
            _bad("IPv6 reference", s)
        for c in s[1:end]:
            if c not in _HEX6:
                _bad("IPv6 reference", s)
        rest = s[end + 1 :]
        if not rest:
            return s, None
        if rest[0] != ":":
            _bad("host", s)
        return s[: end + 1], parse_port(rest[1:])
    host, colon, port = s.partition(":")
    if not host:
        _bad("host", s)
    for c in host:
        if c not in _HOST:
            # RFC 5118 4.2: an IPv6 address without [ ] lands here too.
            _bad("host", s)
    return host, (parse_port(port) if colon else None)


def unescape(s):
    """%HH -> octet, once (RFC 3261 19.1.4; RFC 4475 3.1.1.3: never recursively)."""
    if "%" not in s:
        return s
    out = bytearray()
    b = s.encode()
    i, n = 0, len(b)
    while i < n:
        c = b[i]
        if c == 0x25 and i + 2 < n and _ishex(b[i + 1]) and _ishex(b[i + 2]):
            out.append(int(b[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode()


def _ishex(c):
    return 0x30 <= c <= 0x39 or 0x41 <= c <= 0x46 or 0x61 <= c <= 0x66


def parse_uri_params(s):
    """';a=b;c' -> [('a', 'b'), ('c', None)]; names lower-cased (RFC 3261 19.1.4)."""
    params = []
    for p in s.split(";")[1:]:
        name, eq, value = p.partition("=")
        if not name:
            _bad("URI parameter", s)
        params.append((name.lower(), value if eq else None))
    return params


def get_param(params, name, default=None):
    for k, v in params:
        if k == name:
            return v
    return default


def params_str(params):
    out = ""
    for k, v in params:
        out += ";" + k if v is None else ";%s=%s" % (k, v)
    return out


class Uri:
    """A parsed URI. sip/sips fill user, password, host, port, params and headers;
    tel fills user (the number) and params; other schemes keep `opaque`."""

    def __init__(self, scheme, user=None, host=None, port=None, params=None, headers=None, password=None):
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else []
        self.headers = headers
        self.opaque = None

    def param(self, name, default=None):
        return get_param(self.params, name, default)

    @property
    def is_sip(self):
        return self.scheme == "sip" or self.scheme == "sips"

    def hostport(self):
        return self.host if self.port is None else "%s:%d" % (self.host, self.port)

    def to_str(self):
        if self.opaque is not None:
            return self.scheme + ":" + self.opaque
        s = self.scheme + ":"
        if self.user is not None:
            s += self.user
            if self.password is not None:
                s += ":" + self.password
            if self.host is not None:
                s += "@"
        if self.host is not None:
            s += self.hostport()
        s += params_str(self.params)
        if self.headers is not None:
            s += "?" + self.headers
        return s

    __str__ = to_str

    def __repr__(self):
        return "<Uri %s>" % self.to_str()

    def __eq__(self, other):
        # A working subset of RFC 3261 19.1.4: scheme, unescaped user, host (no case) and port.
        return (
            isinstance(other, Uri)
            and self.scheme == other.scheme
            and self.opaque == other.opaque
            and unescape(self.user or "") == unescape(other.user or "")
            and (self.host or "").lower() == (other.host or "").lower()
            and self.port == other.port
        )


def parse_uri(s):
    colon = s.find(":")
    if colon <= 0 or s[0] not in _ALPHA:
        _bad("URI", s)
    scheme = s[:colon].lower()
    for c in scheme:
        if c not in _SCHEME:
            _bad("URI scheme", s)
    rest = s[colon + 1 :]
    if not rest or " " in rest or "\t" in rest:
        _bad("URI", s)
    if scheme == "sip" or scheme == "sips":
        # userinfo may hold ';', '?', ':' and ',' (RFC 4475 3.1.1.2, 3.1.1.9) but never a raw '@'.
        user = password = None
        at = rest.find("@")
        if at >= 0:
            user, colon, pw = rest[:at].partition(":")
            if not user:
                _bad("URI user", s)
            if colon:
                password = pw
            rest = rest[at + 1 :]
        rest, q, headers = rest.partition("?")
        hostport, semi, params = rest.partition(";")
        host, port = parse_hostport(hostport)
        return Uri(
            scheme,
            user,
            host,
            port,
            parse_uri_params(semi + params) if semi else [],
            headers if q else None,
            password,
        )
    if scheme == "tel":
        number, semi, params = rest.partition(";")
        return Uri(scheme, number, params=parse_uri_params(semi + params) if semi else [])
    u = Uri(scheme)
    u.opaque = rest
    return u
