# SIP messages (RFC 3261 7, 20, 25): parse a datagram, build requests and responses.
#
# Header values are kept as the strings that arrived (folding undone, RFC 3261 7.3.1), so
# re-serializing is a join; the Request-URI and the structured views (Via, addresses, CSeq)
# are parsed on first use and cached. parse() checks what a user agent needs to answer: the
# start line, framing and header lines; validate() the Request-URI and the structured
# headers. Malformed input raises SipParseError.
#
# Speed: MicroPython looks every new str up among the interned strings (qstrs) before making
# it, a scan that grows with the code loaded (0.3 us a str on the bench, 1.5 us with 2,000
# more qstrs). So parse() cuts header lines with bytes.find and makes one str per line, the
# value: the name is looked up in _KEYS by its bytes. to_bytes() joins bytes, which are not
# interned. The tables hold the names nearly every peer sends (a table of every name would
# cost heap on import, when a user agent only ever meets a few dozen).
#
# Heap: this module stays resident on a 96 KB board, and every def, class, name and constant
# costs heap once imported. So tables are strings (a tuple of strings costs ~64 B an item)
# and the eleven views are one __getattr__.
from mpsip.error import SipParseError, phrase
from mpsip.headers import parse_address, parse_via, split_list
from mpsip.uri import _TOKEN, _bad, parse_u32, parse_uri

# A key (the lower-case long name) -> b"\r\nName: " as to_bytes() writes it; those bytes -> the
# key, for parse(), which looks a header line's start up as it arrived (most peers spell these
# names as we do); a name as a program gave it (str) -> its key, when it is not the key
# already (three tables: MicroPython warns when a dict compares bytes with an equal str).
# The names nearly every peer sends are there from the import, made while the heap is whole,
# the keys the code's own interned strings. Learnt as they first came, in the middle of a
# registration or a call, each name's objects (and a str for its key) were made between the
# call's and stayed there, cutting the heap into pieces: a test UA's largest free block was
# 14-19 KB with the tables learnt as names came, 46 KB with them full from the start
# (micropython.mem_info, 2026-11-24). Up to 24 a table: one more spelling is learnt; past
# that, other names and spellings are worked out again each time they come.
_SPELL = {
    "via": b"\r\nVia: ",
    "from": b"\r\nFrom: ",
    "to": b"\r\nTo: ",
    "call-id": b"\r\nCall-ID: ",
    "cseq": b"\r\nCSeq: ",
    "contact": b"\r\nContact: ",
    "max-forwards": b"\r\nMax-Forwards: ",
    "content-type": b"\r\nContent-Type: ",
    "record-route": b"\r\nRecord-Route: ",
    "route": b"\r\nRoute: ",
    "allow": b"\r\nAllow: ",
    "supported": b"\r\nSupported: ",
    "user-agent": b"\r\nUser-Agent: ",
    "server": b"\r\nServer: ",
    "expires": b"\r\nExpires: ",
    "www-authenticate": b"\r\nWWW-Authenticate: ",
    "proxy-authenticate": b"\r\nProxy-Authenticate: ",
    "authorization": b"\r\nAuthorization: ",
    "proxy-authorization": b"\r\nProxy-Authorization: ",
    "allow-events": b"\r\nAllow-Events: ",
    "date": b"\r\nDate: ",
    "accept": b"\r\nAccept: ",
    "session-expires": b"\r\nSession-Expires: ",
}
_KEYS = {b"\r\nContent-Length: ": "content-length"}
_KEYS.update((v, k) for k, v in _SPELL.items())
_NAMES = {}

# The methods RFC 3261 and its extensions define; the three that form dialogs come first.
_METHODS = " INVITE SUBSCRIBE REFER ACK BYE CANCEL OPTIONS REGISTER INFO NOTIFY MESSAGE PRACK UPDATE PUBLISH "


def __getattr__(name):
    # METHODS is made when asked for: as a module constant its 14 strings cost ~1 KB of heap.
    if name == "METHODS":
        return tuple(_METHODS.split())
    raise AttributeError(name)


def canonical(name):
    """Any-case or compact header name -> the lower-case long name used as the key."""
    k = _NAMES.get(name)  # learnt: lower() would make a str only to find it known
    if k is not None:
        return k
    if len(name) > 1 and name.islower():
        return name  # already the key: nothing to learn
    k = name.lower()
    if len(k) == 1:
        # RFC 3261 7.3.3 and the IANA registry: compact forms.
        s = (
            " i call-id m contact f from t to v via l content-length c content-type k supported s subject"
            " e content-encoding o event u allow-events r refer-to b referred-by x session-expires y identity"
            " a accept-contact j reject-contact d request-disposition n identity-info "
        )
        i = s.find(" %s " % k) + 3
        if i > 2:
            k = s[i : s.find(" ", i)]
    if len(_NAMES) < 24 and len(k) < 32:
        _NAMES[name] = k
    return k


# validate() precedes the classes on purpose: the view names it reads are then interned when
# Message.__getattr__ compares against them, which makes those literals qstrs, not objects.
def validate(msg):
    """Check everything a UA relies on (RFC 3261 8.1.1, 8.2): Via, From, To, Call-ID and
    CSeq present once and well-formed, Contact and Max-Forwards well-formed, the
    Request-URI, the CSeq method matching the request's. Raises SipParseError (carrying
    msg) with the status to answer: 400, or 501 for an unknown method (RFC 4475 3.1.2.18),
    505 for a Via version."""
    try:
        # The request line first, as parse() did before it kept the Request-URI as text and
        # left the method's token check here (RFC 3261 25.1, RFC 4475 3.1.2.7).
        if isinstance(msg, Request) and (msg.method.strip(_TOKEN) or msg.uri is None):
            _bad("request line", msg.method)
        for k in ["via", "from", "to", "call-id", "cseq", "max-forwards"]:
            n = 0
            for h in msg.headers:
                if h[0] == k:
                    n += 1
            # RFC 4475 3.3.8: one line each, Via one or more, Max-Forwards at most one.
            if n > 1 and k != "via" or n == 0 and k != "max-forwards":
                _bad(k, "")
            if k == "cseq":
                # Every Via is checked (after the five counts, before Max-Forwards's, the order
                # the errors always had); only the top one is kept: a long Via list stays strings.
                for v in msg.get_all("via"):
                    parse_via(v)
        # Each view is parsed (and cached): a malformed one raises.
        for _ in (msg.from_addr, msg.to_addr, msg.contacts, msg.max_forwards, msg.cseq):
            pass
        if isinstance(msg, Request) and msg.cseq_method != msg.method:
            # RFC 4475 3.1.2.17/18: 400, or 501 when the request method is one we do not know.
            raise SipParseError(400 if (" %s " % msg.method) in _METHODS else 501)
    except SipParseError as e:
        e.msg = msg
        raise


class Message:
    """Headers are an ordered list of (key, value): key the canonical lower-case name.
    Views, parsed on first use: vias, top_via, from_addr, to_addr, contacts, record_routes,
    routes (Via/Address objects), call_id, cseq (int), cseq_method, max_forwards."""

    _u = None  # a Request's URI while it is text
    _c = None  # the views' cache, made on first use and dropped by set/add/remove
    body = b""  # (set on the instance only when there is one: an attribute costs heap)

    def __init__(self, start, arg=None, headers=None, body=b""):
        # Request(method, uri, headers=None, body=b"") and Response(status, reason=None,
        # headers=None, body=b""): one __init__ for both, as a method costs heap.
        if isinstance(self, Response):
            self.status = start
            self.reason = phrase(start) if arg is None else arg
        else:
            self.method = start
            # A Request-URI given as text (or parsed from a datagram) stays text until .uri
            # is read (__getattr__ then parses it): a request built or relayed is written
            # with the text as it came, and no Uri is made.
            if arg.__class__ is _str:
                self._u = arg
            else:
                self.uri = arg
        hs = []
        if headers:
            # The names as a program gives them -> keys (canonical() learns them: a program
            # uses few). str(v) would copy a str; a module global is found faster than the builtin.
            n = _NAMES
            for k, v in headers:
                hs.append((n[k] if k in n else canonical(k), v if v.__class__ is _str else _str(v)))
        self.headers = hs
        if body:
            self.body = body

    def get(self, name, default=None):
        name = canonical(name)
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def get_all(self, name):
        """Every value of a header over all its lines; list headers split at commas."""
        name = canonical(name)
        # RFC 3261 7.3.1: the headers whose value is a comma-separated list.
        split = (" %s " % name) in (
            " via contact route record-route path service-route allow supported require proxy-require"
            " unsupported accept accept-encoding accept-language allow-events content-encoding in-reply-to"
            " call-info alert-info error-info warning "
        )
        out = []
        for k, v in self.headers:
            if k == name:
                if split:
                    out.extend(split_list(v, ","))
                else:
                    out.append(v)
        return out

    def set(self, name, value=None):
        """Replace every line of the header by one, in the first one's place; no value
        (remove(name)) drops them all."""
        name = canonical(name)
        hs = []
        for h in self.headers:
            if h[0] != name:
                hs.append(h)
            elif value is not None:
                hs.append((name, str(value)))
                value = None
        if value is not None:
            hs.append((name, str(value)))
        self.headers = hs
        self._c = None

    remove = set

    def add(self, name, value, first=False):
        name = canonical(name)
        hs = self.headers
        i = len(hs)
        if first:
            # RFC 3261 16.6/8.1.1.7: a new Via (or Route) goes on top of its kind.
            for j in range(i):
                if hs[j][0] == name:
                    i = j
                    break
        hs.insert(i, (name, str(value)))
        self._c = None

    def __getattr__(self, name):
        # The views (RFC 3261 20): one function rather than eleven properties (~1.2 KB of heap).
        if name == "call_id":
            return self.get("call-id")
        if name == "uri" and self._u is not None:
            u = self.uri = parse_uri(self._u)  # raises SipParseError: validate() reads it first
            return u
        c = self._c
        if c is None:
            c = self._c = {}
        elif name in c:
            return c[name]
        if name == "top_via":
            v = self.get("via")
            if v is not None:
                v = parse_via(split_list(v, ",")[0] if "," in v else v)
        elif name == "from_addr" or name == "to_addr":
            v = self.get("from" if name == "from_addr" else "to")
            if v is not None:
                v = parse_address(v)
        elif (" %s " % name) in " vias contacts routes record_routes ":
            v = []
            for x in self.get_all(name[:-1].replace("_", "-")):  # record_routes -> record-route
                v.append(parse_via(x) if name == "vias" else parse_address(x))
        elif name == "cseq" or name == "cseq_method":
            v = self.get("cseq")
            x = [None, None]
            if v is not None:
                # RFC 3261 20.16: CSeq = 1*DIGIT LWS Method; the number fits 32 bits (8.1.1.5).
                x = v.split()
                if len(x) != 2 or x[1].strip(_TOKEN):
                    _bad("cseq", v)
                x[0] = parse_u32(x[0], "cseq", 0xFFFFFFFF)
            c["cseq"], c["cseq_method"] = x
            return c[name]
        elif name == "max_forwards":
            v = self.get("max-forwards")
            if v is not None:
                v = parse_u32(v, "max-forwards", 255)  # RFC 3261 20.22: 0-255
        else:
            raise AttributeError(name)
        c[name] = v
        return v

    def to_bytes(self):
        # RFC 3261 7.5 / 18: one line per header as 'Name: value'; Content-Length always
        # written and always true. Empty values are left out: small stacks choke on 'Name:'.
        # Bytes are joined: str.encode() shares the string's buffer and bytes are not interned.
        # The start line from formats short enough to be qstrs (a longer constant costs heap).
        if isinstance(self, Response):
            out = [("%s %d %s" % ("SIP/2.0", self.status, self.reason)).encode()]
        else:
            # The Request-URI as a Uri once read or set (it may have changed), else the text.
            u = self.__dict__
            u = u["uri"].to_str() if "uri" in u else self._u
            # (" ".encode(): two short-lived bytes per build, not two constants on the heap.)
            out = [self.method.encode(), " ".encode(), u.encode(), " SIP/2.0".encode()]
        append = out.append
        spell = _SPELL
        for k, v in self.headers:
            if v and k != "content-length":
                try:
                    append(spell[k])
                except KeyError:
                    # Each '-' part capitalized, or as the RFCs spell it (RFC 3261 20, RFC 3262
                    # 7); names are case-insensitive (RFC 3261 7.3.1). Learnt.
                    s = " Call-ID CSeq WWW-Authenticate MIME-Version RAck RSeq "
                    i = s.lower().find(" %s " % k) + 1
                    if i:
                        s = s[i : i + len(k)]
                    else:
                        s = ""
                        for w in k.split("-"):
                            s += "-" + w[:1].upper() + w[1:]
                        s = s[1:]
                    s = ("\r\n%s: " % s).encode()
                    if len(spell) < 24 and len(k) < 32:
                        spell[k] = s
                    append(s)
                append(v.encode())
        append(b"\r\nContent-Length: %d\r\n\r\n" % len(self.body))
        append(self.body)
        return b"".join(out)

    __bytes__ = to_bytes  # bytes(msg) for CPython callers; MicroPython's bytes() ignores it


_str = str


class Request(Message):
    def response(self, status, reason=None, to_tag=None):
        """A response built as RFC 3261 8.2.6.2 says: Via, From, To, Call-ID, CSeq copied
        (Record-Route too for dialog-forming 1xx/2xx, 12.1.1), a To tag added once past 100."""
        # Record-Route for the methods that form dialogs (RFC 3261 12.1.1, RFC 6665 4.1.3,
        # RFC 3515 2.4.1: INVITE, SUBSCRIBE, REFER); Timestamp in a 100 (RFC 3261 8.2.6.1).
        rr = 100 < status < 300 and 0 <= _METHODS.find(" %s " % self.method) < 22
        r = Response(status, reason)
        for k, v in self.headers:
            if k == "to" and to_tag and status > 100 and self.to_addr.tag is None:
                v += ";tag=" + to_tag
            if (
                k == "via"
                or k == "from"
                or k == "to"
                or k == "call-id"
                or k == "cseq"
                or (rr and k == "record-route")
                or (status == 100 and k == "timestamp")
            ):
                r.headers.append((k, v))
        return r


class Response(Message):
    pass


def parse(data, strict=False):
    """Parse one SIP message from a datagram -> Request or Response; raises SipParseError.

    The default is what the receive loop needs on every datagram: the start line, the
    framing and the header lines; the Request-URI and structured headers are parsed when
    first used, and validate() checks all of them. strict=True does both (RFC 4475's
    "invalid" set)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    n = len(data)
    pos = 0
    # RFC 3261 7.5: ignore CRLFs before the start line (keep-alives, RFC 5626 3.5.1).
    sep = b"\r\n"
    while pos < n and data[pos] in sep:
        pos += 1
    # CRLF is the rule (RFC 3261 7); bare LF is tolerated as robust parsers do; without an
    # empty line there is no body.
    end = data.find(b"\r\n\r\n", pos)
    body = end + 4
    if end < 0:
        # (Rare: b"\r" and b"\n" are made here, as a bytes constant costs heap on import.)
        lf = sep[1:]
        end = data.find(lf + lf, pos)
        body = end + 2
        if end < 0:
            end = body = n
        if end < n or data.find(sep, pos) < 0:
            if data.count(sep, pos, end) != data.count(sep[:1], pos, end):
                _bad("message", "")  # CR only before LF (a lone CR: see below)
            sep = lf
    if pos == n:
        _bad("message", "")
    # A lone CR or LF inside a line would survive into a value and break re-serialization.
    # So lines end at a CR that must be followed by LF (bare LF: at the LF), and no line
    # holds an LF (one test of each str made: a count would scan the whole block again).
    cr = sep[0]  # bytes.find() takes the byte's value, 13 or 10
    step = len(sep)
    mv = memoryview(data)
    err = None
    try:
        eol = data.find(cr, pos, end)
        if eol < 0:
            eol = end
        elif data[eol + step - 1] != 10:
            _bad("message", "")
        line = str(mv[pos:eol], "utf-8")
        if "\n" in line:
            _bad("message", "")
        # A status line starts with "SIP/" in any case (| 32 lower-cases an ASCII letter).
        if data[pos] | 32 == 115 and data[pos + 1] | 32 == 105 and data[pos + 2] | 32 == 112 and data[pos + 3] == 47:
            j, _, i = line.partition(" ")  # version, status, reason
            i, _, parts = i.partition(" ")
            if len(i) != 3 or i.strip("0123456789") or not 99 < int(i) < 700:
                _bad("message", i)
            msg = Response(int(i), parts.strip())
            if j != "SIP/2.0" and j.upper() != "SIP/2.0":
                raise SipParseError(505)
        else:
            # RFC 4475 3.1.2.9/3.1.2.10: extra SP between or after the elements is tolerated;
            # LWS inside the Request-URI is not (3.1.2.8), nor <> around it (3.1.2.7): the
            # URI is validate()'s to parse, with the method's token check.
            parts = line.split()
            if len(parts) != 3:
                _bad("message", "")
            msg = Request(parts[0], parts[1])
            i = parts[2]
            if i != "SIP/2.0" and i.upper() != "SIP/2.0":
                err = SipParseError(505 if i[:4].upper() == "SIP/" else 400)
        parts = line = None
        hs = msg.headers
        clen = None
        pos = eol + step
        keys = _KEYS
        append = hs.append
        while pos < end:
            eol = data.find(cr, pos, end)
            if eol < 0:
                eol = end
            elif data[eol + step - 1] != 10:
                _bad("message", "")
            # 'Name: value' as nearly everyone writes it: a learnt name (never holding a colon)
            # before the first ': ' is the whole name.
            i = data.find(b": ", pos, eol)
            k = keys.get(data[pos - step : i + 2]) if i > pos else None
            if k is None:
                if data[pos] == 32 or data[pos] == 9:
                    # RFC 3261 7.3.1: a continuation line folds into the previous value.
                    if not hs:
                        _bad("headers", "")
                    k, v = hs[-1]
                    line = str(mv[pos:eol], "utf-8")
                    if "\n" in line:
                        _bad("message", "")
                    hs[-1] = (k, (v + " " + line.strip(" \t\r")).strip(" \t\r"))
                    pos = eol + step
                    continue
                i = data.find(58, pos, eol)  # 58: the colon
                if i <= pos:
                    _bad("headers", "")
                # A new name: RFC 3261 7.3.1 lets LWS precede the colon. Learnt.
                k = str(mv[pos:i], "utf-8").rstrip(" \t\r")  # (no CR here: one qstr less)
                if k.strip(_TOKEN):
                    _bad("headers", k)
                k = canonical(k) if len(k) == 1 else k.lower()  # canonical() would learn it too
                if len(keys) < 24 and i - pos < 32 and i + 1 < eol and data[i + 1] == 32:
                    # (Only a name followed by ': ' is ever looked up.)
                    v = data[pos - step : i + 2]
                    s = _SPELL.get(k)
                    keys[s if s == v else v] = k
                i -= 1  # the value starts after the colon, LWS stripped below (RFC 3261 7.3.1)
            v = str(mv[i + 2 : eol], "utf-8").strip(" \t\r")
            if "\n" in v:
                _bad("message", "")
            append((k, v))
            pos = eol + step
            if k == "content-length":
                # Framing, RFC 3261 18.3: read here, it decides where the body ends.
                if not v or len(v) > 10 or v.strip("0123456789") or clen is not None and int(v) != clen:
                    raise SipParseError(400, None, msg)  # RFC 4475 3.3.9: conflicting lengths
                clen = int(v)
    except (UnicodeError, IndexError):  # IndexError: a CR that ends the datagram
        _bad("message", "")
    # A UDP body ends at Content-Length and octets after it are ignored; without
    # Content-Length it runs to the end of the datagram (RFC 3261 18.3).
    if clen is None:
        clen = n - body
    elif clen > n - body:  # RFC 4475 3.1.2.2
        raise SipParseError(400, None, msg)
    if clen:
        msg.body = data[body : body + clen]
    if err is not None:  # a wrong version (RFC 3261 21.5.6), unless the method is not a token
        err.msg = msg
        raise SipParseError(400, None, msg) if msg.method.strip(_TOKEN) else err
    if strict:
        validate(msg)
    return msg
