# Fakes for the transaction and user-agent tests: a clock in milliseconds with
# MicroPython's wrapping ticks arithmetic (tests step it; nothing sleeps), a transport that
# records what is sent, and helpers to answer what the user agent sent, as a peer would.
from mpsip.message import Request, Response, parse

_MASK = (1 << 30) - 1
_HALF = 1 << 29


class Clock:
    def __init__(self, t=0):
        self.t = t

    def ticks_ms(self):
        return self.t & _MASK

    def ticks_us(self):
        return (self.t * 1000) & _MASK

    def ticks_diff(self, a, b):
        return ((a - b + _HALF) & _MASK) - _HALF

    def ticks_add(self, a, b):
        return (a + b) & _MASK


class Wire:
    """A transport: send() records (bytes, addr); `up` False makes sends fail."""

    def __init__(self):
        self.sent = []
        self.up = True

    def send(self, data, addr):
        if not self.up:
            return False
        self.sent.append((data, addr))
        return True

    def recv(self):
        return None

    def take(self):
        """Everything sent since the last take(), parsed, with its destination."""
        out = [(parse(d), a) for d, a in self.sent]
        self.sent = []
        return out

    def last(self):
        return parse(self.sent[-1][0])


def step(clock, ticker, ms, quantum=50):
    """Advance time by ms in small steps, running timers as a main loop would."""
    end = clock.t + ms
    while clock.t < end:
        clock.t = min(clock.t + quantum, end)
        ticker.tick()


PEER = ("127.0.0.1", 5080)


def answer(req, status, tag="peer1", extra=(), body=b"", reason=None):
    """A response to req as a peer would write it (its tag, Contact, headers)."""
    r = req.response(status, reason, to_tag=tag)
    for k, v in extra:
        r.headers.append((k.lower(), v))
    if body:
        r.headers.append(("content-type", "application/sdp"))
        r.body = body
    return r.to_bytes()


def request(
    method,
    uri="sip:door@127.0.0.1:5062",
    call_id="c1@peer",
    ftag="ptag",
    to_tag=None,
    cseq=1,
    branch=None,
    extra=(),
    body=b"",
):
    """A request from the peer at PEER."""
    hs = [
        ("Via", "SIP/2.0/UDP %s:%d;branch=%s" % (PEER[0], PEER[1], branch or ("z9hG4bK" + method.lower() + str(cseq)))),
        ("Max-Forwards", "70"),
        ("From", "<sip:alice@127.0.0.1>;tag=" + ftag),
        ("To", "<sip:door@127.0.0.1>" + (";tag=" + to_tag if to_tag else "")),
        ("Call-ID", call_id),
        ("CSeq", "%d %s" % (cseq, method)),
        ("Contact", "<sip:alice@%s:%d>" % PEER),
    ]
    hs.extend(extra)
    if body and not [k for k, _ in extra if k.lower() == "content-type"]:
        hs.append(("Content-Type", "application/sdp"))
    return Request(method, uri, hs, body).to_bytes()


def offer(port=30000, codecs="0 8 101", extra=""):
    """An SDP offer from the peer."""
    lines = [
        "v=0",
        "o=- 1 1 IN IP4 127.0.0.1",
        "s=-",
        "c=IN IP4 127.0.0.1",
        "t=0 0",
        "m=audio %d RTP/AVP %s" % (port, codecs),
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-15",
    ]
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n").encode()


def statuses(msgs):
    return [m.status for m, _ in msgs if isinstance(m, Response)]


def methods(msgs):
    return [m.method for m, _ in msgs if isinstance(m, Request)]
