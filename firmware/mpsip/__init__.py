# mpsip: a SIP user agent core for MicroPython boards and CPython hosts.
# Pure code: it never imports `machine` or `network`; hardware comes from the platform layer.
__version__ = "0.1.0"
