import CSQLite
import Foundation

public enum TimelineOpenError: Error, CustomStringConvertible {
    case missing(String)
    case unreadable(String, String)
    case notACapture(String)
    case unsupportedVersion(String, Int)
    case corrupt(String, String)
    case walMissing(String)
    public var description: String {
        switch self {
        case .missing(let p): return "\(p): no such file"
        case .unreadable(let p, let why): return "cannot read \(p): \(why)"
        case .notACapture(let p): return "\(p) is not a nettrail capture"
        case .unsupportedVersion(let p, let v):
            return "\(p) uses timeline schema version \(v); this nettrail reads versions \(Schema.readable.lowerBound)–\(Schema.readable.upperBound)"
        case .corrupt(let p, let why): return "\(p) is damaged: \(why)"
        case .walMissing(let p):
            return "\(p) was left by a recorder that did not finish, and \((p as NSString).lastPathComponent)-wal, which holds what it recorded, is not beside it"
        }
    }
}

/// A capture opened read-only: the analyzer never changes evidence.
public final class TimelineReader {
    public let path: String
    public let db: Database
    public let schemaVersion: Int
    public let clock: ClockMap

    public let kind: TimelineFileKind
    /// The file says it was left in WAL mode (a recorder that did not finish) and no FILE-wal
    /// is beside it: only what was checkpointed into FILE can be read.
    public let walMissing: Bool
    /// Committed transactions in FILE-wal that SQLite will not read (past a damaged frame).
    /// Read (the whole WAL) only by what reports on the evidence, not by every query.
    public private(set) lazy var walDamage: WALDamage? = kind == .capture ? WALScan.damage(path + "-wal") : nil

    /// Statements a query runs many times (one lookup per connection), prepared once.
    private var prepared: [String: Statement] = [:]
    /// Which tables the file has (it is read-only: they cannot change while it is open).
    private var tables: [String: Bool] = [:]

    /// `sql` prepared once for this reader, reset and ready to bind.
    func reused(_ sql: String) throws -> Statement {
        if let st = prepared[sql] {
            st.reset()
            return st
        }
        let st = try db.prepare(sql)
        prepared[sql] = st
        return st
    }

    /// `kind` is what the file must be; a capture is checked structurally (a case is
    /// the analyzer's own, checked by what built it).
    public init(path: String, kind: TimelineFileKind = .capture) throws {
        self.path = path
        self.kind = kind
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw TimelineOpenError.missing(path)
        }
        guard access(path, R_OK) == 0 else { throw TimelineOpenError.unreadable(path, String(cString: strerror(errno))) }
        walMissing = kind == .capture && Database.walMissing(path)
        do {
            db = try Database(path: path, mode: .readOnly)
        } catch {
            throw TimelineOpenError.notACapture(path)
        }
        let appID: Int
        do {
            appID = try db.scalar("PRAGMA application_id") ?? 0
        } catch let e as SQLiteError where e.code == SQLITE_NOTADB {
            throw TimelineOpenError.notACapture(path)
        } catch {
            throw TimelineOpenError.corrupt(path, "\(error)")
        }
        guard appID == Int(kind.applicationID) else {
            throw walMissing ? TimelineOpenError.walMissing(path) : TimelineOpenError.notACapture(path)
        }
        schemaVersion = (try? db.scalar("PRAGMA user_version")) ?? 0
        if kind == .capture {
            guard Schema.readable.contains(schemaVersion) else {
                throw TimelineOpenError.unsupportedVersion(path, schemaVersion)
            }
        } else if schemaVersion != CaseSchema.version {
            throw TimelineOpenError.unsupportedVersion(path, schemaVersion)
        }
        do {
            // A version-1 capture is queried as it is: a damaged page list fails here, not mid-query.
            // A segmented one is checked when its case is built (check()), not on every open.
            if kind == .capture && schemaVersion < Schema.segmentedSince { try Self.check(db, path) }
            clock = try ClockMap(db: db)
        } catch let e as TimelineOpenError {
            throw e
        } catch {
            throw TimelineOpenError.corrupt(path, "\(error)")
        }
    }

    /// The case `w` is building, read through the writer's own connection: what the build
    /// derives from the case's finished tables (its stored timeline) reads them as a query does.
    public init(building w: TimelineWriter) throws {
        path = w.path
        kind = .caseDatabase
        db = w.db
        walMissing = false
        schemaVersion = CaseSchema.version
        clock = try ClockMap(db: db)
    }

    /// SQLite's structural check of every page.
    public func check() throws { try Self.check(db, path) }

    private static func check(_ db: Database, _ path: String) throws {
        let result: [String]
        do { result = try db.column("PRAGMA quick_check(1)") } catch { throw TimelineOpenError.corrupt(path, "\(error)") }
        guard result.first == "ok" else { throw TimelineOpenError.corrupt(path, result.first ?? "quick_check failed") }
    }

    /// The application id and version of the SQLite file at `path`, without judging them.
    public static func identify(_ path: String) throws -> (applicationID: Int32, version: Int) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir), !isDir.boolValue else {
            throw TimelineOpenError.missing(path)
        }
        guard access(path, R_OK) == 0 else { throw TimelineOpenError.unreadable(path, String(cString: strerror(errno))) }
        let db: Database
        do { db = try Database(path: path, mode: .readOnly) } catch { throw TimelineOpenError.notACapture(path) }
        guard let app: Int = try? db.scalar("PRAGMA application_id") else { throw TimelineOpenError.notACapture(path) }
        // Nothing checkpointed yet, and the WAL that holds it all is not there.
        if app == 0 && Database.walMissing(path) {
            throw TimelineOpenError.walMissing(path)
        }
        let version: Int = (try? db.scalar("PRAGMA user_version")) ?? 0
        return (Int32(truncatingIfNeeded: app), version)
    }

    public var isSegmented: Bool { kind == .capture && schemaVersion >= Schema.segmentedSince }

    /// Count, records and last digest of the stored segments.
    public func segmentSummary() throws -> (count: Int, records: Int, rawBytes: Int, storedBytes: Int, head: [UInt8]?) {
        guard isSegmented else { return (0, 0, 0, 0, nil) }
        let st = try db.prepare("SELECT count(*), total(records), total(raw_bytes), total(length(data)) FROM segment")
        guard try st.step() else { return (0, 0, 0, 0, nil) }
        let n = st.int(0), records = Int(exactly: st.double(1).rounded()) ?? 0
        let raw = Int(exactly: st.double(2).rounded()) ?? 0, stored = Int(exactly: st.double(3).rounded()) ?? 0
        let head = try db.prepare("SELECT sha256 FROM segment ORDER BY seq DESC LIMIT 1")
        return (n, records, raw, stored, try head.step() ? head.blob(0) : nil)
    }

    /// The time of the last record the segments hold (what a reader sees ends there).
    public func lastSegmentTs() -> UInt64? {
        guard isSegmented, let st = try? db.prepare("SELECT max(last_ts) FROM segment"), (try? st.step()) == true,
              !st.isNull(0) else { return nil }
        return UInt64(exactly: st.int(0))
    }

    /// The time of the first record the segments hold.
    public func firstSegmentTs() -> UInt64? {
        guard isSegmented, let st = try? db.prepare("SELECT min(first_ts) FROM segment"), (try? st.step()) == true,
              !st.isNull(0) else { return nil }
        return UInt64(exactly: st.int(0))
    }

    /// Every stored segment in sequence order, one at a time. A header whose values
    /// cannot be what the recorder wrote is still handed over (the opener rejects it).
    public func forEachSegment(_ body: (StoredSegment) throws -> Void) throws {
        guard isSegmented else { return }
        try forEachSegmentInPlace { h, stored, sha256 in
            try body(StoredSegment(header: h, stored: Array(stored), sha256: Array(sha256)))
        }
    }

    /// As `forEachSegment`, the stored bytes and digest read where SQLite holds them: valid only
    /// until `body` returns (a segment's blob is copied once, by the decompressor, not twice).
    public func forEachSegmentInPlace(
        _ body: (SegmentHeader, UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) throws {
        guard isSegmented else { return }
        let st = try db.prepare("""
            SELECT seq, source, ring, first_ts, last_ts, records, codec, raw_bytes, data, sha256
            FROM segment ORDER BY seq
            """)
        while try st.step() {
            let h = SegmentHeader(seq: st.int64(0), source: st.string(1) ?? "", ring: st.string(2) ?? "",
                                  firstTs: st.uint64(3), lastTs: st.uint64(4), records: st.int(5),
                                  codec: st.string(6) ?? "", rawBytes: st.int(7))
            try body(h, st.blobInPlace(8), st.blobInPlace(9))
        }
    }

    /// A case: the capture it was built from.
    public func caseCapture() throws -> CaseCaptureRow? {
        guard kind == .caseDatabase else { return nil }
        let st = try db.prepare("""
            SELECT capture_id, path, identity, size, mtime_ns, schema_version, segments, chain_head, records,
                indexed_wall_ns, analyzer_version FROM case_capture ORDER BY capture_id LIMIT 1
            """)
        guard try st.step() else { return nil }
        return CaseCaptureRow(captureID: st.int(0), path: st.string(1) ?? "", identity: st.string(2) ?? "",
                              size: st.int(3), mtimeNs: st.int64(4), schemaVersion: st.int(5), segments: st.int(6),
                              chainHead: st.blob(7), records: st.int(8), indexedWallNs: st.int64(9),
                              analyzerVersion: st.string(10) ?? "")
    }

    /// A case: the segments that could not be read.
    public func damage() throws -> [(header: SegmentHeader, reason: String)] {
        guard kind == .caseDatabase else { return [] }
        let st = try db.prepare("""
            SELECT segment_seq, source, ring, first_ts, last_ts, records, reason FROM damage ORDER BY segment_seq
            """)
        var out: [(SegmentHeader, String)] = []
        while try st.step() {
            out.append((SegmentHeader(seq: st.int64(0), source: st.string(1) ?? "", ring: st.string(2) ?? "",
                                      firstTs: st.uint64(3), lastTs: st.uint64(4), records: st.int(5),
                                      codec: "", rawBytes: 0), st.string(6) ?? ""))
        }
        return out
    }

    public func recordKinds() throws -> [RecordKindRow] {
        guard isSegmented else { return [] }
        let st = try db.prepare("SELECT abi_version, kind, name, source, struct, size FROM record_kind")
        var out: [RecordKindRow] = []
        while try st.step() {
            out.append(RecordKindRow(abiVersion: st.int(0), kind: UInt32(truncatingIfNeeded: st.int64(1)),
                                     name: st.string(2) ?? "", source: st.string(3) ?? "",
                                     structName: st.string(4) ?? "", size: st.int(5)))
        }
        return out
    }

    public func meta() throws -> [String: String] {
        let st = try db.prepare("SELECT key, value FROM meta")
        var out: [String: String] = [:]
        while try st.step() { out[st.string(0) ?? ""] = st.string(1) ?? "" }
        return out
    }

    /// Whether the capture has `table` (tables added within a version are absent from older captures).
    public func hasTable(_ table: String) throws -> Bool {
        if let known = tables[table] { return known }
        let has = (try db.scalar("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", [table]) ?? 0) > 0
        tables[table] = has
        return has
    }

    public func count(_ table: String) throws -> Int {
        try db.scalar("SELECT count(*) FROM \(table)") ?? 0
    }

    public func losses() throws -> [LossRow] {
        let st = try db.prepare("SELECT source, kind, count, from_ns, to_ns FROM loss ORDER BY from_ns")
        var out: [LossRow] = []
        while try st.step() {
            out.append(LossRow(source: st.string(0) ?? "", kind: st.string(1) ?? "", count: st.uint64(2),
                               fromNs: st.uint64(3), toNs: st.uint64(4)))
        }
        return out
    }
}
