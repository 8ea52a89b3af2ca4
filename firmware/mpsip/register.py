# Registration (RFC 3261 10.2): one binding for the account, kept fresh.
#
# One Call-ID per boot with a rising CSeq (10.2.4; Kamailio answers 500 to an old Call-ID
# whose CSeq starts again). Digest after 401/407, once per nonce; 423 takes Min-Expires;
# refresh before the granted expiry; back-off on failure; a backup registrar while the
# primary does not answer, with the primary tried again at each refresh and the backup's
# binding removed once the primary has us again. The binding's Contact follows
# received/rport from the registrar (RFC 3581) when we are behind NAT. Registration has its
# own Call-ID and transactions: it never touches a call. The seldom paths (423, failures,
# the 2xx's details, the backup's binding) are in mpsip.regrare.
from mpsip.transaction import const  # (its CPython fallback)
from mpsip.ua import load, token

_MARGIN_S = const(40)  # refresh this long before expiry: room for a 32 s timeout and a retry


class Registration:
    """state: idle, registering, registered, failed or unregistered."""

    def __init__(self, ua, expires):
        self.ua = ua
        self.expires = expires  # what we ask for (raised by 423)
        self.state = "idle"
        self.call_id = "%s@%s" % (token(8), ua.local[0])
        self.cseq = 0
        self.on_backup = False  # sending to the backup registrar
        self.backup_bound = False  # the backup holds a binding of ours
        self.fails = 0
        self.due = None  # ticks_ms deadline of the next REGISTER (refresh or retry)
        self.tx = None
        self.nonce = None  # the nonce last answered: a second 401 for it is a refusal
        self.stopping = False
        self.nat_fixed = False

    def server(self):
        ua = self.ua
        return ua.backup if self.on_backup and ua.backup else ua.registrar

    def stop(self):
        """Unregister (Expires: 0) - at shutdown; the app waits for 'unregistered'."""
        self.stopping = True
        self.due = None
        if self.state == "registered" or self.tx:
            self.send()
        else:
            self.state = "unregistered"

    def request(self, expires, auth=None):
        ua = self.ua
        extra = [("expires", str(expires))]
        if auth:
            extra.append((auth[0], auth[1]))
        aor = ua.aor
        to = "<%s>" % aor
        return ua.new_request(
            "REGISTER", "sip:" + ua.domain, self.call_id, to + ";tag=" + token(), to, self.cseq, extra
        )

    def send(self, auth=None):
        self.cseq += 1
        if self.state != "registered":
            self.state = "registering"
        self.tx = None  # a transport error calls back before client() returns
        try:
            req = self.request(0 if self.stopping else self.expires, auth)
            tx = self.ua.txs.client(req, self.server(), self.on_response)
        except MemoryError:
            # no heap for the REGISTER (a refresh, a digest answer): a failure like a
            # silent registrar - retried after the back-off, never left without a timer
            self.failed("heap")
            return
        if tx.error is None:
            self.tx = tx

    def failed(self, reason, seconds=None):
        self.tx = None
        self.fails += 1
        if seconds is None:
            seconds = min(5 << (self.fails - 1), 300)  # 5, 10, 20 ... 160, 300 s
        was = self.state
        self.state = "failed"
        self.due = self.ua.txs.after(seconds * 1000)
        if was != "failed" or self.fails == 1:
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
        # The answer may find no heap for what it loads (digest for a challenge, regrare for
        # the 2xx's details) or builds: a failure like any other, retried after the back-off -
        # never a registration left without a timer.
        try:
            st = resp.status
            if st < 200:
                return
            if st == 401 or st == 407:
                a = load("auth").authorize(resp, "REGISTER", tx.req.uri.to_str(), ua.auth_user, ua.password or "")
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
            if st >= 300:
                load("regrare").register_failed(self, resp)
                return
            self.tx = None
            self.fails = 0
            if self.stopping:
                self.state = "unregistered"
                ua.event("unregistered")
                return
            g = load("regrare").registered(self, resp)
            if g is None:
                return  # registering the address the registrar saw instead (NAT)
            self.state = "registered"
            self.due = ua.txs.after(1000 * (g - _MARGIN_S if g > 2 * _MARGIN_S else max(g // 2, 1)))
            if self.on_backup:
                self.backup_bound = True
            elif self.backup_bound:
                self.backup_bound = False
                load("regrare").unbind_backup(self)
            ua.event("registered", None, g)
        except MemoryError:
            self.failed("heap")

    def tick(self):
        """Send a due refresh or retry; ms until the next one (at most 1000)."""
        if self.due is None:
            return 1000
        txs = self.ua.txs
        left = txs.clock.ticks_diff(self.due, txs.clock.ticks_ms())
        if left > 0:
            return left if left < 1000 else 1000
        self.due = None
        if self.on_backup and self.state == "registered":
            self.on_backup = False  # refresh: the primary first, the backup if it is still silent
        self.send()
        return 0
