# What the user agent seldom does, apart from what it does all the time (ua.py, call.py,
# register.py): loaded on demand by ua.load() and dropped by the first UserAgent.poll()
# that does not use it, so that its heap is lent, not owned. The requests other than
# INVITE, BYE, CANCEL and OPTIONS (MESSAGE, NOTIFY, INFO) and the 4xx/5xx answers of
# RFC 3261 8.2; malformed requests; CANCEL both ways; offers in ACKs; forked 2xx. (The details
# of a registration are in mpsip.regrare: a refresh need not bring all this along.)
#
# Nothing here keeps state: what it changes lives on the UserAgent, the Call or the
# Registration it is given, and its callbacks are theirs.
from mpsip.message import Request, SipParseError, parse
from mpsip.transaction import COMPLETED
from mpsip.ua import load, token

_KNOWN = " REGISTER PRACK UPDATE SUBSCRIBE REFER PUBLISH "  # 405 with Allow (RFC 3261 8.2.1)


# --- requests --------------------------------------------------------------------------------
def request(ua, msg, addr, call):
    """The requests the core leaves here, in RFC 3261 8.2's order: 420 for an extension
    required (8.2.2.3), 416 for a URI scheme (8.2.2.1), 415/406 for an INVITE body we
    cannot read (8.2.3), 481 for a dialog we do not have (12.2.2); then the methods:
    MESSAGE and NOTIFY are taken (an event each), one we know but do not take gets 405,
    others 501 (8.2.1). The errors change nothing here: no transaction (8.2.7)."""
    m = msg.method
    req = msg.get("require")
    ct = (msg.get("content-type") or "application/sdp").split(";")[0].strip().lower()
    acc = (msg.get("accept") or "*/*").lower()
    extra = ()
    if req and m != "CANCEL":
        status = 420
        extra = (("unsupported", req),)
    elif msg.uri.scheme not in ("sip", "sips", "tel"):
        status = 416
    elif m == "INVITE" and msg.body and ct != "application/sdp":
        status = 415
        extra = (("accept", "application/sdp"),)
    elif m == "INVITE" and "application/sdp" not in acc and "*/*" not in acc:
        status = 406
        extra = (("warning", '399 - "application/sdp is what we accept"'),)
    elif call is None and (msg.to_addr.tag or m == "BYE" or m == "INFO"):
        status = 481
    elif m == "MESSAGE" or m == "NOTIFY":
        tx = ua.server(msg, addr)
        if tx:
            common(ua, tx, msg, call)
        return
    else:
        status = 405 if (" %s " % m) in _KNOWN else 501
    ua.reply(msg, addr, status, extra)


def common(ua, tx, msg, call):
    """The requests answered with a transaction, in a dialog or not: MESSAGE, NOTIFY and
    INFO (DTMF) are told to the app; other methods in a dialog get 405 or 501."""
    m = msg.method
    if m == "MESSAGE":
        ua.respond(tx, 200)
        ua.event("message", call, (msg.from_addr.uri.to_str(), msg.get("content-type"), msg.body))
    elif m == "NOTIFY":
        ua.respond(tx, 200)  # e.g. message-summary (RFC 3842), unsolicited
        ua.event("notify", call, (msg.get("event"), msg.body))
    elif m == "INFO":
        digit = info_dtmf(msg)
        ua.respond(tx, 200)
        if digit:
            ua.event("dtmf", call, digit)
    else:
        ua.respond(tx, 405 if (" %s " % m) in _KNOWN else 501)


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


def failed(ua, e, addr):
    """What UserAgent.feed() caught. Bad input: a request gets e's status when it can be
    answered. Anything else (a MemoryError, a bug): the server transaction the datagram
    made, if nothing went out, goes - as if the request were lost, so that its
    retransmission gets a fresh start - and the app is told."""
    if isinstance(e, SipParseError):
        m = e.msg
        if isinstance(m, Request) and m.method != "ACK":
            malformed(ua, m, addr, e)
        return
    ua.abandon()
    ua.event("error", None, "%s: %s" % (type(e).__name__, e))


def malformed(ua, m, addr, e):
    """A request that failed to parse or validate gets e's status when a response can be
    built (8.2.6: the headers are copied as they are) and matched by the client: a top
    Via that parses and a CSeq. One missing From, To or Call-ID still gets its 400 with
    what it has (RFC 4475 3.3.1); without Via or CSeq it is dropped."""
    if m.get("via") is None or m.get("cseq") is None or m.top_via is None:
        return
    ua.reply(m, addr, e.status, reason=e.reason)


def stray_response(ua, msg):
    """A 2xx for an INVITE after its transaction ended (retransmission or a fork)."""
    if msg.cseq_method == "INVITE" and 200 <= msg.status < 300:
        for c in ua.calls:
            if c.call_id == msg.call_id:
                on_2xx_again(c, msg)
                return
    ua.dropped += 1


def on_2xx_again(c, resp):
    """A 2xx after our ACK: resend the ACK (RFC 3261 13.2.2.4) - the INVITE's transaction
    (RFC 6026 Accepted) or the call had it; a 2xx from another fork of the INVITE gets an
    ACK and a BYE of its own."""
    if resp.to_addr.tag == c.remote_tag:
        if c.ack:
            c.ua.transport.send(c.ack, c.dest())
        return
    fork_2xx(c, resp)


def cancel(ua, msg, addr):
    """RFC 3261 9.2: CANCEL matches the INVITE's server transaction as 17.2.3 says, but
    for the method. 200 even when the final response went out already (it has no effect
    then), with the INVITE's To tag; no transaction: a retransmission finds it answered."""
    inv = ua.txs.match(msg, "INVITE")
    if inv is None:
        ua.reply(msg, addr, 481)
        return
    c = inv.data
    ua.reply(msg, addr, 200, tag=c.local_tag if c else None)
    if c and inv.state < COMPLETED:
        ua.respond(inv, 487, tag=c.local_tag)  # the INVITE ends with 487
        c._end("cancelled")


# --- calls ------------------------------------------------------------------------------------
def answer_in_ack(c, ack):
    """The answer to the offer in our 2xx (RFC 3264 5: the INVITE had none)."""
    c.offer_in_2xx = False
    first = c.neg is None
    c.accept(ack.body)
    if c.neg is None:
        c.request("BYE")
        c._end("488")
        return
    c.ua.event("connected" if first else "media", c, c.neg)


def send_cancel(c):
    """RFC 3261 9.1: CANCEL copies the INVITE's R-URI, top Via, From, To, Call-ID, CSeq
    number and Route; it goes where the INVITE went."""
    c.cancel_sent = True
    inv = c.itx.req
    hs = [("via", inv.get_all("via")[0]), ("max-forwards", "70")]
    for k in ("from", "to", "call-id"):
        hs.append((k, inv.get(k)))
    hs.append(("cseq", "%d CANCEL" % inv.cseq))
    for r in inv.get_all("route"):
        hs.append(("route", r))
    c.ua.txs.client(Request("CANCEL", inv.uri, hs), c.itx.addr, c.on_other)
    c.reason = "cancelled"


def fork_2xx(c, resp):
    """A 2xx from another fork of our INVITE (RFC 3261 13.2.2.4): ACK it and end that
    dialog with BYE; ours stays as it was."""
    saved = (c.remote_tag, c.remote, c.target, c.route, c.lcseq)
    c.learn(resp, True)
    c.ua.transport.send(c.request("ACK").to_bytes(), c.dest())
    c.request("BYE")
    c.remote_tag, c.remote, c.target, c.route, c.lcseq = saved


def reauth(c, tx, resp):
    """RFC 3261 22.2: a BYE or INFO challenged by the PBX is sent again once with
    credentials (a new CSeq and branch)."""
    ua = c.ua
    req = parse(tx.last)  # (a client transaction keeps a non-INVITE as its bytes)
    a = load("auth").authorize(resp, req.method, req.uri.to_str(), ua.auth_user, ua.password or "")
    if a:
        c.lcseq += 1
        req.set("cseq", "%d %s" % (c.lcseq, req.method))
        req.set("via", req.get("via").split(";branch=")[0] + ";branch=z9hG4bK" + token())
        req.add(a[0], a[1])
        ua.txs.client(req, tx.addr, c.on_other).data = True
