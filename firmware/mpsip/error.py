# The one exception of the SIP parsing layer, and the status phrases of RFC 3261 21.


def phrase(status):
    """The reason phrase RFC 3261 21 gives a status code, or "Unknown"."""
    # One string, not a dict: a dict of 37 phrases costs ~2.6 KB of heap.
    s = (
        "\n100 Trying\n180 Ringing\n181 Call Is Being Forwarded\n182 Queued\n183 Session Progress\n200 OK"
        "\n202 Accepted\n400 Bad Request\n401 Unauthorized\n403 Forbidden\n404 Not Found"
        "\n405 Method Not Allowed\n406 Not Acceptable\n407 Proxy Authentication Required\n408 Request Timeout"
        "\n415 Unsupported Media Type\n416 Unsupported URI Scheme\n420 Bad Extension\n423 Interval Too Brief"
        "\n480 Temporarily Unavailable\n481 Call/Transaction Does Not Exist\n482 Loop Detected"
        "\n483 Too Many Hops\n486 Busy Here\n487 Request Terminated\n488 Not Acceptable Here"
        "\n491 Request Pending\n500 Server Internal Error\n501 Not Implemented\n503 Service Unavailable"
        "\n504 Server Time-out\n505 Version Not Supported\n513 Message Too Large\n600 Busy Everywhere"
        "\n603 Decline\n604 Does Not Exist Anywhere\n606 Not Acceptable\n"
    )
    i = s.find("\n%d " % status) + 5
    return s[i : s.find("\n", i)] if i > 4 else "Unknown"


class SipParseError(Exception):
    """Bad SIP input. `status` is what a UA answers a request with (RFC 3261 21.4):
    400 in general, 505 for another SIP version, 416 for a URI scheme, 420, 415, 483, 501;
    `reason` says what was wrong (by default the status phrase). `msg` is the partly parsed
    message when enough of it was read to answer. str(e) is "status reason"."""

    def __init__(self, status, reason=None, msg=None):
        if reason is None:
            reason = phrase(status)
        # The text is made here: a __str__ method would cost heap for every import.
        super().__init__("%d %s" % (status, reason))
        self.status = status
        self.reason = reason
        self.msg = msg
