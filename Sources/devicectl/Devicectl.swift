import ArgumentParser
import CLibEvdev
import DeviceManager
import FractalAPI
import FractalClient
import FractalVersion
import Foundation

@main
struct Devicectl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devicectl",
        abstract: "Drive fractal-agent: lease per-session input devices and directories, inspect and release them.",
        discussion: """
            A lease is a FractalID with its own virtual devices (keyboard, mouse, tablet = absolute \
            pointer, gamepad, touchscreen, pen, trackpad) and directories. `create` prints the nodes and the \
            `docker run` flags that hand exactly those to one container.

            Examples:
              devicectl create
              devicectl create --devices keyboard,mouse,tablet,gamepad --dir '/var/lib/fractal-agent/sessions/%%FRACTAL_ID_PLACEHOLDER%%,tmpfs=256M'
              devicectl list
              devicectl inject ID keyboard --text 'hello'
              devicectl create --hotplug gamepad; devicectl plug ID gamepad; devicectl unplug ID gamepad
              devicectl release ID
              devicectl run-task session.json
              devicectl tasks
              devicectl stop ID

            Shell completions: devicectl --generate-completion-script bash|zsh|fish
            """,
        version: "devicectl \(fractalVersionLine)",
        subcommands: [
            Create.self, List.self, Inspect.self, Release.self, Inject.self, Plug.self, Unplug.self, RunTask.self, Tasks.self,
            Stop.self, UdevRulesCommand.self,
        ]
    )
}

/// Options every subcommand shares.
struct ConnectionOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The daemon's unix socket.", discussion: "Defaults to $FRACTAL_AGENT_SOCKET, then \(defaultSocketPath)."))
    var socket: String = ProcessInfo.processInfo.environment["FRACTAL_AGENT_SOCKET"] ?? defaultSocketPath

    /// Runs `body` with a client, and turns client errors into a message and a non-zero exit.
    func withClient<T>(_ body: (FractalClient) async throws -> T) async throws -> T {
        let client = FractalClient(socketPath: socket)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch let error as FractalClientError {
            await client.shutdown()
            printError("devicectl: \(error)")
            throw ExitCode(error.status == nil ? 3 : 1)
        } catch {
            await client.shutdown()
            throw error
        }
    }
}

func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Lease a FractalID's devices and directories.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "The FractalID to use (1-64 of a-z 0-9 - _); a random 128-bit one when omitted.")
    var id: String?

    @Option(help: ArgumentHelp(
        "Device roles, comma-separated; game controllers may repeat (up to 8 in all): gamepad,gamepad is gamepad and gamepad-2.",
        valueName: "keyboard,mouse,tablet,gamepad,touchscreen,pen,trackpad,dualsense,switch-pro"))
    var devices: String = LeaseRequest.defaultDevices.map(\.rawValue).joined(separator: ",")

    @Option(name: .customLong("dir"), help: ArgumentHelp(
        "A directory template with %%FRACTAL_ID_PLACEHOLDER%%, plus options (repeatable).",
        discussion: "Form: \(DirectoryRequest.syntax). Without tmpfs=, plain or bind= the directory is a tmpfs with the daemon's size and inode caps (fractal-agent --directory-size, --directory-inodes); plain is uncapped: a session can fill the filesystem it is on."))
    var directories: [String] = []

    // `--owner` was this option's name before the daemon learned who calls it from the kernel.
    @Option(name: [.customLong("note"), .customLong("owner")], help: "A note shown with the lease (who or what it is for). The daemon records who asked by uid and pid itself.")
    var note: String = "devicectl"

    @Option(help: ArgumentHelp(
        "What the session socket lets through: default, gamepad-only or trusted.",
        discussion: "default drops SysRq, Ctrl+Alt+Del, Ctrl+Alt+F1-F12 and power keys and withholds the keyboard's fd."))
    var policy: String?

    @Option(help: ArgumentHelp(
        "Device roles to make unplugged now and plug in later with `devicectl plug` (comma-separated).",
        valueName: "gamepad"))
    var hotplug: String?

    @Flag(help: ArgumentHelp(
        "Print only the lease's CDI device name, for a CDI-aware engine's --device.",
        discussion: "e.g. podman run --device \"$(devicectl create --cdi)\" ...: the daemon writes the lease's CDI spec (fractal-agent --cdi-dir)."))
    var cdi = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func validate() throws {
        if cdi && json { throw ValidationError("--cdi and --json: choose one") }
        if let policy, InputPolicy(rawValue: policy) == nil {
            throw ValidationError("unknown policy '\(policy)'; known policies: \(InputPolicy.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        for role in devices.split(separator: ",") + (hotplug ?? "").split(separator: ",") where DeviceRole(rawValue: String(role)) == nil {
            throw ValidationError("unknown device role '\(role)'; known roles: \(DeviceRole.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        if let id { do { _ = try FractalID(id) } catch { throw ValidationError("--id: \(error)") } }
    }

    func run() async throws {
        let requests: [DirectoryRequest]
        do {
            requests = try directories.map { try DirectoryRequest.parse($0) }
        } catch {
            throw ValidationError("--dir: \(error)")
        }
        let body = CreateLeaseRequest(
            id: id, devices: devices.split(separator: ",").map(String.init), directories: requests,
            note: note, policy: policy,
            hotplug: hotplug.map { $0.split(separator: ",").map(String.init) })
        let lease = try await connection.withClient { try await $0.createLease(body) }
        if cdi {
            guard let name = lease.cdiDevice else {
                // Nothing half-made: the lease is of no use to the caller without its CDI name.
                _ = try? await connection.withClient { try await $0.releaseLease(lease.id.rawValue, keepDirectories: false) }
                printError("devicectl: the daemon writes no CDI specs (it was started with --cdi-dir none); lease \(lease.id) released again")
                throw ExitCode(1)
            }
            print(name)
        } else if json {
            try printJSON(lease)
        } else {
            print(LeaseText.describe(lease))
        }
    }
}

struct Plug: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Plug a device into a lease's running session.",
        discussion: """
            A lease whose task's containers run plugs one of its unplugged devices (made at the start \
            with dockerLabels fractal.hotplug, or `create --hotplug`): the node appears in each container \
            and libudev there (SDL2, libinput) hears "add". A lease without containers gets a new device.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The lease's FractalID.") var id: String
    @Argument(help: ArgumentHelp(
        "The device: its role, or a game controller's role numbered from the second of a kind (gamepad-2).",
        valueName: "gamepad|gamepad-2|keyboard|mouse|tablet|touchscreen|pen|trackpad|dualsense|switch-pro")) var role: String
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let lease = try await connection.withClient { try await $0.plug(id, role: role) }
        if json { try printJSON(lease) } else { print(LeaseText.describe(lease)) }
    }
}

struct Unplug: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unplug a device from a lease's running session.",
        discussion: """
            Keys and buttons it holds are released, libudev in the lease's containers hears "remove" and \
            the node leaves their /dev/input. While containers run the device stays, unplugged, for a \
            later `plug`; a lease without containers loses the device.
            """)

    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The lease's FractalID.") var id: String
    @Argument(help: ArgumentHelp(
        "The device: its role, or a game controller's role numbered from the second of a kind (gamepad-2).",
        valueName: "gamepad|gamepad-2|keyboard|mouse|tablet|touchscreen|pen|trackpad|dualsense|switch-pro")) var role: String
    @Flag(help: "Print JSON instead of text.") var json = false

    func run() async throws {
        let lease = try await connection.withClient { try await $0.unplug(id, role: role) }
        if json { try printJSON(lease) } else { print(LeaseText.describe(lease)) }
    }
}

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List every lease.")

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let leases = try await connection.withClient { try await $0.leases() }
        if json { try printJSON(leases) } else { print(LeaseText.table(leases, now: Date()), terminator: "") }
    }
}

struct Inspect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one lease in full.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The lease's FractalID.")
    var id: String

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let lease = try await connection.withClient { try await $0.lease(id) }
        if json { try printJSON(lease) } else { print(LeaseText.describe(lease)) }
    }
}

struct Release: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Release a lease: destroy its devices, unmount and remove its directories.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The lease's FractalID.")
    var id: String

    @Flag(help: "Keep the lease's directories (their mounts are still undone).")
    var keepDirs = false

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let released = try await connection.withClient { try await $0.releaseLease(id, keepDirectories: keepDirs) }
        if json { try printJSON(released); return }
        print("released \(released.id): \(released.devices) device(s)"
            + (released.directoriesRemoved.isEmpty ? "" : ", removed \(released.directoriesRemoved.joined(separator: " "))")
            + (released.directoriesKept.isEmpty ? "" : ", kept \(released.directoriesKept.joined(separator: " "))"))
    }
}

struct Inject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send input through one of a lease's devices, to check a session by hand.",
        discussion: """
            Steps run in this order: --press, --text, --key, --button, --move, --move-to, --wheel, --click, --axis, --release.
            Examples:
              devicectl inject ID keyboard --text 'hello world'
              devicectl inject ID keyboard --text 'äöü€@' --layout de
              devicectl inject ID keyboard --press KEY_LEFTCTRL --key c --release KEY_LEFTCTRL
              devicectl inject ID mouse --move 40,-10 --click left
              devicectl inject ID tablet --move-to 32768,32768 --click left
              devicectl inject ID gamepad --button BTN_SOUTH --axis ABS_X=20000
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The lease's FractalID.")
    var id: String

    @Argument(help: ArgumentHelp(
        "The device to send through: its role, or a game controller's numbered from the second of a kind (gamepad-2).",
        valueName: "keyboard|mouse|tablet|gamepad|gamepad-2|touchscreen|pen|trackpad|dualsense|switch-pro"))
    var role: String

    @Option(help: "Hold a key down (KEY_LEFTCTRL, leftshift, ...).") var press: [String] = []
    @Option(help: "Type text on the keyboard: any character the layout has a key for.") var text: String?
    @Option(help: ArgumentHelp("The XKB layout --text is typed in.", valueName: "LAYOUT[,VARIANT]")) var layout = "us"
    @Option(help: "Tap a key (KEY_A, a, enter, f2, ...).") var key: [String] = []
    @Option(help: "Tap a button (BTN_SOUTH, south, BTN_LEFT, ...).") var button: [String] = []
    @Option(help: "Move relatively by DX,DY (mouse).") var move: String?
    @Option(name: .customLong("move-to"), help: "Move to X,Y (tablet; 0-65535 each).") var moveTo: String?
    @Option(help: "Scroll the wheel by N notches (mouse, tablet).") var wheel: Int32?
    @Option(help: "Click a button: left, right, middle, side, extra.") var click: [String] = []
    @Option(help: "Set an absolute axis: ABS_X=VALUE (gamepad, pen, trackpad).") var axis: [String] = []
    @Option(help: "Let a held key go.") var release: [String] = []

    func validate() throws {
        guard DeviceHandle(role) != nil else {
            throw ValidationError(
                "unknown device '\(role)'; a device is a role (\(DeviceRole.allCases.map(\.rawValue).joined(separator: ", "))), game controllers numbered from the second (gamepad-2)")
        }
        if text != nil, role != DeviceRole.keyboard.rawValue { throw ValidationError("--text types on the keyboard, not the \(role)") }
        do { _ = try KeyboardLayoutName(parsing: layout) } catch { throw ValidationError("--layout: \(error)") }
    }

    /// The steps before --text (held keys) and after it; the daemon types the text itself, in the layout.
    func events() throws(EventScript.Error) -> (before: [InputEvent], after: [InputEvent]) {
        var before: [InputEvent] = []
        for name in press { before += EventScript.press(try EventScript.code(named: name), down: true) }
        var events: [InputEvent] = []
        for name in key + button { events += EventScript.tap(try EventScript.code(named: name)) }
        if let move {
            let (dx, dy) = try EventScript.pair(move)
            events += [.rel(UInt16(REL_X), dx), .rel(UInt16(REL_Y), dy), .syn()]
        }
        if let moveTo {
            let (x, y) = try EventScript.pair(moveTo)
            events += [.abs(UInt16(ABS_X), x), .abs(UInt16(ABS_Y), y), .syn()]
        }
        if let wheel { events += [.rel(UInt16(REL_WHEEL), wheel), .rel(UInt16(REL_WHEEL_HI_RES), wheel * 120), .syn()] }
        for name in click { events += EventScript.tap(try EventScript.code(named: "BTN_" + name.uppercased())) }
        for assignment in axis {
            let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let value = Int32(parts[1]) else {
                throw EventScript.Error(description: "--axis \(assignment): use NAME=VALUE such as ABS_X=20000")
            }
            events += [.abs(try EventScript.axis(named: parts[0], type: UInt16(EV_ABS)), value), .syn()]
        }
        for name in release { events += EventScript.press(try EventScript.code(named: name), down: false) }
        return (before, events)
    }

    func run() async throws {
        let (before, after): ([InputEvent], [InputEvent])
        do { (before, after) = try events() } catch { throw ValidationError(error.description) }
        guard let text else {
            guard !(before + after).isEmpty else { throw ValidationError("nothing to send: give --text, --key, --move, --click, ...") }
            try await connection.withClient { try await $0.inject(id, InjectRequest(role: role, events: before + after)) }
            print("sent \((before + after).count) events to \(id) \(role)")
            return
        }
        let name = try KeyboardLayoutName(parsing: layout)
        let typed = try await connection.withClient { client in
            if !before.isEmpty { try await client.inject(id, InjectRequest(role: role, events: before)) }
            let typed = try await client.type(id, TextRequest(text: text, layout: name))
            if !after.isEmpty { try await client.inject(id, InjectRequest(role: role, events: after)) }
            return typed
        }
        print("typed \(typed.characters) characters (\(name)) and sent \(before.count + typed.events + after.count) events to \(id) \(role)")
    }
}

struct UdevRulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "udev-rules",
        abstract: "Show or install the udev rules that name lease devices and keep them off the host's seat.",
        subcommands: [Show.self, Install.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the rules.")
        @Option(help: "The group that may open the devices' nodes.") var group = "root"
        func run() throws {
            do { print(try UdevRules.render(group: group), terminator: "") } catch { throw ValidationError(error.description) }
        }
    }

    struct Install: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the rules to the rules directory and reload udevd.",
            discussion: "Run as root. Devices leased before the install keep the properties they had.")
        @Option(help: "The group that may open the devices' nodes (besides root).") var group = "root"
        @Option(help: "The rules directory.") var directory = UdevRules.defaultDirectory
        func run() throws {
            do {
                let path = try UdevRules.install(group: group, directory: directory)
                print("installed \(path)")
            } catch {
                printError("devicectl: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

struct RunTask: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-task",
        abstract: "Run an ECS task definition: containers with their own devices and directories.",
        discussion: """
            FILE is ECS's own JSON (as `aws ecs describe-task-definition` prints it, with or without \
            the outer "taskDefinition" key; "-" reads standard input). %%FRACTAL_ID_PLACEHOLDER%% in \
            volumes[].host.sourcePath becomes the task's FractalID; the devices come from the \
            dockerLabels key fractal.devices (default keyboard,mouse,tablet).
            """)

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The task definition file, or - for standard input.")
    var file: String

    @Option(help: "The FractalID to use; a random one when omitted.")
    var id: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    func run() async throws {
        let data: Data
        do {
            data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(filePath: file))
        } catch {
            throw ValidationError("cannot read \(file): \(error.localizedDescription)")
        }
        let task = try await connection.withClient { try await $0.runTask(definition: data, id: id) }
        if json { try printJSON(task); return }
        print(TaskText.describe(task))
    }
}

struct Tasks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List running tasks.")

    @OptionGroup var connection: ConnectionOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func run() async throws {
        let tasks = try await connection.withClient { try await $0.tasks() }
        if json { try printJSON(tasks); return }
        print(TaskText.table(tasks, now: Date()), terminator: "")
    }
}

struct Stop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a task: stop and remove its containers, release its devices and directories.")

    @OptionGroup var connection: ConnectionOptions

    @Argument(help: "The task's FractalID.")
    var id: String

    func run() async throws {
        let task = try await connection.withClient { try await $0.stopTask(id) }
        print("stopped \(task.id): \(task.containers.map(\.name).joined(separator: ", "))")
    }
}
