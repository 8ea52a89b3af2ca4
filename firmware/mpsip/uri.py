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


def parse_u32(s, name, n):
    """A decimal up to `n`, at most 32 bits (RFC 3261 8.1.1.5, RFC 4475 3.1.2.4).
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
    if bad or i < len(s) and not s.startswith(":", i):  # (s[i] would intern the character)
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
        # Two hex digits. (The set of IPv6 references above, less ':' and '.': one str
        # constant less on the heap.)
        h = p[:2]
        if len(h) == 2 and not h.strip("0123456789abcdefABCDEF:.") and ":" not in h and "." not in h:
            out.append(int(h, 16))
            p = p[2:]
        else:
            out.append(37)
        out.extend(p.encode())
    try:
        return out.decode()
    except UnicodeError:  # escaped octets that are not UTF-8 (RFC 3261 19.1.2 allows any)
        _bad("uri", "%".join(s))


class _Params:
    """Ordered (name, value) parameters, shared by Uri, Address and Via, and their one
    serializer (a method each would cost heap). No parameters: the class's empty tuple,
    not an empty list and an attribute in each object (~100 B a parsed URI or address)."""

    params = ()

    def param(self, name):
        # The value (None for a bare ';name'); None when absent too.
        for k, v in self.params:
            if k == name:
                return v

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

    def to_str(self):
        # Which of the three this is: a Via has a transport, a Uri a scheme (both set by
        # their parser), an Address neither.
        d = self.__dict__
        end = ""
        if "transport" in d:
            # RFC 3261 20.42: sent-protocol SP sent-by *( SEMI via-params )
            s = "%s/%s %s" % ("SIP/2.0", self.transport, self.hostport())
        elif "scheme" in d:
            # RFC 3261 19.1.1: sip:user:password@host:port;uri-parameters?headers
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
            if self.headers is not None:
                end = "?" + self.headers
        else:
            # RFC 3261 20.10: name-addr, always with <> (its params are the header's), or '*'.
            if self.uri is None:
                return "*"
            s = "<" + self.uri.to_str() + ">"
            if self.display:
                # RFC 3261 25.1: quoted-string, '"' and '\\' escaped as quoted-pair.
                s = '"%s" %s' % (self.display.replace("\\", "\\\\").replace('"', '\\"'), s)
        for k, v in self.params:
            s += ";" + k if v is None else ";%s=%s" % (k, v)
        return s + end

    __str__ = to_str


class Uri(_Params):
    """A parsed URI. sip/sips fill user, password, host, port, params and headers;
    tel fills user (the number) and params; other schemes keep `opaque`."""

    # Absent parts are these class defaults: an attribute set on an instance costs heap.
    # No __init__ (a method costs heap): parse_uri() sets scheme (and params if any).
    user = password = host = port = headers = opaque = None

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
    scheme = s[:c]
    # RFC 3986 3.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); RFC 4475 3.1.2.8: no LWS.
    # (A first character tested by s[0] would be interned on MicroPython: any a peer sends.)
    if (
        c <= 0
        or not (scheme.isalpha() or scheme[:1].isalpha())
        or scheme.strip(_TOKEN)
        or c + 1 == len(s)
        or " " in s
        or "\t" in s
    ):
        _bad("uri", s)
    if scheme != "sip":
        scheme = scheme.lower()
    u = Uri()
    u.scheme = scheme
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
        ps = u.params = []
        for p in s[c + 1 : n].split(";"):
            e = p.find("=")
            if not p or e == 0:
                _bad("uri", s)
            ps.append((p.lower(), None) if e < 0 else (p[:e].lower(), p[e + 1 :]))
    return u
