"""Fixtures for tests against real peers (Kamailio, baresip, SIPp) on 127.0.0.1 — CPython only.

A missing peer skips the test, or fails it when MPSIP_REQUIRE_PEERS=1 (tools.peers.require).
Every peer started here is stopped at teardown; when the test failed, each peer's log (and SIPp's
traces) is printed, so it shows in pytest's "Captured stdout teardown" section.
"""

import os

import pytest

from tools import peers

# Accounts on the test registrar. "ua" is for mpsip's user agent.
USERS = {"alice": "alice-pw", "bob": "bob-pw", "carol": "carol-pw", "ua": "ua-pw"}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(request):
    return any(getattr(getattr(request.node, "rep_" + w, None), "failed", False) for w in ("setup", "call"))


class _Peers:
    """Everything a test started, stopped in reverse order at teardown."""

    def __init__(self, request, tmp_path):
        self.request, self.tmp = request, tmp_path
        self.started = []
        self.n = 0

    def dir(self, name):
        self.n += 1
        path = os.path.join(str(self.tmp), "%02d-%s" % (self.n, name))
        os.makedirs(path, exist_ok=True)
        return path

    def add(self, peer):
        self.started.append(peer)
        return peer

    def close(self):
        failed = _failed(self.request)
        for peer in reversed(self.started):
            peer.cleanup()  # stops it; files under tmp_path stay for the failure report
            if failed:
                print(peer.report() if isinstance(peer, peers.Sipp) else peer.describe())


@pytest.fixture
def started(request, tmp_path):
    p = _Peers(request, tmp_path)
    yield p
    p.close()


@pytest.fixture
def kamailio(started):
    """A running Kamailio with USERS, on a free port."""
    peers.require("kamailio")
    return started.add(peers.Kamailio(USERS, workdir=started.dir("kamailio"))).start()


@pytest.fixture
def phone(request, started):
    """Factory: phone("alice", answermode="manual", tone_hz=600) -> a Baresip registered to the
    `kamailio` fixture (started on first use), or to `registrar_port` when given."""
    peers.require("baresip")

    def make(user, registrar_port=None, **kw):
        port = registrar_port or request.getfixturevalue("kamailio").port
        b = peers.Baresip(user, USERS[user], port, workdir=started.dir("baresip-" + user), **kw)
        return started.add(b).start()

    return make


@pytest.fixture
def sipp(started):
    """Factory: sipp("uac_cancel.xml", remote=..., keys=...) -> a Sipp, not started."""
    peers.require("sipp")

    def make(scenario=None, **kw):
        return started.add(peers.Sipp(scenario, workdir=started.dir("sipp"), **kw))

    return make
