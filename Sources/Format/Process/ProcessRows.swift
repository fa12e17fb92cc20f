public enum CgroupEventKind: Int, Sendable {
    case mkdir = 1, rmdir = 2, attach = 3
}

public struct SnapshotFlags: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// /proc gave no exe/argv: the process exited during the scan.
    public static let exitedDuringScan = SnapshotFlags(rawValue: 1 << 0)
    /// /proc/PID was a different process than the one the kernel listed (pid reused mid-scan).
    public static let pidReusedDuringScan = SnapshotFlags(rawValue: 1 << 1)
    /// A kernel thread: no exe, no argv.
    public static let kernelThread = SnapshotFlags(rawValue: 1 << 2)
    /// The kernel's task iterator did not list it; every field is from /proc,
    /// and start_ns is only as precise as /proc's clock ticks (10 ms).
    public static let fromProcOnly = SnapshotFlags(rawValue: 1 << 3)
}

public enum ExecFlags {
    public static let argsTruncated = 1 << 0
    public static let filenameTruncated = 1 << 1
    public static let threadExec = 1 << 2
}

public struct CgroupEventRow: Sendable, Equatable {
    public var ts: UInt64
    public var kind: CgroupEventKind
    public var hierarchyID: UInt32
    public var cgroupID: UInt64
    public var level: UInt32
    public var pid: UInt32
    public var startNs: UInt64
    /// The process that made the change (runc, dockerd, systemd...).
    public var actorPid: UInt32
    public var actorComm: String
    public var path: String
    public init(ts: UInt64, kind: CgroupEventKind, hierarchyID: UInt32, cgroupID: UInt64, level: UInt32,
                pid: UInt32, startNs: UInt64, actorPid: UInt32, actorComm: String, path: String) {
        self.ts = ts; self.kind = kind; self.hierarchyID = hierarchyID; self.cgroupID = cgroupID
        self.level = level; self.pid = pid; self.startNs = startNs; self.actorPid = actorPid
        self.actorComm = actorComm; self.path = path
    }
}

/// Rows of the process tables as the analyzer's process and cgroup indexes read them.
/// A reader given `pids` reads only those processes' rows (the indexes are by pid).
public struct ProcessSnapshotRow: Sendable {
    public var task: TaskRow
    public var flags: SnapshotFlags
    /// What /proc said it ran; nil when it could not be read.
    public var exe: String?
    /// NUL-separated, as written.
    public var argv: [UInt8]?
}

public struct ProcessExecRow: Sendable {
    public var task: TaskRow
    /// NT_EXEC_F_* (ExecFlags).
    public var flags: Int
    public var filename: String
    /// NUL-separated, as written.
    public var argv: [UInt8]?
}

public struct ProcessExitRow: Sendable {
    public var task: TaskRow
    /// The wait status (exit code << 8 | signal).
    public var status: UInt32
}

/// A task moved into a cgroup (`cgroup_event` of kind attach).
public struct CgroupAttachRow: Sendable {
    public var ts: UInt64
    public var hierarchyID: UInt32
    public var cgroupID: UInt64
    public var pid: UInt32
    public var startNs: UInt64
}

/// A cgroup's path, from the startup walk or its creation (`creator`: the comm that made it).
public struct CgroupPathRow: Sendable {
    public var hierarchyID: UInt32
    public var cgroupID: UInt64
    public var path: String
    public var creator: String?
}

/// Whose fork, exec, exit and cgroup rows a read gives: every process's, or those of `pids`;
/// with `starts`, of those only the incarnations started then, except that every row of
/// `wholePids` is given (a pid whose snapshot start is coarse, to be joined by the caller).
public struct ProcessSelection: Sendable {
    public var pids: Set<UInt32>?
    public var starts: Set<UInt64>?
    public var wholePids: Set<UInt32> = []
    public init(pids: Set<UInt32>? = nil, starts: Set<UInt64>? = nil, wholePids: Set<UInt32> = []) {
        self.pids = pids; self.starts = starts; self.wholePids = wholePids
    }
    public static let all = ProcessSelection()
}

extension TimelineReader {
    public func forEachProcessSnapshot(pids: Set<UInt32>? = nil, _ body: (ProcessSnapshotRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(TaskRow.columnNames), flags, exe, argv FROM process_snapshot\(Self.only(pids, "WHERE"))")
        while try st.step() {
            guard let t = st.checkedRow({ TaskRow.read($0) }) else { continue }
            try body(ProcessSnapshotRow(task: t, flags: SnapshotFlags(rawValue: st.int(14)), exe: st.string(15), argv: st.blob(16)))
        }
    }

    public func forEachFork(_ sel: ProcessSelection = .all, _ body: (TaskRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(TaskRow.columnNames) FROM process_fork\(Self.only(sel, "WHERE"))")
        while try st.step() { if let t = st.checkedRow({ TaskRow.read($0) }) { try body(t) } }
    }

    /// In time order.
    public func forEachExec(_ sel: ProcessSelection = .all, _ body: (ProcessExecRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(TaskRow.columnNames), flags, filename, argv FROM process_exec\(Self.only(sel, "WHERE")) ORDER BY ts")
        while try st.step() {
            guard let t = st.checkedRow({ TaskRow.read($0) }) else { continue }
            try body(ProcessExecRow(task: t, flags: st.int(14), filename: st.string(15) ?? "", argv: st.blob(16)))
        }
    }

    public func forEachExit(_ sel: ProcessSelection = .all, _ body: (ProcessExitRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(TaskRow.columnNames), exit_code FROM process_exit\(Self.only(sel, "WHERE"))")
        while try st.step() {
            if let (t, status) = st.checkedRow({ (TaskRow.read($0), $0.uint32(14)) }) { try body(ProcessExitRow(task: t, status: status)) }
        }
    }

    /// In time order.
    public func forEachCgroupAttach(_ sel: ProcessSelection = .all, _ body: (CgroupAttachRow) throws -> Void) throws {
        let st = try db.prepare("""
            SELECT ts, hierarchy_id, cgroup_id, pid, start_ns FROM cgroup_event WHERE kind = ?\(Self.only(sel, "AND")) ORDER BY ts
            """)
        try st.bind([CgroupEventKind.attach.rawValue])
        while try st.step() {
            guard let (pid, h) = st.checkedRow({ ($0.uint32(3), $0.uint32(1)) }) else { continue }
            try body(CgroupAttachRow(ts: st.uint64(0), hierarchyID: h, cgroupID: st.uint64(2), pid: pid, startNs: st.uint64(4)))
        }
    }

    /// The cgroups the startup walk found, then those made during the capture in time order
    /// (a later row for the same id is the newer path).
    public func forEachCgroupPath(_ body: (CgroupPathRow) throws -> Void) throws {
        let snap = try db.prepare("SELECT hierarchy_id, cgroup_id, path FROM cgroup_snapshot")
        while try snap.step() {
            guard let h = snap.checkedRow({ $0.uint32(0) }) else { continue }
            try body(CgroupPathRow(hierarchyID: h, cgroupID: snap.uint64(1), path: snap.string(2) ?? "", creator: nil))
        }
        let made = try db.prepare("SELECT hierarchy_id, cgroup_id, path, actor_comm FROM cgroup_event WHERE kind = ? ORDER BY ts")
        try made.bind([CgroupEventKind.mkdir.rawValue])
        while try made.step() {
            guard let h = made.checkedRow({ $0.uint32(0) }) else { continue }
            try body(CgroupPathRow(hierarchyID: h, cgroupID: made.uint64(1), path: made.string(2) ?? "", creator: made.string(3)))
        }
    }

    /// The runc containers runc's state directory listed at start, by cgroup (none in captures from before that table).
    public func runcContainers() throws -> [(hierarchyID: UInt32, cgroupID: UInt64, name: String?)] {
        guard try hasTable("runtime_container") else { return [] }
        let st = try db.prepare("SELECT hierarchy_id, cgroup_id, id FROM runtime_container WHERE runtime = 'runc'")
        var out: [(hierarchyID: UInt32, cgroupID: UInt64, name: String?)] = []
        while try st.step() {
            guard let h = st.checkedRow({ $0.uint32(0) }) else { continue }
            out.append((h, st.uint64(1), st.string(2)))
        }
        return out
    }

    /// The processes (pid and start) with a fork, exec or exit in [from, to].
    public func processesWithEvents(from: UInt64, to: UInt64) throws -> Set<ProcessKey> {
        let st = try db.prepare("""
            SELECT pid, start_ns FROM process_fork WHERE ts BETWEEN ?1 AND ?2
            UNION SELECT pid, start_ns FROM process_exec WHERE ts BETWEEN ?1 AND ?2
            UNION SELECT pid, start_ns FROM process_exit WHERE ts BETWEEN ?1 AND ?2
            """)
        try st.bind([Int64(bitPattern: from), Int64(bitPattern: min(to, UInt64(Int64.max)))])
        var out = Set<ProcessKey>()
        while try st.step() { out.insert(ProcessKey(pid: UInt32(truncatingIfNeeded: st.int64(0)), startNs: st.uint64(1))) }
        return out
    }

    /// The first fork, exec or exit after `t` (nil: none).
    public func nextProcessEvent(after t: UInt64) throws -> UInt64? {
        let tables = try ["process_fork", "process_exec", "process_exit"].filter { try hasTable($0) }
        guard !tables.isEmpty else { return nil }
        let st = try reused("SELECT min(ts) FROM ("
            + tables.map { "SELECT min(ts) AS ts FROM \($0) WHERE ts > ?1" }.joined(separator: " UNION ALL ") + ")")
        try st.bind([Int64(bitPattern: min(t, UInt64(Int64.max)))])
        guard try st.step(), !st.isNull(0) else { return nil }
        return st.uint64(0)
    }

    /// ` WHERE pid IN (…)` (or AND): integers only, built from UInt32 values, never from text.
    private static func only(_ pids: Set<UInt32>?, _ keyword: String) -> String {
        pids.map { " \(keyword) pid IN (" + list($0) + ")" } ?? ""
    }

    /// `only`, and of those pids the incarnations `starts` names (every row of `wholePids`).
    private static func only(_ sel: ProcessSelection, _ keyword: String) -> String {
        guard let starts = sel.starts else { return only(sel.pids, keyword) }
        return only(sel.pids, keyword) + (sel.pids == nil ? " \(keyword) " : " AND ")
            // Unary + keeps these terms out of the index choice: probing (pid, start_ns) for
            // every pair of the two lists costs far more than checking the pids' few rows.
            + "(+start_ns IN (" + Self.list(starts.map { Int64(bitPattern: $0) }) + ")"
            + (sel.wholePids.isEmpty ? ")" : " OR +pid IN (" + Self.list(sel.wholePids) + "))")
    }

    private static func list<T: FixedWidthInteger>(_ values: some Collection<T>) -> String {
        values.sorted().map(String.init).joined(separator: ",")
    }
}
