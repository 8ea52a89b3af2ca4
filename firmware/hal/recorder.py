# The virtual board's speaker recorded to a WAV file (board.json's "host": {"speaker": ...}).
# A module of its own, loaded only by a board that records: one that does not keeps its
# code and mpsip.wav's (~3 KB) free for a call.


class Recorder:
    """16-bit mono WAV of every frame written; the header is brought up to date every
    25 frames (half a second) and at close(), so a board that is killed leaves a file
    that plays up to the last half second."""

    def __init__(self, path, rate=8000):
        from mpsip.wav import header

        self.header = header
        self.rate = rate
        self.f = open(path, "wb")
        self.size = 0
        self.n = 0
        self._header()

    def _header(self):
        self.f.seek(0)
        self.f.write(self.header(self.rate, self.size))
        self.f.seek(44 + self.size)

    def write(self, buf):
        self.f.write(buf)
        self.size += len(buf)
        self.n += 1
        if self.n % 25 == 0:
            self._header()

    def close(self):
        if self.f is not None:
            self._header()
            self.f.close()
            self.f = None
