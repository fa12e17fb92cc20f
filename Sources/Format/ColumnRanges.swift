/// The range each fixed-width column of the row tables must hold: what its row reader
/// decodes it into (Statement.uint32...). A value outside is damage, counted by
/// `TimelineReader.outOfRangeRows()` for `info` and left out where a reader meets it.
enum ColumnRanges {
    static let u32: ClosedRange<Int64> = 0...Int64(UInt32.max)
    static let u16: ClosedRange<Int64> = 0...Int64(UInt16.max)
    static let u8: ClosedRange<Int64> = 0...Int64(UInt8.max)
    static let nonNegative: ClosedRange<Int64> = 0...Int64.max

    static let task: [(String, ClosedRange<Int64>)] =
        ["pid", "tid", "ppid", "uid", "gid", "mntns", "netns", "pidns"].map { ($0, u32) }
    static let tuple: [(String, ClosedRange<Int64>)] = [("family", u16), ("lport", u16), ("rport", u16)]

    static let byTable: [String: [(String, ClosedRange<Int64>)]] = [
        "clock_anchor": [("boot_ns", nonNegative), ("wall_ns", nonNegative)],
        "process_fork": task,
        "process_exec": task,
        "process_exit": task + [("exit_code", u32)],
        "process_snapshot": task,
        "dns": task,
        "cgroup_event": [("hierarchy_id", u32), ("pid", u32)],
        "cgroup_snapshot": [("hierarchy_id", u32)],
        "runtime_container": [("hierarchy_id", u32)],
        "tcp_event": task + tuple + [("sock_netns", u32), ("retransmits", u32), ("old_state", u32)],
        "udp_flow": task + tuple + [("sock_netns", u32), ("bytes", u32)],
        "udp_flow_end": tuple + [("sock_netns", u32), ("pid", u32)],
        "dns_probe": [("pid", u32)],
        "conntrack": [("netns", u32), ("family", u8), ("proto", u8), ("orig_sport", u16), ("orig_dport", u16),
                      ("reply_sport", u16), ("reply_dport", u16), ("status", u32), ("zone", u16), ("mark", u32),
                      ("hook", u8), ("tcp_state", u8)],
    ]
}

extension TimelineReader {
    /// Rows holding a value their reader cannot take, by table (tables without any are left out).
    public func outOfRangeRows() throws -> [(table: String, rows: Int)] {
        var out: [(String, Int)] = []
        for (table, columns) in ColumnRanges.byTable.sorted(by: { $0.key < $1.key }) where try hasTable(table) {
            let test = columns.map { "\"\($0.0)\" NOT BETWEEN \($0.1.lowerBound) AND \($0.1.upperBound)" }
                .joined(separator: " OR ")
            let n: Int = try db.scalar("SELECT count(*) FROM \(table) WHERE \(test)") ?? 0
            if n > 0 { out.append((table, n)) }
        }
        return out
    }
}
