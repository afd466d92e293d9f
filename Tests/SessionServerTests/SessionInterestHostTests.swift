import Foundation
import FractalSessionProtocol
import SessionServer
import Testing

/// What the loop watches on a connection whose reading is paused: a client that stopped
/// reading and then half-closed, or closed, must not keep the loop awake.
@Suite(.serialized) struct SessionInterestHostTests {
    /// Fills the client's socket with PONGs it never reads, until the daemon pauses reading it.
    static func pausedClient(_ fixture: SessionServerHostTests.Fixture) throws -> RawConnection {
        let raw = try RawConnection(fixture.socketPath)
        try raw.sendNow(SessionMessage.hello(.current).encoded())
        var pings: [UInt8] = []
        for token in 0..<20_000 { pings += SessionMessage.ping(token: UInt32(token)).encoded() }
        try raw.sendNow(pings)
        #expect(waitUntil { fixture.server.statistics.framesReceived >= 5_000 })
        return raw
    }

    /// Loop turns while nothing is asked of it for a moment (a spinning loop turns thousands of times).
    static func idleTurns(_ fixture: SessionServerHostTests.Fixture) -> UInt64 {
        let before = fixture.server.loopTurns
        usleep(200_000)
        return fixture.server.loopTurns - before
    }

    @Test func aClientThatStopsReadingAndHalfClosesDoesNotSpinTheLoop() throws {
        let fixture = try SessionServerHostTests.Fixture()
        let raw = try Self.pausedClient(fixture)
        shutdown(raw.fd, Int32(SHUT_WR))
        usleep(50_000)
        #expect(Self.idleTurns(fixture) < 100)
        // Still served: the others are, and it is closed once it goes.
        let other = try fixture.client()
        try other.ping()
    }

    @Test func aClientThatStopsReadingAndClosesIsClosed() throws {
        let fixture = try SessionServerHostTests.Fixture()
        let raw = try Self.pausedClient(fixture)
        _ = try raw.exchange([], closeAfter: true)
        #expect(waitUntil { fixture.server.statistics.connectionsOpen == 0 })
        #expect(Self.idleTurns(fixture) < 100)
    }
}
