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
        #expect(throws: SystemError(operation: "open the CDI spec directory", path: path + "/missing", errno: ENOENT)) {
            try missing.write(CDISpec(grant: ContainerGrant(id: try FractalID("x1"), nodes: [])), of: try FractalID("x1"))
        }
        #expect(throws: SystemError(operation: "open the CDI spec directory", path: path + "/missing", errno: ENOENT)) {
            try missing.checkWritable()
        }
    }

    @Test func aDirectoryOthersCanWriteIsRefused() throws {
        defer { try? FileManager.default.removeItem(atPath: path) }
        // Even with the sticky bit: whoever can write there can put a spec under a name before us.
        for mode: mode_t in [0o777, 0o1777, 0o775] {
            #expect(chmod(path, mode) == 0)
            let id = try FractalID("x1")
            do {
                try directory.write(CDISpec(grant: ContainerGrant(id: id, nodes: [])), of: id)
                Issue.record("a spec was written into a directory of mode \(String(mode, radix: 8))")
            } catch {
                #expect(error.errno == .notPermitted && error.path == path, "\(error)")
                #expect(error.description.contains("writable by users other than the daemon's"), "\(error)")
            }
            #expect(throws: SystemError.self) { try directory.checkWritable() }
        }
        #expect(try files().isEmpty)
        #expect(chmod(path, 0o755) == 0)
        try directory.checkWritable()
    }
}
