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
    ],
    targets: [
        // System libraries from Debian's libevdev-dev and libudev-dev, found through pkg-config.
        .systemLibrary(name: "CLibEvdev", pkgConfig: "libevdev", providers: [.apt(["libevdev-dev"])]),
        .systemLibrary(name: "CLibUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        // C over the uinput ioctls: what Swift cannot import (function-like ioctl macros).
        .target(name: "CUInput", dependencies: ["CLibEvdev"], cSettings: gnuSource),
        // The version, generated from VERSION at build time.
        .target(name: "FractalVersion", plugins: ["VersionPlugin"]),
        .plugin(name: "VersionPlugin", capability: .buildTool()),
        // Devices, profiles, leases, directories: knows nothing of Docker or ECS.
        .target(
            name: "DeviceManager",
            dependencies: [
                "CUInput", "CLibUdev",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // ECS task definitions and Docker: knows nothing of ioctls.
        .target(name: "Agent", dependencies: ["DeviceManager"]),
        .executableTarget(
            name: "fractal-agent",
            dependencies: [
                "DeviceManager", "Agent", "FractalVersion",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "devicectl",
            dependencies: [
                "DeviceManager", "FractalVersion",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Pure logic; runs on any host.
        .testTarget(name: "DeviceManagerTests", dependencies: ["DeviceManager", "FractalVersion"]),
        // Real kernel devices; runs inside the project's VM (scripts/vm) and fails loudly elsewhere.
        .testTarget(name: "VMTests", dependencies: ["DeviceManager", "CUInput"]),
    ],
    swiftLanguageModes: [.v6]
)
