/// The timeline's layout. A capture names itself with `application_id` (so a
/// foreign SQLite file is told apart) and its layout with `user_version`.
/// Version 1 held one decoded row per event; version 2 holds the raw ring
/// records in segments (SegmentSchema.swift) beside the same row tables, which
/// then carry only what the recorder wrote as rows. The analyzer's case
/// (CaseSchema.swift) holds every table decoded.
public enum Schema {
    /// 'ntrl'
    public static let applicationID: Int32 = 0x6E74_726C
    public static let version = 2
    /// Versions this build can read. Others get a clear refusal, not a guess.
    public static let readable: ClosedRange<Int> = 1...2
    /// The first version whose events are in segments.
    public static let segmentedSince = 2

    /// Columns every process-stream row carries: who the task was at that moment.
    static let taskColumns = """
        ts INTEGER NOT NULL, pid INTEGER NOT NULL, tid INTEGER NOT NULL, start_ns INTEGER NOT NULL,
        ppid INTEGER NOT NULL, parent_start_ns INTEGER NOT NULL, uid INTEGER NOT NULL, gid INTEGER NOT NULL,
        cgroup_id INTEGER NOT NULL, cgroup_v1_id INTEGER NOT NULL,
        mntns INTEGER NOT NULL, netns INTEGER NOT NULL, pidns INTEGER NOT NULL, comm TEXT NOT NULL
        """

    /// The row tables, common to every capture version and to the case.
    static let ddl: [String] = [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        // CLOCK_BOOTTIME ↔ CLOCK_REALTIME pairs, sampled at start and every few seconds.
        "CREATE TABLE clock_anchor (boot_ns INTEGER NOT NULL, wall_ns INTEGER NOT NULL)",
        // Where events were lost: `count` events of `kind` between from_ns and to_ns (boot ns).
        """
        CREATE TABLE loss (source TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL,
            from_ns INTEGER NOT NULL, to_ns INTEGER NOT NULL)
        """,
        "CREATE TABLE process_fork (\(taskColumns))",
        """
        CREATE TABLE process_exec (\(taskColumns), old_pid INTEGER NOT NULL, flags INTEGER NOT NULL,
            filename TEXT NOT NULL, argv BLOB NOT NULL)
        """,
        "CREATE TABLE process_exit (\(taskColumns), exit_code INTEGER NOT NULL)",
        // Processes alive at start. flags: see SnapshotFlags.
        """
        CREATE TABLE process_snapshot (\(taskColumns), flags INTEGER NOT NULL,
            exe TEXT, argv BLOB)
        """,
        """
        CREATE TABLE cgroup_event (ts INTEGER NOT NULL, kind INTEGER NOT NULL, hierarchy_id INTEGER NOT NULL,
            cgroup_id INTEGER NOT NULL, level INTEGER NOT NULL, pid INTEGER NOT NULL, start_ns INTEGER NOT NULL,
            actor_pid INTEGER NOT NULL, actor_comm TEXT NOT NULL, path TEXT NOT NULL)
        """,
        // Cgroups that existed at start, from walking every mounted hierarchy.
        """
        CREATE TABLE cgroup_snapshot (ts INTEGER NOT NULL, hierarchy_id INTEGER NOT NULL,
            cgroup_id INTEGER NOT NULL, path TEXT NOT NULL)
        """,
        // Containers a runtime's state directory listed at start (runc: ROOT/ID/state.json), one row per
        // cgroup: names a container whose cgroup path carries no runtime's pattern. (Added after
        // version 1's first captures: the analyzer reads it only where it exists.)
        """
        CREATE TABLE runtime_container (ts INTEGER NOT NULL, runtime TEXT NOT NULL, id TEXT NOT NULL,
            hierarchy_id INTEGER NOT NULL, cgroup_id INTEGER NOT NULL)
        """,
    ] + socketDDL  // sockets: Sources/Format/SocketRows.swift
        + [ConntrackSchema.ddl]  // conntrack: Sources/Format/Conntrack.swift
        + dnsDDL  // resolver: Sources/Format/DNSRows.swift

    /// Names of the row tables, in `ddl` order.
    public static var tableNames: [String] {
        ddl.compactMap { sql in
            guard sql.hasPrefix("CREATE TABLE ") else { return nil }
            return sql.dropFirst("CREATE TABLE ".count).split(whereSeparator: { $0 == " " || $0 == "(" }).first.map(String.init)
        }
    }

    /// Created at close: the recorder appends, so it indexes once at the end.
    static let indexes: [String] = [
        "CREATE INDEX IF NOT EXISTS process_exec_pid ON process_exec (pid, start_ns)",
        "CREATE INDEX IF NOT EXISTS process_exit_pid ON process_exit (pid, start_ns)",
        "CREATE INDEX IF NOT EXISTS cgroup_event_id ON cgroup_event (cgroup_id)",
    ] + socketIndexes
        + ConntrackSchema.indexes
        + dnsIndexes

    /// Indexes a case does without: no answer reads the socket and conntrack rows but through
    /// the connections and mappings joined from them (CaseRows), which have their own.
    static let unreadInCase: [String] = tcpEventIndexes + ConntrackSchema.indexes
}

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
