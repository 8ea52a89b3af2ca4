# URIs in SIP: sip/sips (RFC 3261 19.1), tel (RFC 3966) and any other scheme kept opaque
# (RFC 3261 19.1.1 allows absoluteURI anywhere a URI goes).
#
# Heap: every def, class, attribute and constant costs heap once imported (tools/bench.py
# measures it), so character classes are strings tested with s.strip(SET) == "" (one C loop,
# no allocation) and the parameter accessors of Uri, Address and Via live in one base class.
from mpsip.error import SipParseError

# RFC 3261 25.1: token characters (alphanum plus these). Also the loose check of schemes and
# host names, whose characters are a subset: one string instead of three. MicroPython's
# strip() searches the set for each character, so those of host names and parameters lead.
_TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789.-ABCDEFGHIJKLMNOPQRSTUVWXYZ!%*_+`'~"


def _bad(name, s):
    raise SipParseError(400, "bad %s: %s" % (name, s[:60]))


def parse_u32(s, name, n=0xFFFFFFFF):
    """A decimal that must fit 32 bits (RFC 3261 8.1.1.5, RFC 4475 3.1.2.4), or `n`.
    ASCII digits only: str.isdigit() also takes '²', which int() refuses."""
    s = s.strip()
    if not s or len(s) > 10 or s.strip("0123456789") or int(s) > n:
        _bad(name, s)
    return int(s)


def parse_hostport(s):
    """'host[:port]' or '[v6]:port' -> (host, port or None). IPv6 keeps its brackets."""
    if s.startswith("["):
        # RFC 3261 25.1 IPv6reference; RFC 5118 4.1: hex, ':' and '.' (an embedded IPv4).
        i = s.find("]") + 1
        bad = i < 4 or s[1 : i - 1].strip("0123456789abcdefABCDEF:.")
    else:
        # RFC 5118 4.2: an IPv6 address without [ ] fails too (its first group is the host).
        i = s.find(":")
        if i < 0:
            i = len(s)
        bad = not i or (s[:i] if i < len(s) else s).strip(_TOKEN)
    if bad or i < len(s) and s[i] != ":":
        _bad("host", s)
    if i == len(s):
        return s, None
    # RFC 3261 25.1: port = 1*DIGIT; above 65535 it cannot be a UDP port.
    return s[:i], parse_u32(s[i + 1 :], "port", 65535)


def unescape(s):
    """%HH -> octet, once (RFC 3261 19.1.4; RFC 4475 3.1.1.3: never recursively)."""
    if "%" not in s:
        return s
    s = s.split("%")
    out = bytearray(s[0].encode())
    for p in s[1:]:
        if len(p) > 1 and not p[:2].strip("0123456789abcdefABCDEF"):
            out.append(int(p[:2], 16))
            p = p[2:]
        else:
            out.append(37)
        out.extend(p.encode())
    try:
        return out.decode()
    except UnicodeError:  # escaped octets that are not UTF-8 (RFC 3261 19.1.2 allows any)
        _bad("uri", "%".join(s))


def params_str(params):
    out = ""
    for k, v in params:
        out += ";" + k if v is None else ";%s=%s" % (k, v)
    return out


class _Params:
    """Ordered (name, value) parameters, shared by Uri, Address and Via."""

    def param(self, name, default=None):
        for k, v in self.params:
            if k == name:
                return v
        return default

    def set_param(self, name, value):
        # Every occurrence goes and one is appended, in a new list (the old may be shared).
        ps = []
        for p in self.params:
            if p[0] != name:
                ps.append(p)
        ps.append((name, value))
        self.params = ps

    def hostport(self):
        return self.host if self.port is None else "%s:%d" % (self.host, self.port)

    def __getattr__(self, name):
        # Computed attributes without a property each (a property costs ~120 B of heap):
        # Address.tag (RFC 3261 19.3), Via.branch (RFC 3261 8.1.1.7), Uri.is_sip.
        if name == "tag" or name == "branch":
            return self.param(name)
        if name == "is_sip":
            return self.scheme == "sip" or self.scheme == "sips"
        raise AttributeError(name)


class Uri(_Params):
    """A parsed URI. sip/sips fill user, password, host, port, params and headers;
    tel fills user (the number) and params; other schemes keep `opaque`."""

    # Absent parts are these class defaults: an attribute set on an instance costs heap.
    user = password = host = port = headers = opaque = None

    def __init__(self, scheme):
        self.scheme = scheme
        self.params = []

    def to_str(self):
        if self.opaque is not None:
            return self.scheme + ":" + self.opaque
        s = [self.scheme, ":"]
        if self.user is not None:
            s.append(self.user)
            if self.password is not None:
                s.append(":" + self.password)
            if self.host is not None:
                s.append("@")
        if self.host is not None:
            s.append(self.hostport())
        if self.params:
            s.append(params_str(self.params))
        if self.headers is not None:
            s.append("?" + self.headers)
        return "".join(s)

    __str__ = to_str

    def __eq__(self, value):
        # A working subset of RFC 3261 19.1.4: scheme, unescaped user, host (no case) and port.
        return (
            isinstance(value, Uri)
            and self.scheme == value.scheme
            and self.opaque == value.opaque
            and unescape(self.user or "") == unescape(value.user or "")
            and (self.host or "").lower() == (value.host or "").lower()
            and self.port == value.port
        )


def parse_uri(s):
    c = s.find(":")
    # RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); RFC 4475 3.1.2.8: no LWS.
    if c <= 0 or not s[0].isalpha() or s[:c].strip(_TOKEN) or c + 1 == len(s) or " " in s or "\t" in s:
        _bad("uri", s)
    scheme = s[:c]
    if scheme != "sip":
        scheme = scheme.lower()
    u = Uri(scheme)
    i = c + 1
    n = len(s)
    if scheme == "sip" or scheme == "sips":
        # userinfo may hold ';', '?', ':' and ',' (RFC 4475 3.1.1.2, 3.1.1.9) but never a raw '@'.
        at = s.find("@", i)
        if at >= 0:
            c = s.find(":", i, at)
            if c >= 0:
                u.password = s[c + 1 : at]
            else:
                c = at
            if c == i:
                _bad("uri", s)
            u.user = s[i:c]
            i = at + 1
        c = s.find("?", i)
        if c >= 0:
            u.headers = s[c + 1 :]
            n = c
        c = s.find(";", i, n)
        if c < 0:
            c = n
        u.host, port = parse_hostport(s[i:c])
        if port is not None:
            u.port = port
    elif scheme == "tel":
        c = s.find(";", i)
        if c < 0:
            c = n
        u.user = s[i:c]
    else:
        u.opaque = s[i:]
        return u
    # RFC 3261 19.1.4: ';name[=value]' parameters, names compared without case.
    if c < n:
        for p in s[c + 1 : n].split(";"):
            e = p.find("=")
            if not p or e == 0:
                _bad("uri", s)
            u.params.append((p.lower(), None) if e < 0 else (p[:e].lower(), p[e + 1 :]))
    return u
