"""SIP Digest authentication (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760).

Client (a user agent answering 401/407):

    chs = digest.parse_challenges(values, proxy=False)  # WWW-/Proxy-Authenticate values
    ch = digest.pick(chs)              # strongest usable: SHA-512-256 > SHA-256 > MD5
    auth = digest.Client("alice", "secret")        # keeps nc per nonce
    hdr = auth.authorize(ch, "REGISTER", "sip:example.com", body)
    # send hdr as ch.header ("Authorization" or "Proxy-Authorization")

`ch.stale` true means the password was right but the nonce expired: retry with the
new challenge without asking the user again (nc restarts at 00000001).

The server side (issuing challenges, checking credentials: tools/proxy.py) is in
mpsip/digest_server.py: a board answering challenges never loads it.

Lower level: ha1(), response(), userhash().
Bad input raises DigestError. .status is 400 for a malformed header (a server answers
400; a client treats the 401/407 as final) and None when the header is fine but
nothing in it can be answered (unsupported algorithm/qop: the client gives up).
Algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess, and SHA-512-256(-sess) where the
runtime's hashlib has it (CPython with OpenSSL; not MicroPython).
"""

from binascii import hexlify

try:
    from hashlib import md5 as _md5
except ImportError:  # some MicroPython ports build hashlib without md5
    from .md5 import md5 as _md5
try:
    from os import urandom as _urandom
except ImportError:  # pragma: no cover - every supported port has os.urandom
    from random import getrandbits

    def _urandom(n):
        return bytes(getrandbits(8) for _ in range(n))


class DigestError(Exception):
    def __init__(self, msg, status=400):
        super().__init__(msg)
        self.status = status


# RFC 8760 2.3 / RFC 7616 6.1: algorithm name -> (hash constructor, strength rank).
_HASHES = {"MD5": (_md5, 1)}
try:
    from hashlib import sha256 as _sha256

    _HASHES["SHA-256"] = (_sha256, 2)
except ImportError:  # pragma: no cover
    pass
try:
    import hashlib as _hl

    _hl.new("sha512_256")
    _HASHES["SHA-512-256"] = (lambda d=b"": _hl.new("sha512_256", d), 3)
except (ImportError, AttributeError, ValueError):  # MicroPython: no hashlib.new
    pass
for _n in list(_HASHES):
    _HASHES[_n + "-sess"] = _HASHES[_n]
del _n
# Canonical spelling for case-insensitive matching of algorithm tokens.
_CANON = {n.lower(): n for n in ("MD5", "MD5-sess", "SHA-256", "SHA-256-sess", "SHA-512-256", "SHA-512-256-sess")}
_WS = " \t\r\n"


def supported(algorithm):
    return algorithm in _HASHES


def _h(alg, text):
    try:
        fn = _HASHES[alg][0]
    except KeyError:
        raise DigestError("unsupported algorithm " + str(alg)) from None
    if isinstance(text, str):
        text = text.encode()
    return hexlify(fn(text).digest()).decode()


def ha1(alg, username, realm, password, nonce="", cnonce=""):
    """RFC 7616 3.4.2: H(user:realm:password), and for -sess H(that:nonce:cnonce)."""
    return sess_ha1(alg, _h(alg, username + ":" + realm + ":" + password), nonce, cnonce)


def sess_ha1(alg, base, nonce, cnonce):
    if alg.endswith("-sess"):
        return _h(alg, base + ":" + nonce + ":" + cnonce)
    return base


def response(alg, ha1_hex, nonce, method, uri, qop=None, nc=None, cnonce=None, body=b"", body_hash=None):
    """RFC 7616 3.4.1 (qop) / RFC 2069 (no qop) request-digest, lower-case hex."""
    a2 = method + ":" + uri
    if qop == "auth-int":  # RFC 7616 3.4.3: A2 also covers H(entity-body)
        a2 += ":" + (body_hash or _h(alg, body))
    ha2 = _h(alg, a2)
    if qop:
        return _h(alg, "%s:%s:%s:%s:%s:%s" % (ha1_hex, nonce, nc, cnonce, qop, ha2))
    return _h(alg, ha1_hex + ":" + nonce + ":" + ha2)


def userhash(alg, username, realm):
    # RFC 7616 3.4.4: username field is H(username:realm) when the server asked for it.
    return _h(alg, username + ":" + realm)


def _text(value):
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode()
        except UnicodeError:
            raise DigestError("header is not UTF-8") from None
    if not isinstance(value, str):
        raise DigestError("header value must be str or bytes")
    return value


def _skip(s, i):
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _quoted(s, i):
    # RFC 7230 3.2.6: quoted-string with quoted-pair escapes; s[i] is the opening quote.
    out = ""
    i += 1
    while True:
        q = s.find('"', i)
        if q < 0:
            raise DigestError("unterminated quoted-string")
        b = s.find("\\", i, q)
        if b < 0:
            return out + s[i:q], q + 1
        out += s[i:b] + s[b + 1]  # b < q, so the escaped character exists
        i = b + 2


def _items(s):
    """RFC 7235 2.1 / RFC 3261 25.1: split a value into [scheme, {param: value}, token68] items.

    Commas separate both params and challenges; a token not followed by '=' starts a
    new scheme. Param names are lower-cased. Unquoted values run to ',' or whitespace."""
    out = []
    cur = None
    after_scheme = False
    i = 0
    n = len(s)
    while True:
        i = _skip(s, i)
        if i >= n:
            return out
        if s[i] == ",":
            after_scheme = False
            i += 1
            continue
        j = i
        while j < n and s[j] not in ' \t\r\n,="':
            j += 1
        if j == i:
            raise DigestError("unexpected %r in auth header" % s[i])
        name = s[i:j]
        k = _skip(s, j)
        bare = after_scheme and not cur[1] and cur[2] is None
        if k < n and s[k] == "=":
            m = j
            while m < n and s[m] == "=":
                m += 1
            if bare and (m - j > 1 or _skip(s, m) >= n or s[_skip(s, m)] == ","):
                cur[2] = s[i:m]  # token68, e.g. "Negotiate YII==": not ours, kept raw
                i = m
                continue
            if cur is None:
                raise DigestError("auth-param before scheme")
            k = _skip(s, k + 1)
            if k < n and s[k] == '"':
                val, i = _quoted(s, k)
            else:
                i = k
                while i < n and s[i] not in _WS and s[i] != ",":
                    i += 1
                val = s[k:i]
                if not val:
                    raise DigestError("empty auth-param " + name)
            cur[1][name.lower()] = val
            after_scheme = False
        elif bare:
            cur[2] = name
            i = j
        else:
            cur = [name, {}, None]
            out.append(cur)
            after_scheme = True
            i = j


def _canon(alg):
    if alg is None:
        return "MD5"  # RFC 2617 3.2.1: absent means MD5
    return _CANON.get(alg.lower(), alg)


class Challenge:
    """One Digest challenge (WWW-Authenticate or Proxy-Authenticate value)."""

    def __init__(self, params, proxy=False):
        self.params = params
        self.proxy = proxy
        self.realm = params.get("realm")
        self.nonce = params.get("nonce")
        if self.realm is None or not self.nonce:
            raise DigestError("Digest challenge without realm or nonce")
        self.opaque = params.get("opaque")
        self.algorithm = _canon(params.get("algorithm"))
        q = params.get("qop")
        self.qops = [] if q is None else [x.strip().lower() for x in q.split(",") if x.strip()]
        self.stale = params.get("stale", "").lower() == "true"
        self.userhash = params.get("userhash", "").lower() == "true"
        # RFC 3261 22.2/22.3: 401 -> Authorization, 407 -> Proxy-Authorization.
        self.header = "Proxy-Authorization" if proxy else "Authorization"

    def __repr__(self):
        return "<Challenge %s realm=%r alg=%s qop=%s>" % (self.header, self.realm, self.algorithm, self.qops)


def parse_challenges(values, proxy=False):
    """Digest challenges from one header value or a list of them; other schemes skipped."""
    if isinstance(values, (str, bytes, bytearray)):
        values = (values,)
    out = []
    for v in values:
        for scheme, params, _ in _items(_text(v)):
            if scheme.lower() == "digest":
                out.append(Challenge(params, proxy))
    return out


def _qop(ch, integrity):
    """The qop we answer with: a str, None for RFC 2069 style, False if unusable."""
    if not ch.qops:
        # RFC 7616 3.4.2: -sess needs a cnonce, which is only sent with a qop.
        return False if ch.algorithm.endswith("-sess") else None
    order = ("auth-int", "auth") if integrity else ("auth", "auth-int")
    for q in order:
        if q in ch.qops:
            return q
    return False


def pick(challenges, realm=None, integrity=False):
    """Strongest usable challenge (RFC 8760 2.4 local policy); ties go to the first listed.

    Within one algorithm a challenge we can answer with a qop beats one without,
    and qop=auth beats auth-int unless integrity (body protection) is asked for."""
    best = None
    score = 0
    pref = "auth-int" if integrity else "auth"
    for ch in challenges:
        if realm is not None and ch.realm != realm or ch.algorithm not in _HASHES:
            continue
        q = _qop(ch, integrity)
        if q is False:
            continue
        s = _HASHES[ch.algorithm][1] * 4 + (0 if q is None else 2 if q == pref else 1)
        if s > score:
            best, score = ch, s
    if best is None:
        raise DigestError("no usable Digest challenge", None)
    return best


def _q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _cnonce():
    return hexlify(_urandom(8)).decode()


class Client:
    """Answers challenges for one account; keeps the nonce count per realm and nonce."""

    def __init__(self, username, password, cnonce=None, integrity=False):
        self.username = username
        self.password = password
        self.integrity = integrity
        self._cnonce = cnonce or _cnonce
        self._state = {}  # realm -> [nonce, nc, sess cnonce]

    def authorize(self, ch, method, uri, body=b""):
        """The Authorization/Proxy-Authorization value; uri is the Request-URI (RFC 3261 22.4)."""
        alg = ch.algorithm
        if alg not in _HASHES:
            raise DigestError("unsupported algorithm " + alg, None)
        qop = _qop(ch, self.integrity)
        if qop is False:
            raise DigestError("no usable qop", None)
        st = self._state.get(ch.realm)
        if st is None or st[0] != ch.nonce:
            # RFC 7616 3.4: nc counts requests sent with this nonce; a new nonce restarts it.
            st = self._state[ch.realm] = [ch.nonce, 0, None]
        st[1] += 1
        nc = "%08x" % st[1]
        cnonce = None
        if qop:
            # -sess: keep one cnonce per nonce so HA1 stays the same (RFC 7616 3.4.2).
            if alg.endswith("-sess"):
                cnonce = st[2] = st[2] or self._cnonce()
            else:
                cnonce = self._cnonce()
        h1 = ha1(alg, self.username, ch.realm, self.password, ch.nonce, cnonce)
        rsp = response(alg, h1, ch.nonce, method, uri, qop, nc, cnonce, body)
        user = userhash(alg, self.username, ch.realm) if ch.userhash else self.username
        parts = [
            "Digest username=" + _q(user),
            "realm=" + _q(ch.realm),
            "nonce=" + _q(ch.nonce),
            "uri=" + _q(uri),
            'response="%s"' % rsp,
            "algorithm=" + alg,
        ]
        if qop:
            parts.append("cnonce=" + _q(cnonce))
        if ch.opaque is not None:
            parts.append("opaque=" + _q(ch.opaque))
        if qop:
            parts.append("qop=" + qop)
            parts.append("nc=" + nc)
        if ch.userhash:
            parts.append("userhash=true")
        return ", ".join(parts)
