# A user agent wired to a fake transport and a stepped clock (sipfakes.py), shared by
# test_register.py, test_ua.py and test_call.py.
import sys

from sipfakes import Clock, Wire, answer

from mpsip.ua import UserAgent, drop

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


def without_heap(fn, *args):
    """fn(*args) while no response can be built (Response.to_bytes raises MemoryError): a
    UA in a heap too full or too broken up for the answer."""
    from mpsip.message import Response

    saved = Response.to_bytes

    def no_heap(self):
        raise MemoryError

    Response.to_bytes = no_heap
    try:
        return fn(*args)
    finally:
        Response.to_bytes = saved


def verified(value, method, uri):
    """The registrar's (or proxy's) check of the credentials the UA sent: RFC 3261 22.4 with
    the digest module's verify(), which the KAT vectors test. Loaded here and dropped again:
    the UA's tests run without it, as the UA does between challenges."""
    loaded = "mpsip.digest" in sys.modules  # pytest: another test file may hold it
    from mpsip import digest

    try:
        cred = digest.parse_authorization(value)
        return digest.verify(cred, method, password="doorpw") and cred.uri == uri
    finally:
        if not loaded:
            drop("digest")


def _challenge(req, nonce="n1", stale=False, status=401):
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return answer(req, status, extra=((name, CHALLENGE % (nonce, ", stale=true" if stale else "")),))


def _registered(expires=600, granted=120):
    ua, clock, wire, events = make(expires=expires)
    ua.register()
    req = wire.last()
    deliver(ua, _challenge(req), REG)
    req = wire.last()
    deliver(ua, answer(req, 200, extra=(("Contact", "<sip:door@127.0.0.1:5062>;expires=%d" % granted),)), REG)
    wire.sent = []
    return ua, clock, wire, events, req
