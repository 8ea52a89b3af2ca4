# Registration (RFC 3261 10.2): one binding for the account, kept fresh.
#
# One Call-ID per boot with a rising CSeq (10.2.4; Kamailio answers 500 to an old Call-ID
# whose CSeq starts again). Digest after 401/407, once per nonce; 423 takes Min-Expires;
# refresh before the granted expiry; back-off on failure; a backup registrar while the
# primary does not answer, with the primary tried again at each refresh. The binding's
# Contact follows received/rport from the registrar (RFC 3581) when we are behind NAT.
# Registration has its own Call-ID and transactions: it never touches a call.
from mpsip.ua import _BACKOFF_S, authorize, token

IDLE = "idle"
REGISTERING = "registering"
REGISTERED = "registered"
FAILED = "failed"
UNREGISTERED = "unregistered"

_MARGIN_S = 40  # refresh this long before expiry: room for a 32 s timeout and a retry


class Registration:
    def __init__(self, ua, expires):
        self.ua = ua
        self.asked = expires
        self.expires = expires  # what we ask for (raised by 423)
        self.granted = 0
        self.state = IDLE
        self.call_id = "%s@%s" % (token(8), ua.local[0])
        self.cseq = 0
        self.on_backup = False
        self.fails = 0
        self.due = None  # ticks_ms deadline of the next REGISTER (refresh or retry)
        self.tx = None
        self.nonce = None  # the nonce last answered: a second 401 for it is a refusal
        self.stopping = False
        self.nat_fixed = False

    def server(self):
        ua = self.ua
        return ua.backup if self.on_backup and ua.backup else ua.registrar

    def start(self):
        self.stopping = False
        self.send()

    def stop(self):
        """Unregister (Expires: 0) - at shutdown; the app waits for 'unregistered'."""
        self.stopping = True
        self.due = None
        if self.state == REGISTERED or self.tx:
            self.send()
        else:
            self.state = UNREGISTERED

    def send(self, auth=None):
        ua = self.ua
        self.cseq += 1
        extra = [("expires", "0" if self.stopping else str(self.expires))]
        if auth:
            extra.append((auth[0], auth[1]))
        aor = ua.aor
        req = ua.new_request(
            "REGISTER",
            "sip:" + ua.domain,
            self.call_id,
            "<%s>;tag=%s" % (aor, token()),
            "<%s>" % aor,
            self.cseq,
            extra,
        )
        if self.state != REGISTERED:
            self.state = REGISTERING
        self.tx = None  # a transport error calls back before client() returns
        tx = ua.txs.client(req, self.server(), self.on_response)
        if tx.error is None:
            self.tx = tx

    def retry_in(self, seconds):
        self.due = self.ua.txs.after(seconds * 1000)

    def failed(self, reason, seconds=None):
        self.tx = None
        self.fails += 1
        if seconds is None:
            seconds = _BACKOFF_S[min(self.fails, len(_BACKOFF_S)) - 1]
        was = self.state
        self.state = FAILED
        self.retry_in(seconds)
        if was != FAILED or self.fails == 1:
            self.ua.event("registration-failed", None, reason)

    def on_response(self, tx, resp):
        if self.tx is not None and tx is not self.tx:
            return  # an attempt we gave up on
        ua = self.ua
        if resp is None:
            # Timer F or a transport error (RFC 3261 17.1.4): the backup now, if the
            # primary was silent; both silent: back off, then the primary again.
            if ua.backup and not self.stopping and not self.on_backup:
                self.on_backup = True
                self.send()
                return
            self.on_backup = False
            self.failed(tx.error)
            return
        st = resp.status
        if st < 200:
            return
        if st in (401, 407):
            a = authorize(resp, "REGISTER", tx.req.uri.to_str(), ua.auth_user, ua.password or "")
            # a second challenge for the nonce we answered, not marked stale: wrong credentials.
            # Only for a request that carried them: a REGISTER sent without (a refresh, the
            # one after the NAT fix-up) may well meet the same nonce again (Kamailio's last
            # for their lifetime).
            sent = tx.req.get("authorization") or tx.req.get("proxy-authorization")
            if a is None or (sent and a[2] == self.nonce and not a[3]):
                self.nonce = None
                self.failed("auth", 60)
                return
            self.nonce = a[2]
            self.send(a)
            return
        if st == 423:
            # RFC 3261 10.2.8: ask again with at least Min-Expires
            try:
                self.expires = max(self.expires, int(resp.get("min-expires")))
            except (TypeError, ValueError):
                self.expires *= 2
            self.send()
            return
        if st >= 300:
            ra = resp.get("retry-after")
            secs = None
            if ra:
                try:
                    secs = min(int(ra.split(";")[0].split("(")[0].strip()), 3600)
                except ValueError:
                    pass
            self.failed(str(st), secs)
            return
        self.tx = None
        self.fails = 0
        if self.stopping:
            self.state = UNREGISTERED
            ua.event("unregistered")
            return
        if self.fix_contact(resp):
            return
        self.granted = self.granted_expires(resp)
        g = self.granted
        self.state = REGISTERED
        self.retry_in(g - _MARGIN_S if g > 2 * _MARGIN_S else max(g // 2, 1))
        ua.event("registered", None, g)

    def granted_expires(self, resp):
        """RFC 3261 10.2.4: our Contact's expires in the 200, else Expires, else ours."""
        mine = self.ua.contact()[1:-1]
        for c in resp.contacts:
            if c.uri.to_str() == mine:
                e = c.param("expires")
                if e is not None:
                    try:
                        return int(e)
                    except ValueError:
                        pass
        try:
            return int(resp.get("expires"))
        except (TypeError, ValueError):
            return self.expires

    def fix_contact(self, resp):
        """RFC 3581 4: the registrar saw us at received:rport. Behind NAT that differs from
        our Contact: register that address instead (once), so calls reach us."""
        v = resp.top_via
        rcv = v.param("received") or v.host
        rport = v.param("rport")
        ua = self.ua
        if self.nat_fixed or not rport:
            return False
        try:
            seen = (rcv, int(rport))
        except ValueError:
            return False
        if seen == ua.contact_addr:
            return False
        self.nat_fixed = True
        ua.contact_addr = seen
        self.send()
        return True

    def tick(self):
        """Send a due refresh or retry; ms until the next one (at most 1000)."""
        if self.due is None:
            return 1000
        txs = self.ua.txs
        left = txs.diff(self.due, txs.now())
        if left > 0:
            return left if left < 1000 else 1000
        self.due = None
        if self.on_backup and self.state == REGISTERED:
            self.on_backup = False  # refresh: the primary first, the backup if it is still silent
        self.send()
        return 0
