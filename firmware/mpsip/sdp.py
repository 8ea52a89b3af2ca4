"""SDP (RFC 4566) and the offer/answer model (RFC 3264) for one G.711 audio stream.

    d = sdp.parse(body)                 # str or bytes -> Description; SdpError on bad input
    d.origin, d.name, d.lines, d.media  # lines: [type, value] pairs in wire order
    m = d.media[0]; m.kind, m.port, m.nports, m.proto, m.fmts, m.lines, m.rtpmaps()
    d.add("b", "AS:64")                 # where RFC 4566 5 puts it
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

The module stays in the board's heap for every call, so it holds what offer/answer needs
and no more: every function costs ~100 bytes beyond its code and every distinct name a
qstr, hence no accessors that only tests would use (they read .lines themselves) and a
stream's c=, direction and ptime resolved in one pass in AudioEndpoint._negotiate.
"""


class SdpError(Exception):
    """Bad SDP. .status: 400 malformed, 488 nothing acceptable (answer 488 Not Acceptable Here).
    The messages are short (at most 10 characters: interned, not a string object each)."""

    status = 400


_DIRS = ("inactive", "recvonly", "sendonly", "sendrecv")  # index = send * 2 + recv
# RFC 3551 6: the static payload types we can use (8000 Hz).
_PT = {"PCMU": "0", "PCMA": "8"}


def _num(s, n):
    """int(s) when s is digits only (int() would also take a sign, spaces, underscores)
    and at most n, else None."""
    if not s or len(s) > 20 or s.strip("0123456789"):
        return None
    x = int(s)
    return x if x <= n else None


def _fields(v):
    # RFC 4566 5: fields are separated by one space; tolerate runs of them. Only " ",
    # not str.split(): CPython would also split on Unicode spaces, MicroPython not.
    f = []
    for x in v.split(" "):
        if x:
            f.append(x)
    return f


class _Part:
    """Lines of one section in wire order, as [type, value] pairs (v=, o=, s=, m= held apart)."""

    _ORDER = "icbk"

    def _key(self, t):
        # RFC 4566 5: fixed line order; r= stays with its t=, unknown types go before a=.
        if t == "a":
            return 99
        k = self._ORDER.find("t" if t == "r" else t)
        return k if k >= 0 else 98

    def add(self, t, v):
        """Insert a t= line after the last line that RFC 4566 5 puts before or beside it."""
        k = self._key(t)
        i = len(self.lines)
        while i and self._key(self.lines[i - 1][0]) > k:
            i -= 1
        self.lines.insert(i, [t, v])


class Media(_Part):
    """One m= section: kind, port, proto, fmts (list of str), nports (None unless m=x p/n),
    plus its lines."""

    def __init__(self, kind, port, proto, fmts, nports=None):
        self.kind = kind
        self.port = port
        self.nports = nports
        self.proto = proto
        self.fmts = list(fmts)
        self.lines = []

    def rtpmaps(self):
        """pt -> (ENCODING upper-case, clock rate); static PTs included, bad lines skipped."""
        out = {}
        for name, pt in _PT.items():
            if pt in self.fmts:
                out[pt] = (name, 8000)
        for t, v in self.lines:
            if t == "a" and v[:7] == "rtpmap:":
                pt, _, enc = v[7:].partition(" ")
                f = enc.strip().split("/")
                rate = _num(f[1], 10**9) if len(f) > 1 else None
                if pt in self.fmts and rate:
                    out[pt] = (f[0].upper(), rate)
        return out


class Description(_Part):
    """A session description: origin (6 str fields), name (None: no s= line), session
    lines, media list."""

    _ORDER = "iuepcbtzk"

    def __init__(self, origin, name="-"):
        self.origin = origin
        self.name = name
        self.lines = []
        self.media = []

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
            raise SdpError("not UTF-8") from None
    elif not isinstance(data, str):
        raise SdpError("not text")
    d = None
    cur = None
    for line in data.split("\n"):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue  # tolerate blank lines (RFC 4566 5 has none; peers add a trailing one)
        # (Not line[0]: indexing a str interns the character it gives on MicroPython, any
        # character a peer sends; partition() gives the type as a qstr when it is one.)
        t, _, v = line.partition("=")
        if line.find("=") != 1 or not "a" <= t <= "z":
            raise SdpError("bad %s=" % line[:1])
        if d is None:
            if t != "v" or v.strip() != "0":
                raise SdpError("bad %s=" % t)
            d = cur = Description(None, None)  # o= required below
        elif t == "o" and cur is d:
            f = _fields(v)
            if d.origin is not None or len(f) != 6 or _num(f[2], 10**20) is None:
                raise SdpError("bad %s=" % t)
            d.origin = f
        elif t == "s" and cur is d and d.name is None:
            d.name = v
        elif t == "v":
            raise SdpError("bad %s=" % t)
        elif t == "m":
            f = _fields(v)
            if len(f) < 3:
                raise SdpError("bad %s=" % t)
            p, _, n = f[1].partition("/")
            port = _num(p, 65535)
            nports = _num(n, 65535) if n else None
            if port is None or (n and not nports):
                raise SdpError("bad %s=" % t)
            cur = Media(f[0], port, f[2], f[3:], nports)
            d.media.append(cur)
        else:
            if t == "c" and len(_fields(v)) < 3:
                raise SdpError("bad %s=" % t)
            cur.lines.append([t, v])
    if d is None or d.origin is None:
        raise SdpError("no v=, o=")
    return d


class Negotiated:
    """What media needs (set by AudioEndpoint): .address, .port (remote), .pt, .codec,
    .dtmf_pt (None: no telephone-event), .ptime (ms we send), .direction (ours), .held."""


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

    def _description(self, lines):
        # RFC 3264 8: same sess-id for the whole session, version +1 for each new SDP.
        self.version += 1
        c = "IN %s %s" % ("IP6" if ":" in self.address else "IP4", self.address)
        d = Description(["-", self.sess_id, str(self.version)] + c.split(" "))  # o= ends as c=
        d.lines = [["c", c]] + lines
        return d

    def _audio(self, d, codecs, pt, dtmf_pt, direction):
        """Append our m=audio: codecs (with pt, else their static PTs), telephone-event."""
        m = Media("audio", self.port, "RTP/AVP", ())
        for name in codecs:
            p = pt or _PT[name]
            m.fmts.append(p)
            m.lines.append(["a", "rtpmap:%s %s/8000" % (p, name)])
        if dtmf_pt is not None:
            # RFC 4733 7.1: telephone-event, events 0-15 are the DTMF digits.
            m.fmts.append(str(dtmf_pt))
            m.lines.append(["a", "rtpmap:%s telephone-event/8000" % dtmf_pt])
            m.lines.append(["a", "fmtp:%s 0-15" % dtmf_pt])
        m.lines.append(["a", "ptime:%s" % self.ptime])
        m.lines.append(["a", direction])
        d.media.append(m)

    def offer(self, direction="sendrecv"):
        _DIRS.index(direction)  # ValueError for a direction that is none
        d = self._description([["t", "0 0"]])
        self._audio(d, self.codecs, None, self.dtmf_pt, direction)
        self._offered = direction
        return d

    def _negotiate(self, d, direction):
        """(m, pt, codec, dtmf pt, Negotiated) for the first usable audio stream of d, given
        the direction we want; SdpError 488 when there is none."""
        for m in d.media:
            if m.port == 0 or m.kind != "audio" or m.proto.upper() != "RTP/AVP":
                continue
            maps = m.rtpmaps()
            pt = dtmf = None
            for f in m.fmts:
                enc = maps.get(f)
                if enc == ("TELEPHONE-EVENT", 8000):
                    dtmf = dtmf or f
                elif pt is None and enc and enc[1] == 8000 and enc[0] in self.codecs and _num(f, 127) is not None:
                    pt, codec = f, enc[0]  # the first format we support, in the stream's order
            if pt is None:
                continue
            if self.dtmf_pt is None:
                dtmf = None
            # RFC 4566 5.7 / RFC 3264 5.1: the stream's own c=, direction and ptime win over
            # the session's (the first of each at its level); no direction at all is sendrecv.
            conn = r = ptime = None
            for part in (m, d):
                for t, v in part.lines:
                    if t == "c" and conn is None:
                        conn = v
                    if t == "a" and v in _DIRS and r is None:
                        r = _DIRS.index(v)
                    if t == "a" and v.partition(":")[0] == "ptime" and ptime is None:
                        ptime = v[6:]
            if conn is None:
                raise SdpError("no c=")
            addr = _fields(conn)[2].partition("/")[0]  # RFC 4566 5.7: drop multicast /ttl/count
            if r is None:
                r = 3
            if addr == "0.0.0.0":
                r &= 2  # RFC 3264 8.4: RFC 2543 hold, nothing may be sent there
            neg = Negotiated()
            neg.address = addr
            neg.port = m.port
            neg.pt = int(pt)
            neg.codec = codec
            neg.dtmf_pt = None if dtmf is None else int(dtmf)
            # RFC 4566 6: whole milliseconds; absent or bad -> our own
            neg.ptime = _num((ptime or "").partition(".")[0].strip(), 1000) or self.ptime
            # RFC 3264 6.1: we send only if the remote receives, receive only if it sends.
            w = _DIRS.index(direction)  # index = send * 2 + recv
            neg.direction = _DIRS[(w & (r << 1) & 2) | (w & (r >> 1) & 1)]
            neg.held = not r & 1  # the remote does not want our media (RFC 3264 8.4 hold)
            return m, pt, codec, dtmf, neg
        e = SdpError("no audio")
        e.status = 488
        raise e

    def answer(self, offer, direction="sendrecv"):
        """(answer Description, Negotiated) for an offer; SdpError 488 if no audio fits."""
        if not isinstance(offer, Description):
            offer = parse(offer)
        _DIRS.index(direction)  # ValueError for a direction that is none
        timing = []
        default = [["t", "0 0"]]
        for t, v in offer.lines:
            if t in "tr":  # RFC 3264 6: the answer's t= equals the offer's
                timing.append([t, v])
                if t == "t":
                    default = []
        d = self._description(timing + default)
        chosen, pt, codec, dtmf, neg = self._negotiate(offer, direction)
        for m in offer.media:
            if m is chosen:
                self._audio(d, (codec,), pt, dtmf, neg.direction)
            else:
                # RFC 3264 6: rejected streams stay in place with port 0.
                d.media.append(Media(m.kind, 0, m.proto, m.fmts or ["0"]))
        return d, neg

    def accept(self, answer):
        """Negotiated from the answer to our last offer; SdpError 488 if audio was refused."""
        if not isinstance(answer, Description):
            answer = parse(answer)
        return self._negotiate(answer, self._offered)[4]
