# Helpers shared by tests on both runtimes: test data lives in host_tests/data,
# copied byte-exact from the project's external corpora.
try:
    from os import getenv
except ImportError:  # a MicroPython build without os.getenv
    getenv = lambda name: None  # noqa: E731

# The MicroPython runner imports this module from build/ and says where the data is.
DATA = getenv("MPSIP_DATA") or (__file__.rpartition("/")[0] or ".") + "/data/"


def read_data(name):
    # One allocation of the exact size: read() growing its buffer fragments a small heap.
    import os

    buf = bytearray(os.stat(DATA + name)[6])
    with open(DATA + name, "rb") as f:
        f.readinto(buf)
    return bytes(buf)


def open_data(name):
    """A text stream over a data file: for parsers that read as they go (json.load), so a
    large file never needs one contiguous block of a small heap."""
    return open(DATA + name)


def read_tsv(name):
    """Rows of a tab-separated index, header row skipped, as lists of str."""
    rows = []
    for line in read_data(name).decode().split("\n")[1:]:
        if line.strip():
            rows.append(line.rstrip("\r").split("\t"))
    return rows


def raises(exc_type, fn, *args):
    """Return the exception fn(*args) raises; fail if it raises nothing or another type."""
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)


def emptied(*tables):
    """Empty module-level dicts for a test (message's learnt tables); returns the function
    that puts them back as they were, for the tests after it in the same process."""
    saved = [dict(t) for t in tables]
    for t in tables:
        t.clear()

    def restore():
        for i in range(len(tables)):
            tables[i].clear()
            tables[i].update(saved[i])

    return restore
