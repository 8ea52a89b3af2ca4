# The door station's boot (intercom/station.py, what firmware/main.py runs): config
# problems as EVENT lines naming the key, the config module dropped after, board.json
# problems, and a board whose config has no registrar still bringing its network up.
# The loop with the user agent is test_station.py.
import os
import sys

from intercom import station

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
        cfg, errors = station.load_config(TMP)
    finally:
        if text is not None:
            os.remove(TMP)
    lines = station.config_events(errors)
    mine = [ln for ln in lines if ln.startswith("EVENT error what=config key=%s problem=" % key)]
    assert len(mine) == 1 and words in mine[0], lines
    assert "s3cret" not in mine[0]  # secrets are never echoed
    assert cfg["net"] in ("lan", "wifi") and "registrar" in cfg["sip"]  # the rest is usable


def test_the_config_module_is_dropped_after_boot():
    with open(TMP, "w") as f:
        f.write('{"sip": {"registrar": "pbx", "user": "door"}, "net": "lan"}')
    try:
        cfg, errors = station.load_config(TMP)
    finally:
        os.remove(TMP)
    assert errors == [] and cfg["sip"]["user"] == "door"
    assert "intercom.config" not in sys.modules


def test_board_json_problems_are_named():
    board, problem = station.load_board("/nonexistent/board.json")
    assert board is None and problem == "not found"
    with open(TMP, "w") as f:
        f.write('{"name": "virtual", ')
    try:
        board, problem = station.load_board(TMP)
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
