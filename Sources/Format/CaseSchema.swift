/// The analyzer's case: a database derived from captures, never evidence
/// itself. It holds every row table of the timeline (Schema.ddl) decoded and
/// indexed, which captures it was built from, and what could not be read.
public enum CaseSchema {
    /// 'ntcs'
    public static let applicationID: Int32 = 0x6E74_6373
    /// Bumped whenever the case's tables or how they are derived change: an older case is rebuilt.
    public static let version = 8

    static let ddl: [String] = [
        // One row per capture the case was built from: what it was (to tell a stale case) and when.
        """
        CREATE TABLE case_capture (capture_id INTEGER PRIMARY KEY, path TEXT NOT NULL, identity TEXT NOT NULL,
            size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, schema_version INTEGER NOT NULL,
            segments INTEGER NOT NULL, chain_head BLOB, records INTEGER NOT NULL,
            indexed_wall_ns INTEGER NOT NULL, analyzer_version TEXT NOT NULL)
        """,
        // A segment that could not be read (digest mismatch, codec or framing error): its records are
        // not in the case; the span it covered is known from its header.
        """
        CREATE TABLE damage (capture_id INTEGER NOT NULL, segment_seq INTEGER NOT NULL, source TEXT NOT NULL,
            ring TEXT NOT NULL, first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, records INTEGER NOT NULL,
            reason TEXT NOT NULL)
        """,
        "CREATE TABLE case_count (name TEXT PRIMARY KEY, count INTEGER NOT NULL)",
        // A capture set's members, as they were when the case was built: a member that grew, or one
        // that came or went, makes the case stale.
        """
        CREATE TABLE case_member (capture_id INTEGER NOT NULL, set_index INTEGER NOT NULL, path TEXT NOT NULL,
            size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, PRIMARY KEY (capture_id, set_index))
        """,
    ]
}

/// What kind of file a TimelineWriter makes.
public enum TimelineFileKind: Sendable {
    /// Evidence: the recorder's capture (Schema.version).
    case capture
    /// The analyzer's derived case (CaseSchema.version).
    case caseDatabase

    var applicationID: Int32 { self == .capture ? Schema.applicationID : CaseSchema.applicationID }
    var version: Int { self == .capture ? Schema.version : CaseSchema.version }
    /// Created once the rows are in.
    /// A capture has none: it is only ever read whole, into a case.
    var indexes: [String] { self == .capture ? [] : Schema.indexes.filter { !Schema.unreadInCase.contains($0) } }
    var ddl: [String] { self == .capture ? Schema.ddl + SegmentSchema.ddl : Schema.ddl + CaseSchema.ddl + CaseRows.ddl + TimelineBlockRows.ddl + CaseRows.views }
}

/// A case_capture row.
public struct CaseCaptureRow: Sendable, Equatable {
    public var captureID: Int
    public var path: String
    /// What names the capture whatever its path: host, boot, start (CaseStore).
    public var identity: String
    public var size: Int
    public var mtimeNs: Int64
    public var schemaVersion: Int
    public var segments: Int
    /// The last segment's chain digest: commits to every segment before it.
    public var chainHead: [UInt8]?
    public var records: Int
    public var indexedWallNs: Int64
    public var analyzerVersion: String

    public init(captureID: Int, path: String, identity: String, size: Int, mtimeNs: Int64, schemaVersion: Int,
                segments: Int, chainHead: [UInt8]?, records: Int, indexedWallNs: Int64, analyzerVersion: String) {
        self.captureID = captureID; self.path = path; self.identity = identity; self.size = size
        self.mtimeNs = mtimeNs; self.schemaVersion = schemaVersion; self.segments = segments
        self.chainHead = chainHead; self.records = records; self.indexedWallNs = indexedWallNs
        self.analyzerVersion = analyzerVersion
    }
}

extension TimelineWriter {
    /// A case: a named count the reconstruction made (e.g. conntrack rows that matched nothing).
    public func count(_ name: String, _ value: Int) throws {
        let st = try statement("INSERT OR REPLACE INTO case_count (name, count) VALUES (?, ?)")
        st.bind(1, name); st.bind(2, value)
        try insert(st)
    }
}

/// A case_member row.
public struct CaseMemberRow: Sendable, Equatable {
    public var index: Int
    public var path: String
    public var size: Int
    public var mtimeNs: Int64
    public init(index: Int, path: String, size: Int, mtimeNs: Int64) {
        self.index = index; self.path = path; self.size = size; self.mtimeNs = mtimeNs
    }
}

extension TimelineWriter {
    public func caseMember(captureID: Int, _ m: CaseMemberRow) throws {
        let st = try statement("INSERT INTO case_member (capture_id, set_index, path, size, mtime_ns) VALUES (?, ?, ?, ?, ?)")
        st.bind(1, captureID); st.bind(2, m.index); st.bind(3, m.path); st.bind(4, m.size); st.bind(5, m.mtimeNs)
        try insert(st)
    }
}

extension TimelineReader {
    /// A case: the set members it was built from, in order (none: built from one capture).
    public func caseMembers() throws -> [CaseMemberRow] {
        guard kind == .caseDatabase else { return [] }
        let st = try db.prepare("SELECT set_index, path, size, mtime_ns FROM case_member ORDER BY set_index")
        var out: [CaseMemberRow] = []
        while try st.step() {
            out.append(CaseMemberRow(index: st.int(0), path: st.string(1) ?? "", size: st.int(2), mtimeNs: st.int64(3)))
        }
        return out
    }

    /// A case: the counts whose name starts with `prefix`, by the rest of the name.
    public func counts(prefix: String) throws -> [String: Int] {
        guard kind == .caseDatabase else { return [:] }
        let st = try db.prepare("SELECT name, count FROM case_count WHERE substr(name, 1, ?) = ?")
        try st.bind([prefix.utf8.count, prefix])
        var out: [String: Int] = [:]
        while try st.step() { out[String((st.string(0) ?? "").dropFirst(prefix.count))] = st.int(1) }
        return out
    }
}
