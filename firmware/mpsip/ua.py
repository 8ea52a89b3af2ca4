# The user agent: registration, calls both ways and the other requests a PBX sends
# (RFC 3261 8, 10, 12-15), on top of the transaction layer.
#
# Single-threaded and event driven: poll() reads what arrived and fires due timers;
# feed(data, addr) is the same for one datagram (tests use it). What happens is told to
# on_event(name, call, arg): registered, unregistered, registration-failed, incoming,
# ringing, early, connected, media, ended, dtmf, message, notify. Digest and SDP are
# imported when first needed: a push-to-talk button that is only registered does not
# carry them, and the digest module is dropped again after each challenge.
import sys

from mpsip.message import Request, SipParseError, parse, validate
from mpsip.transaction import COMPLETED, COOKIE, Transactions
from mpsip.uri import parse_uri

try:
    from os import urandom
except ImportError:  # pragma: no cover
    from random import getrandbits

    def urandom(n):
        return bytes(getrandbits(8) for _ in range(n))


ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, MESSAGE"
ACCEPT = "application/sdp, application/dtmf-relay, application/dtmf, text/plain"
# Methods we know but do not take: 405 with Allow (RFC 3261 8.2.1); anything else 501.
_KNOWN = ("REGISTER", "PRACK", "UPDATE", "SUBSCRIBE", "REFER", "PUBLISH")
_BACKOFF_S = (5, 10, 20, 40, 80, 160, 300)


def token(n=6):
    """Random hex for tags, branches and Call-IDs (RFC 3261 19.3: 32 bits at least)."""
    return "".join("%02x" % b for b in urandom(n))


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


def authorize(resp, method, uri, user, password):
    """(header name, value, nonce, stale) answering the response's digest challenge, or
    None. The digest module is loaded for this and dropped after (challenges are rare),
    unless someone else had loaded it."""
    loaded = "mpsip.digest" in sys.modules
    from mpsip import digest

    proxy = resp.status == 407
    try:
        chs = digest.parse_challenges(resp.get_all("proxy-authenticate" if proxy else "www-authenticate"), proxy)
        ch = digest.pick(chs)
        value = digest.Client(user, password).authorize(ch, method, uri)
        out = ("Proxy-Authorization" if proxy else "Authorization", value, ch.nonce, ch.stale)
    except digest.DigestError:
        out = None
    if not loaded:
        sys.modules.pop("mpsip.digest", None)
        # the import also bound it on the package: without this it stays (~11 KB)
        try:
            delattr(sys.modules["mpsip"], "digest")
        except (KeyError, AttributeError):
            pass
    return out


class UserAgent:
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
    ):
        self.transport = transport
        self.clock = clock
        self.txs = Transactions(transport.send, clock)
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
        self.running = True
        self.dropped = 0  # malformed or unmatched messages
        self.aor = "sip:%s@%s" % (user, domain)
        from mpsip.register import Registration

        self.reg = Registration(self, expires)

    # --- events and addressing ------------------------------------------------------------
    def event(self, name, call=None, arg=None):
        if self.on_event:
            self.on_event(name, call, arg)

    def outbound(self):
        """Out-of-dialog requests go to the registrar in use (the PBX as outbound proxy)."""
        return self.reg.server()

    def identity(self):
        d = '"%s" ' % self.display if self.display else ""
        return "%s<%s>" % (d, self.aor)

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
        if method in ("INVITE", "REGISTER", "SUBSCRIBE", "REFER") or (method == "ACK" and body):
            hs.append(("contact", self.contact()))
        if method in ("INVITE", "REGISTER"):
            hs.append(("allow", ALLOW))
        hs.append(("user-agent", self.agent))
        hs.extend(extra)
        if body:
            hs.append(("content-type", ctype or "application/sdp"))
        return Request(method, ruri, hs, body)

    def respond(self, tx, status, reason=None, extra=(), body=b"", ctype=None, tag=None):
        r = tx.req.response(status, reason, to_tag=tag or token())
        for k, v in extra:
            r.headers.append((k, v))
        if status < 300 and tx.req.method in ("INVITE", "SUBSCRIBE") and status > 100:
            r.headers.append(("contact", self.contact()))
        if status in (200, 405, 501) and tx.req.method in ("INVITE", "OPTIONS") or status == 405:
            r.headers.append(("allow", ALLOW))
        r.headers.append(("user-agent", self.agent))
        if body:
            r.headers.append(("content-type", ctype or "application/sdp"))
            r.body = body
        tx.respond(r)
        return r

    # --- the API the application drives ----------------------------------------------------
    def register(self):
        self.reg.start()

    def unregister(self):
        self.reg.stop()

    def call(self, uri):
        from mpsip.call import Call

        c = Call(self, True, uri)
        self.calls.append(c)
        c.invite_out()
        return c

    def close(self):
        self.running = False
        for c in self.calls:
            c.hangup()

    # --- the loop ----------------------------------------------------------------------------
    def poll(self):
        """Read every queued datagram, run due timers; ms until the next timer."""
        n = 0
        while n < 16:  # bounded: a flood must not starve the media loop
            try:
                got = self.transport.recv()
            except MemoryError:
                # No room for the datagram (it stays queued): run the timers all the same,
                # they are what frees transactions; skipping them would never recover.
                self.dropped += 1
                break
            if got is None:
                break
            self.feed(got[0], got[1])
            n += 1
        return self.tick()

    def tick(self):
        wait = self.txs.tick()
        w = self.reg.tick()
        return w if w < wait else wait

    def feed(self, data, addr):
        """One datagram. Malformed requests get their 4xx/5xx when a response can be
        addressed; malformed responses and noise are dropped; nothing raises."""
        try:
            self._feed(data, addr)
        except SipParseError as e:
            self.dropped += 1
            m = e.msg
            if isinstance(m, Request) and m.method != "ACK":
                self._reject_malformed(m, addr, e)
        except Exception as e:  # the receive loop survives every input (and our own bugs)
            self.dropped += 1
            self.event("error", None, "%s: %s" % (type(e).__name__, e))

    def _reject_malformed(self, m, addr, e):
        try:
            validate_minimal(m)
            r = m.response(e.status, e.reason, to_tag=token())
            self.transport.send(r.to_bytes(), addr)
        except Exception:  # no Via, From, To, Call-ID or CSeq to answer with: drop
            pass

    def _feed(self, data, addr):
        if not data.strip():
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
                self._stray_response(msg)
            return
        validate(msg)
        tx = self.txs.match(msg)
        if tx:
            tx.on_request(msg)  # retransmission, or the ACK for our error response
            return
        if msg.method == "ACK":
            c = self.find(msg)
            if c:
                c.on_ack(msg)
            return
        tx = self.txs.server(msg, addr)
        req = msg.get("require")
        if req and msg.method != "CANCEL":
            # RFC 3261 8.2.2.3: we support no extension
            self.respond(tx, 420, extra=(("unsupported", req),))
            return
        m = msg.method
        if msg.uri.scheme not in ("sip", "sips", "tel"):
            self.respond(tx, 416)  # RFC 3261 8.2.2.1
            return
        if m == "INVITE" and not self._acceptable(tx, msg):
            return
        if m == "CANCEL":
            self._cancel(tx, msg)
        elif msg.to_addr.tag:
            c = self.find(msg)
            if c is None:
                self.respond(tx, 481)  # RFC 3261 12.2.2
            else:
                c.on_request(tx, msg)
        elif m == "INVITE":
            from mpsip.call import Call

            c = Call(self, False, msg.from_addr.uri.to_str())
            self.calls.append(c)
            c.invite_in(tx, msg)
        else:
            self.common(tx, msg, None)

    def _acceptable(self, tx, msg):
        """RFC 3261 8.2.3 / 21.4.7: an INVITE body we cannot read gets 415 with Accept; an
        Accept that rules out SDP gets 406."""
        ct = msg.get("content-type")
        if msg.body and ct and ct.split(";")[0].strip().lower() != "application/sdp":
            self.respond(tx, 415, extra=(("accept", "application/sdp"),))
            return False
        acc = msg.get("accept")
        if acc is not None and "application/sdp" not in acc.lower() and "*/*" not in acc:
            self.respond(tx, 406, extra=(("warning", '399 - "application/sdp is what we accept"'),))
            return False
        return True

    def common(self, tx, msg, call):
        """The requests answered the same in and out of a dialog."""
        m = msg.method
        if m == "OPTIONS":
            # PBXs ping with OPTIONS (a keepalive); no Supported header: we support no
            # option tag, and an empty header trips small stacks.
            self.respond(tx, 200, extra=(("accept", ACCEPT),))
        elif m == "MESSAGE":
            self.respond(tx, 200)
            self.event("message", call, (msg.from_addr.uri.to_str(), msg.get("content-type"), msg.body))
        elif m == "NOTIFY":
            self.respond(tx, 200)  # e.g. message-summary (RFC 3842), unsolicited
            self.event("notify", call, (msg.get("event"), msg.body))
        elif m == "INFO" and call:
            digit = info_dtmf(msg)
            self.respond(tx, 200)
            if digit:
                self.event("dtmf", call, digit)
        elif m in ("BYE", "INFO"):
            self.respond(tx, 481)  # a dialog's request outside any dialog of ours
        elif m in _KNOWN:
            self.respond(tx, 405)
        else:
            self.respond(tx, 501)

    def _cancel(self, tx, msg):
        """RFC 3261 9.2: CANCEL matches the INVITE's server transaction by branch."""
        inv = None
        for t in self.txs.table.values():
            if t.server and t.invite and t.req.top_via.branch == msg.top_via.branch and t.req.call_id == msg.call_id:
                inv = t
        if inv is None:
            self.respond(tx, 481)
            return
        self.respond(tx, 200)  # even when the final response went out already: no effect then
        c = inv.data
        if c and inv.state < COMPLETED and 0 <= inv.status < 200:
            c.cancelled_by_peer()

    def _stray_response(self, msg):
        """A 2xx for an INVITE after its transaction ended (retransmission or a fork)."""
        if msg.cseq_method == "INVITE" and 200 <= msg.status < 300:
            for c in self.calls:
                if c.call_id == msg.call_id:
                    c.on_2xx_again(msg)
                    return
        self.dropped += 1

    def find(self, msg):
        """The call whose dialog a request belongs to (RFC 3261 12.2.2)."""
        cid = msg.call_id
        ftag = msg.from_addr.tag
        ttag = msg.to_addr.tag
        for c in self.calls:
            if c.call_id == cid and c.local_tag == ttag and (c.remote_tag == ftag or c.remote_tag is None):
                return c
        return None

    def ended(self, c):
        if c in self.calls:
            self.calls.remove(c)


def validate_minimal(m):
    """Raise unless a response can be built (8.2.6: the headers are copied as they are)
    and matched by the client (the top Via parses, a CSeq). A request missing From, To or
    Call-ID still gets its 400 with what it has (RFC 4475 3.3.1)."""
    for k in ("via", "cseq"):
        if m.get(k) is None:
            raise ValueError(k)
    if m.top_via is None:
        raise ValueError("via")


def info_dtmf(msg):
    """The digit of an INFO: application/dtmf-relay ('Signal=5') or application/dtmf ('5')."""
    ct = (msg.get("content-type") or "").lower()
    body = msg.body.decode() if msg.body else ""
    if "dtmf-relay" in ct:
        for line in body.split("\n"):
            k, _, v = line.partition("=")
            if k.strip().lower() == "signal":
                body = v
                break
        else:
            return None
    elif "application/dtmf" not in ct:
        return None
    d = body.strip().upper()
    if d == "10":  # some PBXs send * and # as event codes 10 and 11 (RFC 4733 table)
        d = "*"
    elif d == "11":
        d = "#"
    return d if len(d) == 1 and d in "0123456789*#ABCD" else None
