"""Media benchmark: µs per 20 ms frame (medians) and heap bytes per frame.

Run with CPython: `.venv/bin/python tools/bench_media.py`. It measures the plain
Python kernels and CPython's C audioop (the reference), spawns
`.venv/bin/micropython` on this same file for the MicroPython columns (viper and
plain kernels), prints a table and writes build/bench-media.json.

Rows: mic = 32-bit I2S slots at 16 kHz -> gain -> half-band decimation -> PCMU
(the fused path), enc8 = s16 8 kHz -> PCMU, spk = PCMU -> volume -> x2
interpolation to 16 kHz, dec8 = PCMU -> s16 8 kHz, frame = one
MediaSession.frame() (mic, RTP send, receive and parse, jitter buffer, speaker)
with the I2S 32-bit 16 kHz microphone and a 16 kHz speaker over real UDP sockets
on 127.0.0.1 (two sessions sending to each other; one
frame = one packet sent and one received), frame-mem = the same over an in-memory
socket, frame-8k = 16-bit 8 kHz in and out (no filters) over UDP.
enc8-k and dec8-k: the G.711 kernels alone (g711.enc_kernel/dec_kernel, called
directly) against audioop.lin2ulaw/ulaw2lin, i.e. enc8/dec8 without the
MicPath/SpeakerPath method call and its buffer checks.
Times are medians over batches (a batch times many calls: ticks_us is too coarse
for one DSP call); heap is gc.mem_alloc() growth per frame with gc disabled.
Then the media heap on MicroPython: what importing each media module costs (.mpy,
fresh process, with what it imports) and what one MediaSession holds.
"""

import gc
import sys

MP = sys.implementation.name == "micropython"
if MP:
    sys.path.append(__file__.rpartition("/")[0] + "/../firmware")
    from time import ticks_diff, ticks_us

    def now_ns():
        return ticks_us() * 1000

    def span_ns(a, b):
        return ticks_diff(b // 1000, a // 1000) * 1000

else:
    import os

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "firmware"))
    from time import perf_counter_ns as now_ns

    def span_ns(a, b):
        return b - a


from mpsip import dsp, g711, media  # noqa: E402

BATCH = 500  # calls per timed batch (DSP rows)
BATCHES = 101
FRAMES = 4000  # frame pairs for the frame rows
PAIRS = 20  # frame pairs per timed batch


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def per_call_us(fn, batch=BATCH, batches=BATCHES):
    for _ in range(20 * batch):  # warm up (a virtual CPU ramps its clock)
        fn()
    out = []
    for _ in range(batches):
        t = now_ns()
        for _ in range(batch):
            fn()
        out.append(span_ns(t, now_ns()) / batch / 1000)
    return median(out)


def heap_per_call(fn, n=200):
    if not MP:
        return None
    fn()
    gc.collect()
    gc.disable()
    try:
        m = gc.mem_alloc()
        for _ in range(n):
            fn()
        return (gc.mem_alloc() - m) / n
    finally:
        gc.enable()


def _noise(n, seed=5):
    b = bytearray(n)
    s = seed
    for i in range(n):
        s = (s * 1103515245 + 12345) & 0x7FFFFFFF
        b[i] = (s >> 16) & 0xFF
    return b


def dsp_rows(impl):
    rows = {}
    mic = dsp.MicPath(g711.PCMU, "s32", 16000, 160, shift=14, impl=impl)
    src32 = _noise(mic.in_bytes)
    codes = bytearray(160)
    rows["mic"] = (per_call_us(lambda: mic.process(src32, codes)), heap_per_call(lambda: mic.process(src32, codes)))
    enc = dsp.MicPath(g711.PCMU, "s16", 8000, 160, impl=impl)
    src16 = _noise(320)
    rows["enc8"] = (per_call_us(lambda: enc.process(src16, codes)), heap_per_call(lambda: enc.process(src16, codes)))
    spk = dsp.SpeakerPath(g711.PCMU, 16000, 160, impl=impl)
    pcm = bytearray(spk.out_bytes)
    rows["spk"] = (per_call_us(lambda: spk.process(codes, pcm)), heap_per_call(lambda: spk.process(codes, pcm)))
    dec = dsp.SpeakerPath(g711.PCMU, 8000, 160, impl=impl)
    pcm8 = bytearray(320)
    rows["dec8"] = (per_call_us(lambda: dec.process(codes, pcm8)), heap_per_call(lambda: dec.process(codes, pcm8)))
    if impl == "py":
        from mpsip import _g711p

        enc_k, dec_k = _g711p.enc_py, _g711p.dec_py
    else:
        enc_k, dec_k = g711.enc_kernel, g711.dec_kernel
    etab = g711.enc_table(g711.PCMU)
    dtab = g711.dec_table(g711.PCMU)
    rows["enc8-k"] = (per_call_us(lambda: enc_k(src16, 160, codes, etab)), None)
    rows["dec8-k"] = (per_call_us(lambda: dec_k(codes, 160, pcm8, dtab)), None)
    return rows


class _Src:
    def __init__(self, fmt="s32", rate=16000):
        self.fmt = fmt
        self.rate = rate
        self.frame = _noise(160 * (4 if fmt == "s32" else 2) * rate // 8000)

    def readinto(self, buf):
        buf[:] = self.frame  # a memcpy, as machine.I2S.readinto is
        return len(buf)


class _Sink:
    def __init__(self, rate=16000):
        self.rate = rate

    def write(self, buf):
        pass


class _MemSock:
    """In-memory loopback with MicroPython's readinto semantics, no allocation."""

    def __init__(self, net, addr):
        self.net = net
        self.addr = addr
        net[addr] = self
        self.buf = bytearray(2048)
        self.n = 0
        self.peer = None

    def setblocking(self, flag):
        pass

    def connect(self, addr):
        self.peer = addr

    def sendto(self, data, addr):
        d = self.net[addr]
        n = len(data)
        if d.n + n <= len(d.buf):
            g711.copy(d.buf, d.n, data, 0, n)
            d.n += n
        return n

    def readinto(self, buf):
        n = min(self.n, len(buf))  # g711.copy does not check bounds: never overrun buf
        if not n:
            return None
        g711.copy(buf, 0, self.buf, 0, n)
        self.n = 0
        return n

    def recvfrom(self, size):
        n = self.n
        if not n:
            raise OSError(11)
        self.n = 0
        return bytes(self.buf[:n]), ("127.0.0.1", 1 if self.addr[1] == 2 else 2)


def _udp_pair(base):
    import socket

    socks = []
    addrs = []
    for port in (base, base + 2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr = socket.getaddrinfo("127.0.0.1", port)[0][-1]
        s.bind(addr)
        socks.append(s)
        addrs.append(addr)
    return socks, addrs


def _frame_row(a, b):
    for _ in range(20):  # latch both ends
        a.frame()
        b.frame()
    times = []
    for _ in range(FRAMES // PAIRS):  # both ends do the same work: send one, receive one
        t = now_ns()
        for _ in range(PAIRS):
            b.frame()
            a.frame()
        times.append(span_ns(t, now_ns()) / 1000 / (2 * PAIRS))
    heap = None
    if MP:
        gc.collect()
        gc.disable()
        try:
            m = gc.mem_alloc()
            for _ in range(200):
                b.frame()
                a.frame()
            heap = (gc.mem_alloc() - m) / 400
        finally:
            gc.enable()
    return median(times), heap


def frame_rows():
    rows = {}
    for row, fmt, rate, base in (("frame", "s32", 16000, 47210), ("frame-8k", "s16", 8000, 47220)):
        (sa, sb), (aa, ba) = _udp_pair(base + (0 if MP else 100))
        try:
            a = media.MediaSession(sa, ba, _Src(fmt, rate), _Sink(rate))
            b = media.MediaSession(sb, aa, _Src(fmt, rate), _Sink(rate))
            rows[row] = _frame_row(a, b)
        finally:
            sa.close()
            sb.close()
    net = {}
    a = media.MediaSession(_MemSock(net, ("127.0.0.1", 1)), ("127.0.0.1", 2), _Src(), _Sink())
    b = media.MediaSession(_MemSock(net, ("127.0.0.1", 2)), ("127.0.0.1", 1), _Src(), _Sink())
    rows["frame-mem"] = _frame_row(a, b)
    return rows


def audioop_rows():
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import audioop
    except ImportError:
        return None
    src32 = bytes(_noise(1280))
    src16 = bytes(_noise(320))
    codes = bytes(_noise(160))
    state = [None, None]

    def mic():
        s16 = audioop.lin2lin(src32, 4, 2)
        s16 = audioop.mul(s16, 2, 4.0)
        s8, state[0] = audioop.ratecv(s16, 2, 1, 16000, 8000, state[0])
        return audioop.lin2ulaw(s8, 2)

    def spk():
        p = audioop.ulaw2lin(codes, 2)
        p16, state[1] = audioop.ratecv(p, 2, 1, 8000, 16000, state[1])
        return audioop.mul(p16, 2, 1.0)

    return {
        "mic": (per_call_us(mic), None),
        "enc8": (per_call_us(lambda: audioop.lin2ulaw(src16, 2)), None),
        "spk": (per_call_us(spk), None),
        "dec8": (per_call_us(lambda: audioop.ulaw2lin(codes, 2)), None),
        "enc8-k": (per_call_us(lambda: audioop.lin2ulaw(src16, 2)), None),
        "dec8-k": (per_call_us(lambda: audioop.ulaw2lin(codes, 2)), None),
    }


def child():
    """MicroPython: print one JSON object with the viper and plain columns."""
    import json

    out = {"viper": dsp_rows("viper"), "plain": dsp_rows("py")}
    out["viper"].update(frame_rows())
    print("RESULT " + json.dumps(out))


ROWS = ("mic", "enc8", "spk", "dec8", "enc8-k", "dec8-k", "frame", "frame-8k", "frame-mem")
TARGETS = {"mic": 3.0, "enc8": 3.0, "spk": 3.0, "dec8": 3.0, "frame": 15.0, "frame-8k": 15.0, "frame-mem": 15.0}
HEAP_MODULES = ("g711", "dsp", "rtp", "jitter", "dtmf", "audio", "media", "rtcp", "wav")
IMPORT_PROBE = "import gc; gc.collect(); a=gc.mem_alloc(); import %s; gc.collect(); print(gc.mem_alloc()-a)"
# One session per microphone/speaker geometry, after a first one has built the codec tables
# (shared by every session: measured on their own), two frames run so that lazy state exists.
SESSION_PROBE = """
import gc, socket
from mpsip import audio, g711, media
def addr(p):
    return socket.getaddrinfo("127.0.0.1", p)[0][-1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(addr(%d))
gc.collect(); a = gc.mem_alloc()
g711.enc_table(g711.PCMU); g711.dec_table(g711.PCMU)
gc.collect(); print("tables", gc.mem_alloc() - a)
for fmt, rate in (("s32", 16000), ("s16", 8000)):
    gc.collect(); a = gc.mem_alloc()
    m = media.MediaSession(s, addr(%d), audio.SilenceSource(rate, fmt), audio.NullSink(rate))
    m.frame(); m.frame()
    gc.collect(); print("session-%%s-%%d" %% (fmt, rate), gc.mem_alloc() - a)
    r = addr(%d)
    for k in range(3):  # a call's start on the reused session (allocated, GC off)
        m.stop(); gc.collect(); gc.disable(); a = gc.mem_alloc()
        m.start(s, r)
        n = gc.mem_alloc() - a; gc.enable()
    print("start-reused-%%s-%%d" %% (fmt, rate), n)
    m.stop()
    m = None
"""


def heap_rows(upy, root):
    """{name: bytes} on the MicroPython unix port: media module imports (.mpy, -march=host,
    a fresh process each, with what they import) and one MediaSession's own objects."""
    import os
    import subprocess
    import tempfile

    out = {}
    cross = os.path.join(os.path.dirname(upy), "mpy-cross")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "mpsip"))
        src_dir = os.path.join(root, "firmware", "mpsip")
        for name in os.listdir(src_dir):
            if name.endswith(".py"):
                dst = os.path.join(tmp, "mpsip", name[:-3] + ".mpy")
                rel = "mpsip/" + name
                subprocess.run([cross, "-march=host", "-s", rel, "-o", dst, os.path.join(src_dir, name)], check=True)
        env = dict(os.environ, MICROPYPATH=tmp)

        def probe(code):
            cmd = [upy, "-X", "heapsize=200K", "-c", code]
            return subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout.split("\n")

        for m in HEAP_MODULES:
            out["import mpsip." + m] = int(probe(IMPORT_PROBE % ("mpsip." + m))[0])
        out["import media+audio"] = int(probe(IMPORT_PROBE % "mpsip.media, mpsip.audio")[0])
        for line in probe(SESSION_PROBE % (47230, 47232, 47232)):
            if line.strip():
                k, v = line.split()
                out[k] = int(v)
    return out


def main():
    import json
    import os
    import platform
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    upy = os.path.join(os.path.dirname(sys.executable), "micropython")
    p = subprocess.run([upy, "-X", "heapsize=512K", os.path.abspath(__file__)], capture_output=True, text=True)
    line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
    if p.returncode or not line:
        sys.exit("micropython run failed:\n" + p.stdout + p.stderr)
    mp = json.loads(line[0][7:])
    cp = dsp_rows("py")
    cp.update(frame_rows())
    ref = audioop_rows()
    cols = [("mp_viper", mp["viper"]), ("mp_plain", mp["plain"]), ("cpython_plain", cp)]
    if ref:
        cols.append(("cpython_audioop", ref))
    print("µs per 20 ms frame (median); heap = bytes allocated per frame on MicroPython")
    head = "%-10s" % "row" + "".join("%17s" % c for c, _ in cols) + "%10s%8s%10s"
    print(head % ("heap", "target", "x audioop"))
    result = {"rows": {}, "python": platform.python_version(), "micropython": p.stdout.split("RESULT")[0].strip()}
    for r in ROWS:
        vals = [c.get(r) for _, c in cols]
        cells = "".join("%17s" % ("%.2f" % v[0] if v else "-") for v in vals)
        heap = mp["viper"][r][1] if r in mp["viper"] else None
        ratio = "-"
        if ref and r in ref and r in mp["viper"]:
            ratio = "%.2f" % (mp["viper"][r][0] / ref[r][0])
        target = TARGETS.get(r, "-")
        print("%-10s%s%10s%8s%10s" % (r, cells, "-" if heap is None else "%.0f" % heap, target, ratio))
        result["rows"][r] = {c: (v[0] if v else None) for (c, _), v in zip(cols, vals, strict=True)}
        result["rows"][r]["mp_heap_bytes_per_frame"] = heap
        result["rows"][r]["target_us"] = TARGETS.get(r)
    media_heap = heap_rows(upy, root)
    print()
    print("media heap on MicroPython (bytes after gc.collect; imports: .mpy, fresh process, with their imports)")
    for k, v in media_heap.items():
        print("%-24s%8d" % (k, v))
    result["heap"] = media_heap
    os.makedirs(os.path.join(root, "build"), exist_ok=True)
    with open(os.path.join(root, "build", "bench-media.json"), "w") as f:
        json.dump(result, f, indent=1)
    print("wrote build/bench-media.json")


if __name__ == "__main__":
    if MP:
        child()
    else:
        main()
