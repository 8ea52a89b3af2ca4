"""Loopback SIP registrar and stateless proxy on the mpsip core: the PBX of the host demo and the tests.

    python tools/proxy.py --listen 127.0.0.1:5060 --domain 127.0.0.1 --user door:doorpw --user alice:alicepw

Registrar (RFC 3261 10.3) with Digest (RFC 3261 22, RFC 7616: MD5, qop=auth) and a location service
that remembers where each REGISTER came from; stateless proxy (RFC 3261 16.11) with Record-Route,
loose routing and RFC 3581 rport. Prints one line per event on stdout, flushed, e.g.
`PROXY registered door contact=<sip:door@127.0.0.1:5070> expires=600` (tests read them).

Choices, all for a test PBX on 127.0.0.1:
- Nonces are stateless: hex timestamp + HMAC(secret, timestamp). Older than NONCE_TTL (or from an
  earlier run) with the right digest -> a new challenge with stale=true. No nc tracking: a replayed
  request passes within the TTL.
- A wrong password against a fresh nonce of ours -> 403 (the client already had its 401/407 and a
  second challenge makes some UAs retry forever); against an old or unknown nonce -> a fresh 401/407.
- Out-of-dialog requests we forward are challenged with 407 (except ACK and CANCEL, which cannot
  answer a challenge, RFC 3261 22.1); the digest user must be the From user. --no-auth-invite: none.
- A user's requests go to the address its REGISTER came from (received/rport), not to the Contact:
  a UA behind NAT or a relay is reachable, as with Kamailio's NAT handling. One target per request
  (RFC 3261 16.11: a stateless proxy does not fork): highest q, then the newest binding.
- The digest uri must be the Request-URI (RFC 3261 22.4) or this proxy's own address: SIPp 3.6
  always answers with its remote address.
- Only loopback destinations (IP literals: no DNS): anything else is answered 403 or 404.
- Local final responses are kept 32 s (RFC 3261 17.2.2 Timer J) and resent for a retransmission,
  so a retransmitted REGISTER is not taken for an old CSeq (500, RFC 3261 10.3 step 7).
- Route headers without ;lr (strict routers as next hop, RFC 3261 16.6 step 6) are not rewritten.

Tests start it as a child process: `LoopbackProxy(users).start()` (a free port, see its docstring).
"""

import argparse
import atexit
import hashlib
import hmac
import ipaddress
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "firmware") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "firmware"))

from mpsip import digest_server  # noqa: E402
from mpsip.digest import DigestError  # noqa: E402
from mpsip.error import SipParseError  # noqa: E402
from mpsip.headers import Address, parse_address, parse_via  # noqa: E402
from mpsip.message import Request, Response, parse, validate  # noqa: E402
from mpsip.uri import parse_uri  # noqa: E402

NONCE_TTL = 300  # seconds a nonce is fresh
MIN_EXPIRES = 60  # RFC 3261 10.3 step 7 / 20.23: shorter registrations get 423
DEFAULT_EXPIRES = 3600  # RFC 3261 10.2.1.1
TIMER_J = 32  # RFC 3261 17.2.2: 64*T1, how long a local final response answers retransmissions
RR_METHODS = ("INVITE", "SUBSCRIBE", "REFER")  # dialog-forming: RFC 3261 16.6 step 4, RFC 6665, RFC 3515
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, INFO, NOTIFY, MESSAGE, SUBSCRIBE, REFER, PRACK, UPDATE"


class Reject(Exception):
    """A request the proxy answers itself: status, why (for the log), extra headers."""

    def __init__(self, status, why="", headers=()):
        super().__init__(why)
        self.status, self.why, self.headers = status, why, list(headers)


class Binding:
    """One Contact of an AoR (RFC 3261 10.3): where to send (the REGISTER's source), until when."""

    def __init__(self, contact, expires_at, source, call_id, cseq, order):
        self.contact, self.expires_at, self.source = contact, expires_at, source
        self.call_id, self.cseq, self.order = call_id, cseq, order
        try:
            self.q = float(contact.param("q") or 1.0)
        except ValueError:
            self.q = 1.0


def is_loopback(host):
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip(host):
    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


def _put(msg, name, values):
    """Replace a header's values in place, one value per line (Message.set, then add on top)."""
    if not values:
        msg.remove(name)
        return
    msg.set(name, values[-1])
    for v in reversed(values[:-1]):
        msg.add(name, v, first=True)


def _seconds(text):
    text = text.strip()
    if not text.isdigit() or len(text) > 10:  # RFC 3261 20.19: delta-seconds
        raise Reject(400, "bad expires: " + text[:20])
    return int(text)


class Proxy:
    """The registrar and proxy, transport-free: handle(data, source) calls send(data, (host, port))
    and log(line). `clock()` gives seconds (injected by tests), `secret` keys nonces and tags."""

    def __init__(self, host, port, domain, users, auth_invite=True, send=None, log=None, clock=time.time, secret=None):
        self.host, self.port = host.strip("[]").lower(), port
        self.domain = (domain or self.host).lower()
        self.users = dict(users)
        self.auth_invite = auth_invite
        self.send = send
        self.log = log or (lambda line: print(line, flush=True))
        self.clock = clock
        self.secret = secret or os.urandom(16)
        self.bindings = {}  # user -> [Binding]
        self._order = 0
        self._answered = {}  # (branch, sent-by, method) -> (time, bytes, addr): RFC 3261 17.2.3 matching
        sent_by = "[%s]" % self.host if ":" in self.host else self.host
        self.sent_by = "%s:%d" % (sent_by, port)
        self.record_route = "<sip:%s;lr>" % self.sent_by

    # ------------------------------------------------------------------ entry point

    def handle(self, data, source):
        """One datagram from source (host, port). Never raises: the loop survives everything."""
        try:
            self._handle(data, (source[0], source[1]))
        except Exception as e:  # a bug must not stop the PBX: say so and go on
            self.log("PROXY error %s: %s" % (type(e).__name__, e))

    def _handle(self, data, src):
        try:
            msg = parse(data)
            validate(msg)
        except SipParseError as e:
            if isinstance(e.msg, Request):
                self._reply_malformed(e.msg, src, e)
            elif e.msg is not None or data.strip():  # CRLF keep-alives (RFC 5626 3.5.1) pass quietly
                self.log("PROXY drop malformed %s" % e)
            return
        if isinstance(msg, Response):
            self._response(msg)
            return
        self._stamp(msg, src)
        if self._resend(msg):
            return
        try:
            self._request(msg, src)
        except Reject as r:
            self._reply(msg, r.status, r.headers, r.why)
        except SipParseError as e:  # a Route or credentials header validate() does not look at
            self._reply(msg, e.status, (), e.reason)

    # ------------------------------------------------------------------ requests

    def _request(self, msg, src):
        method = msg.method
        to_tag = msg.to_addr.tag
        if method == "ACK" and to_tag is not None and to_tag == self._tag(msg):
            return  # RFC 3261 17.2.1: the ACK of a final response we sent ends here
        # RFC 3261 16.4: a Request-URI we put in a Record-Route came through a strict router:
        # the real one is the last Route. Then a top Route that names us is popped.
        routes = msg.get_all("route")
        if routes and self._is_us(msg.uri):
            msg.uri = parse_address(routes[-1]).uri
            routes = routes[:-1]
            _put(msg, "route", routes)
        if routes and self._is_us(parse_address(routes[0]).uri):
            routes = routes[1:]
            _put(msg, "route", routes)
        local = not routes and self._is_local(msg.uri)
        if local and method == "REGISTER":
            self._register(msg, src)
            return
        if local and msg.uri.user is None:
            if method != "OPTIONS":
                raise Reject(404, "no user in the Request-URI")
            self._reply(msg, 200, [("Allow", ALLOW), ("Accept", "application/sdp")])
            return
        mf = msg.max_forwards
        if mf == 0:
            raise Reject(483, "Max-Forwards 0")  # RFC 3261 16.3 step 3
        if msg.get("proxy-require"):  # RFC 3261 16.3 step 5: we support no extension
            raise Reject(420, "Proxy-Require", [("Unsupported", msg.get("proxy-require"))])
        if to_tag is None and self.auth_invite and method not in ("ACK", "CANCEL"):
            user = self._authenticate(msg, True)
            if msg.from_addr.uri.user != user:
                raise Reject(403, "digest user %s is not the From user" % user)
        if routes:
            # RFC 3261 16.6 steps 6-7: with a (loose) Route left, it is the next hop.
            dest = self._uri_addr(parse_address(routes[0]).uri)
        elif local:
            # RFC 3261 16.5: the Request-URI becomes the registered Contact (16.6 step 2).
            b = self._lookup(msg.uri)
            msg.uri = b.contact.uri
            dest = b.source
        else:
            dest = self._uri_addr(msg.uri)  # in-dialog: the remote target
        # RFC 3261 16.6 steps 3, 4, 8: Max-Forwards, Record-Route (initial requests), our Via on top.
        msg.set("max-forwards", 70 if mf is None else mf - 1)
        if to_tag is None and method in RR_METHODS:
            msg.add("record-route", self.record_route, first=True)
        msg.add("via", "SIP/2.0/UDP %s;branch=%s" % (self.sent_by, self._branch(msg)), first=True)
        self.send(msg.to_bytes(), dest)
        self.log("PROXY forward %s %s -> %s:%d" % (method, msg.uri.to_str(), dest[0], dest[1]))

    def _stamp(self, msg, src):
        """RFC 3261 18.2.1 received, RFC 3581 4 rport (which also forces received) on the top Via."""
        vias = msg.get_all("via")
        top = parse_via(vias[0])
        if any(k == "rport" for k, _ in top.params):
            top.set_param("rport", str(src[1]))
        elif top.host.strip("[]").lower() == src[0]:
            return
        top.set_param("received", src[0])
        vias[0] = top.to_str()
        _put(msg, "via", vias)

    def _branch(self, msg):
        """RFC 3261 16.11: the same branch for a retransmission, the CANCEL and the non-2xx ACK of a
        request (they share its top Via), so a hash of that Via's branch and the method class."""
        top = msg.top_via
        cls = "INVITE" if msg.method in ("ACK", "CANCEL") else msg.method
        b = top.branch or ""
        if b.startswith("z9hG4bK"):  # RFC 3261 8.1.1.7: unique per transaction
            key = "%s|%s|%s:%s" % (cls, b, top.host, top.port)
        else:  # RFC 2543 peer: what identifies its transaction (RFC 3261 17.2.3)
            key = "%s|%s|%s|%s|%d" % (cls, top.to_str(), msg.call_id, msg.from_addr.tag, msg.cseq)
        return "z9hG4bK" + hashlib.md5(key.encode()).hexdigest()[:24]

    def _is_local(self, uri):
        """The Request-URI names our domain (any port if it is a name) or our own address."""
        if not uri.is_sip or uri.host is None:
            return False
        host = uri.host.strip("[]").lower()
        if host == self.domain and not _is_ip(self.domain):
            return True
        return host in (self.domain, self.host) and (uri.port or 5060) == self.port

    def _is_us(self, uri):
        # What we put in Record-Route: our address, no user part.
        return uri.is_sip and uri.user is None and self._is_local(uri)

    def _lookup(self, uri):
        if uri.user not in self.users:
            raise Reject(404, "no such user")
        bs = self._current(uri.user)
        if not bs:
            raise Reject(480, "%s is not registered" % uri.user)
        return max(bs, key=lambda b: (b.q, b.order))

    def _uri_addr(self, uri):
        if uri.scheme != "sip":
            raise Reject(416, "only sip: URIs")
        for bs in self.bindings.values():
            for b in bs:
                if b.contact.uri == uri:
                    return b.source  # a registered Contact: reach it where it registered from
        host = uri.host.strip("[]")
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            raise Reject(404, "not an IP address (no DNS here): " + host) from None
        if not ip.is_loopback:
            raise Reject(403, "not a loopback destination: " + host)
        return host, uri.port or 5060

    # ------------------------------------------------------------------ authentication

    def _authenticate(self, msg, proxy):
        """RFC 3261 22.2/22.3: the authenticated user name, or Reject (401/407, 403, 400)."""
        status = 407 if proxy else 401
        name = "proxy-authorization" if proxy else "authorization"
        values = msg.get_all(name)
        cred = None
        for v in values:
            try:
                c = digest_server.parse_authorization(v)
            except DigestError as e:
                raise Reject(400, "bad credentials: %s" % e) from None
            if c.realm == self.domain:
                cred = c
        if cred is None:
            raise self._challenge(status, False, "no credentials")
        password = self.users.get(cred.username)
        if password is None:
            raise Reject(403, "unknown user " + cred.username)
        try:
            uri = parse_uri(cred.uri)
            # RFC 7616 3.4.6 / RFC 3261 22.4: the digest uri is the Request-URI. SIPp 3.6 always
            # sends its remote address (this proxy) instead: tolerated, the digest still covers it.
            same_uri = uri == msg.uri or self._is_us(uri)
        except SipParseError:
            same_uri = False
        if not same_uri:
            raise Reject(400, "digest uri is not the Request-URI")
        if cred.algorithm != "MD5" or cred.qop != "auth":  # RFC 7616 3.4: answer what was offered
            raise self._challenge(status, False, "answer MD5 with qop=auth")
        right = digest_server.verify(cred, msg.method, password=password, realm=self.domain)
        fresh = self._nonce_age(cred.nonce)
        if right and fresh:
            if proxy:  # RFC 3261 22.3: credentials for our realm end here
                _put(msg, name, [v for v in values if digest_server.parse_authorization(v).realm != self.domain])
            return cred.username
        if right:  # RFC 7616 3.3: the password was right, only the nonce is old
            raise self._challenge(status, True, "stale nonce for " + cred.username)
        if fresh:
            raise Reject(403, "wrong password for " + cred.username)
        raise self._challenge(status, False, "wrong digest on an old nonce")

    def _challenge(self, status, stale, why):
        name = "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"
        return Reject(
            status, why, [(name, digest_server.challenge(self.domain, self._nonce(), "MD5", "auth", None, stale))]
        )

    def _mac(self, text):
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()

    def _nonce(self):
        ts = "%08x" % int(self.clock())
        return ts + self._mac(ts + ":" + self.domain)[:24]

    def _nonce_age(self, nonce):
        """True for a nonce of ours younger than NONCE_TTL; False if old, forged or from another run."""
        ts = nonce[:8]
        if len(nonce) != 32 or not hmac.compare_digest(nonce[8:], self._mac(ts + ":" + self.domain)[:24]):
            return False
        return -5 <= self.clock() - int(ts, 16) <= NONCE_TTL

    def _tag(self, msg):
        # The To tag of our own responses, the same for a request's retransmissions and its ACK.
        try:
            ftag = msg.from_addr.tag or ""
        except SipParseError:
            ftag = ""
        return "px" + self._mac("%s|%s" % (msg.call_id, ftag))[:10]

    # ------------------------------------------------------------------ registrar

    def _register(self, msg, src):
        """RFC 3261 10.3 steps 2-8 (step 1, the domain, is _is_local)."""
        if msg.get("require"):
            raise Reject(420, "Require", [("Unsupported", msg.get("require"))])
        user = self._authenticate(msg, False)
        aor = msg.to_addr.uri
        if not aor.is_sip or aor.user != user:  # step 5: only your own AoR
            raise Reject(403, "%s may not register %s" % (user, aor.to_str()))
        if aor.host.strip("[]").lower() not in (self.domain, self.host):  # step 6
            raise Reject(404, "not our domain: " + aor.host)
        call_id, cseq, now = msg.call_id, msg.cseq, self.clock()
        current = self._current(user)
        header = msg.get("expires")
        default = DEFAULT_EXPIRES if header is None else _seconds(header)
        contacts = msg.contacts
        added = []
        if any(c.uri is None for c in contacts):
            # Step 6: 'Contact: *' only alone and with Expires: 0; it removes every binding, unless
            # one of them has this Call-ID with a CSeq as high.
            if len(contacts) != 1 or header is None or default != 0:
                raise Reject(400, "Contact: * needs Expires: 0 and no other Contact")
            for b in current:
                if b.call_id == call_id and cseq <= b.cseq:
                    raise Reject(500, "CSeq %d not above %d" % (cseq, b.cseq))
            new, removed = [], current
        else:
            new, removed = list(current), []
            for c in contacts:
                e = c.param("expires")
                e = default if e is None else _seconds(e)
                if 0 < e < MIN_EXPIRES:  # step 7
                    raise Reject(423, "expires %d" % e, [("Min-Expires", str(MIN_EXPIRES))])
                for old in new:
                    if old.contact.uri == c.uri:
                        if old.call_id == call_id and cseq <= old.cseq:  # step 7: out of order
                            raise Reject(500, "CSeq %d not above %d" % (cseq, old.cseq))
                        new.remove(old)
                        if e == 0:
                            removed.append(old)
                        break
                if e > 0:
                    self._order += 1
                    b = Binding(c, now + e, src, call_id, cseq, self._order)
                    new.append(b)
                    added.append(b)
        # Step 7: the updates become visible only when all of them passed.
        if new:
            self.bindings[user] = new
        else:
            self.bindings.pop(user, None)
        for b in removed:
            self.log("PROXY unregistered %s contact=<%s>" % (user, b.contact.uri.to_str()))
        for b in added:
            self.log("PROXY registered %s contact=<%s> expires=%d" % (user, b.contact.uri.to_str(), b.expires_at - now))
        # Step 8: the 200 lists every current binding with what is left of its time.
        listed = []
        for b in new:
            params = [p for p in b.contact.params if p[0] != "expires"]
            params.append(("expires", str(max(0, int(b.expires_at - now)))))
            listed.append(("Contact", Address(b.contact.uri, b.contact.display, params).to_str()))
        self._reply(msg, 200, listed)

    def _current(self, user):
        now = self.clock()
        bs = self.bindings.get(user, [])
        live = [b for b in bs if b.expires_at > now]
        if len(live) != len(bs):
            for b in bs:
                if b.expires_at <= now:
                    self.log("PROXY expired %s contact=<%s>" % (user, b.contact.uri.to_str()))
            if live:
                self.bindings[user] = live
            else:
                self.bindings.pop(user, None)
        return live

    # ------------------------------------------------------------------ answers

    def _reply(self, req, status, headers=(), why=""):
        if req.method == "ACK":
            return  # RFC 3261 17.1.1.3: an ACK is never answered
        res = req.response(status, to_tag=self._tag(req))
        for name, value in headers:
            res.add(name, value)
        dest = self._via_addr(req.top_via)
        data = res.to_bytes()
        self.send(data, dest)
        self._remember(req, data, dest)
        word = "challenge" if status in (401, 407) else "answer" if status < 300 else "reject"
        uri = req.uri.to_str() if req.uri is not None else "?"
        self.log("PROXY %s %d %s (%s%s)" % (word, status, uri, req.method, ": " + why if why else ""))

    def _reply_malformed(self, req, src, err):
        # RFC 3261 8.2 / 16.3 step 1: a request we cannot use gets the parser's status, if we can
        # find where to send it (a top Via).
        try:
            self._stamp(req, src)
            self._reply(req, err.status, (), err.reason)
        except (SipParseError, IndexError):
            self.log("PROXY drop malformed %s (cannot answer it)" % err)

    def _transaction(self, req):
        top = req.top_via
        method = "INVITE" if req.method == "ACK" else req.method
        return (top.branch, top.host, top.port, method)

    def _remember(self, req, data, dest):
        now = self.clock()
        if len(self._answered) > 512:
            self._answered = {k: v for k, v in self._answered.items() if now - v[0] < TIMER_J}
        self._answered[self._transaction(req)] = (now, data, dest)

    def _resend(self, req):
        """RFC 3261 17.2.1/17.2.2: a retransmission of a request we answered gets the same answer."""
        if req.method == "ACK" or not (req.top_via.branch or "").startswith("z9hG4bK"):
            return False
        hit = self._answered.get(self._transaction(req))
        if hit is None or self.clock() - hit[0] >= TIMER_J:
            return False
        self.send(hit[1], hit[2])
        return True

    # ------------------------------------------------------------------ responses

    def _response(self, msg):
        """RFC 3261 16.7 step 3 / 16.11: pop our Via, send to the next one's received/rport."""
        vias = msg.get_all("via")
        top = msg.top_via
        if "%s:%d" % (top.host.lower(), top.port or 5060) != self.sent_by or len(vias) < 2:
            self.log("PROXY drop response %d %s (top Via is not ours)" % (msg.status, msg.cseq_method))
            return
        _put(msg, "via", vias[1:])
        dest = self._via_addr(msg.top_via)
        if not is_loopback(dest[0]):
            self.log("PROXY drop response %d to %s (not loopback)" % (msg.status, dest[0]))
            return
        self.send(msg.to_bytes(), dest)
        self.log("PROXY response %d %s -> %s:%d" % (msg.status, msg.cseq_method, dest[0], dest[1]))

    def _via_addr(self, via):
        # RFC 3261 18.2.2 with RFC 3581 4: received and rport win over sent-by.
        host = via.param("received") or via.host.strip("[]")
        rport = via.param("rport")
        port = int(rport) if rport and rport.isdigit() else via.port or 5060
        return host, port


# ---------------------------------------------------------------------- the process


def serve(proxy, sock):
    while True:
        try:
            data, src = sock.recvfrom(65535)
        except (ConnectionError, InterruptedError):
            continue  # ICMP port unreachable from an earlier send: the peer is gone, not us
        proxy.handle(data, src)


def _sender(sock):
    def send(data, dest):
        try:
            sock.sendto(data, dest)
        except OSError as e:
            print("PROXY send error %s:%d %s" % (dest[0], dest[1], e), flush=True)

    return send


def _hostport(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port) if port.isdigit() else -1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1:5060", help="HOST:PORT, loopback only (port 0: any free one)")
    ap.add_argument("--domain", default=None, help="realm and AoR domain (default: the listen host)")
    ap.add_argument("--user", action="append", default=[], metavar="NAME:PASSWORD")
    ap.add_argument("--no-auth-invite", action="store_true", help="forward out-of-dialog requests unchallenged")
    args = ap.parse_args(argv)
    host, port = _hostport(args.listen)
    if not 0 <= port <= 65535:
        ap.error("--listen wants HOST:PORT, got %r" % args.listen)
    if not is_loopback(host):
        ap.error("refusing to listen on %s: loopback only (127.0.0.0/8 or ::1)" % host)
    users = {}
    for u in args.user:
        name, colon, password = u.partition(":")
        if not colon or not name:
            ap.error("--user wants NAME:PASSWORD, got %r" % u)
        users[name] = password
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    proxy = Proxy(host, port, args.domain, users, not args.no_auth_invite, _sender(sock))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    proxy.log("PROXY listening %s:%d" % (proxy.sent_by.rpartition(":")[0], port))
    try:
        serve(proxy, sock)
    except KeyboardInterrupt:
        pass
    return 0


# ---------------------------------------------------------------------- for tests and the demo


class ProxyError(Exception):
    pass


class LoopbackProxy:
    """This file as a child process on 127.0.0.1, its stdout lines collected by a thread.

        with LoopbackProxy({"alice": "alice-pw"}) as px:   # a free port unless port= is given
            ...  # phones register to 127.0.0.1:px.port
            px.wait_line("PROXY registered alice")

    Also has cleanup()/describe() like tools/peers.py's peers, so test fixtures can stop it and
    print its log after a failure.
    """

    name = "proxy"

    def __init__(self, users, port=0, host="127.0.0.1", domain=None, auth_invite=True, workdir=None):
        self.users, self.host, self.port = dict(users), host, port
        self.domain, self.auth_invite = domain, auth_invite
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="mpsip-proxy-")
        self.log_path = os.path.join(self.dir, "proxy.log")
        self.proc = None
        self._lines = []
        self._used = set()
        self._cond = threading.Condition()

    def argv(self):
        argv = [sys.executable, os.path.abspath(__file__), "--listen", "%s:%d" % (self.host, self.port)]
        if self.domain:
            argv += ["--domain", self.domain]
        for u, p in self.users.items():
            argv += ["--user", "%s:%s" % (u, p)]
        return argv + ([] if self.auth_invite else ["--no-auth-invite"])

    def start(self, timeout=10.0):
        self.proc = subprocess.Popen(
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        atexit.register(self.stop)  # a crashed test must not leave the proxy running
        threading.Thread(target=self._reader, args=(self.proc.stdout,), daemon=True, name="proxy").start()
        try:
            line = self.wait_line("PROXY listening", timeout)
        except ProxyError:
            self.stop()
            raise
        self.port = int(line.rpartition(":")[2])
        return self

    def _reader(self, stream):
        with open(self.log_path, "ab") as log:
            for raw in stream:
                log.write(raw)
                log.flush()
                with self._cond:
                    self._lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    self._cond.notify_all()
        with self._cond:
            self._lines.append("PROXY exited")
            self._cond.notify_all()

    def lines(self, prefix=""):
        with self._cond:
            return [s for s in self._lines if s.startswith(prefix)]

    def wait_line(self, prefix, timeout=5.0):
        """The next line starting with `prefix` not returned before; ProxyError after `timeout` s."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, s in enumerate(self._lines):
                    if i not in self._used and s.startswith(prefix):
                        self._used.add(i)
                        return s
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ProxyError("no line %r within %.1fs\n%s" % (prefix, timeout, self.log_tail()))
                self._cond.wait(left)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    @property
    def uri(self):
        return "sip:%s:%d" % ("[%s]" % self.host if ":" in self.host else self.host, self.port)

    def stop(self, timeout=5.0):
        p = self.proc
        if p is None or p.poll() is not None:
            return None if p is None else p.returncode
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout)
        return p.returncode

    def log_tail(self, n=60):
        return "\n".join(self._lines[-n:])

    def describe(self):
        rc = None if self.proc is None else self.proc.poll()
        return "==== proxy (%s, rc %s)\n%s" % (" ".join(self.argv()), rc, self.log_tail(200))

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


if __name__ == "__main__":
    sys.exit(main())
