import CEvidenceVFS
import CSQLite
import Foundation

public struct SQLiteError: Error, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public var description: String { message }
    public var isDiskFull: Bool { code == SQLITE_FULL }
}

let SQLITE_TRANSIENT = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A thin owner of one sqlite3 connection. Not thread-safe: one per thread.
public final class Database {
    let handle: OpaquePointer

    public enum Mode { case readOnly, create }

    /// Process-wide settings, applied before the first connection initializes SQLite.
    private static let configured: Void = {
        // Allocation statistics cost a global mutex per malloc/free; nothing reads them.
        _ = nt_sqlite3_disable_memstatus()
    }()

    public init(path: String, mode: Mode) throws {
        Self.configured
        var db: OpaquePointer?
        let flags: Int32
        let uri: String
        switch mode {
        case .readOnly:
            flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
            uri = try Self.evidenceURI(path)
        case .create:
            flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX
            uri = "file:" + Database.uriEscape(path)
        }
        let rc = sqlite3_open_v2(uri, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let msg = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let db { sqlite3_close_v2(db) }
            throw SQLiteError(code: rc, message: msg)
        }
        handle = db
        sqlite3_busy_timeout(db, 2000)
    }

    deinit { sqlite3_close_v2(handle) }

    /// How every read-only open names a file (ATTACH included): mode=ro, through the evidence
    /// VFS, so nothing beside the file is created or changed (a WAL's index is kept in memory,
    /// not in FILE-shm) and a killed recorder's FILE and FILE-wal read whole from read-only
    /// media or as a user who may not write there.
    public static func evidenceURI(_ path: String) throws -> String {
        Self.configured
        guard nt_evidence_vfs_register() == SQLITE_OK else {
            throw SQLiteError(code: SQLITE_ERROR, message: "cannot register the evidence VFS")
        }
        // Left in WAL mode with no WAL beside it: SQLite would want to create one. What the file
        // holds (what was checkpointed) is read as it is; the reader says the WAL is missing.
        let immutable = walMissing(path) ? "&immutable=1" : ""
        return "file:" + uriEscape(path) + "?mode=ro&vfs=" + NT_EVIDENCE_VFS + immutable
    }

    /// The file's header says WAL mode (bytes 18 and 19, its read and write format versions,
    /// are 2: a writer that did not finish) and no FILE-wal is beside it.
    public static func walMissing(_ path: String) -> Bool {
        guard let h = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? h.close() }
        guard let head = try? h.read(upToCount: 20), head.count == 20, head[18] == 2, head[19] == 2 else { return false }
        return !FileManager.default.fileExists(atPath: path + "-wal")
    }

    /// Values read through a range-checked accessor (Statement.uint32...) that their type
    /// cannot hold, by column name: a damaged or crafted file, reported, never a trap.
    public private(set) var outOfRange: [String: Int] = [:]
    /// Rows a reader left out because of such a value (Statement.checkedRow).
    public private(set) var rowsLeftOut = 0

    func noteOutOfRange(_ column: String) { outOfRange[column, default: 0] += 1 }
    func noteRowLeftOut() { rowsLeftOut += 1 }

    static func uriEscape(_ path: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "?#%")
        return path.addingPercentEncoding(withAllowedCharacters: allowed) ?? path
    }

    public func execute(_ sql: String) throws {
        var err: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &err)
        if rc != SQLITE_OK {
            let msg = err.map { String(cString: $0) } ?? "error \(rc)"
            sqlite3_free(err)
            throw SQLiteError(code: rc, message: msg)
        }
    }

    public func prepare(_ sql: String) throws -> Statement { try Statement(db: self, sql: sql) }

    var lastError: SQLiteError {
        SQLiteError(code: sqlite3_errcode(handle), message: String(cString: sqlite3_errmsg(handle)))
    }

    /// Runs `sql` and returns the first column of every row.
    public func column<T: SQLiteValue>(_ sql: String, _ binds: [any SQLiteBindable] = []) throws -> [T] {
        let st = try prepare(sql)
        try st.bind(binds)
        var out: [T] = []
        while try st.step() { out.append(T.read(st, 0)) }
        return out
    }

    public func scalar<T: SQLiteValue>(_ sql: String, _ binds: [any SQLiteBindable] = []) throws -> T? {
        let rows: [T] = try column(sql, binds)
        return rows.first
    }
}

public protocol SQLiteBindable { func bind(_ st: Statement, _ index: Int32) }
public protocol SQLiteValue { static func read(_ st: Statement, _ index: Int32) -> Self }

/// One prepared statement, reused: bind, step, reset.
public final class Statement {
    let handle: OpaquePointer
    unowned let db: Database
    /// The integer each parameter holds, when known (`known[i]`): bindings survive
    /// sqlite3_reset, so re-binding the same integer (a row's netns, zone, mark, addresses'
    /// ports...) is skipped. Any other kind of bind forgets the parameter's value.
    private let count: Int32
    private let lastInt: UnsafeMutablePointer<Int64>
    private let known: UnsafeMutablePointer<Bool>

    init(db: Database, sql: String) throws {
        var st: OpaquePointer?
        guard sqlite3_prepare_v3(db.handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &st, nil) == SQLITE_OK,
              let st else { throw db.lastError }
        handle = st
        self.db = db
        count = sqlite3_bind_parameter_count(st)
        lastInt = .allocate(capacity: Int(count) + 1)
        lastInt.initialize(repeating: 0, count: Int(count) + 1)
        known = .allocate(capacity: Int(count) + 1)
        known.initialize(repeating: false, count: Int(count) + 1)
    }

    deinit {
        sqlite3_finalize(handle)
        lastInt.deallocate()
        known.deallocate()
    }

    @inline(__always) private func forget(_ i: Int32) { if i >= 1 && i <= count { known[Int(i)] = false } }

    public func bind(_ values: [any SQLiteBindable]) throws {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
        known.update(repeating: false, count: Int(count) + 1)
        for (i, v) in values.enumerated() { v.bind(self, Int32(i + 1)) }
    }

    @inline(__always) public func bind(_ i: Int32, _ v: Int64) {
        if i >= 1 && i <= count {
            let k = Int(i)
            if known[k] && lastInt[k] == v { return }
            known[k] = sqlite3_bind_int64(handle, i, v) == SQLITE_OK
            lastInt[k] = v
        } else {
            sqlite3_bind_int64(handle, i, v)
        }
    }
    @inline(__always) public func bind(_ i: Int32, _ v: UInt64) { bind(i, Int64(bitPattern: v)) }
    @inline(__always) public func bind(_ i: Int32, _ v: Int) { bind(i, Int64(v)) }
    @inline(__always) public func bind(_ i: Int32, _ v: UInt32) { bind(i, Int64(v)) }
    @inline(__always) public func bind(_ i: Int32, _ v: Double) { forget(i); sqlite3_bind_double(handle, i, v) }
    @inline(__always) public func bindNull(_ i: Int32) { forget(i); sqlite3_bind_null(handle, i) }
    @inline(__always) public func bind(_ i: Int32, _ v: String?) {
        forget(i)
        guard var v else { sqlite3_bind_null(handle, i); return }
        // Bound from the string's own UTF-8 storage (SQLite copies it: TRANSIENT) rather than
        // a NUL-terminated copy; ends at the first NUL, as binding a C string always did.
        v.withUTF8 { u in
            guard let base = u.baseAddress, !u.isEmpty else { sqlite3_bind_text(handle, i, "", 0, SQLITE_TRANSIENT); return }
            let p = UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self)
            sqlite3_bind_text(handle, i, p, Int32(strnlen(p, u.count)), SQLITE_TRANSIENT)
        }
    }
    /// Text that stays valid and unchanged until the statement has run (SQLITE_STATIC:
    /// SQLite reads it in place, no copy). `count` bytes of UTF-8, no NUL needed.
    @inline(__always) public func bind(_ i: Int32, staticText base: UnsafePointer<CChar>, count: Int32) {
        forget(i)
        sqlite3_bind_text(handle, i, base, count, nil)
    }
    public func bind(_ i: Int32, bytes: UnsafeRawBufferPointer?) {
        forget(i)
        guard let bytes else { sqlite3_bind_null(handle, i); return }
        // An empty blob is a value, not NULL.
        guard let base = bytes.baseAddress, bytes.count > 0 else { sqlite3_bind_zeroblob(handle, i, 0); return }
        sqlite3_bind_blob(handle, i, base, Int32(bytes.count), SQLITE_TRANSIENT)
    }
    public func bind(_ i: Int32, blob: [UInt8]?) {
        guard let blob else { sqlite3_bind_null(handle, i); return }
        blob.withUnsafeBytes { bind(i, bytes: $0) }
    }

    /// Executes a bound insert/update and resets for the next use.
    public func run() throws {
        let rc = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard rc == SQLITE_DONE || rc == SQLITE_ROW else { throw db.lastError }
    }

    /// true while there is a row.
    public func step() throws -> Bool {
        let rc = sqlite3_step(handle)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        throw db.lastError
    }

    public func reset() { sqlite3_reset(handle) }

    /// Out-of-range values read by this statement so far (see Database.outOfRange).
    public private(set) var rangeFaults = 0

    /// The column as `T`, range-checked: a value `T` cannot hold is counted and read as 0.
    @inline(__always) public func checked<T: FixedWidthInteger>(_ i: Int32, as: T.Type = T.self) -> T {
        let v = sqlite3_column_int64(handle, i)
        if let t = T(exactly: v) { return t }
        rangeFaults += 1
        db.noteOutOfRange(sqlite3_column_name(handle, i).map { String(cString: $0) } ?? "column \(i)")
        return 0
    }
    @inline(__always) public func uint32(_ i: Int32) -> UInt32 { checked(i) }
    @inline(__always) public func uint16(_ i: Int32) -> UInt16 { checked(i) }
    @inline(__always) public func uint8(_ i: Int32) -> UInt8 { checked(i) }

    /// What `read` makes of the current row, or nil when one of its values was out of range:
    /// the row is damaged, left out and counted, not half-read.
    @inline(__always) public func checkedRow<T>(_ read: (Statement) -> T) -> T? {
        let before = rangeFaults
        let row = read(self)
        guard rangeFaults == before else { db.noteRowLeftOut(); return nil }
        return row
    }

    public func isNull(_ i: Int32) -> Bool { sqlite3_column_type(handle, i) == SQLITE_NULL }
    public func int64(_ i: Int32) -> Int64 { sqlite3_column_int64(handle, i) }
    public func uint64(_ i: Int32) -> UInt64 { UInt64(bitPattern: sqlite3_column_int64(handle, i)) }
    public func int(_ i: Int32) -> Int { Int(sqlite3_column_int64(handle, i)) }
    public func double(_ i: Int32) -> Double { sqlite3_column_double(handle, i) }
    public func string(_ i: Int32) -> String? {
        guard let p = sqlite3_column_text(handle, i) else { return nil }
        return String(cString: p)
    }
    /// The column's bytes where SQLite holds them: valid until the next step, reset or
    /// column call on this statement. A NULL or empty blob is an empty buffer.
    public func blobInPlace(_ i: Int32) -> UnsafeRawBufferPointer {
        guard let p = sqlite3_column_blob(handle, i) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: p, count: Int(sqlite3_column_bytes(handle, i)))
    }
    public func blob(_ i: Int32) -> [UInt8]? {
        guard let p = sqlite3_column_blob(handle, i) else { return isNull(i) ? nil : [] }
        let n = Int(sqlite3_column_bytes(handle, i))
        return Array(UnsafeRawBufferPointer(start: p, count: n))
    }
}

extension Int64: SQLiteBindable, SQLiteValue {
    public func bind(_ st: Statement, _ i: Int32) { st.bind(i, self) }
    public static func read(_ st: Statement, _ i: Int32) -> Int64 { st.int64(i) }
}
extension Int: SQLiteBindable, SQLiteValue {
    public func bind(_ st: Statement, _ i: Int32) { st.bind(i, self) }
    public static func read(_ st: Statement, _ i: Int32) -> Int { st.int(i) }
}
extension UInt64: SQLiteBindable, SQLiteValue {
    public func bind(_ st: Statement, _ i: Int32) { st.bind(i, self) }
    public static func read(_ st: Statement, _ i: Int32) -> UInt64 { st.uint64(i) }
}
extension String: SQLiteBindable, SQLiteValue {
    public func bind(_ st: Statement, _ i: Int32) { st.bind(i, self) }
    public static func read(_ st: Statement, _ i: Int32) -> String { st.string(i) ?? "" }
}
extension Optional: SQLiteBindable where Wrapped: SQLiteBindable {
    public func bind(_ st: Statement, _ i: Int32) {
        if let v = self { v.bind(st, i) } else { st.bindNull(i) }
    }
}
extension Double: SQLiteBindable {
    public func bind(_ st: Statement, _ i: Int32) { st.bind(i, self) }
}
