"""User-agent benchmark against real peers on 127.0.0.1, each figure beside a reference.

    .venv/bin/python tools/bench_ua.py [--runs 20] [--calls 200] [--rate 100] [--heap 8192K] [--baresip]

- calls answered: SIPp's built-in uac places N calls at rate R (INVITE, 200, ACK, BYE, no media) to
  mpsip's UA answering (tools/sipua.py --answer, MicroPython unix port and CPython), to SIPp's
  built-in uas and, with --baresip, to baresip (answermode auto; it drops calls above ~20/s):
  calls/s achieved, failures, median INVITE->200 (from SIPp's message trace, in microseconds).
  The UA's heap here is --heap: each call leaves two server transactions (~4 KB each) for
  64*T1 = 32 s (RFC 3261 17.2), so R calls/s need ~R*32*2*4 KB; 200 calls at 100/s fail with
  2048K. The smallest heap for one call at a time is a test figure (test_ua_peers.py UA_HEAP).
- REGISTER round trip to Kamailio including the 401 round (REGISTER, 401, REGISTER, 200): mpsip
  (a fresh process per run: from register() to the `registered` event) vs SIPp (a scenario doing
  the same, per-call response time).
- call setup through Kamailio to baresip, INVITE -> 200 including the 407 round: mpsip (from
  call() to `connected`) vs SIPp's tools/sipp/proxy_uac.xml (alice -> bob).
- time from call() to the INVITE handed to the socket (the UA's `calling` event, measured inside
  the process; SIPp has no call() to time, its column stays empty: mpsip on CPython is the reference).
- heap in use during a call (MicroPython, after a collection, at `connected`).
Medians over --runs runs. Prints a table and writes build/bench_ua.json. Not a test: no pass/fail.
"""

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tools import peers  # noqa: E402
from tools import run_micropython_tests as mprun  # noqa: E402

USERS = {"alice": "alice-pw", "bob": "bob-pw", "ua": "ua-pw"}
MICROPYPATH = ":".join((".frozen", os.path.join(mprun.BUILD, "firmware"), os.path.join(mprun.BUILD, "tools")))
RUNTIMES = ("micropython", "cpython")

# REGISTER -> 401 -> REGISTER with credentials -> 200, timed from the first send to the 200.
# One REGISTER; sent twice, the second time with SIPp's [authentication] line.
_REGISTER = """
  <send retrans="500"%s>
    <![CDATA[
      REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:[user]@[remote_ip]>;tag=[pid]r[call_number]
      To: <sip:[user]@[remote_ip]>
      Call-ID: [call_id]
      CSeq: %d REGISTER
      Contact: <sip:[user]@[local_ip]:[local_port]>%s
      Expires: 600
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>"""
REGISTER_XML = (
    '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="register with digest, timed">'
    + _REGISTER % (' start_rtd="1"', 1, "")
    + '\n  <recv response="401" auth="true"/>'
    + _REGISTER % ("", 2, "\n      [authentication]")
    + '\n  <recv response="200" rtd="1"/>\n</scenario>\n'
)


class Ua:
    """tools/sipua.py in a process of its own; its EVENT lines read from its output file."""

    def __init__(self, runtime, heap, *args):
        self.port = peers.free_port(tcp=False)
        self.out = tempfile.NamedTemporaryFile(prefix="sipua-", suffix=".log", delete=False)
        if runtime == "micropython":
            argv = ["env", "MICROPYPATH=" + MICROPYPATH, mprun.MICROPYTHON, "-X", "heapsize=" + heap, "-m", "sipua"]
        else:
            argv = [sys.executable, os.path.join(ROOT, "tools", "sipua.py")]
        argv += ["--port", str(self.port)] + [str(a) for a in args]
        self.proc = subprocess.Popen(argv, cwd=ROOT, stdout=self.out, stderr=subprocess.STDOUT)
        self.wait("ready")

    def events(self):
        with open(self.out.name) as f:
            lines = f.read().splitlines()
        out = []
        for line in lines:
            if line.startswith("EVENT "):
                w = line.split()
                out.append((w[1], dict(x.split("=", 1) for x in w[2:] if "=" in x)))
        return out

    def wait(self, name, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for n, kv in self.events():
                if n == name:
                    return kv
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        with open(self.out.name) as f:
            raise peers.PeerError("sipua: no %s event\n%s" % (name, f.read()[-2000:]))

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.out.close()
        os.unlink(self.out.name)


def exchange_ms(s, method):
    """Per Call-ID in SIPp's message trace: ms from the first `method` request it sent to the
    first 200 for `method` it received (the trace stamps each message in microseconds)."""
    first, done = {}, {}
    for block in s.messages().split("-" * 47 + " ")[1:]:
        stamp, _, rest = block.partition("\n")
        try:
            t = datetime.datetime.strptime(stamp.strip(), "%Y-%m-%d %H:%M:%S.%f").timestamp()
        except ValueError:
            continue
        kind, _, msg = rest.partition("\n")
        msg = msg.lstrip()
        cid = re.search(r"^(?:Call-ID|i):\s*(\S+)", msg, re.M | re.I)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", msg, re.M | re.I)
        if not cid or not cseq or cseq.group(1) != method:
            continue
        cid = cid.group(1)
        if "message sent" in kind and msg.startswith(method + " "):
            first.setdefault(cid, t)
        elif "message received" in kind and msg.startswith("SIP/2.0 200") and cid in first:
            done.setdefault(cid, (t - first[cid]) * 1000)
    return list(done.values())


def sipp_uac(remote, n, rate, service, extra=(), scenario=None, keys=None, method="INVITE"):
    s = peers.Sipp(
        scenario,
        builtin=None if scenario else "uac",
        remote=remote,
        calls=n,
        extra_args=["-r", str(rate), "-d", "0", "-s", service] + list(extra),
        keys=keys,
        timeout=60,
    )
    t0 = time.monotonic()
    s.run()
    wall = time.monotonic() - t0
    st = s.stats()
    ok = int(st.get("SuccessfulCall(C)", 0))
    r = {"ok": ok, "failed": n - ok, "calls_per_s": ok / wall if wall else 0.0, "ms": exchange_ms(s, method)}
    s.cleanup()
    return r


def median(xs):
    return statistics.median(xs) if xs else None


# ---------------------------------------------------------------- the figures


def bench_calls(args, kam):
    """SIPp uac -> each answering target, --runs times; medians of calls/s and INVITE->200."""
    results = {}
    targets = [(rt, "mpsip " + rt) for rt in RUNTIMES] + [("sipp", "SIPp uas")]
    if args.baresip:
        targets.append(("baresip", "baresip"))
    for key, label in targets:
        runs = []
        for _ in range(args.runs):
            ua = uas = phone = None
            try:
                if key in RUNTIMES:
                    ua = Ua(key, args.heap, "--answer")
                    remote, service = "127.0.0.1:%d" % ua.port, "ua"
                elif key == "sipp":
                    uas = peers.Sipp(builtin="uas", calls=args.calls, timeout=60).start()
                    time.sleep(0.2)  # its socket bound
                    remote, service = "127.0.0.1:%d" % uas.port, "uas"
                else:
                    phone = peers.Baresip("bob", USERS["bob"], kam.port).start()
                    remote, service = "127.0.0.1:%d" % phone.sip_port, "bob"
                r = sipp_uac(remote, args.calls, args.rate, service)
                if ua is not None:
                    errors = [kv for n, kv in ua.events() if n == "error"]
                    r["ua_errors"] = len(errors)
                runs.append(r)
            finally:
                for p in (ua, uas, phone):
                    if p is not None:
                        p.stop() if isinstance(p, Ua) else p.cleanup()
        results[label] = {
            "calls_per_s": median([r["calls_per_s"] for r in runs]),
            "failed": sum(r["failed"] for r in runs),
            "invite_200_ms": median([median(r["ms"]) for r in runs if r["ms"]]),
            "runs": len(runs),
        }
    return results


def bench_register(args, kam):
    out = {}
    for rt in RUNTIMES:
        ms = []
        for _ in range(args.runs):
            ua = Ua(rt, args.heap, "--registrar", "127.0.0.1:%d" % kam.port, "--user", "ua", "--password", "ua-pw")
            try:
                ms.append(int(ua.wait("registered")["us"]) / 1000)
            finally:
                ua.stop()
        out["mpsip " + rt] = median(ms)
    with tempfile.TemporaryDirectory() as d:
        xml = os.path.join(d, "register.xml")
        with open(xml, "w") as f:
            f.write(REGISTER_XML)
        auth = ["-au", "alice", "-ap", USERS["alice"], "-l", "1"]
        r = sipp_uac("127.0.0.1:%d" % kam.port, args.runs, 10, "x", auth, xml, {"user": "alice"}, "REGISTER")
    out["SIPp"] = median(r["ms"])
    return out


def bench_call_setup(args, kam):
    """INVITE through Kamailio (407, INVITE with credentials) to baresip answering: to the 200."""
    out = {}
    to_wire = {"SIPp": None}  # SIPp has no call() to time: it sends from its scenario
    heaps = []
    phone = peers.Baresip("bob", USERS["bob"], kam.port).start()
    try:
        for rt in RUNTIMES:
            ms = []
            wire = []
            for _ in range(args.runs):
                ua = Ua(
                    rt,
                    args.heap,
                    *("--registrar", "127.0.0.1:%d" % kam.port, "--user", "ua", "--password", "ua-pw"),
                    *("--call", "sip:bob@127.0.0.1", "--hangup-after", "0.2"),
                )
                try:
                    wire.append(int(ua.wait("calling")["us"]) / 1000)
                    conn = ua.wait("connected")
                    ms.append(int(conn["us"]) / 1000)
                    if "heap" in conn:
                        heaps.append(int(conn["heap"]))
                    ua.wait("ended")
                    phone.wait_event("CALL_CLOSED", 5)
                finally:
                    ua.stop()
            out["mpsip " + rt] = median(ms)
            to_wire["mpsip " + rt] = median(wire)
        r = sipp_uac(
            "127.0.0.1:%d" % kam.port,
            args.runs,
            5,
            "bob",
            ["-au", "alice", "-ap", USERS["alice"], "-l", "1"],
            os.path.join(peers.SCENARIOS, "proxy_uac.xml"),
            {"caller": "alice"},
        )
        out["SIPp"] = median(r["ms"])
    finally:
        phone.cleanup()
    return out, to_wire, median(heaps)


def fmt(v, spec="%.1f"):
    return "-" if v is None else spec % v


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="runs per figure (median)")
    ap.add_argument("--calls", type=int, default=200, help="calls per SIPp run")
    ap.add_argument("--rate", type=int, default=100, help="calls/s SIPp offers")
    ap.add_argument("--heap", default="8192K", help="MicroPython heap of the UA")
    ap.add_argument("--baresip", action="store_true", help="baresip as a second answering reference")
    args = ap.parse_args(argv)
    for p in ("kamailio", "baresip", "sipp"):
        if not peers.have(p):
            print("bench_ua: %s missing: %s" % (p, peers.missing(p)))
            return 2
    mprun.compile_tree(("firmware", "tools"))  # tools/sipua.py and sipua_media.py

    with peers.Kamailio(USERS) as kam:
        calls = bench_calls(args, kam)
        register = bench_register(args, kam)
        setup, to_wire, heap = bench_call_setup(args, kam)

    print(
        "\nSIPp uac -> answering UA: %d calls at %d/s, %d runs (UA heap %s)"
        % (args.calls, args.rate, args.runs, args.heap)
    )
    print("  %-22s %10s %8s %14s" % ("answering", "calls/s", "failed", "INVITE->200 ms"))
    for label, r in calls.items():
        print("  %-22s %10s %8d %14s" % (label, fmt(r["calls_per_s"]), r["failed"], fmt(r["invite_200_ms"], "%.2f")))
    print("\nmedian ms over %d runs        %14s %14s %10s" % (args.runs, "mpsip micropy", "mpsip cpython", "SIPp"))
    for name, d in (
        ("REGISTER incl. 401 (Kamailio)", register),
        ("INVITE->200 incl. 407 (to baresip)", setup),
        ("call() -> INVITE handed to the socket", to_wire),
    ):
        print(
            "  %-34s %10s %14s %10s"
            % (name, fmt(d["mpsip micropython"], "%.2f"), fmt(d["mpsip cpython"], "%.2f"), fmt(d["SIPp"], "%.2f"))
        )
    print("\nheap in use during a call (MicroPython, after gc.collect): %s bytes" % fmt(heap, "%d"))
    result = {
        "args": vars(args),
        "calls": calls,
        "register_ms": register,
        "call_setup_ms": setup,
        "call_to_wire_ms": to_wire,
        "heap_in_call_bytes": heap,
    }
    os.makedirs(os.path.join(ROOT, "build"), exist_ok=True)
    with open(os.path.join(ROOT, "build", "bench_ua.json"), "w") as f:
        json.dump(result, f, indent=2)
    print("wrote build/bench_ua.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
