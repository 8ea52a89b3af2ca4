# What a registration does (register.py keeps its state and timer): the REGISTER, the
# digest after 401/407, the details of a 2xx (RFC 3581 received/rport, the grant), 423 and
# the other failures, the backup registrar's binding. Lent like mpsip.rare (ua.py: loaded
# on demand, dropped by the first poll() that needs it not), but on its own: every
# refresh comes here, and ~3 KB is lent for it rather than rare's ~5 KB beside it. Nothing
# here keeps state: it lives on the Registration.
from mpsip.transaction import const  # (its CPython fallback)
from mpsip.ua import load, token

_MARGIN_S = const(40)  # refresh this long before expiry: room for a 32 s timeout and a retry


def request(reg, expires, auth=None):
    ua = reg.ua
    extra = [("expires", str(expires))]
    if auth:
        extra.append((auth[0], auth[1]))
    to = "<%s>" % ua.aor
    return ua.new_request("REGISTER", "sip:" + ua.domain, reg.call_id, to + ";tag=" + token(), to, reg.cseq, extra)


def send(reg, auth=None):
    reg.cseq += 1
    if reg.state != "registered":
        reg.state = "registering"
    reg.tx = None  # a transport error calls back before client() returns
    try:
        req = request(reg, 0 if reg.stopping else reg.expires, auth)
        tx = reg.ua.txs.client(req, reg.server(), reg.run)
    except MemoryError:
        # no heap for the REGISTER (a refresh, a digest answer): a failure like a
        # silent registrar - retried after the back-off, never left without a timer
        failed(reg, "heap")
        return
    if tx.error is None:
        reg.tx = tx


def failed(reg, reason, seconds=None):
    reg.tx = None
    reg.fails += 1
    if seconds is None:
        seconds = min(5 << (reg.fails - 1), 300)  # 5, 10, 20 ... 160, 300 s
    was = reg.state
    reg.state = "failed"
    reg.due = reg.ua.txs.after(seconds * 1000)
    if was != "failed" or reg.fails == 1:
        reg.ua.event("registration-failed", None, reason)


def on_response(reg, tx, resp):
    if reg.tx is not None and tx is not reg.tx:
        return  # an attempt we gave up on
    ua = reg.ua
    if resp is None:
        # Timer F or a transport error (RFC 3261 17.1.4): the backup now, if the
        # primary was silent; both silent: back off, then the primary again.
        if ua.backup and not reg.stopping and not reg.on_backup:
            reg.on_backup = True
            send(reg)
            return
        reg.on_backup = False
        failed(reg, tx.error)
        return
    # The answer may find no heap for what it loads (digest for a challenge) or builds: a
    # failure like any other, retried after the back-off - never a registration left
    # without a timer.
    try:
        st = resp.status
        if st < 200:
            return
        if st == 401 or st == 407:
            a = load("auth").authorize(resp, "REGISTER", "sip:" + ua.domain, ua.auth_user, ua.password or "")
            # a second challenge for the nonce we answered, not marked stale: wrong credentials.
            # Only for a request that carried them: a REGISTER sent without (a refresh, the
            # one after the NAT fix-up) may well meet the same nonce again (Kamailio's last
            # for their lifetime). (The transaction keeps the REGISTER as its bytes; the
            # name matches Proxy-Authorization too.)
            sent = b"Authorization: " in tx.last
            if a is None or (sent and a[2] == reg.nonce and not a[3]):
                reg.nonce = None
                failed(reg, "auth", 60)
                return
            reg.nonce = a[2]
            send(reg, a)
            return
        if st >= 300:
            register_failed(reg, resp)
            return
        reg.tx = None
        reg.fails = 0
        if reg.stopping:
            reg.state = "unregistered"
            ua.event("unregistered")
            return
        g = registered(reg, resp)
        if g is None:
            return  # registering the address the registrar saw instead (NAT)
        reg.state = "registered"
        reg.due = ua.txs.after(1000 * (g - _MARGIN_S if g > 2 * _MARGIN_S else max(g // 2, 1)))
        if reg.on_backup:
            reg.backup_bound = True
        elif reg.backup_bound:
            reg.backup_bound = False
            unbind_backup(reg)
        ua.event("registered", None, g)
    except MemoryError:
        failed(reg, "heap")


def register_failed(reg, resp):
    """A REGISTER's final response other than 2xx and a challenge: 423 asks again with
    at least Min-Expires (RFC 3261 10.2.8); others back off, Retry-After honoured (21.5.4)."""
    st = resp.status
    if st == 423:
        try:
            reg.expires = max(reg.expires, int(resp.get("min-expires")))
        except (TypeError, ValueError):
            reg.expires *= 2
        send(reg)
        return
    secs = None
    ra = resp.get("retry-after")
    if ra:
        try:
            secs = min(int(ra.split(";")[0].split("(")[0].strip()), 3600)
        except ValueError:
            pass
    failed(reg, str(st), secs)


def registered(reg, resp):
    """A 2xx to our REGISTER: RFC 3581 4 first - the registrar saw us at received:rport;
    behind NAT that differs from our Contact, so that address is registered instead (once),
    for calls to reach us. Then the grant (10.2.4: our Contact's expires, else Expires,
    else what we asked). Returns the grant, or None when the Contact was fixed."""
    ua = reg.ua
    v = resp.top_via
    rport = v.param("rport")
    if not reg.nat_fixed and rport:
        try:
            seen = (v.param("received") or v.host, int(rport))
        except ValueError:
            seen = ua.contact_addr
        if seen != ua.contact_addr:
            reg.nat_fixed = True
            ua.contact_addr = seen
            send(reg)
            return None
    mine = ua.contact()[1:-1]
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
        return reg.expires


def unbind_backup(reg, tx=None, resp=None):
    """Back on the primary registrar: the binding made at the backup goes (RFC 3261
    10.2.2, Expires 0), or calls would still be sent there until it expired. Answered
    once with credentials when challenged; the outcome changes nothing else."""
    ua = reg.ua
    creds = None
    if resp is not None:
        if resp.status not in (401, 407) or tx.data:
            return
        creds = load("auth").authorize(resp, "REGISTER", "sip:" + ua.domain, ua.auth_user, ua.password or "")
        if creds is None:
            return
    reg.cseq += 1
    tx = ua.txs.client(request(reg, 0, creds), ua.backup, lambda tx, resp: resp and unbind_backup(reg, tx, resp))
    tx.data = creds is not None
