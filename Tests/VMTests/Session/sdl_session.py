#!/usr/bin/python3
"""SDL2 inside a session container, as a game sees input (Debian's libsdl2 through python3-sdl2).

usage: sdl_session.py list
         prints one JSON line per joystick SDL enumerates (through libudev and /run/udev)
       sdl_session.py pads FILE
         appends one JSON line per game controller to FILE: its path, SDL's controller type,
         touchpads, sensors and LED, and the results of a lightbar colour of 16/32/48 and a
         rumble of 0xC000/0x4000 played on it (0, or -1 where SDL cannot: through evdev, the LED)
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
        "player": sdl2.SDL_JoystickGetDevicePlayerIndex(index),
    }


if sdl2.SDL_Init(sdl2.SDL_INIT_GAMECONTROLLER | sdl2.SDL_INIT_JOYSTICK) != 0:
    print(json.dumps({"error": sdl2.SDL_GetError().decode()}))
    sys.exit(2)

if sys.argv[1] == "list":
    sdl2.SDL_PumpEvents()
    for index in range(sdl2.SDL_NumJoysticks()):
        print(json.dumps(describe(index)))
    sys.exit(0)

if sys.argv[1] == "pads":
    sdl2.SDL_PumpEvents()
    with open(sys.argv[2], "a") as output:
        for index in range(sdl2.SDL_NumJoysticks()):
            if not sdl2.SDL_IsGameController(index):
                continue
            entry = describe(index)
            entry["type"] = sdl2.SDL_GameControllerTypeForIndex(index)
            controller = sdl2.SDL_GameControllerOpen(index)
            if controller:
                entry["touchpads"] = sdl2.SDL_GameControllerGetNumTouchpads(controller)
                entry["gyro"] = bool(sdl2.SDL_GameControllerHasSensor(controller, sdl2.SDL_SENSOR_GYRO))
                entry["accelerometer"] = bool(sdl2.SDL_GameControllerHasSensor(controller, sdl2.SDL_SENSOR_ACCEL))
                entry["led"] = sdl2.SDL_GameControllerHasLED(controller) == sdl2.SDL_TRUE
                entry["setLED"] = sdl2.SDL_GameControllerSetLED(controller, 16, 32, 48)
                entry["rumble"] = sdl2.SDL_GameControllerRumble(controller, 0xC000, 0x4000, 2000)
            output.write(json.dumps(entry) + "\n")
            output.flush()
        # The rumbles play while SDL holds the controllers open. SDL's HIDAPI drivers send
        # effects as they read the pads' reports (a Bluetooth DualSense's lightbar waits for one).
        deadline = time.time() + 1.0
        while time.time() < deadline:
            sdl2.SDL_GameControllerUpdate()
            time.sleep(0.02)
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
