# The seldom paths of registration (register.py): the details of a REGISTER's 2xx
# (RFC 3581 received/rport, the grant), 423 and the other failures, the backup registrar's
# binding. Lent like mpsip.rare (ua.py: loaded on demand, dropped by the first poll() that
# needs it not), but on its own: every refresh's 2xx comes here, and ~1.5 KB is lent for it
# rather than rare's ~6 KB. Nothing here keeps state: it lives on the Registration.
from mpsip.ua import load


def register_failed(reg, resp):
    """A REGISTER's final response other than 2xx and a challenge: 423 asks again with
    at least Min-Expires (RFC 3261 10.2.8); others back off, Retry-After honoured (21.5.4)."""
    st = resp.status
    if st == 423:
        try:
            reg.expires = max(reg.expires, int(resp.get("min-expires")))
        except (TypeError, ValueError):
            reg.expires *= 2
        reg.send()
        return
    secs = None
    ra = resp.get("retry-after")
    if ra:
        try:
            secs = min(int(ra.split(";")[0].split("(")[0].strip()), 3600)
        except ValueError:
            pass
    reg.failed(str(st), secs)


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
            reg.send()
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
        creds = load("auth").authorize(resp, "REGISTER", tx.req.uri.to_str(), ua.auth_user, ua.password or "")
        if creds is None:
            return
    reg.cseq += 1
    tx = ua.txs.client(reg.request(0, creds), ua.backup, lambda tx, resp: resp and unbind_backup(reg, tx, resp))
    tx.data = creds is not None
