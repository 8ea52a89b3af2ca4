# The door station's power-up, run once and dropped after (as config.py is): the modules of
# a call, config.json, board.json, the platform, the clock and the Station. Its code and
# everything it read (board.json, the config's error lines) are garbage once start() has
# returned: intercom/station.py's main() drops this module before the loop starts.
#
# Config problems are one line each:
#   EVENT error what=config key=<key> problem=<what is wrong, to the end of the line>
# and the rest of the config is used: the network comes up whatever else is wrong, so the
# device can be reconfigured.
import gc
import sys

AGENT = "mpsip-intercom/0.2"

# The modules of a call, loaded while the heap holds little else (the config is checked and
# dropped before them): loaded later, between the board's and the platform's objects, they
# would leave the heap in pieces.
CALL_MODULES = (
    "mpsip.message",
    "mpsip.transaction",
    "mpsip.transport",
    "mpsip.ua",
    "mpsip.register",
    "mpsip.call",
    "mpsip.sdp",
    "mpsip.media",
    "intercom.sound",
    "intercom.app",
)
# Modules the user agent lends itself when needed (a digest challenge, a rare request) and
# drops after. Each first load interns its names, and the qstr pools grow by doubling: the
# pool that takes them can be a 7-14 KB block, asked for in the middle of a call, in a heap
# in pieces - a MemoryError with tens of KB free. Loaded (and dropped) at boot instead, the
# pools grow while the heap is empty, and a later load finds every name interned.
LENT = ("mpsip.rare", "mpsip.regrare", "mpsip.auth")


def load_modules(names=CALL_MODULES, lent=LENT):
    """Load the modules of a call, then intern the lent modules' names (see LENT)."""
    for name in names:
        __import__(name)
        gc.collect()
    for name in lent:
        try:
            __import__(name)
        except ImportError:  # not in this build
            pass
        drop(name)
    gc.collect()


def drop(name):
    """Forget a module (sys.modules and its package's attribute) so the GC can take it."""
    sys.modules.pop(name, None)
    pkg, _, attr = name.rpartition(".")
    try:
        delattr(sys.modules[pkg], attr)
    except (KeyError, AttributeError):
        pass


def config_events(errors):
    """The validator's 'key: problem' lines as EVENT lines (problem= runs to the end)."""
    out = []
    for e in errors:
        key, _, problem = e.partition(": ")
        out.append("EVENT error what=config key=%s problem=%s" % (key, problem))
    return out


def load_config(path):
    """(cfg, errors), the config module dropped after: it is only needed at boot."""
    from intercom import config

    try:
        return config.load(path)
    finally:
        drop("intercom.config")


def load_board(path):
    import json

    try:
        with open(path) as f:
            return json.load(f), None
    except OSError:
        return None, "not found"
    except ValueError as e:
        return None, "not valid JSON (%s)" % e


def start(config_path, board_path, platform, clock, out, preload):
    """Everything before the loop: (the Station, ready to run; the board's name)."""
    from intercom.station import Station

    # The config first: its module (~9 KB) and the garbage of checking it are freed before the
    # modules of a call load into the holes they leave, so what stays free after boot is one
    # piece at the top of the heap (the other order left it in pieces around the cfg dict: on
    # 2026-11-24 booting needed 160K, now 156K; a 4 KB table found no room at 152K, 20 KB free).
    cfg, errors = load_config(config_path)
    for line in config_events(errors):
        out(line)
    errors = None
    gc.collect()
    if preload:
        load_modules(preload)
    board, problem = load_board(board_path)
    if problem:
        out("EVENT error what=board key=%s problem=%s" % (board_path, problem))
    if platform is None:
        if sys.platform == "esp32":
            from hal.esp32 import Platform
        else:
            from hal.host import Platform
        platform = Platform(board or {}, cfg, out)
    if clock is None:  # the virtual board's, which its console moves forward (hal/host.py)
        clock = getattr(platform, "clock", None)
    if clock is None:
        try:
            import time as clock
            from time import ticks_ms  # noqa: F401  MicroPython: time is the clock
        except ImportError:  # CPython
            from mpsip.media import Clock

            clock = Clock()
    return Station(platform, clock, cfg, out), (board or {}).get("name", "?")


def resolve(host, port):
    """(ip, port) of a registrar, for matching where INVITEs come from; as given on failure.
    getaddrinfo gives a tuple (ESP32, CPython) or a raw sockaddr (MicroPython unix: family,
    packed address, port)."""
    import socket

    try:
        ip = socket.getaddrinfo(host, port)[0][-1]
        if isinstance(ip, tuple):
            ip = ip[0]
        else:
            ip = socket.sockaddr(ip)[1]
            ip = "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3]) if len(ip) == 4 else None
    except (OSError, IndexError):
        ip = None
    return (ip or host, port)


def start_sip(st, ip):
    """The user agent, the sound and the application for the network at ip (the Station
    registers once this module is dropped)."""
    from intercom.app import Intercom
    from mpsip.ua import UserAgent, split_hostport

    sip = st.cfg["sip"]
    audio = st.cfg["audio"]
    reg = split_hostport(sip["registrar"])
    backup = split_hostport(sip["backup_registrar"]) if sip["backup_registrar"] else None
    make = st.make_transport
    if make is None:
        from mpsip.transport import Udp as make
    st.transport = make(ip, sip["local_port"])
    rtp_port = audio["rtp_port"] & ~1  # RFC 3550 11: RTP on an even port (station._open_rtp too)
    st.ua = UserAgent(
        st.transport,
        st.clock,
        sip["user"],
        sip["domain"] or sip["registrar"],
        reg,
        password=sip["password"] or None,
        auth_user=sip["auth_user"] or None,
        backup=backup,
        expires=sip["expires"],
        local=(ip, sip["local_port"]),
        rtp_port=rtp_port,
        codecs=tuple(audio["codecs"]),
        agent=AGENT,
    )
    plat = st.plat
    if st.sound is None:  # made once, kept across network changes: its ~9 KB are not made again
        sound = st.make_sound
        if sound is None:
            from intercom.sound import Sound as sound
        st.sound = sound(
            plat.mic,
            plat.speaker,
            st.clock,
            st._open_rtp,  # a method: a lambda here would keep this module alive
            plat.address,
            half_duplex=audio["half_duplex"] or plat.half_duplex,
            mic_shift=plat.mic_shift,
            mic_gain_db=audio["mic_gain"],
            volume=audio["volume"],
            on_dtmf=st._rtp_dtmf,  # (digit, ms) of RFC 4733 events
            codec=audio["codecs"][0],
        )
    st.app = Intercom(
        st.cfg,
        st.ua,
        st.clock,
        plat.relay,
        led=st.leds.set,
        media=st.sound.start,  # (the app collects garbage before it: a session wants room)
        out=st.out,
        ringback=st.sound.ringback,
    )
    st.app.servers = [resolve(*s) for s in (reg, backup) if s]
    if hasattr(st.transport, "sock"):
        plat.watch(st.transport.sock)
