import CFractalLinux
import CUInput
import DeviceManager
import Foundation
import FractalSessionClient
import FractalSessionProtocol
import SessionServer
import Synchronization
import Testing

/// The session server over real unix sockets on the host, with fake devices.
@Suite(.serialized) struct SessionServerHostTests {
    /// A running server with one lease of keyboard, mouse, gamepad in a fresh directory.
    final class Fixture {
        let directory: String
        let server: SessionServer
        let devices = [FakeDevice(.keyboard), FakeDevice(.mouse), FakeDevice(.gamepad)]
        let id = FractalID.random()
        var socketPath: String { directory + "/input.sock" }

        init(policy: InputPolicy = .standard, limits: SessionServer.Limits = .init()) throws {
            directory = try makeTemporaryDirectory()
            server = try SessionServer(limits: limits)
            server.start()
            try server.addLease(lease(policy: policy))
        }

        func lease(policy: InputPolicy) -> SessionLease {
            SessionLease(id: id, policy: policy, socketPath: socketPath, devices: zip([DeviceRole.keyboard, .mouse, .gamepad], devices).map { role, device in
                SessionLease.Device(role: role, name: device.profile.name, nodes: [LeasedNode(kind: "event", path: "/dev/input/event9", major: 13, minor: 73)], device: device)
            })
        }

        func client() throws -> SessionClient {
            let client = try SessionClient(connectingTo: socketPath)
            _ = try client.hello()
            return client
        }

        deinit {
            server.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    static func key(_ code: Int32, _ value: Int32) -> SessionEvent { SessionEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }
    static func inputKey(_ code: Int32, _ value: Int32) -> InputEvent { InputEvent(type: UInt16(EV_KEY), code: UInt16(code), value: value) }

    @Test func helloReturnsTheManifestAndTheSocketIsOpenToAll() throws {
        let fixture = try Fixture()
        let client = try SessionClient(connectingTo: fixture.socketPath)
        let manifest = try client.hello()
        #expect(manifest.lease == fixture.id.rawValue)
        #expect(manifest.policy == "default")
        #expect(manifest.devices.map(\.role) == ["keyboard", "mouse", "gamepad"])
        #expect(manifest.devices.map(\.index) == [0, 1, 2])
        #expect(manifest.devices[0].nodes.first?.path == "/dev/input/event9")
        let keys = try #require(manifest.devices[0].capabilities.first { $0.name == "EV_KEY" })
        #expect(keys.type == 1 && keys.codes.contains(30))
        #expect(manifest.devices[2].axes.contains { $0.code == UInt16(ABS_X) && $0.minimum == -32768 })
        var info = stat()
        #expect(stat(fixture.socketPath, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o666)
    }

    @Test func eventsReachTheDeviceAsOneBatchBeforeThePong() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.send([Self.key(KEY_A, 1), .syn(), Self.key(KEY_A, 0), .syn()], toDevice: 0)
        try client.send([SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: 5), .syn()], toDevice: 1)
        try client.ping()
        #expect(fixture.devices[0].written == [[Self.inputKey(KEY_A, 1), .syn(), Self.inputKey(KEY_A, 0), .syn()]])
        #expect(fixture.devices[1].written == [[.rel(UInt16(REL_X), 5), .syn()]])
        #expect(fixture.server.statistics.eventsWritten == 6)
        #expect(fixture.server.statistics.batchesWritten == 2)
    }

    @Test func aBusyPollingLoopServesFramesAndThenSleeps() throws {
        var limits = SessionServer.Limits()
        limits.busyPoll = .milliseconds(5)
        let fixture = try Fixture(limits: limits)
        let client = try fixture.client()
        for step in 0..<50 {
            try client.send([SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: Int32(step)), .syn()], toDevice: 1)
        }
        try client.ping()
        #expect(fixture.devices[1].written.flatMap { $0 }.count == 100)
        // Past the window the loop sleeps in epoll_wait again: it still answers at once.
        usleep(50_000)
        #expect(fixture.server.isResponsive(within: .seconds(5)))
        try client.ping()
    }

    @Test func framesCutAtEveryByteArriveWholeAndInOrder() throws {
        let fixture = try Fixture()
        let raw = try RawConnection(fixture.socketPath)
        var bytes = SessionMessage.hello(.current).encoded()
        var expected: [[InputEvent]] = []
        for step in 0..<20 {
            let events = [SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: Int32(step)), .syn()]
            SessionMessage.appendEventsFrames(device: 1, events[...], to: &bytes)
            expected.append([.rel(UInt16(REL_X), Int32(step)), .syn()])
        }
        bytes += SessionMessage.ping(token: 7).encoded()
        // One byte a send: every frame is carried across reads, header and payload alike.
        for byte in bytes.dropLast() { try raw.sendNow([byte]) }
        let replies = try raw.exchange([bytes.last!], until: .pong(token: 7))
        #expect(replies.last == .pong(token: 7))
        #expect(fixture.devices[1].written.flatMap { $0 } == expected.flatMap { $0 })
    }

    /// Frames queued in the socket for one device go to the kernel together, in order: a read's
    /// consecutive frames for a device in one write(2), never more than a frame's worth of events
    /// per write held back from the kernel, and none split.
    @Test func aThousandQueuedFramesReachTheDeviceInOrderInFewWrites() throws {
        let fixture = try Fixture()
        let raw = try RawConnection(fixture.socketPath)
        var bytes = SessionMessage.hello(.current).encoded()
        for step in 0..<1000 {
            SessionMessage.appendEventsFrames(device: 1, [SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_Y), value: Int32(step)), .syn()][...], to: &bytes)
        }
        bytes += SessionMessage.ping(token: 9).encoded()
        #expect(try raw.exchange(bytes, until: .pong(token: 9)).last == .pong(token: 9))
        let writes = fixture.devices[1].written
        #expect(writes.flatMap { $0 } == (0..<1000).flatMap { [InputEvent.rel(UInt16(REL_Y), Int32($0)), .syn()] })
        // 24,012 bytes: a read takes up to 64 KiB, so one write for all, or a few where the
        // socket had not all of it yet; each ends on a frame's last event.
        #expect(writes.count < 1000 / 4)
        #expect(writes.allSatisfy { $0.last == .syn() })
        #expect(fixture.server.statistics.batchesWritten == writes.count)
        #expect(fixture.server.statistics.eventsWritten == 2000)
    }

    /// Gathering never reorders: frames for another device, or refused ones, between a device's
    /// frames end its write; a key held in the gathered events is released when the connection
    /// closes right after them.
    @Test func gatheredFramesKeepTheirOrderAcrossDevicesAndRefusals() throws {
        let fixture = try Fixture()
        let raw = try RawConnection(fixture.socketPath)
        var bytes = SessionMessage.hello(.current).encoded()
        let move = { (value: Int32) in [SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: value), .syn()] }
        SessionMessage.appendEventsFrames(device: 1, move(1)[...], to: &bytes)
        SessionMessage.appendEventsFrames(device: 1, move(2)[...], to: &bytes)
        SessionMessage.appendEventsFrames(device: 0, [Self.key(KEY_A, 1), .syn()][...], to: &bytes)
        SessionMessage.appendEventsFrames(device: 9, move(99)[...], to: &bytes)
        SessionMessage.appendEventsFrames(device: 1, move(3)[...], to: &bytes)
        SessionMessage.appendEventsFrames(device: 1, [SessionEvent(type: UInt16(EV_KEY), code: UInt16(KEY_POWER), value: 1), .syn()][...], to: &bytes)
        SessionMessage.appendEventsFrames(device: 1, move(4)[...], to: &bytes)
        bytes += SessionMessage.ping(token: 3).encoded()
        let replies = try raw.exchange(bytes, until: .pong(token: 3))
        #expect(replies.contains { if case .error(.noSuchDevice, _) = $0 { true } else { false } })
        #expect(fixture.devices[1].written == [
            [.rel(UInt16(REL_X), 1), .syn(), .rel(UInt16(REL_X), 2), .syn()],
            [.rel(UInt16(REL_X), 3), .syn(), .syn(), .rel(UInt16(REL_X), 4), .syn()],
        ])
        #expect(fixture.devices[0].written == [[Self.inputKey(KEY_A, 1), .syn()]])
        // Closed with A held: its release follows the press.
        _ = try raw.exchange([], closeAfter: true)
        #expect(fixture.devices[0].wait { $0.count == 2 })
        #expect(fixture.devices[0].written.last == [Self.inputKey(KEY_A, 0), .syn()])
    }

    @Test func pingsSentWithoutReadingPauseTheConnectionAndAllArePongedOnceItReads() throws {
        let fixture = try Fixture()
        let raw = try RawConnection(fixture.socketPath)
        var pings = SessionMessage.hello(.current).encoded()
        let count = 20_000
        for token in 1...UInt32(count) { pings += SessionMessage.ping(token: token).encoded() }
        // 240 kB of PINGs, 240 kB of PONGs: far past the 64 KiB that pause reading.
        let descriptor = raw.fd
        let bytes = pings
        let sender = Thread {
            _ = bytes.withUnsafeBytes { cfl_send(descriptor, $0.baseAddress, $0.count, 0) }
        }
        sender.start()
        usleep(200_000)
        let replies = try raw.exchange([], until: .pong(token: UInt32(count)))
        #expect(replies.filter { if case .pong = $0 { true } else { false } }.count == count)
        #expect(fixture.server.statistics.framesReceived == count + 1)
    }

    @Test func aFloodingLeaseDoesNotStopAnotherLeasesEvents() throws {
        let flooded = try Fixture()
        let other = FakeDevice(.keyboard)
        let otherID = FractalID.random()
        let otherPath = flooded.directory + "/other.sock"
        try flooded.server.addLease(SessionLease(id: otherID, policy: .standard, socketPath: otherPath, devices: [
            SessionLease.Device(role: .keyboard, name: "k", nodes: [], device: other)]))
        let flooder = try RawConnection(flooded.socketPath)
        try flooder.sendNow(SessionMessage.hello(.current).encoded())
        let descriptor = flooder.fd
        let stop = StopFlag()
        let sender = Thread {
            var burst: [UInt8] = []
            for _ in 0..<256 {
                SessionMessage.appendEventsFrames(device: 1, [SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: 1), .syn()][...], to: &burst)
            }
            while !stop.value.load(ordering: .relaxed), burst.withUnsafeBytes({ cfl_send(descriptor, $0.baseAddress, $0.count, 0) }) > 0 {}
        }
        sender.start()
        defer { stop.value.store(true, ordering: .relaxed) }
        #expect(flooded.devices[1].wait { $0.count > 10 && $0.reduce(0) { $0 + $1.count } > 2000 })
        // While the flood goes on, the other lease's batch and PING are served.
        let client = try SessionClient(connectingTo: otherPath)
        _ = try client.hello()
        for step in 0..<20 {
            try client.send([Self.key(KEY_A, Int32(step % 2)), .syn()], toDevice: 0)
            try client.ping()
        }
        #expect(other.written.count == 20)
        #expect(flooded.server.statistics.connectionsOpen == 2)
    }

    @Test func theDefaultPolicyFiltersCtrlAltF2AndSysrqAndSaysSo() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.send([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), Self.key(KEY_F2, 1), .syn(), Self.key(KEY_F2, 0), .syn()], toDevice: 0)
        try client.send([Self.key(KEY_SYSRQ, 1), .syn()], toDevice: 0)
        try client.ping()
        let written = fixture.devices[0].written.flatMap { $0 }
        #expect(!written.contains { $0.code == UInt16(KEY_F2) || $0.code == UInt16(KEY_SYSRQ) })
        #expect(written.contains(Self.inputKey(KEY_LEFTCTRL, 1)))
        let first = try client.nextNotification(timeout: .seconds(5))
        guard case .error(.filtered, let message) = first else { Issue.record("got \(String(describing: first))"); return }
        #expect(message.contains("ctrl-alt"))
        let stats = fixture.server.statistics
        #expect(stats.drops.ctrlAlt == 2 && stats.drops.sysrq == 1)
    }

    @Test func aBadDeviceIndexIsRefusedAndTheConnectionStays() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.send([Self.key(KEY_A, 1), .syn()], toDevice: 3)
        try client.send([SessionEvent(type: UInt16(EV_KEY), code: UInt16(KEY_A), value: 1)], toDevice: 2)
        try client.ping()
        guard case .error(.noSuchDevice, _) = try client.nextNotification(timeout: .seconds(5)) else { Issue.record("no no-such-device"); return }
        guard case .error(.capabilityRefused, _) = try client.nextNotification(timeout: .seconds(5)) else { Issue.record("no capability-refused"); return }
        try client.send([Self.key(KEY_B, 1), .syn()], toDevice: 0)
        try client.ping()
        #expect(fixture.devices[0].written == [[Self.inputKey(KEY_B, 1), .syn()]])
        #expect(fixture.devices[2].written.isEmpty)
    }

    @Test func gamepadOnlyRefusesTheKeyboardAndTakesTheGamepad() throws {
        let fixture = try Fixture(policy: .gamepadOnly)
        let client = try fixture.client()
        try client.send([Self.key(KEY_A, 1), .syn()], toDevice: 0)
        try client.send([Self.key(BTN_SOUTH, 1), .syn()], toDevice: 2)
        try client.ping()
        guard case .error(.deviceRefused, _) = try client.nextNotification(timeout: .seconds(5)) else { Issue.record("no device-refused"); return }
        #expect(fixture.devices[0].written.isEmpty)
        #expect(fixture.devices[2].written == [[Self.inputKey(BTN_SOUTH, 1), .syn()]])
    }

    @Test func malformedFramesGetAnErrorAndTheConnectionCloses() throws {
        let fixture = try Fixture()
        // Nonzero flags, an unknown type, an oversize length, no HELLO first, a major version 2.
        let cases: [([UInt8], SessionErrorCode)] = [
            (SessionMessage.hello(.current).encoded() + [0x04, 0x00, 0x01, 0x00, 4, 0, 0, 0, 1, 2, 3, 4], .malformedHeader),
            (SessionMessage.hello(.current).encoded() + SessionFrame(type: SessionMessageType(rawValue: 0x77)).encoded(), .unknownType),
            (SessionMessage.hello(.current).encoded() + [0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00], .payloadTooLarge),
            (SessionMessage.hello(.current).encoded() + SessionFrame(type: .events, payload: [0, 0, 5, 0]).encoded(), .badPayload),
            (SessionMessage.ping(token: 1).encoded(), .helloRequired),
            (SessionMessage.hello(SessionVersion(major: 2, minor: 0)).encoded(), .versionMismatch),
            (SessionMessage.hello(.current).encoded() + SessionMessage.pong(token: 1).encoded(), .unknownType),
        ]
        for (bytes, expected) in cases {
            let received = try RawConnection(fixture.socketPath).exchange(bytes)
            let errors = received.compactMap { if case .error(let code, _) = $0 { code } else { nil } }
            #expect(errors == [expected], "\(received)")
        }
        #expect(fixture.server.statistics.connectionsOpen == 0)
    }

    @Test func aClientThatDisconnectsHoldingShiftHasItReleased() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.send([Self.key(KEY_LEFTSHIFT, 1), .syn(), Self.key(KEY_A, 1), .syn()], toDevice: 0)
        try client.send([Self.key(BTN_LEFT, 1), .syn()], toDevice: 1)
        try client.ping()
        client.close()
        #expect(fixture.devices[0].wait { $0.last == [Self.inputKey(KEY_A, 0), Self.inputKey(KEY_LEFTSHIFT, 0), .syn()] }, "\(fixture.devices[0].written)")
        #expect(fixture.devices[1].wait { $0.last == [Self.inputKey(BTN_LEFT, 0), .syn()] })
    }

    @Test func aClientThatDiesMidBatchHasItsKeysReleasedAndTheHalfBatchDropped() throws {
        let fixture = try Fixture()
        let raw = try RawConnection(fixture.socketPath)
        let frame = SessionMessage.events(device: 0, [Self.key(KEY_LEFTSHIFT, 1), .syn()]).encoded()
        let half = Array(SessionMessage.events(device: 0, [Self.key(KEY_B, 1), .syn()]).encoded().prefix(13))
        let replies = try raw.exchange(SessionMessage.hello(.current).encoded() + frame + SessionMessage.ping(token: 9).encoded(), until: .pong(token: 9))
        #expect(replies.count == 2)
        #expect(fixture.devices[0].written == [[Self.inputKey(KEY_LEFTSHIFT, 1), .syn()]])
        _ = try raw.exchange(half, closeAfter: true)
        #expect(fixture.devices[0].wait { $0.last == [Self.inputKey(KEY_LEFTSHIFT, 0), .syn()] }, "\(fixture.devices[0].written)")
        #expect(!fixture.devices[0].written.flatMap { $0 }.contains { $0.code == UInt16(KEY_B) })
    }

    @Test(arguments: [InputPolicy.trusted, .standard, .gamepadOnly])
    func handOffFollowsThePolicyAndPassesTheDevicesOwnDescriptors(_ policy: InputPolicy) throws {
        let fixture = try Fixture(policy: policy)
        let client = try fixture.client()
        let handed = try client.takeDevices()
        // A uinput fd can recreate its device as anything: only trusted sessions get one.
        let expected: [String] = policy == .trusted ? ["keyboard", "mouse", "gamepad"] : []
        #expect(handed.manifest.attached.map(\.role) == expected)
        #expect(handed.manifest.withheld.count == 3 - expected.count)
        if policy != .trusted {
            #expect(handed.manifest.withheld.allSatisfy { $0.reason.contains("hands off no uinput fd") })
            #expect(fixture.server.statistics.descriptorsPassed == 0)
        }
        for attached in handed.manifest.attached {
            let fd = try #require(handed.descriptor(forDevice: attached.index))
            let marker: [UInt8] = [UInt8(attached.index), 42]
            #expect(write(fd, marker, 2) == 2)
            #expect(fixture.devices[attached.index].readPipe() == marker)
        }
        #expect(handed.descriptor(forDevice: 0) == (policy == .trusted ? handed.descriptor(forDevice: 0) : nil))
        handed.close()
        #expect(handed.descriptor(forDevice: 2) == nil)
    }

    @Test func theNinthConnectionOfALeaseIsRefused() throws {
        let fixture = try Fixture()
        let clients = try (0..<8).map { _ in try fixture.client() }
        let ninth = try SessionClient(connectingTo: fixture.socketPath)
        #expect {
            _ = try ninth.hello(timeout: .seconds(5))
        } throws: { error in
            (error as? SessionClientError)?.code == .refused(.tooManyConnections)
        }
        #expect(fixture.server.statistics.connectionsRefused == 1)
        clients[0].close()
        // A place is free again once the server saw the close.
        #expect(waitUntil { fixture.server.statistics.connectionsOpen == 7 })
        _ = try fixture.client()
        _ = clients
    }

    @Test func removingTheLeaseReleasesKeysClosesConnectionsAndUnlinksTheSocket() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.send([Self.key(KEY_LEFTCTRL, 1), .syn()], toDevice: 0)
        try client.ping()
        fixture.server.removeLease(fixture.id)
        #expect(fixture.devices[0].written.last == [Self.inputKey(KEY_LEFTCTRL, 0), .syn()])
        #expect(!FileManager.default.fileExists(atPath: fixture.socketPath))
        #expect {
            try client.ping(timeout: .seconds(5))
        } throws: { error in
            (error as? SessionClientError)?.code == .refused(.leaseReleased)
        }
    }

    @Test func aSlotPlugKeepsConnectionsButARenumberingClosesThemAndTheSocketServesTheNewManifest() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        try client.send([Self.key(KEY_LEFTALT, 1), .syn()], toDevice: 0)
        try client.ping()
        // The same devices: nothing happens.
        fixture.server.updateLease(fixture.lease(policy: .standard))
        try client.ping()
        // The gamepad slot is unplugged and plugged again: every index stays, and so does the
        // connection; the unplugged slot refuses events meanwhile.
        var slot = fixture.lease(policy: .standard)
        slot.devices[2].plugged = false
        fixture.server.updateLease(slot)
        try client.send([Self.key(BTN_SOUTH, 1), .syn()], toDevice: 2)
        let refusal = try client.nextNotification(timeout: .seconds(5))
        guard case .error(.deviceRefused, let message)? = refusal else {
            Issue.record("expected device-refused, got \(String(describing: refusal))")
            return
        }
        #expect(message.contains("unplugged"))
        fixture.server.updateLease(fixture.lease(policy: .standard))
        try client.ping()
        #expect(fixture.devices[2].written.isEmpty)
        // The mouse is removed: indices shift, so clients reconnect.
        var changed = fixture.lease(policy: .standard)
        changed.devices.remove(at: 1)
        fixture.server.updateLease(changed)
        #expect(fixture.devices[0].written.last == [Self.inputKey(KEY_LEFTALT, 0), .syn()])
        #expect {
            try client.ping(timeout: .seconds(5))
        } throws: { error in
            (error as? SessionClientError)?.code == .refused(.leaseChanged)
        }
        let again = try SessionClient(connectingTo: fixture.socketPath)
        #expect(try again.hello().devices.map(\.role) == ["keyboard", "gamepad"])
        try again.send([Self.key(BTN_SOUTH, 1), .syn()], toDevice: 1)
        try again.ping()
        #expect(fixture.devices[2].written == [[Self.inputKey(BTN_SOUTH, 1), .syn()]])
    }

    @Test func rumbleAndLEDsReachTheClientsAndAreDroppedForOneThatDoesNotRead() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        // The loop reads a device's feedback when its descriptor turns readable, as a uinput fd does.
        fixture.devices[2].queueFeedback([.rumble(effectID: 0, strong: 1000, weak: 2000, durationMs: 300), .rumbleStopped(effectID: 0)])
        #expect(try client.nextNotification(timeout: .seconds(5)) == .rumble(device: 2, strong: 1000, weak: 2000, durationMs: 300))
        #expect(try client.nextNotification(timeout: .seconds(5)) == .rumble(device: 2, strong: 0, weak: 0, durationMs: 0))
        fixture.devices[0].queueFeedback([.led(code: UInt16(LED_CAPSL), on: true)])
        #expect(try client.nextNotification(timeout: .seconds(5)) == .led(device: 0, code: UInt16(LED_CAPSL), on: true))
        // Served again after each read: the one-shot watch is armed once more.
        fixture.devices[0].queueFeedback([.led(code: UInt16(LED_CAPSL), on: false)])
        #expect(try client.nextNotification(timeout: .seconds(5)) == .led(device: 0, code: UInt16(LED_CAPSL), on: false))

        // A read that finds only echoes (EV_MSC) rests the device a moment; what comes next is
        // still served.
        fixture.devices[0].queueFeedback([])
        usleep(50_000)
        fixture.devices[0].queueFeedback([.led(code: UInt16(LED_SCROLLL), on: true)])
        #expect(try client.nextNotification(timeout: .seconds(5)) == .led(device: 0, code: UInt16(LED_SCROLLL), on: true))

        // A client that never reads: notifications are dropped, nothing blocks or grows.
        let silent = try fixture.client()
        fixture.devices[0].queueFeedback(Array(repeating: .led(code: UInt16(LED_NUML), on: true), count: 100_000))
        try silent.send([Self.key(KEY_A, 1), .syn()], toDevice: 0)
        try client.send([Self.key(KEY_B, 1), .syn()], toDevice: 0)
        #expect(fixture.devices[0].wait { $0.count == 2 })
        #expect(fixture.server.statistics.notificationsDropped > 0)
        #expect(fixture.server.statistics.feedbackRead == 100_005)
    }

    @Test func aFailedWriteIsReportedAndTheConnectionStays() throws {
        let fixture = try Fixture()
        let client = try fixture.client()
        fixture.devices[1].failing.store(true, ordering: .relaxed)
        try client.send([SessionEvent(type: UInt16(EV_REL), code: UInt16(REL_X), value: 1), .syn()], toDevice: 1)
        try client.ping()
        guard case .error(.writeFailed, let message) = try client.nextNotification(timeout: .seconds(5)) else { Issue.record("no write-failed"); return }
        #expect(message.contains("errno \(ENODEV)"))
    }

    @Test func connectingAndDisconnectingLeavesNoDescriptorBehind() throws {
        let fixture = try Fixture()
        _ = try fixture.client().takeDevices()
        #expect(waitUntil { fixture.server.statistics.connectionsOpen == 0 })
        let before = openDescriptors()
        for round in 0..<300 {
            let client = try fixture.client()
            if round % 3 == 0 { try client.takeDevices().close() }
            if round % 5 == 0 { try client.send([Self.key(KEY_A, 1)], toDevice: 0) }
            client.close()
            if round % 7 == 0 { _ = try RawConnection(fixture.socketPath).exchange([1, 2, 3], closeAfter: true) }
        }
        #expect(waitUntil { fixture.server.statistics.connectionsOpen == 0 })
        #expect(openDescriptors() == before)
    }

    @Test func anUnreadFDSReplyIsTheOnlyOneAConnectionGets() throws {
        let fixture = try Fixture(policy: .trusted)
        let raw = try RawConnection(fixture.socketPath)
        _ = try raw.exchange(SessionMessage.hello(.current).encoded(), until: nil, stopAfter: 1)
        let before = openDescriptors()
        // 2,000 GET_FDS in one write, never read: at most one reply's descriptors wait in the daemon.
        let flood = Array([[UInt8]](repeating: SessionMessage.getFDs.encoded(), count: 2000).joined())
        _ = flood.withUnsafeBytes { cfl_send(raw.fd, $0.baseAddress, $0.count, 0) }
        _ = SessionMessage.ping(token: 1).encoded().withUnsafeBytes { cfl_send(raw.fd, $0.baseAddress, $0.count, 0) }
        #expect(waitUntil { fixture.server.statistics.errors[.busy, default: 0] > 0 })
        #expect(waitUntil { fixture.server.statistics.framesReceived >= 2002 })
        // One reply's descriptors, in flight in the socket; the other 1,999 got ERROR busy.
        #expect(fixture.server.statistics.descriptorsPassed == 3)
        #expect(openDescriptors() - before < 10, "\(openDescriptors() - before) descriptors more")
        // A client that reads its FDS may ask again.
        let client = try fixture.client()
        try client.takeDevices().close()
        try client.takeDevices().close()
        #expect(fixture.server.statistics.descriptorsPassed == 9)
    }

    @Test func aSilentConnectionIsClosedAfterTheHelloTimeoutAndAnIdleOneAfterTheIdleTimeout() throws {
        var limits = SessionServer.Limits()
        limits.helloTimeout = .milliseconds(300)
        limits.idleTimeout = .milliseconds(600)
        let fixture = try Fixture(limits: limits)
        let silent = try RawConnection(fixture.socketPath)
        let closedSilent = try silent.exchange([])
        #expect(closedSilent == [.error(.helloTimeout, message: "no HELLO within 0.3 seconds of connecting")])
        let idle = try RawConnection(fixture.socketPath)
        let replies = try idle.exchange(SessionMessage.hello(.current).encoded())
        #expect(replies.count == 2)
        guard case .error(.idleTimeout, _) = replies.last else { Issue.record("\(replies)"); return }
        // A client that pings in time stays.
        let pinging = try fixture.client()
        for token in 0..<4 {
            usleep(250_000)
            try pinging.ping()
            #expect(token >= 0)
        }
        #expect(fixture.server.statistics.timeouts == 2)
        #expect(fixture.server.statistics.connectionsOpen == 1)
    }

    @Test func ctrlAndAltHeldByAnotherLeaseDoNotChangeWhatThisLeaseSends() throws {
        let fixture = try Fixture()
        let otherDirectory = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: otherDirectory) }
        let otherKeyboard = FakeDevice(.keyboard)
        try fixture.server.addLease(SessionLease(id: FractalID.random(), policy: .standard, socketPath: otherDirectory + "/input.sock", devices: [
            SessionLease.Device(role: .keyboard, name: "other", nodes: [], device: otherKeyboard),
        ]))
        let other = try SessionClient(connectingTo: otherDirectory + "/input.sock")
        _ = try other.hello()
        try other.send([Self.key(KEY_LEFTCTRL, 1), Self.key(KEY_LEFTALT, 1), .syn()], toDevice: 0)
        try other.ping()
        let client = try fixture.client()
        try client.send([Self.key(KEY_DELETE, 1), .syn(), Self.key(KEY_DELETE, 0), .syn()], toDevice: 0)
        try client.ping()
        #expect(fixture.devices[0].written.flatMap { $0 }.contains(Self.inputKey(KEY_DELETE, 1)))
        // Within one lease, a combination split across two connections is still caught.
        let second = try fixture.client()
        try client.send([Self.key(KEY_LEFTCTRL, 1), .syn()], toDevice: 0)
        try client.ping()
        try second.send([Self.key(KEY_LEFTALT, 1), Self.key(KEY_DELETE, 1), .syn()], toDevice: 0)
        try second.ping()
        #expect(fixture.server.statistics.drops.ctrlAlt == 1)
    }

    @Test func thePythonClientHellosTypesPingsAndTakesFds() throws {
        let fixture = try Fixture(policy: .trusted)
        let script = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appending(path: "clients/python/fractal_session.py").path
        let hello = try run(["python3", script, fixture.socketPath, "hello"])
        #expect(hello.status == 0, "\(hello.output)")
        #expect(hello.output.contains("\"lease\": \"\(fixture.id)\""))
        let tap = try run(["python3", script, fixture.socketPath, "tap", "0", "30", "0x30"])
        #expect(tap.status == 0, "\(tap.output)")
        #expect(fixture.devices[0].written.flatMap { $0 } == [
            Self.inputKey(KEY_A, 1), .syn(), Self.inputKey(KEY_A, 0), .syn(),
            Self.inputKey(KEY_B, 1), .syn(), Self.inputKey(KEY_B, 0), .syn(),
        ])
        let refused = try run(["python3", script, fixture.socketPath, "events", "2", "1:30:1", "0:0:0"])
        #expect(refused.output.contains("error 18"), "\(refused.output)")
        let fds = try run(["python3", script, fixture.socketPath, "fds"])
        #expect(fds.status == 0 && fds.output.contains("fds: 3"), "\(fds.output)")
    }
}

/// A connection that speaks raw bytes, for what the client library never sends.
final class RawConnection {
    private(set) var fd: Int32

    init(_ path: String) throws {
        fd = cfl_unix_connect(path)
        guard fd >= 0 else { throw TestFailure("connect \(path): errno \(-fd)") }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends `bytes` and returns at once.
    func sendNow(_ bytes: [UInt8]) throws {
        let sent = bytes.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == bytes.count else { throw TestFailure("send: \(sent)") }
    }

    /// Sends `bytes`; unless `closeAfter`, reads until the server closes (or `until` arrives)
    /// and returns what came.
    func exchange(_ bytes: [UInt8], closeAfter: Bool = false, until last: SessionMessage? = nil, stopAfter count: Int? = nil) throws -> [SessionMessage] {
        _ = bytes.withUnsafeBytes { cfl_send(fd, $0.baseAddress, $0.count, 0) }
        if closeAfter {
            close(fd)
            fd = -1
            return []
        }
        var decoder = SessionFrameDecoder()
        var messages: [SessionMessage] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&descriptor, 1, 5000) > 0 {
            let got = read(fd, &buffer, buffer.count)
            if got <= 0 { return messages }
            decoder.feed(Array(buffer[..<got]))
            while let frame = try decoder.next() { messages.append(try SessionMessage(frame)) }
            if let last, messages.last == last { return messages }
            if let count, messages.count >= count { return messages }
        }
        throw TestFailure("the server did not close the connection: \(messages)")
    }
}

final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func makeTemporaryDirectory() throws -> String {
    var template = Array("/tmp/fractal-session-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp: errno \(errno)") }
    return String(cString: made)
}

func waitUntil(timeout: Duration = .seconds(5), _ condition: () -> Bool) -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        usleep(5_000)
    }
    return false
}

func openDescriptors() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

func run(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(filePath: "/usr/bin/env")
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}
