# A user agent wired to a fake transport and a stepped clock (sipfakes.py), shared by
# test_register.py, test_ua.py, test_call.py and test_call_in.py.

from sipfakes import PEER, Clock, Wire, answer, offer, request

from mpsip.message import parse
from mpsip.ua import UserAgent

REG = ("127.0.0.1", 5060)
BACKUP = ("127.0.0.1", 5070)


def make(backup=None, expires=600, **kw):
    clock = Clock()
    wire = Wire()
    events = []
    ua = UserAgent(
        wire,
        clock,
        "door",
        "127.0.0.1",
        REG,
        password="doorpw",
        backup=backup,
        expires=expires,
        local=("127.0.0.1", 5062),
        on_event=lambda name, call, arg: events.append((name, arg)),
        **kw,
    )
    return ua, clock, wire, events


def deliver(ua, data, addr):
    """A datagram from addr, read by poll() as on the board, then a round with nothing to
    read (the board's loop makes one within 20 ms): it drops what was loaded on demand
    (mpsip.rare, mpsip.auth), so the tests run in the heap the board has."""
    ua.transport.inbox.append((data, addr))
    ua.poll()
    ua.poll()


# A registrar's challenge, written out: the UA's tests do not load the digest module for it.
CHALLENGE = 'Digest realm="127.0.0.1", nonce="%s", algorithm=MD5, qop="auth"%s'


def without_heap(fn, *args, cls=None):
    """fn(*args) while no response (or, with cls=Request, no request) can be built
    (to_bytes raises MemoryError): a UA in a heap too full or too broken up for it."""
    if cls is None:
        from mpsip.message import Response as cls

    saved = cls.to_bytes

    def no_heap(self):
        raise MemoryError

    cls.to_bytes = no_heap
    try:
        return fn(*args)
    finally:
        cls.to_bytes = saved


def verified(value, method, uri):
    """The registrar's (or proxy's) check of the credentials the UA sent (RFC 2617 3.2.2.1,
    qop=auth, MD5), recomputed here with the password it knows - not with mpsip.digest,
    which the KAT vectors test: loading it (~11 KB) beside the UA would cost the tests the
    heap the board has."""
    from binascii import hexlify
    from hashlib import md5

    f = {}
    for item in value[7:].split(","):  # after "Digest "; no value here holds a comma
        k, _, v = item.strip().partition("=")
        f[k] = v.strip('"')
    want = [f["username"], f["realm"], "doorpw"], [method, f["uri"]]
    want = [hexlify(md5(":".join(p).encode()).digest()).decode() for p in want]
    if "qop" in f:  # response = H(HA1:nonce:nc:cnonce:qop:HA2), or H(HA1:nonce:HA2)
        want = [want[0], f["nonce"], f["nc"], f["cnonce"], f["qop"], want[1]]
    else:
        want = [want[0], f["nonce"], want[1]]
    want = hexlify(md5(":".join(want).encode()).digest()).decode()
    return value[:7] == "Digest " and f["response"] == want and f["uri"] == uri


def _challenge(req, nonce="n1", stale=False, status=401):
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return answer(req, status, extra=((name, CHALLENGE % (nonce, ", stale=true" if stale else "")),))


def _registered(expires=600, granted=120):
    ua, clock, wire, events = make(expires=expires)
    ua.register()
    deliver(ua, _challenge(wire.last()), REG)
    req = wire.sent[-1][0]  # the REGISTER with credentials, as bytes: parsed, the tests
    ok = answer(parse(req), 200, extra=(("Contact", "<sip:door@127.0.0.1:5062>;expires=%d" % granted),))
    deliver(ua, ok, REG)  # would hold ~3.5 KB of the heap they share with the UA
    wire.sent = []
    return ua, clock, wire, events, req


# The Record-Route of the two proxies the scripted peer's requests come through.
RR = (("Record-Route", "<sip:127.0.0.1:5060;lr>"), ("Record-Route", "<sip:10.0.0.2;lr>"))


def incoming(body=None, extra=()):
    """A user agent an INVITE (our offer() unless body is given) has just reached."""
    ua, clock, wire, events = make()
    deliver(ua, request("INVITE", body=offer() if body is None else body, extra=RR + tuple(extra)), PEER)
    return ua, clock, wire, events


def sdp_answer(msg, port=30000):
    """The peer's answer to our offer: PCMU and telephone-event, written as its stack would."""
    assert b"m=audio 40000 RTP/AVP 0 8 101" in msg.body
    return offer(port, "0 101")
