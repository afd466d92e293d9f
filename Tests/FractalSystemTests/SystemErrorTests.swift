import FractalSystem
import SystemPackage
import Testing

/// Every error type that reports a failed call formats it through `SystemError`: the texts
/// people read (and other suites assert on) stay as they were.
@Suite struct SystemErrorTests {
    @Test func namesTheCallThePathTheErrnoAndTheDetail() {
        let error = SystemError(operation: "listen", path: "/run/x.sock", errno: .fileExists, detail: "lease a already has a session socket")
        #expect(error.description == "listen /run/x.sock: File exists (errno 17): lease a already has a session socket")
        #expect(error.reason == "File exists (errno 17)")
    }

    @Test func leavesOutWhatIsNotThere() {
        #expect(SystemError(operation: "epoll_create1", path: "", errno: 24).description == "epoll_create1: Too many open files (errno 24)")
        #expect(SystemError(operation: "find event node", path: "/sys/x", errno: 0).description == "find event node /sys/x")
        #expect(SystemError(operation: "x", path: "", errno: 0).reason == "")
    }

    @Test func aRawErrnoIsTheSameAsItsName() {
        #expect(SystemError(operation: "open", path: "/a", errno: 2) == SystemError(operation: "open", path: "/a", errno: .noSuchFileOrDirectory))
    }
}
