# Core benchmark, run unchanged by MicroPython and CPython (tools/bench.py runs both):
# median microseconds and heap bytes allocated per operation. Prints one JSON object.
import gc
import json
import sys

sys.path.append(__file__.rpartition("/")[0] or ".")
# MicroPython: tools/bench.py puts the compiled firmware (.mpy, as on a board) first.
sys.path.append((__file__.rpartition("/")[0] or ".") + "/../../firmware")

from sample import INVITE, SDP  # noqa: E402

from mpsip import digest  # noqa: E402
from mpsip.message import Request, parse  # noqa: E402

try:
    from time import ticks_diff, ticks_us

    def alloc_of(fn):
        gc.collect()
        gc.disable()
        a = gc.mem_alloc()
        fn()
        n = gc.mem_alloc() - a
        gc.enable()
        return n

    RUNTIME = "micropython"
except ImportError:  # CPython: tracemalloc's peak during one call stands in for gc.mem_alloc
    import time
    import tracemalloc

    def ticks_us():
        return time.perf_counter_ns() // 1000

    def ticks_diff(a, b):
        return a - b

    def alloc_of(fn):
        tracemalloc.start()
        fn()
        n = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return n

    RUNTIME = "cpython"

RUNS = 400
INNER = 10


def median_us(fn):
    fn()
    times = []
    for _ in range(RUNS // INNER):
        t = ticks_us()
        for _ in range(INNER):
            fn()
        times.append(ticks_diff(ticks_us(), t) / INNER)
    times.sort()
    return times[len(times) // 2]


def op_parse():
    parse(INVITE)


def op_parse_strict():
    parse(INVITE, True)


def op_parse_ua():
    # What the receive loop reads of every request: transaction and dialog keys.
    m = parse(INVITE)
    return (m.top_via.branch, m.cseq, m.cseq_method, m.call_id, m.from_addr.tag, m.to_addr.tag)


HEADERS = [
    ("Via", "SIP/2.0/UDP 192.168.1.50:5060;rport;branch=z9hG4bK-524287-1---a4f1c2d3e5b6"),
    ("Max-Forwards", "70"),
    ("From", '"Front Door" <sip:door@pbx.example.com>;tag=8a3b9f01'),
    ("To", "<sip:201@pbx.example.com>"),
    ("Call-ID", "5d2c4e9a-7b1f-4c3a-9e8d-2f6a1b0c3d4e@192.168.1.50"),
    ("CSeq", "1 INVITE"),
    ("Contact", "<sip:door@192.168.1.50:5060>"),
    ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, NOTIFY, MESSAGE"),
    ("Supported", "replaces"),
    ("User-Agent", "mpsip/0.1"),
    ("Content-Type", "application/sdp"),
]


def op_build():
    Request("INVITE", "sip:201@pbx.example.com", HEADERS, SDP).to_bytes()


CHALLENGE = digest.pick(
    digest.parse_challenges(['Digest realm="pbx.example.com", nonce="5f1e2d3c4b5a", qop="auth", algorithm=MD5'])
)
CLIENT = digest.Client("door", "secret", cnonce=lambda: "0a4f113b")


def op_digest():
    CLIENT.authorize(CHALLENGE, "INVITE", "sip:201@pbx.example.com")


OPS = (
    ("parse INVITE+SDP (lazy)", op_parse),
    ("parse + UA keys", op_parse_ua),
    ("parse strict (validate all)", op_parse_strict),
    ("build INVITE+SDP", op_build),
    ("digest MD5 qop=auth", op_digest),
)

result = {"runtime": RUNTIME, "bytes": len(INVITE), "ops": {}}
for name, fn in OPS:
    result["ops"][name] = {"us": median_us(fn), "alloc": alloc_of(fn)}
print(json.dumps(result))
