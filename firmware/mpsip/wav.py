# WAV files as an audio source and sink (audio.py's interface): host only (the virtual
# board, the tools, tests), never imported on a board.
import struct


def _u16(b, o):
    return b[o] | (b[o + 1] << 8)


def _u32(b, o):
    return _u16(b, o) | (_u16(b, o + 2) << 16)


class WavSource:
    """16-bit PCM mono WAV at 8 or 16 kHz; plays once (then returns 0) or loops."""

    fmt = "s16"

    def __init__(self, path, loop=False):
        self.f = open(path, "rb")
        self.loop = loop
        hdr = self.f.read(12)
        if len(hdr) < 12 or hdr[0:4] != b"RIFF" or hdr[8:12] != b"WAVE":
            self.f.close()
            raise ValueError("not a RIFF/WAVE file")
        self.rate = 0
        pos = 12
        while True:  # walk the chunks up to 'data'
            ch = self.f.read(8)
            if len(ch) < 8:
                self.f.close()
                raise ValueError("no data chunk")
            size = _u32(ch, 4)
            pos += 8
            if ch[0:4] == b"fmt ":
                fmt = self.f.read(size)
                if _u16(fmt, 0) != 1 or _u16(fmt, 2) != 1 or _u16(fmt, 14) != 16:
                    self.f.close()
                    raise ValueError("need 16-bit PCM mono")
                self.rate = _u32(fmt, 4)
            elif ch[0:4] == b"data":
                break
            else:
                self.f.read(size)
            pos += size + (size & 1)
            if size & 1:
                self.f.read(1)  # RIFF chunks are word aligned
        if self.rate not in (8000, 16000):
            self.f.close()
            raise ValueError("need 8000 or 16000 Hz")
        self.start = pos
        self.end = pos + size
        self.pos = pos
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
    return (
        b"RIFF"
        + struct.pack("<I", 36 + size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", size)
    )
