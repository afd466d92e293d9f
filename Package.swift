// swift-tools-version:6.0
import PackageDescription

let gnuSource: [CSetting] = [.define("_GNU_SOURCE")]

let package = Package(
    name: "fractal-agent",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "fractal-agent", targets: ["fractal-agent"]),
        .executable(name: "devicectl", targets: ["devicectl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Errno (named errno values, their strerror text): already in the graph through swift-nio.
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        // /etc/fractal-agent/agent.toml: TOML 1.0 through toml++.
        .package(url: "https://github.com/LebJe/TOMLKit", .upToNextMinor(from: "0.6.0")),
        // The kubelet's device-plugin and PodResources APIs: gRPC over unix sockets (--kubelet).
        .package(url: "https://github.com/grpc/grpc-swift-2", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // System libraries from Debian's libevdev-dev and libudev-dev, found through pkg-config.
        .systemLibrary(name: "CLibEvdev", pkgConfig: "libevdev", providers: [.apt(["libevdev-dev"])]),
        .systemLibrary(name: "CLibUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        .systemLibrary(name: "CLibSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),
        // Keymaps compiled from XKB names, for typing text in any layout (Debian's libxkbcommon-dev; xkb-data at run time).
        .systemLibrary(name: "CLibXKBCommon", pkgConfig: "xkbcommon", providers: [.apt(["libxkbcommon-dev"])]),
        // C over the uinput ioctls: what Swift cannot import (function-like ioctl macros).
        .target(name: "CUInput", dependencies: ["CLibEvdev"], cSettings: gnuSource),
        // C over /dev/uhid: struct uhid_event is a 4 KiB packed union Swift would copy as tuples.
        .target(name: "CUHID", cSettings: gnuSource),
        // C for the other system calls Swift cannot reach (openat2, SCM_RIGHTS, netlink).
        .target(name: "CFractalLinux", cSettings: gnuSource),
        // The system vocabulary every layer shares: SystemError (operation, path, errno), owned
        // descriptors, EINTR retry, runBlocking, the unix-socket probe. Pure Swift over Glibc.
        .target(name: "FractalSystem", dependencies: [.product(name: "SystemPackage", package: "swift-system")]),
        // The version, generated from VERSION at build time (and the udev rules, for DeviceManager).
        .target(name: "FractalVersion", plugins: ["BuildInfoPlugin"]),
        .plugin(name: "BuildInfoPlugin", capability: .buildTool()),
        // Devices, profiles, leases, directories, durable state: knows nothing of Docker or ECS.
        .target(
            name: "DeviceManager",
            dependencies: [
                "CUInput", "CLibEvdev", "CLibUdev", "CFractalLinux", "FractalSystem",
                "CUHID", "CLibXKBCommon",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            plugins: ["BuildInfoPlugin"]
        ),
        // The session socket's wire format (docs/SESSION-PROTOCOL.md): pure Swift, no dependencies.
        .target(name: "FractalSessionProtocol"),
        // The same format for C streaming servers: a header to copy, compiled here for its _Static_asserts.
        .target(name: "CFractalSession"),
        // Every lease's session socket on one epoll thread: injection through the policy filter, fd hand-off.
        .target(
            name: "SessionServer",
            dependencies: [
                "DeviceManager", "FractalSessionProtocol", "CFractalLinux", "CUInput", "FractalSystem",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // A streaming server's end of a session socket.
        .target(
            name: "FractalSessionClient",
            dependencies: ["FractalSessionProtocol", "CFractalLinux", "FractalSystem", .product(name: "SystemPackage", package: "swift-system")]
        ),
        // ECS task definitions and Docker: knows nothing of ioctls.
        .target(
            name: "Agent",
            dependencies: [
                "DeviceManager", "FractalAPI", "FractalSystem",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The JSON the daemon and its clients exchange (a task's record too, which the agent makes).
        .target(name: "FractalAPI", dependencies: ["DeviceManager"]),
        // The daemon's HTTP API on its unix socket, services and metrics.
        .target(
            name: "FractalDaemon",
            dependencies: [
                "DeviceManager", "Agent", "FractalAPI", "FractalSystem", "FractalVersion", "SessionServer", "CLibSystemd",
                "KubeletPlugin",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The kubelet's v1beta1 device-plugin and v1 PodResources APIs, generated from upstream's
        // protos by scripts/gen-kubelet-api and committed (CI never generates); Protos/ is its input.
        .target(
            name: "KubeletAPI",
            dependencies: [
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
                .product(name: "SwiftProtobuf", package: "swift-protobuf"),
            ],
            exclude: ["Protos"]
        ),
        // fractal-agent --kubelet: the Kubernetes device plugin, a lease per allocated slot.
        .target(
            name: "KubeletPlugin",
            dependencies: [
                "KubeletAPI", "DeviceManager", "FractalSystem",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The kubelet's side of its protocols, played from the upstream protos, for the VM tests and the benchmark.
        .target(
            name: "KubeletPeer",
            dependencies: [
                "KubeletAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            path: "Tests/KubeletPeer"
        ),
        // devicectl's side of the socket: the API's vocabulary, not the agent's Docker and ECS code.
        .target(
            name: "FractalClient",
            dependencies: [
                "FractalAPI", "FractalSystem",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ]
        ),
        .executableTarget(
            name: "fractal-agent",
            dependencies: [
                "FractalDaemon", "FractalVersion",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "devicectl",
            dependencies: [
                "FractalClient", "FractalAPI", "FractalVersion", "DeviceManager", "CLibEvdev",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The benchmark harness (scripts/bench, docs/BENCHMARKS.md): runs in the VM, prints tables.
        // The baselines it compares against are plain C, so nothing else is inside their loops.
        .target(name: "CBenchBaselines", dependencies: ["CLibEvdev"], path: "bench/Sources/CBenchBaselines", cSettings: gnuSource),
        .executableTarget(
            name: "fractal-bench",
            dependencies: [
                "DeviceManager", "CUInput", "CLibEvdev", "CLibUdev", "CBenchBaselines", "FractalClient", "FractalAPI", "Agent",
                "SessionServer", "FractalSessionClient", "FractalSessionProtocol", "KubeletPeer", "KubeletAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/Sources/fractal-bench"
        ),
        // Pure logic; runs on any host.
        .testTarget(name: "DeviceManagerTests", dependencies: ["DeviceManager", "FractalVersion", "FractalSystem"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent"]),
        .testTarget(name: "FractalSystemTests", dependencies: ["FractalSystem", .product(name: "SystemPackage", package: "swift-system")]),
        .testTarget(name: "FractalDaemonTests", dependencies: ["FractalDaemon", "fractal-agent"]),
        .testTarget(name: "KubeletPluginTests", dependencies: ["KubeletPlugin", "DeviceManager"]),
        .testTarget(name: "FractalSessionProtocolTests", dependencies: ["FractalSessionProtocol", "CFractalSession", "DeviceManager"]),
        .testTarget(
            name: "SessionServerTests",
            dependencies: ["SessionServer", "FractalSessionClient", "FractalSessionProtocol", "DeviceManager", "CFractalLinux"]
        ),
        // Real kernel devices, udevd, dockerd; runs inside the project's VM (scripts/vm) and fails loudly elsewhere.
        .testTarget(
            name: "VMTests",
            dependencies: [
                "DeviceManager", "CUInput", "CLibEvdev", "FractalAPI", "FractalClient", "FractalSystem", "Agent", "FractalSessionClient",
                "FractalSessionProtocol",
                // The test kubelet (KubeletPeer): the kubelet's side of its protocols.
                "KubeletPeer", "KubeletAPI",
                .product(name: "GRPCCore", package: "grpc-swift-2"),
                .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
            ],
            exclude: ["OutsideTools/sdl_controllers.py", "Session/sdl_session.py", "Session/session_in_container.py", "Session/hostile_session.py"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
