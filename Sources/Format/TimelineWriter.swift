import CSQLite
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum TimelineWriteError: Error, CustomStringConvertible {
    case exists(String)
    case notReplaceable(String, String)
    case cannotCreate(String, String)
    public var description: String {
        switch self {
        case .exists(let p): return "\(p) already exists (use --force to replace it)"
        case .notReplaceable(let p, let what): return "\(p) is \(what): --force replaces only a nettrail capture or an empty file"
        case .cannotCreate(let p, let why): return "cannot create \(p): \(why)"
        }
    }
}

/// Appends raw events to a new capture. Rows go into long transactions that
/// the recorder commits about once a second (WAL, synchronous=NORMAL), so a
/// crash loses at most that second. Single-threaded: the recorder's writer
/// thread owns it.
public final class TimelineWriter: @unchecked Sendable {
    public let path: String
    let db: Database
    // Touched once per row on the one writer thread: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var inTransaction = false
    /// Prepared statements by call site (#fileID's address, #line): a small open-addressed
    /// table probed without hashing or exclusivity checks (one lookup per row).
    private struct Slot { var file: UInt; var line: UInt; var statement: Statement? }
    @exclusivity(unchecked) private var slotCount = 64
    @exclusivity(unchecked) private var slots = TimelineWriter.emptySlots(64)
    @exclusivity(unchecked) private var slotsUsed = 0
    @exclusivity(unchecked) public private(set) var rowsSinceCommit = 0

    public let kind: TimelineFileKind
    private var rowTablesIndexed = false

    public init(path: String, force: Bool, kind: TimelineFileKind = .capture) throws {
        self.path = path
        self.kind = kind
        switch Self.existing(path, as: kind) {
        case .nothing: break
        case .notReplaceable(let what) where force: throw TimelineWriteError.notReplaceable(path, what)
        case .notReplaceable, .replaceable:
            guard force else { throw TimelineWriteError.exists(path) }
            // unlink, never a recursive removal: a directory in a side file's place stays.
            for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
        }
        // The capture is evidence about a host: only root reads it.
        let fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TimelineWriteError.cannotCreate(path, String(cString: strerror(errno))) }
        Glibc.close(fd)
        do {
            db = try Database(path: path, mode: .create)
            switch kind {
            case .capture:
                try db.execute("PRAGMA journal_mode=WAL")
                try db.execute("PRAGMA synchronous=NORMAL")
                // Checkpoints (and their fsyncs) run on a thread of their own (WALCheckpointer),
                // never inside a commit on the recording thread.
                try db.execute("PRAGMA wal_autocheckpoint=0")
            case .caseDatabase:
                // Derived and rebuilt at will: a case is complete only once its case_capture row is
                // written (last), so a crash mid-build leaves a case that is rebuilt, not trusted.
                try db.execute("PRAGMA journal_mode=OFF")
                try db.execute("PRAGMA synchronous=OFF")
            }
            try db.execute("PRAGMA application_id=\(kind.applicationID)")
            try db.execute("PRAGMA user_version=\(kind.version)")
            try db.execute("BEGIN")
            for sql in kind.ddl { try db.execute(sql) }
            if kind == .caseDatabase {
                // Every row of a case names its capture (case_capture), so one case can hold several hosts'.
                for t in Schema.tableNames { try db.execute("ALTER TABLE \(t) ADD COLUMN capture_id INTEGER NOT NULL DEFAULT 1") }
            }
            try db.execute("COMMIT")
        } catch {
            throw TimelineWriteError.cannotCreate(path, "\(error)")
        }
    }

    /// What is at a path a writer would create: --force replaces only a file of the writer's
    /// kind or an empty one, never a directory, a device or another file.
    public enum Existing: Equatable {
        case nothing, replaceable
        case notReplaceable(String)
    }

    /// Judged from the header bytes: opening the file with SQLite could itself create files beside it.
    public static func existing(_ path: String, as kind: TimelineFileKind = .capture) -> Existing {
        var st = stat()
        guard lstat(path, &st) == 0 else { return errno == ENOENT ? .nothing : .notReplaceable("not accessible") }
        if st.st_mode & S_IFMT == S_IFLNK, stat(path, &st) != 0 { return .notReplaceable("a dangling symbolic link") }
        switch st.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: return .notReplaceable("a directory")
        default: return .notReplaceable("not a regular file")
        }
        if st.st_size == 0 { return .replaceable }
        guard let f = fopen(path, "rb") else { return .notReplaceable("unreadable (\(String(cString: strerror(errno))))") }
        defer { fclose(f) }
        var header = [UInt8](repeating: 0, count: 100)
        guard fread(&header, 1, 100, f) == 100, header.starts(with: Array("SQLite format 3\0".utf8)) else {
            return .notReplaceable("not a nettrail capture")
        }
        // application_id: a big-endian u32 at offset 68 of the database header.
        let app = header[68..<72].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        return app == UInt32(bitPattern: kind.applicationID) ? .replaceable : .notReplaceable("not a nettrail capture")
    }

    /// Removes the file this writer created and its side files: a start that failed leaves
    /// nothing that would block the retry. Nothing may write through this writer afterwards.
    public func discard() {
        for suffix in ["", "-wal", "-shm", "-journal"] { unlink(path + suffix) }
    }

    /// One prepared statement per call site, prepared on first use and kept:
    /// the SQL text is built once, not per row (this is the recorder's hot path).
    @inline(__always)
    public func statement(_ sql: @autoclosure () -> String,
                          file: StaticString = #fileID, line: UInt = #line) throws -> Statement {
        let f = UInt(bitPattern: file.utf8Start)
        var i = home(f, line)
        while let st = slots[i].statement {
            if slots[i].file == f && slots[i].line == line { return st }
            i = (i + 1) & (slotCount - 1)
        }
        return try prepare(sql(), file: f, line: line)
    }

    @inline(__always) private func home(_ file: UInt, _ line: UInt) -> Int {
        Int(truncatingIfNeeded: (file &>> 4) &+ line &* 0x9E37) & (slotCount - 1)
    }

    private func prepare(_ sql: String, file: UInt, line: UInt) throws -> Statement {
        // Keep the table at most half full so probes stay short and always end at an empty slot.
        if slotsUsed + 1 > slotCount / 2 { grow() }
        let st = try db.prepare(sql)
        slots[emptySlot(file, line)] = Slot(file: file, line: line, statement: st)
        slotsUsed += 1
        return st
    }

    private func emptySlot(_ file: UInt, _ line: UInt) -> Int {
        var i = home(file, line)
        while slots[i].statement != nil { i = (i + 1) & (slotCount - 1) }
        return i
    }

    private func grow() {
        let old = slots, oldCount = slotCount
        slotCount *= 2
        slots = Self.emptySlots(slotCount)
        for j in 0..<oldCount where old[j].statement != nil { slots[emptySlot(old[j].file, old[j].line)] = old[j] }
        old.deinitialize(count: oldCount)
        old.deallocate()
    }

    private static func emptySlots(_ n: Int) -> UnsafeMutablePointer<Slot> {
        let p = UnsafeMutablePointer<Slot>.allocate(capacity: n)
        p.initialize(repeating: Slot(file: 0, line: 0, statement: nil), count: n)
        return p
    }

    deinit {
        slots.deinitialize(count: slotCount)
        slots.deallocate()
    }

    @inline(__always) func begin() throws {
        if !inTransaction {
            try db.execute("BEGIN")
            inTransaction = true
        }
    }

    /// Runs a bound statement inside the open transaction.
    @inline(__always) public func insert(_ st: Statement) throws {
        try begin()
        try st.run()
        rowsSinceCommit += 1
    }

    public func commit() throws {
        guard inTransaction else { return }
        try db.execute("COMMIT")
        inTransaction = false
        rowsSinceCommit = 0
    }

    /// Abandons the open transaction (after a failed commit, e.g. a full disk).
    public func rollback() {
        guard inTransaction else { return }
        try? db.execute("ROLLBACK")
        inTransaction = false
        rowsSinceCommit = 0
    }

    public func setMeta(_ key: String, _ value: String) throws {
        let st = try statement("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)")
        st.bind(1, key); st.bind(2, value)
        try insert(st)
    }

    public func deleteMeta(_ key: String) throws {
        let st = try statement("DELETE FROM meta WHERE key = ?")
        st.bind(1, key)
        try insert(st)
    }

    public func clockAnchor(bootNs: UInt64, wallNs: UInt64) throws {
        let st = try statement("INSERT INTO clock_anchor (boot_ns, wall_ns) VALUES (?, ?)")
        st.bind(1, bootNs); st.bind(2, wallNs)
        try insert(st)
    }

    /// Everything written to the loss table so far, by kind: the recorder's end summary.
    public private(set) var lossTotals: [String: UInt64] = [:]

    public func loss(_ row: LossRow) throws {
        // A damaged segment's header may claim any count: the total stops at the top.
        lossTotals[row.kind] = lossTotals[row.kind, default: 0].saturatingAdd(row.count)
        let st = try statement("INSERT INTO loss (source, kind, count, from_ns, to_ns) VALUES (?, ?, ?, ?, ?)")
        st.bind(1, row.source); st.bind(2, row.kind); st.bind(3, row.count); st.bind(4, row.fromNs); st.bind(5, row.toNs)
        try insert(st)
    }

    /// A case built from a set: the loss rows of `kind` but the widest (each member of a set
    /// repeats the recorder's cumulative rotated_out row, the newest being the whole of it).
    public func keepWidestLoss(kind: String) throws {
        let st = try statement("""
            DELETE FROM loss WHERE kind = ?1 AND rowid <> (SELECT rowid FROM loss WHERE kind = ?1
                ORDER BY to_ns - from_ns DESC, count DESC LIMIT 1)
            """)
        st.bind(1, kind)
        try insert(st)
    }

    /// One sealed segment of raw ring records.
    public func segment(_ s: SealedSegment) throws {
        let st = try statement("""
            INSERT INTO segment (seq, source, ring, first_ts, last_ts, records, codec, raw_bytes, data, sha256)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        let h = s.header
        st.bind(1, h.seq); st.bind(2, h.source); st.bind(3, h.ring); st.bind(4, h.firstTs); st.bind(5, h.lastTs)
        st.bind(6, h.records); st.bind(7, h.codec); st.bind(8, h.rawBytes)
        st.bind(9, blob: s.stored); st.bind(10, blob: s.sha256)
        try insert(st)
    }

    public func recordKind(_ r: RecordKindRow) throws {
        let st = try statement(
            "INSERT INTO record_kind (abi_version, kind, name, source, struct, size) VALUES (?, ?, ?, ?, ?, ?)")
        st.bind(1, r.abiVersion); st.bind(2, r.kind); st.bind(3, r.name); st.bind(4, r.source)
        st.bind(5, r.structName); st.bind(6, r.size)
        try insert(st)
    }

    public func recordBTF(source: String, btf: [UInt8]) throws {
        let st = try statement("INSERT INTO record_btf (source, codec, raw_bytes, btf) VALUES (?, ?, ?, ?)")
        st.bind(1, source); st.bind(2, Segment.codec); st.bind(3, btf.count)
        st.bind(4, blob: btf.withUnsafeBytes { Zstd.compress($0, level: 9) })
        try insert(st)
    }

    /// A case: a segment whose records could not be read.
    public func damage(captureID: Int, header h: SegmentHeader, reason: String) throws {
        let st = try statement("""
            INSERT INTO damage (capture_id, segment_seq, source, ring, first_ts, last_ts, records, reason)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """)
        st.bind(1, captureID); st.bind(2, h.seq); st.bind(3, h.source); st.bind(4, h.ring)
        st.bind(5, h.firstTs); st.bind(6, h.lastTs); st.bind(7, h.records); st.bind(8, reason)
        try insert(st)
    }

    /// A case: the capture it was built from; written last, so its presence means the case is complete.
    public func caseCapture(_ c: CaseCaptureRow) throws {
        let st = try statement("""
            INSERT INTO case_capture (capture_id, path, identity, size, mtime_ns, schema_version, segments,
                chain_head, records, indexed_wall_ns, analyzer_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        st.bind(1, c.captureID); st.bind(2, c.path); st.bind(3, c.identity); st.bind(4, c.size); st.bind(5, c.mtimeNs)
        st.bind(6, c.schemaVersion); st.bind(7, c.segments); st.bind(8, blob: c.chainHead); st.bind(9, c.records)
        st.bind(10, c.indexedWallNs); st.bind(11, c.analyzerVersion)
        try insert(st)
    }

    /// The file's size once checkpointed: every page, its open transaction's included. What a
    /// capture of a set must keep under its cap (the WAL beside it is folded in at close).
    public func logicalBytes() throws -> UInt64 {
        let pages: Int = try db.scalar("PRAGMA page_count") ?? 0
        let size: Int = try db.scalar("PRAGMA page_size") ?? 0
        return UInt64(pages) * UInt64(size)
    }

    public var pageSize: Int { (try? db.scalar("PRAGMA page_size")) ?? 4096 }

    /// Copies every row of the row tables of the capture at `path` (opened read-only) into this
    /// file, but those of `skipping`.
    public func copyRows(fromCapture path: String, skipping: Set<String> = []) throws {
        try commit()
        let attach = try db.prepare("ATTACH DATABASE ? AS evidence")
        attach.bind(1, try Database.evidenceURI(path))
        try attach.run()
        defer { try? db.execute("DETACH DATABASE evidence") }
        let present: [String] = try db.column("SELECT name FROM evidence.sqlite_master WHERE type = 'table'")
        try begin()
        for t in Schema.tableNames where present.contains(t) && !skipping.contains(t) {
            let cols: [String] = try db.column("SELECT name FROM pragma_table_info(?, 'evidence')", [t])
            let list = cols.map { "\"\($0)\"" }.joined(separator: ", ")
            try db.execute("INSERT INTO main.\(t) (\(list)) SELECT \(list) FROM evidence.\(t)")
        }
        try commit()
    }

    /// Commits and indexes a case's row tables (once: what the case derives from them reads
    /// them through these indexes).
    public func indexRowTables() throws {
        try commit()
        guard !rowTablesIndexed else { return }
        for sql in kind.indexes { try db.execute(sql) }
        rowTablesIndexed = true
    }

    /// Commits, indexes a case, and leaves a single self-contained file (no -wal) so
    /// it can be copied as is. A capture gets no index (kind.indexes): it is only ever
    /// read whole, into a case, which has its own, and the empty indexes' pages would be
    /// a quarter of a short capture's file.
    public func close() throws {
        try indexRowTables()
        for i in 0..<slotCount { slots[i] = Slot(file: 0, line: 0, statement: nil) }
        slotsUsed = 0
        if kind == .capture {
            try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            try db.execute("PRAGMA journal_mode=DELETE")
        }
        chmod(path, 0o600)
    }

    static func marks(_ n: Int) -> String { Array(repeating: "?", count: n).joined(separator: ", ") }
}
