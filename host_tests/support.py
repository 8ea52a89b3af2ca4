# Helpers shared by tests on both runtimes: test data lives in host_tests/data,
# copied byte-exact from the project's external corpora.
DATA = (__file__.rpartition("/")[0] or ".") + "/data/"


def read_data(name):
    with open(DATA + name, "rb") as f:
        return f.read()


def read_tsv(name):
    """Rows of a tab-separated index, header row skipped, as lists of str."""
    rows = []
    with open(DATA + name) as f:
        first = True
        for line in f:
            line = line.rstrip("\r\n")
            if first or not line:
                first = False
                continue
            rows.append(line.split("\t"))
    return rows


def raises(exc_type, fn, *args):
    """Return the exception fn(*args) raises; fail if it raises nothing or another type."""
    try:
        fn(*args)
    except exc_type as e:
        return e
    raise AssertionError("%s not raised" % exc_type.__name__)
