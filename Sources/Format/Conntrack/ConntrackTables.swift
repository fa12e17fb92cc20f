extension SourceTables {
    /// The conntrack source's table (bpf/conntrack.bpf.c, the startup dump, the Netlink fallback).
    static let conntrack = SourceTables(
        ddl: [
            """
            CREATE TABLE conntrack (ts INTEGER NOT NULL, kind INTEGER NOT NULL, flags INTEGER NOT NULL,
                start_ts INTEGER NOT NULL, netns INTEGER NOT NULL, family INTEGER NOT NULL, proto INTEGER NOT NULL,
                orig_src TEXT NOT NULL, orig_sport INTEGER NOT NULL, orig_dst TEXT NOT NULL, orig_dport INTEGER NOT NULL,
                reply_src TEXT NOT NULL, reply_sport INTEGER NOT NULL, reply_dst TEXT NOT NULL, reply_dport INTEGER NOT NULL,
                status INTEGER NOT NULL, zone INTEGER NOT NULL, mark INTEGER NOT NULL, hook INTEGER NOT NULL,
                tcp_state INTEGER NOT NULL, cgroup_id INTEGER NOT NULL)
            """,
        ],
        indexes: indexes,
        unreadInCase: indexes,
        columnRanges: [
            "conntrack": [("netns", ColumnRanges.u32), ("family", ColumnRanges.u8), ("proto", ColumnRanges.u8),
                          ("orig_sport", ColumnRanges.u16), ("orig_dport", ColumnRanges.u16),
                          ("reply_sport", ColumnRanges.u16), ("reply_dport", ColumnRanges.u16),
                          ("status", ColumnRanges.u32), ("zone", ColumnRanges.u16), ("mark", ColumnRanges.u32),
                          ("hook", ColumnRanges.u8), ("tcp_state", ColumnRanges.u8)],
        ])

    private static let indexes = [
        "CREATE INDEX IF NOT EXISTS conntrack_orig_src ON conntrack (orig_src, orig_sport)",
        "CREATE INDEX IF NOT EXISTS conntrack_reply_dst ON conntrack (reply_dst, reply_dport)",
        "CREATE INDEX IF NOT EXISTS conntrack_orig_dst ON conntrack (orig_dst, orig_dport)",
        "CREATE INDEX IF NOT EXISTS conntrack_reply_src ON conntrack (reply_src, reply_sport)",
    ]
}
