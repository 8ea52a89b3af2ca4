"""Micro-benchmark of mpsip.digest, mpsip.md5 and mpsip.sdp: median µs and heap bytes per op.

    .venv/bin/python tools/bench_auth_sdp.py

Runs the operations under CPython, then runs itself on the MicroPython unix port
(`micropython -X heapsize=96K tools/bench_auth_sdp.py --child`), prints one table and
writes build/bench_auth_sdp.json. Heap bytes: MicroPython gc.mem_alloc() delta with
gc.disable(); CPython tracemalloc peak (a rough comparison only). Not a test: nothing
here asserts a time.
"""

import gc
import sys

_MP = sys.implementation.name == "micropython"
_ROOT = (__file__.rpartition("/")[0] or ".") + "/.."
sys.path.append(_ROOT + "/firmware")

from mpsip import (  # noqa: E402
    digest,
    digest_server,  # noqa: E402
    sdp,
)
from mpsip.md5 import md5 as pure_md5  # noqa: E402

if _MP:
    from time import ticks_diff, ticks_us

    def _now():
        return ticks_us()

    def _us(a, b):
        return ticks_diff(b, a)

    def _heap(fn):
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        fn()
        b = gc.mem_alloc()
        gc.enable()
        return b - a

else:
    import time
    import tracemalloc

    def _now():
        return time.perf_counter_ns()

    def _us(a, b):
        return (b - a) / 1000

    def _heap(fn):
        gc.collect()
        tracemalloc.start()
        fn()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak


def _median(fn, n):
    fn()
    t = []
    for _ in range(n):
        a = _now()
        fn()
        t.append(_us(a, _now()))
    t.sort()
    return t[n // 2]


def _cases():
    chal = [
        'Digest realm="example.com", nonce="9b8f0c1e2d3a4b5c", algorithm=MD5, qop="auth", opaque="x1"',
        'Digest realm="example.com", nonce="9b8f0c1e2d3a4b5c", algorithm=SHA-256, qop="auth", opaque="x1"',
    ]
    chs = digest.parse_challenges(chal)
    client = digest.Client("door", "s3cret", cnonce=lambda: "0a4f113b")
    guard = digest_server.Guard("example.com", rand=lambda n: b"\x07" * n, clock=lambda: 0, size=4)
    cred_value = digest.Client("door", "s3cret").authorize(
        digest.parse_challenges(guard.challenge())[0], "REGISTER", "sip:example.com"
    )
    cred = digest_server.parse_authorization(cred_value)

    def check():
        guard._nonces[cred.nonce][1] = 0  # allow the same nc again: measure the check, not the replay path
        guard.check(cred, "REGISTER", password="s3cret")

    def pure_authorize():
        saved = digest._HASHES["MD5"]
        digest._HASHES["MD5"] = (pure_md5, 1)
        client.authorize(chs[0], "REGISTER", "sip:example.com")
        digest._HASHES["MD5"] = saved

    ep = sdp.AudioEndpoint("192.0.2.5", 40000, sess_id=1)
    offer = ep.offer().to_bytes()
    parsed = sdp.parse(offer)
    peer = sdp.AudioEndpoint("198.51.100.7", 50000, sess_id=2)
    answer = peer.answer(parsed)[0].to_bytes()
    block = bytes(range(100))
    return [
        ("md5.py 100 B", lambda: pure_md5(block).digest()),
        ("digest.parse_challenges x2", lambda: digest.parse_challenges(chal)),
        ("digest.pick", lambda: digest.pick(chs)),
        ("Client.authorize MD5", lambda: client.authorize(chs[0], "REGISTER", "sip:example.com")),
        ("Client.authorize MD5 (md5.py)", pure_authorize),
        ("Client.authorize SHA-256", lambda: client.authorize(chs[1], "REGISTER", "sip:example.com")),
        ("digest_server.parse_authorization", lambda: digest_server.parse_authorization(cred_value)),
        ("Guard.check MD5", check),
        ("sdp.parse offer (%d B)" % len(offer), lambda: sdp.parse(offer)),
        ("Description.to_bytes", parsed.to_bytes),
        ("AudioEndpoint.answer", lambda: peer.answer(parsed)),
        ("AudioEndpoint.accept", lambda: ep.accept(answer)),
    ]


def measure(n=200):
    out = {}
    for name, fn in _cases():
        out[name] = [_median(fn, n), _heap(fn)]
    return out


def main():
    import json

    if "--child" in sys.argv:
        print("JSON " + json.dumps(measure()))
        return
    import os
    import subprocess

    here = {k: [round(v[0], 1), v[1]] for k, v in measure().items()}
    mp_exe = os.path.join(os.path.dirname(sys.executable), "micropython")
    p = subprocess.run(
        [mp_exe, "-X", "heapsize=96K", os.path.abspath(__file__), "--child"], capture_output=True, text=True
    )
    mp = {}
    for line in p.stdout.splitlines():
        if line.startswith("JSON "):
            mp = json.loads(line[5:])
    if not mp:
        print("micropython run failed:\n" + p.stdout + p.stderr)
    print("%-32s %12s %12s %12s %12s" % ("op", "MP µs", "MP heap B", "CPy µs", "CPy heap B"))
    for name, (us, heap) in here.items():
        m = mp.get(name, ["-", "-"])
        print("%-32s %12s %12s %12s %12s" % (name, m[0], m[1], us, heap))
    os.makedirs(os.path.join(_ROOT, "build"), exist_ok=True)
    path = os.path.join(_ROOT, "build", "bench_auth_sdp.json")
    with open(path, "w") as f:
        json.dump({"micropython": mp, "cpython": here, "units": "median us per op, heap bytes per op"}, f, indent=1)
    print("wrote", os.path.normpath(path))
    return 0 if mp else 1


if __name__ == "__main__":
    sys.exit(main())
