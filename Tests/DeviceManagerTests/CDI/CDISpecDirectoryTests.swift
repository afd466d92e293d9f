import DeviceManager
import Foundation
import FractalSystem
import Testing

/// The CDI spec directory on a real filesystem: atomic replacement, and only our own files touched.
@Suite struct CDISpecDirectoryTests {
    let path: String
    let directory: CDISpecDirectory

    init() throws {
        path = FileManager.default.temporaryDirectory.appending(path: "cdi-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        directory = CDISpecDirectory(path: path)
    }

    func files() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    @Test func aSpecIsWrittenUnderItsTransientNameAndReplacedWhole() throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        let id = ContainerGrantTests.id
        try directory.write(CDISpec(grant: ContainerGrant(lease: ContainerGrantTests.lease)), of: id)
        #expect(try files() == ["fractal.dev-input_\(id).json"])
        #expect(directory.file(of: id) == path + "/fractal.dev-input_\(id).json")

        var unplugged = ContainerGrantTests.lease
        unplugged.devices[0].plugged = false
        try directory.write(CDISpec(grant: ContainerGrant(lease: unplugged)), of: id)
        let read = try JSONDecoder().decode(CDISpec.self, from: Data(contentsOf: URL(filePath: directory.file(of: id))))
        #expect(read.devices.map(\.name) == [id.rawValue])
        #expect(read.devices[0].containerEdits.deviceNodes == nil)
        #expect(try files() == ["fractal.dev-input_\(id).json"])
        var status = stat()
        #expect(stat(directory.file(of: id), &status) == 0 && status.st_mode & 0o777 == 0o644)

        try directory.remove(id)
        try directory.remove(id)
        #expect(try files().isEmpty)
    }

    @Test func startUpRemovesOurStaleSpecsAndLeftoversButNoOneElses() throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        let kept = try FractalID("kept1")
        let stale = try FractalID("stale1")
        for id in [kept, stale] { try directory.write(CDISpec(grant: ContainerGrant(id: id, nodes: [])), of: id) }
        for foreign in ["nvidia.com-gpu.yaml", ".fractal.dev-input_half.tmp", "fractal.dev-input_NOT-AN-ID.json"] {
            _ = FileManager.default.createFile(atPath: path + "/" + foreign, contents: Data("{}".utf8))
        }
        let removed = directory.removeAll(except: [kept])
        #expect(removed.sorted() == [".fractal.dev-input_half.tmp", "fractal.dev-input_stale1.json"])
        #expect(try files() == ["fractal.dev-input_NOT-AN-ID.json", "fractal.dev-input_kept1.json", "nvidia.com-gpu.yaml"])
    }

    @Test func aMissingDirectoryIsAnErrorNamingIt() throws {
        let missing = CDISpecDirectory(path: path + "/missing")
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: SystemError(operation: "create the CDI spec", path: path + "/missing/.fractal.dev-input_x1.tmp", errno: ENOENT)) {
            try missing.write(CDISpec(grant: ContainerGrant(id: try FractalID("x1"), nodes: [])), of: try FractalID("x1"))
        }
        #expect(throws: SystemError(operation: "find the CDI spec directory", path: path + "/missing", errno: ENOENT)) {
            try missing.checkWritable()
        }
    }
}
