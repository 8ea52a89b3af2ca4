"""SIP Digest authentication, the client library (RFC 3261 22, RFC 2617, RFC 7616, RFC 8760).

    chs = digest.parse_challenges(values, proxy=False)  # WWW-/Proxy-Authenticate values
    ch = digest.pick(chs)              # strongest usable: SHA-512-256 > SHA-256 > MD5
    auth = digest.Client("alice", "secret")        # keeps nc per nonce
    hdr = auth.authorize(ch, "REGISTER", "sip:example.com", body)
    # send hdr as ch.header ("Authorization" or "Proxy-Authorization")

`ch.stale` true means the password was right but the nonce expired: retry with the
new challenge without asking the user again (nc restarts at 00000001).

The parsing, picking and answering live in mpsip/auth.py, the module the user agent
lends itself for a 401/407 (ua.load("auth")), where a challenge is a dict of params. This
module adds the library view over it for hosts and tests (tools/proxy.py, the benchmarks):
Challenge objects with attributes, pick() by realm, and the Client that keeps nonce counts
across requests. A board never loads it. The server side (issuing challenges, checking credentials, the
lower-level ha1(), response(), userhash()) is in mpsip/digest_server.py.

Bad input raises DigestError. .status is 400 for a malformed header (a server answers
400; a client treats the 401/407 as final) and None when the header is fine but
nothing in it can be answered (unsupported algorithm/qop: the client gives up).
Algorithms: MD5, MD5-sess, SHA-256, SHA-256-sess, and SHA-512-256(-sess) where the
runtime's hashlib has it (CPython with OpenSSL; not MicroPython).
"""

from binascii import hexlify
from os import urandom

from mpsip import auth

# This module's API, and what digest_server.py takes from here: through one binding of
# mpsip.auth, which the user agent drops and reloads, so that one DigestError class is raised
# and caught.
from mpsip.auth import _HASHES, DigestError, _h, _items  # noqa: F401

# RFC 8760 2.3: SHA-512-256 where hashlib has it (CPython with OpenSSL; MicroPython's hashlib
# has no new() nor SHA-512). Registered here, not in the module the board lends itself for a
# 401/407 (auth.py), where it could never be used; auth answers whatever _HASHES holds.
try:
    from functools import partial
    from hashlib import new

    new("sha512_256")
    _HASHES["SHA-512-256"] = _HASHES["SHA-512-256-sess"] = (partial(new, "sha512_256"), 3)
except (ImportError, ValueError):
    pass


class Challenge:
    """One Digest challenge (a WWW-Authenticate or Proxy-Authenticate value). params is
    the dict auth.py works on (algorithm in our spelling, MD5 when absent)."""

    def __init__(self, params, proxy=False):
        self.params = params
        self.realm = params["realm"]
        self.nonce = params["nonce"]
        self.opaque = params.get("opaque")
        self.algorithm = params["algorithm"]
        self.qops = [q.strip().lower() for q in params.get("qop", "").split(",") if q.strip()]
        self.stale = params.get("stale", "").lower() == "true"
        self.userhash = params.get("userhash", "").lower() == "true"
        # RFC 3261 22.2/22.3: 401 -> Authorization, 407 -> Proxy-Authorization.
        self.header = "Proxy-Authorization" if proxy else "Authorization"

    def __repr__(self):
        return "<Challenge %s realm=%r alg=%s qop=%s>" % (self.header, self.realm, self.algorithm, self.qops)


def parse_challenges(values, proxy=False):
    """Digest challenges from one header value or a list of them; other schemes skipped."""
    return [Challenge(p, proxy) for p in auth.challenges(values)]


def pick(challenges, realm=None, integrity=False):
    """Strongest usable challenge (auth.pick: RFC 8760 2.4 local policy), of realm if given."""
    best = auth.pick([c.params for c in challenges if realm is None or c.realm == realm], integrity)[0]
    for c in challenges:
        if c.params is best:
            return c


def _cnonce():
    return hexlify(urandom(8)).decode()


class Client:
    """Answers challenges for one account; keeps the nonce count per realm and nonce."""

    def __init__(self, username, password, cnonce=None, integrity=False):
        self.username = username
        self.password = password
        self.integrity = integrity
        self._cnonce = cnonce or _cnonce
        self._state = {}  # realm -> [nonce, nc, sess cnonce]

    def authorize(self, ch, method, uri, body=b""):
        """The Authorization/Proxy-Authorization value; uri is the Request-URI (RFC 3261 22.4).
        DigestError (.status None) when ch cannot be answered (algorithm, qop)."""
        qop = auth.pick([ch.params], self.integrity)[1]
        st = self._state.get(ch.realm)
        if st is None or st[0] != ch.nonce:
            # RFC 7616 3.4: nc counts requests sent with this nonce; a new nonce restarts it.
            st = self._state[ch.realm] = [ch.nonce, 0, None]
        st[1] += 1
        cnonce = None
        if qop:
            # -sess: keep one cnonce per nonce so HA1 stays the same (RFC 7616 3.4.2).
            if ch.algorithm.endswith("-sess"):
                cnonce = st[2] = st[2] or self._cnonce()
            else:
                cnonce = self._cnonce()
        return auth.answer(ch.params, qop, method, uri, self.username, self.password, "%08x" % st[1], cnonce, body)
