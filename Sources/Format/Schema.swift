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
    ] + sources.flatMap(\.ddl)

    /// Every event source's tables, in the order they are created. A new source registers here;
    /// its tables are declared in its own folder (Sources/Format/NAME/).
    static let sources: [SourceTables] = [.process, .sockets, .conntrack, .resolver]

    /// Names of the row tables, in `ddl` order.
    public static var tableNames: [String] {
        ddl.compactMap { sql in
            guard sql.hasPrefix("CREATE TABLE ") else { return nil }
            return sql.dropFirst("CREATE TABLE ".count).split(whereSeparator: { $0 == " " || $0 == "(" }).first.map(String.init)
        }
    }

    /// Created at close: the recorder appends, so it indexes once at the end.
    static let indexes: [String] = sources.flatMap(\.indexes)

    /// Indexes a case does without.
    static let unreadInCase: [String] = sources.flatMap(\.unreadInCase)
}
