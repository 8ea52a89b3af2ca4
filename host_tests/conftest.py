"""pytest glue: the CASES convention shared with mprun.py (MicroPython runner)."""


def pytest_generate_tests(metafunc):
    cases = getattr(metafunc.module, "CASES", {}).get(metafunc.function.__name__)
    if cases is not None:
        metafunc.parametrize("case", cases, ids=[str(c) for c in cases])
