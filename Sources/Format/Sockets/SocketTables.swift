extension SourceTables {
    /// The socket source's tables (bpf/sockets.bpf.c, the startup walk of file tables, the UDP flow map).
    static let sockets = SourceTables(
        ddl: [
            // TCP: kind 1 connect, 2 accept, 3 close, 4 open at start. The task columns describe the
            // owner only when flags has bit 0 (read in the owner's context).
            """
            CREATE TABLE tcp_event (\(Schema.taskColumns), kind INTEGER NOT NULL, flags INTEGER NOT NULL,
                sock_netns INTEGER NOT NULL, family INTEGER NOT NULL, laddr TEXT NOT NULL, lport INTEGER NOT NULL,
                raddr TEXT NOT NULL, rport INTEGER NOT NULL, cookie INTEGER NOT NULL, sk INTEGER NOT NULL,
                start_ts INTEGER NOT NULL, result INTEGER NOT NULL, bytes_acked INTEGER NOT NULL,
                bytes_received INTEGER NOT NULL, retransmits INTEGER NOT NULL, old_state INTEGER NOT NULL)
            """,
            """
            CREATE TABLE udp_flow (\(Schema.taskColumns), flags INTEGER NOT NULL, sock_netns INTEGER NOT NULL,
                family INTEGER NOT NULL, laddr TEXT NOT NULL, lport INTEGER NOT NULL, raddr TEXT NOT NULL,
                rport INTEGER NOT NULL, cookie INTEGER NOT NULL, bytes INTEGER NOT NULL)
            """,
            // reason: 1 idle, 2 still active at the end of the recording, 3 evicted (table full: ended before ts, counters lost).
            """
            CREATE TABLE udp_flow_end (ts INTEGER NOT NULL, reason INTEGER NOT NULL, sock_netns INTEGER NOT NULL,
                family INTEGER NOT NULL, laddr TEXT NOT NULL, lport INTEGER NOT NULL, raddr TEXT NOT NULL,
                rport INTEGER NOT NULL, pid INTEGER NOT NULL, start_ns INTEGER NOT NULL, first_ts INTEGER NOT NULL,
                last_ts INTEGER NOT NULL, tx_bytes INTEGER NOT NULL, rx_bytes INTEGER NOT NULL,
                tx_packets INTEGER NOT NULL, rx_packets INTEGER NOT NULL)
            """,
        ],
        indexes: tcpEventIndexes + ["CREATE INDEX IF NOT EXISTS udp_flow_lport ON udp_flow (lport)"],
        unreadInCase: tcpEventIndexes,
        columnRanges: [
            "tcp_event": ColumnRanges.task + ColumnRanges.tuple
                + [("sock_netns", ColumnRanges.u32), ("retransmits", ColumnRanges.u32), ("old_state", ColumnRanges.u32)],
            "udp_flow": ColumnRanges.task + ColumnRanges.tuple + [("sock_netns", ColumnRanges.u32), ("bytes", ColumnRanges.u32)],
            "udp_flow_end": ColumnRanges.tuple + [("sock_netns", ColumnRanges.u32), ("pid", ColumnRanges.u32)],
        ])

    private static let tcpEventIndexes = [
        "CREATE INDEX IF NOT EXISTS tcp_event_cookie ON tcp_event (cookie)",
        "CREATE INDEX IF NOT EXISTS tcp_event_lport ON tcp_event (lport)",
    ]
}
