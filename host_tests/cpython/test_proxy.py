"""tools/proxy.py in process (CPython only): bytes in, a fake transport captures what goes out.

The clock is injected, so nonce ageing and binding expiry are stepped, never slept. Credentials come
from mpsip.digest.Client (itself checked against the KAT vectors in test_digest.py).
"""

import itertools

import pytest

from mpsip import digest
from mpsip.message import Request, Response, parse
from tools import proxy as px

PORT = 5060
ME = "127.0.0.1:%d" % PORT
USERS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE = ("127.0.0.1", 5071)
BOB = ("127.0.0.1", 5072)


_branches = itertools.count()


def fresh_branch():
    # A new transaction each time: the proxy resends its answer to a repeated branch (RFC 3261 17.2.2).
    return "z9hG4bKt%d" % next(_branches)


class Harness:
    """A Proxy on 127.0.0.1:5060 with a fake send, a list of log lines and a settable clock."""

    def __init__(self, auth_invite=True, secret=b"k" * 16):
        self.now = 1000000.0
        self.sent = []
        self.lines = []
        self.proxy = px.Proxy(
            "127.0.0.1",
            PORT,
            "127.0.0.1",
            USERS,
            auth_invite,
            send=lambda data, dest: self.sent.append((data, dest)),
            log=self.lines.append,
            clock=lambda: self.now,
            secret=secret,
        )

    def feed(self, data, source):
        """Hand a datagram to the proxy; return [(parsed message, destination)] it sent."""
        n = len(self.sent)
        self.proxy.handle(data, source)
        assert not [s for s in self.lines if s.startswith("PROXY error")], self.lines
        return [(parse(d), dest) for d, dest in self.sent[n:]]

    def one(self, data, source):
        out = self.feed(data, source)
        assert len(out) == 1, out
        return out[0]


def sip(method, ruri, src=ALICE, user="alice", call_id="call-1", cseq=1, branch=None, to=None, to_tag=None,
        headers=(), body=b"", max_forwards=70, via=None):  # fmt: skip
    """A request as a UA on `src` sends it, rport asked for (RFC 3581)."""
    to = to or ruri
    branch = branch or fresh_branch()
    lines = [
        "%s %s SIP/2.0" % (method, ruri),
        via or "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (src[0], src[1], branch),
        "From: <sip:%s@127.0.0.1>;tag=f-%s" % (user, user),
        "To: <%s>%s" % (to, ";tag=" + to_tag if to_tag else ""),
        "Call-ID: %s" % call_id,
        "CSeq: %d %s" % (cseq, method),
    ]
    if max_forwards is not None:
        lines.append("Max-Forwards: %d" % max_forwards)
    lines += list(headers)
    lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def challenge_of(res):
    name = "Proxy-Authenticate" if res.status == 407 else "WWW-Authenticate"
    (ch,) = digest.parse_challenges(res.get(name), proxy=res.status == 407)
    return ch


def authorized(h, method, ruri, user="alice", password=None, src=ALICE, cseq=1, headers=(), **kw):
    """Send without credentials, answer the challenge; return the second answer or forward.
    The second request's branch is the first one's + "x"."""
    kw["branch"] = kw.get("branch") or fresh_branch()
    res, dest = h.one(sip(method, ruri, src=src, user=user, cseq=cseq, headers=headers, **kw), src)
    assert res.status in (401, 407), res
    ch = challenge_of(res)
    value = digest.Client(user, password or USERS[user]).authorize(ch, method, ruri)
    auth = ("%s: %s" % (ch.header, value),)
    kw["branch"] += "x"
    return h.one(sip(method, ruri, src=src, user=user, cseq=cseq + 1, headers=tuple(headers) + auth, **kw), src)


def register(h, user="alice", src=ALICE, contact=None, expires=None, cseq=1, call_id=None, password=None):
    contact = contact or "<sip:%s@%s:%d>" % (user, src[0], src[1])
    headers = ["Contact: %s" % contact]
    if expires is not None:
        headers.append("Expires: %d" % expires)
    return authorized(
        h,
        "REGISTER",
        "sip:" + ME,
        user=user,
        password=password,
        src=src,
        cseq=cseq,
        headers=headers,
        to="sip:%s@%s" % (user, ME),
        call_id=call_id or "reg-" + user,
    )


# ---------------------------------------------------------------- registrar


def test_register_without_credentials_gets_401_md5_qop_auth_with_a_timestamped_nonce():
    h = Harness()
    res, dest = h.one(sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME, headers=["Contact: <sip:a@x>"]), ALICE)
    assert res.status == 401 and dest == ALICE
    ch = challenge_of(res)
    assert (ch.realm, ch.algorithm, ch.qops, ch.stale) == ("127.0.0.1", "MD5", ["auth"], False)
    assert int(ch.nonce[:8], 16) == int(h.now)
    assert res.to_addr.tag  # RFC 3261 8.2.6.2
    assert h.proxy.bindings == {}
    assert h.lines[-1] == "PROXY challenge 401 sip:%s (REGISTER: no credentials)" % ME


def test_register_with_the_right_digest_binds_the_contact_and_the_200_lists_it():
    h = Harness()
    res, dest = register(h, expires=600, contact="<sip:alice@192.0.2.7:5099;transport=udp>")
    assert res.status == 200 and dest == ALICE
    assert res.get_all("contact") == ["<sip:alice@192.0.2.7:5099;transport=udp>;expires=600"]
    (b,) = h.proxy.bindings["alice"]
    # RFC 3581: requests for alice will go where the REGISTER came from, not to the Contact's host.
    assert b.source == ALICE and b.contact.uri.host == "192.0.2.7"
    assert "PROXY registered alice contact=<sip:alice@192.0.2.7:5099;transport=udp> expires=600" in h.lines


CASES = {
    "test_expiry_comes_from_the_contact_param_then_the_expires_header_then_3600": [
        (";expires=120", "Expires: 300", 120),
        ("", "Expires: 300", 300),
        ("", None, 3600),
    ],
    "test_malformed_request_gets_the_status_of_its_parse_error": [
        ("CSeq: 1 INVITE", "CSeq: x INVITE", 400),
        ("SIP/2.0\r\nVia", "SIP/3.0\r\nVia", 505),
        ("Max-Forwards: 70", "Max-Forwards: 300", 400),
        ("CSeq: 1 INVITE", "CSeq: 1 BYE", 400),
    ],
}


def test_expiry_comes_from_the_contact_param_then_the_expires_header_then_3600(case):
    param, header, want = case
    h = Harness()
    headers = ["Contact: <sip:alice@127.0.0.1:5071>" + param] + ([header] if header else [])
    res, _ = authorized(h, "REGISTER", "sip:" + ME, headers=headers, to="sip:alice@" + ME)
    assert res.get("contact").endswith(";expires=%d" % want)
    assert h.proxy.bindings["alice"][0].expires_at == h.now + want


def test_wrong_password_gets_403_after_the_401_and_binds_nothing():
    h = Harness()
    res, _ = register(h, password="guess")
    assert res.status == 403
    assert h.proxy.bindings == {}


def test_old_nonce_with_the_right_password_gets_a_new_401_with_stale_true():
    h = Harness()
    res, _ = h.one(sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME), ALICE)
    ch = challenge_of(res)
    h.now += px.NONCE_TTL + 1
    for password, stale in (("alice-pw", True), ("guess", False)):
        value = digest.Client("alice", password).authorize(ch, "REGISTER", "sip:" + ME)
        msg = sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME, cseq=2, branch="z9hG4bK" + password,
                  headers=["Authorization: " + value, "Contact: <sip:alice@127.0.0.1:5071>"])  # fmt: skip
        res, _ = h.one(msg, ALICE)
        assert res.status == 401 and challenge_of(res).stale is stale
        assert challenge_of(res).nonce != ch.nonce
    assert h.proxy.bindings == {}


def test_a_nonce_of_an_earlier_run_is_stale_not_forbidden():
    before = Harness(secret=b"a" * 16)
    res, _ = before.one(sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME), ALICE)
    value = digest.Client("alice", "alice-pw").authorize(challenge_of(res), "REGISTER", "sip:" + ME)
    after = Harness(secret=b"b" * 16)  # the proxy restarted
    msg = sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME, cseq=2, headers=["Authorization: " + value])
    res, _ = after.one(msg, ALICE)
    assert res.status == 401 and challenge_of(res).stale


def test_digest_uri_must_be_the_request_uri_or_the_proxy():
    h = Harness()
    res, _ = h.one(sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME), ALICE)
    ch = challenge_of(res)
    for uri, status in (("sip:elsewhere.example", 400), ("sip:" + ME, 200)):
        value = digest.Client("alice", "alice-pw").authorize(ch, "REGISTER", uri)
        msg = sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME, cseq=2, branch="z9hG4bK" + uri[-3:],
                  headers=["Authorization: " + value, "Contact: <sip:alice@127.0.0.1:5071>"])  # fmt: skip
        assert h.one(msg, ALICE)[0].status == status


def test_register_for_another_users_aor_gets_403():
    h = Harness()
    res, _ = authorized(h, "REGISTER", "sip:" + ME, user="alice", to="sip:bob@" + ME, headers=["Contact: <sip:b@x>"])
    assert res.status == 403
    assert h.proxy.bindings == {}


def test_expires_below_60_gets_423_with_min_expires_and_keeps_the_old_binding():
    h = Harness()
    register(h, expires=600)
    res, _ = register(h, expires=30, cseq=3)
    assert res.status == 423 and res.get("min-expires") == "60"
    (b,) = h.proxy.bindings["alice"]
    assert b.expires_at == h.now + 600


def test_expires_zero_removes_the_binding():
    h = Harness()
    register(h, expires=600)
    res, _ = register(h, expires=0, cseq=3)
    assert res.status == 200 and res.get("contact") is None
    assert h.proxy.bindings == {}
    assert "PROXY unregistered alice contact=<sip:alice@127.0.0.1:5071>" in h.lines


def test_contact_star_with_expires_zero_removes_every_binding():
    h = Harness()
    register(h, contact="<sip:alice@127.0.0.1:5071>", cseq=1)
    register(h, contact="<sip:alice@127.0.0.1:6071>", cseq=3)
    assert len(h.proxy.bindings["alice"]) == 2
    res, _ = register(h, contact="*", expires=3600, cseq=5)
    assert res.status == 400  # RFC 3261 10.3 step 6: '*' only with Expires: 0
    res, _ = register(h, contact="*", expires=0, cseq=1)
    assert res.status == 500  # same Call-ID, CSeq 2 not above the first binding's
    assert len(h.proxy.bindings["alice"]) == 2
    res, _ = register(h, contact="*", expires=0, cseq=7)
    assert res.status == 200
    assert h.proxy.bindings == {}


def test_same_call_id_with_a_cseq_not_higher_gets_500_and_changes_nothing():
    h = Harness()
    register(h, expires=600, cseq=10)  # the binding stores CSeq 11
    res, _ = register(h, expires=0, cseq=5)
    assert res.status == 500
    assert len(h.proxy.bindings["alice"]) == 1
    res, _ = register(h, expires=0, cseq=5, call_id="after-a-reboot")  # another Call-ID: no order
    assert res.status == 200 and h.proxy.bindings == {}


def test_a_retransmitted_register_gets_the_same_200_not_500():
    h = Harness()
    res, _ = h.one(sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME), ALICE)
    value = digest.Client("alice", "alice-pw").authorize(challenge_of(res), "REGISTER", "sip:" + ME)
    msg = sip("REGISTER", "sip:" + ME, to="sip:alice@" + ME, cseq=2, branch="z9hG4bKr2",
              headers=["Authorization: " + value, "Contact: <sip:alice@127.0.0.1:5071>"])  # fmt: skip
    first, _ = h.one(msg, ALICE)
    again, _ = h.one(msg, ALICE)  # RFC 3261 17.2.2: the server transaction answers it
    assert first.status == again.status == 200
    assert again.to_bytes() == first.to_bytes()


def test_a_binding_expires_with_the_clock():
    h = Harness()
    register(h, user="bob", src=BOB, expires=60)
    h.now += 61
    res, _ = authorized(h, "INVITE", "sip:bob@" + ME)
    assert res.status == 480
    assert "PROXY expired bob contact=<sip:bob@127.0.0.1:5072>" in h.lines


# ---------------------------------------------------------------- proxy


def test_out_of_dialog_invite_is_challenged_with_407():
    h = Harness()
    register(h, user="bob", src=BOB)
    res, dest = h.one(sip("INVITE", "sip:bob@" + ME), ALICE)
    assert res.status == 407 and dest == ALICE
    assert challenge_of(res).qops == ["auth"]


def test_the_digest_user_must_be_the_from_user():
    h = Harness()
    register(h, user="bob", src=BOB)
    res, _ = h.one(sip("INVITE", "sip:bob@" + ME, user="mallory"), ALICE)
    value = digest.Client("alice", "alice-pw").authorize(challenge_of(res), "INVITE", "sip:bob@" + ME)
    msg = sip("INVITE", "sip:bob@" + ME, user="mallory", cseq=2, headers=["Proxy-Authorization: " + value])
    assert h.one(msg, ALICE)[0].status == 403


def test_invite_goes_to_where_the_callee_registered_from_with_our_via_record_route_and_max_forwards():
    h = Harness()
    register(h, user="bob", src=BOB, contact="<sip:bob@10.0.0.9:5060>")  # bob behind NAT
    sdp = ["Content-Type: application/sdp"]
    fwd, dest = authorized(h, "INVITE", "sip:bob@" + ME, branch="z9hG4bKa1", body=b"v=0\r\n", headers=sdp)
    assert isinstance(fwd, Request) and dest == BOB
    assert fwd.uri.to_str() == "sip:bob@10.0.0.9:5060"  # RFC 3261 16.6 step 2
    top, caller = fwd.vias
    assert top.host == "127.0.0.1" and top.port == PORT and top.branch.startswith("z9hG4bK")
    assert top.branch != "z9hG4bKa1x"
    # RFC 3581 4: the caller's Via got rport and received filled in.
    assert (caller.branch, caller.param("rport"), caller.param("received")) == ("z9hG4bKa1x", "5071", "127.0.0.1")
    assert fwd.get_all("record-route") == ["<sip:%s;lr>" % ME]
    assert fwd.max_forwards == 69
    assert fwd.get("proxy-authorization") is None  # RFC 3261 22.3: consumed here
    assert fwd.body == b"v=0\r\n"
    assert h.lines[-1] == "PROXY forward INVITE sip:bob@10.0.0.9:5060 -> 127.0.0.1:5072"


def test_a_stateless_proxy_picks_one_target_the_highest_q_then_the_newest():
    h = Harness(auth_invite=False)
    second, low_q = ("127.0.0.1", 6072), ("127.0.0.1", 7072)
    register(h, user="bob", src=BOB, contact="<sip:bob@127.0.0.1:5072>", cseq=1)
    register(h, user="bob", src=second, contact="<sip:bob@127.0.0.1:6072>", cseq=3)
    register(h, user="bob", src=low_q, contact="<sip:bob@127.0.0.1:7072>;q=0.5", cseq=5)
    assert len(h.proxy.bindings["bob"]) == 3
    fwd, dest = h.one(sip("INVITE", "sip:bob@" + ME), ALICE)
    assert dest == second and fwd.uri.to_str() == "sip:bob@127.0.0.1:6072"


def test_missing_max_forwards_is_added_as_70():
    h = Harness(auth_invite=False)
    register(h, user="bob", src=BOB)
    fwd, _ = h.one(sip("MESSAGE", "sip:bob@" + ME, max_forwards=None), ALICE)
    assert fwd.max_forwards == 70
    assert fwd.get("record-route") is None  # MESSAGE forms no dialog


def test_cancel_and_the_ack_of_a_non_2xx_get_the_invites_branch_and_are_never_challenged():
    h = Harness()
    register(h, user="bob", src=BOB)
    invite, _ = authorized(h, "INVITE", "sip:bob@" + ME, branch="z9hG4bKinv")
    cancel, dest = h.one(sip("CANCEL", "sip:bob@" + ME, branch="z9hG4bKinvx", cseq=2), ALICE)
    assert cancel.method == "CANCEL" and dest == BOB
    ack, dest = h.one(sip("ACK", "sip:bob@" + ME, branch="z9hG4bKinvx", cseq=2, to_tag="bob-1"), ALICE)
    assert ack.method == "ACK" and dest == BOB
    assert invite.top_via.branch == cancel.top_via.branch == ack.top_via.branch  # RFC 3261 16.11
    assert cancel.get("record-route") is None
    # Another transaction from the same UA gets another branch; so does a BYE on the INVITE's branch.
    bye, _ = h.one(sip("BYE", "sip:bob@" + ME, branch="z9hG4bKinvx", cseq=3, to_tag="bob-1"), ALICE)
    other, _ = h.one(sip("ACK", "sip:bob@" + ME, branch="z9hG4bK2xx", cseq=2, to_tag="bob-1"), ALICE)
    assert len({invite.top_via.branch, bye.top_via.branch, other.top_via.branch}) == 3


def test_ack_for_our_own_407_is_absorbed():
    h = Harness()
    register(h, user="bob", src=BOB)
    res, _ = h.one(sip("INVITE", "sip:bob@" + ME), ALICE)
    assert res.status == 407
    assert h.feed(sip("ACK", "sip:bob@" + ME, to_tag=res.to_addr.tag), ALICE) == []


def test_in_dialog_request_pops_our_route_and_goes_to_the_remote_target():
    h = Harness()
    register(h, user="bob", src=BOB, contact="<sip:bob@10.0.0.9:5060>")
    route = ["Route: <sip:%s;lr>" % ME]
    # The remote target is bob's registered Contact: sent where bob registered from.
    bye, dest = h.one(sip("BYE", "sip:bob@10.0.0.9:5060", to_tag="t", headers=route), ALICE)
    assert dest == BOB and bye.get("route") is None and bye.max_forwards == 69
    # An unregistered loopback target is reached at its own address; a Route after ours is the next hop.
    bye, dest = h.one(sip("BYE", "sip:carol@127.0.0.1:7000", to_tag="t", headers=route), ALICE)
    assert dest == ("127.0.0.1", 7000)
    two = ["Route: <sip:%s;lr>, <sip:127.0.0.1:7100;lr>" % ME]
    bye, dest = h.one(sip("BYE", "sip:carol@127.0.0.1:7000", to_tag="t", headers=two), ALICE)
    assert dest == ("127.0.0.1", 7100) and bye.get_all("route") == ["<sip:127.0.0.1:7100;lr>"]
    assert bye.get("record-route") is None  # in-dialog: no Record-Route


def test_requests_to_anything_but_loopback_are_refused_and_nothing_is_sent_there():
    h = Harness(auth_invite=False)
    res, dest = h.one(sip("BYE", "sip:carol@192.0.2.1:5060", to_tag="t"), ALICE)
    assert res.status == 403 and dest == ALICE
    res, dest = h.one(sip("BYE", "sip:carol@example.com", to_tag="t", branch="z9hG4bKdns"), ALICE)
    assert res.status == 404 and dest == ALICE  # no DNS here


def test_unknown_user_gets_404_known_but_unregistered_480_and_max_forwards_0_483():
    h = Harness()
    assert authorized(h, "INVITE", "sip:nobody@" + ME)[0].status == 404
    assert authorized(h, "INVITE", "sip:bob@" + ME)[0].status == 480
    register(h, user="bob", src=BOB)
    assert h.one(sip("INVITE", "sip:bob@" + ME, max_forwards=0), ALICE)[0].status == 483
    assert h.one(sip("INVITE", "sip:bob@" + ME, max_forwards=1), ALICE)[0].status == 407  # 1 is still fine
    assert "PROXY reject 404 sip:nobody@%s (INVITE: no such user)" % ME in h.lines


def test_proxy_require_gets_420_with_unsupported():
    h = Harness(auth_invite=False)
    register(h, user="bob", src=BOB)
    res, _ = h.one(sip("INVITE", "sip:bob@" + ME, headers=["Proxy-Require: foo"]), ALICE)
    assert res.status == 420 and res.get("unsupported") == "foo"


def test_no_auth_invite_forwards_out_of_dialog_requests_unchallenged():
    h = Harness(auth_invite=False)
    register(h, user="bob", src=BOB)
    fwd, dest = h.one(sip("INVITE", "sip:bob@" + ME), ALICE)
    assert fwd.method == "INVITE" and dest == BOB


def test_options_to_the_proxy_itself_gets_200():
    h = Harness()
    res, dest = h.one(sip("OPTIONS", "sip:" + ME), ALICE)
    assert res.status == 200 and dest == ALICE and "INVITE" in res.get("allow")


# ---------------------------------------------------------------- responses


def test_response_pops_our_via_and_goes_to_the_next_vias_received_and_rport():
    h = Harness(auth_invite=False)
    register(h, user="bob", src=BOB)
    nat = ("127.0.0.5", 40000)  # the caller's Via says 5071, its packets come from here
    via = "Via: SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKn;rport"
    fwd, _ = h.one(sip("INVITE", "sip:bob@" + ME, via=via), nat)
    ringing = fwd.response(180, to_tag="b1")
    res, dest = h.one(ringing.to_bytes(), BOB)
    assert isinstance(res, Response) and res.status == 180
    assert dest == nat
    assert len(res.vias) == 1 and res.top_via.branch == "z9hG4bKn"
    assert h.lines[-1] == "PROXY response 180 INVITE -> 127.0.0.5:40000"


def test_response_whose_top_via_is_not_ours_is_dropped():
    h = Harness()
    stray = Response(200, headers=[
        ("Via", "SIP/2.0/UDP 127.0.0.1:5071;branch=z9hG4bKzz"), ("From", "<sip:a@b>;tag=1"),
        ("To", "<sip:c@d>;tag=2"), ("Call-ID", "x"), ("CSeq", "1 INVITE"),
    ])  # fmt: skip
    assert h.feed(stray.to_bytes(), BOB) == []
    assert h.lines[-1].startswith("PROXY drop response 200")


# ---------------------------------------------------------------- bad input


def test_malformed_request_gets_the_status_of_its_parse_error(case):
    old, new, status = case
    h = Harness(auth_invite=False)
    data = sip("INVITE", "sip:bob@" + ME).replace(old.encode(), new.encode(), 1)
    assert data != sip("INVITE", "sip:bob@" + ME)
    res, dest = h.one(data, ALICE)
    assert res.status == status and dest == ALICE


def test_garbage_malformed_responses_and_keepalives_are_dropped_and_the_proxy_goes_on():
    h = Harness(auth_invite=False)
    bad_response = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bKq\r\nCSeq: nope\r\n\r\n" % ME.encode()
    no_via = b"INVITE sip:bob@127.0.0.1 SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nCSeq: 1 INVITE\r\n\r\n"
    for data in (b"\x00\xff garbage", b"\r\n\r\n", bad_response, no_via, b"INVITE\r\n\r\n", bytes(range(256))):
        assert h.feed(data, ALICE) == []
    assert not [s for s in h.lines if "PROXY drop" not in s]
    res, _ = h.one(sip("OPTIONS", "sip:" + ME), ALICE)  # still answering
    assert res.status == 200


def test_main_refuses_a_listen_address_that_is_not_loopback(capsys):
    for listen in ("192.0.2.1:5060", "0.0.0.0:5060", "localhost:5060"):
        with pytest.raises(SystemExit) as e:
            px.main(["--listen", listen])
        assert e.value.code == 2
        assert "loopback only" in capsys.readouterr().err
