# Flash, deploy and provision boards (docs/deploy.md). Included by the Makefile; also runs
# on its own: make -f mk/deploy.mk deploy BOARD=... PORT=...
#
#   make flash  BOARD=esp32-devkitc PORT=/dev/ttyUSB0 FIRMWARE=ESP32_GENERIC-20260101-v1.29.0.bin
#   make deploy BOARD=esp32-devkitc PORT=/dev/ttyUSB0 [CONFIG=my-config.json] [ROMFS=1]
#   make config PORT=/dev/ttyUSB0 CONFIG=my-config.json
#   make repl   PORT=/dev/ttyUSB0
#   make logs   PORT=/dev/ttyUSB0
#
# BOARD is a boards/ entry (with CONFIG given, the config's "board" key is used when BOARD is
# not); FIRMWARE_DIR is the tree deploy compiles (default firmware/), DEPLOY_BUILD where
# (default build/deploy/<board>). ROMFS=1 writes the compiled modules as one image to the board's
# ROMFS partition (needs a MicroPython built with MICROPY_VFS_ROM and a romfs partition: see
# docs/deploy.md) and keeps only main.py, boot.py and the config on the filesystem.
DEPLOY_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
BOARD ?=
PORT ?=
CONFIG ?=
FIRMWARE ?=
FIRMWARE_DIR ?= $(DEPLOY_ROOT)/firmware
DEPLOY_BUILD ?=
ROMFS ?=
DEPLOY_PY ?= $(DEPLOY_ROOT)/.venv/bin/python
DEPLOY := $(DEPLOY_PY) $(DEPLOY_ROOT)/tools/deploy.py
# The Makefile's venv stamp, when this is included after it (installs esptool and mpremote).
DEPLOY_DEPS := $(STAMP)

.PHONY: flash deploy config repl logs package-json

flash: $(DEPLOY_DEPS)
	$(DEPLOY) flash --board "$(BOARD)" --port "$(PORT)" --firmware "$(FIRMWARE)"

deploy: $(DEPLOY_DEPS)
	$(DEPLOY) deploy --board "$(BOARD)" --port "$(PORT)" --config "$(CONFIG)" --src "$(FIRMWARE_DIR)" --build "$(DEPLOY_BUILD)" \
		$(if $(filter 1 yes true,$(ROMFS)),--romfs)

config: $(DEPLOY_DEPS)
	$(DEPLOY) config --board "$(BOARD)" --port "$(PORT)" --config "$(CONFIG)"

repl: $(DEPLOY_DEPS)
	$(DEPLOY) repl --port "$(PORT)"

logs: $(DEPLOY_DEPS)
	$(DEPLOY) logs --board "$(BOARD)" --port "$(PORT)"

# package.json (mpremote mip install github:<owner>/<repo>) lists firmware/mpsip: regenerate
# it when a module is added or removed (a test fails until then).
package-json: $(DEPLOY_DEPS)
	$(DEPLOY) package-json
