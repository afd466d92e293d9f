import DeviceManager
import FractalSessionProtocol

/// What the session server has done since it started, for metrics.
public struct SessionStatistics: Sendable, Equatable {
    public var connectionsAccepted = 0
    /// Refused because the lease had `SessionServer.Limits.connectionsPerLease` already.
    public var connectionsRefused = 0
    public var connectionsClosed = 0
    public var connectionsOpen = 0
    public var framesReceived = 0
    public var eventsReceived = 0
    public var eventsWritten = 0
    public var batchesWritten = 0
    /// Key releases written for connections that went away holding keys.
    public var releasesWritten = 0
    /// Events dropped (or in refused batches), by reason.
    public var drops = InputFilter.DropCounts()
    /// ERROR frames, by code (sent or suppressed by the rate limit).
    public var errors: [SessionErrorCode: Int] = [:]
    /// ERROR frames not sent because the connection was over its rate.
    public var errorsSuppressed = 0
    public var notificationsSent = 0
    /// RUMBLE and LED frames dropped because the client was not reading.
    public var notificationsDropped = 0
    /// Descriptors passed on GET_FDS.
    public var descriptorsPassed = 0
    /// Connections closed for saying no HELLO, or nothing at all, in time.
    public var timeouts = 0
    /// Rumble plays and stops and LED changes read from the leases' devices (force-feedback
    /// uploads and erases are answered, not counted).
    public var feedbackRead = 0
    /// Times a listener stopped accepting because the daemon ran out of descriptors.
    public var acceptsPaused = 0
    /// TEXT frames whose every character the layout could type (typed, unless refused on the way).
    public var textsTyped = 0
    /// Keyboard layouts compiled for TEXT frames (those that failed included).
    public var layoutsCompiled = 0

    public init() {}
}
