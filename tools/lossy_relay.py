"""A lossy UDP relay between a client (the UA) and a server (proxy, registrar or RTP peer) on 127.0.0.1.

The kernel here has no netem, so loss, duplication, reordering and delay are made in user space:

    client --> [listen socket A] --relay--> [upstream socket B] --> server      ("up")
    client <-- [listen socket A] <--relay-- [upstream socket B] <-- server      ("down")

The client sends to A; the relay forwards from B, so the server sees B as the client's address and
its replies (to B) go back to the last client address seen on A (symmetric). One relay carries one
flow; use a second instance for RTP.

Every decision comes from a random.Random per direction, seeded from `seed`, and each datagram takes
the same four draws whatever is enabled: a run is reproducible given the seed and the packet order.

    with LossyRelay(("127.0.0.1", 6000), ("127.0.0.1", 5060), seed=1, loss=0.2) as relay:
        ...  # the UA uses 127.0.0.1:6000 as its proxy
        print(relay.up.dropped, relay.down.dropped)

Command line: python tools/lossy_relay.py --listen 127.0.0.1:6000 --to 127.0.0.1:5060 --loss 0.2 --seed 1
"""

import argparse
import heapq
import random
import selectors
import signal
import socket
import sys
import threading
import time


class Direction:
    """Impairments and counters for one direction of the relay."""

    def __init__(self, rng, loss=0.0, dup=0.0, reorder=0.0, delay=0.0, jitter=0.0):
        for name, p in (("loss", loss), ("dup", dup), ("reorder", reorder)):
            if not 0.0 <= p <= 1.0:
                raise ValueError("%s must be a probability, got %r" % (name, p))
        if delay < 0 or jitter < 0:
            raise ValueError("delay and jitter must be >= 0")
        self.rng = rng
        self.loss, self.dup, self.reorder, self.delay, self.jitter = loss, dup, reorder, delay, jitter
        self.received = 0  # datagrams that arrived at the relay
        self.forwarded = 0  # datagrams sent on (duplicates included)
        self.dropped = 0
        self.duplicated = 0
        self.reordered = 0  # datagrams held back and sent after a later one
        self.unroutable = 0  # down datagrams before any client was seen
        self.held = None  # (data, deadline) waiting for the next datagram

    def decide(self):
        """(drop, copies, hold, delay_s) for the next datagram; always four draws."""
        r_loss, r_dup, r_reorder, r_jitter = (self.rng.random() for _ in range(4))
        drop = r_loss < self.loss
        copies = 2 if r_dup < self.dup else 1
        hold = r_reorder < self.reorder
        return drop, copies, hold, self.delay + r_jitter * self.jitter

    def counters(self):
        keys = ("received", "forwarded", "dropped", "duplicated", "reordered", "unroutable")
        return {k: getattr(self, k) for k in keys}


def _addr(text):
    host, _, port = text.rpartition(":")
    return (host or "127.0.0.1", int(port))


class LossyRelay:
    """The relay; `start()` runs it on a daemon thread, `stop()` ends it. Also a context manager.

    Impairments given as keywords apply to both directions; `up` / `down` dicts override per direction,
    e.g. LossyRelay(a, b, seed=3, loss=0.1, down={"loss": 0.0}).
    `hold_timeout` releases a held (reordered) datagram when no later one comes to overtake it.
    """

    def __init__(self, listen, to, seed=0, up=None, down=None, upstream=("127.0.0.1", 0), hold_timeout=0.05, **both):
        self.to = tuple(to)
        self.hold_timeout = hold_timeout
        self.up = Direction(random.Random(seed * 2 + 1), **dict(both, **(up or {})))
        self.down = Direction(random.Random(seed * 2 + 2), **dict(both, **(down or {})))
        self.client = None
        self.a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for s, where in ((self.a, listen), (self.b, upstream)):
            s.bind(tuple(where))
            s.setblocking(False)
        self.listen = self.a.getsockname()
        self.upstream = self.b.getsockname()
        self._queue = []  # heap of (due, seq, sock, data, addr)
        self._seq = 0
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self._thread = None
        self._lock = threading.Lock()

    # -- life cycle

    def start(self):
        self._thread = threading.Thread(target=self.run, name="lossy-relay", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout=2.0):
        self._stop = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        if self._thread is not None:
            self._thread.join(timeout)
        for s in (self.a, self.b, self._wake_r, self._wake_w):
            s.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def counters(self):
        with self._lock:
            return {"up": self.up.counters(), "down": self.down.counters()}

    # -- the loop

    def run(self):
        sel = selectors.DefaultSelector()
        sel.register(self.a, selectors.EVENT_READ, "up")
        sel.register(self.b, selectors.EVENT_READ, "down")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        try:
            while not self._stop:
                for key, _ in sel.select(self._timeout()):
                    if key.data == "wake":
                        self._wake_r.recv(64)
                    else:
                        self._drain(key.fileobj, key.data)
                self._due()
        finally:
            sel.close()

    def _timeout(self):
        now = time.monotonic()
        times = [q[0] for q in self._queue[:1]]
        times += [d.held[1] for d in (self.up, self.down) if d.held is not None]
        return max(0.0, min(times) - now) if times else None

    def _drain(self, sock, name):
        while True:
            try:
                data, src = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # ICMP port unreachable from an earlier send (nobody listening yet): not fatal.
                continue
            with self._lock:
                if name == "up":
                    self.client = src
                    self._relay(self.up, data, self.b, self.to)
                elif self.client is None:
                    self.down.received += 1
                    self.down.unroutable += 1
                else:
                    self._relay(self.down, data, self.a, self.client)

    def _relay(self, d, data, sock, dest):
        d.received += 1
        drop, copies, hold, delay = d.decide()
        if drop:
            d.dropped += 1
            return
        if copies > 1:
            d.duplicated += 1
        held, d.held = d.held, None
        if hold and held is None:
            # Reorder: keep this one back; it goes out right after the next datagram (or on timeout).
            d.held = (data, time.monotonic() + self.hold_timeout, copies, delay, sock, dest)
            return
        for _ in range(copies):
            self._send_later(d, sock, data, dest, delay)
        if held is not None:
            d.reordered += 1
            self._release(d, held)

    def _release(self, d, held):
        data, _, copies, delay, sock, dest = held
        for _ in range(copies):
            self._send_later(d, sock, data, dest, delay)

    def _send_later(self, d, sock, data, dest, delay):
        if delay <= 0 and not self._queue:
            self._send(d, sock, data, dest)
            return
        self._seq += 1
        heapq.heappush(self._queue, (time.monotonic() + delay, self._seq, id(d), sock, data, dest))

    def _send(self, d, sock, data, dest):
        try:
            sock.sendto(data, dest)
            d.forwarded += 1
        except OSError:
            d.dropped += 1

    def _due(self):
        now = time.monotonic()
        with self._lock:
            for d in (self.up, self.down):
                if d.held is not None and d.held[1] <= now:
                    held, d.held = d.held, None
                    self._release(d, held)
            while self._queue and self._queue[0][0] <= now:
                _, _, did, sock, data, dest = heapq.heappop(self._queue)
                self._send(self.up if did == id(self.up) else self.down, sock, data, dest)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, type=_addr, help="HOST:PORT the client sends to")
    ap.add_argument("--to", required=True, type=_addr, help="HOST:PORT of the server")
    ap.add_argument("--upstream", default="127.0.0.1:0", type=_addr, help="HOST:PORT the relay sends from")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--loss", type=float, default=0.0, help="drop probability, both directions")
    ap.add_argument("--dup", type=float, default=0.0, help="duplicate probability")
    ap.add_argument("--reorder", type=float, default=0.0, help="probability to hold a datagram behind the next")
    ap.add_argument("--delay", type=float, default=0.0, help="fixed delay, ms")
    ap.add_argument("--jitter", type=float, default=0.0, help="extra random delay 0..JITTER ms")
    ap.add_argument("--up-loss", type=float, default=None, help="drop probability client->server only")
    ap.add_argument("--down-loss", type=float, default=None, help="drop probability server->client only")
    args = ap.parse_args(argv)
    up = {} if args.up_loss is None else {"loss": args.up_loss}
    down = {} if args.down_loss is None else {"loss": args.down_loss}
    relay = LossyRelay(
        args.listen,
        args.to,
        seed=args.seed,
        up=up,
        down=down,
        upstream=args.upstream,
        loss=args.loss,
        dup=args.dup,
        reorder=args.reorder,
        delay=args.delay / 1000.0,
        jitter=args.jitter / 1000.0,
    )
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    relay.start()
    print("relaying %s:%d -> %s:%d (from %s:%d)" % (relay.listen + relay.to + relay.upstream), flush=True)
    while not done.wait(0.2):
        pass
    relay.stop()
    print("counters %s" % relay.counters(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
