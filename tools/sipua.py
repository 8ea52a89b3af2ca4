# sipua: mpsip's user agent on a UDP socket, driven from the command line - the same
# code on the MicroPython unix port (as on the board) and on CPython. The peer tests and
# tools/bench_ua.py run it; one line per event on stdout, flushed:
#     EVENT registered expires=600 us=2310 heap=74912 t=12
#     EVENT calling call=1 us=610 t=13
#     EVENT connected call=1 codec=PCMU remote=127.0.0.1:10000 dir=sendrecv heap=109600 t=40
#     EVENT ended call=1 reason=bye t=1043
# (heap: bytes in use after a collection, MicroPython only; t: ms since start; us: time
# from register() or call() to this event, on the first registration and our call;
# calling's: from call() to the INVITE handed to the socket)
#
#   micropython -X heapsize=160K -m sipua --port 5062 --registrar 127.0.0.1:5060 \
#       --user ua --password ua-pw --domain 127.0.0.1 --call sip:bob@127.0.0.1 --hangup-after 2
#   (MICROPYPATH=.frozen:build/mpy-host/firmware:build/mpy-host/tools - .frozen for asyncio,
#   which mpsip.transport imports; on CPython: python tools/sipua.py ...)
#
# Options (each takes one value, except the flags --answer and --media):
#   --port N            our SIP port on 127.0.0.1 (--host to change the address)
#   --registrar H:P     register there (digest with --user/--password), and send calls there;
#                       without it nothing registers and calls go straight to their URI
#   --backup H:P        a backup registrar      --expires S    asked for (600)
#   --user --password --domain (--domain defaults to the registrar's host)
#   --rtp-port N        in our SDP              --codecs PCMU,PCMA
#   --call URI          call once registered (at once without --registrar)
#   --answer            answer incoming calls   --reject CODE  reject them with CODE
#   --hangup-after S    hang up S s after connected; --ring-timeout S  give up (CANCEL)
#   --info-dtmf DIGITS  send DIGITS as SIP INFO once connected, one every 100 ms
#   --unregister-after S, --exit-after S   counted from the start
#   --calls N           place the --call N times, each once the previous has ended, then exit
#   --registrations N   ... and not before N registrations (refreshes included) were granted
#   --drain S           at exit: hang up, unregister, and run until no transaction and no
#                       call is left (at most S s); the exit line counts what is left:
#     EVENT exit dropped=0 tx=0 calls=0 ms=31980 t=95210
# Media, for the connected call (one at a time, as on the intercom), paced every ptime
# from this loop by MediaSession (mpsip.media); on with --media or any option below
# (without, calls carry no RTP and the media modules' ~45 KB of heap stay unloaded):
#   --mic tone:HZ | PATH.wav   what we send (16-bit mono WAV, looped; default silence)
#   --record PATH.wav   what we receive (the n-th call after the first: PATH-n.wav)
#   --dtmf DIGITS       RFC 4733 events 0.5 s after connected (received ones: EVENT dtmf
#                       digit=5 via=rtp; INFO ones: via=info)
#   --rtp-local N       the port our RTP socket binds, when something in front of it (a
#                       relay, a port forward) receives on --rtp-port, the one in our SDP
# At the end of a call's media (lost: RFC 3550 A.3, negative with duplicates; late, dups,
# concealed: the jitter buffer's; bad, other, split, errors: the socket side's):
#     EVENT rtp call=1 frames=150 rx=148 lost=2 late=0 dups=0 concealed=3 bad=0 other=0
#           split=4 errors=0 t=3400
# It keeps no state of its own beyond that: it is a shell around UserAgent, small enough
# to sit beside it in the board's heap.
import sys

try:
    from gc import collect, mem_alloc
except ImportError:  # CPython
    collect = mem_alloc = None

if not [p for p in sys.path if p.endswith("firmware")]:  # run from the source tree
    _here = __file__.rpartition("/")[0] or "."
    sys.path.append(_here + "/../firmware")

import select  # noqa: E402
import time  # noqa: E402

from mpsip.transport import Udp  # noqa: E402
from mpsip.ua import UserAgent, hostport, split_hostport  # noqa: E402

if hasattr(time, "ticks_ms"):
    clock = time  # MicroPython: time has ticks_ms/ticks_us/ticks_add/ticks_diff itself
else:  # CPython: the same wrapping arithmetic
    from mpsip.media import Clock as clock  # noqa: N813

_FLAGS = ("answer", "media")
_MEDIA = ("media", "mic", "record", "dtmf", "rtp-local")  # any of them turns media on
_S = ("hangup-after", "ring-timeout", "unregister-after", "exit-after", "drain")


def options(argv):
    """--name value pairs (and --answer) into a dict; a bad option raises ValueError."""
    o = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if not a.startswith("--"):
            raise ValueError(a)
        a = a[2:]
        if a in _FLAGS:
            o[a] = True
            i += 1
            continue
        if i + 1 >= len(argv):
            raise ValueError(a)
        o[a] = argv[i + 1]
        i += 2
    for k in _S:
        if k in o:
            o[k] = int(float(o[k]) * 1000)
    return o


def heap():
    """Heap in use after a collection (MicroPython), for the event line."""
    if mem_alloc is None:
        return ""
    collect()
    return "heap=%d" % mem_alloc()


_T0 = clock.ticks_ms()


def out(name, *kv):
    t = "t=%d" % clock.ticks_diff(clock.ticks_ms(), _T0)  # ms since start, for tools/bench_ua.py
    print("EVENT " + " ".join([name] + [k for k in kv if k] + [t]))
    try:
        sys.stdout.flush()
    except AttributeError:
        pass


class Driver:
    def __init__(self, o):
        self.o = o
        self.t0 = clock.ticks_ms()
        self.n = 0  # calls seen, numbered for the event lines
        self.due = {}  # call -> ticks_ms deadline (hangup or ring timeout)
        self.dtmf = []  # [call, digits left, next ticks_ms]
        self.placed = False
        self.may_call = False  # registered (or no registrar): calls may go
        self.left = int(o.get("calls", "1"))  # calls still to place
        self.done = False  # the --calls are all over: exit
        self.granted = 0  # registrations granted
        self.op = None  # ticks_us when register() or call() was made, for the us= key
        self.m = None  # sipua_media.Media, with --media (or any of _MEDIA)
        self.answering = None  # the incoming call --answer answers (deferred())
        self.media = None  # (call, negotiated) whose media starts or follows (deferred())
        host = o.get("host", "127.0.0.1")
        port = int(o.get("port", "5060"))
        reg = o.get("registrar")
        if reg:
            server = split_hostport(reg)
        elif "call" in o:
            server = hostport(o["call"])
        else:
            server = (host, 5060)
        codecs = tuple(o.get("codecs", "PCMU,PCMA").split(","))
        if [k for k in _MEDIA if k in o]:
            # First, while the heap is whole: the media code and every buffer of a call's media
            # (made once, kept) sit at its bottom, under what the UA allocates and frees.
            from sipua_media import Media  # its code stays out of the heap of a UA without media

            self.m = Media(self, o, host, clock, out, codecs)
        self.t = Udp(host, port)
        self.ua = UserAgent(
            self.t,
            clock,
            o.get("user", "ua"),
            o.get("domain", server[0]),
            server,
            password=o.get("password"),
            backup=o.get("backup"),
            expires=int(o.get("expires", "600")),
            local=(host, port),
            rtp_port=int(o.get("rtp-port", "40000")),
            codecs=codecs,
            on_event=self.event,
        )
        if mem_alloc is not None:
            # As the station boots (intercom/startup.load_modules): load each module the UA
            # lends itself (mpsip.ua._lent; its first poll() drops them) while the heap is whole
            # - left to the first challenge, their names grew the qstr pools by a 7 KB block
            # mid-registration. Last: dropped, they leave one free piece at the heap's top, not
            # a hole under the UA. Not by importing intercom.startup: its ~50 names would stay
            # interned, and the call's own would then open a sixth qstr pool (7.6 KB).
            from mpsip.ua import _lent

            for a in _lent:
                __import__("mpsip." + a)
        out("ready", "port=%d" % port, heap())
        if reg:
            self.op = clock.ticks_us()
            self.ua.register()
        else:
            self.place()

    def place(self):
        self.may_call = True
        if "call" in self.o and not self.placed and self.left > 0:
            self.placed = True
            self.left -= 1
            self.op = clock.ticks_us()
            try:
                c = self.ua.call(self.o["call"])
            except MemoryError:  # no room for the INVITE now: again in the next round
                self.placed = False
                self.left += 1
                raise
            # call() returns once the INVITE is handed to the socket: the time to the wire
            out("calling", self.num(c), "us=%d" % clock.ticks_diff(clock.ticks_us(), self.op))
            if "ring-timeout" in self.o and c.state != "ended":
                self.due[c] = self.after("ring-timeout")

    def after(self, key):
        return clock.ticks_add(clock.ticks_ms(), self.o[key])

    def took(self):
        """us= since register() or call(): what the first registration or the call took."""
        if self.op is None:
            return ""
        us, self.op = clock.ticks_diff(clock.ticks_us(), self.op), None
        return "us=%d" % us

    def num(self, c):
        n = getattr(c, "n", None)
        if n is None:
            self.n += 1
            n = c.n = self.n
        return "call=%d" % n

    def event(self, name, c, arg):
        o = self.o
        kv = []
        if c is not None:
            kv.append(self.num(c))
        if name == "registered":
            self.granted += 1
            kv.append("expires=%d" % arg)
            kv.append(self.took())
            kv.append(heap())
        elif name in ("connected", "early", "media") and arg is not None:
            kv.append("codec=%s remote=%s:%d dir=%s" % (arg.codec, arg.address, arg.port, arg.direction))
            m = self.m
            if m and name != "early" and (name == "connected" or c is m.call):
                self.media = (c, arg)  # started by the loop (deferred())
            if name == "connected":
                if c.outgoing:
                    kv.append(self.took())
                kv.append(heap())
                self.due.pop(c, None)
                if "hangup-after" in o:
                    self.due[c] = self.after("hangup-after")
                if "info-dtmf" in o:
                    self.dtmf = [c, o["info-dtmf"], clock.ticks_ms()]
        elif name == "incoming":
            kv.append("from=%s" % c.remote_uri)
        elif name in ("ended", "registration-failed"):
            kv.append("reason=%s" % arg)
            self.due.pop(c, None)
            if self.media and self.media[0] is c:
                self.media = None
            if c is not None and self.m and c is self.m.call:
                self.m.stop()
            if c is not None and c.outgoing and "calls" in o:
                self.placed = False  # the next of the --calls (from timers(), not inside the UA)
                self.done = self.left <= 0
        elif name == "ringing":
            kv.append("status=%s" % arg)
        elif name == "dtmf":
            kv.append("digit=%s via=info" % arg)
        elif name == "message":
            kv.append("from=%s type=%s body=%s" % (arg[0], arg[1], arg[2].decode()))
        elif name == "notify":
            kv.append("event=%s" % arg[0])
        elif name == "error":
            kv.append("text=%s" % arg)
        out(name, *kv)
        if name == "registered":
            self.place()
        elif name == "incoming":
            if "reject" in o:
                c.reject(int(o["reject"]))
            elif "answer" in o:
                self.answering = c  # by the loop (deferred())

    # --- the loop ----------------------------------------------------------------------------
    def timers(self):
        now = clock.ticks_ms()
        d = clock.ticks_diff
        for c in list(self.due):
            if d(now, self.due[c]) >= 0:
                c.hangup()  # first: should it fail (MemoryError), the next round tries again
                self.due.pop(c, None)
        t = self.dtmf
        if t and d(now, t[2]) >= 0:
            if t[0].state == "connected" and t[1]:
                t[0].send_info_dtmf(t[1][0])
                t[1] = t[1][1:]
                t[2] = clock.ticks_add(now, 100)
            else:
                self.dtmf = []
        if self.m:
            self.m.timers(now)
        if not self.placed and self.left > 0 and "calls" in self.o and self.may_call:
            self.place()
        o = self.o
        if "unregister-after" in o and d(now, clock.ticks_add(self.t0, o["unregister-after"])) >= 0:
            del o["unregister-after"]
            self.ua.unregister()
        if self.done and self.granted >= int(o.get("registrations", "0")):
            return False
        return "exit-after" not in o or d(now, clock.ticks_add(self.t0, o["exit-after"])) < 0

    def deferred(self):
        """What the UA's callbacks leave to the loop: answering a call (--answer) and starting
        or following a call's media. Done here, not inside feed(), so that the datagram that
        asked for it (the INVITE, the 200) and its parse are garbage by then: on 2026-11-25
        (ROMFS, 200K) a registered UA held 73.7 KB, 82.5 with the INVITE answered inside the
        callback and 84.4 once its media had started there too - the peak of a call, and at
        96K the media's sockets and buffers found no piece of 464 bytes in what was left. A
        MemoryError in answer() leaves it for the next round."""
        c = self.answering
        if c is not None:
            c.answer()  # (False, nothing sent, if the call has gone meanwhile)
            self.answering = None
        if self.media is not None:
            c, neg = self.media
            m = self.m
            self.media = None
            try:
                m.follow(c, neg)
            except (MemoryError, OSError, ValueError) as e:
                # the call goes on without media (its timers still set)
                out("error", "text=media:%s:%s" % (type(e).__name__, e))
                m.stop()

    def step(self, p):
        """One round: SIP in and timers, the media frames due; then sleep until the next
        timer or frame (at most 20 ms), or until a datagram wakes us."""
        try:
            wait = self.ua.poll()
            self.deferred()
            if self.m and self.m.call is not None:
                w = self.m.poll()
                if w < wait:
                    wait = w
        except MemoryError:  # in a timer (feed() and the receive buffer's are caught inside)
            out("error", "text=MemoryError:poll")
            time.sleep(0.02)  # not in a spin: the next round may have room again
            return
        p.poll(wait if wait < 20 else 20)

    def run(self):
        p = select.poll()
        p.register(self.t.sock, select.POLLIN)
        while True:
            try:
                if not self.timers():
                    break
            except MemoryError:  # building a request in a timer: the next round tries again
                out("error", "text=MemoryError:timers")
            self.step(p)
        ua = self.ua
        for c in list(ua.calls):  # (a copy: a call leaves the list as it ends)
            c.hangup()
        ua.close()
        t = clock.ticks_ms()
        if "drain" in self.o:
            # what we started finishes by its own timers: BYE and REGISTER retransmitted
            # until answered, absorbing states (RFC 3261 17: Timers D, J, K, L, M) run out
            if ua.reg.state == "registered" or ua.reg.tx:
                ua.unregister()
            end = clock.ticks_add(t, self.o["drain"])
            while (ua.txs.table or ua.calls) and clock.ticks_diff(end, clock.ticks_ms()) > 0:
                self.step(p)
        if self.m:
            self.m.stop()
            self.m.ms.close()  # the microphone's file
        out(
            "exit",
            "dropped=%d tx=%d calls=%d ms=%d"
            % (ua.dropped, len(ua.txs.table), len(ua.calls), clock.ticks_diff(clock.ticks_ms(), t)),
        )


def main(argv):
    try:
        o = options(argv)
    except ValueError as e:
        print("sipua: bad option %s" % e)
        return 2
    Driver(o).run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
