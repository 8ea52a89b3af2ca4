# The server side of digest (mpsip/digest_server.py: Guard's challenges, parse_authorization,
# verify) against answers from mpsip.digest's Client: tools/proxy.py's authentication. Apart
# from test_digest.py so that each process holds less test code in the 96K heap.
from mpsip import digest, digest_server
from mpsip.digest import DigestError
from support import raises


class Clock:
    def __init__(self):
        self.t = 1000

    def __call__(self):
        return self.t


def _rand():
    n = [0]

    def rand(k):
        n[0] += 1
        return bytes([n[0]]) * k

    return rand


def _guard(**kw):
    clock = Clock()
    return digest_server.Guard("example.com", rand=_rand(), clock=clock, **kw), clock


def _answer(guard_value, user="alice", pw="pw", method="REGISTER", uri="sip:example.com", client=None):
    client = client or digest.Client(user, pw)
    ch = digest.pick(digest.parse_challenges(guard_value))
    return digest_server.parse_authorization(client.authorize(ch, method, uri))


def test_guard_accepts_a_correct_answer():
    g, _ = _guard()
    cred = _answer(g.challenge())
    assert g.check(cred, "REGISTER", password="pw", uri="sip:example.com") == (True, False)


def test_guard_accepts_stored_ha1():
    g, _ = _guard()
    cred = _answer(g.challenge())
    h1 = digest_server.ha1("MD5", "alice", "example.com", "pw")
    assert g.check(cred, "REGISTER", ha1_hex=h1) == (True, False)


def test_guard_rejects_a_wrong_password():
    g, _ = _guard()
    cred = _answer(g.challenge(), pw="wrong")
    assert g.check(cred, "REGISTER", password="pw") == (False, False)


def test_guard_rejects_a_wrong_uri_or_method():
    g, _ = _guard()
    cred = _answer(g.challenge(), uri="sip:elsewhere.example")
    assert g.check(cred, "REGISTER", password="pw", uri="sip:example.com") == (False, False)
    cred = _answer(g.challenge())
    assert g.check(cred, "INVITE", password="pw") == (False, False)


def test_guard_rejects_a_replayed_nonce_count():
    g, _ = _guard()
    client = digest.Client("alice", "pw")
    value = g.challenge()
    first = _answer(value, client=client)
    second = _answer(value, client=client)
    assert g.check(first, "REGISTER", password="pw") == (True, False)
    assert g.check(first, "REGISTER", password="pw") == (False, False)  # replay
    assert g.check(second, "REGISTER", password="pw") == (True, False)  # nc 2 > 1
    assert g.check(first, "REGISTER", password="pw") == (False, False)  # nc 1 after 2


def test_guard_rejects_unknown_or_unoffered_algorithm():
    g, _ = _guard()
    nonce = digest.parse_challenges(g.challenge())[0].nonce
    cred = digest_server.parse_authorization(
        'Digest username="alice", realm="example.com", nonce="%s", uri="sip:example.com", '
        'response="00", algorithm=SHA-999, qop=auth, nc=00000001, cnonce="x"' % nonce
    )
    assert cred.algorithm == "SHA-999"
    assert not digest_server.verify(cred, "REGISTER", "pw")
    assert g.check(cred, "REGISTER", password="pw") == (False, False)
    # a correct SHA-256 answer is still refused by a guard that only offered MD5 (no switching)
    ch = digest.parse_challenges(g.challenge().replace("algorithm=MD5", "algorithm=SHA-256"))[0]
    cred = digest_server.parse_authorization(digest.Client("alice", "pw").authorize(ch, "REGISTER", "sip:x"))
    assert digest_server.verify(cred, "REGISTER", "pw")
    assert g.check(cred, "REGISTER", password="pw") == (False, False)


def test_guard_rejects_downgrade_to_no_qop_and_foreign_realm():
    g, _ = _guard()
    ch = digest.parse_challenges(g.challenge().replace(', qop="auth"', ""))[0]
    cred = digest_server.parse_authorization(digest.Client("alice", "pw").authorize(ch, "REGISTER", "sip:x"))
    assert cred.qop is None and digest_server.verify(cred, "REGISTER", "pw")
    assert g.check(cred, "REGISTER", password="pw") == (False, False)
    ch = digest.parse_challenges(g.challenge().replace("example.com", "evil.example"))[0]
    cred = digest_server.parse_authorization(digest.Client("alice", "pw").authorize(ch, "REGISTER", "sip:x"))
    assert g.check(cred, "REGISTER", password="pw") == (False, False)


def test_stale_nonce_leads_to_a_retry_without_new_credentials():
    g, clock = _guard(ttl=60)
    client = digest.Client("alice", "pw")
    cred = _answer(g.challenge(), client=client)
    clock.t += 61
    # right password, expired nonce: the server says stale, the client retries on its own
    ok, stale = g.check(cred, "REGISTER", password="pw")
    assert (ok, stale) == (False, True)
    ch = digest.pick(digest.parse_challenges(g.challenge(stale=stale)))
    assert ch.stale
    cred2 = digest_server.parse_authorization(client.authorize(ch, "REGISTER", "sip:example.com"))
    assert cred2.nonce != cred.nonce and cred2.nc == "00000001"
    assert g.check(cred2, "REGISTER", password="pw") == (True, False)
    # a wrong password with an expired nonce is not "stale"
    clock.t += 61
    assert g.check(_answer(g.challenge(), pw="bad"), "REGISTER", password="pw") == (False, False)


def test_guard_forgets_the_oldest_nonce_beyond_its_size():
    g, clock = _guard(size=2)
    first = _answer(g.challenge())
    clock.t += 1
    g.challenge()
    clock.t += 1
    g.challenge()
    assert g.check(first, "REGISTER", password="pw") == (False, True)


def test_guard_offers_several_algorithms_with_one_nonce():
    g, _ = _guard(algorithms=("SHA-256", "MD5"))
    values = g.challenges()
    chs = digest.parse_challenges(values)
    assert [c.algorithm for c in chs] == ["SHA-256", "MD5"] and chs[0].nonce == chs[1].nonce
    md5_only = digest.Client("alice", "pw").authorize(chs[1], "REGISTER", "sip:example.com")
    assert g.check(digest_server.parse_authorization(md5_only), "REGISTER", password="pw") == (True, False)


def test_parse_authorization_rejects_malformed_credentials():
    ok = 'Digest username="a", realm="r", nonce="n", uri="sip:x", response="ab"'
    assert digest_server.parse_authorization(ok).qop is None
    bad = [
        'Digest realm="r", nonce="n", uri="sip:x", response="ab"',
        ok + ", qop=auth",  # no nc / cnonce
        ok + ', qop=auth, nc=1, cnonce="c"',  # nc is 8 hex digits
        ok + ', qop=auth, nc=0000000g, cnonce="c"',
        ok.replace("Digest", "Basic"),
        ok + ", Digest " + ok[7:],
        'Digest username="a',
        b"\xc3",
        "",
    ]
    for value in bad:
        assert raises(DigestError, digest_server.parse_authorization, value).status == 400, value


def test_verify_without_password_or_ha1_is_a_caller_error():
    cred = digest_server.parse_authorization('Digest username="a", realm="r", nonce="n", uri="u", response="ab"')
    assert raises(DigestError, digest_server.verify, cred, "INVITE").status == 500
