"""config.json: the device settings, checked at boot (schema and meaning: docs/config.md).

    cfg, errors = config.load("config.json")   # or config.validate(obj) for a parsed object
    cfg["sip"]["registrar"], cfg["call"]["targets"], cfg["net"], cfg["wifi"]["ssid"], cfg["ptt"]

Every key is checked on its own against one table (SCHEMA). A bad value is replaced by
its default and reported as one line naming the key and the problem:
    call.ring_timeout_s: must be a number between 5 and 300, got "x"
so one mistake never takes the rest down with it: `net` and `wifi` in particular come up
whatever else is wrong, and the device stays reachable to be reconfigured. In lists, a bad
entry is dropped and the good ones kept. Unknown keys are errors too (a misspelt key would
otherwise leave its default silently in force); the nearest known key is suggested.
Passwords are never echoed in errors.
"""

import json

from mpsip.error import SipParseError
from mpsip.uri import parse_hostport, parse_uri

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):
        return x


# Kinds of value, and what lo and hi mean for each: _STR length lo..hi ("" is always
# allowed: required keys are listed in _REQUIRED); _INT/_NUM the range; _ENUM lo = the
# choices; _USER/_NAME hi = the longest; _URIS lo = 1 when "*" (anyone) may stand for a
# URI; lists (kinds from _LIST on) hi = the most entries.
_STR = const(0)
_INT = const(1)
_NUM = const(2)
_BOOL = const(3)
_ENUM = const(4)
_HOST = const(5)
_USER = const(6)
_NAME = const(7)
_LIST = const(8)
_URIS = const(8)
_PINS = const(9)
_CODECS = const(10)

_MAX_FILE = const(8192)  # config.json is read whole: a bigger file is a mistake, not a config

# One flat tuple, five fields a key: key, kind, default, lo, hi. (A tuple per row would
# cost a heap block each: this way the table is one object.)
SCHEMA = (
    "sip.registrar", _HOST, "", 0, 0,
    "sip.backup_registrar", _HOST, "", 0, 0,
    "sip.user", _USER, "", 0, 64,
    "sip.auth_user", _STR, "", 1, 64,
    "sip.password", _STR, "", 1, 128,
    "sip.domain", _HOST, "", 0, 0,
    "sip.local_port", _INT, 5060, 1, 65535,
    # RFC 3261 10.2.1: the registrar may shorten it; below 60 s many refuse it (423).
    "sip.expires", _INT, 600, 60, 86400,
    # Each parallel INVITE holds a transaction: a handful fits the heap.
    "call.targets", _URIS, (), 0, 8,
    "call.mode", _ENUM, "sequential", ("sequential", "parallel"), 0,
    "call.ring_timeout_s", _NUM, 30, 5, 300,
    # The warning tone plays 10 s before the end, so a limit must leave room for it.
    "call.max_call_s", _NUM, 300, 20, 86400,
    "door.pins", _PINS, (), 0, 16,
    "door.relay_s", _NUM, 3, 0.2, 30,
    "door.max_tries", _INT, 3, 1, 20,
    "door.lockout_s", _NUM, 300, 10, 86400,
    "answer.auto", _BOOL, False, 0, 0,
    "answer.allow", _URIS, (), 1, 16,
    "answer.delay_s", _NUM, 2, 0, 60,
    "ptt", _BOOL, False, 0, 0,
    "audio.codecs", _CODECS, ("PCMU", "PCMA"), 0, 2,
    "audio.mic_gain", _NUM, 0, -20, 36,  # dB; 36 dB is the DSP's largest gain (x64)
    "audio.volume", _NUM, 80, 0, 100,  # percent
    "audio.half_duplex", _BOOL, False, 0, 0,
    # RFC 3550 11: RTP on an even port (an odd one is rounded down), RTCP on the next.
    "audio.rtp_port", _INT, 40000, 1024, 65534,
    "net", _ENUM, "wifi", ("wifi", "lan"), 0,
    "wifi.ssid", _STR, "", 1, 32,  # IEEE 802.11: an SSID is at most 32 octets
    "wifi.password", _STR, "", 8, 63,  # a WPA2 passphrase has 8 to 63 characters; "" = open
    "board", _NAME, "", 0, 32,
)  # fmt: skip
_REQUIRED = ("sip.registrar", "sip.user")


def _must(kind, lo, hi):
    if kind == _STR:
        return 'must be a string of %d to %d characters (or "")' % (lo, hi)
    if kind == _INT or kind == _NUM:
        return "must be a %s between %s and %s" % ("whole number" if kind == _INT else "number", lo, hi)
    if kind == _BOOL:
        return "must be true or false"
    if kind == _ENUM:
        return "must be one of " + ", ".join(['"%s"' % c for c in lo])
    if kind == _HOST:
        return 'must be "host" or "host:port", e.g. "pbx.example.com:5060"'
    if kind == _USER:
        return 'must be a SIP user name like "201" (no spaces, "@" or ":")'
    if kind == _NAME:
        return "must be a name of lower-case letters, digits and -"
    if kind == _URIS:
        return 'must be a SIP URI like "sip:201@pbx.example.com"' + (' or "*"' if lo else "")
    if kind == _PINS:
        return 'must be 4 to 16 of the digits 0-9 and *, e.g. "4711" (the # that ends it is not part of it)'
    return 'must be "PCMU" or "PCMA"'


def _ok(kind, lo, hi, v):
    """The value to keep (normalized), or None when v is not acceptable."""
    if kind == _BOOL:
        return v if v is True or v is False else None
    if kind == _INT or kind == _NUM:
        # Range first: it also turns away NaN and infinities, which int() cannot take.
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not lo <= v <= hi:
            return None
        if kind == _INT:
            return int(v) if v == int(v) else None
        return v
    if not isinstance(v, str):
        return None
    if kind == _ENUM:
        return v if v in lo else None
    if kind == _PINS:
        if v[-1:] == "#":
            v = v[:-1]
        return v if 4 <= len(v) <= 16 and not v.strip("0123456789*") else None
    if kind == _CODECS:
        return v if v == "PCMU" or v == "PCMA" else None
    if v == "" and kind < _LIST:
        return v  # not set
    if kind == _STR:
        return v if lo <= len(v) <= hi else None
    if kind == _NAME:
        return v if len(v) <= hi and not v.strip("abcdefghijklmnopqrstuvwxyz0123456789-") else None
    try:
        if kind == _HOST:
            parse_hostport(v)
        elif kind == _USER:
            # As the user part of the AoR: parsing "sip:<user>@h" must give back host h.
            if len(v) > hi or ":" in v or parse_uri("sip:%s@h" % v).host != "h":
                return None
        elif v != "*" or not lo:  # _URIS
            u = parse_uri(v)
            if u.scheme != "sip" and u.scheme != "sips" or not u.host:
                return None
    except SipParseError:
        return None
    return v


def _got(key, v):
    if key[-8:] == "password" and isinstance(v, str):
        return "a string of %d characters" % len(v)  # never echo a secret
    try:
        s = json.dumps(v)
    except TypeError:  # not from JSON: a caller passed a Python object
        s = repr(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _dist(a, b):
    # Levenshtein distance: names are short and this runs only for an unknown key.
    prev = list(range(len(b) + 1))
    for i in range(len(a)):
        cur = [i + 1]
        for j in range(len(b)):
            cur.append(min(prev[j + 1] + 1, cur[j] + 1, prev[j] + (a[i] != b[j])))
        prev = cur
    return prev[-1]


def _unknown(name, errors):
    # Two edits are a typo in a long name, but would turn "color" into "door": short names get one.
    best, best_d = None, 2 if len(name) < 7 else 3
    for i in range(0, len(SCHEMA), 5):
        key = SCHEMA[i]
        for known in (key, key.partition(".")[0]):
            d = _dist(name.lower(), known)
            if d < best_d:
                best, best_d = known, d
    errors.append("%s: unknown key%s" % (name, " (did you mean %s?)" % best if best else ""))


def validate(obj):
    """(config, errors): a complete config (defaults in place of anything bad) and a list of
    one-line errors, each starting with the key it is about. No error means all was used."""
    cfg = {}
    errors = []
    if not isinstance(obj, dict):
        errors.append("config: must be a JSON object {...}, got " + _got("", obj))
        obj = {}
    for i in range(0, len(SCHEMA), 5):
        key, kind, default, lo, hi = SCHEMA[i : i + 5]
        section, _, name = key.rpartition(".")
        src = obj
        dst = cfg
        if section:
            src = obj.get(section, {})
            dst = cfg.setdefault(section, {})
            if not isinstance(src, dict):
                if not dst:  # say it once, at the section's first key
                    errors.append('%s: must be an object {"key": value, ...}, got %s' % (section, _got("", src)))
                src = {}
        dst[name] = list(default) if kind >= _LIST else default
        if name not in src:
            continue
        v = src[name]
        if kind < _LIST:
            ok = _ok(kind, lo, hi, v)
            if ok is None:
                errors.append("%s: %s, got %s" % (key, _must(kind, lo, hi), _got(key, v)))
            else:
                dst[name] = ok
            continue
        if v == "*" and lo:
            v = ["*"]  # answer.allow: "*" alone means anyone
        if not isinstance(v, list):
            errors.append("%s: must be a list (each entry %s), got %s" % (key, _must(kind, lo, hi), _got(key, v)))
            continue
        if not v and default:
            errors.append("%s: must not be empty, got [] (the default %s is used)" % (key, _got(key, list(default))))
        keep = []
        for j in range(len(v)):
            ok = _ok(kind, lo, hi, v[j])
            if ok is None:
                errors.append("%s[%d]: %s, got %s" % (key, j, _must(kind, lo, hi), _got(key, v[j])))
            elif ok not in keep:
                keep.append(ok)
        if len(keep) > hi:
            errors.append("%s: at most %d entries, got %d (the first %d are used)" % (key, hi, len(keep), hi))
            keep = keep[:hi]
        if keep or not default:
            dst[name] = keep
    for key in _REQUIRED:
        section, _, name = key.partition(".")
        if not cfg[section][name] and not [e for e in errors if e.startswith(key + ":")]:
            errors.append("%s: required, %s" % (key, _must(_HOST if name == "registrar" else _USER, 0, 0)[8:]))
    if cfg["net"] == "wifi" and not cfg["wifi"]["ssid"]:
        errors.append('wifi.ssid: required when net is "wifi" (or set net to "lan" on an Ethernet board)')
    # Unknown keys, in a stable order (MicroPython dicts do not keep insertion order).
    for top in sorted(obj):
        v = obj[top]
        if isinstance(cfg.get(top), dict):
            if isinstance(v, dict):
                for name in sorted(v):
                    if name not in cfg[top]:
                        _unknown(top + "." + name, errors)
        elif top not in cfg:
            _unknown(top, errors)
    return cfg, errors


def load(path="config.json"):
    """validate() the JSON file at path; a missing, oversized or unparsable file gives the
    defaults and an error saying so."""
    import os

    try:
        size = os.stat(path)[6]
        if size <= _MAX_FILE:
            with open(path, "rb") as f:
                data = f.read()  # the exact size: no 8 KB block reserved for a 1 KB file
    except OSError:
        cfg, errors = validate({})
        return cfg, ["%s: not found: copy config.example.json there and edit it (docs/config.md)" % path] + errors
    if size > _MAX_FILE:
        problem = "larger than %d bytes" % _MAX_FILE
    else:
        try:
            return validate(json.loads(data.decode()))
        except ValueError as e:  # also UnicodeError: both runtimes derive it from ValueError
            problem = "not valid JSON (%s)" % e
    cfg, errors = validate({})
    return cfg, ["%s: %s: fix it; defaults are used meanwhile" % (path, problem)] + errors
