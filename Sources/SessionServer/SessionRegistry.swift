import DeviceManager
import FractalSessionProtocol

/// What the session loop serves: every lease's listener, connections and devices, each found by
/// the epoll token it was registered with. Confined to the loop (its thread, or the caller
/// while the loop is not running): no lock, because nothing else touches it.
final class SessionRegistry {
    enum Registration {
        case wake
        case listener(FractalID)
        case connection(SessionConnection)
        /// A device's uinput descriptor, watched (one-shot) for force feedback and LED requests.
        case device(FractalID, index: Int, fd: Int32)
    }

    final class LeaseEntry {
        var lease: SessionLease
        /// -1 when the socket could not be made: the devices' feedback is still served.
        let listener: Int32
        let listenerToken: UInt64
        var manifest: [UInt8]
        var connections: [UInt64: SessionConnection] = [:]
        /// The tokens of its devices' feedback registrations.
        var deviceTokens: [UInt64] = []
        /// How many of this lease's connections hold Ctrl and Alt: a combination split across
        /// them (two clients of one streaming server) is still a combination. Other leases'
        /// modifiers never count: the host's VT keyboard is off (`ConsoleKeyboardGuard`).
        var ctrlHolders = 0
        var altHolders = 0
        /// While accepting is paused after EMFILE: when to listen again (monotonic ns).
        var acceptPausedUntil: UInt64?

        init(lease: SessionLease, listener: Int32, listenerToken: UInt64, manifest: [UInt8]) {
            self.lease = lease
            self.listener = listener
            self.listenerToken = listenerToken
            self.manifest = manifest
        }

        /// What a new connection's filter checks events against (made per accept, not per event).
        var filterDevices: [InputFilter.Device] {
            lease.devices.map { InputFilter.Device(role: $0.role, profile: $0.device.profile) }
        }

        func track(_ before: InputFilter.Modifiers, _ after: InputFilter.Modifiers) {
            ctrlHolders += (after.ctrl ? 1 : 0) - (before.ctrl ? 1 : 0)
            altHolders += (after.alt ? 1 : 0) - (before.alt ? 1 : 0)
        }

        func elsewhere(than own: InputFilter.Modifiers) -> InputFilter.Modifiers {
            InputFilter.Modifiers(ctrl: ctrlHolders - (own.ctrl ? 1 : 0) > 0, alt: altHolders - (own.alt ? 1 : 0) > 0)
        }
    }

    static let wakeToken: UInt64 = 0

    var leases: [FractalID: LeaseEntry] = [:]
    var registrations: [UInt64: Registration] = [wakeToken: .wake]
    var statistics = SessionStatistics()
    /// Set by `stop`: no lease may be added, and the loop ends once the last is gone.
    var stopping = false
    /// No deadline (HELLO, idle, accept back-off) falls before this (monotonic ns); the loop
    /// wakes then to look. Deadlines only move later, so this stays a lower bound.
    var nextDeadline: UInt64 = .max
    /// Devices to watch again once their quiet delay is over (monotonic ns), in that order.
    var quietDevices: [(token: UInt64, until: UInt64)] = []
    /// Connections typing text, with when their next batch is due (monotonic ns), in that order.
    var typingDue: [(token: UInt64, until: UInt64)] = []
    private var lastToken: UInt64 = wakeToken

    /// A token never used before: one whose descriptor was closed after epoll_wait returned it
    /// finds nothing, rather than whatever reused the number.
    func newToken() -> UInt64 {
        lastToken += 1
        return lastToken
    }

    func noteDeadline(_ deadline: UInt64) {
        nextDeadline = min(nextDeadline, deadline)
    }
}

extension Optional where Wrapped == SessionRegistry.Registration {
    /// Whether this is a client connection's registration.
    var isConnection: Bool {
        if case .connection? = self { true } else { false }
    }
}
