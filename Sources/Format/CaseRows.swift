/// The case's reconstructed tables: one row per connection (with its owner)
/// and per NAT mapping interval, indexed by endpoint and (connections) by time
/// span, so a query reads the few rows it needs through an index instead of
/// rebuilding every interval of the capture.
enum CaseRows {
    static let ddl: [String] = [
        """
        CREATE TABLE connection (id INTEGER PRIMARY KEY, proto TEXT NOT NULL, direction TEXT NOT NULL,
            family INTEGER NOT NULL, laddr TEXT NOT NULL, lport INTEGER NOT NULL, raddr TEXT NOT NULL,
            rport INTEGER NOT NULL, netns INTEGER NOT NULL, cookie INTEGER NOT NULL, sk INTEGER NOT NULL,
            owner_pid INTEGER, owner_start INTEGER, owner_tid INTEGER NOT NULL, owner_comm TEXT NOT NULL,
            owner_cgroup INTEGER, owner_cgroup_v1 INTEGER, start INTEGER NOT NULL, owned_at INTEGER, end_ts INTEGER,
            result INTEGER, bytes_sent INTEGER, bytes_received INTEGER, packets_sent INTEGER, packets_received INTEGER,
            retransmits INTEGER, established INTEGER NOT NULL, final_state INTEGER, flags INTEGER NOT NULL,
            open_at_start INTEGER NOT NULL, shared_by TEXT NOT NULL, end_reason TEXT,
            span_level INTEGER NOT NULL, capture_id INTEGER NOT NULL DEFAULT 1)
        """,
        """
        CREATE TABLE nat_mapping (id INTEGER PRIMARY KEY, netns INTEGER NOT NULL, family INTEGER NOT NULL,
            proto INTEGER NOT NULL, zone INTEGER NOT NULL, mark INTEGER NOT NULL, status INTEGER NOT NULL,
            cgroup_id INTEGER NOT NULL,
            orig_src TEXT NOT NULL, orig_sport INTEGER NOT NULL, orig_dst TEXT NOT NULL, orig_dport INTEGER NOT NULL,
            reply_src TEXT NOT NULL, reply_sport INTEGER NOT NULL, reply_dst TEXT NOT NULL, reply_dport INTEGER NOT NULL,
            start INTEGER NOT NULL, start_kind TEXT NOT NULL, end_ts INTEGER, end_kind TEXT NOT NULL,
            os_addr TEXT NOT NULL, os_port INTEGER NOT NULL, ts_addr TEXT NOT NULL, ts_port INTEGER NOT NULL,
            od_addr TEXT NOT NULL, od_port INTEGER NOT NULL, td_addr TEXT NOT NULL, td_port INTEGER NOT NULL,
            span_level INTEGER NOT NULL, capture_id INTEGER NOT NULL DEFAULT 1)
        """,
    ]

    /// Readable without nettrail (sqlite3, DuckDB's sqlite extension): wall times as RFC 3339
    /// text (millisecond precision, from the nearest clock anchor), argv as text, kinds as names.
    static let views: [String] = [
        """
        CREATE VIEW v_exec AS SELECT \(wall("e.ts")) AS time,
            e.pid, e.ppid, e.uid, e.comm, e.filename, replace(CAST(e.argv AS TEXT), char(0), ' ') AS argv,
            e.cgroup_id, e.ts AS boot_ns, e.start_ns AS process_start_ns
        FROM process_exec e
        """,
        """
        CREATE VIEW v_connection AS SELECT \(wall("c.start")) AS start, \(wall("c.end_ts")) AS end,
            c.proto, c.direction,
            CASE WHEN instr(c.laddr, ':') THEN '[' || c.laddr || ']:' ELSE c.laddr || ':' END || c.lport AS local,
            CASE WHEN instr(c.raddr, ':') THEN '[' || c.raddr || ']:' ELSE c.raddr || ':' END || c.rport AS remote,
            c.netns, c.owner_pid AS pid, c.owner_comm AS comm, c.owner_cgroup AS cgroup_id,
            c.bytes_sent, c.bytes_received, c.start AS start_boot_ns, c.end_ts AS end_boot_ns
        FROM connection c
        """,
        """
        CREATE VIEW v_nat AS SELECT \(wall("m.start")) AS start, \(wall("m.end_ts")) AS end,
            CASE m.proto WHEN 6 THEN 'tcp' WHEN 17 THEN 'udp' WHEN 1 THEN 'icmp' WHEN 58 THEN 'icmpv6' ELSE m.proto END AS proto,
            m.os_addr || ':' || m.os_port AS original_src, m.od_addr || ':' || m.od_port AS original_dst,
            m.ts_addr || ':' || m.ts_port AS translated_src, m.td_addr || ':' || m.td_port AS translated_dst,
            m.start_kind, m.end_kind, m.netns, m.status & 48 != 0 AS translated
        FROM nat_mapping m
        """,
        """
        CREATE VIEW v_loss AS SELECT l.source, l.kind, l.count, \(wall("l.from_ns")) AS from_time,
            \(wall("l.to_ns")) AS to_time
        FROM loss l
        """,
    ]

    /// RFC 3339 text (milliseconds) of the boot time `expr`, by the last clock anchor before it
    /// (the first one for earlier times); NULL for NULL.
    static func wall(_ expr: String) -> String {
        let offset = """
            coalesce((SELECT wall_ns - boot_ns FROM clock_anchor WHERE boot_ns <= \(expr) ORDER BY boot_ns DESC LIMIT 1),
                     (SELECT wall_ns - boot_ns FROM clock_anchor ORDER BY boot_ns LIMIT 1))
            """
        return "strftime('%Y-%m-%dT%H:%M:%fZ', (\(expr) + \(offset)) / 1e9, 'unixepoch')"
    }

    /// Created once the tables are filled.
    static let indexes: [String] = [
        // Address first: one index serves an address alone and an address with its port.
        "CREATE INDEX connection_local ON connection (laddr, lport)",
        "CREATE INDEX connection_remote ON connection (raddr, rport)",
        "CREATE INDEX connection_owner ON connection (owner_pid)",
        "CREATE INDEX connection_span ON connection (span_level, start)",
        "CREATE INDEX nat_os ON nat_mapping (os_addr, os_port)",
        "CREATE INDEX nat_ts ON nat_mapping (ts_addr, ts_port)",
        "CREATE INDEX nat_od ON nat_mapping (od_addr, od_port)",
        "CREATE INDEX nat_td ON nat_mapping (td_addr, td_port)",
        "CREATE INDEX nat_span ON nat_mapping (span_level, start)",
        // Processes are read per pid (an answer's owners and their parents) and per window (timeline).
        "CREATE INDEX process_fork_pid ON process_fork (pid)",
        "CREATE INDEX process_snapshot_pid ON process_snapshot (pid)",
        "CREATE INDEX cgroup_event_pid ON cgroup_event (pid)",
        "CREATE INDEX process_fork_ts ON process_fork (ts)",
        "CREATE INDEX process_exec_ts ON process_exec (ts)",
        "CREATE INDEX process_exit_ts ON process_exit (ts)",
    ]

    static let connectionColumns = """
        id, proto, direction, family, laddr, lport, raddr, rport, netns, cookie, sk, owner_pid, owner_start, owner_tid,
        owner_comm, owner_cgroup, owner_cgroup_v1, start, owned_at, end_ts, result, bytes_sent, bytes_received,
        packets_sent, packets_received, retransmits, established, final_state, flags, open_at_start, shared_by, end_reason
        """
    /// A mapping's own columns: what a reader decodes.
    static let natReadColumns = """
        id, netns, family, proto, zone, mark, status, cgroup_id, orig_src, orig_sport, orig_dst, orig_dport,
        reply_src, reply_sport, reply_dst, reply_dport, start, start_kind, end_ts, end_kind
        """
    /// Those and the sides the endpoint indexes are built on, which the tuples give (a read
    /// need not extract four more addresses a row).
    static let natColumns = natReadColumns + ", os_addr, os_port, ts_addr, ts_port, od_addr, od_port, td_addr, td_port"

    /// Connections oldest first; at the same start TCP before UDP, TCP by socket cookie (those
    /// without one last), then as written: the order does not depend on when the build wrote
    /// each row. Sorted in Swift: SQLite's sorter copies every selected column of every row,
    /// which took two thirds of a busy second's read.
    struct ConnectionOrder: Comparable {
        var start: Int64, proto: String, noCookie: Bool, tcpCookie: Int64, id: Int64
        /// Where the row's connection is in the reader's list.
        var row: Int

        init(_ st: Statement, row: Int) {
            self.row = row
            start = st.int64(17)
            proto = st.string(1) ?? ""
            let cookie = st.int64(9)
            noCookie = cookie == 0
            tcpCookie = proto.utf8.elementsEqual("tcp".utf8) ? cookie : .min
            id = st.int64(0)
        }

        static func < (a: Self, b: Self) -> Bool {
            if a.start != b.start { return a.start < b.start }
            if !a.proto.utf8.elementsEqual(b.proto.utf8) { return a.proto.utf8.lexicographicallyPrecedes(b.proto.utf8) }
            if a.noCookie != b.noCookie { return !a.noCookie }
            if a.tcpCookie != b.tcpCookie { return a.tcpCookie < b.tcpCookie }
            return a.id < b.id
        }
    }

    /// An interval's span class (connections, mappings): level L (0...spanLevels) lasted less than
    /// 2^(L + 20) ns; an open one is `openLevel`. A time window is then one short index range per
    /// level (starts from the window's start less the level's longest duration, to its end): a
    /// B-tree built once after the rows are in (an R*Tree costs an insert per row, ~15 µs).
    static let spanLevels = 44
    static let openLevel = 63

    static func spanLevel(start: UInt64, end: UInt64?) -> Int {
        guard let end else { return openLevel }
        let d = end > start ? end - start : 0
        return max(0, (64 - d.leadingZeroBitCount) - 20)
    }

    /// The first start an interval of `level` live at or after `from` can have.
    static func earliestStart(level: Int, from: UInt64) -> UInt64 {
        guard level != openLevel && level + 20 < 63 else { return 0 }
        let longest: UInt64 = 1 << UInt64(level + 20)
        return from > longest ? from - longest : 0
    }

    /// Intervals that can be live at some moment of [from, to], begun at `startedFrom` or
    /// later when given: one index range per span level (a superset: the caller's exact
    /// bounds on start and end_ts follow).
    static func spanClause(from: UInt64?, to: UInt64?, startedFrom: UInt64? = nil) -> (String, [any SQLiteBindable]) {
        let hi = Int64(bitPattern: min(to ?? UInt64(Int64.max), UInt64(Int64.max))), lo = from ?? 0
        var levels: [String] = [], binds: [any SQLiteBindable] = []
        for level in Array(0...spanLevels) + [openLevel] {
            levels.append("(span_level = ? AND start BETWEEN ? AND ?)")
            let first = max(earliestStart(level: level, from: lo), startedFrom ?? 0)
            binds += [level, Int64(bitPattern: min(first, UInt64(Int64.max))), hi]
        }
        return ("(" + levels.joined(separator: " OR ") + ")", binds)
    }
}

/// Which connections a query needs.
public struct ConnectionSelection: Sendable {
    /// Any of these endpoints on either side (a local end bound to the wildcard matches any address).
    public var endpoints: [NATEndpoint] = []
    /// Live at some moment of [from, to].
    public var from: UInt64?
    public var to: UInt64?
    /// Begun at this moment or later (a list walked a stretch at a time takes each
    /// connection in the stretch it began in).
    public var startedFrom: UInt64?
    public var ownerPid: UInt32?
    /// The remote end (address, and port when given).
    public var remote: NATEndpoint?
    /// Of those live in [from, to], only the ones owned (or begun, owner unknown) or ended in
    /// it: what a timeline of the window shows lines of. A connection open across hours is
    /// then not read again for every stretch of a long timeline.
    public var changedWithin = false
    public init(endpoints: [NATEndpoint] = [], from: UInt64? = nil, to: UInt64? = nil, startedFrom: UInt64? = nil,
                ownerPid: UInt32? = nil, remote: NATEndpoint? = nil, changedWithin: Bool = false) {
        self.endpoints = endpoints; self.from = from; self.to = to; self.startedFrom = startedFrom
        self.ownerPid = ownerPid; self.remote = remote; self.changedWithin = changedWithin
    }
    public static let all = ConnectionSelection()
}

extension TimelineWriter {
    public func connection(_ c: Connection) throws {
        let st = try statement("INSERT INTO connection (\(CaseRows.connectionColumns), span_level) VALUES (\(Self.marks(33)))")
        st.bindNull(1)
        st.bind(2, c.proto.rawValue); st.bind(3, c.direction.rawValue); st.bind(4, Int(c.tuple.family))
        st.bind(5, c.tuple.laddr); st.bind(6, Int(c.tuple.lport)); st.bind(7, c.tuple.raddr); st.bind(8, Int(c.tuple.rport))
        st.bind(9, c.netns); st.bind(10, c.cookie); st.bind(11, c.sk)
        if let o = c.owner { st.bind(12, o.pid); st.bind(13, o.startNs) } else { st.bindNull(12); st.bindNull(13) }
        st.bind(14, c.ownerTid); st.bind(15, c.ownerComm)
        if let g = c.ownerCgroup { st.bind(16, g.v2); st.bind(17, g.v1) } else { st.bindNull(16); st.bindNull(17) }
        st.bind(18, c.start)
        bindOptional(st, 19, c.ownedAt); bindOptional(st, 20, c.end)
        if let r = c.result { st.bind(21, Int(r)) } else { st.bindNull(21) }
        bindOptional(st, 22, c.bytesSent); bindOptional(st, 23, c.bytesReceived)
        bindOptional(st, 24, c.packetsSent); bindOptional(st, 25, c.packetsReceived)
        if let r = c.retransmits { st.bind(26, r) } else { st.bindNull(26) }
        st.bind(27, c.established ? 1 : 0)
        if let s = c.finalState { st.bind(28, s) } else { st.bindNull(28) }
        st.bind(29, c.flags.rawValue); st.bind(30, c.openAtStart ? 1 : 0)
        st.bind(31, c.sharedBy.map { "\($0.pid):\($0.startNs)" }.joined(separator: ","))
        st.bind(32, c.endReason)
        st.bind(33, CaseRows.spanLevel(start: c.start, end: c.end))
        try insert(st)
    }

    public func natMapping(_ m: NATMapping) throws {
        let st = try statement("INSERT INTO nat_mapping (\(CaseRows.natColumns), span_level) VALUES (\(Self.marks(29)))")
        st.bindNull(1)
        st.bind(2, m.netns); st.bind(3, Int(m.family)); st.bind(4, Int(m.proto)); st.bind(5, Int(m.zone))
        st.bind(6, m.mark); st.bind(7, m.status); st.bind(8, m.cgroupID)
        st.bind(9, m.orig.src); st.bind(10, Int(m.orig.sport)); st.bind(11, m.orig.dst); st.bind(12, Int(m.orig.dport))
        st.bind(13, m.reply.src); st.bind(14, Int(m.reply.sport)); st.bind(15, m.reply.dst); st.bind(16, Int(m.reply.dport))
        st.bind(17, m.start); st.bind(18, m.startKind.rawValue); bindOptional(st, 19, m.end); st.bind(20, m.endKind.rawValue)
        var i: Int32 = 21
        for side in [NATSide.originalSource, .translatedSource, .originalDestination, .translatedDestination] {
            let e = m.endpoint(side)
            st.bind(i, e.addr); st.bind(i + 1, Int(e.port ?? 0))
            i += 2
        }
        st.bind(29, CaseRows.spanLevel(start: m.start, end: m.end))
        try insert(st)
    }

    @inline(__always) private func bindOptional(_ st: Statement, _ i: Int32, _ v: UInt64?) {
        if let v { st.bind(i, v) } else { st.bindNull(i) }
    }

    /// The socket rows already in the case (copied from the capture's row tables), in the order they were written.
    public func forEachTcpEvent(_ body: (TcpEventRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(TcpEventRow.selectColumns) FROM tcp_event ORDER BY rowid")
        while try st.step() { if let r = st.checkedRow(TcpEventRow.read) { try body(r) } }
    }

    /// The socket rows without a cookie, in time order.
    public func forEachTcpEventWithoutCookie(_ body: (TcpEventRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(TcpEventRow.selectColumns) FROM tcp_event WHERE cookie = 0 ORDER BY ts, rowid")
        while try st.step() { if let r = st.checkedRow(TcpEventRow.read) { try body(r) } }
    }

    /// The socket rows of `cookies`: each cookie's rows together, in time order.
    public func forEachTcpEvent(cookies: Set<UInt64>, _ body: (TcpEventRow) throws -> Void) throws {
        try withCookies(cookies) {
            let st = try db.prepare("""
                SELECT \(TcpEventRow.selectColumns) FROM tcp_event WHERE cookie IN (SELECT cookie FROM temp.cookies)
                ORDER BY cookie, ts, rowid
                """)
            while try st.step() { if let r = st.checkedRow(TcpEventRow.read) { try body(r) } }
        }
    }

    /// Removes the TCP connections of `cookies`, to be written again.
    public func deleteConnections(cookies: Set<UInt64>) throws {
        try withCookies(cookies) {
            try db.execute("DELETE FROM connection WHERE proto = 'tcp' AND cookie IN (SELECT cookie FROM temp.cookies)")
        }
    }

    private func withCookies(_ cookies: Set<UInt64>, _ body: () throws -> Void) throws {
        try begin()
        try db.execute("CREATE TEMP TABLE IF NOT EXISTS cookies (cookie INTEGER PRIMARY KEY)")
        try db.execute("DELETE FROM temp.cookies")
        let st = try db.prepare("INSERT OR IGNORE INTO temp.cookies (cookie) VALUES (?)")
        for c in cookies.sorted() {
            st.bind(1, c)
            try st.run()
        }
        try body()
        try db.execute("DROP TABLE temp.cookies")
    }

    public func forEachUdpFlow(_ body: (UdpFlowRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(UdpFlowRow.selectColumns) FROM udp_flow ORDER BY ts, rowid")
        while try st.step() { if let r = st.checkedRow(UdpFlowRow.read) { try body(r) } }
    }

    public func forEachUdpFlowEnd(_ body: (UdpFlowEndRow) throws -> Void) throws {
        let st = try db.prepare("SELECT \(UdpFlowEndRow.selectColumns) FROM udp_flow_end")
        while try st.step() { if let r = st.checkedRow(UdpFlowEndRow.read) { try body(r) } }
    }

    /// Every conntrack row, in time order.
    public func forEachConntrack(_ body: (ConntrackRow) throws -> Void) throws {
        let st = try db.prepare(ConntrackRow.selectAll + " ORDER BY ts, rowid")
        while try st.step() { if let r = st.checkedRow({ ConntrackRow.read($0) }) { try body(r) } }
    }

    /// The conntrack rows already in the case (copied from the capture's row tables), in the order they were written.
    public func forEachConntrackWritten(_ body: (ConntrackRow) throws -> Void) throws {
        let st = try db.prepare(ConntrackRow.selectAll + " ORDER BY rowid")
        while try st.step() { if let r = st.checkedRow({ ConntrackRow.read($0) }) { try body(r) } }
    }

    /// Removes every mapping interval and reconstruction count, to be written again.
    public func deleteNATMappings(countPrefix: String) throws {
        try begin()
        try db.execute("DELETE FROM nat_mapping")
        let st = try db.prepare("DELETE FROM case_count WHERE substr(name, 1, ?) = ?")
        try st.bind([countPrefix.utf8.count, countPrefix])
        try st.run()
    }

    /// Indexes the reconstructed tables (once they are filled).
    public func indexReconstructed() throws {
        try commit()
        for sql in CaseRows.indexes { try db.execute(sql) }
    }
}

extension TimelineReader {
    /// The connections `sel` asks for, oldest first.
    public func connections(_ sel: ConnectionSelection) throws -> [Connection] {
        var clauses: [String] = [], binds: [any SQLiteBindable] = []
        if !sel.endpoints.isEmpty {
            var any: [String] = []
            for e in sel.endpoints {
                if let p = e.port {
                    any.append("(lport = ? AND laddr IN (?, '0.0.0.0', '::'))"); binds += [Int(p), e.addr]
                    any.append("(rport = ? AND raddr = ?)"); binds += [Int(p), e.addr]
                } else {
                    any.append("laddr = ?"); binds.append(e.addr)
                    any.append("raddr = ?"); binds.append(e.addr)
                }
            }
            clauses.append("(" + any.joined(separator: " OR ") + ")")
            if let to = sel.to { clauses.append("start <= ?"); binds.append(Int64(bitPattern: to)) }
            if let from = sel.from { clauses.append("(end_ts IS NULL OR end_ts >= ?)"); binds.append(Int64(bitPattern: from)) }
        } else if sel.from != nil || sel.to != nil {
            let (span, spanBinds) = CaseRows.spanClause(from: sel.from, to: sel.to, startedFrom: sel.startedFrom)
            clauses.append(span)
            binds += spanBinds
            if let to = sel.to { clauses.append("start <= ?"); binds.append(Int64(bitPattern: to)) }
            if let from = sel.from { clauses.append("(end_ts IS NULL OR end_ts >= ?)"); binds.append(Int64(bitPattern: from)) }
        }
        if let s = sel.startedFrom { clauses.append("start >= ?"); binds.append(Int64(bitPattern: min(s, UInt64(Int64.max)))) }
        if sel.changedWithin, sel.from != nil || sel.to != nil {
            let lo = Int64(bitPattern: min(sel.from ?? 0, UInt64(Int64.max))), hi = Int64(bitPattern: min(sel.to ?? .max, UInt64(Int64.max)))
            clauses.append("(coalesce(owned_at, start) BETWEEN ? AND ? OR end_ts BETWEEN ? AND ?)"); binds += [lo, hi, lo, hi]
        }
        if let pid = sel.ownerPid { clauses.append("owner_pid = ?"); binds.append(Int(pid)) }
        if let r = sel.remote {
            clauses.append("raddr = ?"); binds.append(r.addr)
            if let p = r.port { clauses.append("rport = ?"); binds.append(Int(p)) }
        }
        let sql = "SELECT \(CaseRows.connectionColumns) FROM connection"
            + (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "))
        let st = try db.prepare(sql)
        try st.bind(binds)
        // The keys are sorted, not the rows: a connection is a few hundred bytes.
        var order: [CaseRows.ConnectionOrder] = [], rows: [Connection] = []
        while try st.step() {
            if let c = st.checkedRow(Self.connection) {
                order.append(CaseRows.ConnectionOrder(st, row: rows.count))
                rows.append(c)
            }
        }
        return order.sorted().map { rows[$0.row] }
    }

    private static func connection(_ st: Statement) -> Connection {
        func opt(_ i: Int32) -> UInt64? { st.isNull(i) ? nil : st.uint64(i) }
        // Counts are below 2^63: a larger one (stored negative) is damage, not a count.
        func count(_ i: Int32) -> UInt64? { st.isNull(i) ? nil : st.checked(i, as: UInt64.self) }
        let tuple = SocketTuple(family: UInt16(truncatingIfNeeded: st.int64(3)), laddr: st.string(4) ?? "",
                                lport: UInt16(truncatingIfNeeded: st.int64(5)), raddr: st.string(6) ?? "",
                                rport: UInt16(truncatingIfNeeded: st.int64(7)))
        let owner = st.isNull(11) ? nil : ProcessKey(pid: UInt32(truncatingIfNeeded: st.int64(11)), startNs: st.uint64(12))
        var c = Connection(proto: Connection.Proto(rawValue: st.string(1) ?? "") ?? .tcp,
                           direction: Connection.Direction(rawValue: st.string(2) ?? "") ?? .unknown,
                           tuple: tuple, netns: UInt32(truncatingIfNeeded: st.int64(8)), cookie: st.uint64(9),
                           sk: st.uint64(10), owner: owner, start: st.uint64(17))
        c.ownerTid = UInt32(truncatingIfNeeded: st.int64(13))
        c.ownerComm = st.string(14) ?? ""
        if !st.isNull(15) { c.ownerCgroup = (st.uint64(15), st.uint64(16)) }
        c.ownedAt = opt(18)
        c.end = opt(19)
        c.result = st.isNull(20) ? nil : Int32(truncatingIfNeeded: st.int64(20))
        c.bytesSent = count(21); c.bytesReceived = count(22); c.packetsSent = count(23); c.packetsReceived = count(24)
        c.retransmits = st.isNull(25) ? nil : UInt32(truncatingIfNeeded: st.int64(25))
        c.established = st.int64(26) != 0
        c.finalState = st.isNull(27) ? nil : UInt32(truncatingIfNeeded: st.int64(27))
        c.flags = SocketFlags(rawValue: st.int(28))
        c.openAtStart = st.int64(29) != 0
        c.sharedBy = (st.string(30) ?? "").split(separator: ",").compactMap { part in
            let f = part.split(separator: ":")
            guard f.count == 2, let pid = UInt32(f[0]), let s = UInt64(f[1]) else { return nil }
            return ProcessKey(pid: pid, startNs: s)
        }
        c.endReason = st.string(31)
        return c
    }

    /// The first start of a connection after `t` (nil: none): where a walk through a quiet
    /// stretch of time goes on. One index seek per span level.
    public func nextConnectionStart(after t: UInt64) throws -> UInt64? {
        guard try hasTable("connection") else { return nil }
        let levels = (Array(0...CaseRows.spanLevels) + [CaseRows.openLevel]).map {
            "SELECT min(start) AS s FROM connection WHERE span_level = \($0) AND start > ?1"
        }
        let st = try reused("SELECT min(s) FROM (" + levels.joined(separator: " UNION ALL ") + ")")
        try st.bind([Int64(bitPattern: min(t, UInt64(Int64.max)))])
        guard try st.step(), !st.isNull(0) else { return nil }
        return st.uint64(0)
    }

    /// The first moment after `t` at which a connection live at `t` is first owned or ends
    /// (nil: none).
    public func nextConnectionChange(after t: UInt64) throws -> UInt64? {
        guard try hasTable("connection") else { return nil }
        let (span, binds) = CaseRows.spanClause(from: t, to: t)
        let at = Int64(bitPattern: min(t, UInt64(Int64.max)))
        let st = try reused("""
            SELECT min(CASE WHEN owned_at > ? THEN owned_at END), min(CASE WHEN end_ts > ? THEN end_ts END)
            FROM connection WHERE \(span) AND start <= ?
            """)
        try st.bind([at, at] + binds + [at])
        guard try st.step() else { return nil }
        return [Int32(0), 1].compactMap { st.isNull($0) ? nil : st.uint64($0) }.min()
    }

    /// The NAT mapping intervals a socket (local -> remote) can be one end of, live at `t`:
    /// its tuple is their original one (outbound through SNAT) or their reply one (inbound
    /// through DNAT). Each side is found through its selective endpoint (the socket's own
    /// source port; the translated peer), never the busy server address every mapping shares.
    public func natMappings(socketLocal l: NATEndpoint, remote r: NATEndpoint, at t: UInt64) throws -> [NATMapping] {
        guard let lp = l.port, let rp = r.port, try hasTable("nat_mapping") else { return [] }
        let st = try reused("""
            SELECT \(CaseRows.natReadColumns) FROM nat_mapping
            WHERE ((os_addr = ? AND os_port = ? AND orig_dst = ? AND orig_dport = ?)
              OR (ts_addr = ? AND ts_port = ? AND reply_src = ? AND reply_sport = ?))
            AND start <= ? AND (end_ts IS NULL OR end_ts > ?)
            """)
        try st.bind([l.addr, Int(lp), r.addr, Int(rp), r.addr, Int(rp), l.addr, Int(lp),
                     Int64(bitPattern: t), Int64(bitPattern: t)])
        return try natMappings(st)
    }

    /// NAT mapping intervals with `endpoint` on some side (any port when it has none), live at
    /// some moment of [from, to] when given; oldest first.
    public func natMappings(touching endpoint: NATEndpoint?, from: UInt64? = nil, to: UInt64? = nil) throws -> [NATMapping] {
        guard try hasTable("nat_mapping") else { return [] }
        var clauses: [String] = [], binds: [any SQLiteBindable] = []
        if let e = endpoint {
            let sides = ["os", "ts", "od", "td"]
            if let p = e.port {
                clauses.append("(" + sides.map { "(\($0)_addr = ? AND \($0)_port = ?)" }.joined(separator: " OR ") + ")")
                for _ in sides { binds += [e.addr, Int(p)] }
            } else {
                clauses.append("(" + sides.map { "\($0)_addr = ?" }.joined(separator: " OR ") + ")")
                for _ in sides { binds.append(e.addr) }
            }
        } else if from != nil || to != nil {
            let (span, spanBinds) = CaseRows.spanClause(from: from, to: to)
            clauses.append(span)
            binds += spanBinds
        }
        if let to { clauses.append("start <= ?"); binds.append(Int64(bitPattern: to)) }
        if let from { clauses.append("(end_ts IS NULL OR end_ts > ?)"); binds.append(Int64(bitPattern: from)) }
        return try natMappings(where: clauses.isEmpty ? nil : clauses.joined(separator: " AND "), binds)
    }

    private func natMappings(where condition: String?, _ binds: [any SQLiteBindable]) throws -> [NATMapping] {
        let st = try db.prepare("SELECT \(CaseRows.natReadColumns) FROM nat_mapping" + (condition.map { " WHERE " + $0 } ?? ""))
        try st.bind(binds)
        return try natMappings(st)
    }

    /// The rows `st` selects, sorted here by (start, id), not by SQLite's sorter (see ConnectionOrder).
    private func natMappings(_ st: Statement) throws -> [NATMapping] {
        var out: [NATMapping] = [], order: [(start: Int64, id: Int64)] = []
        while try st.step() {
            order.append((st.int64(16), st.int64(0)))
            func tuple(_ i: Int32) -> ConntrackTuple {
                ConntrackTuple(src: st.string(i) ?? "", sport: UInt16(truncatingIfNeeded: st.int64(i + 1)),
                               dst: st.string(i + 2) ?? "", dport: UInt16(truncatingIfNeeded: st.int64(i + 3)))
            }
            out.append(NATMapping(
                netns: UInt32(truncatingIfNeeded: st.int64(1)), family: UInt8(truncatingIfNeeded: st.int64(2)),
                proto: UInt8(truncatingIfNeeded: st.int64(3)), zone: UInt16(truncatingIfNeeded: st.int64(4)),
                mark: UInt32(truncatingIfNeeded: st.int64(5)), status: UInt32(truncatingIfNeeded: st.int64(6)),
                cgroupID: st.uint64(7), orig: tuple(8), reply: tuple(12), start: st.uint64(16),
                startKind: NATStart(rawValue: st.string(17) ?? "") ?? .new, end: st.isNull(18) ? nil : st.uint64(18),
                endKind: NATEnd(rawValue: st.string(19) ?? "") ?? .open))
        }
        return out.indices.sorted { order[$0] < order[$1] }.map { out[$0] }
    }

    /// How many mapping intervals began and ended each way (info), counted in the case.
    public func natCounts() throws -> (total: Int, translated: Int, namespaces: Int, starts: [String: Int], ends: [String: Int]) {
        guard try hasTable("nat_mapping") else { return (0, 0, 0, [:], [:]) }
        let total: Int = try db.scalar("SELECT count(*) FROM nat_mapping") ?? 0
        let translated: Int = try db.scalar("SELECT count(*) FROM nat_mapping WHERE status & 48 != 0") ?? 0
        let ns: Int = try db.scalar("SELECT count(DISTINCT netns) FROM nat_mapping") ?? 0
        func groups(_ col: String) throws -> [String: Int] {
            let st = try db.prepare("SELECT \(col), count(*) FROM nat_mapping GROUP BY \(col)")
            var out: [String: Int] = [:]
            while try st.step() { out[st.string(0) ?? ""] = st.int(1) }
            return out
        }
        return (total, translated, ns, try groups("start_kind"), try groups("end_kind"))
    }
}
