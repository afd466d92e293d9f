@testable import DeviceManager
import Testing

@Suite struct UdevRecordTests {
    /// A record as the host's udevd wrote it for a gamepad's event node under fractal-agent's rules.
    let hostRecord = """
        S:input/by-fractal-id/abc/gamepad
        I:123456789
        E:ID_INPUT=1
        E:ID_INPUT_JOYSTICK=1
        E:ID_SEAT=seat-fractal
        E:FRACTAL_HOST_HIDDEN=1
        E:FRACTAL_ID=abc
        E:FRACTAL_ROLE=gamepad
        E:DEVLINKS=/dev/input/by-fractal-id/abc/gamepad
        G:power-switch
        Q:power-switch
        V:1

        """

    @Test func theContainerSeesItsDeviceOnItsOwnSeatWithoutHostLinks() {
        let record = UdevRecord(containerViewOf: hostRecord)
        #expect(record.initializedMicroseconds == 123_456_789)
        #expect(record.properties.map(\.key) == ["ID_INPUT", "ID_INPUT_JOYSTICK", "FRACTAL_ID", "FRACTAL_ROLE"])
        #expect(record["ID_SEAT"] == nil)
        #expect(record.tags == ["power-switch", "seat", "uaccess"])
        #expect(record.databaseText == """
            I:123456789
            E:ID_INPUT=1
            E:ID_INPUT_JOYSTICK=1
            E:FRACTAL_ID=abc
            E:FRACTAL_ROLE=gamepad
            G:power-switch
            Q:power-switch
            G:seat
            Q:seat
            G:uaccess
            Q:uaccess
            V:1

            """)
    }

    @Test func withoutUdevdEachRoleGetsWhatInputIDWouldGiveIt() throws {
        let id = try FractalID("abc")
        #expect(UdevRecord(synthesisedFor: .keyboard, id: id)["ID_INPUT_KEYBOARD"] == "1")
        #expect(UdevRecord(synthesisedFor: .tablet, id: id)["ID_INPUT_MOUSE"] == "1")
        #expect(UdevRecord(synthesisedFor: .gamepad, id: id)["ID_INPUT_JOYSTICK"] == "1")
        #expect(UdevRecord(synthesisedFor: .touchscreen, id: id)["ID_INPUT_TOUCHSCREEN"] == "1")
        #expect(UdevRecord(synthesisedFor: .pen, id: id)["ID_INPUT_TABLET"] == "1")
        #expect(UdevRecord(synthesisedFor: .trackpad, id: id)["ID_INPUT_TOUCHPAD"] == "1")
        #expect(UdevRecord(synthesisedFor: .mouse, id: id)["ID_INPUT"] == "1")
    }

    @Test func theMessageCarriesWhatLibudevRequiresThenTheRecord() {
        let announcement = UdevAnnouncement(
            devicePath: "/devices/virtual/input/input17/event5", deviceNode: "/dev/input/event5", major: 13, minor: 69,
            record: UdevRecord(containerViewOf: hostRecord))
        let text = String(decoding: announcement.properties(action: .add, sequenceNumber: 7), as: UTF8.self)
        let lines = text.split(separator: "\0").map(String.init)
        #expect(Array(lines.prefix(8)) == [
            "ACTION=add", "DEVPATH=/devices/virtual/input/input17/event5", "SUBSYSTEM=input", "DEVNAME=/dev/input/event5",
            "MAJOR=13", "MINOR=69", "SEQNUM=7", "USEC_INITIALIZED=123456789",
        ])
        #expect(lines.contains("ID_INPUT_JOYSTICK=1"))
        #expect(lines.contains("TAGS=:power-switch:seat:uaccess:"))
        #expect(text.hasSuffix("\0"))
        #expect(SessionViews.databaseName(announcement) == "c13:69")
        let parent = UdevAnnouncement(devicePath: "/devices/virtual/input/input17", record: UdevRecord(containerViewOf: ""))
        #expect(SessionViews.databaseName(parent) == "+input:input17")
        #expect(!String(decoding: parent.properties(action: .remove, sequenceNumber: 0), as: UTF8.self).contains("DEVNAME"))
    }

    @Test func deviceNumbersMatchGlibcMakedev() {
        #expect(SessionViews.deviceNumber(major: 13, minor: 69) == 0xd45)
        #expect(SessionViews.deviceNumber(major: 13, minor: 1023) == 0x30_0dff)
    }
}
