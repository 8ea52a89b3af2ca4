"""SIP Digest authentication, the server side (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760):
issuing challenges and checking credentials, for the loopback registrar/proxy and tests.
Apart from mpsip/auth.py (what a board lends itself to answer a 401/407) so that a board
never loads it.

    guard = digest_server.Guard("example.com")     # issues nonces, tracks nc
    value = guard.challenge()                      # for WWW-Authenticate
    cred = digest_server.parse_authorization(value_from_request)
    ok, stale = guard.check(cred, "REGISTER", password=users[cred.username], uri=ruri)

Lower level: challenge(), verify(), ha1(), response(), userhash(). Bad input raises
DigestError (mpsip.auth, also mpsip.digest.DigestError; .status 400).
"""

from binascii import hexlify
from os import urandom

# Through mpsip.digest (one binding of mpsip.auth, which the UA drops and reloads; digest adds
# SHA-512-256 where hashlib has it).
from mpsip.digest import _HASHES, DigestError, _h, _items


def ha1(alg, username, realm, password, nonce="", cnonce=""):
    """RFC 7616 3.4.2: H(user:realm:password), and for -sess H(that:nonce:cnonce)."""
    return sess_ha1(alg, _h(alg, username + ":" + realm + ":" + password), nonce, cnonce)


def sess_ha1(alg, base, nonce, cnonce):
    if alg.endswith("-sess"):
        return _h(alg, base + ":" + nonce + ":" + cnonce)
    return base


def response(alg, ha1_hex, nonce, method, uri, qop=None, nc=None, cnonce=None, body=b"", body_hash=None):
    """RFC 7616 3.4.1 (qop) / RFC 2069 (no qop) request-digest, lower-case hex. The client's
    own computation is auth.answer(): both are checked against the known-answer vectors."""
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


def _q(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def challenge(realm, nonce, algorithm="MD5", qop="auth", opaque=None, stale=False, userhash=False):
    """A WWW-/Proxy-Authenticate value (RFC 3261 25.1 challenge; qop quoted, RFC 7616 3.3)."""
    parts = ["Digest realm=" + _q(realm), "nonce=" + _q(nonce)]
    if opaque is not None:
        parts.append("opaque=" + _q(opaque))
    parts.append("algorithm=" + algorithm)
    if qop:
        parts.append("qop=" + _q(qop))
    if stale:
        parts.append("stale=true")
    if userhash:
        parts.append("userhash=true")
    return ", ".join(parts)


class Credentials:
    """A parsed Authorization / Proxy-Authorization value (RFC 3261 25.1 credentials)."""

    def __init__(self, params):
        self.params = params
        for k in ("username", "realm", "nonce", "uri", "response"):
            if k not in params:
                raise DigestError("credentials without " + k)
        self.username = params["username"]
        self.realm = params["realm"]
        self.nonce = params["nonce"]
        self.uri = params["uri"]
        self.response = params["response"].lower()
        alg = params.get("algorithm", "MD5")  # RFC 2617 3.2.1: absent means MD5
        for a in _HASHES:
            if a.lower() == alg.lower():
                alg = a  # our spelling: tokens match case-insensitively
        self.algorithm = alg
        self.opaque = params.get("opaque")
        self.userhash = params.get("userhash", "").lower() == "true"
        q = params.get("qop")
        self.qop = q.lower() if q else None
        self.cnonce = params.get("cnonce")
        self.nc = params.get("nc")
        if self.qop:
            # RFC 7616 3.4: with a qop, cnonce and an 8-hex-digit nc are mandatory.
            nc = self.nc
            if self.cnonce is None or nc is None or len(nc) != 8:
                raise DigestError("qop without cnonce/nc")
            for c in nc.lower():
                if c not in "0123456789abcdef":
                    raise DigestError("bad nc")
            self.nc = nc.lower()


def parse_authorization(value):
    items = _items(value)
    if len(items) != 1 or items[0][0].lower() != "digest":
        raise DigestError("not one Digest credentials value")
    return Credentials(items[0][1])


def _same(a, b):
    # Compare every character so the time does not tell how much of a guess was right.
    if len(a) != len(b):
        return False
    r = 0
    for i in range(len(a)):
        r |= ord(a[i]) ^ ord(b[i])
    return r == 0


def verify(cred, method, password=None, ha1_hex=None, uri=None, realm=None, body=b"", username=None):
    """True if cred answers correctly for method (+ uri, realm when given).

    ha1_hex is the stored H(user:realm:password) for cred.algorithm (the -sess step is
    applied here). With userhash=true, pass the clear username the hash was matched to."""
    alg = cred.algorithm
    if alg not in _HASHES or cred.qop not in (None, "auth", "auth-int"):
        return False
    if realm is not None and cred.realm != realm:
        return False
    # RFC 7616 3.4.6 / RFC 3261 22.4: the digest uri must be the request's URI.
    if uri is not None and cred.uri != uri:
        return False
    user = cred.username
    if cred.userhash:
        if username is None or not _same(userhash(alg, username, cred.realm), user.lower()):
            return False
        user = username
    if ha1_hex is None:
        if password is None:
            e = DigestError("verify needs password or ha1_hex")
            e.status = 500  # the caller's mistake, not the request's
            raise e
        ha1_hex = _h(alg, user + ":" + cred.realm + ":" + password)
    h1 = sess_ha1(alg, ha1_hex, cred.nonce, cred.cnonce or "")
    expect = response(alg, h1, cred.nonce, method, cred.uri, cred.qop, cred.nc, cred.cnonce, body)
    return _same(expect, cred.response)


class Guard:
    """Server side: issues nonces, checks answers, rejects replayed nonce counts.

    clock() returns seconds (injected for tests); nonces live ttl seconds; at most
    `size` nonces are remembered (oldest dropped). check() returns (ok, stale): on
    stale, re-challenge with challenge(stale=True) (RFC 7616 3.3)."""

    def __init__(self, realm, algorithms=("MD5",), qop="auth", ttl=300, size=16, rand=None, clock=None):
        self.realm = realm
        self.algorithms = algorithms
        self.qop = qop
        self.ttl = ttl
        self.size = size
        self._rand = rand or urandom
        if clock is None:
            from time import time as clock
        self._clock = clock
        self._nonces = {}  # nonce -> [issued at, highest nc seen]

    def challenges(self, stale=False):
        """One value per algorithm, sharing one fresh nonce (RFC 8760 2.4: preferred first)."""
        nonce = hexlify(self._rand(16)).decode()
        if len(self._nonces) >= self.size:
            oldest = min(self._nonces, key=lambda k: self._nonces[k][0])
            del self._nonces[oldest]
        self._nonces[nonce] = [self._clock(), 0]
        return [challenge(self.realm, nonce, a, self.qop, None, stale) for a in self.algorithms]

    def challenge(self, stale=False):
        return self.challenges(stale)[0]

    def check(self, cred, method, password=None, ha1_hex=None, uri=None, body=b"", username=None):
        if cred.algorithm not in self.algorithms:
            return False, False
        # A challenge with qop must be answered with one of its qops (no downgrade to RFC 2069).
        if self.qop and cred.qop not in [q.strip() for q in self.qop.split(",")]:
            return False, False
        if not verify(cred, method, password, ha1_hex, uri, self.realm, body, username):
            return False, False
        rec = self._nonces.get(cred.nonce)
        if rec is None or self._clock() - rec[0] > self.ttl:
            return False, True  # right password, old or unknown nonce
        if cred.qop:
            nc = int(cred.nc, 16)
            if nc <= rec[1]:
                return False, False  # RFC 7616 3.4: replayed nonce count
            rec[1] = nc
        return True, False
