# The one exception of the SIP parsing layer.


class SipParseError(Exception):
    """Bad SIP input. `status` is what a UA answers a request with (RFC 3261 21.4):
    400 in general, 505 for another SIP version, 416 for a URI scheme, 420, 415, 483, 501.
    `msg` is the partly parsed message when enough of it was read to answer."""

    def __init__(self, status, reason, msg=None):
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.msg = msg

    def __str__(self):
        return "%d %s" % (self.status, self.reason)
