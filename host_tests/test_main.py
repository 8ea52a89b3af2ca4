# The door station's boot (intercom/startup.py via intercom/station.py's main(), what
# firmware/main.py runs): config problems as EVENT lines naming the key, the config module
# and the boot code dropped after, board.json problems, and a board whose config has no
# registrar still bringing its network up. The loop with the user agent is test_station.py.
import gc
import os
import sys

from intercom import startup, station

TMP = "/tmp/mpsip-test-main-%d.json" % (os.getpid() if hasattr(os, "getpid") else 0)


# ---------------------------------------------------------------- config at boot

OK_SIP = '"sip": {"registrar": "pbx", "user": "door"}'
CASES = {
    "test_each_kind_of_bad_config_is_an_event_line_naming_the_key": [
        ('{"sip": {"registrar": 5060, "user": "door"}, "net": "lan"}', "sip.registrar", "host"),  # wrong type
        ('{%s, "call": {"ring_timeout_s": 1}, "net": "lan"}' % OK_SIP, "call.ring_timeout_s", "between 5 and 300"),
        ('{"sip": {"registar": "pbx", "user": "door"}, "net": "lan"}', "sip.registar", "did you mean sip.registrar"),
        ('{"sip": {"user": "door"}, "net": "lan"}', "sip.registrar", "required"),
        ('{%s, "door": {"pins": ["1234", "12"]}, "net": "lan"}' % OK_SIP, "door.pins[1]", "4 to 16"),
        ('{%s, "door": 4711, "net": "lan"}' % OK_SIP, "door", "must be an object"),
        ('{%s, "net": "wifi"}' % OK_SIP, "wifi.ssid", "required"),
        ('{%s, "net": "lan", "sip": {"password": "%s"}}' % (OK_SIP, "s3cret" * 22), "sip.password", "132 characters"),
        ('{"sip": {"registrar": "pbx"', TMP, "not valid JSON"),
        (None, TMP, "not found"),
    ]
}


def test_each_kind_of_bad_config_is_an_event_line_naming_the_key(case):
    text, key, words = case
    if text is not None:
        with open(TMP, "w") as f:
            f.write(text)
    try:
        cfg, errors = startup.load_config(TMP)
    finally:
        if text is not None:
            os.remove(TMP)
    lines = startup.config_events(errors)
    mine = [ln for ln in lines if ln.startswith("EVENT error what=config key=%s problem=" % key)]
    assert len(mine) == 1 and words in mine[0], lines
    assert "s3cret" not in mine[0]  # secrets are never echoed
    assert cfg["net"] in ("lan", "wifi") and "registrar" in cfg["sip"]  # the rest is usable


def test_the_config_module_is_dropped_after_boot():
    with open(TMP, "w") as f:
        f.write('{"sip": {"registrar": "pbx", "user": "door"}, "net": "lan"}')
    try:
        cfg, errors = startup.load_config(TMP)
    finally:
        os.remove(TMP)
    assert errors == [] and cfg["sip"]["user"] == "door"
    assert "intercom.config" not in sys.modules
    assert not hasattr(sys.modules["intercom"], "config")  # the package's attribute would keep it


def test_board_json_problems_are_named():
    board, problem = startup.load_board("/nonexistent/board.json")
    assert board is None and problem == "not found"
    with open(TMP, "w") as f:
        f.write('{"name": "virtual", ')
    try:
        board, problem = startup.load_board(TMP)
    finally:
        os.remove(TMP)
    assert board is None and problem.startswith("not valid JSON")


class Platform:
    """Just enough platform for a board with no registrar configured: no SIP starts."""

    def __init__(self, board, cfg, out):
        self.board = board
        self.leds = []
        self.starts = 0
        self.rounds = 0

    def led(self, state, on):
        self.leds.append(state)

    def net_start(self):
        self.starts += 1

    def net_ok(self):
        return True

    def ip(self):
        return "127.0.0.1"

    def input(self):
        self.rounds += 1
        return "quit" if self.rounds == 4 else None

    def feed(self):
        pass

    def wait(self, ms):
        pass

    def close(self):
        pass


def test_without_a_registrar_the_board_still_brings_its_network_up_and_shows_error():
    with open(TMP, "w") as f:
        f.write('{"sip": {"user": "door"}, "net": "lan"}')
    lines = []
    board = TMP[:-5] + "-board.json"
    with open(board, "w") as f:
        f.write('{"name": "virtual"}')
    try:
        # preload=(): no call modules (no SIP starts without a registrar; the test has 96 KB)
        st = station.main(TMP, board, Platform({}, {}, None), out=lines.append, preload=())
    finally:
        os.remove(TMP)
        os.remove(board)
    assert lines[0].startswith("EVENT error what=config key=sip.registrar problem=required")
    assert "EVENT network state=up ip=127.0.0.1" in lines and lines[-1] == "EVENT exit"
    assert st.plat.leds == ["booting", "error"] and st.ua is None and st.plat.starts == 1


def test_the_boot_code_is_dropped_once_the_loop_runs():
    with open(TMP, "w") as f:
        f.write('{"sip": {"user": "door"}, "net": "lan"}')
    seen = []
    plat = Platform({}, {}, None)
    real = plat.input

    def input():
        seen.append("intercom.startup" in sys.modules or hasattr(sys.modules["intercom"], "startup"))
        return real()

    plat.input = input
    try:
        st = station.main(TMP, "/nonexistent/board.json", plat, out=[].append, preload=())
    finally:
        os.remove(TMP)
    assert seen and not any(seen) and st.plat is plat
    sys.modules["intercom.startup"] = startup  # for the other tests of this file


def test_the_boot_line_tells_the_heap_in_use():
    with open(TMP, "w") as f:
        f.write('{"sip": {"user": "door"}, "net": "lan"}')
    lines = []
    try:
        station.main(TMP, "/nonexistent/board.json", Platform({}, {}, None), out=lines.append, preload=())
    finally:
        os.remove(TMP)
    sys.modules["intercom.startup"] = startup
    (boot,) = [ln for ln in lines if ln.startswith("EVENT boot ")]
    used = int(boot.split("heap=")[1])
    gc.collect()
    if hasattr(gc, "mem_alloc"):
        assert 0 < used < gc.mem_alloc() + 4096
    else:
        assert used == 0  # CPython cannot tell
    assert boot.startswith("EVENT boot board=? ")


def test_the_modules_the_user_agent_lends_itself_are_loaded_once_at_boot_and_dropped():
    # loaded at boot so that their names are interned while the heap is empty (startup.LENT)
    assert "mpsip.rare" in startup.LENT and "mpsip.auth" in startup.LENT and "mpsip.digest" not in startup.LENT
    startup.load_modules((), ("mpsip.rare", "mpsip.no_such_module"))
    import mpsip

    assert "mpsip.rare" not in sys.modules and not hasattr(mpsip, "rare")
