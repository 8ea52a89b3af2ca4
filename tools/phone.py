"""A scripted SIP phone on CPython: mpsip's own UserAgent and MediaSession (the same core the
board runs), in a thread of the calling process. The host demo and the intercom tests use it as
the person at the other end: it registers, rings, answers, talks (a tone), records what it hears,
keys DTMF (RFC 4733 or SIP INFO) and hangs up.

    with Phone("phone", "phonepw", ("127.0.0.1", 5060), tone_hz=1000, record="heard.wav") as p:
        p.wait("registered")
        p.wait("incoming")            # answer="auto" (default) answers it
        p.wait("connected"); p.dtmf("1234#"); p.hangup(); p.wait("ended")

Events are (name, {key: value}) in order, e.g. ("incoming", {"from": "sip:door@..."});
wait(name, timeout, **match) returns the next unconsumed one or raises PhoneError.
Every public method is safe to call from another thread: commands run in the phone's loop.
"""

import os
import queue
import select
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "firmware") not in sys.path:
    sys.path.insert(0, os.path.join(ROOT, "firmware"))

from mpsip.audio import NullSink, ToneSource  # noqa: E402
from mpsip.media import Clock, MediaSession  # noqa: E402
from mpsip.transport import Udp  # noqa: E402
from mpsip.ua import UserAgent  # noqa: E402
from mpsip.wav import WavSink  # noqa: E402

# The board bounds its server transactions (503 beyond, a heap guard: RFC 3261 21.5.4); a phone
# on a PC that takes a call every few hundred ms (the soak) holds more than that in their 32 s
# of Timer L/J, so its user agent gets a roomier table (its own: UserAgent(max_tx=...)).
_MAX_TX = 4096


class PhoneError(Exception):
    pass


class Phone:
    """user/password: the account on the registrar at registrar (host, port), or None (no
    registration: calls go straight to their URI). answer: "auto" (after answer_delay s),
    "manual" (rings until answer() or reject()), or a status code to reject with."""

    def __init__(
        self,
        user,
        password,
        registrar,
        port=None,
        rtp_port=None,
        tone_hz=1000,
        record=None,
        answer="auto",
        answer_delay=0.0,
        codecs=("PCMU", "PCMA"),
        domain=None,
        expires=600,
        log=None,
    ):
        from tools.peers import free_port

        self.user = user
        self.port = port or free_port(tcp=False)
        self.rtp_port = rtp_port or free_port(tcp=False)
        self.tone_hz = tone_hz
        self.record = record
        self.answer_mode = answer
        self.answer_delay = answer_delay
        self.log = log  # log(line) for a transcript, or None
        self.clock = Clock()
        self.transport = Udp("127.0.0.1", self.port)
        reg = registrar or ("127.0.0.1", 5060)
        self.registrar = registrar
        self.ua = UserAgent(
            self.transport,
            self.clock,
            user,
            domain or "%s:%d" % reg,
            reg,
            password=password,
            expires=expires,
            local=("127.0.0.1", self.port),
            rtp_port=self.rtp_port,
            codecs=tuple(codecs),
            agent="mpsip-phone",
            on_event=self._on_event,
            max_tx=_MAX_TX,
        )
        self.events = []
        self._used = set()
        self._cond = threading.Condition()
        self._cmds = queue.Queue()
        self.call = None  # the current call
        self.session = None
        self.sink = None
        self.recordings = []  # one WAV per call, when record is given
        self._answer_at = None
        self._stop = False
        self._thread = None
        self.frames = 0

    # ------------------------------------------------------------------ the public side

    def start(self):
        self._thread = threading.Thread(target=self._run, name="phone-" + self.user, daemon=True)
        self._thread.start()
        if self.registrar is not None:
            self._do(self.ua.register)
        return self

    def stop(self, timeout=3.0):
        if self._thread is None:
            return
        self._stop = True
        self._thread.join(timeout)
        self._thread = None
        self._end_media()
        self.transport.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def dial(self, uri):
        self._do(self._dial, uri)

    def answer(self):
        self._do(lambda: self.call and self.call.answer())

    def reject(self, status=486):
        self._do(lambda: self.call and self.call.reject(status))

    def hangup(self):
        self._do(lambda: self.call and self.call.hangup())

    def dtmf(self, digits, info=False, gap=0.15):
        """Key digits: RFC 4733 events in the media (default) or SIP INFO, one per `gap` s."""
        for d in digits:
            if info:
                self._do(lambda d=d: self.call and self.call.send_info_dtmf(d))
            else:
                self._do(lambda d=d: self.session and self.session.send_dtmf(d))
            time.sleep(gap)

    def unregister(self):
        self._do(self.ua.unregister)

    def wait(self, name, timeout=10.0, **match):
        """The next `name` event not returned before whose keys match; PhoneError after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (n, kv) in enumerate(self.events):
                    if i in self._used or n != name:
                        continue
                    if all(kv.get(k) == str(v) for k, v in match.items()):
                        self._used.add(i)
                        return kv
                left = deadline - time.monotonic()
                if left <= 0:
                    raise PhoneError(
                        "phone %s: no event %s %s within %.1fs; events: %s"
                        % (self.user, name, match, timeout, [n for n, _ in self.events][-20:])
                    )
                self._cond.wait(min(left, 0.1))

    def names(self):
        with self._cond:
            return [n for n, _ in self.events]

    # ------------------------------------------------------------------ the phone's thread

    def _do(self, fn, *args):
        self._cmds.put((fn, args))

    def _note(self, name, **kv):
        with self._cond:
            self.events.append((name, {k: str(v) for k, v in kv.items()}))
            self._cond.notify_all()
        if self.log:
            self.log("EVENT " + " ".join([name] + ["%s=%s" % (k, kv[k]) for k in sorted(kv)]))

    def _dial(self, uri):
        self.call = self.ua.call(uri)

    def _on_event(self, name, call, arg):
        if name == "incoming":
            self.call = call
            self._note("incoming", **{"from": call.remote_uri})
            mode = self.answer_mode
            if mode == "auto":
                self._answer_at = time.monotonic() + self.answer_delay
            elif mode != "manual":
                call.reject(int(mode))
        elif name in ("connected", "media"):
            self._start_media(arg)
            self._note(name, codec=arg.codec, peer=call.remote_uri)
        elif name == "ended":
            if call is self.call:
                self._end_media()
            self._note("ended", reason=arg)
        elif name == "ringing":
            self._note("ringing", status=arg)
        elif name == "registered":
            self._note("registered", expires=arg)
        elif name == "registration-failed":
            self._note("registration-failed", reason=arg)
        elif name == "dtmf":
            self._note("dtmf", digit=arg, via="info")
        elif name in ("unregistered", "error"):
            self._note(name, detail=arg)

    def _start_media(self, neg):
        self._end_media()
        sock = self.transport.sock.__class__(self.transport.sock.family, self.transport.sock.type)
        sock.bind(("127.0.0.1", self.rtp_port))
        if self.record:
            n = len(self.recordings)
            path = self.record if n == 0 else "%s-%d.wav" % (self.record[:-4], n + 1)
            self.sink = WavSink(path)
            self.recordings.append(path)
        else:
            self.sink = NullSink()
        self.rtp_sock = sock
        self.session = MediaSession(
            sock,
            (neg.address, neg.port),
            ToneSource(self.tone_hz, amplitude=6000),
            self.sink,
            self.clock,
            pt=neg.pt,
            ptime=neg.ptime or 20,
            dtmf_pt=neg.dtmf_pt or 101,
            on_dtmf=lambda digit, ms: self._note("dtmf", digit=digit, via="rtp"),
        )

    def _end_media(self):
        s = self.session
        if s is not None:
            self.session = None
            s.close()  # closes the WAV sink (its header gets the sizes)
            self.frames += s.frames
            self.rtp_sock.close()

    def _run(self):
        p = select.poll()
        p.register(self.transport.sock, select.POLLIN)
        while not self._stop:
            while True:
                try:
                    fn, args = self._cmds.get_nowait()
                except queue.Empty:
                    break
                fn(*args)
            if self._answer_at is not None and time.monotonic() >= self._answer_at:
                self._answer_at = None
                if self.call is not None:
                    self.call.answer()
            wait = self.ua.poll()
            s = self.session
            if s is not None:
                w = s.poll() // 1000
                while w == 0:  # catch up: frames are due every 20 ms
                    w = s.poll() // 1000
                wait = min(wait, w)
            p.poll(max(0, min(wait, 20)))
