# sipua's media (tools/sipua.py --media, --mic, --record, --dtmf, --rtp-local): one MediaSession
# for the process, started for the connected call and following its re-negotiations. A module
# of its own so that a UA without media never holds this code (sipua imports it only when one
# of those options is given): the UA peer tests measure the UA's heap, not this.
import socket

from mpsip import audio, g711
from mpsip.media import MediaSession

_SENDING = ("sendrecv", "sendonly")  # our direction after the offer/answer (RFC 3264 6.1)


class Media:
    def __init__(self, driver, o, host, clock, out, codecs):
        """driver: the sipua Driver (its ua, and num() for the event lines); clock and out:
        sipua's (sipua runs as __main__: importing it from here would load a second copy);
        codecs: those the UA offers (made before it, while the heap is whole)."""
        self.d = driver
        self.clock = clock
        self.out = out
        self.o = o
        self.host = host
        self.call = None  # the call whose media runs
        self.sink = None  # that call's recording (or the NullSink)
        self.rtp = None  # the call's RTP socket
        self.remote = None  # its peer's (address, port) from SDP
        self.dtmf_at = None  # ticks_ms when --dtmf goes out
        # The session (every buffer of a call's media) and the G.711 tables (~0.9 KB per
        # law) are made now, while the heap is in one piece, and kept: a call's start then
        # allocates next to nothing.
        for c in codecs:
            law = g711.PCMA if c == "PCMA" else g711.PCMU
            g711.enc_table(law)
            g711.dec_table(law)
        law = g711.PCMA if codecs[0] == "PCMA" else g711.PCMU  # the session's
        m = o.get("mic", "")
        if m.startswith("tone:"):
            src = audio.ToneSource(int(m[5:]))
        elif m:
            from mpsip.wav import WavSource

            src = WavSource(m, True)
        else:
            src = audio.SilenceSource()
        self.ms = MediaSession(None, None, src, audio.NullSink(), clock, law, on_dtmf=self.dtmf_in)

    def follow(self, c, neg):
        """Start the call's media, or follow its re-negotiation (RFC 3264 8): the same
        stream on hold and resume, a new one (same recording) on a new address or codec."""
        ms = self.ms
        if self.call is not None:
            if self.call is c and ms.pt == neg.pt and self.remote == (neg.address, neg.port):
                ms.mute_mic = neg.direction not in _SENDING
                return
            self.stop(self.call is not c)
        o = self.o
        if self.sink is None:
            path = o.get("record")
            if path and c.n > 1:
                path = "%s-%d.wav" % (path[:-4] if path.endswith(".wav") else path, c.n)
            if path:
                from mpsip.wav import WavSink

                self.sink = WavSink(path)
            else:
                self.sink = ms.sink  # the NullSink it was made with
        ms.sink = self.sink
        s = self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # getaddrinfo: (host, port) as this runtime's bind and sendto take it (MicroPython unix: raw)
        s.bind(socket.getaddrinfo(self.host, int(o.get("rtp-local", o.get("rtp-port", "40000"))))[0][-1])
        ms.start(
            s,
            socket.getaddrinfo(neg.address, neg.port)[0][-1],
            neg.pt,
            neg.ptime if neg.ptime in (10, 20, 30, 40) else 20,
            neg.dtmf_pt or 101,
        )
        self.remote = (neg.address, neg.port)
        self.call = c
        ms.mute_mic = neg.direction not in _SENDING
        if "dtmf" in o:
            self.dtmf_at = self.clock.ticks_add(self.clock.ticks_ms(), 500)

    def dtmf_in(self, digit, ms):
        """RFC 4733 events from the media loop (one per key press, mpsip.dtmf)."""
        self.out("dtmf", self.d.num(self.call), "digit=%s via=rtp ms=%d" % (digit, ms))

    def poll(self):
        """The frames due (a backlog after a stall: the Pacer bounds it); ms to the next."""
        w = self.ms.poll()
        while w == 0:
            w = self.ms.poll()
        return (w + 999) // 1000

    def timers(self, now):
        if self.dtmf_at is not None and self.clock.ticks_diff(now, self.dtmf_at) >= 0:
            self.dtmf_at = None
            self.ms.send_dtmf(self.o["dtmf"])

    def stop(self, close=True):
        """End the call's media; its figures on an `rtp` line. close: its recording too
        (not when a re-negotiation hands it to the next stream)."""
        ms = self.ms
        if self.call is not None:
            st = ms.stats
            jb = ms.jb
            lost = (st.cycles << 16) + st.max_seq - st.base_seq + 1 - st.received if ms.peer_hi >= 0 else 0
            self.out(
                "rtp",
                self.d.num(self.call),
                "frames=%d rx=%d lost=%d late=%d dups=%d concealed=%d"
                % (ms.frames, ms.rx_packets, lost, jb.late, jb.dups, jb.concealed),
                "bad=%d other=%d split=%d errors=%d" % (ms.rx_bad, ms.rx_other, ms.rx_split, ms.port.errors),
            )
            ms.stop()
        if close and self.sink is not None:
            if hasattr(self.sink, "close"):
                self.sink.close()
            self.sink = None
        if self.rtp is not None:
            self.rtp.close()
        self.call = self.rtp = self.remote = self.dtmf_at = None
