# A call and its INVITE dialog (RFC 3261 12-15), either side.
#
# state: calling -> ringing/early -> connected -> ended (outgoing),
#        incoming -> connected -> ended (incoming). `reason` says why it ended: a status
# code ("486"), "bye" (the peer hung up), "hangup" (we did), "cancelled", "timeout",
# "no-ack". The dialog: Call-ID, both tags, both CSeqs, the route set from Record-Route
# (reversed on our side as caller, 12.1.2) and the remote target from Contact. What a
# call seldom does (CANCEL, forks, INFO, a BYE challenged) is in mpsip.rare.
import gc
import sys

from mpsip.transaction import ACCEPTED, PROCEEDING, keep_copied
from mpsip.ua import hostport, load, token


class Call:
    """What most calls leave at its default is a class attribute: an instance keeps its
    attributes in a dict, and every entry costs heap while the call lasts."""

    reason = None
    call_id = None
    remote_tag = None
    local = None  # our From (caller) or To (callee) value, with our tag
    remote = None  # the other side's, with its tag once known
    lcseq = 0
    rcseq = None
    route = ()  # route set, as header values
    target = None  # remote target URI (str)
    itx = None  # the INVITE transaction (ours or theirs)
    ack = None  # bytes of our ACK for the 2xx, sent again on a retransmitted 2xx
    endpoint = None  # sdp.AudioEndpoint: our side of the audio
    neg = None  # sdp.Negotiated: what the media loop needs
    offer_in_2xx = False
    answer_sdp = None  # callee: our answer, until the user answers
    pending_neg = None
    cancel_wanted = False  # we want out while the INVITE is pending
    cancel_sent = False
    auth_tried = False
    auth = None  # the credentials for the INVITE UserAgent.poll() sends again (ua.later)

    def __init__(self, ua, outgoing, remote_uri):
        self.ua = ua
        self.outgoing = outgoing
        self.remote_uri = remote_uri  # who: the callee's or the caller's URI
        self.state = "calling" if outgoing else "incoming"
        self.local_tag = token()

    def _end(self, reason):
        if self.state == "ended":
            return
        self.state = "ended"
        self.reason = reason
        if self in self.ua.calls:
            self.ua.calls.remove(self)
        # What the media needed goes now, not when the last transaction ends (up to 32 s
        # later). Our INVITE's transaction still needs the call while it is pending: a 2xx
        # crossing our CANCEL gets ACK and BYE. Once accepted (RFC 6026 7.2, Timer M) it
        # needs only our ACK and where it went, for a retransmitted 2xx: the call goes.
        self.endpoint = self.answer_sdp = self.pending_neg = None
        tx = self.itx
        if tx and (tx.key[0] == "s" or tx.state == ACCEPTED):
            tx.data = tx.cb = None
            if tx.key[0] == "c":
                tx.last = self.ack
                tx.addr = self.dest()
        self.ua.event("ended", self, reason)

    def _endpoint(self):
        if "mpsip.sdp" not in sys.modules:
            gc.collect()  # garbage first: the module fills the holes, not the top (auth.py)
        from mpsip import sdp  # with the first call: an idle UA does without

        ua = self.ua
        self.endpoint = sdp.AudioEndpoint(ua.contact_addr[0], ua.rtp_port, ua.codecs)

    # --- the dialog ----------------------------------------------------------------------
    def dest(self):
        """RFC 3261 12.2.1.1 with loose routing: the first route, else the remote target."""
        return hostport(self.route[0].strip("<>").split(">")[0] if self.route else self.target)

    def request(self, method, body=b"", ctype=None):
        """An in-dialog request (BYE, INFO, re-INVITE), sent in its own transaction."""
        if method != "ACK":
            self.lcseq += 1
        hs = []
        for r in self.route:
            hs.append(("route", r))
        ua = self.ua
        req = ua.new_request(method, self.target, self.call_id, self.local, self.remote, self.lcseq, hs, body, ctype)
        if method == "ACK":
            return req
        return ua.txs.client(req, self.dest(), self.on_other)

    def on_other(self, tx, resp):
        # RFC 3261 22.2: a BYE or INFO challenged by the PBX is sent again once with credentials
        if resp is not None and (resp.status == 401 or resp.status == 407) and not tx.data:
            load("rare").reauth(self, tx, resp)

    def learn(self, msg, reverse):
        """Remote tag, target and route set from a dialog-forming response or request."""
        self.remote_tag = msg.to_addr.tag if reverse else msg.from_addr.tag
        self.remote = msg.get("to") if reverse else msg.get("from")
        if msg.contacts:
            self.target = msg.contacts[0].uri.to_str()
        rr = msg.get_all("record-route")
        if rr:
            self.route = rr[::-1] if reverse else rr

    # --- caller side (RFC 3261 13.2) ---------------------------------------------------------
    def invite_out(self, auth=None):
        ua = self.ua
        if self.call_id is None:
            self.call_id = "%s@%s" % (token(8), ua.local[0])
            d = '"%s" ' % ua.display if ua.display else ""
            self.local = "%s<%s>;tag=%s" % (d, ua.aor, self.local_tag)
            self.remote = "<%s>" % self.remote_uri
            self.target = self.remote_uri
            self._endpoint()
        self.lcseq += 1
        body = self.endpoint.offer().to_bytes()
        extra = (auth[:2],) if auth else ()
        req = ua.new_request("INVITE", self.remote_uri, self.call_id, self.local, self.remote, self.lcseq, extra, body)
        # (no tx.data: its callback is the call's, and a client INVITE's data went unread)
        self.itx = ua.txs.client(req, ua.reg.server(), self._on_invite)  # the PBX as outbound proxy

    def _on_invite(self, tx, resp):
        if tx is not self.itx:
            return
        if resp is None:
            self._end("timeout" if tx.error == "timeout" else "unreachable")
            return
        st = resp.status
        if st < 200:
            if st > 100 and resp.to_addr.tag:
                self.learn(resp, True)  # an early dialog
            if self.cancel_wanted:
                if not self.cancel_sent:
                    load("rare").send_cancel(self)  # RFC 3261 9.1: only now that a provisional arrived
                return
            elif st > 100 and self.state == "calling":
                self.state = "ringing"
                self.ua.event("ringing", self, st)
            if st == 183 and resp.body and self.neg is None:
                self.accept(resp.body)
                if self.neg:
                    self.state = "early"
                    self.ua.event("early", self, self.neg)
            return
        if st < 300:
            self._on_2xx(resp)
            return
        if st in (401, 407) and not self.auth_tried and not self.cancel_wanted:
            self.auth_tried = True
            ua = self.ua
            a = load("auth").authorize(resp, "INVITE", self.remote_uri, ua.auth_user, ua.password or "")
            if a:
                if ua.later is None:
                    self.auth = a  # sent once this round is over (UserAgent.poll)
                    ua.later = self
                else:  # (another call's is waiting: this one goes now)
                    self.invite_out(a)
                return
        self._end("cancelled" if self.cancel_wanted and st == 487 else str(st))

    def accept(self, body):
        from mpsip.sdp import SdpError

        try:
            self.neg = self.endpoint.accept(body)
        except SdpError:
            self.neg = None

    def _on_2xx(self, resp):
        if self.ack is not None:
            load("rare").on_2xx_again(self, resp)  # a retransmission (RFC 6026 Accepted) or a fork
            return
        self.learn(resp, True)
        self.ack = self.request("ACK").to_bytes()  # 13.2.2.4: new branch, the INVITE's CSeq
        self.ua.transport.send(self.ack, self.dest())
        if self.cancel_wanted or self.state == "ended":
            # RFC 3261 9.1 / 15: the 200 crossed our CANCEL: ACK it, then BYE
            self.request("BYE")
            self._end(self.reason or "cancelled")
            return
        if resp.body:
            self.accept(resp.body)
        if self.neg is None:
            self.request("BYE")  # RFC 3261 13.2.1: no usable answer: end the session
            self._end("488")
            return
        self.state = "connected"
        self.ua.event("connected", self, self.neg)

    # --- callee side (RFC 3261 13.3) -----------------------------------------------------------
    def invite_in(self, tx, req):
        ua = self.ua
        self.itx = tx
        tx.data = self
        tx.cb = self.server_timeout
        self.call_id = req.call_id
        self.rcseq = req.cseq
        self.learn(req, False)
        self.local = "%s;tag=%s" % (req.get("to"), self.local_tag)
        ua.respond(tx, 100)
        if not self.offer_answer(tx, req):
            return
        keep_copied(req)  # its SDP is read: what the responses copy is all it keeps
        ua.respond(tx, 180, tag=self.local_tag)
        self.ua.event("incoming", self, req)

    def offer_answer(self, tx, req):
        """Answer the offer in an INVITE (or prepare an offer for a 2xx when it has none)."""
        if self.endpoint is None:
            self._endpoint()
        if not req.body:
            self.offer_in_2xx = True  # RFC 3264 5: the offer goes in our 2xx, the answer in the ACK
            self.answer_sdp = None
            return True
        from mpsip.sdp import SdpError

        try:
            d, neg = self.endpoint.answer(req.body)
        except SdpError as e:
            self.ua.respond(tx, e.status, tag=self.local_tag)  # 488 (no common codec) or 400
            if self.state == "incoming":
                self._end(str(e.status))
            return False
        self.answer_sdp = d.to_bytes()
        self.pending_neg = neg
        self.offer_in_2xx = False
        return True

    def answer(self):
        if self.state != "incoming":
            return False
        body = self.endpoint.offer().to_bytes() if self.offer_in_2xx else self.answer_sdp
        self.ua.respond(self.itx, 200, body=body, tag=self.local_tag)
        self.state = "connected"
        self.answer_sdp = None
        if not self.offer_in_2xx:
            self.neg = self.pending_neg
            self.pending_neg = None
            self.ua.event("connected", self, self.neg)
        return True

    def reject(self, status=486):
        if self.state != "incoming":
            return False
        self.ua.respond(self.itx, status, tag=self.local_tag)
        self._end(str(status))
        return True

    def server_timeout(self, tx, resp):
        if tx is not self.itx:
            return
        if self.state == "incoming":
            # Timer C: never answered - ended for the app first, then the 487 (RFC 3261
            # 13.3.1, transaction.py), which may find no heap
            self._end("timeout")
            self.ua.respond(tx, 487, tag=self.local_tag)
        elif self.state == "connected":
            # Timer L (RFC 6026) with our 2xx never acknowledged: RFC 3261 13.3.1.4 says BYE
            self.request("BYE")
            self._end("no-ack")

    def on_ack(self, ack):
        """The ACK for our 2xx: matched by dialog and CSeq (some peers get the To tag or
        the R-URI wrong; the call is confirmed all the same - PEERS.md)."""
        tx = self.itx
        if tx is None or ack.cseq != tx.cseq or tx.state != ACCEPTED:
            return
        tx.acked()
        if self.offer_in_2xx:
            load("rare").answer_in_ack(self, ack)

    def on_request(self, tx, req):
        """An in-dialog request (RFC 3261 12.2.2)."""
        if self.rcseq is not None and req.cseq < self.rcseq:
            self.ua.respond(tx, 500, tag=self.local_tag)  # 12.2.2: out of order
            return
        self.rcseq = req.cseq
        m = req.method
        if self.remote_tag is None:
            self.remote_tag = req.from_addr.tag
        if m == "BYE":
            self.ua.respond(tx, 200, tag=self.local_tag)
            self._end("bye")
        elif m == "INVITE":
            # A re-INVITE: hold, unhold, a new media address (RFC 3264 8) - answered and
            # told to the app. Here, not lent: PBXs send them in calls (session refreshes
            # too), and loading mpsip.rare mid-call left the heap in pieces.
            ua = self.ua
            if self.state != "connected":
                ua.respond(tx, 491 if self.outgoing else 500, tag=self.local_tag)
                return
            if req.contacts:
                self.target = req.contacts[0].uri.to_str()  # 12.2.2: a target refresh
            tx.data = self
            tx.cb = self.server_timeout
            self.itx = tx
            if not self.offer_answer(tx, req):
                return
            keep_copied(req)  # its SDP is read: room for the answer's bytes (invite_in)
            if self.offer_in_2xx:
                body = self.endpoint.offer().to_bytes()
            else:
                body = self.answer_sdp
                self.neg = self.pending_neg
                self.answer_sdp = self.pending_neg = None
            ua.respond(tx, 200, body=body, tag=self.local_tag)
            if not self.offer_in_2xx:
                ua.event("media", self, self.neg)
        else:
            load("rare").common(self.ua, tx, req, self)

    # --- either side -------------------------------------------------------------------------
    def hangup(self):
        """End the call however far it got: CANCEL, reject or BYE."""
        st = self.state
        if st in ("calling", "ringing", "early"):
            # Ended for the app at once; the INVITE transaction finishes in the background:
            # CANCEL when a provisional has arrived (now or later, RFC 3261 9.1), ACK and
            # BYE should a 200 cross it.
            self.cancel_wanted = True
            if self.itx and self.itx.state == PROCEEDING and not self.cancel_sent:
                load("rare").send_cancel(self)
            self._end("cancelled")
        elif st == "incoming":
            self.reject(603)
        elif st == "connected":
            self.request("BYE")
            self._end("hangup")

    def send_info_dtmf(self, digit):
        """DTMF as SIP INFO (application/dtmf-relay), for PBXs that want it that way."""
        if self.state == "connected":
            self.request("INFO", ("Signal=%s\r\nDuration=160\r\n" % digit).encode(), "application/dtmf-relay")
