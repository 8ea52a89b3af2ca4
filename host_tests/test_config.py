# config.json validation (intercom.config): defaults, one error per bad key naming it,
# unknown keys, and salvage — the device keeps every good value, network first.
import json

from intercom import config
from support import DATA

# The documented defaults (docs/config.md): what a device runs with when a key is absent.
DEFAULTS = {
    "sip.registrar": "",
    "sip.backup_registrar": "",
    "sip.user": "",
    "sip.auth_user": "",
    "sip.password": "",
    "sip.domain": "",
    "sip.local_port": 5060,
    "sip.expires": 600,
    "call.targets": [],
    "call.mode": "sequential",
    "call.ring_timeout_s": 30,
    "call.max_call_s": 300,
    "door.pins": [],
    "door.relay_s": 3,
    "door.max_tries": 3,
    "door.lockout_s": 300,
    "answer.auto": False,
    "answer.allow": [],
    "answer.delay_s": 2,
    "ptt": False,
    "audio.codecs": ["PCMU", "PCMA"],
    "audio.mic_gain": 0,
    "audio.volume": 80,
    "audio.half_duplex": False,
    "audio.rtp_port": 40000,
    "net": "wifi",
    "wifi.ssid": "",
    "wifi.password": "",
    "board": "",
}


def get(cfg, key):
    section, _, name = key.rpartition(".")
    return cfg[section][name] if section else cfg[name]


def put(obj, key, value):
    section, _, name = key.rpartition(".")
    if section:
        obj.setdefault(section, {})[name] = value
    else:
        obj[name] = value


def valid():
    """A config using every key with a non-default, acceptable value."""
    return {
        "sip": {
            "registrar": "pbx.example.com:5060",
            "backup_registrar": "192.0.2.7",
            "user": "201",
            "auth_user": "door-201@example.com",
            "password": "s3cret",
            "domain": "example.com",
            "local_port": 5062,
            "expires": 900,
        },
        "call": {
            "targets": ["sip:100@pbx.example.com", "sips:101@[2001:db8::1]:5061"],
            "mode": "parallel",
            "ring_timeout_s": 12.5,
            "max_call_s": 120,
        },
        "door": {"pins": ["4711", "0000*"], "relay_s": 0.5, "max_tries": 5, "lockout_s": 60},
        "answer": {"auto": True, "allow": ["sip:100@pbx.example.com"], "delay_s": 0},
        "ptt": True,
        "audio": {"codecs": ["PCMA"], "mic_gain": -6, "volume": 100, "half_duplex": True, "rtp_port": 30000},
        "net": "lan",
        "wifi": {"ssid": "door-net", "password": "12345678"},
        "board": "esp32-devkitc",
    }


def test_an_empty_config_gets_every_documented_default():
    cfg, errors = config.validate({})
    for key in DEFAULTS:
        assert get(cfg, key) == DEFAULTS[key], key
    # Only what a device cannot run without is reported.
    assert [e.partition(":")[0] for e in errors] == ["sip.registrar", "sip.user", "wifi.ssid"]


def test_every_schema_key_is_documented_and_has_a_bad_case():
    keys = [config.SCHEMA[i] for i in range(0, len(config.SCHEMA), 5)]  # key, kind, default, lo, hi
    assert sorted(keys) == sorted(DEFAULTS)
    assert sorted(keys) == sorted([c[0] for c in CASES["test_a_bad_value_is_named_and_replaced_by_its_default"]])


def test_a_complete_valid_config_is_used_as_given():
    obj = valid()
    cfg, errors = config.validate(obj)
    assert errors == []
    for key in DEFAULTS:
        assert get(cfg, key) == get(obj, key), key


CASES = {
    "test_a_bad_value_is_named_and_replaced_by_its_default": [
        ("sip.registrar", "pbx example.com"),
        ("sip.backup_registrar", "pbx.example.com:99999"),
        ("sip.user", "door bell"),
        ("sip.auth_user", 201),
        ("sip.password", "p" * 129),
        ("sip.domain", "exa mple.com"),
        ("sip.local_port", 70000),
        ("sip.expires", 30),
        ("call.targets", "sip:100@pbx.example.com"),
        ("call.mode", "random"),
        ("call.ring_timeout_s", "x"),
        ("call.max_call_s", 10),
        ("door.pins", ["12#"]),
        ("door.relay_s", 0),
        ("door.max_tries", 2.5),
        ("door.lockout_s", -1),
        ("answer.auto", "yes"),
        ("answer.allow", ["100"]),
        ("answer.delay_s", 61),
        ("ptt", 1),
        ("audio.codecs", ["G722"]),
        ("audio.mic_gain", 40),
        ("audio.volume", True),
        ("audio.half_duplex", "no"),
        ("audio.rtp_port", 80),
        ("net", "ethernet"),
        ("wifi.ssid", "s" * 33),
        ("wifi.password", "short"),
        ("board", "ESP32 DevKit"),
    ],
}


def test_a_bad_value_is_named_and_replaced_by_its_default(case):
    key, bad = case
    obj = valid()
    put(obj, key, bad)
    cfg, errors = config.validate(obj)
    assert len(errors) == 1, errors
    err = errors[0]
    # "call.ring_timeout_s: must be ..., got "x"" or, for a list entry, "door.pins[0]: ..."
    assert err.startswith(key + ": must be") or err.startswith(key + "[0]: must be"), err
    assert ", got " in err, err
    assert get(cfg, key) == DEFAULTS[key]
    for other in DEFAULTS:
        if other != key:
            assert get(cfg, other) == get(valid(), other), other


def test_the_error_shows_the_bad_value_as_json():
    _, errors = config.validate({"call": {"ring_timeout_s": "x"}, "net": "lan", "sip": {"registrar": "h", "user": "u"}})
    assert errors == ['call.ring_timeout_s: must be a number between 5 and 300, got "x"']


def test_passwords_are_never_echoed():
    secret = "hunter2"
    obj = valid()
    put(obj, "sip.password", secret * 20)
    put(obj, "wifi.password", secret)
    _, errors = config.validate(obj)
    assert len(errors) == 2
    for e in errors:
        assert secret not in e, e
        assert "characters" in e


def test_unknown_keys_are_errors_with_the_nearest_known_key():
    obj = valid()
    obj["sip"]["registar"] = "pbx.example.com"
    obj["Ptt"] = True
    obj["wfi"] = {"ssid": "x"}
    obj["color"] = "red"
    cfg, errors = config.validate(obj)
    assert errors == [
        "Ptt: unknown key (did you mean ptt?)",
        "color: unknown key",
        "sip.registar: unknown key (did you mean sip.registrar?)",
        "wfi: unknown key (did you mean wifi?)",
    ]
    assert cfg["sip"]["registrar"] == "pbx.example.com:5060"  # the real key is untouched


def test_network_comes_up_when_everything_else_is_broken():
    obj = {
        "sip": "pbx.example.com",
        "call": {"targets": 5, "mode": 1},
        "door": [],
        "audio": {"volume": "loud"},
        "net": "wifi",
        "wifi": {"ssid": "door-net", "password": "12345678"},
    }
    cfg, errors = config.validate(obj)
    assert cfg["net"] == "wifi"
    assert cfg["wifi"] == {"ssid": "door-net", "password": "12345678"}
    keys = [e.partition(":")[0] for e in errors]
    assert keys == ["sip", "call.targets", "call.mode", "door", "audio.volume", "sip.registrar", "sip.user"]
    assert errors[0] == 'sip: must be an object {"key": value, ...}, got "pbx.example.com"'
    assert cfg["sip"]["local_port"] == 5060 and cfg["door"]["relay_s"] == 3


def test_not_an_object_at_all_gives_defaults_and_says_so():
    cfg, errors = config.validate(["sip"])
    assert errors[0] == 'config: must be a JSON object {...}, got ["sip"]'
    assert cfg["net"] == "wifi" and cfg["call"]["targets"] == []


def test_bad_list_entries_are_dropped_and_the_good_kept():
    obj = valid()
    obj["call"]["targets"] = ["sip:100@pbx", "100", "tel:+4930123", "sip:101@pbx", "sip:100@pbx"]
    obj["door"]["pins"] = ["4711#", "12", "12a4", "*0815"]
    cfg, errors = config.validate(obj)
    assert cfg["call"]["targets"] == ["sip:100@pbx", "sip:101@pbx"]  # the repeat is dropped silently
    assert cfg["door"]["pins"] == ["4711", "*0815"]  # the # that ends a PIN is not part of it
    assert [e.partition(":")[0] for e in errors] == [
        "call.targets[1]",
        "call.targets[2]",
        "door.pins[1]",
        "door.pins[2]",
    ]
    assert errors[0] == 'call.targets[1]: must be a SIP URI like "sip:201@pbx.example.com", got "100"'


def test_too_many_targets_keep_the_first_ones():
    obj = valid()
    obj["call"]["targets"] = ["sip:%d@pbx" % i for i in range(10)]
    cfg, errors = config.validate(obj)
    assert cfg["call"]["targets"] == ["sip:%d@pbx" % i for i in range(8)]
    assert errors == ["call.targets: at most 8 entries, got 10 (the first 8 are used)"]


def test_answer_allow_star_means_anyone():
    for allow in ("*", ["*"], ["sip:100@pbx", "*"]):
        obj = valid()
        obj["answer"]["allow"] = allow
        cfg, errors = config.validate(obj)
        assert errors == [], errors
        assert "*" in cfg["answer"]["allow"]
    obj = valid()
    obj["call"]["targets"] = ["*"]  # anyone makes no sense as a call target
    cfg, errors = config.validate(obj)
    assert cfg["call"]["targets"] == [] and errors[0].startswith("call.targets[0]: must be a SIP URI")


def test_an_empty_codec_list_keeps_the_default():
    obj = valid()
    obj["audio"]["codecs"] = []
    cfg, errors = config.validate(obj)
    assert cfg["audio"]["codecs"] == ["PCMU", "PCMA"]
    assert errors == ['audio.codecs: must not be empty, got [] (the default ["PCMU", "PCMA"] is used)']


def test_numbers_whole_where_whole_and_never_booleans():
    obj = valid()
    obj["sip"]["expires"] = 600.0
    obj["call"]["ring_timeout_s"] = 30
    cfg, errors = config.validate(obj)
    assert errors == []
    assert cfg["sip"]["expires"] == 600 and isinstance(cfg["sip"]["expires"], int)
    obj["sip"]["local_port"] = True
    cfg, errors = config.validate(obj)
    assert errors == ["sip.local_port: must be a whole number between 1 and 65535, got true"]


def test_required_keys():
    cfg, errors = config.validate({"net": "lan", "sip": {"registrar": "", "user": "201"}})
    assert errors == ['sip.registrar: required, "host" or "host:port", e.g. "pbx.example.com:5060"']
    _, errors = config.validate({"net": "wifi", "sip": {"registrar": "h", "user": "201"}})
    assert errors == ['wifi.ssid: required when net is "wifi" (or set net to "lan" on an Ethernet board)']


def test_validating_does_not_change_the_input_or_share_defaults():
    obj = valid()
    text = json.dumps(obj)
    cfg, _ = config.validate(obj)
    cfg["call"]["targets"].append("sip:x@y")
    assert json.dumps(obj) == text
    a, _ = config.validate({})
    a["audio"]["codecs"].append("X")
    b, _ = config.validate({})
    assert b["audio"]["codecs"] == ["PCMU", "PCMA"]


def test_load_reads_a_file():
    cfg, errors = config.load(DATA + "config/good.json")
    assert errors == []
    assert cfg["sip"]["registrar"] == "127.0.0.1:5070" and cfg["sip"]["local_port"] == 5080
    assert cfg["call"]["targets"] == ["sip:alice@127.0.0.1", "sip:bob@127.0.0.1:5090"]
    assert cfg["door"]["pins"] == ["1234", "9*9*"]
    assert cfg["net"] == "lan" and cfg["board"] == "virtual"


def test_load_names_the_bad_key_of_a_file():
    cfg, errors = config.load(DATA + "config/bad.json")
    assert errors == ['call.ring_timeout_s: must be a number between 5 and 300, got "x"']
    assert cfg["call"]["ring_timeout_s"] == 30 and cfg["net"] == "lan"


def test_load_of_a_missing_or_broken_file_gives_defaults_and_says_why():
    path = DATA + "config/missing.json"
    cfg, errors = config.load(path)
    assert errors[0] == path + ": not found: copy config.example.json there and edit it (docs/config.md)"
    assert cfg["net"] == "wifi"
    path = DATA + "config/broken.json"
    cfg, errors = config.load(path)
    assert errors[0].startswith(path + ": not valid JSON (")
    assert errors[0].endswith("): fix it; defaults are used meanwhile")
    assert cfg["sip"]["local_port"] == 5060
