# Digest answers for the user agent (RFC 3261 22.2, 22.3): loaded for a 401/407 and dropped
# again like mpsip.rare (ua.py) - but on its own, so that a challenge does not bring rare's
# ~6 KB along: at call setup (a 407 to our INVITE) the heap already holds the call and SDP.
import gc
import sys


def authorize(resp, method, uri, user, password):
    """(header name, value, nonce, stale) answering the response's digest challenge, or
    None. The digest module (~11 KB) is loaded for this and dropped after, unless
    someone else had loaded it."""
    loaded = "mpsip.digest" in sys.modules
    out = None
    try:
        if not loaded:
            # Garbage first: the module's blocks then fill the holes it leaves, not the
            # top of the heap, and a challenge per registration does not break it up.
            gc.collect()
        from mpsip import digest

        proxy = resp.status == 407
        try:
            chs = digest.parse_challenges(resp.get_all("proxy-authenticate" if proxy else "www-authenticate"), proxy)
            ch = digest.pick(chs)
            value = digest.Client(user, password).authorize(ch, method, uri)
            out = ("Proxy-Authorization" if proxy else "Authorization", value, ch.nonce, ch.stale)
        except digest.DigestError:
            pass
    finally:
        # even when the import itself ran out of heap: a half-made module must not stay
        if not loaded:
            from mpsip.ua import drop

            drop("digest")
    return out
