import Foundation
import GRDB

/// The daemon's durable record of its leases, in SQLite under the state directory.
///
/// Every lease is written before any of its resources is made (state `creating`) and updated as
/// each directory is provisioned, so a process killed at any point leaves a record that says
/// exactly what to undo.
public final class LeaseStore: Sendable {
    private let database: DatabaseQueue
    /// `<state directory>/state.sqlite`.
    public let path: String

    /// Opens (creating if needed) the store in `directory`.
    public init(directory: String) throws(LeaseError) {
        path = directory + "/state.sqlite"
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            var configuration = Configuration()
            configuration.busyMode = .timeout(5)
            database = try DatabaseQueue(path: path, configuration: configuration)
            var migrator = DatabaseMigrator()
            migrator.registerMigration("v1") { db in
                try db.execute(sql: """
                    CREATE TABLE lease (
                        id TEXT PRIMARY KEY NOT NULL,
                        state TEXT NOT NULL,
                        created_at REAL NOT NULL,
                        record BLOB NOT NULL
                    )
                    """)
            }
            // A downgrade must not run on a schema it does not know: it would misread or lose records.
            if try database.read({ try migrator.hasBeenSuperseded($0) }) {
                throw LeaseError.store(
                    operation: "open", path: path,
                    message: "it was written by a newer fractal-agent (its schema has migrations this version does not know); refusing to use it rather than reset it: run the newer version, or move the file away to start with no leases")
            }
            try migrator.migrate(database)
            // Reads every record once, so a damaged file stops the start here, naming itself.
            try database.read { db in _ = try Row.fetchAll(db, sql: "SELECT id, state, record FROM lease") }
        } catch let error as LeaseError {
            throw error
        } catch {
            throw .store(operation: "open", path: path, message: "\(error); the file is kept as it is: repair it (sqlite3 \(path) .recover) or move it away to start with no leases")
        }
    }

    /// Records a new lease; fails with `.duplicate` when the ID is taken.
    public func insert(_ lease: Lease) throws(LeaseError) {
        let record = try encode(lease)
        do {
            try database.write { db in
                try db.execute(
                    sql: "INSERT INTO lease (id, state, created_at, record) VALUES (?, ?, ?, ?)",
                    arguments: [lease.id.rawValue, lease.state.rawValue, lease.createdAt.timeIntervalSince1970, record])
            }
        } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw .duplicate(lease.id)
        } catch {
            throw .store(operation: "insert \(lease.id)", path: path, message: "\(error)")
        }
    }

    /// Replaces the stored record of an existing lease.
    public func update(_ lease: Lease) throws(LeaseError) {
        let record = try encode(lease)
        do {
            try database.write { db in
                try db.execute(
                    sql: "UPDATE lease SET state = ?, record = ? WHERE id = ?",
                    arguments: [lease.state.rawValue, record, lease.id.rawValue])
            }
        } catch {
            throw .store(operation: "update \(lease.id)", path: path, message: "\(error)")
        }
    }

    /// Forgets a lease.
    public func delete(_ id: FractalID) throws(LeaseError) {
        do {
            try database.write { db in
                try db.execute(sql: "DELETE FROM lease WHERE id = ?", arguments: [id.rawValue])
            }
        } catch {
            throw .store(operation: "delete \(id)", path: path, message: "\(error)")
        }
    }

    /// Every stored lease, oldest first.
    public func all() throws(LeaseError) -> [Lease] {
        do {
            let records = try database.read { db in
                try Data.fetchAll(db, sql: "SELECT record FROM lease ORDER BY created_at, id")
            }
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .secondsSince1970
            return try records.map { try decoder.decode(Lease.self, from: $0) }
        } catch {
            throw .store(operation: "read", path: path, message: "\(error)")
        }
    }

    private func encode(_ lease: Lease) throws(LeaseError) -> Data {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .secondsSince1970
        do {
            return try encoder.encode(lease)
        } catch {
            throw .store(operation: "encode \(lease.id)", path: path, message: "\(error)")
        }
    }
}
