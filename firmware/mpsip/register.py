# Registration (RFC 3261 10.2): one binding for the account, kept fresh.
#
# One Call-ID per boot with a rising CSeq (10.2.4; Kamailio answers 500 to an old Call-ID
# whose CSeq starts again). Digest after 401/407, once per nonce; 423 takes Min-Expires;
# refresh before the granted expiry; back-off on failure; a backup registrar while the
# primary does not answer, with the primary tried again at each refresh and the backup's
# binding removed once the primary has us again. The binding's Contact follows
# received/rport from the registrar (RFC 3581) when we are behind NAT. Registration has its
# own Call-ID and transactions: it never touches a call.
#
# Heap: what stays resident is the state and its timer (here); what a REGISTER and its
# answer do is in mpsip.regrare, lent (ua.load) for the moments it works - once per
# refresh, not for the whole of a call.
from mpsip.ua import load, token


class Registration:
    """state: idle, registering, registered, failed or unregistered. Defaults are class
    attributes: an instance keeps only what it changed, in its dict."""

    state = "idle"
    cseq = 0
    on_backup = False  # sending to the backup registrar
    backup_bound = False  # the backup holds a binding of ours
    fails = 0
    due = None  # ticks_ms deadline of the next REGISTER (refresh or retry)
    tx = None
    nonce = None  # the nonce last answered: a second 401 for it is a refusal
    stopping = False  # unregistering (UserAgent.unregister)
    nat_fixed = False

    def __init__(self, ua, expires):
        self.ua = ua
        self.expires = expires  # what we ask for (raised by 423)
        self.call_id = "%s@%s" % (token(8), ua.local[0])

    def server(self):
        ua = self.ua
        return ua.backup if self.on_backup and ua.backup else ua.registrar

    def run(self, tx=None, resp=None):
        """Send a REGISTER now, or (tx given: the client transaction's callback) take its
        answer - both in mpsip.regrare. No heap to load it: a failure like any other,
        retried in 5 s - never a registration left without a timer."""
        try:
            rr = load("regrare")
        except MemoryError:
            self.tx = None
            if self.state != "failed":
                self.ua.event("registration-failed", None, "heap")
            self.state = "failed"
            self.due = self.ua.txs.after(5000)
            return
        if tx is None:
            rr.send(self)
        else:
            rr.on_response(self, tx, resp)

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
        self.run()
        return 0
