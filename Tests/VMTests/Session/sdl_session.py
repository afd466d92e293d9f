#!/usr/bin/python3
"""SDL2 inside a session container, as a game sees input (Debian's libsdl2 through python3-sdl2).

usage: sdl_session.py list
         prints one JSON line per joystick SDL enumerates (through libudev and /run/udev)
       sdl_session.py watch FILE SECONDS
         appends JSON lines to FILE: {"event": "ready"} once SDL is up, then
         {"event": "added", "path": ..., "gameController": ...} and {"event": "removed"} as SDL
         reports controllers connecting and disconnecting (libudev monitor events)
"""
import ctypes
import json
import sys
import time

import sdl2

# SDL_JoystickPathForIndex (SDL 2.24+) is not in every python3-sdl2; call it directly.
_path_for_index = ctypes.CDLL("libSDL2-2.0.so.0").SDL_JoystickPathForIndex
_path_for_index.restype = ctypes.c_char_p
_path_for_index.argtypes = [ctypes.c_int]


def describe(index):
    controller = bool(sdl2.SDL_IsGameController(index))
    return {
        "name": (sdl2.SDL_JoystickNameForIndex(index) or b"").decode(),
        "path": (_path_for_index(index) or b"").decode(),
        "gameController": controller,
    }


if sdl2.SDL_Init(sdl2.SDL_INIT_GAMECONTROLLER | sdl2.SDL_INIT_JOYSTICK) != 0:
    print(json.dumps({"error": sdl2.SDL_GetError().decode()}))
    sys.exit(2)

if sys.argv[1] == "list":
    sdl2.SDL_PumpEvents()
    for index in range(sdl2.SDL_NumJoysticks()):
        print(json.dumps(describe(index)))
    sys.exit(0)

path, seconds = sys.argv[2], float(sys.argv[3])


def record(entry):
    with open(path, "a") as output:
        output.write(json.dumps(entry) + "\n")


record({"event": "ready", "joysticks": [describe(i) for i in range(sdl2.SDL_NumJoysticks())]})
event = sdl2.SDL_Event()
deadline = time.time() + seconds
while time.time() < deadline:
    while sdl2.SDL_PollEvent(ctypes.byref(event)):
        if event.type == sdl2.SDL_CONTROLLERDEVICEADDED:
            record(dict(event="added", **describe(event.cdevice.which)))
        elif event.type == sdl2.SDL_CONTROLLERDEVICEREMOVED:
            record({"event": "removed"})
    time.sleep(0.02)
sdl2.SDL_Quit()
