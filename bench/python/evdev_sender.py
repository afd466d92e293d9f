#!/usr/bin/python3
"""python3-evdev's UInput.write, timed from inside Python, for fractal-bench.

Creates its own uinput device like fractal-agent's tablet (same capabilities, a name of its own),
sends the pointer frames fractal-bench sends (ABS_X, ABS_Y, MSC_SCAN frame number, SYN_REPORT),
one UInput.write per event, and prints JSON on stdout.

  evdev_sender.py throughput EVENTS ROUNDS
      {"ns_per_event": [per round]}
  evdev_sender.py latency FRAMES GAP_NS
      {"node": "/dev/input/eventN"}, then waits for one byte on stdin ("go"), then per frame:
      stamp CLOCK_MONOTONIC, write the frame, wait for one byte on stdin (the reader's
      acknowledgement) and GAP_NS; ends with frame -1 and prints {"sent_ns": [...]}.
"""
import json
import os
import subprocess
import sys
import time

from evdev import AbsInfo, UInput, ecodes as e


def make_device():
    capabilities = {
        e.EV_KEY: [e.BTN_LEFT, e.BTN_RIGHT, e.BTN_MIDDLE],
        e.EV_REL: [e.REL_WHEEL, e.REL_HWHEEL],
        e.EV_MSC: [e.MSC_SCAN],
        e.EV_ABS: [
            (e.ABS_X, AbsInfo(value=0, min=0, max=65535, fuzz=0, flat=0, resolution=100)),
            (e.ABS_Y, AbsInfo(value=0, min=0, max=65535, fuzz=0, flat=0, resolution=100)),
        ],
    }
    device = UInput(capabilities, name="fractal-bench python3-evdev tablet", bustype=e.BUS_VIRTUAL,
                    vendor=0, product=3, version=1, phys="fractal-bench/python")
    if device.device is None:
        raise SystemExit("python3-evdev found no event node for its device")
    node = device.device.path
    # UInput opens the event node itself; close it so that, as for the other paths, no reader is
    # attached while throughput is measured.
    device.device.close()
    device.device = None
    # udevd probes a new device (it opens the node); let it finish before timing anything.
    subprocess.run(["/usr/bin/udevadm", "settle", "--timeout=30"], check=False)
    return device, node


def frames(count):
    return [(number & 0xFFFF, (number * 3) & 0xFFFF, number) for number in range(count)]


def throughput(events, rounds):
    device, _ = make_device()
    write, syn = device.write, device.syn
    EV_ABS, ABS_X, ABS_Y, EV_MSC, MSC_SCAN = e.EV_ABS, e.ABS_X, e.ABS_Y, e.EV_MSC, e.MSC_SCAN
    planned = frames(events // 4)
    results = []
    for _ in range(rounds):
        start = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        for x, y, number in planned:
            write(EV_ABS, ABS_X, x)
            write(EV_ABS, ABS_Y, y)
            write(EV_MSC, MSC_SCAN, number)
            syn()
        elapsed = time.clock_gettime_ns(time.CLOCK_MONOTONIC) - start
        results.append(elapsed / (len(planned) * 4))
    device.close()
    print(json.dumps({"ns_per_event": results}), flush=True)


def latency(count, gap_ns):
    device, node = make_device()
    print(json.dumps({"node": node}), flush=True)
    if os.read(0, 1) == b"":
        raise SystemExit("stdin closed before go")
    write, syn = device.write, device.syn
    sent = []
    for x, y, number in frames(count):
        stamp = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        write(e.EV_ABS, e.ABS_X, x)
        write(e.EV_ABS, e.ABS_Y, y)
        write(e.EV_MSC, e.MSC_SCAN, number)
        syn()
        sent.append(stamp)
        if os.read(0, 1) == b"":
            break
        time.sleep(gap_ns / 1e9)
    write(e.EV_MSC, e.MSC_SCAN, -1)
    syn()
    print(json.dumps({"sent_ns": sent}), flush=True)
    device.close()


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "throughput":
        throughput(int(sys.argv[2]), int(sys.argv[3]))
    elif mode == "latency":
        latency(int(sys.argv[2]), int(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode}")
