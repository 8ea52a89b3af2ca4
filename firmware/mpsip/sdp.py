"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for one G.711 audio stream.

    d = sdp.parse(body)                 # str or bytes -> Description; SdpError on bad input
    d.media[0].port, d.connection(d.media[0]), d.direction(d.media[0])
    body = d.to_bytes()                 # CRLF lines; unknown lines kept in place

    ep = sdp.AudioEndpoint("192.0.2.5", 40000)      # codecs=("PCMU", "PCMA"), dtmf_pt=101
    offer = ep.offer()                  # Description; o= version +1 each time (RFC 3264 8)
    ans, neg = ep.answer(remote_offer)  # SdpError(status=488) when no common codec
    neg = ep.accept(remote_answer)      # after our offer
    neg.address, neg.port, neg.pt, neg.codec, neg.dtmf_pt, neg.ptime, neg.direction, neg.held

Codec choice when answering: the first format in the offer's m= line that we support,
so the offerer's preference order wins (RFC 3264 6.1 lets the answerer choose; keeping
the offerer's order is what it recommends). The answer lists only that codec (plus
telephone-event with the offerer's PT), so both sides know what will be sent. Only
the first usable audio stream is taken (plain RTP/AVP, port != 0); every other m= line
is answered with port 0 in its place. No usable audio at all -> SdpError 488.
Negotiated.direction is this side's direction; .ptime is what we should send.
"""


class SdpError(Exception):
    """Bad SDP. .status: 400 malformed, 488 nothing acceptable (answer 488 Not Acceptable Here)."""

    def __init__(self, msg, status=400):
        super().__init__(msg)
        self.status = status


_DIRS = ("inactive", "recvonly", "sendonly", "sendrecv")  # index = send * 2 + recv
# RFC 3551 6: static payload types we can use.
_STATIC = {"0": ("PCMU", 8000), "8": ("PCMA", 8000)}
_PT = {"PCMU": "0", "PCMA": "8"}
_DIGITS = "0123456789"


def _num(s, hi):
    if not s or len(s) > 20:
        return None
    for c in s:
        if c not in _DIGITS:
            return None
    n = int(s)
    return n if n <= hi else None


def _fields(v):
    # RFC 4566 5: fields are separated by one space; tolerate runs of them. Only " ",
    # not str.split(): CPython would also split on Unicode spaces, MicroPython not.
    return [f for f in v.split(" ") if f]


def _key(order, t):
    # RFC 4566 5: fixed line order; r= stays with its t=, unknown types go before a=.
    if t == "a":
        return 99
    k = order.find("t" if t == "r" else t)
    return k if k >= 0 else 98


class _Part:
    """Lines of one section in wire order, as [type, value] pairs (v=, o=, s=, m= held apart)."""

    _ORDER = "icbk"

    def get(self, t):
        for line in self.lines:
            if line[0] == t:
                return line[1]
        return None

    def add(self, t, value):
        k = _key(self._ORDER, t)
        i = len(self.lines)
        while i and _key(self._ORDER, self.lines[i - 1][0]) > k:
            i -= 1
        self.lines.insert(i, [t, value])

    def set(self, t, value):
        for line in self.lines:
            if line[0] == t:
                line[1] = value
                return
        self.add(t, value)

    def attr(self, name):
        """Value of the first a=name[:value]; '' for a flag; None when absent."""
        for t, v in self.lines:
            if t == "a":
                n, _, val = v.partition(":")
                if n == name:
                    return val
        return None

    def attrs(self, name):
        return [v.partition(":")[2] for t, v in self.lines if t == "a" and v.partition(":")[0] == name]

    def add_attr(self, name, value=None):
        self.add("a", name if value is None else name + ":" + str(value))

    def remove_attr(self, name):
        self.lines = [x for x in self.lines if x[0] != "a" or x[1].partition(":")[0] != name]

    def _dir(self):
        for t, v in self.lines:
            if t == "a" and v in _DIRS:
                return v
        return None

    def set_direction(self, d):
        if d not in _DIRS:
            raise SdpError("bad direction " + str(d))
        self.lines = [x for x in self.lines if x[0] != "a" or x[1] not in _DIRS]
        self.add_attr(d)

    def _conn(self):
        v = self.get("c")
        if v is None:
            return None
        f = _fields(v)
        return f[1], f[2].partition("/")[0]  # RFC 4566 5.7: drop multicast /ttl/count


class Media(_Part):
    """One m= section: kind, port, proto, fmts (list of str), plus its lines."""

    def __init__(self, kind="audio", port=0, proto="RTP/AVP", fmts=(), nports=None):
        self.kind = kind
        self.port = port
        self.nports = nports
        self.proto = proto
        self.fmts = list(fmts)
        self.lines = []

    def rtpmaps(self):
        """pt -> (ENCODING upper-case, clock rate); static PTs included, bad lines skipped."""
        out = {}
        for pt in self.fmts:
            if pt in _STATIC:
                out[pt] = _STATIC[pt]
        for v in self.attrs("rtpmap"):
            pt, _, enc = v.partition(" ")
            f = enc.strip().split("/")
            rate = _num(f[1], 10**9) if len(f) > 1 else None
            if pt in self.fmts and rate:
                out[pt] = (f[0].upper(), rate)
        return out

    def fmtp(self, pt):
        for v in self.attrs("fmtp"):
            p, _, params = v.partition(" ")
            if p == pt:
                return params
        return None


class Description(_Part):
    """A session description: origin (6 str fields), name, session lines, media list."""

    _ORDER = "iuepcbtzk"

    def __init__(self, origin=None, name="-"):
        self.origin = origin or ["-", "0", "0", "IN", "IP4", "0.0.0.0"]
        self.name = name
        self.lines = []
        self.media = []

    @property
    def version(self):
        return int(self.origin[2])

    def connection(self, m):
        """(addrtype, address) for m; media-level c= wins (RFC 4566 5.7)."""
        c = m._conn() or self._conn()
        if c is None:
            raise SdpError("no c= for m=" + m.kind)
        return c

    def direction(self, m):
        # RFC 3264 5.1 / RFC 4566 6: media attribute, else session attribute, else sendrecv.
        return m._dir() or self._dir() or "sendrecv"

    def ptime(self, m):
        v = m.attr("ptime")
        if v is None:
            v = self.attr("ptime")
        return _num((v or "").partition(".")[0].strip(), 1000) or None

    def to_bytes(self):
        out = ["v=0", "o=" + " ".join(self.origin)]
        if self.name is not None:
            out.append("s=" + self.name)
        for t, v in self.lines:
            out.append(t + "=" + v)
        for m in self.media:
            port = str(m.port) if m.nports is None else "%d/%d" % (m.port, m.nports)
            out.append("m=" + " ".join([m.kind, port, m.proto] + m.fmts))
            for t, v in m.lines:
                out.append(t + "=" + v)
        out.append("")
        return "\r\n".join(out).encode()

    __bytes__ = to_bytes


def parse(data):
    if isinstance(data, (bytes, bytearray, memoryview)):
        try:
            data = bytes(data).decode()
        except UnicodeError:
            raise SdpError("SDP is not UTF-8") from None
    elif not isinstance(data, str):
        raise SdpError("SDP must be str or bytes")
    d = None
    cur = None
    for line in data.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue  # tolerate blank lines (RFC 4566 5 has none; peers add a trailing one)
        t = line[0]
        if len(line) < 2 or line[1] != "=" or not "a" <= t <= "z":
            raise SdpError("bad SDP line")
        v = line[2:]
        if d is None:
            if t != "v" or v.strip() != "0":
                raise SdpError("SDP must start with v=0")
            d = cur = Description(None, None)
            d.origin = None  # required below
        elif t == "o" and cur is d:
            f = _fields(v)
            if d.origin is not None or len(f) != 6 or _num(f[2], 10**20) is None:
                raise SdpError("bad o= line")
            d.origin = f
        elif t == "s" and cur is d and d.name is None:
            d.name = v
        elif t == "v":
            raise SdpError("second v= line")
        elif t == "m":
            f = _fields(v)
            if len(f) < 3:
                raise SdpError("bad m= line")
            p, _, n = f[1].partition("/")
            port = _num(p, 65535)
            nports = _num(n, 65535) if n else None
            if port is None or (n and not nports):
                raise SdpError("bad m= port")
            cur = Media(f[0], port, f[2], f[3:], nports)
            d.media.append(cur)
        else:
            if t == "c" and len(_fields(v)) < 3:
                raise SdpError("bad c= line")
            cur.lines.append([t, v])
    if d is None or d.origin is None:
        raise SdpError("SDP without v= or o=")
    return d


class Negotiated:
    """What media needs: remote address/port, payload type, codec, DTMF PT, ptime, direction."""

    def __init__(self, address, port, pt, codec, dtmf_pt, ptime, direction, held):
        self.address = address
        self.port = port
        self.pt = pt
        self.codec = codec
        self.dtmf_pt = dtmf_pt
        self.ptime = ptime
        self.direction = direction
        self.held = held

    def __repr__(self):
        return "<Negotiated %s %s:%d pt=%d dtmf=%s ptime=%d %s%s>" % (
            self.codec,
            self.address,
            self.port,
            self.pt,
            self.dtmf_pt,
            self.ptime,
            self.direction,
            " held" if self.held else "",
        )


def _flags(d):
    i = _DIRS.index(d)
    return i >> 1, i & 1  # (send, recv)


class AudioEndpoint:
    """Our side of one call's audio: settings, o= identity and version (RFC 3264 5, 8)."""

    def __init__(self, address, port, codecs=("PCMU", "PCMA"), dtmf_pt=101, ptime=20, sess_id=None):
        self.address = address
        self.port = port
        self.codecs = codecs
        self.dtmf_pt = dtmf_pt
        self.ptime = ptime
        if sess_id is None:
            from os import urandom

            sess_id = int.from_bytes(urandom(4), "big")
        self.sess_id = str(sess_id)
        self.version = 0
        self._offered = "sendrecv"

    def _description(self):
        # RFC 3264 8: same sess-id for the whole session, version +1 for each new SDP.
        self.version += 1
        at = "IP6" if ":" in self.address else "IP4"
        d = Description(["-", self.sess_id, str(self.version), "IN", at, self.address])
        d.add("c", "IN %s %s" % (at, self.address))
        return d

    def _audio(self, pts, dtmf_pt, direction):
        m = Media("audio", self.port, "RTP/AVP", [p for p, _ in pts])
        for pt, name in pts:
            m.add_attr("rtpmap", "%s %s/8000" % (pt, name))
        if dtmf_pt is not None:
            # RFC 4733 7.1: telephone-event, events 0-15 are the DTMF digits.
            m.fmts.append(str(dtmf_pt))
            m.add_attr("rtpmap", "%s telephone-event/8000" % dtmf_pt)
            m.add_attr("fmtp", "%s 0-15" % dtmf_pt)
        m.add_attr("ptime", self.ptime)
        m.add_attr(direction)
        return m

    def offer(self, direction="sendrecv"):
        _flags(direction)
        d = self._description()
        d.add("t", "0 0")
        pts = [(_PT[c], c) for c in self.codecs]
        d.media.append(self._audio(pts, self.dtmf_pt, direction))
        self._offered = direction
        return d

    def _choose(self, m):
        """(pt, codec, dtmf_pt) for an audio m= line: first supported format in its order."""
        if m.port == 0 or m.kind != "audio" or m.proto.upper() != "RTP/AVP":
            return None
        maps = m.rtpmaps()
        dtmf = None
        for pt in m.fmts:
            enc = maps.get(pt)
            if enc == ("TELEPHONE-EVENT", 8000) and dtmf is None:
                dtmf = pt
        for pt in m.fmts:
            enc = maps.get(pt)
            if enc and enc[1] == 8000 and enc[0] in self.codecs and _num(pt, 127) is not None:
                return pt, enc[0], dtmf if self.dtmf_pt is not None else None
        return None

    def _result(self, d, m, choice, want):
        """Negotiated for the remote's m= line, given the direction we want."""
        addr = d.connection(m)[1]
        rsend, rrecv = _flags(d.direction(m))
        if addr == "0.0.0.0":
            rrecv = 0  # RFC 3264 8.4: RFC 2543 hold, nothing may be sent there
        wsend, wrecv = _flags(want)
        # RFC 3264 6.1: we send only if the remote receives, receive only if it sends.
        direction = _DIRS[(wsend & rrecv) * 2 + (wrecv & rsend)]
        pt, codec, dtmf = choice
        dtmf = None if dtmf is None else int(dtmf)
        ptime = d.ptime(m) or self.ptime
        # held: the remote does not want our media (RFC 3264 8.4 hold).
        return Negotiated(addr, m.port, int(pt), codec, dtmf, ptime, direction, not rrecv)

    def answer(self, offer, direction="sendrecv"):
        """(answer Description, Negotiated) for an offer; SdpError 488 if no audio fits."""
        if not isinstance(offer, Description):
            offer = parse(offer)
        _flags(direction)
        d = self._description()
        for t, v in offer.lines:
            if t in "tr":  # RFC 3264 6: the answer's t= equals the offer's
                d.add(t, v)
        if d.get("t") is None:
            d.add("t", "0 0")
        neg = None
        for m in offer.media:
            choice = None if neg else self._choose(m)
            if choice is None:
                # RFC 3264 6: rejected streams stay in place with port 0.
                d.media.append(Media(m.kind, 0, m.proto, m.fmts or ["0"]))
                continue
            neg = self._result(offer, m, choice, direction)
            pt, codec, dtmf = choice
            d.media.append(self._audio([(pt, codec)], dtmf, neg.direction))
        if neg is None:
            raise SdpError("no common audio codec", 488)
        return d, neg

    def accept(self, answer):
        """Negotiated from the answer to our last offer; SdpError 488 if audio was refused."""
        if not isinstance(answer, Description):
            answer = parse(answer)
        for m in answer.media:
            choice = self._choose(m)
            if choice is None:
                continue
            return self._result(answer, m, choice, self._offered)
        raise SdpError("answer accepts no audio we offered", 488)
