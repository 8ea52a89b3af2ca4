"""Real SIP peers for host tests and the demo: Kamailio, baresip and SIPp on 127.0.0.1 (CPython only).

Each peer runs as a child process in its own process group, with its files (config, log, traces) in a
work directory; `stop()` ends the whole group, and an atexit hook stops whatever a crashed test left.
Every wait has a timeout, so a misbehaving peer fails a test instead of hanging it.

    with Kamailio(users={"alice": "apw", "bob": "bpw"}) as kam:
        with Baresip("bob", "bpw", kam.port) as bob:
            ...

`require("kamailio", "baresip")` skips a pytest test when a peer is not installed, or fails it when
MPSIP_REQUIRE_PEERS=1 (CI with peers must never report a missing peer as a pass).
"""

import atexit
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid

HOST = "127.0.0.1"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TEMPLATES = os.path.join(ROOT, "tools", "peers")
SCENARIOS = os.path.join(ROOT, "tools", "sipp")
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
BARESIP_MODULES = "/usr/lib/baresip/modules"


class PeerError(Exception):
    """A peer failed to start, answer or stop; the message carries the tail of its log."""


# ---------------------------------------------------------------- presence


def _kamailio_mpath():
    for d in (KAMAILIO_MODULES, "/usr/lib/kamailio/modules/", "/usr/lib64/kamailio/modules/"):
        if os.path.exists(os.path.join(d, "registrar.so")):
            return d
    return None


def missing(peer):
    """Why `peer` cannot run here (a string), or None when it can."""
    if peer == "kamailio":
        if not shutil.which("kamailio") or not shutil.which("kamcmd"):
            return "kamailio/kamcmd not installed (make peers)"
        if _kamailio_mpath() is None:
            return "kamailio modules (registrar.so) not found"
    elif peer == "baresip":
        if not shutil.which("baresip"):
            return "baresip not installed (make peers: baresip-core)"
        for mod in ("g711", "aufile", "sndfile", "alsa", "cons", "ctrl_tcp", "menu", "account"):
            if not os.path.exists(os.path.join(BARESIP_MODULES, mod + ".so")):
                return "baresip module %s.so missing" % mod
        if not shutil.which("sox"):
            return "sox not installed (baresip's tone source is made with sox)"
    elif peer == "sipp":
        if not shutil.which("sipp"):
            return "sipp not installed (make peers: sip-tester)"
    elif peer == "sox":
        if not shutil.which("sox"):
            return "sox not installed (make peers)"
    else:
        return "unknown peer %r" % peer
    return None


def have(peer):
    return missing(peer) is None


def require(*peers):
    """Skip the calling pytest test when a peer is missing; fail instead if MPSIP_REQUIRE_PEERS=1."""
    reasons = ["%s: %s" % (p, missing(p)) for p in peers if missing(p)]
    if not reasons:
        return
    msg = "missing peer " + "; ".join(reasons)
    try:
        import pytest
    except ImportError:  # the demo, outside pytest
        raise PeerError(msg) from None

    if os.environ.get("MPSIP_REQUIRE_PEERS") == "1":
        pytest.fail(msg + " (MPSIP_REQUIRE_PEERS=1)", pytrace=False)
    pytest.skip(msg)


# ---------------------------------------------------------------- ports

_given = set()
_given_lock = threading.Lock()


def _bindable(port, udp, tcp):
    socks = []
    try:
        for kind, wanted in ((socket.SOCK_DGRAM, udp), (socket.SOCK_STREAM, tcp)):
            if wanted:
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((HOST, port))
        return True
    except OSError:
        return False
    finally:
        for s in socks:
            s.close()


def free_ports(count=1, udp=True, tcp=True, lo=20000, hi=32000):
    """`count` consecutive ports on 127.0.0.1, free for UDP and/or TCP, never handed out twice here.

    Random base (not port 0) so blocks are consecutive and two test processes rarely collide; below
    Linux's ephemeral range (32768-60999), so a socket bound to port 0 meanwhile cannot take it.
    """
    rng = random.Random()
    with _given_lock:
        for _ in range(500):
            base = rng.randrange(lo, hi - count)
            block = range(base, base + count)
            if any(p in _given for p in block):
                continue
            if all(_bindable(p, udp, tcp) for p in block):
                _given.update(block)
                return base
    raise PeerError("no block of %d free ports" % count)


def free_port(udp=True, tcp=True):
    return free_ports(1, udp, tcp)


# ---------------------------------------------------------------- processes

_live = set()


@atexit.register
def _stop_all():
    for proc in list(_live):
        proc.stop()


def _fill(template_name, values):
    with open(os.path.join(TEMPLATES, template_name)) as f:
        text = f.read()
    for key, value in values.items():
        text = text.replace("@" + key + "@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise PeerError("%s: unfilled %s" % (template_name, left))
    return text


class _Proc:
    """A child process in its own session, its output in `self.log_path`."""

    name = "peer"

    def __init__(self, workdir=None):
        self._own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="mpsip-%s-" % self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.log_path = os.path.join(self.dir, self.name + ".log")
        self.proc = None

    def _spawn(self, argv, cwd=None):
        self.argv = argv
        log = open(self.log_path, "ab")
        log.write(("\n$ %s\n" % " ".join(argv)).encode())
        log.flush()
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd or self.dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        _live.add(self)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """SIGTERM the process group, SIGKILL it after `timeout`; returns the exit code."""
        return self._signal_steps(((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)))

    def _signal_steps(self, steps):
        p = self.proc
        if p is None:
            return None
        _live.discard(self)
        for sig, wait in steps:
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                pass
            try:
                p.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children that left the group-leader's wait (kamailio workers) get the same treatment.
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return p.returncode

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def describe(self):
        """Everything useful after a failure: command, exit status, the log."""
        rc = None if self.proc is None else self.proc.poll()
        return "==== %s (dir %s, rc %s)\n%s" % (self.name, self.dir, rc, self.log_tail(200))

    def _fail(self, what):
        raise PeerError("%s: %s\n%s" % (self.name, what, self.log_tail()))

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.cleanup()


# ---------------------------------------------------------------- raw SIP over UDP


def sip_request(
    port, method, ruri=None, user="probe", headers=(), body=b"", host=HOST, timeout=1.0, tries=3, sock=None
):
    """Send one out-of-dialog request without credentials; return the final response as text.

    Provisional responses are skipped. Used as Kamailio's readiness probe and to check challenges.
    """
    own = sock is None
    if own:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
    try:
        lport = sock.getsockname()[1]
        ruri = ruri or "sip:%s:%d" % (host, port)
        branch = "z9hG4bK" + uuid.uuid4().hex[:16]
        lines = [
            "%s %s SIP/2.0" % (method, ruri),
            "Via: SIP/2.0/UDP %s:%d;branch=%s;rport" % (HOST, lport, branch),
            "Max-Forwards: 70",
            "From: <sip:%s@%s>;tag=%s" % (user, host, uuid.uuid4().hex[:8]),
            "To: <%s>" % (ruri if method != "REGISTER" else "sip:%s@%s" % (user, host)),
            "Call-ID: %s" % uuid.uuid4().hex,
            "CSeq: 1 %s" % method,
            "Contact: <sip:%s@%s:%d>" % (user, HOST, lport),
        ]
        lines += list(headers)
        lines.append("Content-Length: %d" % len(body))
        data = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        deadline = time.monotonic() + timeout * tries
        sock.settimeout(timeout)
        while time.monotonic() < deadline:
            sock.sendto(data, (host, port))
            try:
                while True:
                    reply = sock.recv(65535).decode("utf-8", "replace")
                    if branch in reply and not reply.startswith("SIP/2.0 1"):
                        return reply
            except (socket.timeout, ConnectionRefusedError):
                continue
        return None
    finally:
        if own:
            sock.close()


def status_of(reply):
    m = re.match(r"SIP/2\.0 (\d{3})", reply or "")
    return int(m.group(1)) if m else None


def header_of(reply, name):
    m = re.search(r"^%s:[ \t]*(.*?)\r?$" % re.escape(name), reply or "", re.M | re.I)
    return m.group(1) if m else None


# ---------------------------------------------------------------- Kamailio


class Kamailio(_Proc):
    """Registrar (digest: 401 REGISTER, 407 others) and record-routing proxy on 127.0.0.1:port."""

    name = "kamailio"

    def __init__(self, users=None, port=None, workdir=None, debug=2, nat=False):
        """`nat=True`: UAs may sit behind tools/lossy_relay.py (requests reach them via the relay)."""
        super().__init__(workdir)
        self.nat = nat
        self.users = dict(users or {})
        self.port = port or free_port(udp=True, tcp=True)
        # The ctl socket path must stay under the 108-byte unix socket limit: short dir in /tmp.
        self.rundir = tempfile.mkdtemp(prefix="kam")
        self.ctl = "unix:" + os.path.join(self.rundir, "kamailio_ctl")
        self.cfg = os.path.join(self.dir, "kamailio.cfg")
        self.debug = debug
        self.start_seconds = None

    def _write_config(self):
        for u, p in self.users.items():
            if not re.match(r"^[A-Za-z0-9_.+-]+$", u) or '"' in p or "\\" in p:
                raise PeerError("user/password not safe for the config: %r" % u)
        users = "\n".join('\t$sht(users=>%s) = "%s";' % (u, p) for u, p in self.users.items())
        text = _fill(
            "kamailio.cfg",
            {"PORT": self.port, "RUNDIR": self.rundir, "MPATH": _kamailio_mpath(), "USERS": users},
        )
        text = text.replace("debug=2", "debug=%d" % self.debug, 1)
        with open(self.cfg, "w") as f:
            f.write(text)

    def start(self, timeout=10.0):
        if self.running():
            return self
        self._write_config()
        t0 = time.monotonic()
        # -DD: no daemon (stays our child); -E: log to stderr (our log file); -Y: runtime dir.
        argv = ["kamailio", "-f", self.cfg, "-DD", "-E", "-Y", self.rundir, "-m", "32", "-M", "4"]
        self._spawn(argv + (["-A", "WITH_NAT"] if self.nat else []))
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((HOST, 0))
        try:
            while time.monotonic() - t0 < timeout:
                if not self.running():
                    self._fail("exited with %s during start" % self.proc.returncode)
                if status_of(sip_request(self.port, "OPTIONS", timeout=0.05, tries=1, sock=sock)) == 200:
                    self.start_seconds = time.monotonic() - t0
                    return self
        finally:
            sock.close()
        self.stop()
        self._fail("no answer to OPTIONS within %.1fs" % timeout)

    def cleanup(self):
        super().cleanup()
        shutil.rmtree(self.rundir, ignore_errors=True)

    @property
    def uri(self):
        return "sip:%s:%d" % (HOST, self.port)

    def rpc(self, *args, timeout=5.0):
        """Run a kamcmd RPC over the ctl socket; returns (rc, output)."""
        p = subprocess.run(
            ["kamcmd", "-s", self.ctl] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout
        )
        return p.returncode, p.stdout + p.stderr

    def contacts(self, user):
        """Contact URIs bound to `user` in the location table (empty when not registered)."""
        rc, out = self.rpc("ul.lookup", "location", user)
        if rc != 0 or out.startswith("error"):
            return []
        return re.findall(r"Address:\s*(\S+)", out)

    def wait_registered(self, user, timeout=5.0, registered=True):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if bool(self.contacts(user)) == registered:
                return True
            time.sleep(0.05)
        return False

    def bind(self, user, contact, expires=600):
        """Add a location binding directly (a SIPp UAS cannot register itself)."""
        # ul.add table aor contact expires q path flags cflags methods ("." = no path)
        rc, out = self.rpc("ul.add", "location", user, contact, expires, "1.0", ".", 0, 0, 0)
        if rc != 0 or out.startswith("error"):
            raise PeerError("ul.add failed: " + out)


# ---------------------------------------------------------------- audio helpers


_tones = {}


def tone_wav(hz, seconds=120, rate=8000):
    """A cached tone WAV for this process (sox takes ~0.2 s for 120 s of tone)."""
    key = (hz, seconds, rate)
    if key not in _tones or not os.path.exists(_tones[key]):
        if "dir" not in _tones:
            _tones["dir"] = tempfile.mkdtemp(prefix="mpsip-tones-")
            atexit.register(shutil.rmtree, _tones["dir"], True)
        _tones[key] = make_tone(os.path.join(_tones["dir"], "tone-%d-%d-%d.wav" % key), hz, seconds, rate)
    return _tones[key]


def make_tone(path, hz, seconds=60, rate=8000):
    """A mono 16-bit WAV sine tone (aufile in baresip 1.0.0 needs the codec's rate and one channel)."""
    subprocess.run(
        ["sox", "-n", "-r", str(rate), "-c", "1", "-b", "16", path, "synth", str(seconds), "sine", str(hz)]
        + ["vol", "0.5"],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path


def sox_stat(path, trim_start=0.0):
    """`sox FILE -n stat` as a dict {"Rough frequency": 440.0, ...} (sox prints it on stderr)."""
    argv = ["sox", path, "-n"]
    if trim_start:
        argv += ["trim", str(trim_start)]
    p = subprocess.run(argv + ["stat"], capture_output=True, text=True, timeout=30)
    stats = {}
    for line in p.stderr.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            try:
                stats[" ".join(key.split())] = float(value.strip())
            except ValueError:
                pass
    return stats


def rough_frequency(path, trim_start=0.0):
    return sox_stat(path, trim_start).get("Rough frequency")


# ---------------------------------------------------------------- baresip


class Baresip(_Proc):
    """A headless baresip phone registered to Kamailio, driven over ctrl_tcp (netstring JSON).

    Events arrive on a reader thread into `self.events` (dicts with "type", "param", ...);
    `wait_event` consumes them in order. DTMF keys go through the cons module (one UDP byte each).
    """

    name = "baresip"

    def __init__(
        self,
        user,
        password,
        registrar_port,
        workdir=None,
        tone_hz=440,
        tone_seconds=120,
        answermode="auto",
        codec="pcmu",
        regint=600,
        lifetime=600,
        outbound=None,
        source_wav=None,
    ):
        """A phone for `user` registering to 127.0.0.1:`registrar_port`.

        It sends a sine of `tone_hz` for `tone_seconds` (the call ends when the WAV does), or
        `source_wav` (8 kHz mono 16-bit). `answermode` "auto" or "manual" (then `accept()`);
        `codec` "pcmu", "pcma" or "pcmu,pcma"; `outbound` (host, port) takes every initial request,
        e.g. a LossyRelay's listen address; baresip exits by itself after `lifetime` seconds.
        """
        super().__init__(workdir)
        self.name = "baresip-" + user
        self.log_path = os.path.join(self.dir, self.name + ".log")
        self.user, self.password, self.registrar_port = user, password, registrar_port
        self.tone_hz, self.tone_seconds = tone_hz, tone_seconds
        self.answermode, self.codec, self.regint, self.lifetime = answermode, codec, regint, lifetime
        self.outbound, self.source_wav = outbound, source_wav
        self.sip_port = free_ports(2)  # baresip also listens TCP on the SIP port + 1
        self.rtp_lo = free_ports(10, tcp=False)
        self.cons_port = free_port()
        self.ctrl_port = free_port(udp=False)
        self.confdir = os.path.join(self.dir, "conf")
        self.snd_dir = os.path.join(self.dir, "snd")
        self.events = []
        self._cond = threading.Condition()
        self._sock = None
        self._token = 0
        self.start_seconds = None

    @property
    def aor(self):
        return "sip:%s@%s:%d" % (self.user, HOST, self.registrar_port)

    @property
    def direct_uri(self):
        """Its own SIP address, to call it without the proxy (its registered Contact has a
        generated user part, e.g. sip:alice-0x55d1...@127.0.0.1:PORT)."""
        return "sip:%s@%s:%d" % (self.user, HOST, self.sip_port)

    def _write_config(self):
        os.makedirs(self.confdir, exist_ok=True)
        os.makedirs(self.snd_dir, exist_ok=True)
        self.tone_wav = self.source_wav or tone_wav(self.tone_hz, self.tone_seconds)
        config = _fill(
            "baresip.config",
            {
                "SIP_PORT": self.sip_port,
                "TONE_WAV": self.tone_wav,
                "RTP_LO": self.rtp_lo,
                "RTP_HI": self.rtp_lo + 9,
                "CONS_PORT": self.cons_port,
                "CTRL_PORT": self.ctrl_port,
                "SND_DIR": self.snd_dir,
            },
        )
        accounts = _fill(
            "baresip.accounts",
            {
                "USER": self.user,
                "REG_PORT": self.registrar_port,
                "PASSWORD": self.password,
                "ANSWERMODE": self.answermode,
                "CODECS": self.codec,
                "REGINT": self.regint,
                "OUTBOUND": ';outbound="sip:%s:%d;transport=udp"' % tuple(self.outbound) if self.outbound else "",
            },
        )
        with open(os.path.join(self.confdir, "config"), "w") as f:
            f.write(config)
        with open(os.path.join(self.confdir, "accounts"), "w") as f:
            f.write(accounts)
        # Empty contacts file, or baresip writes a default one with example entries.
        open(os.path.join(self.confdir, "contacts"), "w").close()

    def start(self, timeout=10.0, wait_register=True):
        if self.running():
            return self
        self._write_config()
        t0 = time.monotonic()
        # -t: baresip quits by itself after `lifetime` s, a backstop if every cleanup path fails.
        self._spawn(["baresip", "-f", self.confdir, "-t", str(self.lifetime)])
        try:
            self._connect(t0 + timeout)
            if wait_register:
                self._wait_registered(t0 + timeout)
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _connect(self, deadline):
        while self._sock is None:
            if not self.running():
                self._fail("exited with %s during start" % self.proc.returncode)
            if time.monotonic() > deadline:
                self._fail("ctrl_tcp not listening")
            try:
                self._sock = socket.create_connection((HOST, self.ctrl_port), timeout=0.2)
            except OSError:
                time.sleep(0.02)
        self._sock.settimeout(None)
        threading.Thread(target=self._reader, args=(self._sock,), daemon=True, name=self.name).start()

    def _wait_registered(self, deadline):
        # REGISTER_OK often fires before ctrl_tcp has a client, so ask `reginfo` between events.
        while True:
            ev = self.poll_event(("REGISTER_OK", "REGISTER_FAIL"), 0.1)
            if ev is not None and ev["type"] == "REGISTER_FAIL":
                self._fail("registration failed: %s" % ev)
            state = "OK" if ev is not None else self.registration_state()
            if state == "OK":
                return
            if state == "ERR" or time.monotonic() > deadline:
                self._fail("not registered (reginfo: %r)" % self.command("reginfo").get("data"))

    def registration_state(self):
        """baresip's `reginfo` verdict for the account: "OK", "ERR", or "zzz" (not yet)."""
        data = re.sub(r"\x1b\[[0-9;]*m", "", self.command("reginfo").get("data") or "")
        m = re.search(r"^>?\s*sip:\S+\s+(\S+)", data, re.M)
        return m.group(1) if m else None

    def registered(self):
        return self.registration_state() == "OK"

    def stop(self, timeout=0.5):
        """SIGTERM; a second SIGTERM after `timeout` if baresip still waits to un-REGISTER (a
        registrar that is gone makes it wait for the transaction to time out); SIGKILL last."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        return self._signal_steps(((signal.SIGTERM, timeout), (signal.SIGTERM, 2.0), (signal.SIGKILL, 5.0)))

    # -- ctrl_tcp: netstrings "len:json," both ways

    def _reader(self, sock):
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self.events.append({"type": "CTRL_CLOSED"})
                    self._cond.notify_all()
                return
            buf += chunk
            while True:
                colon = buf.find(b":")
                if colon < 0 or not buf[:colon].isdigit():
                    break
                n = int(buf[:colon])
                if len(buf) < colon + 1 + n + 1:
                    break
                payload, buf = buf[colon + 1 : colon + 1 + n], buf[colon + 2 + n :]
                try:
                    msg = json.loads(payload)
                except ValueError:
                    msg = {"type": "UNPARSED", "raw": payload.decode("utf-8", "replace")}
                if msg.get("response"):
                    msg["type"] = "RESPONSE"
                with self._cond:
                    self.events.append(msg)
                    self._cond.notify_all()

    def command(self, command, params="", timeout=5.0):
        """Send a ctrl_tcp command; return its response dict (ok, data)."""
        if self._sock is None:
            raise PeerError("%s not started" % self.name)
        self._token += 1
        token = "t%d" % self._token
        payload = json.dumps({"command": command, "params": params, "token": token}).encode()
        self._sock.sendall(b"%d:%s," % (len(payload), payload))
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events:
                    if ev.get("type") == "RESPONSE" and ev.get("token") == token:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    self._fail("no response to %s %s" % (command, params))
                self._cond.wait(left)

    def poll_event(self, types, timeout=0.0):
        """The next unconsumed event whose type is in `types` (a name or tuple), or None on timeout.

        Events of other types stay available; a returned event is consumed.
        """
        if isinstance(types, str):
            types = (types,)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events:
                    if ev.get("type") in types and not ev.get("_used"):
                        ev["_used"] = True
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def wait_event(self, types, timeout=10.0):
        """Like poll_event, but a timeout raises PeerError listing the events seen."""
        ev = self.poll_event(types, timeout)
        if ev is None:
            names = types if isinstance(types, str) else "/".join(types)
            self._fail("no %s within %.1fs (events: %s)" % (names, timeout, self.event_types()))
        return ev

    def event_types(self):
        with self._cond:
            return [e.get("type") for e in self.events if e.get("type") != "RESPONSE"]

    # -- phone actions

    def uri_for(self, user_or_uri):
        """`bob` -> sip:bob@127.0.0.1:<registrar port>; a full sip: URI is kept."""
        if user_or_uri.startswith("sip:"):
            return user_or_uri
        return "sip:%s@%s:%d" % (user_or_uri, HOST, self.registrar_port)

    def dial(self, target):
        """Call `target` (a user on the registrar, or a sip: URI); CALL_* events follow."""
        r = self.command("dial", self.uri_for(target))
        if not r.get("ok"):
            self._fail("dial %s refused: %s" % (target, r))
        return r

    def accept(self):
        return self.command("accept")

    def hangup(self):
        return self.command("hangup")

    def send_dtmf(self, digits, hold=0.15, gap=0.1):
        """Key `digits` on the phone; baresip sends RFC 4733 events.

        cons takes one byte a key; each is held `hold` s, then released with KEYCODE_REL
        (0x04): baresip 1.0.0 holds a key until then (a space does not release it), and its
        RFC 4733 event would not end before the call does.
        """
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for ch in digits:
                s.sendto(ch.encode(), (HOST, self.cons_port))
                time.sleep(hold)
                s.sendto(b"\x04", (HOST, self.cons_port))
                time.sleep(gap)
        finally:
            s.close()

    def recordings(self, kind="dec", timeout=3.0):
        """WAV files sndfile wrote: kind "dec" (received audio) or "enc" (sent audio).

        sndfile writes the WAV header when the call's audio stops, shortly after CALL_CLOSED:
        wait (bounded) until every file's RIFF size matches its length.
        """
        deadline = time.monotonic() + timeout
        while True:
            names = sorted(n for n in os.listdir(self.snd_dir) if n.endswith("-%s.wav" % kind))
            paths = [os.path.join(self.snd_dir, n) for n in names]
            if all(_wav_complete(p) for p in paths) or time.monotonic() > deadline:
                return paths
            time.sleep(0.02)


def _wav_complete(path):
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) < 12 or head[:4] != b"RIFF":
        return False
    return int.from_bytes(head[4:8], "little") + 8 == os.path.getsize(path) > 44


# ---------------------------------------------------------------- SIPp


class Sipp(_Proc):
    """One SIPp run: a scenario file (name in tools/sipp/ or a path) or a built-in (`builtin="uas"`).

    `remote` is "127.0.0.1:PORT" for a UAC; `port` is SIPp's own SIP port (allocated if None).
    Variables for the scenario go in `keys` ({"user": "alice"} -> `-key user alice` -> [user]);
    DEFAULT_KEYS fills those our scenarios use (SIPp refuses a scenario with an unknown [key]).
    """

    name = "sipp"
    DEFAULT_KEYS = {"caller": "sipp", "user": "ua", "password": "ua-pw", "expires": 60}

    def __init__(
        self,
        scenario=None,
        remote=None,
        port=None,
        extra_args=(),
        builtin=None,
        calls=1,
        keys=None,
        timeout=60.0,
        workdir=None,
    ):
        super().__init__(workdir)
        if (scenario is None) == (builtin is None):
            raise ValueError("give a scenario or a builtin")
        if scenario is not None and os.path.sep not in scenario:
            scenario = os.path.join(SCENARIOS, scenario)
        self.scenario, self.builtin, self.remote = scenario, builtin, remote
        self.port = port or free_port()
        self.media_port = free_ports(4, tcp=False)
        self.control_port = free_port(tcp=False)
        self.keys = dict(self.DEFAULT_KEYS, **(keys or {}))
        self.extra_args, self.calls, self.timeout = list(extra_args), calls, timeout
        self.returncode = None
        self.stem = os.path.join(self.dir, "sipp")

    def argv(self):
        argv = ["sipp"]
        if self.remote:
            argv.append(self.remote)
        argv += ["-sf", self.scenario] if self.scenario else ["-sn", self.builtin]
        argv += ["-i", HOST, "-p", str(self.port), "-mp", str(self.media_port), "-cp", str(self.control_port)]
        argv += ["-m", str(self.calls), "-nd", "-nostdin", "-timeout", "%ds" % max(1, int(self.timeout))]
        argv += ["-trace_msg", "-message_file", self.stem + "_messages.log"]
        argv += ["-trace_err", "-error_file", self.stem + "_errors.log"]
        argv += ["-trace_screen", "-screen_file", self.stem + "_screen.log"]
        argv += ["-trace_stat", "-stf", self.stem + "_stat.csv"]
        argv += ["-trace_logs", "-log_file", self.stem + "_logs.log"]
        for k, v in self.keys.items():
            argv += ["-key", k, str(v)]
        return argv + self.extra_args

    def start(self):
        # SIPp appends to trace files: start each run from empty ones.
        for suffix in ("_messages.log", "_errors.log", "_screen.log", "_stat.csv", "_logs.log"):
            if os.path.exists(self.stem + suffix):
                os.remove(self.stem + suffix)
        self._spawn(self.argv())
        return self

    def wait(self, timeout=None):
        """Wait for SIPp to end (killing it after `timeout`); returns its exit code.

        SIPp codes: 0 all calls passed, 1 some failed, 97 internal command, 99 no call processed,
        -1/255 fatal, -2/254 fatal binding error.
        """
        timeout = self.timeout + 5 if timeout is None else timeout
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            self.returncode = None
            raise PeerError("sipp still running after %.1fs\n%s" % (timeout, self.report())) from None
        _live.discard(self)
        return self.returncode

    def run(self, timeout=None):
        self.start()
        return self.wait(timeout)

    def _read(self, suffix):
        try:
            with open(self.stem + suffix, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def messages(self):
        return self._read("_messages.log")

    def errors(self):
        return self._read("_errors.log")

    def screen(self):
        return self._read("_screen.log")

    def logs(self):
        return self._read("_logs.log")

    def stats(self):
        """The last row of the -trace_stat CSV as a dict (e.g. "SuccessfulCall(C)": "1")."""
        rows = [r for r in self._read("_stat.csv").splitlines() if r.strip()]
        if len(rows) < 2:
            return {}
        keys = rows[0].rstrip(";").split(";")
        return dict(zip(keys, rows[-1].rstrip(";").split(";"), strict=False))

    def stat_seconds(self, key):
        """A duration from the stats CSV ("HH:MM:SS:usec", e.g. "ResponseTime1(C)") in seconds."""
        h, m, sec, usec = (int(x) for x in self.stats()[key].split(":"))
        return h * 3600 + m * 60 + sec + usec / 1e6

    def report(self):
        return "%s\n-- errors\n%s\n-- screen\n%s\n-- messages (tail)\n%s" % (
            self.describe(),
            self.errors()[-3000:],
            self.screen()[-3000:],
            self.messages()[-6000:],
        )
