# SIP messages (RFC 3261 7, 20, 25): parse a datagram, build requests and responses.
#
# Header values are kept as the strings that arrived (folding undone, RFC 3261 7.3.1), so
# re-serializing is a join; structured views (Via, addresses, CSeq) are parsed once and
# cached. parse() validates what a user agent needs to answer: the start line, framing,
# Via, From, To, Contact, CSeq, Max-Forwards. Everything malformed raises SipParseError.
from mpsip.error import SipParseError
from mpsip.headers import is_token, parse_address, parse_cseq, parse_u32, parse_via, split_list
from mpsip.uri import Uri, parse_uri

__all__ = ("SipParseError", "Request", "Response", "parse", "canonical")

# RFC 3261 7.3.3 and the IANA registry: compact forms.
_COMPACT = {
    "i": "call-id",
    "m": "contact",
    "f": "from",
    "t": "to",
    "v": "via",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "u": "allow-events",
    "r": "refer-to",
    "b": "referred-by",
    "x": "session-expires",
    "y": "identity",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "n": "identity-info",
}

# Spellings that plain capitalisation of each word would get wrong.
_SPELLING = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
}

# Headers whose value is a comma-separated list (RFC 3261 7.3.1); others keep their commas.
_LISTS = (
    "via",
    "contact",
    "route",
    "record-route",
    "path",
    "service-route",
    "allow",
    "supported",
    "require",
    "proxy-require",
    "unsupported",
    "accept",
    "accept-encoding",
    "accept-language",
    "allow-events",
    "content-encoding",
    "in-reply-to",
    "call-info",
    "alert-info",
    "error-info",
    "warning",
)

METHODS = (
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "NOTIFY", "MESSAGE",
    "SUBSCRIBE", "REFER", "PRACK", "UPDATE", "PUBLISH",
)  # fmt: skip

# Reason phrases (RFC 3261 21) as one string: a dict of them costs ~2.6 KB of heap.
_REASONS = (
    "\n"
    "100 Trying\n"
    "180 Ringing\n"
    "181 Call Is Being Forwarded\n"
    "182 Queued\n"
    "183 Session Progress\n"
    "200 OK\n"
    "202 Accepted\n"
    "400 Bad Request\n"
    "401 Unauthorized\n"
    "403 Forbidden\n"
    "404 Not Found\n"
    "405 Method Not Allowed\n"
    "406 Not Acceptable\n"
    "407 Proxy Authentication Required\n"
    "408 Request Timeout\n"
    "415 Unsupported Media Type\n"
    "416 Unsupported URI Scheme\n"
    "420 Bad Extension\n"
    "423 Interval Too Brief\n"
    "480 Temporarily Unavailable\n"
    "481 Call/Transaction Does Not Exist\n"
    "482 Loop Detected\n"
    "483 Too Many Hops\n"
    "486 Busy Here\n"
    "487 Request Terminated\n"
    "488 Not Acceptable Here\n"
    "491 Request Pending\n"
    "500 Server Internal Error\n"
    "501 Not Implemented\n"
    "503 Service Unavailable\n"
    "504 Server Time-out\n"
    "505 Version Not Supported\n"
    "513 Message Too Large\n"
    "600 Busy Everywhere\n"
    "603 Decline\n"
    "604 Does Not Exist Anywhere\n"
    "606 Not Acceptable\n"
)


def _reason(status):
    i = _REASONS.find("\n%d " % status)
    if i < 0:
        return "Unknown"
    i += 5
    return _REASONS[i : _REASONS.find("\n", i)]


def canonical(name):
    """Any-case or compact header name -> the lower-case long name used as the key."""
    n = name.lower()
    return _COMPACT.get(n, n)


def spell(key):
    s = _SPELLING.get(key)
    if s is None:
        s = "-".join([w[:1].upper() + w[1:] for w in key.split("-")])
    return s


class Message:
    """Headers are an ordered list of (key, value): key the canonical lower-case name."""

    def __init__(self, headers=None, body=b""):
        self.headers = [(canonical(n), str(v)) for n, v in headers] if headers else []
        self.body = body
        self._cache = {}

    # --- raw header access -------------------------------------------------------------
    def get(self, name, default=None):
        key = canonical(name)
        for k, v in self.headers:
            if k == key:
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
        key = canonical(name)
        out = []
        for k, v in self.headers:
            if k == key:
                if key in _LISTS:
                    out.extend(split_list(v))
                else:
                    out.append(v)
        return out

    def count(self, name):
        key = canonical(name)
        n = 0
        for k, _ in self.headers:
            if k == key:
                n += 1
        return n

    def set(self, name, value):
        """Replace every line of the header by one (in the first one's place)."""
        key = canonical(name)
        self._forget(key)
        value = str(value)
        hs = self.headers
        for i in range(len(hs)):
            if hs[i][0] == key:
                hs[i] = (key, value)
                self.headers = [h for j, h in enumerate(hs) if j <= i or h[0] != key]
                return
        hs.append((key, value))

    def add(self, name, value, first=False):
        key = canonical(name)
        self._forget(key)
        if first:
            # RFC 3261 16.6/8.1.1.7: a new Via (or Route) goes on top.
            self.headers.insert(self._first_index(key), (key, str(value)))
        else:
            self.headers.append((key, str(value)))

    def _first_index(self, key):
        for i, (k, _) in enumerate(self.headers):
            if k == key:
                return i
        return len(self.headers)

    def remove(self, name):
        key = canonical(name)
        self._forget(key)
        self.headers = [h for h in self.headers if h[0] != key]

    def _forget(self, key):
        self._cache.pop(key, None)
        if key == "via":
            self._cache.pop("via0", None)

    # --- structured views (parsed once, cached) -------------------------------------------
    def _cached(self, key, fn):
        c = self._cache
        if key in c:
            return c[key]
        v = c[key] = fn(self, key)
        return v

    @property
    def vias(self):
        return self._cached("via", _vias)

    @property
    def top_via(self):
        return self._cached("via0", _top_via)

    @property
    def from_addr(self):
        return self._cached("from", _address)

    @property
    def to_addr(self):
        return self._cached("to", _address)

    @property
    def contacts(self):
        return self._cached("contact", _addresses)

    @property
    def record_routes(self):
        return self._cached("record-route", _addresses)

    @property
    def routes(self):
        return self._cached("route", _addresses)

    @property
    def call_id(self):
        return self.get("call-id")

    @property
    def cseq(self):
        c = self._cached("cseq", _cseq)
        return c[0] if c else None

    @property
    def cseq_method(self):
        c = self._cached("cseq", _cseq)
        return c[1] if c else None

    @property
    def max_forwards(self):
        return self._cached("max-forwards", _max_forwards)

    # --- serialization ------------------------------------------------------------------
    def to_bytes(self):
        # RFC 3261 7.5 / 18: one line per header as 'Name: value'; Content-Length always
        # written and always true. Empty values are left out: small stacks choke on 'Name:'.
        # MicroPython's str.encode() shares the string's buffer: the head costs one join.
        lines = [self.start_line()]
        for k, v in self.headers:
            if v and k != "content-length":
                lines.append(spell(k) + ": " + v)
        lines.append("Content-Length: %d" % len(self.body))
        lines.append("")
        lines.append("")
        head = "\r\n".join(lines).encode()
        lines = None
        return b"".join((head, self.body)) if self.body else head

    __bytes__ = to_bytes

    def __str__(self):
        return self.to_bytes().decode()


def _vias(msg, key):
    return [parse_via(v) for v in msg.get_all(key)]


def _top_via(msg, key):
    v = msg.get("via")
    return None if v is None else parse_via(split_list(v)[0])


def _address(msg, key):
    v = msg.get(key)
    return None if v is None else parse_address(v)


def _addresses(msg, key):
    return [parse_address(v) for v in msg.get_all(key)]


def _cseq(msg, key):
    v = msg.get(key)
    return None if v is None else parse_cseq(v)


def _max_forwards(msg, key):
    v = msg.get(key)
    if v is None:
        return None
    n = parse_u32(v, "Max-Forwards")
    if n > 255:  # RFC 3261 20.22: 0-255
        raise SipParseError(400, "bad Max-Forwards: " + v)
    return n


class Request(Message):
    def __init__(self, method, uri, headers=None, body=b""):
        Message.__init__(self, headers, body)
        self.method = method
        self.uri = uri if isinstance(uri, Uri) or uri is None else parse_uri(uri)

    def start_line(self):
        return "%s %s SIP/2.0" % (self.method, self.uri.to_str())

    def response(self, status, reason=None, to_tag=None):
        """A response built as RFC 3261 8.2.6.2 says: Via, From, To, Call-ID, CSeq copied
        (Record-Route too for dialog-forming 1xx/2xx, 12.1.1), a To tag added once past 100."""
        rr = 100 < status < 300 and self.method in ("INVITE", "SUBSCRIBE", "REFER")
        hs = []
        for k, v in self.headers:
            if k == "to" and to_tag and status > 100 and self.to_addr.tag is None:
                v = v + ";tag=" + to_tag
            if k in _COPIED or (rr and k == "record-route") or (status == 100 and k == "timestamp"):
                hs.append((k, v))
        r = Response(status, reason)
        r.headers = hs
        return r

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.uri)


_COPIED = ("via", "from", "to", "call-id", "cseq")


class Response(Message):
    def __init__(self, status, reason=None, headers=None, body=b""):
        Message.__init__(self, headers, body)
        self.status = status
        self.reason = _reason(status) if reason is None else reason

    def start_line(self):
        return "SIP/2.0 %d %s" % (self.status, self.reason)

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.reason)


def _split_head(data):
    """Split a datagram into (header lines, body bytes). CRLF is the rule (RFC 3261 7);
    bare LF is tolerated as robust parsers do; a missing empty line means no body."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4 :], "\r\n"
    end = data.find(b"\n\n")
    if end >= 0:
        return data[:end], data[end + 2 :], "\n"
    return data, b"", "\r\n" if b"\r\n" in data else "\n"


# Header names as they are usually spelled on the wire -> key, so the hot loop can skip
# lower() for them; anything else goes through canonical().
_KEYS = {
    "Via": "via",
    "From": "from",
    "To": "to",
    "Call-ID": "call-id",
    "CSeq": "cseq",
    "Contact": "contact",
    "Max-Forwards": "max-forwards",
    "Content-Length": "content-length",
    "Content-Type": "content-type",
    "Record-Route": "record-route",
    "Route": "route",
    "Allow": "allow",
    "Supported": "supported",
    "User-Agent": "user-agent",
    "Expires": "expires",
}


def parse(data, strict=False):
    """Parse one SIP message from a datagram -> Request or Response; raises SipParseError.

    The default is what the receive loop needs on every datagram: the start line, the
    framing and the header lines; structured headers are parsed when first used, and
    validate() checks all of them. strict=True does both (RFC 4475's "invalid" set)."""
    if not isinstance(data, bytes):
        data = bytes(data)
    # RFC 3261 7.5: ignore CRLFs before the start line (keep-alives, RFC 5626 3.5.1).
    start = 0
    n = len(data)
    while start < n and (data[start] == 13 or data[start] == 10):
        start += 1
    if start == n:
        raise SipParseError(400, "empty message")
    head, body, sep = _split_head(data[start:] if start else data)
    try:
        text = head.decode()
    except UnicodeError:
        raise SipParseError(400, "header section is not UTF-8") from None
    # A lone CR or LF inside a line would survive into a value and break re-serialization.
    crlf = text.count("\r\n")
    if text.count("\r") != crlf or (sep == "\r\n" and text.count("\n") != crlf):
        raise SipParseError(400, "bare CR or LF in the header section")
    tlen = len(text)
    eol = text.find(sep)
    if eol < 0:
        eol = tlen
    first = text[:eol]
    err = None
    if first[:4].upper() == "SIP/":
        parts = first.split(" ", 2)
        if len(parts) < 2:
            raise SipParseError(400, "bad status line")
        code = parts[1]
        if len(code) != 3 or not code.isdigit() or code[0] not in "123456":
            raise SipParseError(400, "bad status code: " + code[:20])
        msg = Response(int(code), parts[2].strip() if len(parts) > 2 else "")
        if parts[0].upper() != "SIP/2.0":
            raise SipParseError(505, "SIP version not supported")
    else:
        # RFC 4475 3.1.2.9/3.1.2.10: extra SP between or after the elements is tolerated;
        # LWS inside the Request-URI is not (3.1.2.8).
        parts = first.split()
        if len(parts) != 3:
            raise SipParseError(400, "bad request line")
        method, ruri, version = parts
        if not is_token(method):
            raise SipParseError(400, "bad method")
        msg = Request(method, None)
        if version.upper() != "SIP/2.0":
            err = SipParseError(505 if version[:4].upper() == "SIP/" else 400, "SIP version not supported")
        elif ruri[0] == "<":  # RFC 4475 3.1.2.7
            err = SipParseError(400, "Request-URI in <>")
        else:
            try:
                msg.uri = parse_uri(ruri)
            except SipParseError as e:
                err = e
    hs = msg.headers
    keys = _KEYS
    clen = None
    # Walk the header lines by position: no list of lines, one string per value.
    # A trailing CR is whitespace too, for bare-LF messages.
    ws = " \t\r"
    step = len(sep)
    pos = eol + step
    while pos < tlen:
        eol = text.find(sep, pos)
        if eol < 0:
            eol = tlen
        c = text[pos]
        if c == " " or c == "\t":
            # RFC 3261 7.3.1: a continuation line folds into the previous value.
            if not hs:
                raise SipParseError(400, "continuation before any header")
            k, v = hs[-1]
            hs[-1] = (k, (v + " " + text[pos:eol].strip()).strip())
            pos = eol + step
            continue
        colon = text.find(":", pos, eol)
        if colon <= pos:
            raise SipParseError(400, "header line without name or colon")
        name = text[pos:colon]
        key = keys.get(name)
        if key is None:
            name = name.rstrip()
            if not is_token(name):
                raise SipParseError(400, "bad header name")
            key = canonical(name)
        vs = colon + 1
        while vs < eol and text[vs] in ws:
            vs += 1
        ve = eol
        while ve > vs and text[ve - 1] in ws:
            ve -= 1
        hs.append((key, text[vs:ve]))
        pos = eol + step
        if key == "content-length":
            # Framing, RFC 3261 18.3: read it here, it decides where the body ends.
            v = hs[-1][1]
            if not v.isdigit() or len(v) > 10:
                raise SipParseError(400, "bad Content-Length", msg)
            v = int(v)
            if clen is not None and v != clen:  # RFC 4475 3.3.9
                raise SipParseError(400, "conflicting Content-Length", msg)
            clen = v
    # A UDP body ends at Content-Length and octets after it are ignored; without
    # Content-Length it runs to the end of the datagram (RFC 3261 18.3).
    if clen is not None:
        if clen > len(body):  # RFC 4475 3.1.2.2
            raise SipParseError(400, "Content-Length larger than the message", msg)
        if clen < len(body):
            body = body[:clen]
    msg.body = body
    if err is not None:
        err.msg = msg
        raise err
    if strict:
        validate(msg)
    return msg


_VALIDATED = (("from", _address), ("to", _address), ("contact", _addresses), ("max-forwards", _max_forwards))


def validate(msg):
    """Check everything a UA relies on (RFC 3261 8.1.1, 8.2): Via, From, To, Call-ID and
    CSeq present once and well-formed, Contact and Max-Forwards well-formed, the CSeq
    method matching the request's. Raises SipParseError (carrying msg) with the status to
    answer: 400, or 501 for an unknown method (RFC 4475 3.1.2.18), 505 for a Via version."""
    try:
        for key in ("via", "from", "to", "call-id", "cseq"):
            n = msg.count(key)
            if n == 0:
                raise SipParseError(400, "missing " + spell(key))
            if n > 1 and key != "via":  # RFC 4475 3.3.8
                raise SipParseError(400, "more than one " + spell(key))
        # Every Via is checked, only the top one is kept: a long Via list stays strings.
        for v in msg.get_all("via"):
            parse_via(v)
        if msg.count("max-forwards") > 1:
            raise SipParseError(400, "more than one Max-Forwards")
        for key, fn in _VALIDATED:
            msg._cached(key, fn)
        method = msg.cseq_method
        if isinstance(msg, Request) and method != msg.method:
            # RFC 4475 3.1.2.17/18: 400, or 501 when the request method is one we do not know.
            raise SipParseError(400 if msg.method in METHODS else 501, "CSeq method does not match")
    except SipParseError as e:
        e.msg = msg
        raise
