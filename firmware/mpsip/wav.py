# WAV files as an audio source and sink (audio.py's interface): host only (the virtual
# board, the tools, tests), never imported on a board.
from struct import pack, unpack_from


class WavSource:
    """16-bit PCM mono WAV at 8 or 16 kHz; plays once (then returns 0) or loops."""

    fmt = "s16"

    def __init__(self, path, loop=False):
        f = self.f = open(path, "rb")
        self.loop = loop
        self.rate = 0
        pos = 12
        ch = f.read(12)
        ok = len(ch) == 12 and ch[0:4] == b"RIFF" and ch[8:12] == b"WAVE"
        while ok:  # walk the chunks up to 'data'
            ch = f.read(8)
            if len(ch) < 8:
                ok = False
                break
            size = unpack_from("<I", ch, 4)[0]
            pos += 8
            if ch[0:4] == b"data":
                break
            body = f.read(size + (size & 1))  # RIFF chunks are word aligned
            pos += size + (size & 1)
            if ch[0:4] == b"fmt " and len(body) >= 16:
                tag, channels, self.rate = unpack_from("<HHI", body)
                if tag != 1 or channels != 1 or unpack_from("<H", body, 14)[0] != 16:
                    self.rate = -1  # refused below: need 16-bit PCM mono
        if not ok or self.rate not in (8000, 16000):
            f.close()
            raise ValueError("need a 16-bit PCM mono WAV at 8000 or 16000 Hz")
        self.start = self.pos = pos
        self.end = pos + size
        self.done = False

    def readinto(self, buf):
        if self.done:
            return 0
        n = len(buf)
        got = 0
        while got < n:
            left = self.end - self.pos
            if left <= 0:
                if not self.loop:
                    for i in range(got, n):
                        buf[i] = 0  # pad the last frame with silence
                    self.done = True
                    return n if got else 0
                self.f.seek(self.start)
                self.pos = self.start
                continue
            if got == 0 and left >= n:
                k = self.f.readinto(buf)  # the common case: a whole frame, no slicing
            else:
                k = self.f.readinto(memoryview(buf)[got : got + min(n - got, left)])
            if not k:
                self.end = self.pos  # truncated file
                continue
            got += k
            self.pos += k
        return n

    def close(self):
        self.f.close()


class WavSink:
    """Writes 16-bit PCM mono; the RIFF and data sizes are patched on close()."""

    def __init__(self, path, rate=8000):
        self.rate = rate
        self.f = open(path, "wb")
        self.size = 0
        self.f.write(header(rate, 0))

    def write(self, buf):
        self.f.write(buf)
        self.size += len(buf)

    def close(self):
        if self.f is None:
            return
        self.f.seek(0)
        self.f.write(header(self.rate, self.size))
        self.f.close()
        self.f = None


def header(rate, size):
    """The 44-byte header of a 16-bit mono PCM WAV holding size bytes of samples."""
    return pack("<4sI8sIHHIIHH4sI", b"RIFF", 36 + size, b"WAVEfmt ", 16, 1, 1, rate, 2 * rate, 2, 16, b"data", size)
