import CUInput

/// Events in the kernel's own `struct input_event` layout, in memory this batch owns: what
/// write(2) to a uinput device takes as it is. The session socket decodes a frame's events
/// straight into it from the receive buffer (the only copy on the way to the kernel), the
/// `InputFilter` drops events in place, and the device writes it.
///
/// Not thread-safe: one owner (the session loop) fills, filters and writes it.
public final class InputEventBatch {
    /// The most events it holds.
    public let capacity: Int
    /// Events in the batch now.
    public private(set) var count = 0
    private let storage: UnsafeMutableRawPointer

    private static let stride = Int(CUINPUT_KERNEL_EVENT_SIZE)
    private static let typeOffset = Int(CUINPUT_KERNEL_EVENT_TYPE_OFFSET)
    private static let codeOffset = Int(CUINPUT_KERNEL_EVENT_CODE_OFFSET)
    private static let valueOffset = Int(CUINPUT_KERNEL_EVENT_VALUE_OFFSET)

    public init(capacity: Int) {
        precondition(capacity > 0)
        self.capacity = capacity
        storage = .allocate(byteCount: capacity * Self.stride, alignment: MemoryLayout<UInt64>.alignment)
        // Timestamps stay zero for good: the kernel stamps events when it delivers them.
        storage.initializeMemory(as: UInt8.self, repeating: 0, count: capacity * Self.stride)
    }

    public convenience init(_ events: [InputEvent]) {
        self.init(capacity: max(1, events.count))
        for event in events { append(event) }
    }

    deinit {
        storage.deallocate()
    }

    /// Replaces the contents with `count` events in the session wire's layout (8 bytes each:
    /// u16 type, u16 code, s32 value, little-endian), starting at `wire`'s first byte.
    public func load(wire: UnsafeRawBufferPointer, count: Int) {
        self.count = 0
        append(wire: wire, count: count)
    }

    /// Adds `count` events in the session wire's layout after those in the batch: consecutive
    /// frames for one device gather here and go to the kernel in one write(2).
    public func append(wire: UnsafeRawBufferPointer, count added: Int) {
        precondition(count + added <= capacity && wire.count >= added * 8)
        for index in 0..<added {
            let from = index * 8
            let to = storage + (count + index) * Self.stride
            to.storeBytes(of: UInt16(littleEndian: wire.loadUnaligned(fromByteOffset: from, as: UInt16.self)), toByteOffset: Self.typeOffset, as: UInt16.self)
            to.storeBytes(of: UInt16(littleEndian: wire.loadUnaligned(fromByteOffset: from + 2, as: UInt16.self)), toByteOffset: Self.codeOffset, as: UInt16.self)
            to.storeBytes(of: Int32(littleEndian: wire.loadUnaligned(fromByteOffset: from + 4, as: Int32.self)), toByteOffset: Self.valueOffset, as: Int32.self)
        }
        count += added
    }

    /// Adds an event at the end.
    public func append(_ event: InputEvent) {
        precondition(count < capacity)
        count += 1
        self[count - 1] = event
    }

    public func removeAll() { count = 0 }

    /// Drops the events from `start` on, keeping those before it.
    public func removeLast(from start: Int) {
        precondition(start >= 0 && start <= count)
        count = start
    }

    public subscript(index: Int) -> InputEvent {
        get {
            precondition(index >= 0 && index < count)
            let at = storage + index * Self.stride
            return InputEvent(
                type: at.load(fromByteOffset: Self.typeOffset, as: UInt16.self),
                code: at.load(fromByteOffset: Self.codeOffset, as: UInt16.self),
                value: at.load(fromByteOffset: Self.valueOffset, as: Int32.self))
        }
        set {
            precondition(index >= 0 && index < count)
            let at = storage + index * Self.stride
            at.storeBytes(of: newValue.type, toByteOffset: Self.typeOffset, as: UInt16.self)
            at.storeBytes(of: newValue.code, toByteOffset: Self.codeOffset, as: UInt16.self)
            at.storeBytes(of: newValue.value, toByteOffset: Self.valueOffset, as: Int32.self)
        }
    }

    /// Keeps only the events from `start` on that `keep` says yes to, in order, moving them
    /// down in place; those before `start` stay as they are. `keep` sees each event once, in order.
    public func retain(from start: Int = 0, where keep: (InputEvent) -> Bool) {
        precondition(start >= 0 && start <= count)
        var kept = start
        for index in start..<count {
            let event = self[index]
            guard keep(event) else { continue }
            if kept != index { self[kept] = event }
            kept += 1
        }
        count = kept
    }

    public var events: [InputEvent] { (0..<count).map { self[$0] } }

    /// Writes the batch to `fd` with one write(2). Returns 0 or -errno.
    func write(to fd: Int32) -> Int32 {
        cuinput_write_kernel_events(fd, storage, count)
    }

    /// `write(to:)` for tests, on a descriptor that is not a device (a pipe).
    package func writeForTesting(to fd: Int32) -> Int32 { write(to: fd) }
}
