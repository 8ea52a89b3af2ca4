# Digest answers for the user agent (RFC 3261 22.2/22.3, RFC 2617, RFC 7616, RFC 8760):
# parse the WWW-/Proxy-Authenticate challenges of a 401/407, pick the strongest usable one,
# compute the response and write the Authorization/Proxy-Authorization value.
#
# Loaded by the user agent for a challenge (ua.load("auth")) and dropped again once
# answered (authorize()), in the middle of a registration or a call setup: so it holds only
# what answering needs, in few functions (each costs ~100 B of heap beyond its code, a class
# ~300 B), and a challenge here is its dict of params. The library API (digest.Challenge
# with attributes, digest.Client: nonce counts per realm, a chosen cnonce) is in
# mpsip/digest.py and the server side (challenges, checking credentials, ha1()/response())
# in digest_server.py: a board never loads them.
#
# Bad input raises DigestError: .status is 400 for a malformed header (a server answers 400;
# a client treats the 401/407 as final) and None when the header is fine but nothing in it
# can be answered (unsupported algorithm or qop: the client gives up); raisers of another
# status set it on the instance (no __init__: one function less to lend). Messages are short
# names (interned, no string object each: ~60 B apiece in a lent module).
import sys
from binascii import hexlify
from os import urandom

try:
    from hashlib import md5
except ImportError:  # some MicroPython ports build hashlib without md5
    from .md5 import md5
from hashlib import sha256


class DigestError(Exception):
    status = 400


# RFC 8760 2.3 / RFC 7616 6.1: algorithm -> (hash constructor, strength rank for pick()).
# What every port has; mpsip.digest (hosts) adds SHA-512-256 where hashlib has it.
_HASHES = {"MD5": (md5, 1), "MD5-sess": (md5, 1), "SHA-256": (sha256, 2), "SHA-256-sess": (sha256, 2)}


def _h(alg, text):
    # RFC 7616 3: H() as lower-case hex; text is str, or bytes for an entity body.
    try:
        fn = _HASHES[alg][0]
    except KeyError:
        raise DigestError("bad alg " + str(alg)) from None
    if isinstance(text, str):
        text = text.encode()
    return hexlify(fn(text).digest()).decode()


def _items(s):
    """RFC 7235 2.1 / RFC 3261 25.1: a header value (str or bytes) as [scheme, {param: value},
    token68 seen] items; digest_server parses credentials with it too.

    Commas separate both params and challenges; a token not followed by '=' starts a new
    scheme. Param names are lower-cased. Unquoted values run to ',' or whitespace.
    The walk is over bytes: indexing a str makes (on MicroPython interns) a one-character
    str, and a nonce's characters would grow the qstr pools in the middle of a call."""
    if isinstance(s, str):
        s = s.encode()
    elif not isinstance(s, (bytes, bytearray)):
        raise DigestError("not text")

    def text(b):
        try:
            return str(b, "utf-8")
        except UnicodeError:
            raise DigestError("not UTF-8") from None

    out = []
    cur = None
    after_scheme = False
    i = 0
    n = len(s)
    while True:
        while i < n and s[i] in b" \t\r\n":
            i += 1
        if i >= n:
            return out
        if s[i] == 44:  # ','
            after_scheme = False
            i += 1
            continue
        j = i
        while j < n and s[j] not in b' \t\r\n,="':
            j += 1
        if j == i:
            raise DigestError("bad char")
        name = text(s[i:j])
        k = j
        while k < n and s[k] in b" \t\r\n":
            k += 1
        bare = after_scheme and not cur[1] and not cur[2]
        if k < n and s[k] == 61:  # '='
            m = j
            while m < n and s[m] == 61:
                m += 1
            e = m
            while e < n and s[e] in b" \t\r\n":
                e += 1
            if bare and (m - j > 1 or e >= n or s[e] == 44):
                cur[2] = True  # token68, e.g. "Negotiate YII==": not ours, skipped
                i = m
                continue
            if cur is None:
                raise DigestError("no scheme")
            k += 1
            while k < n and s[k] in b" \t\r\n":
                k += 1
            if k < n and s[k] == 34:  # '"'
                # RFC 7230 3.2.6: quoted-string with quoted-pair escapes.
                val = b""
                i = k + 1
                while True:
                    q = s.find(b'"', i)
                    if q < 0:
                        raise DigestError("open quote")
                    b = s.find(b"\\", i, q)
                    if b < 0:
                        break
                    val += s[i:b] + s[b + 1 : b + 2]  # b < q, so the escaped character exists
                    i = b + 2
                val += s[i:q]
                i = q + 1
            else:
                i = k
                while i < n and s[i] not in b" \t\r\n,":
                    i += 1
                val = s[k:i]
                if not val:
                    raise DigestError("no value")
            cur[1][name.lower()] = text(val)
            after_scheme = False
        elif bare:
            cur[2] = True
            i = j
        else:
            cur = [name, {}, False]
            out.append(cur)
            after_scheme = True
            i = j


def challenges(values):
    """The Digest challenges (param dicts) in one WWW-/Proxy-Authenticate value or a list of
    them, other schemes skipped. Each has a realm and a nonce, and its "algorithm" is
    written our way (RFC 2617 3.2.1: absent means MD5; tokens match case-insensitively)."""
    if isinstance(values, (str, bytes, bytearray)):
        values = (values,)
    out = []
    for v in values:
        for item in _items(v):
            if item[0].lower() == "digest":
                p = item[1]
                if p.get("realm") is None or not p.get("nonce"):
                    raise DigestError("incomplete")
                alg = p.get("algorithm", "MD5")
                for a in _HASHES:
                    if a.lower() == alg.lower():
                        alg = a
                p["algorithm"] = alg
                out.append(p)
    return out


def pick(challenges, integrity=False):
    """(challenge, qop) for the strongest usable challenge (RFC 8760 2.4 local policy), ties
    to the first listed; qop None means an RFC 2069 answer. Within one algorithm a challenge
    we can answer with a qop beats one without, and qop=auth beats auth-int unless
    integrity (body protection) is asked for."""
    best = None
    score = 0
    pref = "auth-int" if integrity else "auth"
    for p in challenges:
        alg = p["algorithm"]
        if alg not in _HASHES:
            continue
        qop = None
        s = 0
        # Unusable: qops offered but none we know, or none offered with -sess (RFC 7616
        # 3.4.2: it needs a cnonce, sent only with a qop); else no qop is an RFC 2069 answer.
        unusable = alg.endswith("-sess")
        for q in p.get("qop", "").lower().split(","):
            q = q.strip()
            if q == pref:
                qop, s = q, 2
            elif q == "auth" or q == "auth-int":
                if s < 1:
                    qop, s = q, 1
            elif q:
                unusable = True
        if qop is None and unusable:
            continue
        s += _HASHES[alg][1] * 4
        if s > score:
            best, score = (p, qop), s
    if best is None:
        e = DigestError("no usable")
        e.status = None
        raise e
    return best


def answer(p, qop, method, uri, user, password, nc, cnonce, body=b""):
    """The Authorization/Proxy-Authorization value for challenge p; uri is the Request-URI
    (RFC 3261 22.4), qop from pick(), nc the 8-hex-digit nonce count, cnonce ours (qop only)."""
    alg = p["algorithm"]
    realm = p["realm"]
    nonce = p["nonce"]
    # RFC 7616 3.4.2: HA1 = H(user:realm:password), for -sess H(that:nonce:cnonce).
    h1 = _h(alg, "%s:%s:%s" % (user, realm, password))
    if alg.endswith("-sess"):
        h1 = _h(alg, "%s:%s:%s" % (h1, nonce, cnonce))
    a2 = method + ":" + uri
    if qop == "auth-int":  # RFC 7616 3.4.3: A2 also covers H(entity-body)
        a2 += ":" + _h(alg, body)
    a2 = _h(alg, a2)
    # RFC 7616 3.4.1 with a qop, RFC 2069 without.
    rsp = _h(alg, h1 + ":" + nonce + (":%s:%s:%s:" % (nc, cnonce, qop) if qop else ":") + a2)
    uh = p.get("userhash", "").lower() == "true"
    if uh:  # RFC 7616 3.4.4: the username field is H(username:realm)
        user = _h(alg, user + ":" + realm)
    # RFC 7616 3.4: quoted-strings (with quoted-pair escapes), but algorithm, qop and nc
    # are tokens; one format, and no list of parts, for few allocations.
    q = [user, realm, nonce, uri, cnonce, p.get("opaque")]
    for i in range(6):
        if q[i] is not None:
            q[i] = q[i].replace("\\", "\\\\").replace('"', '\\"')
    return 'Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s%s%s%s%s' % (
        q[0],
        q[1],
        q[2],
        q[3],
        rsp,
        alg,
        ', cnonce="' + q[4] + '"' if qop else "",
        "" if q[5] is None else ', opaque="' + q[5] + '"',
        ", qop=" + qop + ", nc=" + nc if qop else "",
        ", userhash=true" if uh else "",
    )


def authorize(resp, method, uri, user, password):
    """(header name, value, nonce, stale) answering the digest challenge of a 401/407
    response, or None when nothing in it can be answered. stale: the password was right
    but the nonce had expired (RFC 7616 3.3), so a second challenge is no refusal.

    The module drops itself on the way out, not after a poll() round like the other lent
    modules (ua._lent): a challenge comes once per registration or call, and what follows
    it (the call's SDP and media, the registration's answer) needs the room at once."""
    proxy = resp.status == 407
    try:
        p, qop = pick(challenges(resp.get_all("proxy-authenticate" if proxy else "www-authenticate")))
        # RFC 7616 3.4: a fresh cnonce per request; nc counts from 1 for each new nonce.
        cnonce = hexlify(urandom(8)).decode() if qop else None
        # RFC 3261 22.2/22.3: a 401 is answered with Authorization, a 407 with Proxy-Authorization.
        return (
            "proxy-authorization" if proxy else "authorization",  # the Message's keys
            answer(p, qop, method, uri, user, password, "00000001", cnonce),
            p["nonce"],
            p.get("stale", "").lower() == "true",
        )
    except DigestError:
        return None
    finally:
        # Even on a MemoryError half-way: the caller carries on without the module. As
        # ua.drop() does (not imported: a host may answer challenges without the UA loaded).
        if sys.modules.pop("mpsip.auth", None) is not None:
            try:
                delattr(sys.modules["mpsip"], "auth")
            except (KeyError, AttributeError):
                pass
