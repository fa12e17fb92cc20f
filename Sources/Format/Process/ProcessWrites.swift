/// The process tables' inserts: the decoded records and the startup snapshot's rows.
extension TimelineWriter {
    public func fork(_ t: TaskRow) throws {
        let st = try statement("INSERT INTO process_fork (\(TaskRow.columnNames)) VALUES (\(Self.marks(14)))")
        t.bind(st)
        try insert(st)
    }

    public func exec(_ t: TaskRow, oldPid: UInt32, flags: Int, filename: String, argv: UnsafeRawBufferPointer) throws {
        let st = try statement(
            "INSERT INTO process_exec (\(TaskRow.columnNames), old_pid, flags, filename, argv) VALUES (\(Self.marks(18)))")
        t.bind(st)
        st.bind(15, oldPid); st.bind(16, flags); st.bind(17, filename)
        st.bind(18, bytes: argv)
        try insert(st)
    }

    public func exit(_ t: TaskRow, exitCode: UInt32) throws {
        let st = try statement("INSERT INTO process_exit (\(TaskRow.columnNames), exit_code) VALUES (\(Self.marks(15)))")
        t.bind(st)
        st.bind(15, exitCode)
        try insert(st)
    }

    public func snapshot(_ t: TaskRow, flags: SnapshotFlags, exe: String?, argv: [UInt8]?) throws {
        let st = try statement(
            "INSERT INTO process_snapshot (\(TaskRow.columnNames), flags, exe, argv) VALUES (\(Self.marks(17)))")
        t.bind(st)
        st.bind(15, flags.rawValue); st.bind(16, exe); st.bind(17, blob: argv)
        try insert(st)
    }

    public func cgroupEvent(_ e: CgroupEventRow) throws {
        let st = try statement("""
            INSERT INTO cgroup_event (ts, kind, hierarchy_id, cgroup_id, level, pid, start_ns, actor_pid, actor_comm, path)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        st.bind(1, e.ts); st.bind(2, e.kind.rawValue); st.bind(3, e.hierarchyID); st.bind(4, e.cgroupID)
        st.bind(5, e.level); st.bind(6, e.pid); st.bind(7, e.startNs); st.bind(8, e.actorPid)
        st.bind(9, e.actorComm); st.bind(10, e.path)
        try insert(st)
    }

    public func cgroupSnapshot(ts: UInt64, hierarchyID: UInt32, cgroupID: UInt64, path: String) throws {
        let st = try statement("INSERT INTO cgroup_snapshot (ts, hierarchy_id, cgroup_id, path) VALUES (?, ?, ?, ?)")
        st.bind(1, ts); st.bind(2, hierarchyID); st.bind(3, cgroupID); st.bind(4, path)
        try insert(st)
    }

    public func runtimeContainer(ts: UInt64, runtime: String, id: String, hierarchyID: UInt32, cgroupID: UInt64) throws {
        let st = try statement(
            "INSERT INTO runtime_container (ts, runtime, id, hierarchy_id, cgroup_id) VALUES (?, ?, ?, ?, ?)")
        st.bind(1, ts); st.bind(2, runtime); st.bind(3, id); st.bind(4, hierarchyID); st.bind(5, cgroupID)
        try insert(st)
    }
}
