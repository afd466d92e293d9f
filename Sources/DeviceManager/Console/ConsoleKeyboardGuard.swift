import CFractalLinux
import Foundation
import Logging
import Synchronization
import SystemPackage

/// Keeps session keyboards away from the host's text consoles.
///
/// The kernel's VT keyboard handler takes every keyboard on the host, ours included, and feeds
/// the VT in front: a session's keys would type into the getty on tty1 of a headless host, and
/// Alt+F1…F12 would switch VTs. A session can write any key its keyboard declares straight to
/// its event node, so no filter of ours sees every key. While any lease has a keyboard, this
/// guard therefore sets the keyboard mode of the VT in front, and of every VT in use, to K_OFF
/// (what a graphical session's compositor does): the VT then takes no text, switches no VT and
/// acts on no Ctrl+Alt+Del. It re-asserts K_OFF when another VT comes to the front (the sysfs
/// `active` attribute wakes poll(2)) and every second (a getty that restarts resets its VT's
/// mode), and restores what it changed when the last keyboard lease goes. The modes it changed
/// are written to `journal` first, so a daemon that died engaged restores them at its next start.
public final class ConsoleKeyboardGuard: Sendable {
    /// What the operator chose (`fractal-agent --console-keyboard`).
    public enum Mode: String, CaseIterable, Sendable {
        /// Switch the host's VT keyboards off while a keyboard lease lives (the default).
        case off
        /// Leave the host's VTs alone: for hosts whose consoles nobody can reach, or that set
        /// K_OFF themselves; a session's keys then reach the VT in front.
        case keep
    }

    private struct State {
        /// Leases with a keyboard; engaged while not empty.
        var keyboardLeases: Set<FractalID> = []
        /// Per VT number: the mode it had before this guard set K_OFF.
        var saved: [Int: Int32] = [:]
        var watcher: Thread?
        var stopping = false
    }

    public let mode: Mode
    private let journal: String
    private let logger: Logger
    private let state = Mutex(State())
    /// Wakes the watcher thread to stop.
    private let wake: Int32
    private let consoleRoot: String

    /// - Parameters:
    ///   - journal: where the modes this guard changed are written before it changes them.
    ///   - consoleRoot: `/dev` (the VTs are `tty0`…`tty63` there); `/sys/class/tty/tty0/active`
    ///     says which is in front.
    public init(mode: Mode, journal: String, consoleRoot: String = "/dev", logger: Logger) {
        self.mode = mode
        self.journal = journal
        self.consoleRoot = consoleRoot
        self.logger = logger
        wake = cfl_eventfd()
    }

    deinit {
        if wake >= 0 { close(wake) }
    }

    /// Whether VT keyboards are off now because of this guard.
    public var engaged: Bool { state.withLock { !$0.keyboardLeases.isEmpty } }

    /// Restores what a daemon that died engaged left off (from the journal).
    public func recover() {
        guard let data = FileManager.default.contents(atPath: journal),
              let saved = try? JSONDecoder().decode([String: Int32].self, from: data) else { return }
        var restored: [String] = []
        for (vt, mode) in saved {
            guard let number = Int(vt), restore(vt: number, to: mode) else { continue }
            restored.append("tty\(number)")
        }
        unlink(journal)
        if !restored.isEmpty { logger.notice("console keyboard: restored \(restored.sorted().joined(separator: ", ")) after an unclean stop") }
    }

    /// Follows `manager`'s leases: engaged while any has a keyboard.
    public func follow(_ manager: LeaseManager) {
        guard mode == .off else {
            logger.warning("--console-keyboard keep: the host's text consoles take session keyboards' keys (typing, Alt+Fn VT switches)")
            return
        }
        manager.addObserver { [self] change in
            switch change {
            case .created(let lease), .changed(let lease):
                if lease.devices.contains(where: \.role.isKeyboard) { add(lease.id) } else { remove(lease.id) }
            case .releasing(let lease):
                remove(lease.id)
            }
        }
    }

    /// Stops watching and restores every VT (daemon exit; its devices end with it). With
    /// `restoring` false the VTs stay off and the journal stays: the session keyboards outlive
    /// this process (systemd's fd store), and the next start restores and re-engages from it.
    public func stop(restoring: Bool = true) {
        let watcher = state.withLock { state -> Thread? in
            state.stopping = true
            state.keyboardLeases = []
            return state.watcher
        }
        if watcher != nil { _ = cfl_eventfd_signal(wake) }
        if restoring {
            restoreAll()
        } else if state.withLock({ !$0.saved.isEmpty }) {
            logger.notice("console keyboard: the VTs stay off while the session keyboards live on; the next start takes over")
        }
    }

    // MARK: Engaging

    private func add(_ id: FractalID) {
        let first = state.withLock { state -> Bool in
            guard !state.stopping else { return false }
            let wasEmpty = state.keyboardLeases.isEmpty
            state.keyboardLeases.insert(id)
            return wasEmpty
        }
        guard first else { return }
        switchOff(includingInUse: true)
        startWatcher()
        // A watcher that idled since the last keyboard lease went starts its one-second beat.
        _ = cfl_eventfd_signal(wake)
    }

    private func remove(_ id: FractalID) {
        let last = state.withLock { state -> Bool in
            guard state.keyboardLeases.remove(id) != nil else { return false }
            return state.keyboardLeases.isEmpty
        }
        if last { restoreAll() }
    }

    /// Sets K_OFF on the VT in front and, at engagement, on every VT in use.
    private func switchOff(includingInUse: Bool) {
        let console = open(consoleRoot + "/tty0", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard console >= 0 else {
            let code = errno
            if code != ENOENT && code != ENXIO && code != ENODEV {
                logger.error("console keyboard: cannot open \(consoleRoot)/tty0: \(Errno(rawValue: code)); session keys may reach the host's VT")
            }
            return
        }
        defer { close(console) }
        var active: UInt16 = 0, inUse: UInt16 = 0
        let result = cfl_vt_state(console, &active, &inUse)
        guard result == 0 else {
            logger.error("console keyboard: VT_GETSTATE: \(Errno(rawValue: -result)); session keys may reach the host's VT")
            return
        }
        var vts: Set<Int> = [Int(active)]
        if includingInUse {
            for number in 1..<16 where inUse & (1 << UInt16(number)) != 0 { vts.insert(number) }
        }
        for vt in vts.sorted() where vt > 0 { switchOff(vt: vt) }
    }

    private func switchOff(vt: Int) {
        // O_NONBLOCK: a VT with a hung-up or exclusive tty must not hold the daemon.
        let fd = open("\(consoleRoot)/tty\(vt)", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            logger.error("console keyboard: cannot open \(consoleRoot)/tty\(vt): \(Errno(rawValue: errno))")
            return
        }
        defer { close(fd) }
        let current = cfl_vt_keyboard_mode(fd)
        guard current >= 0, current != CFL_K_OFF else { return }
        // Journal first: a crash after the ioctl still finds what to restore.
        let journaled = state.withLock { state -> Bool in
            if state.saved[vt] == nil { state.saved[vt] = current }
            return writeJournal(state.saved)
        }
        guard journaled else { return }
        let set = cfl_vt_set_keyboard_mode(fd, CFL_K_OFF)
        if set == 0 {
            logger.info("console keyboard: tty\(vt) off while session keyboards live (was mode \(current))")
        } else {
            logger.error("console keyboard: cannot switch tty\(vt)'s keyboard off: \(Errno(rawValue: -set))")
        }
    }

    private func writeJournal(_ saved: [Int: Int32]) -> Bool {
        let encoded = Dictionary(uniqueKeysWithValues: saved.map { (String($0.key), $0.value) })
        do {
            let data = try JSONEncoder().encode(encoded)
            try data.write(to: URL(fileURLWithPath: journal), options: .atomic)
            return true
        } catch {
            logger.error("console keyboard: cannot write \(journal): \(error); leaving the VTs alone")
            return false
        }
    }

    // MARK: Restoring

    private func restoreAll() {
        let saved = state.withLock { state -> [Int: Int32] in
            defer { state.saved = [:] }
            return state.saved
        }
        for (vt, mode) in saved.sorted(by: { $0.key < $1.key }) where restore(vt: vt, to: mode) {
            logger.info("console keyboard: tty\(vt) restored (mode \(mode))")
        }
        unlink(journal)
    }

    /// Puts `mode` back if the VT is still off (someone who changed it since knows better).
    private func restore(vt: Int, to mode: Int32) -> Bool {
        let fd = open("\(consoleRoot)/tty\(vt)", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard cfl_vt_keyboard_mode(fd) == CFL_K_OFF else { return false }
        return cfl_vt_set_keyboard_mode(fd, mode) == 0
    }

    // MARK: Watching

    /// Re-asserts K_OFF on the VT in front when it changes, and every second while engaged;
    /// otherwise sleeps until woken.
    private func startWatcher() {
        let started = state.withLock { state -> Bool in
            guard state.watcher == nil, !state.stopping else { return false }
            let thread = Thread { [self] in watch() }
            thread.name = "fractal-console"
            state.watcher = thread
            return true
        }
        guard started else { return }
        state.withLock { $0.watcher }?.start()
    }

    private func watch() {
        let active = open("/sys/class/tty/tty0/active", O_RDONLY | O_CLOEXEC)
        defer { if active >= 0 { close(active) } }
        var buffer = [UInt8](repeating: 0, count: 32)
        while true {
            // sysfs_notify wakes POLLPRI|POLLERR once the attribute was read; read it each time.
            if active >= 0 { _ = buffer.withUnsafeMutableBytes { pread(active, $0.baseAddress, $0.count, 0) } }
            var fds = [pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
            if active >= 0 { fds.append(pollfd(fd: active, events: Int16(POLLPRI | POLLERR), revents: 0)) }
            let engagedBefore = state.withLock { !$0.keyboardLeases.isEmpty }
            _ = poll(&fds, nfds_t(fds.count), engagedBefore ? 1000 : -1)
            cfl_eventfd_drain(wake)
            let (stopping, engaged) = state.withLock { ($0.stopping, !$0.keyboardLeases.isEmpty) }
            if stopping { return }
            if engaged { switchOff(includingInUse: false) }
        }
    }
}

extension DeviceRole {
    /// Whether the VT keyboard handler takes this role's device (it has keys below BTN_MISC).
    public var isKeyboard: Bool { self == .keyboard }
}
