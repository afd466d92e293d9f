#!/usr/bin/env python3
"""Reference client for fractal-agent's session socket, wire format v1.1 (docs/SESSION-PROTOCOL.md).

Standard library only (struct, socket; socket.recv_fds needs Python 3.9). As a module:

    from fractal_session import Session, EV_KEY, EV_SYN
    with Session("/run/fractal/input.sock") as session:
        manifest = session.hello()
        session.tap(0, 30)            # KEY_A on device 0
        session.type_text(0, "Grüße", layout="de")
        session.ping()                # returns once the daemon has written everything before it
        attached, fds = session.take_fds()

As a command:

    fractal_session.py SOCKET hello
    fractal_session.py SOCKET tap DEVICE CODE [CODE...]
    fractal_session.py SOCKET events DEVICE TYPE:CODE:VALUE [...]
    fractal_session.py SOCKET text DEVICE TEXT [LAYOUT [VARIANT]]
    fractal_session.py SOCKET fds
"""
import json
import select
import socket
import struct
import sys

VERSION_MAJOR, VERSION_MINOR = 1, 1
HEADER = struct.Struct("<HHI")  # type, flags (0), payload length
EVENT = struct.Struct("<HHi")  # type, code, value
MAX_PAYLOAD = 65536
MAX_EVENTS_PER_FRAME = (MAX_PAYLOAD - 4) // EVENT.size
MAX_TEXT_BYTES = 4096

HELLO, EVENTS, GET_FDS, PING, TEXT = 0x0001, 0x0002, 0x0003, 0x0004, 0x0005
WELCOME, FDS, PONG, RUMBLE, LED, ERROR = 0x8001, 0x8003, 0x8004, 0x8010, 0x8011, 0x80FF
LIGHTBAR, PLAYER_LIGHTS = 0x8012, 0x8013

EV_SYN, EV_KEY, EV_REL, EV_ABS = 0x00, 0x01, 0x02, 0x03
SYN_REPORT = 0

ERROR_NAMES = {
    1: "malformed-header", 2: "unknown-type", 3: "payload-too-large", 4: "bad-payload",
    5: "version-mismatch", 6: "hello-required", 7: "too-many-connections", 8: "lease-released",
    9: "lease-changed", 10: "hello-timeout", 11: "idle-timeout", 16: "no-such-device", 17: "device-refused", 18: "capability-refused",
    19: "filtered", 20: "write-failed", 21: "fds-unavailable", 22: "busy", 23: "bad-layout", 24: "untypable",
}


class SessionError(Exception):
    """An ERROR from the daemon (`code` below 16 closes the connection), or a broken stream."""

    def __init__(self, code, message):
        super().__init__("%s (%d): %s" % (ERROR_NAMES.get(code, "error"), code, message))
        self.code = code
        self.message = message

    @property
    def fatal(self):
        return self.code < 16


class Session:
    """One connection to a lease's session socket. Not thread-safe."""

    def __init__(self, path, timeout=10.0):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self._buffer = b""
        self._fds = []
        self._inbox = []  # (type, payload) not yet taken, in order
        self._token = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for fd in self._fds:
            _close_quietly(fd)
        self._fds = []
        self.sock.close()

    # Requests

    def hello(self):
        """Says HELLO; returns the manifest (lease, policy, devices in index order)."""
        self._send(HELLO, struct.pack("<HH", VERSION_MAJOR, VERSION_MINOR))
        payload = self._wait(lambda t, p: t == WELCOME)
        major, _minor = struct.unpack_from("<HH", payload)
        if major != VERSION_MAJOR:
            raise SessionError(5, "the daemon speaks major version %d" % major)
        return json.loads(payload[4:].decode("utf-8"))

    def send_events(self, device, events):
        """Sends (type, code, value) events for the device at `device`; each frame of at most
        8191 events is written to the device with one write(2). End frames with SYN_REPORT."""
        events = list(events)
        data = b""
        for start in range(0, max(len(events), 1), MAX_EVENTS_PER_FRAME):
            chunk = events[start:start + MAX_EVENTS_PER_FRAME]
            payload = struct.pack("<BBH", device, 0, len(chunk)) + b"".join(EVENT.pack(*e) for e in chunk)
            data += HEADER.pack(EVENTS, 0, len(payload)) + payload
        self.sock.sendall(data)

    def key(self, device, code, pressed):
        """A key or button down (or up), with SYN_REPORT, in one batch."""
        self.send_events(device, [(EV_KEY, code, 1 if pressed else 0), (EV_SYN, SYN_REPORT, 0)])

    def tap(self, device, code):
        self.send_events(device, [(EV_KEY, code, 1), (EV_SYN, SYN_REPORT, 0), (EV_KEY, code, 0), (EV_SYN, SYN_REPORT, 0)])

    def type_text(self, device, text, layout="", variant="", options=""):
        """Types `text` on the keyboard at `device` as the XKB layout (empty: us) types it; the
        daemon picks keys and modifiers. Characters the layout cannot type, or a layout that
        does not compile, come back as ("error", 24 or 23, ...) and nothing is typed. Frames
        sent after it wait until it is typed; ping() returns then."""
        data = text.encode("utf-8")
        if len(data) > MAX_TEXT_BYTES:
            raise ValueError("text is %d bytes of UTF-8; at most %d a frame" % (len(data), MAX_TEXT_BYTES))
        names = [name.encode("ascii") for name in (layout, variant, options)]
        self._send(TEXT, struct.pack("<BBBB", device, *(len(name) for name in names)) + b"".join(names) + data)

    def ping(self):
        """Returns once the daemon has handled (written) every frame sent before."""
        self._token = (self._token + 1) & 0xFFFFFFFF
        token = self._token
        self._send(PING, struct.pack("<I", token))
        self._wait(lambda t, p: t == PONG and struct.unpack_from("<I", p)[0] == token)

    def take_fds(self):
        """Asks for the uinput fds; returns (manifest, fds): manifest["attached"][i] is fds[i],
        manifest["withheld"] says which were kept back and why. The fds are the caller's to
        close. Write events to them; never read from them (the daemon serves force feedback)."""
        self._send(GET_FDS, b"")
        payload = self._wait(lambda t, p: t == FDS)
        manifest = json.loads(payload.decode("utf-8"))
        fds, self._fds = self._fds, []
        if len(fds) != len(manifest["attached"]):
            for fd in fds:
                _close_quietly(fd)
            raise SessionError(4, "%d devices listed, %d fds received" % (len(manifest["attached"]), len(fds)))
        return manifest, fds

    def next_notification(self, timeout=None):
        """The next ("rumble", device, strong, weak, duration_ms), ("led", device, code, on),
        ("lightbar", device, red, green, blue), ("player-lights", device, mask) or
        ("error", code, message), or None after `timeout` seconds."""
        kinds = (RUMBLE, LED, LIGHTBAR, PLAYER_LIGHTS, ERROR)
        try:
            for index, (kind, payload) in enumerate(self._inbox):
                if kind in kinds:
                    del self._inbox[index]
                    return _notification(kind, payload)
            kind_payload = self._wait(lambda t, p: t in kinds, timeout=timeout, whole=True)
        except TimeoutError:
            return None
        return _notification(*kind_payload)

    # The stream

    def _send(self, kind, payload):
        self.sock.sendall(HEADER.pack(kind, 0, len(payload)) + payload)

    def _wait(self, wanted, timeout=-1, whole=False):
        timeout = self.timeout if timeout == -1 else timeout
        while True:
            for index, (kind, payload) in enumerate(self._inbox):
                if wanted(kind, payload):
                    del self._inbox[index]
                    return (kind, payload) if whole else payload
                if kind == ERROR:
                    code, _ = struct.unpack_from("<II", payload)
                    if code < 16:
                        raise SessionError(code, payload[8:].decode("utf-8", "replace"))
            self._read(timeout)

    def _read(self, timeout):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            raise TimeoutError("no answer from %s within %s s" % (self.path, timeout))
        try:
            data, fds, _flags, _address = socket.recv_fds(self.sock, 65536, 16)
        except ConnectionResetError:
            data, fds = b"", []
        self._fds.extend(fds)
        if not data:
            raise SessionError(0, "the daemon closed the connection")
        self._buffer += data
        while len(self._buffer) >= HEADER.size:
            kind, flags, length = HEADER.unpack_from(self._buffer)
            if flags != 0 or length > MAX_PAYLOAD:
                raise SessionError(1, "malformed frame from the daemon")
            if len(self._buffer) < HEADER.size + length:
                break
            payload = self._buffer[HEADER.size:HEADER.size + length]
            self._buffer = self._buffer[HEADER.size + length:]
            self._inbox.append((kind, payload))


def _notification(kind, payload):
    if kind == RUMBLE:
        device, _, strong, weak, duration = struct.unpack_from("<BBHHH", payload)
        return ("rumble", device, strong, weak, duration)
    if kind == LED:
        device, _, code, on = struct.unpack_from("<BBHH", payload)
        return ("led", device, code, bool(on))
    if kind == LIGHTBAR:
        return ("lightbar",) + struct.unpack_from("<BBBB", payload)
    if kind == PLAYER_LIGHTS:
        return ("player-lights",) + struct.unpack_from("<BB", payload)
    code, _ = struct.unpack_from("<II", payload)
    return ("error", code, payload[8:].decode("utf-8", "replace"))


def _close_quietly(fd):
    import os
    try:
        os.close(fd)
    except OSError:
        pass


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().split("As a command:")[1].strip(), file=sys.stderr)
        return 2
    path, command, rest = argv[1], argv[2], argv[3:]
    with Session(path) as session:
        manifest = session.hello()
        if command == "hello":
            print(json.dumps(manifest, indent=2, sort_keys=True))
        elif command == "tap":
            device = int(rest[0])
            for code in rest[1:]:
                session.tap(device, int(code, 0))
            session.ping()
        elif command == "events":
            device = int(rest[0])
            session.send_events(device, [tuple(int(part, 0) for part in event.split(":")) for event in rest[1:]])
            session.ping()
        elif command == "text":
            session.type_text(int(rest[0]), rest[1], *rest[2:4])
            session.ping()
        elif command == "fds":
            attached, fds = session.take_fds()
            print(json.dumps(attached, indent=2, sort_keys=True))
            print("fds: %d" % len(fds))
        else:
            print("unknown command %r" % command, file=sys.stderr)
            return 2
        # Report what the daemon said about the batches (filtered, refused, ...).
        while True:
            notification = session.next_notification(timeout=0)
            if notification is None:
                break
            print(" ".join(str(part) for part in notification))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except SessionError as error:
        print("fractal_session: %s" % error, file=sys.stderr)
        sys.exit(1)
