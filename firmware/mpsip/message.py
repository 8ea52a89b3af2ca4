# SIP messages (RFC 3261 7, 20, 25): parse a datagram, build requests and responses.
#
# Header values are kept as the strings that arrived (folding undone, RFC 3261 7.3.1), so
# re-serializing is a join; structured views (Via, addresses, CSeq) are parsed on first use
# and cached. parse() checks what a user agent needs to answer: the start line, framing and
# header lines; validate() the structured headers. Malformed input raises SipParseError.
#
# Heap: this module stays resident on a 96 KB board, and every def, class, name and constant
# costs heap once imported. So tables are strings (a tuple of strings costs ~64 B an item),
# the eleven views are one __getattr__, and parse() indexes the datagram's bytes (indexing a
# str walks its UTF-8 from the start) and decodes only the values.
from mpsip.error import SipParseError, phrase
from mpsip.headers import parse_address, parse_cseq, parse_via, split_list
from mpsip.uri import _TOKEN, Uri, _bad, parse_u32, parse_uri

# The most common headers and how they are written. Their names become interned strings
# (qstrs) once imported, so parse() also takes them from a datagram without allocating.
# to_bytes() spells other names itself (RFC 3261 7.3.1: names are case-insensitive) and
# adds them here, up to a cap: the heap pays only for the names a program writes.
_SPELL = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "contact": "Contact",
    "route": "Route",
    "allow": "Allow",
    "supported": "Supported",
    "require": "Require",
    "user-agent": "User-Agent",
    "expires": "Expires",
}


# The methods RFC 3261 and its extensions define; the three that form dialogs come first.
_METHODS = " INVITE SUBSCRIBE REFER ACK BYE CANCEL OPTIONS REGISTER INFO NOTIFY MESSAGE PRACK UPDATE PUBLISH "


def __getattr__(name):
    # METHODS is made when asked for: as a module constant its 14 strings cost ~1 KB of heap.
    if name == "METHODS":
        return tuple(_METHODS.split())
    raise AttributeError(name)


def canonical(name):
    """Any-case or compact header name -> the lower-case long name used as the key."""
    name = name.lower()
    if len(name) == 1:
        # RFC 3261 7.3.3 and the IANA registry: compact forms.
        s = (
            " i call-id m contact f from t to v via l content-length c content-type k supported s subject"
            " e content-encoding o event u allow-events r refer-to b referred-by x session-expires y identity"
            " a accept-contact j reject-contact d request-disposition n identity-info "
        )
        i = s.find(" %s " % name) + 3
        if i > 2:
            name = s[i : s.find(" ", i)]
    return name


# validate() precedes the classes on purpose: the view names it reads are then interned when
# Message.__getattr__ compares against them, which makes those literals qstrs, not objects.
def validate(msg):
    """Check everything a UA relies on (RFC 3261 8.1.1, 8.2): Via, From, To, Call-ID and
    CSeq present once and well-formed, Contact and Max-Forwards well-formed, the CSeq
    method matching the request's. Raises SipParseError (carrying msg) with the status to
    answer: 400, or 501 for an unknown method (RFC 4475 3.1.2.18), 505 for a Via version."""
    try:
        for k in ["via", "from", "to", "call-id", "cseq"]:
            n = msg.count(k)
            if n == 0 or n > 1 and k != "via":  # RFC 4475 3.3.8
                _bad(k, "")
        # Every Via is checked, only the top one is kept: a long Via list stays strings.
        for k in msg.get_all("via"):
            parse_via(k)
        if msg.count("max-forwards") > 1:
            _bad("max-forwards", "")
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

    _c = None  # the views' cache, made on first use and dropped by set/add/remove

    def get(self, name, default=None):
        name = canonical(name)
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def __getitem__(self, name):
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name):
        return self.get(name) is not None

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
                    out.extend(split_list(v))
                else:
                    out.append(v)
        return out

    def count(self, name):
        name = canonical(name)
        n = 0
        for k, _ in self.headers:
            if k == name:
                n += 1
        return n

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
        c = self._c
        if c is None:
            c = self._c = {}
        elif name in c:
            return c[name]
        if name == "top_via":
            v = self.get("via")
            if v is not None:
                v = parse_via(split_list(v)[0] if "," in v else v)
        elif name == "from_addr" or name == "to_addr":
            v = self.get(name[:-5])
            if v is not None:
                v = parse_address(v)
        elif (" %s " % name) in " vias contacts routes record_routes ":
            v = []
            for x in self.get_all(name[:-1].replace("_", "-")):  # record_routes -> record-route
                v.append(parse_via(x) if name == "vias" else parse_address(x))
        elif name == "cseq" or name == "cseq_method":
            v = self.get("cseq")
            c["cseq"], c["cseq_method"] = [None, None] if v is None else parse_cseq(v)
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
        # MicroPython's str.encode() shares the string's buffer: the head costs one join.
        out = [self.start_line()]
        for k, v in self.headers:
            if v and k != "content-length":
                s = _SPELL.get(k)
                if s is None:
                    # RFC 3261 20 and RFC 3262 7 spell these unlike the rule.
                    s = " www-authenticate WWW-Authenticate mime-version MIME-Version rack RAck rseq RSeq "
                    i = s.find(" %s " % k) + len(k) + 2
                    if i > len(k) + 1:
                        s = s[i : s.find(" ", i)]
                    else:
                        s = ""
                        for w in k.split("-"):
                            s += "-" + w[:1].upper() + w[1:]
                        s = s[1:]
                    # Kept for the next message; capped, as a peer's header names reach here too.
                    if len(_SPELL) < 32:
                        _SPELL[k] = s
                out.append("\r\n")
                out.append(s)
                out.append(": ")
                out.append(v)
        out.append("\r\nContent-Length: %d\r\n\r\n" % len(self.body))
        out = "".join(out).encode()
        return out + self.body if self.body else out

    __bytes__ = to_bytes

    def start_line(self):
        if isinstance(self, Response):
            return "%s %d %s" % ("SIP/2.0", self.status, self.reason)
        return "%s %s %s" % (self.method, self.uri.to_str(), "SIP/2.0")

    def __str__(self):
        return self.to_bytes().decode()


class Request(Message):
    def __init__(self, method, uri, headers=None, body=b""):
        hs = self.headers = []
        for k, v in headers or ():
            hs.append((canonical(k), str(v)))
        self.body = body
        self.method = method
        self.uri = uri if isinstance(uri, Uri) or uri is None else parse_uri(uri)

    def response(self, status, reason=None, to_tag=None):
        """A response built as RFC 3261 8.2.6.2 says: Via, From, To, Call-ID, CSeq copied
        (Record-Route too for dialog-forming 1xx/2xx, 12.1.1), a To tag added once past 100."""
        # Record-Route for the methods that form dialogs (RFC 3261 12.1.1, RFC 6665 4.1.3,
        # RFC 3515 2.4.1: INVITE, SUBSCRIBE, REFER); Timestamp in a 100 (RFC 3261 8.2.6.1).
        rr = 100 < status < 300 and 0 <= _METHODS.find(" %s " % self.method) < 22
        r = Response(status, reason)
        for k, v in self.headers:
            if k == "to" and to_tag and status > 100 and self.to_addr.tag is None:
                v += ";%s=%s" % ("tag", to_tag)
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
    def __init__(self, status, reason=None, headers=None, body=b""):
        hs = self.headers = []
        for k, v in headers or ():
            hs.append((canonical(k), str(v)))
        self.body = body
        self.status = status
        self.reason = phrase(status) if reason is None else reason


def parse(data, strict=False):
    """Parse one SIP message from a datagram -> Request or Response; raises SipParseError.

    The default is what the receive loop needs on every datagram: the start line, the
    framing and the header lines; structured headers are parsed when first used, and
    validate() checks all of them. strict=True does both (RFC 4475's "invalid" set)."""
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
        end = data.find(b"\n\n", pos)
        body = end + 2
        if end < 0:
            end = body = n
        if end < n or data.find(sep, pos) < 0:
            sep = b"\n"
    # A lone CR or LF inside a line would survive into a value and break re-serialization.
    i = data.count(b"\r\n", pos, end)
    if pos == n or data.count(b"\r", pos, end) != i or sep == b"\r\n" and data.count(b"\n", pos, end) != i:
        _bad("message", "")
    mv = memoryview(data)
    eol = data.find(sep, pos, end)
    if eol < 0:
        eol = end
    err = None
    try:
        line = str(mv[pos:eol], "utf-8")
        # A status line starts with "SIP/" (in any case: only an 's' costs a slice).
        if line[0].lower() == "s" and line[:4].upper() == "SIP/":
            parts = line.split(" ", 2)
            i = parts[1] if len(parts) > 1 else ""
            if len(i) != 3 or i.strip("0123456789") or not 99 < int(i) < 700:
                _bad("message", line)
            msg = Response(int(i), parts[2].strip() if len(parts) > 2 else "")
            if parts[0].upper() != "SIP/2.0":
                raise SipParseError(505)
        else:
            # RFC 4475 3.1.2.9/3.1.2.10: extra SP between or after the elements is tolerated;
            # LWS inside the Request-URI is not (3.1.2.8), nor <> around it (3.1.2.7).
            parts = line.split()
            if len(parts) != 3 or parts[0].strip(_TOKEN):
                _bad("message", line)
            msg = Request(parts[0], None)
            i = parts[2].upper()
            if i != "SIP/2.0":
                err = SipParseError(505 if i[:4] == "SIP/" else 400)
            else:
                try:
                    msg.uri = parse_uri(parts[1])
                except SipParseError as e:
                    err = e
        parts = None
        hs = msg.headers
        clen = None
        step = len(sep)
        pos = eol + step
        while pos < end:
            eol = data.find(sep, pos, end)
            if eol < 0:
                eol = end
            line = data[pos] == 32 or data[pos] == 9
            i = data.find(b":", pos, eol)
            if line or i <= pos:
                # RFC 3261 7.3.1: a continuation line folds into the previous value.
                if not line or not hs:
                    _bad("headers", str(mv[pos:eol], "utf-8"))
                k, v = hs[-1]
                hs[-1] = (k, (v + " " + str(mv[pos:eol], "utf-8").strip(" \t\r")).strip(" \t\r"))
                pos = eol + step
                continue
            k = str(mv[pos:i], "utf-8").rstrip(" \t")
            if k.strip(_TOKEN):
                _bad("headers", k)
            k = k.lower()
            if len(k) == 1:
                k = canonical(k)
            i += 1
            while i < eol and (data[i] == 32 or data[i] == 9):
                i += 1
            v = str(mv[i:eol], "utf-8").rstrip(" \t\r")
            hs.append((k, v))
            pos = eol + step
            if k == "content-length":
                # Framing, RFC 3261 18.3: read here, it decides where the body ends.
                if not v or len(v) > 10 or v.strip("0123456789") or clen is not None and int(v) != clen:
                    raise SipParseError(400, None, msg)  # RFC 4475 3.3.9: conflicting lengths
                clen = int(v)
    except UnicodeError:
        _bad("headers", "utf-8")
    # A UDP body ends at Content-Length and octets after it are ignored; without
    # Content-Length it runs to the end of the datagram (RFC 3261 18.3).
    if clen is None:
        clen = n - body
    elif clen > n - body:  # RFC 4475 3.1.2.2
        raise SipParseError(400, None, msg)
    msg.body = data[body : body + clen]
    if err is not None:
        err.msg = msg
        raise err
    if strict:
        validate(msg)
    return msg
