#!/usr/bin/python3
"""A streaming server's side of the session socket, inside a session container.

usage: session_in_container.py inject OUT   types through the socket: Ctrl+Alt+F2, SysRq, then A
       session_in_container.py handoff OUT  takes the fds and types A by writing to the keyboard's fd

Either way a reader in this same container, blocked on the keyboard's event node, records what
arrives until A is released (or 10 s pass); OUT gets {"manifest": ..., "events": [[type, code,
value], ...], "withheld": [...]} as JSON. The socket is $FRACTAL_SESSION_SOCKET; the client
module is the repository's clients/python/fractal_session.py, bound at /client.
"""
import json
import os
import struct
import sys
import threading
import time

sys.path.insert(0, "/client")
from fractal_session import EV_KEY, EV_SYN, SYN_REPORT, Session  # noqa: E402

KEY_LEFTCTRL, KEY_LEFTALT, KEY_F2, KEY_SYSRQ, KEY_A = 29, 56, 60, 99, 30
INPUT_EVENT = struct.Struct("<qqHHi")  # struct input_event on x86_64

mode, out = sys.argv[1], sys.argv[2]
session = Session(os.environ["FRACTAL_SESSION_SOCKET"])
manifest = session.hello()
keyboard = next(d for d in manifest["devices"] if d["role"] == "keyboard")
node = next(n["path"] for n in keyboard["nodes"] if n["kind"] == "event")

events = []
reader_fd = os.open(node, os.O_RDONLY)


def read():
    deadline = time.time() + 10
    while time.time() < deadline:
        data = os.read(reader_fd, INPUT_EVENT.size * 64)
        for offset in range(0, len(data), INPUT_EVENT.size):
            _, _, kind, code, value = INPUT_EVENT.unpack_from(data, offset)
            if kind != EV_SYN:
                events.append([kind, code, value])
            if kind == EV_KEY and code == KEY_A and value == 0:
                return


reader = threading.Thread(target=read, daemon=True)
reader.start()
time.sleep(0.3)
result = {"manifest": manifest}
index = keyboard["index"]
if mode == "inject":
    for code in (KEY_LEFTCTRL, KEY_LEFTALT, KEY_F2):
        session.key(index, code, True)
    for code in (KEY_F2, KEY_LEFTALT, KEY_LEFTCTRL):
        session.key(index, code, False)
    session.tap(index, KEY_SYSRQ)
    session.tap(index, KEY_A)
    session.ping()
else:
    fd_manifest, fds = session.take_fds()
    result["withheld"] = fd_manifest["withheld"]
    position = next(i for i, a in enumerate(fd_manifest["attached"]) if a["index"] == index)
    frame = lambda code, value: INPUT_EVENT.pack(0, 0, EV_KEY, code, value) + INPUT_EVENT.pack(0, 0, EV_SYN, SYN_REPORT, 0)
    os.write(fds[position], frame(KEY_A, 1) + frame(KEY_A, 0))
reader.join(12)
result["events"] = events
with open(out, "w") as output:
    json.dump(result, output)
