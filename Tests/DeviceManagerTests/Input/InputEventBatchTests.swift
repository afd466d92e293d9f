import CUInput
import DeviceManager
import Foundation
import Testing

/// The session socket's one copy: wire events into the kernel's layout, filtered in place.
@Suite struct InputEventBatchTests {
    static func wire(_ events: [InputEvent]) -> [UInt8] {
        var bytes: [UInt8] = []
        for event in events {
            withUnsafeBytes(of: event.type.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: event.code.littleEndian) { bytes += $0 }
            withUnsafeBytes(of: event.value.littleEndian) { bytes += $0 }
        }
        return bytes
    }

    static func key(_ code: Int32, _ value: Int32) -> InputEvent { InputEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }

    @Test func wireEventsLoadIntoTheKernelsLayoutAndWriteAsWholeStructs() throws {
        let events = [Self.key(KEY_A, 1), .syn(), .rel(UInt16(REL_X), -7), .abs(UInt16(ABS_Y), 70_000), .syn()]
        let batch = InputEventBatch(capacity: 16)
        // At an odd offset, as a frame lies in the receive buffer.
        let bytes = [0xAA] + Self.wire(events)
        bytes.withUnsafeBytes { batch.load(wire: UnsafeRawBufferPointer(rebasing: $0[1...]), count: events.count) }
        #expect(batch.events == events)

        var pipe: [Int32] = [-1, -1]
        #expect(Glibc.pipe(&pipe) == 0)
        defer { close(pipe[0]); close(pipe[1]) }
        try FileDescriptorSink(pipe[1]).write(batch)
        var read = [UInt8](repeating: 0, count: 4096)
        let got = Glibc.read(pipe[0], &read, read.count)
        let size = Int(CUINPUT_KERNEL_EVENT_SIZE)
        #expect(got == events.count * size)
        for (index, event) in events.enumerated() {
            let at = index * size
            // The timestamp is zero: the kernel stamps events on delivery.
            #expect(read[at..<(at + Int(CUINPUT_KERNEL_EVENT_TYPE_OFFSET))].allSatisfy { $0 == 0 })
            let type = read.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + Int(CUINPUT_KERNEL_EVENT_TYPE_OFFSET), as: UInt16.self) }
            let value = read.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: at + Int(CUINPUT_KERNEL_EVENT_VALUE_OFFSET), as: Int32.self) }
            #expect(type == event.type && value == event.value)
        }
    }

    @Test func filteringInPlaceKeepsWhatTheArrayFilterKeepsWithTheSameCounts() {
        let devices = [InputFilter.Device(role: .keyboard, profile: .keyboard), InputFilter.Device(role: .mouse, profile: .mouse)]
        let sequence = [
            Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), .syn(), Self.key(KEY_F2, 1), Self.key(KEY_SYSRQ, 1), .syn(),
            Self.key(KEY_F2, 2), Self.key(KEY_LEFTALT, 0), InputEvent(type: UInt16(EV_SYN), code: UInt16(SYN_DROPPED), value: 0),
            Self.key(KEY_LEFTCTRL, 0), Self.key(KEY_F2, 0), Self.key(KEY_B, 2), Self.key(KEY_B, 1), Self.key(KEY_B, 5), .syn(),
        ]
        for policy in [InputPolicy.standard, .trusted, .gamepadOnly] {
            var arrays = InputFilter(policy: policy, devices: devices)
            var inPlace = InputFilter(policy: policy, devices: devices)
            for cut in [0, 3, 6, 9, sequence.count] where cut > 0 {
                let part = Array(sequence[..<cut])
                let outcome = arrays.filter(part, device: 0)
                let batch = InputEventBatch(part)
                let verdict = inPlace.filter(batch, device: 0)
                #expect(batch.events == outcome.events, "\(policy) \(cut)")
                #expect(verdict.drops == outcome.drops && verdict.refused == outcome.refused && verdict.firstDropped == outcome.firstDropped)
                #expect(inPlace.modifiers == arrays.modifiers)
            }
            let beyond = InputEventBatch([.syn()])
            #expect(inPlace.filter(beyond, device: 5).refused == .noSuchDevice)
            #expect(beyond.count == 0)
        }
    }
}

/// Writes batches to a plain descriptor, as `UInputDevice` does to its uinput fd.
private struct FileDescriptorSink {
    let fd: Int32
    init(_ fd: Int32) { self.fd = fd }

    func write(_ batch: InputEventBatch) throws {
        let result = batch.writeForTesting(to: fd)
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: -result) ?? .EIO) }
    }
}
