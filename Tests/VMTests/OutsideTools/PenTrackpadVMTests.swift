import DeviceManager
import Foundation
import Testing

/// The pen and the trackpad as libinput (what compositors and Xorg use) takes them: a tablet
/// whose tool has pressure, distance and tilt, and a touchpad with gestures whose two-finger
/// scroll scrolls. Written straight to the devices, without fractal-agent's udev rules.
@Suite struct PenTrackpadVMTests {
    /// The `Capabilities:` words of `libinput list-devices` for the device, once udevd has it.
    static func capabilities(of device: UInputDevice) throws -> (words: [String], block: String) {
        try OutsideToolsVMTests.waitForUdev(device)
        let node = try #require(device.eventNode).path
        let block = try #require(try OutsideToolsVMTests.libinputBlock(for: node), "libinput list-devices does not list \(node)")
        let line = block.split(separator: "\n").first { $0.hasPrefix("Capabilities:") } ?? ""
        return (line.split(separator: " ").dropFirst().map(String.init), block)
    }

    @Test func libinputListsThePenAsATablet() throws {
        try requireVM()
        let device = try UInputDevice(profile: .pen, phys: testPhys(.pen))
        defer { device.close() }
        let (words, block) = try Self.capabilities(of: device)
        #expect(block.contains("Device:           Fractal Virtual Pen"), "\(block)")
        #expect(words == ["tablet"], "\(block)")
        print("libinput list-devices, pen: \(words)")
    }

    @Test func libinputListsTheTrackpadAsATouchpadWithGestures() throws {
        try requireVM()
        let device = try UInputDevice(profile: .trackpad, phys: testPhys(.trackpad))
        defer { device.close() }
        let (words, block) = try Self.capabilities(of: device)
        #expect(block.contains("Device:           Fractal Virtual Trackpad"), "\(block)")
        #expect(words == ["pointer", "gesture"], "\(block)")
        // What only a touchpad has: tapping and a scroll method of two fingers.
        #expect(block.contains("Tap-to-click:"), "\(block)")
        #expect(block.split(separator: "\n").contains { $0.hasPrefix("Scroll methods:") && $0.contains("*two-finger") }, "\(block)")
        print("libinput list-devices, trackpad: \(words)")
    }

    /// A stroke with pressure and tilt: libinput's tool says it has them, and its axis events
    /// carry them as they change.
    @Test func aPenStrokeArrivesAsTabletToolAxisEventsWithPressureAndTilt() throws {
        try requireVM()
        let device = try UInputDevice(profile: .pen, phys: testPhys(.pen))
        defer { device.close() }
        try OutsideToolsVMTests.waitForUdev(device)
        let libinput = try LibinputEvents(node: try #require(device.eventNode).path)
        defer { libinput.stop() }
        try Gestures.play(Gestures.penStroke) { try device.write($0) }
        #expect(libinput.wait { $0.contains("proximity-out") }, "\(libinput.text)")
        let output = libinput.stop()

        let proximity = try #require(libinput.events("TABLET_TOOL_PROXIMITY").first { $0.contains("proximity-in") }, "\(output)")
        // libinput names the tool's axes: d(istance), p(ressure), t(ilt).
        let axes = proximity.components(separatedBy: "axes:").dropFirst().first?.prefix { !$0.isWhitespace } ?? ""
        #expect(axes.contains("d") && axes.contains("p") && axes.contains("t"), "\(proximity)")
        #expect(proximity.contains("pen"), "\(proximity)")
        #expect(libinput.events("TABLET_TOOL_TIP").contains { $0.contains("down") }, "\(output)")

        let motion = libinput.events("TABLET_TOOL_AXIS")
        #expect(!motion.isEmpty, "\(output)")
        let pressures = motion.compactMap { Self.number(after: "pressure:", in: $0) }
        let tilts = motion.compactMap { Self.number(after: "tilt:", in: $0) }
        // Pressure is printed while the tip touches (distance 0), as it does through this stroke.
        #expect(pressures.contains { $0 > 0.3 }, "\(motion)")
        // 1000...2000 hundredths of a degree: 10 to 20 degrees.
        #expect(tilts.count == motion.count && tilts.allSatisfy { $0 > 9.9 && $0 < 20.1 } && tilts.contains { $0 > 15 }, "\(motion)")
        print("libinput, pen: \(proximity)\n\(motion.last ?? "")")
    }

    /// Two fingers moving down together on the trackpad scroll.
    @Test func aTwoFingerScrollWrittenToTheTrackpadArrivesAsAScrollEvent() throws {
        try requireVM()
        let device = try UInputDevice(profile: .trackpad, phys: testPhys(.trackpad))
        defer { device.close() }
        try OutsideToolsVMTests.waitForUdev(device)
        let libinput = try LibinputEvents(node: try #require(device.eventNode).path)
        defer { libinput.stop() }
        try Gestures.play(Gestures.twoFingerScroll) { try device.write($0) }
        #expect(libinput.wait { Self.scrolls(in: $0) }, "\(libinput.text)")
        let output = libinput.stop()
        let scrolls = libinput.events("POINTER_SCROLL_FINGER") + libinput.events("POINTER_AXIS")
        #expect(scrolls.contains { $0.contains("vert") }, "\(output)")
        print("libinput, trackpad: \(scrolls.first ?? "")")
    }

    static func scrolls(in output: String) -> Bool {
        output.contains("POINTER_SCROLL_FINGER") || output.contains("POINTER_AXIS")
    }

    /// The number after `label` in a debug-events line ("pressure: 0.49*" is 0.49).
    static func number(after label: String, in line: String) -> Double? {
        guard let range = line.range(of: label) else { return nil }
        let rest = line[range.upperBound...].drop { $0 == " " }
        return Double(rest.prefix { $0.isNumber || $0 == "." || $0 == "-" })
    }
}
