#!/usr/bin/env python3
"""Builds the libFuzzer targets (scripts/fuzz calls this; see Fuzz/README.md).

Only our own Swift modules are compiled again, with coverage and AddressSanitizer: the modules a
target fuzzes (their whole source lists, so new files are picked up) and the harness. Everything
they depend on (GRDB, NIO, AsyncHTTPClient, the C targets) is linked from the debug build that
`swift build` already made, uninstrumented: libFuzzer only needs to see our code's branches, and
building those packages again with sanitizers would take longer than every fuzz run together.
The compile and link commands are SwiftPM's own, read from .build/debug.yaml, so include paths,
module maps, generated sources and system libraries stay exactly what the package says.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANITIZE = ["-sanitize=fuzzer", "-sanitize=address",
            # -sanitize=fuzzer alone does not instrument code compiled with -c: ask for libFuzzer's coverage.
            "-sanitize-coverage=edge,indirect-calls,trace-cmp,inline-8bit-counters,pc-table"]
OPTIMIZE = ["-O", "-wmo", "-gline-tables-only", "-swift-version", "6"]

# Each target: its harness, the modules it fuzzes (in dependency order), and whether they need
# other packages' code linked from the debug build.
TARGETS = {
    "session-codec": ("Fuzz/SessionCodec.swift", ["FractalSessionProtocol"], False),
    "task-definition": ("Fuzz/TaskDefinition.swift", ["FractalSystem", "DeviceManager", "FractalAPI", "Agent"], True),
    "api-bodies": ("Fuzz/APIBodies.swift", ["FractalSystem", "DeviceManager", "FractalAPI", "Agent"], True),
}
# The debug product whose link line holds every dependency of the modules above.
LINK_PRODUCT = "fractal-agent"


def fail(message):
    sys.exit(f"fuzz build: {message}")


def manifest(scratch):
    """The shell commands of SwiftPM's debug build, by name: args and inputs."""
    path = os.path.join(scratch, "debug.yaml")
    if not os.path.exists(path):
        fail(f"{path} is missing: run `swift build` first")
    commands, name = {}, None
    with open(path) as f:
        for line in f:
            if line.startswith('  "') and line.rstrip().endswith('":'):
                name = json.loads(line.strip()[:-1])
            elif name and line.startswith("    args: "):
                commands.setdefault(name, {})["args"] = json.loads(line[len("    args: "):])
            elif name and line.startswith("    inputs: "):
                commands.setdefault(name, {})["inputs"] = json.loads(line[len("    inputs: "):])
    return commands


def command(commands, target, kind="module"):
    """SwiftPM's command that builds `target` (kind `module`) or links it (`exe`), for any triple."""
    found = [c for n, c in commands.items()
             if n.startswith(f"C.{target}-") and n.endswith(f"-debug.{kind}") and "args" in c]
    if len(found) != 1:
        fail(f"expected one SwiftPM command for {target} ({kind}) in .build/debug.yaml, found {len(found)}")
    return found[0]


def compile_args(commands, module, out):
    """SwiftPM's debug compile of `module`, made a whole-module optimised, instrumented build in `out`."""
    args = command(commands, module)["args"]
    drop = {"-emit-dependencies", "-incremental", "-enable-batch-mode", "-serialize-diagnostics", "-parseable-output",
            "-enable-testing", "-Onone", "-g", "-emit-objc-header", "-DDEBUG", "-emit-module", "-c"}
    drop_with_value = {"-output-file-map", "-index-store-path", "-emit-objc-header-path", "-emit-module-path",
                       "-module-cache-path", "-swift-version"}
    result, index = [args[0]], 1
    while index < len(args):
        arg = args[index]
        if arg in drop_with_value:
            index += 2
            continue
        if arg == "-Xcc":
            result += args[index:index + 2]
            index += 2
            continue
        index += 1
        if arg in drop or re.fullmatch(r"-j\d+", arg):
            continue
        if arg == "-I" and index < len(args) and args[index].endswith("/Modules"):
            # Our instrumented modules come first, so `import DeviceManager` finds this build's.
            result += ["-I", os.path.join(out, "Modules")]
        result.append(arg)
    return result + OPTIMIZE + SANITIZE + [
        "-emit-module", "-emit-module-path", os.path.join(out, "Modules", f"{module}.swiftmodule"),
        "-module-cache-path", os.path.join(out, "ModuleCache"),
        "-c", "-o", os.path.join(out, f"{module}.o")]


def first_party_swift_modules():
    modules = set()
    for base in ("Sources", "Tests", "bench/Sources"):
        for name in os.listdir(os.path.join(ROOT, base)):
            directory = os.path.join(ROOT, base, name)
            for _, _, files in os.walk(directory):
                if any(f.endswith(".swift") for f in files):
                    # SwiftPM names an executable's module with '_' for '-' (fractal_agent.build).
                    modules.update({name, name.replace("-", "_")})
                    break
    return modules


def link_args(commands):
    """SwiftPM's link of LINK_PRODUCT, less its own entry point and every first-party Swift module."""
    link = command(commands, LINK_PRODUCT, "exe")
    ours = first_party_swift_modules()
    objects = [path for path in link["inputs"] if path.endswith(".o")
               and os.path.basename(os.path.dirname(path))[:-len(".build")] not in ours]
    args, flags, index = link["args"], [], 1
    while index < len(args):
        arg = args[index]
        if arg in ("-o", "-module-name"):
            index += 2
            continue
        if arg == "-Xlinker" and index + 1 < len(args) and args[index + 1] in ("--defsym", "-rpath=$ORIGIN"):
            index += 4 if args[index + 1] == "--defsym" else 2
            continue
        index += 1
        if arg.startswith("@") or arg in ("-emit-executable", "-g"):
            continue
        flags.append(arg)
    return flags, objects


def run(args, label):
    start = time.monotonic()
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    # Keep the compiler's errors; drop ld.gold's notes about ASan's local symbols.
    output = "\n".join(line for line in (result.stdout + result.stderr).splitlines()
                       if "Cannot export local symbol" not in line)
    if result.returncode != 0:
        fail(f"{label} failed:\n{output}")
    if "warning:" in output:
        print(output, file=sys.stderr)
    return time.monotonic() - start


def fingerprint(args, inputs):
    """The command, the sources it reads and the files it depends on, so an unchanged step is skipped."""
    digest = hashlib.sha256("\0".join(args).encode())
    sources = [a for a in args if a.endswith(".swift")]
    for arg in args:
        if arg.startswith("@") and os.path.exists(arg[1:]):
            with open(arg[1:]) as f:
                sources += f.read().split()
    for path in sources:
        with open(path if os.path.isabs(path) else os.path.join(ROOT, path), "rb") as f:
            digest.update(f.read())
    for path in inputs:
        info = os.stat(path)
        digest.update(f"{path} {info.st_size} {info.st_mtime_ns}".encode())
    return digest.hexdigest()


def build_step(args, inputs, output, label, timings, force):
    """Runs `args` unless `output` was made by the same command from the same files; says whether it ran."""
    stamp = output + ".stamp"
    key = fingerprint(args, inputs)
    if not force and os.path.exists(output) and os.path.exists(stamp):
        with open(stamp) as f:
            if f.read() == key:
                return False
    seconds = run(args, label)
    timings.append((label, seconds))
    with open(stamp, "w") as f:
        f.write(key)
    return True


def main():
    out = os.path.join(ROOT, ".build-fuzz")
    targets = sys.argv[1:] or list(TARGETS)
    for target in targets:
        if target not in TARGETS:
            fail(f"unknown target {target}; known: {', '.join(TARGETS)}")
    os.makedirs(os.path.join(out, "Modules"), exist_ok=True)
    os.makedirs(os.path.join(out, "bin"), exist_ok=True)
    commands = manifest(os.path.join(ROOT, ".build"))
    timings = []
    rebuilt = {}
    link_flags, link_objects = None, None
    for target in targets:
        harness, modules, dependencies = TARGETS[target]
        for position, module in enumerate(modules):
            if module in rebuilt:
                continue
            own_inputs = command(commands, module).get("inputs", [])
            # A module is compiled again when it changed or a module it imports was.
            rebuilt[module] = build_step(
                compile_args(commands, module, out), [p for p in own_inputs if p.endswith(".swiftmodule")],
                os.path.join(out, f"{module}.o"), f"compile {module}", timings,
                force=any(rebuilt[m] for m in modules[:position]))
        own = [os.path.join(out, f"{module}.o") for module in modules]
        args = [command(commands, modules[-1])["args"][0],
                "-parse-as-library", "-module-name", "Fuzz" + "".join(p.title() for p in target.split("-"))]
        args += ["-I", os.path.join(out, "Modules")] + OPTIMIZE + SANITIZE + ["-use-ld=lld"]
        objects = list(own)
        if dependencies:
            if link_flags is None:
                link_flags, link_objects = link_args(commands)
            # The C modules' maps and headers, as the modules were compiled with.
            compile = compile_args(commands, modules[-1], out)
            args += [a for i, a in enumerate(compile) if a == "-Xcc" or (i > 0 and compile[i - 1] == "-Xcc")]
            args += ["-I", os.path.join(ROOT, ".build", "debug", "Modules")] + link_flags
            args += [a for a in compile if a.startswith("-I/")]
            objects += link_objects
        args += objects + [os.path.join(ROOT, harness), "-o", os.path.join(out, "bin", target)]
        build_step(args, objects, os.path.join(out, "bin", target), f"link {target}", timings,
                   force=any(rebuilt[m] for m in modules))
    for label, seconds in timings:
        print(f"fuzz build: {label}: {seconds:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
