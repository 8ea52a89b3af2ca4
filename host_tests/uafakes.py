# A user agent wired to a fake transport and a stepped clock (sipfakes.py), shared by
# test_register.py, test_ua.py and test_call.py.
from sipfakes import Clock, Wire, answer

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


def _challenge(req, nonce="n1", stale=False, status=401):
    from mpsip import digest  # here: test files that need no digest do not load it

    h = digest.challenge("127.0.0.1", nonce, stale=stale)
    name = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
    return answer(req, status, extra=((name, h),))


def _registered(expires=600, granted=120):
    ua, clock, wire, events = make(expires=expires)
    ua.register()
    req = wire.last()
    ua.feed(_challenge(req), REG)
    req = wire.last()
    ua.feed(answer(req, 200, extra=(("Contact", "<sip:door@127.0.0.1:5062>;expires=%d" % granted),)), REG)
    wire.sent = []
    return ua, clock, wire, events, req
