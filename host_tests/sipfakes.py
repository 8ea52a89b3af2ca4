# Fakes for the transaction and user-agent tests: a clock in milliseconds with
# MicroPython's wrapping ticks arithmetic (tests step it; nothing sleeps), a transport that
# records what is sent, and helpers to answer what the user agent sent, as a peer would.
from mpsip.message import Request, Response, parse
from mpsip.transaction import const

_MASK = const((1 << 30) - 1)  # (const: every global name costs the heap a qstr)
_HALF = const(1 << 29)


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
    """A transport: send() records (bytes, addr); `up` False makes sends fail; recv()
    hands out what a test put in `inbox`, as a socket would (a peer's datagrams)."""

    def __init__(self):
        self.sent = []
        self.inbox = []
        self.up = True

    def send(self, data, addr):
        if not self.up:
            return False
        self.sent.append((data, addr))
        return True

    def recv(self):
        return self.inbox.pop(0) if self.inbox else None

    def take(self):
        """Everything sent since the last take(), parsed, with its destination."""
        out = [(parse(d), a) for d, a in self.sent]
        self.sent = []
        return out

    def last(self):
        return parse(self.sent[-1][0])

    def addrs(self):
        """Where everything sent since the last call went (nothing parsed)."""
        out = [a for _, a in self.sent]
        self.sent = []
        return out


def step(clock, ua, ms, q=50):
    """Advance time by ms in steps of q ms, running the timers of ua (or of any object with
    tick()) as a main loop would."""
    end = clock.t + ms
    while clock.t < end:
        clock.t = min(clock.t + q, end)
        ua.tick()


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


# The peer's requests and offers are written out, as a peer's stack would: building them
# with mpsip.message would cost the tests' heap a Request per datagram.
_REQUEST = (
    "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=%s\r\nMax-Forwards: 70\r\n"
    "From: <sip:alice@127.0.0.1>;tag=%s\r\nTo: <sip:door@127.0.0.1>%s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
    "Contact: <sip:alice@127.0.0.1:5080>\r\n%sContent-Length: %d\r\n\r\n"
)


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
    hs = "".join(["%s: %s\r\n" % h for h in extra])
    if body and "Content-Type:" not in hs:
        hs += "Content-Type: application/sdp\r\n"
    branch = branch or "z9hG4bK%s%d" % (method.lower(), cseq)
    to = ";tag=" + to_tag if to_tag else ""
    return (_REQUEST % (method, uri, branch, ftag, to, call_id, cseq, method, hs, len(body))).encode() + body


def offer(port=30000, codecs="0 8 101", extra=""):
    """An SDP offer from the peer."""
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP %s\r\n"
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n%s"
        % (port, codecs, extra + "\r\n" if extra else "")
    ).encode()


def statuses(sent):
    """The statuses of the responses sent. `sent` is a Wire - its datagrams are read by
    their first line only and forgotten (parsing them all costs the heap more than the
    code under test) - or take()'s list."""
    if isinstance(sent, Wire):
        out = [int(d[8:11]) for d, _ in sent.sent if d[:8] == b"SIP/2.0 "]
        sent.sent = []
        return out
    return [m.status for m, _ in sent if isinstance(m, Response)]


def methods(sent):
    """The methods of the requests sent, as statuses() reads them."""
    if isinstance(sent, Wire):
        out = [d[: d.find(b" ")].decode() for d, _ in sent.sent if d[:8] != b"SIP/2.0 "]
        sent.sent = []
        return out
    return [m.method for m, _ in sent if isinstance(m, Request)]
