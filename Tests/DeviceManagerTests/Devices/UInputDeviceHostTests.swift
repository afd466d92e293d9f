#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import DeviceManager

/// What creating a device does on a host without uinput: every failure is a typed error that
/// names the node and the fix, never a crash.
@Suite struct UInputDeviceHostTests {
    @Test func missingNodeSaysToLoadTheModule() {
        let path = "/nonexistent/fractal-test/uinput"
        let error = #expect(throws: UInputError.self) {
            _ = try UInputDevice(profile: .keyboard, phys: "fractal/test/keyboard", uinputPath: path)
        }
        #expect(error?.code == .moduleNotLoaded)
        #expect(error?.operation == "open")
        #expect(error?.path == path)
        #expect(error?.errno == ENOENT)
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("load the uinput module: modprobe uinput") == true)
        #expect(error?.description.contains("No such file or directory") == true)
    }

    @Test func readOnlyFileIsAPermissionError() {
        // A sysctl without write permission: read-only even to root (unlike a 0444 file in /tmp),
        // and refused before any read-only-mount check, so this holds for every user and host.
        let path = "/proc/sys/kernel/osrelease"
        let error = #expect(throws: UInputError.self) {
            _ = try UInputDevice(profile: .mouse, phys: "fractal/test/mouse", uinputPath: path)
        }
        #expect(error?.code == .permissionDenied)
        #expect(error?.errno == EACCES)
        #expect(error?.description.contains(path) == true)
        #expect(error?.description.contains("run as root") == true)
        #expect(error?.description.contains("KERNEL==\"uinput\"") == true)
        #expect(error?.description.contains("MODE=\"0660\"") == true)
    }

    @Test func notAUInputNodeFailsAtTheFirstIoctl() {
        // /dev/null opens read-write but answers no uinput ioctl.
        let error = #expect(throws: UInputError.self) {
            _ = try UInputDevice(profile: .mouse, phys: "fractal/test/mouse", uinputPath: "/dev/null")
        }
        #expect(error?.code == .system)
        #expect(error?.operation.hasPrefix("ioctl(UI_") == true)
        #expect(error?.errno == ENOTTY)
        #expect(error?.description.contains("/dev/null") == true)
    }

    @Test func badProfileIsRefusedBeforeAnySystemCall() {
        var profile = DeviceProfile.mouse
        profile.name = ""
        // The path does not exist; were it opened, the error would be moduleNotLoaded.
        let error = #expect(throws: UInputError.self) {
            _ = try UInputDevice(profile: profile, phys: "fractal/test/mouse", uinputPath: "/nonexistent/uinput")
        }
        #expect(error?.code == .invalidProfile)
        #expect(error?.profileError == .emptyName)
        #expect(error?.errno == 0)
    }

    @Test func longPhysIsRefusedBeforeAnySystemCall() {
        let phys = String(repeating: "p", count: 80)
        let error = #expect(throws: UInputError.self) {
            _ = try UInputDevice(profile: .mouse, phys: phys, uinputPath: "/nonexistent/uinput")
        }
        #expect(error?.code == .invalidProfile)
        #expect(error?.profileError == .physTooLong(phys, bytes: 80, limit: 79))
    }
}
