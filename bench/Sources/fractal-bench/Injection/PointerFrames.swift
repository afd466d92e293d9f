import CUInput
import DeviceManager

/// The events every injection path sends: pointer moves on the tablet profile, each frame
/// ABS_X, ABS_Y, MSC_SCAN (the frame's number, so a reader can pair it with its send time)
/// and SYN_REPORT. Consecutive frames differ in every value, so the kernel drops none of them
/// as a repeat.
enum PointerFrames {
    static let eventsPerFrame = 4
    /// Where the frame number sits in a frame.
    static let sequenceIndex = 2

    static func frame(_ number: Int) -> [InputEvent] {
        [
            .abs(UInt16(ABS_X), Int32(number & 0xffff)),
            .abs(UInt16(ABS_Y), Int32((number &* 3) & 0xffff)),
            InputEvent(type: UInt16(EV_MSC), code: UInt16(MSC_SCAN), value: Int32(truncatingIfNeeded: number)),
            .syn(),
        ]
    }

    /// `count` events (a whole number of frames), numbered from 0.
    static func events(_ count: Int) -> [InputEvent] {
        (0..<(count / eventsPerFrame)).flatMap(frame)
    }

    /// The same events as the kernel's `struct input_event`, for the C baselines.
    static func kernelEvents(_ events: [InputEvent]) -> [input_event] {
        events.map { event in
            var kernel = input_event()
            kernel.type = event.type
            kernel.code = event.code
            kernel.value = event.value
            return kernel
        }
    }
}
