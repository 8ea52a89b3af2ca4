# The user agent: registration, calls both ways and the other requests a PBX sends
# (RFC 3261 8, 10, 12-15), on top of the transaction layer.
#
# Single-threaded and event driven: poll() reads what arrived and fires due timers;
# feed(data, addr) is the same for one datagram (tests use it). What happens is told to
# on_event(name, call, arg): registered, unregistered, registration-failed, incoming,
# ringing, early, connected, media, ended, dtmf, message, notify, error.
#
# Heap (a 96 KB board holds this beside the media loop): what a call needs is here and in
# call.py; what seldom happens (MESSAGE, NOTIFY, INFO, error answers, malformed requests,
# CANCEL, forks) is in mpsip.rare and digest answers in mpsip.auth, loaded when
# needed and dropped by a poll() that did not need them; SDP comes with the first call.
# Requests whose answer changes nothing here (OPTIONS, CANCEL, errors) are answered without
# a transaction (RFC 3261 8.2.7), so a flood leaves no state behind; finished transactions
# keep only what absorbing retransmissions needs, and the table is bounded (transaction.py).
import gc
import sys
from binascii import hexlify
from os import urandom

from mpsip.message import Request, SipParseError, parse, validate
from mpsip.transaction import COOKIE, MAX_TX, Transactions, const  # (its CPython fallback)
from mpsip.uri import parse_uri

_BACKOFF = const(20)  # ms between reads while no heap is left for a datagram
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, MESSAGE"
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, text/plain"


def token(n=6):
    """Random hex for tags, branches and Call-IDs (RFC 3261 19.3: 32 bits at least)."""
    return hexlify(urandom(n)).decode()


def hostport(uri):
    """Where a SIP URI sends us: (host, port), 5060 by default (RFC 3263 simplified)."""
    if isinstance(uri, str):
        uri = parse_uri(uri)
    p = uri.param("maddr")
    return (p or uri.host.strip("[]")), (uri.port or 5060)


def split_hostport(s):
    """'host[:port]' from the configuration -> (host, port)."""
    host, _, port = s.rpartition(":") if s.count(":") == 1 else (s, "", "")
    return (host, int(port)) if port else (s, 5060)


# The modules lent on demand, and whether the current poll() used them: poll() drops one
# that a whole round did not use. Dropped after every use, a burst of odd requests would
# load and drop it per datagram, and its blocks would leave the heap in pieces.
_lent = {"rare": 0, "regrare": 0, "auth": 0}


def load(name):
    """mpsip.<name> - rare (what seldom happens), regrare (a REGISTER and its answer) or auth
    (digest answers, which drops itself once it has answered) - loaded on demand (see _lent)."""
    if "mpsip." + name not in sys.modules:
        gc.collect()  # garbage first: the module fills the holes, not the top of the heap
    _lent[name] = 1
    return getattr(__import__("mpsip." + name), name)


class UserAgent:
    starved = None  # ticks_ms until which reading waits: no heap for a datagram (poll)
    running = True
    dropped = 0  # malformed or unmatched messages
    new_tx = None  # the server transaction the datagram being handled made
    later = None  # the call whose challenged INVITE goes again once this round is over

    def __init__(
        self,
        transport,
        clock,
        user,
        domain,
        registrar,
        password=None,
        auth_user=None,
        backup=None,
        expires=600,
        local=("127.0.0.1", 5060),
        rtp_port=40000,
        codecs=("PCMU", "PCMA"),
        display=None,
        agent="mpsip/0.2",
        on_event=None,
        max_tx=MAX_TX,
    ):
        self.transport = transport
        self.clock = clock
        self.txs = Transactions(transport.send, clock, max_tx)
        self.user = user
        self.domain = domain
        self.password = password
        self.auth_user = auth_user or user
        self.registrar = split_hostport(registrar) if isinstance(registrar, str) else registrar
        self.backup = split_hostport(backup) if isinstance(backup, str) else backup
        self.local = local  # our address as the network sees it (Via, Contact, SDP)
        self.contact_addr = local  # corrected from received/rport (RFC 3581) after REGISTER
        self.rtp_port = rtp_port
        self.codecs = codecs
        self.display = display
        self.agent = agent
        self.on_event = on_event
        self.calls = []
        self.aor = "sip:%s@%s" % (user, domain)
        # RFC 3261 8.2.7: a stateless answer carries a tag that is the same for a
        # retransmitted request; no dialog comes of it, so one per boot does.
        self.tag = token()
        from mpsip.register import Registration

        self.reg = Registration(self, expires)

    # --- events and addressing ------------------------------------------------------------
    def event(self, name, call=None, arg=None):
        if self.on_event:
            self.on_event(name, call, arg)

    def contact(self):
        return "<sip:%s@%s:%d>" % (self.user, self.contact_addr[0], self.contact_addr[1])

    def new_request(self, method, ruri, call_id, frm, to, cseq, extra=(), body=b"", ctype=None):
        """A request with our Via (new branch, rport: RFC 3581) and the mandatory headers
        (RFC 3261 8.1.1) in the order small stacks expect."""
        hs = [
            ("via", "SIP/2.0/UDP %s:%d;rport;branch=%s%s" % (self.local[0], self.local[1], COOKIE, token())),
            ("max-forwards", "70"),
            ("from", frm),
            ("to", to),
            ("call-id", call_id),
            ("cseq", "%d %s" % (cseq, method)),
        ]
        if method == "INVITE" or method == "REGISTER":
            hs.append(("contact", self.contact()))
            hs.append(("allow", ALLOW))
        hs.append(("user-agent", self.agent))
        hs.extend(extra)
        if body:
            hs.append(("content-type", ctype or "application/sdp"))
        return Request(method, ruri, hs, body)

    def response(self, req, status, extra=(), body=b"", tag=None, reason=None):
        """The response to req (RFC 3261 8.2.6), with our Contact in a dialog-forming
        INVITE response (12.1.1) and Allow where 20.5 asks for it."""
        r = req.response(status, reason, to_tag=tag or self.tag)
        hs = r.headers
        hs.extend(extra)
        m = req.method
        if 100 < status < 300 and m == "INVITE":
            hs.append(("contact", self.contact()))
        if status == 405 or status == 200 and (m == "INVITE" or m == "OPTIONS"):
            hs.append(("allow", ALLOW))
        hs.append(("user-agent", self.agent))
        if body:
            hs.append(("content-type", "application/sdp"))
            r.body = body
        return r

    def respond(self, tx, status, extra=(), body=b"", tag=None):
        """Answer a server transaction's request; False once it has its final response."""
        if tx.req is None:
            return False
        return tx.respond(self.response(tx.req, status, extra, body, tag))

    def reply(self, req, addr, status, extra=(), tag=None, reason=None):
        """Answer without a transaction (RFC 3261 8.2.7): for requests whose answer changes
        nothing here, so that a retransmission is simply answered again."""
        self.transport.send(self.response(req, status, extra, b"", tag, reason).to_bytes(), addr)

    # --- the API the application drives ----------------------------------------------------
    def register(self):
        self.reg.stopping = False
        self.reg.run()

    def unregister(self):
        """Unregister (Expires: 0) - at shutdown; the app waits for 'unregistered'."""
        r = self.reg
        r.stopping = True
        r.due = None
        if r.state == "registered" or r.tx:
            r.run()
        else:
            r.state = "unregistered"

    def call(self, uri):
        from mpsip.call import Call

        c = Call(self, True, uri)
        self.calls.append(c)
        c.invite_out()
        return c

    def close(self):
        self.running = False
        for c in self.calls[:]:  # hangup() takes each out of self.calls
            c.hangup()

    # --- the loop ----------------------------------------------------------------------------
    def poll(self):
        """Read every queued datagram, run due timers; ms until the next timer."""
        n = 0
        clock = self.clock
        now = clock.ticks_ms()
        s = self.starved
        while n < 16 and (s is None or clock.ticks_diff(now, s) >= 0):  # bounded: a flood
            try:  # must not starve the media loop
                got = self.transport.recv()
            except MemoryError:
                # No room for the datagram (it stays queued): what only absorbs
                # retransmissions goes (the heap is worth more than that now), the timers run
                # all the same - skipping them would never recover - and reading waits
                # _BACKOFF ms, not spinning on it; counted once until a read succeeds.
                if s is None:
                    self.dropped += 1
                s = self.starved = clock.ticks_add(now, _BACKOFF)
                try:
                    self.txs.shed(None, 0)
                except MemoryError:  # not even the list of them: the timers end them
                    pass
                break
            if s is not None:
                s = self.starved = None
            if got is None:
                break
            self.feed(got[0], got[1])
            n += 1
        self.new_tx = got = None
        c = self.later
        if c is not None:
            # RFC 3261 22.2: the INVITE answering a 401/407 is built here, not in the
            # challenge's callback: the challenge and its datagram are garbage now - all of
            # them alive while it was built were the peak of a call's setup, with no room
            # for its bytes in a heap in pieces. No room even so: again next round.
            try:
                if c.state != "ended":  # (hung up meanwhile)
                    c.invite_out(c.auth)
                self.later = c.auth = None
            except MemoryError:
                pass
        wait = self.tick()
        if self.later is not None and wait > _BACKOFF:
            wait = _BACKOFF
        if s is not None:
            s = clock.ticks_diff(s, now)
            if s < wait:
                wait = s if s > 0 else 0
        pkg = sys.modules.get("mpsip")
        for name in _lent:
            # Forget a lent module this round did not use: its heap comes back once nothing
            # uses it. The import bound it on the package too: that reference goes as well.
            # (hasattr first: "mpsip." + name would allocate every round.)
            if not _lent[name] and hasattr(pkg, name):
                sys.modules.pop("mpsip." + name, None)
                delattr(pkg, name)
            _lent[name] = 0
        return wait

    def tick(self):
        wait = self.txs.tick()
        w = self.reg.tick()
        return w if w < wait else wait

    def feed(self, data, addr):
        """One datagram. Malformed requests get their 4xx/5xx when a response can be
        addressed; malformed responses and noise are dropped; nothing raises."""
        self.new_tx = None
        try:
            if len(data) < 5 and not data.strip():
                return  # RFC 5626 4.4.1: CRLF keepalives
            msg = parse(data)
            if not isinstance(msg, Request):
                try:
                    validate(msg)
                except SipParseError:
                    self.dropped += 1  # RFC 3261 18.1.2: malformed responses are discarded
                    return
                tx = self.txs.match(msg)
                if tx:
                    tx.on_response(msg)
                else:
                    load("rare").stray_response(self, msg)
                return
            validate(msg)
            tx = self.txs.match(msg)
            if tx:
                tx.on_request(msg)  # retransmission, or the ACK for our error response
                return
            m = msg.method
            c = None
            ttag = msg.to_addr.tag
            if ttag:  # the call whose dialog the request belongs to (RFC 3261 12.2.2)
                ftag = msg.from_addr.tag
                for x in self.calls:
                    if (
                        x.call_id == msg.call_id
                        and x.local_tag == ttag
                        and (x.remote_tag == ftag or x.remote_tag is None)
                    ):
                        c = x
                        break
            if m == "ACK":
                if c:
                    c.on_ack(msg)
                return
            # What rare.request() answers with an error: an extension required (RFC 3261
            # 8.2.2.3: we support none), a URI scheme we do not take (8.2.2.1), an INVITE
            # body other than SDP or SDP not acceptable (8.2.3).
            ct = msg.get("content-type")
            acc = msg.get("accept")
            if (
                msg.get("require") is not None
                and m != "CANCEL"
                or msg.uri.scheme not in ("sip", "sips", "tel")
                or m == "INVITE"
                and (
                    msg.body
                    and ct
                    and ct.split(";")[0].strip().lower() != "application/sdp"
                    or acc is not None
                    and "application/sdp" not in acc.lower()
                    and "*/*" not in acc
                )
            ):
                load("rare").request(self, msg, addr, c)
            elif m == "OPTIONS":
                # PBXs ping with OPTIONS (a keepalive); no Supported header: we support no
                # option tag, and an empty header trips small stacks.
                self.reply(msg, addr, 200, (("accept", ACCEPT),))
            elif m == "CANCEL":
                load("rare").cancel(self, msg, addr)
            elif c or m == "INVITE" and not msg.to_addr.tag:
                tx = self.server(msg, addr)
                if tx is not None and c:
                    c.on_request(tx, msg)
                elif tx is not None:
                    from mpsip.call import Call

                    c = Call(self, False, msg.from_addr.uri.to_str())
                    self.calls.append(c)
                    c.invite_in(tx, msg)
            else:
                load("rare").request(self, msg, addr, c)
        except Exception as e:  # the receive loop survives every input (and our own bugs)
            self.dropped += 1
            try:
                load("rare").failed(self, e, addr)
            except MemoryError:  # no heap even to load that: what failed() does for a
                try:  # MemoryError, with what is loaded, and a constant text for the app
                    self.abandon()
                    self.event("error", None, "MemoryError")
                except Exception:  # the transaction's guard timer ends what is left
                    pass
            except Exception:  # failed() gave up too (a 505 with no Via to send it to):
                pass  # dropped, as RFC 3261 18.1.2 would for what cannot be answered

    def abandon(self):
        """The server transaction this datagram made goes if nothing went out, as if the
        request were lost: its retransmission gets a fresh start (rare.failed)."""
        tx = self.new_tx
        if tx is not None and tx.last is None:
            tx.terminate()
            c = tx.data
            if c is not None and c.state == "incoming" and c in self.calls:
                self.calls.remove(c)

    def server(self, msg, addr):
        """A server transaction for msg, or None after answering it statelessly: 482 to a
        merged request (RFC 3261 8.2.2.2: the From tag, Call-ID and CSeq of a transaction
        we have, on another branch - a fork come back), 503 when the table is full (21.5.4)."""
        mid = None
        if not msg.to_addr.tag:
            mid = "%s|%s|%d|%s" % (msg.call_id, msg.from_addr.tag, msg.cseq, msg.method)
            for t in self.txs.table.values():
                if t.mid == mid:
                    self.reply(msg, addr, 482)
                    return None
        tx = self.new_tx = self.txs.server(msg, addr)
        if tx is None:
            self.reply(msg, addr, 503, (("retry-after", "5"),))
        else:
            tx.mid = mid
        return tx
