"""tools/virtual_board.py in a child process, as the tests drive it: started in a directory of
its own (the flash), the pty it serves read from its first line, its console logged to a file
that tests search with a deadline.

    vb = BoardProcess("/tmp/flash", "/tmp/console.log", heap="96K").start()
    vb.wait_console(r">>> $"); ...; vb.stop()
"""

import os
import re
import select
import signal
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def wait_for(fn, timeout, what):
    """fn()'s first true value, polled every 50 ms; AssertionError after timeout s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out after %s s waiting for %s" % (timeout, what))


class BoardProcess:
    def __init__(self, directory, log, heap=None):
        self.dir = directory
        self.log = log
        self.heap = heap
        self.proc = None

    def start(self):
        cmd = [sys.executable, os.path.join(ROOT, "tools", "virtual_board.py"), self.dir, "--log", self.log]
        if self.heap:
            cmd += ["--heap", self.heap]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        r, _, _ = select.select([self.proc.stdout], [], [], 20)
        assert r, "the virtual board printed no pty"
        self.pty = self.proc.stdout.readline().strip()
        assert self.pty.startswith("/dev/"), self.pty
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.proc.stdout.close()

    def console(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def wait_console(self, pattern, timeout=20):
        return wait_for(lambda: re.search(pattern, self.console()), timeout, "%r on the console" % pattern)

    def files(self):
        """{path: bytes} of everything in the board's directory."""
        out = {}
        for dirpath, _, names in os.walk(self.dir):
            for n in names:
                p = os.path.join(dirpath, n)
                with open(p, "rb") as f:
                    out[os.path.relpath(p, self.dir)] = f.read()
        return out
