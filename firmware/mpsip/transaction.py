# SIP transactions (RFC 3261 17, with RFC 6026's Accepted state for INVITE 2xx).
#
# One class for the four kinds (client/server x INVITE/non-INVITE): a transaction is a
# state, the last message it sent, and two named timers - `retx` (A, E or G: send again)
# and `end` (B, D, F, H, I, J, K, L or M: give up or forget). Time is milliseconds from
# an injected clock with MicroPython's wrapping ticks arithmetic; tests step it and call
# tick(). Nothing here sleeps and nothing here reads a socket: send(data, addr) is given.
from mpsip.message import Request

try:
    from micropython import const
except ImportError:

    def const(x):
        return x


T1 = const(500)  # RFC 3261 17.1.1.1: RTT estimate
T2 = const(4000)  # maximum retransmit interval for non-INVITE requests and INVITE responses
T4 = const(5000)  # maximum time a message stays in the network
_64T1 = const(32000)

# States (RFC 3261 17.1.1.2, 17.1.2.2, 17.2.1, 17.2.2; RFC 6026 7.1/7.2 ACCEPTED)
CALLING = const(0)  # client INVITE; client non-INVITE uses it for "Trying"
PROCEEDING = const(1)
COMPLETED = const(2)
CONFIRMED = const(3)
ACCEPTED = const(4)
TERMINATED = const(5)
STATES = ("calling", "proceeding", "completed", "confirmed", "accepted", "terminated")

COOKIE = "z9hG4bK"  # RFC 3261 8.1.1.7: branches of RFC 3261 stacks start with it


def _key(msg, server):
    """Matching key: RFC 3261 17.1.3 (client) and 17.2.3 (server, ACK matches INVITE,
    CANCEL its own), with the RFC 2543 fallback when the branch lacks the cookie."""
    v = msg.top_via
    method = msg.cseq_method
    if server and method == "ACK":
        method = "INVITE"
    b = v.branch or ""
    if b.startswith(COOKIE):
        return "%s|%s|%s:%s|%s" % ("s" if server else "c", b, v.host, v.port, method)
    # RFC 2543: Call-ID, From tag, CSeq number and top Via together identify the request
    return "%s|%s|%s|%s|%s|%s" % ("s" if server else "c", msg.call_id, msg.from_addr.tag, msg.cseq, v.to_str(), method)


class Transaction:
    """state, req (the request), last (bytes sent last), addr (the peer), timers
    retx = [name, deadline, interval] and end = [name, deadline] or None."""

    def __init__(self, layer, req, addr, server, cb=None):
        self.layer = layer
        self.req = req
        self.addr = addr
        self.server = server
        self.invite = req.method == "INVITE"
        self.cb = cb  # client: cb(tx, response or None); server: cb(tx, None) on timeout
        self.state = CALLING  # client non-INVITE and server non-INVITE: "Trying"
        self.status = 0  # last final (or provisional) status sent or received
        self.last = None
        self.retx = None
        self.end = None
        self.error = None  # "timeout" or "transport" when the transaction failed
        self.data = None  # for the layer's user (the UA keeps its call here)
        self.key = _key(req, server)

    def __repr__(self):
        return "<Tx %s %s %s>" % ("server" if self.server else "client", self.req.method, STATES[self.state])

    # --- timers ---------------------------------------------------------------------
    def _retx(self, name, interval):
        self.retx = [name, self.layer.after(interval), interval]

    def _end(self, name, ms):
        self.end = [name, self.layer.after(ms)]

    def _send(self, data):
        self.last = data
        if not self.layer.send(data, self.addr):
            self.error = "transport"  # RFC 3261 17.1.4 / 17.2.4: tell the TU, end the transaction
            self._terminate()
            if self.cb:
                self.cb(self, None)
            return False
        return True

    def _terminate(self):
        self.state = TERMINATED
        self.retx = self.end = None
        self.layer.forget(self)

    def fire(self, now):
        """Run the timers that are due (the layer calls this from tick())."""
        diff = self.layer.diff
        r = self.retx
        if r and diff(now, r[1]) >= 0:
            # A doubles without bound (17.1.1.2); E, G and the 2xx double up to T2
            # (17.1.2.2, 17.2.1, 13.3.1.4); E stays at T2 once a provisional arrived.
            iv = r[2] * 2
            if r[0] != "A" and iv > T2 or r[0] == "E" and self.state == PROCEEDING:
                iv = T2
            r[1] = self.layer.after(iv)
            r[2] = iv
            self.layer.send(self.last, self.addr)
        e = self.end
        if e and diff(now, e[1]) >= 0:
            name = e[0]
            self._terminate()
            # B/F: no final response (17.1.1.2, 17.1.2.2); H: no ACK for our error response
            # (17.2.1); L with our 2xx unacknowledged: the UA ends the call with BYE (13.3.1.4).
            # D, I, J, K and M only end the absorbing of retransmissions.
            if name in "BFH" or name == "L" and self.status > 0:
                self.error = "timeout"
                if self.cb:
                    self.cb(self, None)

    # --- client side (RFC 3261 17.1) ----------------------------------------------------
    def start(self):
        if not self._send(self.req.to_bytes()):
            return
        # Timer A/E: retransmit (unreliable transport); Timer B/F: give up after 64*T1
        self._retx("A" if self.invite else "E", T1)
        self.end = ["B" if self.invite else "F", self.layer.after(_64T1)]

    def on_response(self, resp):
        st = resp.status
        if self.state in (COMPLETED, TERMINATED):
            if self.invite and st >= 300 and self.state == COMPLETED:
                self.layer.send(self.last, self.addr)  # 17.1.1.2: resend the ACK, absorb
            return
        if self.state == ACCEPTED:
            if 200 <= st < 300:
                self.cb(self, resp)  # RFC 6026 7.2: 2xx retransmissions go up: the UA re-ACKs
            return
        self.status = st
        if st < 200:
            if self.state == CALLING:
                self.state = PROCEEDING
                if self.invite:
                    self.retx = None  # 17.1.1.2: no more INVITE retransmissions; B still runs
            self.cb(self, resp)
            return
        self.retx = None
        if self.invite and st < 300:
            # RFC 6026 7.2: Accepted; Timer M keeps absorbing (forked) 2xx for 64*T1
            self.state = ACCEPTED
            self.end = ["M", self.layer.after(_64T1)]
        elif self.invite:
            # 17.1.1.3: the ACK for a non-2xx final is part of the transaction
            self.state = COMPLETED
            self.last = ack_for(self.req, resp).to_bytes()
            self.layer.send(self.last, self.addr)
            self._end("D", _64T1)
        else:
            self.state = COMPLETED
            self._end("K", T4)
        self.cb(self, resp)

    # --- server side (RFC 3261 17.2) ----------------------------------------------------
    def respond(self, resp):
        """Send a response to this transaction's request (the UA builds it)."""
        if self.state >= COMPLETED:
            return False
        st = resp.status
        self.status = st
        if not self._send(resp.to_bytes()):
            return False
        if st < 200:
            self.state = PROCEEDING
        elif not self.invite:
            self.state = COMPLETED
            self._end("J", _64T1)  # 17.2.2: absorb request retransmissions
        elif st < 300:
            # RFC 6026 7.1: Accepted; the 2xx is sent again (13.3.1.4: T1 doubling up to T2)
            # until the UA reports the ACK (acked()) or Timer L/H runs out: then BYE.
            self.state = ACCEPTED
            self._retx("2xx", T1)
            self.end = ["L", self.layer.after(_64T1)]
        else:
            self.state = COMPLETED
            self._retx("G", T1)
            self.end = ["H", self.layer.after(_64T1)]
        return True

    def acked(self):
        """The UA saw the ACK for our 2xx (it has its own branch: 17.1.1.3)."""
        if self.state == ACCEPTED:
            self.retx = None
            self.status = -self.status  # remembered as acknowledged
            self.end = ["L", self.end[1]]

    def on_request(self, req):
        """A retransmission of our request, or the ACK for our non-2xx final response."""
        if req.method == "ACK":
            if self.state == COMPLETED and self.invite:
                self.state = CONFIRMED  # 17.2.1: Timer I absorbs ACK retransmissions
                self.retx = None
                self._end("I", T4)
            return
        if self.last is not None and self.state != CONFIRMED:
            self.layer.send(self.last, self.addr)  # 17.2.1 / 17.2.2: resend the last response


def ack_for(invite, resp):
    """RFC 3261 17.1.1.3: the ACK for a non-2xx final response: the INVITE's R-URI, top
    Via, From, Call-ID, CSeq number and Route, the response's To (with its tag)."""
    hs = [("via", invite.get_all("via")[0]), ("max-forwards", "70")]
    for k in ("from", "call-id"):
        hs.append((k, invite.get(k)))
    hs.append(("to", resp.get("to")))
    hs.append(("cseq", "%d ACK" % invite.cseq))
    for r in invite.get_all("route"):
        hs.append(("route", r))
    return Request("ACK", invite.uri, hs)


class Transactions:
    """The transaction table. send(data, addr) -> bool is the transport's; clock has
    ticks_ms/ticks_add/ticks_diff (mpsip.media.Clock or a test's fake)."""

    def __init__(self, send, clock):
        self.send = send
        self.clock = clock
        self.diff = clock.ticks_diff
        self.table = {}

    def now(self):
        return self.clock.ticks_ms()

    def after(self, ms):
        return self.clock.ticks_add(self.clock.ticks_ms(), ms)

    def forget(self, tx):
        if self.table.get(tx.key) is tx:
            del self.table[tx.key]

    def client(self, req, addr, cb):
        """Start a client transaction: the request goes out now; cb(tx, resp) for each
        response, cb(tx, None) on timeout or transport error (tx.error says which)."""
        tx = Transaction(self, req, addr, False, cb)
        self.table[tx.key] = tx
        tx.start()
        return tx

    def server(self, req, addr, cb=None):
        """A new server transaction for a request no transaction matched (see match)."""
        tx = Transaction(self, req, addr, True, cb)
        self.table[tx.key] = tx
        return tx

    def match(self, msg):
        """The transaction a response or a request belongs to, or None."""
        return self.table.get(_key(msg, isinstance(msg, Request)))

    def tick(self):
        """Fire due timers; returns the milliseconds until the next one (at most 1000)."""
        now = self.now()
        for tx in list(self.table.values()):
            tx.fire(now)
        wait = 1000
        for tx in self.table.values():
            for t in (tx.retx, tx.end):
                if t:
                    d = self.diff(t[1], now)
                    if d < wait:
                        wait = d if d > 0 else 0
        return wait
