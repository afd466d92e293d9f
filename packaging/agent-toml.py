#!/usr/bin/env python3
"""Writes /etc/fractal-agent/agent.toml from `fractal-agent --experimental-dump-help` (stdin):
every long option the file takes, commented out at its default, with its help; the package's own
setting (socket-group = "fractal", the group it makes) left in. The keys the daemon accepts come
from the same description (FractalAgentCommand.configurationFileOptions)."""
import json
import re
import sys
import textwrap

# Options only a command line has (FractalAgentCommand.commandLineOnly).
COMMAND_LINE_ONLY = {"config", "validate", "help", "version", "generate-completion-script", "experimental-dump-help"}
# What the package sets: the sysusers group may use the API socket.
PACKAGE_SETTINGS = {"socket-group": '"fractal"'}


def toml_value(text):
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text):
        return text
    return json.dumps(text)  # a TOML basic string is a JSON string for what help prints


def comment(text, width=96):
    lines = []
    for paragraph in text.split("\n"):
        lines += textwrap.wrap(paragraph, width - 2, break_on_hyphens=False, break_long_words=False) or [""]
    return "\n".join(("# " + line).rstrip() for line in lines)


command = json.load(sys.stdin)["command"]
print("# fractal-agent's configuration (TOML), read at start; see fractal-agent(8).")
print("# One key per long option of fractal-agent. The command line wins over this file; a repeatable")
print("# option's values here and on the command line add up. Exit status 2 names a bad key or value.")
print("# Commented-out lines show the defaults.")
for argument in command.get("arguments", []):
    names = [n["name"] for n in argument.get("names", []) if n["kind"] == "long"]
    preferred = argument.get("preferredName", {})
    name = preferred["name"] if preferred.get("kind") == "long" else (names[0] if names else None)
    if name is None or name in COMMAND_LINE_ONLY or argument["kind"] not in ("option", "flag"):
        continue
    print()
    help_text = argument.get("abstract", "")
    if argument.get("discussion"):
        help_text += "\n" + argument["discussion"]
    print(comment(help_text))
    if argument["kind"] == "flag":
        line = f"{name} = false"
    elif argument.get("isRepeating"):
        line = f"{name} = [\"<{argument.get('valueName', 'value')}>\", ...]"
    elif "defaultValue" in argument:
        line = f"{name} = {toml_value(argument['defaultValue'])}"
    else:
        line = f"{name} = <{argument.get('valueName', 'value')}>  (not set)"
    if name in PACKAGE_SETTINGS:
        print(f"# Set by the package: members of the group fractal may use the API (default: root only).")
        print(f"{name} = {PACKAGE_SETTINGS[name]}")
    else:
        print("# " + line)
