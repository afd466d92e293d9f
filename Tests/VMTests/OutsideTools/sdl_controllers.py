#!/usr/bin/python3
"""Lists what SDL2 (Debian's libsdl2 through python3-sdl2) sees, as a game would, as JSON lines.

usage: sdl_controllers.py NODE [--rumble STRONG WEAK]
Waits up to 20 s for the joystick on event node NODE; with --rumble, opens it as a game
controller and plays a rumble of the given magnitudes (0-65535) for 1 s. SDL names known pads
by their USB IDs ("Xbox One S Controller"), so the node, not the name, says which is ours.
"""
import ctypes
import json
import sys
import time

import sdl2

node = sys.argv[1].encode()
# SDL_JoystickPathForIndex (SDL 2.24+) is not in every python3-sdl2; call it directly.
_path_for_index = ctypes.CDLL("libSDL2-2.0.so.0").SDL_JoystickPathForIndex
_path_for_index.restype = ctypes.c_char_p
_path_for_index.argtypes = [ctypes.c_int]
rumble = None
if len(sys.argv) == 5 and sys.argv[2] == "--rumble":
    rumble = (int(sys.argv[3]), int(sys.argv[4]))

if sdl2.SDL_Init(sdl2.SDL_INIT_GAMECONTROLLER | sdl2.SDL_INIT_JOYSTICK) != 0:
    print(json.dumps({"error": sdl2.SDL_GetError().decode()}))
    sys.exit(2)

found = []
deadline = time.time() + 20
while time.time() < deadline:
    sdl2.SDL_PumpEvents()
    found = [i for i in range(sdl2.SDL_NumJoysticks()) if _path_for_index(i) == node]
    if found:
        break
    time.sleep(0.1)

for i in range(sdl2.SDL_NumJoysticks()):
    controller = bool(sdl2.SDL_IsGameController(i))
    print(json.dumps({
        "index": i,
        "name": (sdl2.SDL_JoystickNameForIndex(i) or b"").decode(),
        "path": (_path_for_index(i) or b"").decode(),
        "gameController": controller,
        "controllerName": (sdl2.SDL_GameControllerNameForIndex(i) or b"").decode() if controller else None,
    }))

status = 0 if found else 1
if found and rumble is not None:
    controller = sdl2.SDL_GameControllerOpen(found[0])
    if not controller:
        print(json.dumps({"error": "SDL_GameControllerOpen: " + sdl2.SDL_GetError().decode()}))
        sys.exit(3)
    result = sdl2.SDL_GameControllerRumble(controller, rumble[0], rumble[1], 1000)
    print(json.dumps({"rumble": result, "error": sdl2.SDL_GetError().decode() if result else None}))
    time.sleep(0.5)
    sdl2.SDL_GameControllerClose(controller)
    status = 0 if result == 0 else 4
sdl2.SDL_Quit()
sys.exit(status)
