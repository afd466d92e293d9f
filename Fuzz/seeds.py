#!/usr/bin/env python3
"""Writes the hand-made seed inputs of each fuzz target into DIR/<target>/ (scripts/fuzz --merge
folds them into Fuzz/corpus/ with what libFuzzer found). Seeds are what real callers send plus
every hostile case issue 10 names, so the fuzzer starts on both sides of each check."""

import hashlib
import json
import os
import re
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ID = "%%FRACTAL_ID_PLACEHOLDER%%"


def write(directory, data):
    if isinstance(data, str):
        data = data.encode()
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


# session-codec: frames as docs/SESSION-PROTOCOL.md defines them.

def frame(kind, payload=b"", flags=0):
    return struct.pack("<HHI", kind, flags, len(payload)) + payload


def events(device, items, reserved=0):
    return frame(0x0002, struct.pack("<BBH", device, reserved, len(items)) + b"".join(struct.pack("<HHi", *e) for e in items))


def session_seeds():
    manifest = json.dumps({"lease": "0123456789abcdef0123456789abcdef", "policy": "default", "devices": [
        {"index": 0, "role": "keyboard", "name": "Fractal Virtual Keyboard", "plugged": True,
         "nodes": [{"kind": "event", "path": "/dev/input/event4", "major": 13, "minor": 68}],
         "capabilities": [{"type": 1, "name": "EV_KEY", "codes": [1, 2, 30, 57]}], "axes": []},
        {"index": 1, "role": "tablet", "name": "Fractal Virtual Tablet", "plugged": False, "nodes": [],
         "capabilities": [{"type": 3, "name": "EV_ABS", "codes": [0, 1]}], "axes": [{"code": 0, "minimum": 0, "maximum": 65535}]}]}).encode()
    fds = json.dumps({"attached": [{"index": 2, "role": "gamepad"}], "withheld": [{"index": 0, "role": "keyboard", "reason": "policy"}]}).encode()
    hello = frame(0x0001, struct.pack("<HH", 1, 0))
    key_a = [(1, 30, 1), (0, 0, 0), (1, 30, 0), (0, 0, 0)]
    return [
        hello,
        hello + events(0, key_a) + frame(0x0004, struct.pack("<I", 7)) + frame(0x0003),
        hello + events(3, [(3, 0, 32767), (3, 1, -5), (0, 0, 0)]),
        events(0, key_a, reserved=1),
        events(0, [(1, 30, 1)])[:-3],
        frame(0x0002, b"\x00\x00\x05\x00"),
        frame(0x0001, struct.pack("<HHI", 1, 9, 0xDEADBEEF)),
        frame(0x0001, struct.pack("<HH", 1, 0), flags=1),
        struct.pack("<HHI", 0x0002, 0, 65537),
        struct.pack("<HHI", 0x0002, 0, 65536),
        frame(0x7777, b"abc"),
        frame(0x8001, struct.pack("<HH", 1, 0) + manifest),
        frame(0x8003, fds),
        frame(0x8004, struct.pack("<I", 7)),
        frame(0x80FF, struct.pack("<II", 16, 0) + "no such device \u00e9".encode() + b"\xff\xfe"),
        frame(0x8010, struct.pack("<BBHHH", 2, 0, 0xFFFF, 0x8000, 500)),
        frame(0x8011, struct.pack("<BBHH", 0, 0, 1, 1)),
        frame(0x0004, b""),
        # 1.1: TEXT (layout, variant, options, text), its refusals, LIGHTBAR, PLAYER_LIGHTS.
        frame(0x0001, struct.pack("<HH", 1, 1)) + text(0, "äöü€@", "de") + frame(0x0004, struct.pack("<I", 8)),
        text(2, "e\u0301 \U0001F44D\n", "fr", "bepo", "lv3:ralt_switch"),
        text(0, "", ""),
        frame(0x0005, struct.pack("<BBBB", 0, 2, 9, 0) + b"de"),
        frame(0x0005, struct.pack("<BBBB", 0, 0, 0, 0) + b"\xc3\x28"),
        frame(0x0005, struct.pack("<BBBB", 0, 0, 0, 0) + b"a" * 4097),
        frame(0x0005, b"\x00\x01"),
        frame(0x8012, struct.pack("<BBBB", 1, 255, 0, 64)),
        frame(0x8013, struct.pack("<BB", 1, 0b00100)),
        frame(0x8013, b"\x01"),
    ]


def text(device, string, layout, variant="", options=""):
    names = [layout.encode(), variant.encode(), options.encode()]
    return frame(0x0005, struct.pack("<BBBB", device, *(len(n) for n in names)) + b"".join(names) + string.encode())


# task-definition: the test fixtures, a definition that uses everything the fuzz policy allows,
# and each hostile case of issue 10.

def fixtures():
    text = open(os.path.join(ROOT, "Tests/AgentTests/TaskDefinition/Fixtures.swift")).read()
    for body in re.findall(r'static let \w+ = """\n(.*?)\n\s*"""', text, re.S):
        if "\\(" not in body:
            yield body


def task(containers, volumes=None, **extra):
    definition = {"family": "fuzz", "containerDefinitions": containers, **extra}
    if volumes is not None:
        definition["volumes"] = volumes
    return json.dumps(definition, indent=1)


def container(**fields):
    return {"name": "app", "image": "busybox", **fields}


def task_seeds():
    seeds = list(fixtures())
    session_dir = {"name": "home", "host": {"sourcePath": f"/var/lib/fractal-agent/sessions/{ID}/home"}}
    seeds.append(task(
        [container(
            mountPoints=[{"sourceVolume": "home", "containerPath": "/home/user"},
                         {"sourceVolume": "shared", "containerPath": "/shared", "readOnly": True},
                         {"sourceVolume": "cache", "containerPath": "/cache"}],
            linuxParameters={"capabilities": {"add": ["SYS_PTRACE", "CHOWN"], "drop": ["NET_RAW"]},
                             "devices": [{"hostPath": "/dev/dri/renderD128", "permissions": ["read", "write"]}],
                             "tmpfs": [{"containerPath": "/run", "size": 64}], "initProcessEnabled": True},
            systemControls=[{"namespace": "net.ipv4.tcp_syncookies", "value": "1"}],
            ulimits=[{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}, {"name": "core", "softLimit": 0, "hardLimit": 0}],
            dockerSecurityOptions=["no-new-privileges"],
            dockerLabels={"fractal.devices": "keyboard,mouse", "fractal.hotplug": "gamepad",
                          "fractal.input-policy": "gamepad-only", "fractal.session-dir": "/run/fractal"},
            logConfiguration={"logDriver": "json-file", "options": {"max-size": "10m"}}),
         container(name="side", dockerLabels={"fractal.devices": "tablet"})],
        [session_dir, {"name": "shared", "host": {"sourcePath": "/srv/fractal-shared/assets"}},
         {"name": "cache", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}],
        networkMode="bridge"))
    for source in ["/", "/var/run/docker.sock", "/run/fractal-agent", "/var/lib/fractal-agent/sessions",
                   "/srv/fractal-shared/../../etc", "//srv/fractal-shared", f"/var/lib/fractal-agent/sessions/{ID}/../x",
                   f"/var/lib/fractal-agent/sessions/x{ID}", f"relative/{ID}", f"/tmp/{ID}"]:
        seeds.append(task([container(mountPoints=[{"sourceVolume": "v", "containerPath": "/v"}])],
                          [{"name": "v", "host": {"sourcePath": source}}]))
    for capability in ["ALL", "SYS_MODULE", "CAP_SYS_ADMIN", "sys_admin", "cap_sys_ptrace"]:
        seeds.append(task([container(linuxParameters={"capabilities": {"add": [capability]}})]))
    for option in ["seccomp=unconfined", "apparmor=unconfined", "label=disable", "no-new-privileges:false"]:
        seeds.append(task([container(dockerSecurityOptions=[option])]))
    seeds.append(task([container()], pidMode="host"))
    seeds.append(task([container()], ipcMode="host"))
    seeds.append(task([container(privileged=True)]))
    seeds.append(task([container(dockerLabels={"fractal.hotplug": "gamepad"})], networkMode="host"))
    for volume in [{"scope": "task", "driver": "local", "driverOpts": {"type": "none", "o": "bind", "device": "/"}},
                   {"scope": "shared", "autoprovision": True}, {"scope": "shared"}, {"driver": "nfs"}]:
        seeds.append(task([container(mountPoints=[{"sourceVolume": "v", "containerPath": "/v"}])],
                          [{"name": "v", "dockerVolumeConfiguration": volume}]))
    for device in ["/dev/input/event0", "/dev//input", "//dev/input", "/dev//uinput", "/dev/./uinput",
                   "/dev/../dev/input", "/dev/uinput", "/dev/dri/../input/event3", "/dev/mem"]:
        seeds.append(task([container(linuxParameters={"devices": [{"hostPath": device, "containerPath": "/dev/x"}]})]))
    for name, value in [("kernel.sysrq", "1"), ("net.ipv4.ip_forward", "1"), ("net.ipv4.tcp_syncookies", "1")]:
        seeds.append(task([container(systemControls=[{"namespace": name, "value": value}])], networkMode="host"))
    for name, soft, hard in [("nice", 0, 0), ("memlock", -1, -1), ("nofile", 2_000_000, 2_000_000), ("rtprio", 99, 99)]:
        seeds.append(task([container(ulimits=[{"name": name, "softLimit": soft, "hardLimit": hard}])]))
    seeds.append(task([container(environment=[{"name": "X", "value": ID}])]))
    seeds.append(task([container(logConfiguration={"logDriver": "syslog", "options": {"syslog-address": "unix:///run/fractal-agent/agent.sock"}})]))
    seeds.append(json.dumps({"taskDefinition": json.loads(task([container()]))}))
    return seeds


# api-bodies: what devicectl sends, and malformed variants.

def api_seeds():
    template = f"/tmp/{ID}"
    return [json.dumps(body) for body in [
        {"devices": ["keyboard", "mouse", "tablet"], "owner": "devicectl uid=0"},
        {"id": "ec9b986d4d3e1c9f72b22dc425522e1e", "devices": ["gamepad"], "hotplug": ["gamepad", "touchscreen"],
         "policy": "gamepad-only", "note": "player 2"},
        {"directories": [{"template": template, "mode": "0750", "owner": 1000, "group": 1000,
                          "mount": {"type": "tmpfs", "sizeBytes": 67108864}, "readOnly": True, "noExec": True, "keep": True}]},
        {"directories": [{"template": template, "mode": 488, "mount": {"type": "bind", "source": f"/srv/{ID}"}, "noSuid": False, "noDev": False}]},
        {"directories": [{"template": "/tmp/x", "mount": {"type": "none"}}, {"template": f"/tmp/../{ID}"}, {"template": f"/tmp/a,b/{ID}"}]},
        {"directories": [{"template": template, "mode": "07777", "mount": {"type": "tmpfs", "sizeBytes": 0}}]},
        {"id": "EC9B986D4D3E1C9F72B22DC425522E1E", "policy": "trusted"},
        {"role": "gamepad"},
        {"role": "keyboard", "events": [{"type": 1, "code": 30, "value": 1}, {"type": 0, "code": 0, "value": 0},
                                        {"type": 65535, "code": 65535, "value": -2147483648}]},
    ]] + ["ec9b986d4d3e1c9f72b22dc425522e1e", "[]", "null", '{"devices": "keyboard"}']


def main():
    out = sys.argv[1]
    for name, seeds in [("session-codec", session_seeds()), ("task-definition", task_seeds()), ("api-bodies", api_seeds())]:
        for seed in seeds:
            write(os.path.join(out, name), seed)


if __name__ == "__main__":
    main()
