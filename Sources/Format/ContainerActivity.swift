/// What the case saw in each cgroup, for `nettrail containers`: its processes, the
/// connections they owned, and when cgroups were made. Which cgroup is which container
/// is the analyzer's to say (from paths); these are only the counts and times per cgroup id.
public struct CgroupProcessRow: Sendable {
    /// The task's v2 cgroup id and its memory-controller (v1) cgroup id.
    public var v2: UInt64
    public var v1: UInt64
    public var pid: UInt32
    public var startNs: UInt64
    public var first: UInt64
    public var last: UInt64
}

public struct CgroupConnectionRow: Sendable {
    public var v2: UInt64
    public var v1: UInt64
    public var count: Int
    public var first: UInt64
    public var last: UInt64
}

extension TimelineReader {
    /// One row per (cgroup, process) seen in any process table, with the first and last time.
    public func cgroupProcesses() throws -> [CgroupProcessRow] {
        let tasks = ["process_fork", "process_exec", "process_exit", "process_snapshot"]
            .map { "SELECT cgroup_id, cgroup_v1_id, pid, start_ns, ts FROM \($0)" }.joined(separator: " UNION ALL ")
        let st = try db.prepare("""
            SELECT cgroup_id, cgroup_v1_id, pid, start_ns, MIN(ts), MAX(ts) FROM (\(tasks))
            GROUP BY cgroup_id, cgroup_v1_id, pid, start_ns
            """)
        var out: [CgroupProcessRow] = []
        while try st.step() {
            out.append(CgroupProcessRow(v2: st.uint64(0), v1: st.uint64(1), pid: UInt32(truncatingIfNeeded: st.int64(2)),
                                        startNs: st.uint64(3), first: st.uint64(4), last: st.uint64(5)))
        }
        return out
    }

    /// Connections per owner cgroup (those with a known owner), with the first start and last end.
    public func cgroupConnections() throws -> [CgroupConnectionRow] {
        guard try hasTable("connection") else { return [] }
        let st = try db.prepare("""
            SELECT owner_cgroup, COALESCE(owner_cgroup_v1, 0), COUNT(*), MIN(start), MAX(COALESCE(end_ts, start))
            FROM connection WHERE owner_cgroup IS NOT NULL GROUP BY 1, 2
            """)
        var out: [CgroupConnectionRow] = []
        while try st.step() {
            out.append(CgroupConnectionRow(v2: st.uint64(0), v1: st.uint64(1), count: Int(st.int64(2)),
                                           first: st.uint64(3), last: st.uint64(4)))
        }
        return out
    }

    /// When each cgroup the capture saw being made was made: (hierarchy, cgroup id, ts).
    public func cgroupsMade() throws -> [(hierarchy: UInt32, id: UInt64, ts: UInt64)] {
        let st = try db.prepare("SELECT hierarchy_id, cgroup_id, MIN(ts) FROM cgroup_event WHERE kind = ? GROUP BY 1, 2")
        try st.bind([CgroupEventKind.mkdir.rawValue])
        var out: [(hierarchy: UInt32, id: UInt64, ts: UInt64)] = []
        while try st.step() { out.append((UInt32(truncatingIfNeeded: st.int64(0)), st.uint64(1), st.uint64(2))) }
        return out
    }
}
