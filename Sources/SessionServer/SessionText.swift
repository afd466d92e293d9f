import DeviceManager
import Dispatch
import FractalSessionProtocol

/// Where a connection's TEXT stands: waiting for its layout to compile, or being typed.
enum SessionText {
    /// The layout is compiling off the loop; the text and its keyboard wait with it.
    case compiling
    /// Batches left to write to the keyboard at `device`, one per `textBatchInterval`.
    case typing(device: Int, batches: ArraySlice<[InputEvent]>)
}

/// The keyboard layouts TEXT frames named, compiled: shared by every lease, bounded, and
/// compiled on a thread of its own, since a compile takes milliseconds (more in a VM) and the
/// loop serves every lease's socket. Failures are kept too, so a client that repeats a name
/// that does not compile costs one compile. Confined to the loop, but for `compile`.
final class KeyboardLayoutCache {
    typealias Compiled = Result<KeyboardLayout, KeyboardLayoutError>

    /// Layouts kept; the oldest goes first. A fleet's sessions use a handful.
    static let capacity = 16

    private var layouts: [KeyboardLayoutName: Compiled] = [:]
    private var order: [KeyboardLayoutName] = []
    /// One compile at a time: a client cycling through names queues behind itself rather than
    /// taking a core per connection.
    private let compiler = DispatchQueue(label: "fractal-session-xkb")

    subscript(name: KeyboardLayoutName) -> Compiled? { layouts[name] }

    func store(_ name: KeyboardLayoutName, _ compiled: Compiled) {
        if layouts.updateValue(compiled, forKey: name) == nil { order.append(name) }
        if order.count > Self.capacity { layouts[order.removeFirst()] = nil }
    }

    /// Compiles `name` on the compiler's thread and hands the result to `done` there.
    func compile(_ name: KeyboardLayoutName, then done: @escaping @Sendable (Compiled) -> Void) {
        compiler.async {
            done(Result { () throws(KeyboardLayoutError) in try KeyboardLayout(name) })
        }
    }
}

extension SessionDispatcher {
    /// TEXT: checks the device as EVENTS would, finds the layout (compiling it off the loop the
    /// first time), maps every character before any is typed, then types the text in batches
    /// through the connection's filter, paced for readers (`SessionServer.Limits.textBatchInterval`).
    /// False when the connection was closed.
    func typeText(_ text: String, layout wire: SessionTextLayout, device: UInt8, from connection: SessionConnection, entry: LeaseEntry) -> Bool {
        let index = Int(device)
        guard entry.lease.devices.indices.contains(index) else {
            return report(.noSuchDevice, "lease \(entry.lease.id) has no device \(index) (it has \(entry.lease.devices.count))", to: connection, entry: entry)
        }
        let keyboard = entry.lease.devices[index]
        guard keyboard.role == .keyboard else {
            return report(.deviceRefused, "device \(index) is a \(keyboard.role.rawValue), not a keyboard: TEXT types on keyboards", to: connection, entry: entry)
        }
        guard keyboard.plugged else {
            return report(.deviceRefused, "device \(index) (keyboard) is an unplugged hot-plug slot", to: connection, entry: entry)
        }
        // The policy's word on the device, as EVENTS gets it, before a layout is compiled for nothing.
        batch.removeAll()
        if connection.filter.filter(batch, device: index).refused != nil {
            return report(.deviceRefused, "policy \(entry.lease.policy.rawValue) refuses events to device \(index) (keyboard)", to: connection, entry: entry)
        }
        let name: KeyboardLayoutName
        do {
            name = try KeyboardLayoutName(layout: wire.layout.isEmpty ? KeyboardLayoutName.us.layout : wire.layout, variant: wire.variant, options: wire.options)
        } catch {
            return report(.badLayout, "\(error)", to: connection, entry: entry)
        }
        guard !text.isEmpty else { return true }
        if let compiled = layouts[name] {
            return type(text, compiled, device: index, from: connection, entry: entry)
        }
        connection.text = .compiling
        updateInterest(connection)
        let token = connection.token
        layouts.compile(name) { [weak loop = self.loop] compiled in
            loop?.perform { loop in loop.dispatcher.compiled(name, compiled, text: text, device: index, for: token) }
        }
        return true
    }

    /// Back on the loop with a layout compiled for a connection's TEXT (which may be gone).
    private func compiled(_ name: KeyboardLayoutName, _ compiled: KeyboardLayoutCache.Compiled, text: String, device: Int, for token: UInt64) {
        registry.statistics.layoutsCompiled += 1
        layouts.store(name, compiled)
        guard case .connection(let connection)? = registry.registrations[token], let entry = connection.entry,
              case .compiling? = connection.text else { return }
        connection.text = nil
        guard type(text, compiled, device: device, from: connection, entry: entry) else { return }
        if connection.text == nil { loop?.resume(connection, entry: entry) }
    }

    /// Maps the whole text, then writes its first batch and schedules the rest.
    private func type(_ text: String, _ compiled: KeyboardLayoutCache.Compiled, device: Int, from connection: SessionConnection, entry: LeaseEntry) -> Bool {
        let batches: [[InputEvent]]
        do {
            batches = try compiled.get().batches(typing: text)
        } catch {
            return report(error.isUntypable ? .untypable : .badLayout, "\(error)", to: connection, entry: entry)
        }
        registry.statistics.textsTyped += 1
        connection.text = .typing(device: device, batches: batches[...])
        return typeNext(connection, entry: entry)
    }

    /// Writes the next batch of the connection's text through its filter, as EVENTS would, and
    /// schedules the one after; a batch refused (the keyboard unplugged, the write failed) ends
    /// the text. When the text is done, `connection.text` is nil and the caller resumes the
    /// frames that waited. False when the connection was closed.
    func typeNext(_ connection: SessionConnection, entry: LeaseEntry) -> Bool {
        guard case .typing(let device, var batches)? = connection.text, let next = batches.popFirst() else {
            connection.text = nil
            return true
        }
        batch.removeAll()
        for event in next { batch.append(event) }
        switch inject(device: device, from: connection, entry: entry) {
        case .closed: return false
        case .refused: batches = []
        case .delivered: break
        }
        if batches.isEmpty {
            connection.text = nil
            return true
        }
        connection.text = .typing(device: device, batches: batches)
        registry.typingDue.append((connection.token, SessionConnection.nowNanoseconds() &+ limits.textBatchInterval.wholeNanoseconds))
        updateInterest(connection)
        return true
    }
}

extension KeyboardLayoutError {
    var isUntypable: Bool {
        if case .untypable = self { true } else { false }
    }
}
