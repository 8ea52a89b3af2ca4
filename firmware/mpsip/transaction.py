# SIP transactions (RFC 3261 17, with RFC 6026's Accepted state for INVITE 2xx).
#
# One class for the four kinds (client/server x INVITE/non-INVITE): a transaction is a
# state, the last message it sent, and two named timers - `retx` (A, E or G: send again)
# and `end` (B, C, D, F, H, I, J, K, L or M: give up or forget). Time is milliseconds from
# an injected clock with MicroPython's wrapping ticks arithmetic; tests step it and call
# tick(). Nothing here sleeps and nothing here reads a socket: send(data, addr) is given.
#
# Heap: a finished transaction only absorbs retransmissions for up to 64*T1, so once its
# final response is sent or received it keeps the key, the bytes to send again and its
# timers; the parsed request (~4 KB), the callback and the user's data (a Call) go. Each side
# is bounded (Transactions' max_tx, ours a quarter of it): beyond it the finished one nearest its end goes
# early. Our own client transactions never count against the server side, so they never make
# us refuse a request, and a full table never stops us from sending (a BYE to hang up).
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
# RFC 3261 16.6 step 11: a proxy gives up on an unanswered INVITE after Timer C (> 3 min);
# an INVITE we never answer (the user away, or no heap to build the answer) ends then too.
_C_MS = const(180000)

# Timers by their RFC 3261 letter: A is 0 ... M is 12 ("ABCDEFGHIJKLM"[n] names one), and
# 13 the 2xx retransmission of 13.3.1.4. Numbers, not letters: every short string constant
# is a name in MicroPython's qstr pools, for good.
_A = const(0)
_B = const(1)
_C = const(2)
_D = const(3)
_E = const(4)
_F = const(5)
_G = const(6)
_H = const(7)
_I = const(8)
_J = const(9)
_K = const(10)
_L = const(11)
_M = const(12)
_2XX = const(13)
MAX_TX = const(16)  # the board's bound of server transactions, ours a quarter (Transactions')

# States (RFC 3261 17.1.1.2, 17.1.2.2, 17.2.1, 17.2.2; RFC 6026 7.1/7.2 ACCEPTED)
CALLING = const(0)  # client INVITE; client and server non-INVITE use it for "Trying"
PROCEEDING = const(1)
COMPLETED = const(2)
CONFIRMED = const(3)
ACCEPTED = const(4)
TERMINATED = const(5)

COOKIE = "z9hG4bK"  # RFC 3261 8.1.1.7: branches of RFC 3261 stacks start with it


def _key(msg, server, method=None):
    """Matching key: RFC 3261 17.1.3 (client) and 17.2.3 (server, ACK matches INVITE,
    CANCEL its own unless method says otherwise), with the RFC 2543 fallback when the
    branch lacks the cookie."""
    v = msg.top_via
    method = method or msg.cseq_method
    if server and method == "ACK":
        method = "INVITE"
    b = v.branch or ""
    if b.startswith(COOKIE):
        return "%s|%s|%s:%s|%s" % ("s" if server else "c", b, v.host, v.port, method)
    # RFC 2543: Call-ID, From tag, CSeq number and top Via together identify the request
    return "%s|%s|%s|%s|%s|%s" % ("s" if server else "c", msg.call_id, msg.from_addr.tag, msg.cseq, v.to_str(), method)


def keep_copied(msg):
    """Trim a request to what its transaction still copies from it: the headers of a
    response (RFC 3261 8.2.6.2, Record-Route 12.1.1), of the ACK for a non-2xx (17.1.1.3)
    and of a CANCEL (9.1) - no body, no other header, no parsed view. For an INVITE, read
    once: while it rings, the rest (its SDP and a dozen headers, ~1.5 KB) would take room
    the answer's bytes need. (Ours is sent again from its bytes, kept in `last`.)"""
    hs = []
    for h in msg.headers:
        k = h[0]
        if (
            k == "via"
            or k == "from"
            or k == "to"
            or k == "call-id"
            or k == "cseq"
            or k == "route"
            or k == "record-route"
        ):
            hs.append(h)
    msg.headers = hs
    msg.body = b""
    msg._c = None  # the views' cache (mpsip.message): parsed again if ever asked for


class Transaction:
    """state, req (the request, None once finished; a client INVITE's cut to what its ACK
    and CANCEL copy, a client non-INVITE's None once sent: `last` has its bytes), cseq
    (server INVITE only), last (bytes sent last), addr (the peer), timers retx = [name,
    deadline, interval] and end = (name, deadline) - a tuple, one GC block, as it is never
    changed. What most transactions leave at its default is a class attribute: an instance
    keeps its attributes in a dict (13 of them take 96 B more than 12), and a finished one
    stays for 64*T1."""

    state = CALLING
    status = 0  # last final (or provisional) status sent or received
    last = retx = end = None
    invite = False
    cseq = None
    error = None  # "timeout" or "transport" when the transaction failed
    data = None  # for the layer's user (the UA keeps its call here)
    mid = None  # the UA's merged-request key (RFC 3261 8.2.2.2), server requests only

    def __init__(self, layer, req, addr, server, cb=None):
        self.layer = layer
        self.req = req
        self.addr = addr
        if req.method == "INVITE":
            self.invite = True
            if server:  # the ACK for our 2xx is matched by it (Call.on_ack)
                self.cseq = req.cseq
        self.cb = cb  # client: cb(tx, response or None); server: cb(tx, None) on timeout
        self.key = _key(req, server)
        if server:
            # A guard until the final response: no path (a MemoryError while the response
            # is built included) leaves a server transaction without a timer. Non-INVITE:
            # the client gave up at 64*T1 (Timer F); INVITE: Timer C, above.
            self.end = (_C, layer.after(_C_MS)) if self.invite else (_J, layer.after(_64T1))

    # --- timers ---------------------------------------------------------------------
    def _send(self, data):
        self.last = data
        if not self.layer.send(data, self.addr):
            self.error = "transport"  # RFC 3261 17.1.4 / 17.2.4: tell the TU, end the transaction
            self.terminate()
            if self.cb:
                self.cb(self, None)
            return False
        return True

    def terminate(self):
        self.state = TERMINATED
        self.retx = self.end = self.req = self.last = None
        t = self.layer.table
        if t.get(self.key) is self:
            del t[self.key]

    def fire(self, now):
        """Run the timers that are due (the layer calls this from tick())."""
        diff = self.layer.clock.ticks_diff
        r = self.retx
        if r and diff(now, r[1]) >= 0:
            # A doubles without bound (17.1.1.2); E, G and the 2xx double up to T2
            # (17.1.2.2, 17.2.1, 13.3.1.4); E stays at T2 once a provisional arrived.
            iv = r[2] * 2
            if r[0] != _A and iv > T2 or r[0] == _E and self.state == PROCEEDING:
                iv = T2
            r[1] = self.layer.after(iv)
            r[2] = iv
            self.layer.send(self.last, self.addr)
        e = self.end
        if e and diff(now, e[1]) >= 0:
            name = e[0]
            if name == _C and self.cb:
                # An INVITE never answered: RFC 3261 13.3.1 - an invitation that expires
                # before the UAS has generated a final response gets 487. The UA builds it
                # (respond(): Timer H then absorbs the ACK); without heap for it, or no
                # answer made, the transaction just ends.
                self.end = None
                self.error = "timeout"
                self.cb(self, None)
                if self.state < COMPLETED:
                    self.terminate()
                return
            self.terminate()
            # B/F: no final response (17.1.1.2, 17.1.2.2); H: no ACK for our error response
            # (17.2.1); C: an INVITE never answered; L with our 2xx unacknowledged: the UA
            # ends the call with BYE (13.3.1.4). D, I, J, K and M only end the absorbing.
            if name == _B or name == _C or name == _F or name == _H or name == _L and self.status > 0:
                self.error = "timeout"
                if self.cb:
                    self.cb(self, None)

    # --- client side (RFC 3261 17.1; started by Transactions.client) --------------------
    def on_response(self, resp):
        st = resp.status
        s = self.state
        if s == ACCEPTED:
            if 200 <= st < 300:
                # RFC 6026 7.2: 2xx retransmissions go up: the call re-ACKs (a fork's 2xx
                # gets ACK and BYE). Once the call has ended it has left (Call._end) the ACK
                # and where it went here: the same 2xx again is ACKed again without it.
                if self.cb:
                    self.cb(self, resp)
                elif self.last and ("tag=" + (resp.to_addr.tag or "-")).encode() in self.last:
                    self.layer.send(self.last, self.addr)
            return
        if s >= COMPLETED:
            if self.invite and st >= 300 and s == COMPLETED:
                self.layer.send(self.last, self.addr)  # 17.1.1.2: resend the ACK, absorb
            return
        self.status = st
        if st < 200:
            if s == CALLING:
                self.state = PROCEEDING
                if self.invite:
                    self.retx = None  # 17.1.1.2: no more INVITE retransmissions; B still runs
            self.cb(self, resp)
            return
        self.retx = None
        self.state = COMPLETED
        if not self.invite:
            self.end = (_K, self.layer.after(T4))
        elif st < 300:
            # RFC 6026 7.2: Accepted; Timer M keeps absorbing (forked) 2xx for 64*T1
            self.state = ACCEPTED
            self.last = None
            self.end = (_M, self.layer.after(_64T1))
        else:
            # 17.1.1.3: the ACK for a non-2xx final is part of the transaction, and all that
            # is left to send: the INVITE's R-URI, top Via, From, Call-ID, CSeq number and
            # Route, the response's To (with its tag). The INVITE goes before the callback,
            # which may build the next one (a 401/407's) - both at once were the peak of a
            # call's setup.
            inv = self.req
            hs = [("via", inv.get_all("via")[0]), ("max-forwards", "70")]
            for k in ("from", "call-id"):
                hs.append((k, inv.get(k)))
            hs.append(("to", resp.get("to")))
            hs.append(("cseq", "%d ACK" % inv.cseq))
            for k in inv.get_all("route"):
                hs.append(("route", k))
            self.last = Request("ACK", inv.uri, hs).to_bytes()
            self.req = inv = hs = None
            self.layer.send(self.last, self.addr)
            self.end = (_D, self.layer.after(_64T1))
        self.cb(self, resp)
        self.req = None
        if not self.invite:
            self.last = None  # after the user's callback, which may send it again (digest)
        if self.state == COMPLETED:
            # only retransmissions to absorb: the user (a call, ~1 KB with its strings and
            # its ACK) may go - kept by the 407'd INVITE, it stayed 32 s after every call
            self.cb = None
            if self.data is not None:  # (only if set: a new entry in the dict costs heap)
                self.data = None

    # --- server side (RFC 3261 17.2) ----------------------------------------------------
    def respond(self, resp):
        """Send a response to this transaction's request (the UA builds it)."""
        if self.state >= COMPLETED:
            return False
        data = resp.to_bytes()  # first: a MemoryError here leaves the state as it was
        st = resp.status
        self.status = st
        if not self._send(data):
            return False
        if st < 200:
            self.state = PROCEEDING
            return True
        self.req = None  # final: matching and retransmission need no more than key and bytes
        if not self.invite:
            self.state = COMPLETED
            self.end = (_J, self.layer.after(_64T1))  # 17.2.2: absorb request retransmissions
        elif st < 300:
            # RFC 6026 7.1: Accepted; the 2xx is sent again (13.3.1.4: T1 doubling up to T2)
            # until the UA reports the ACK (acked()) or Timer L/H runs out: then BYE.
            self.state = ACCEPTED
            self.retx = [_2XX, self.layer.after(T1), T1]
            self.end = (_L, self.layer.after(_64T1))
        else:
            self.state = COMPLETED
            self.retx = [_G, self.layer.after(T1), T1]
            self.end = (_H, self.layer.after(_64T1))
        return True

    def acked(self):
        """The UA saw the ACK for our 2xx (it has its own branch: 17.1.1.3)."""
        if self.state == ACCEPTED:
            self.retx = None
            self.status = -self.status  # remembered as acknowledged
            self.last = None

    def on_request(self, req):
        """A retransmission of our request, or the ACK for our non-2xx final response."""
        if req.method == "ACK":
            if self.state == COMPLETED and self.invite:
                self.state = CONFIRMED  # 17.2.1: Timer I absorbs ACK retransmissions
                self.retx = self.last = None
                self.end = (_I, self.layer.after(T4))
            return
        if self.last is not None and self.state != CONFIRMED:
            self.layer.send(self.last, self.addr)  # 17.2.1 / 17.2.2: resend the last response


class Transactions:
    """The transaction table. send(data, addr) -> bool is the transport's; clock has
    ticks_ms/ticks_add/ticks_diff (mpsip.media.Clock or a test's fake)."""

    def __init__(self, send, clock, max_tx=MAX_TX):
        self.send = send
        self.clock = clock
        self.table = {}
        self.max_tx = max_tx  # server transactions (a heap guard: RFC 3261 21.5.4, 503)

    def after(self, ms):
        return self.clock.ticks_add(self.clock.ticks_ms(), ms)

    def client(self, req, addr, cb):
        """Start a client transaction: the request goes out now; cb(tx, resp) for each
        response, cb(tx, None) on timeout or transport error (tx.error says which).
        Never refused: with max_tx // 4 of ours in the table (4 on the board: a call leaves
        3 for 64*T1, and a board places one a minute), the finished one nearest its end goes
        first (see shed), so a burst of calls (a button pressed again and again) cannot fill
        the heap with transactions that only absorb retransmissions - nor leave them, ~5
        blocks each, scattered where the next call needs a piece of 1-2 KB."""
        self.shed("c", self.max_tx >> 2)
        tx = Transaction(self, req, addr, False, cb)
        # first: a MemoryError here must not leave it in the table without timers
        if tx._send(req.to_bytes()):  # (else a transport error ended it)
            # Timer A/E: retransmit (unreliable transport); Timer B/F: give up after 64*T1
            inv = tx.invite
            tx.retx = [_A if inv else _E, self.after(T1), T1]
            tx.end = (_B if inv else _F, self.after(_64T1))
            self.table[tx.key] = tx
            if inv:
                keep_copied(req)
            else:
                # A non-INVITE is all in its bytes: sent again from them, read again from
                # them (parse) in the rare case its user needs it (a challenged BYE, INFO
                # or REGISTER): its parsed form would hold ~1 KB in small blocks until the
                # answer, seconds under loss.
                tx.req = None
        return tx

    def server(self, req, addr, cb=None):
        """A new server transaction for a request no transaction matched (see match), or
        None when `max_tx` server transactions are still at work: a flood must not take the
        heap (the UA answers 503). Never refused: a BYE - the UA makes a transaction only
        for one of its calls' (else 481, stateless), and a full table must not keep a call
        (and its audio) up until the peer gives up. Client transactions (ours) do not count."""
        if req.method != "BYE" and not self.shed("s", self.max_tx):
            return None
        tx = Transaction(self, req, addr, True, cb)
        self.table[tx.key] = tx
        return tx

    def shed(self, kind, max_tx):
        """Make room on one side (kind "s" server, "c" client, None both): with max_tx or
        more of its transactions in the table, the finished one nearest its end goes;
        max_tx 0: every finished one goes (the heap ran out). False when the side is full
        and none of its transactions has finished. Finished: a final response sent or
        received and nothing left to retransmit - it only absorbs retransmissions, which
        then meet no transaction. What that gives up (RFC 3261 17.1.1.2, 17.1.2.2, 17.2.1,
        17.2.2, RFC 6026 7.1/7.2), the price of a bounded table under load:
        - ours, a non-2xx to an INVITE (Timer D): its retransmission is dropped (ua.feed ->
          rare.stray_response) and our ACK not sent again: the peer's Timer H ends it;
        - ours, a 2xx to an INVITE (Timer M): its retransmission goes to the call while it
          lasts (rare.on_2xx_again: ACKed again, a fork's gets ACK and BYE), and is dropped
          once it has ended: the peer's Timer L/H ends it (RFC 3261 13.3.1.4: it may BYE);
        - ours, a non-INVITE (Timer K): nothing, its answer was had;
        - theirs (Timers I, J, L once ACKed): a retransmitted request is handled as new
          (a BYE or INFO of a call gone: 481; a MESSAGE reported twice)."""
        n = 0
        old = None
        t = self.table.values()
        for tx in t if max_tx else list(t):  # (terminate() changes the table)
            if kind is None or tx.key[0] == kind:
                n += 1
                if tx.state >= COMPLETED and tx.retx is None:
                    if not max_tx:
                        tx.terminate()
                        old = tx
                    elif old is None or self.clock.ticks_diff(tx.end[1], old.end[1]) < 0:
                        old = tx
        if n < max_tx:
            return True
        if old and max_tx:
            old.terminate()
        return old is not None

    def match(self, msg, method=None):
        """The transaction a response or a request belongs to, or None; method="INVITE"
        finds the INVITE a CANCEL is for (RFC 3261 9.2: 17.2.3 but for the method)."""
        return self.table.get(_key(msg, isinstance(msg, Request), method))

    def tick(self):
        """Fire due timers; returns the milliseconds until the next one (at most 1000).
        The loop calls it every round: a round with nothing due allocates nothing (the
        table is walked by key, no copy of it and no tuple per transaction)."""
        clock = self.clock  # its methods called, not bound: a bound method allocates
        table = self.table
        now = clock.ticks_ms()
        fired = False
        while True:
            wait = 1000  # ms until the first timer of the table is due (0: one is)
            for k in table:
                tx = table[k]
                t = tx.retx
                if t:
                    d = clock.ticks_diff(t[1], now)
                    if d < wait:
                        wait = d if d > 0 else 0
                t = tx.end
                if t:
                    d = clock.ticks_diff(t[1], now)
                    if d < wait:
                        wait = d if d > 0 else 0
            if wait or fired:
                return wait
            fired = True
            for tx in list(table.values()):  # fire() may take tx out of the table
                try:
                    tx.fire(now)
                except MemoryError:  # a callback found no heap (a BYE, a 487): the loop goes on
                    tx.terminate()
