# The virtual board's platform (firmware/hal/host.py): console commands, relay and LED as
# EVENT lines, audio from and to files, RTP sockets - on both runtimes.
import os
import sys

from hal.host import COMMANDS, Platform
from hal.recorder import Recorder

from mpsip.audio import ToneSource
from mpsip.wav import WavSource

MP = sys.implementation.name == "micropython"
TMP = "/tmp/mpsip-test-hal-%d" % os.getpid() if hasattr(os, "getpid") else "/tmp/mpsip-test-hal"


def rig(board=None):
    lines = []
    p = Platform(board or {"name": "virtual"}, {}, lines.append)
    return p, lines


def test_console_lines_are_commands_and_unknown_ones_are_reported():
    p, lines = rig()
    assert [p.command(c + "\n") for c in COMMANDS] == list(COMMANDS)
    assert p.command("  press \r\n") == "press"
    assert p.command("\n") is None and lines == []
    assert p.command("open sesame\n") is None
    assert lines[0].startswith("EVENT error what=console problem=unknown command open sesame")


def test_net_down_and_up_drive_the_simulated_link():
    p, _ = rig()
    assert p.net_ok() and p.ip() == "127.0.0.1"
    p.command("net-down")
    assert not p.net_ok()
    p.command("net-up")
    assert p.net_ok()


def test_relay_and_led_changes_are_event_lines_once_each():
    p, lines = rig()
    p.relay(True)
    p.relay(True)
    p.relay(False)
    p.led("ringing", True)
    p.led("ringing", False)  # the blinking itself is not printed
    p.led("in-call", True)
    assert lines == [
        "EVENT relay state=on",
        "EVENT relay state=off",
        "EVENT led pattern=ringing",
        "EVENT led pattern=in-call",
    ]


def test_board_json_host_section_sets_address_audio_and_duplex():
    path = TMP + "-spk.wav"
    p, _ = rig({"host": {"ip": "127.0.0.2", "mic": "tone:600", "speaker": path}, "duplex": "half"})
    try:
        assert p.ip() == "127.0.0.2" and p.half_duplex and p.mic_shift == 16
        assert isinstance(p.mic, ToneSource) and p.mic.rate == 8000
        assert isinstance(p.speaker, Recorder)
    finally:
        p.close()
        os.remove(path)
    p, _ = rig({})
    assert not p.half_duplex and p.speaker.rate == 8000 and not hasattr(p.speaker, "f")


def test_recorder_writes_a_wav_that_plays_back_at_every_half_second_and_at_close():
    path = TMP + "-rec.wav"
    rec = Recorder(path)
    frame = bytearray(320)
    for i in range(160):
        frame[2 * i] = i & 0xFF
    try:
        for _ in range(30):
            rec.write(frame)
        # killed now: the header already counts the first 25 frames
        src = WavSource(path)
        assert src.rate == 8000 and src.end - src.start == 25 * 320
        src.close()
        rec.close()
        src = WavSource(path)
        assert src.end - src.start == 30 * 320
        buf = bytearray(320)
        assert src.readinto(buf) == 320 and buf == frame
        src.close()
    finally:
        os.remove(path)


def test_microphone_is_a_tone_or_a_looping_wav():
    m = rig({"host": {"mic": "tone:440", "rate": 16000}})[0].mic
    assert isinstance(m, ToneSource) and m.rate == 16000
    path = TMP + "-mic.wav"
    rec = Recorder(path)
    rec.write(bytearray(200))
    rec.close()
    try:
        m = rig({"host": {"mic": path}})[0].mic
        buf = bytearray(320)
        assert isinstance(m, WavSource) and m.loop
        assert m.readinto(buf) == 320 and m.readinto(buf) == 320  # 200 bytes, looped
        m.close()
    finally:
        os.remove(path)


def test_rtp_sockets_bind_and_address_reaches_them():
    p, _ = rig()
    a = p.open_rtp("127.0.0.1", 47810)
    b = p.open_rtp("127.0.0.1", 47812)
    try:
        a.sendto(b"ping", p.address("127.0.0.1", 47812))
        p.watch(b)
        p.wait(500)  # returns as soon as b is readable
        data, _ = b.recvfrom(64)
        assert data == b"ping"
        p.unwatch(b)
        p.unwatch(b)  # twice is harmless
    finally:
        a.close()
        b.close()


def test_feed_counts_and_net_start_is_harmless():
    p, _ = rig()
    p.net_start()
    p.feed()
    p.feed()
    assert p.feeds == 2


def test_console_input_reads_whole_lines_from_stdin():
    if MP or not hasattr(os, "pipe"):
        return  # the MicroPython unix port has no os.pipe; the peer tests drive a real console
    r, w = os.pipe()
    stdin = os.fdopen(r, "r")
    lines = []
    p = Platform({}, {}, lines.append, stdin=stdin)
    assert p.input() is None  # nothing typed yet
    os.write(w, b"press\nrelease\nbogus\n")
    assert p.input() == "press" and p.input() == "release"
    assert p.input() is None and "unknown command bogus" in lines[0]
    os.close(w)  # end of input: the console is dropped, the board runs on
    assert p.input() is None and p.stdin is None
    stdin.close()


def test_skip_moves_the_clock_forward_and_the_station_takes_that_clock():
    # The soak runs RFC 3261's 32 s timers out with `skip 33`, not by sleeping: one clock
    # for every timer of the station, the platform's (intercom/startup.py takes it).
    from intercom import startup

    p, lines = rig()
    c = p.clock
    ms, us = c.ticks_ms(), c.ticks_us()
    assert p.command("skip 33\n") is None and lines == ["EVENT skip seconds=33"]
    assert 33000 <= c.ticks_diff(c.ticks_ms(), ms) < 34000
    assert 33000000 <= c.ticks_diff(c.ticks_us(), us) < 34000000
    p.command("skip 250.5")  # beyond one step of Clock.skip
    assert 283500 <= c.ticks_diff(c.ticks_ms(), ms) < 284500
    p.command("skip soon")
    p.command("skip -3")
    assert len(lines) == 4 and lines[3].startswith("EVENT error what=console problem=unknown command skip -3")
    st, _ = startup.start(TMP + "-none.json", TMP + "-none.json", p, None, lines.append, ())
    assert st.clock is c and st.leds.clock is c
    startup.drop("intercom.startup")
