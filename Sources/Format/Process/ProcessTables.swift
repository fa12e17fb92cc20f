extension SourceTables {
    /// The process source's tables (bpf/process.bpf.c and the startup walks of /proc and cgroups).
    static let process = SourceTables(
        ddl: [
            "CREATE TABLE process_fork (\(Schema.taskColumns))",
            """
            CREATE TABLE process_exec (\(Schema.taskColumns), old_pid INTEGER NOT NULL, flags INTEGER NOT NULL,
                filename TEXT NOT NULL, argv BLOB NOT NULL)
            """,
            "CREATE TABLE process_exit (\(Schema.taskColumns), exit_code INTEGER NOT NULL)",
            // Processes alive at start. flags: see SnapshotFlags.
            """
            CREATE TABLE process_snapshot (\(Schema.taskColumns), flags INTEGER NOT NULL,
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
        ],
        indexes: [
            "CREATE INDEX IF NOT EXISTS process_exec_pid ON process_exec (pid, start_ns)",
            "CREATE INDEX IF NOT EXISTS process_exit_pid ON process_exit (pid, start_ns)",
            "CREATE INDEX IF NOT EXISTS cgroup_event_id ON cgroup_event (cgroup_id)",
        ],
        columnRanges: [
            "process_fork": ColumnRanges.task,
            "process_exec": ColumnRanges.task,
            "process_exit": ColumnRanges.task + [("exit_code", ColumnRanges.u32)],
            "process_snapshot": ColumnRanges.task,
            "cgroup_event": [("hierarchy_id", ColumnRanges.u32), ("pid", ColumnRanges.u32)],
            "cgroup_snapshot": [("hierarchy_id", ColumnRanges.u32)],
            "runtime_container": [("hierarchy_id", ColumnRanges.u32)],
        ])
}
