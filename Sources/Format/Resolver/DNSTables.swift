extension SourceTables {
    /// The resolver source's tables (bpf/resolver.bpf.c and the arming of its probes).
    static let resolver = SourceTables(
        ddl: [
            // addresses: distinct addresses, space-separated canonical text.
            """
            CREATE TABLE dns (\(Schema.taskColumns), call_ts INTEGER NOT NULL, func INTEGER NOT NULL, name TEXT NOT NULL,
                flags INTEGER NOT NULL, rc INTEGER NOT NULL, addresses TEXT NOT NULL)
            """,
            """
            CREATE TABLE dns_probe (ts INTEGER NOT NULL, event TEXT NOT NULL, pid INTEGER NOT NULL,
                start_ns INTEGER NOT NULL, kdev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT NOT NULL,
                trigger_ts INTEGER NOT NULL, detail TEXT NOT NULL)
            """,
        ],
        indexes: ["CREATE INDEX IF NOT EXISTS dns_pid ON dns (pid, start_ns)"],
        columnRanges: ["dns": ColumnRanges.task, "dns_probe": [("pid", ColumnRanges.u32)]])
}
