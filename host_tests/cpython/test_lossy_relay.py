"""tools/lossy_relay.py with plain UDP sockets on 127.0.0.1 (CPython only).

Flow control instead of sleeps: the client sends a batch, waits (bounded) until the relay has seen
all of it, then reads exactly what the relay says it forwarded. So the kernel never drops on a full
socket buffer and a count that differs is the relay's doing.
"""

import os
import socket
import subprocess
import sys
import time

from tools.lossy_relay import Direction, LossyRelay

HOST = "127.0.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def udp(timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(timeout)
    return s


def wait_until(cond, timeout=2.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("relay did not catch up within %.1fs" % timeout)
        time.sleep(0.001)


def recv_n(sock, n):
    """Exactly n datagrams (bounded by the socket timeout), as (payload, source) pairs."""
    return [sock.recvfrom(65535) for _ in range(n)]


def pump(relay, client, server, count, batch=100):
    """Send `count` numbered datagrams client -> relay; return the sequence numbers the server got."""
    got = []
    sent = 0
    while sent < count:
        k = min(batch, count - sent)
        for i in range(sent, sent + k):
            client.sendto(b"%06d" % i, relay.listen)
        sent += k
        wait_until(lambda n=sent: relay.counters()["up"]["received"] == n and relay.up.held is None)
        want = relay.counters()["up"]["forwarded"] - len(got)
        got += [int(d) for d, _ in recv_n(server, want)]
    return got


def make(seed=0, **kw):
    server = udp()
    relay = LossyRelay((HOST, 0), server.getsockname(), seed=seed, **kw).start()
    return relay, udp(), server


def test_no_impairment_passes_everything_in_order():
    relay, client, server = make()
    try:
        assert pump(relay, client, server, 500) == list(range(500))
        c = relay.counters()["up"]
        assert (c["received"], c["forwarded"], c["dropped"]) == (500, 500, 0)
    finally:
        relay.stop()


def test_seeded_loss_drops_about_the_rate_and_repeats_with_the_seed():
    runs = []
    for seed in (7, 7, 8):
        relay, client, server = make(seed=seed, loss=0.2)
        try:
            got = pump(relay, client, server, 2000)
        finally:
            relay.stop()
        dropped = 2000 - len(got)
        # Binomial(2000, 0.2): sd ~18, so 340..460 is beyond 3 sd either side.
        assert 340 <= dropped <= 460, dropped
        assert relay.counters()["up"]["dropped"] == dropped
        assert got == sorted(got)
        runs.append(got)
    assert runs[0] == runs[1]  # same seed, same packets lost
    assert runs[0] != runs[2]  # another seed, another pattern


def test_loss_decisions_do_not_depend_on_other_impairments():
    # Four draws per datagram whatever is enabled: the same seed loses the same datagrams.
    import random

    a = Direction(random.Random(5), loss=0.3)
    b = Direction(random.Random(5), loss=0.3, dup=0.5, reorder=0.5, jitter=0.01)
    assert [a.decide()[0] for _ in range(1000)] == [b.decide()[0] for _ in range(1000)]


def test_duplicates_are_observed_and_counted():
    relay, client, server = make(seed=3, dup=0.3)
    try:
        got = pump(relay, client, server, 300)
    finally:
        relay.stop()
    extra = len(got) - 300
    assert 50 <= extra <= 130, extra
    assert relay.counters()["up"]["duplicated"] == extra
    assert sorted(set(got)) == list(range(300))


def test_reorder_holds_a_datagram_behind_the_next():
    relay, client, server = make(seed=4, reorder=0.2)
    try:
        got = pump(relay, client, server, 300)
    finally:
        relay.stop()
    assert sorted(got) == list(range(300))  # nothing lost
    assert got != sorted(got)
    swaps = sum(1 for x, y in zip(got, got[1:], strict=False) if x > y)
    assert swaps == relay.counters()["up"]["reordered"] > 10


def test_held_datagram_is_released_when_nothing_follows():
    relay, client, server = make(reorder=1.0, hold_timeout=0.02)
    try:
        client.sendto(b"only", relay.listen)
        data, _ = server.recvfrom(100)
        assert data == b"only"
    finally:
        relay.stop()


def test_replies_route_back_to_the_sender_from_the_listen_address():
    relay, client, server = make()
    other = udp()
    try:
        client.sendto(b"hello", relay.listen)
        data, relay_addr = server.recvfrom(100)
        assert data == b"hello" and relay_addr == relay.upstream
        server.sendto(b"reply", relay_addr)
        data, src = client.recvfrom(100)
        assert (data, src) == (b"reply", relay.listen)
        # A new client address takes over (the UA rebinding after a reboot).
        other.sendto(b"again", relay.listen)
        server.recvfrom(100)
        server.sendto(b"to-other", relay_addr)
        assert other.recvfrom(100)[0] == b"to-other"
        c = relay.counters()
        assert c["up"]["forwarded"] == 2 and c["down"]["forwarded"] == 2
    finally:
        relay.stop()
        other.close()


def test_server_datagrams_before_any_client_are_counted_not_sent():
    relay, client, server = make()
    try:
        server.sendto(b"early", relay.upstream)
        wait_until(lambda: relay.counters()["down"]["unroutable"] == 1)
    finally:
        relay.stop()


def test_per_direction_loss_and_fixed_delay():
    relay, client, server = make(seed=1, delay=0.03, up={"loss": 0.0}, down={"loss": 1.0})
    try:
        t0 = time.monotonic()
        client.sendto(b"x", relay.listen)
        _, relay_addr = server.recvfrom(100)
        assert time.monotonic() - t0 >= 0.03
        server.sendto(b"lost", relay_addr)
        wait_until(lambda: relay.counters()["down"]["dropped"] == 1)
    finally:
        relay.stop()


def test_command_line_relays_and_reports_counters():
    server = udp(timeout=5.0)
    listen = udp()
    port = listen.getsockname()[1]
    listen.close()  # free it for the relay (small race, fine on loopback)
    cmd = [sys.executable, os.path.join(ROOT, "tools", "lossy_relay.py")]
    cmd += ["--listen", "%s:%d" % (HOST, port), "--to", "%s:%d" % server.getsockname(), "--seed", "1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    client = udp()
    try:
        assert p.stdout.readline().startswith("relaying")
        client.sendto(b"cli", (HOST, port))
        assert server.recvfrom(100)[0] == b"cli"
        p.terminate()
        out, _ = p.communicate(timeout=5)
        assert "'forwarded': 1" in out
        assert p.returncode == 0
    finally:
        if p.poll() is None:
            p.kill()
        client.close()
        server.close()
