/// Rows of the resolver stream (bpf/resolver.bpf.c): names processes asked
/// their resolver library for, and the life of the probes themselves.
public enum DNSFunction: Int, Sendable, CustomStringConvertible {
    case getaddrinfo = 1, gethostbyname = 2, gethostbyname2 = 3
    public var description: String {
        switch self {
        case .getaddrinfo: "getaddrinfo"
        case .gethostbyname: "gethostbyname"
        case .gethostbyname2: "gethostbyname2"
        }
    }
}

/// Mirrors NT_DNS_F_* in bpf/nettrail.h.
public struct DNSFlags: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let nameTruncated = DNSFlags(rawValue: 1 << 0)
    /// More addresses were returned than were kept.
    public static let addressesTruncated = DNSFlags(rawValue: 1 << 1)
    public static let nameUnreadable = DNSFlags(rawValue: 1 << 2)
}

/// One resolver call, written at its return in the caller's context.
public struct DNSRow: Sendable, Equatable {
    /// ts = the return.
    public var task: TaskRow
    public var callTs: UInt64
    public var function: DNSFunction
    public var name: String
    public var flags: DNSFlags
    /// getaddrinfo: its return value (0 or EAI_*); gethostbyname*: 0 = a hostent, -1 = NULL.
    public var rc: Int32
    /// Distinct addresses in the order returned, canonical text (IPv4 dotted, IPv6 RFC 5952).
    public var addresses: [String]
    public init(task: TaskRow, callTs: UInt64, function: DNSFunction, name: String, flags: DNSFlags,
                rc: Int32, addresses: [String]) {
        self.task = task; self.callTs = callTs; self.function = function; self.name = name
        self.flags = flags; self.rc = rc; self.addresses = addresses
    }

    public static let selectColumns = "\(TaskRow.columnNames), call_ts, func, name, flags, rc, addresses"
    public static func read(_ st: Statement) -> DNSRow {
        let addrs = (st.string(19) ?? "").split(separator: " ").map(String.init)
        return DNSRow(task: TaskRow.read(st, at: 0), callTs: st.uint64(14),
                      function: DNSFunction(rawValue: st.int(15)) ?? .getaddrinfo, name: st.string(16) ?? "",
                      flags: DNSFlags(rawValue: st.int(17)), rc: Int32(truncatingIfNeeded: st.int64(18)),
                      addresses: addrs)
    }
}

/// What happened to a resolver library's probes, or to a process the probes
/// could not cover. Never silent: every process that mapped an unprobed
/// resolver library gets a `late` or `miss` row.
public enum DNSProbeEvent: String, Sendable, CaseIterable {
    /// Probes attached to a library file (trigger = the exec or mapping that led to it).
    case armed
    /// The file is one already probed, reached by another path (e.g. another overlay mount).
    case alias
    /// Not probed: attach failed, no resolver symbol, or the bound on probed files was reached.
    case refused
    /// Probes removed: no process mapped the file any longer.
    case detached
    /// This process mapped the library before it was probed; it was probed at ts
    /// (delay_ns later): resolver calls in between were not seen.
    case late
    /// This process mapped an unprobed library and was gone before it could be probed.
    case miss
    /// A statically linked executable: no resolver library to probe (one row per file; count in detail).
    case `static`
}

public struct DNSProbeRow: Sendable, Equatable {
    public var ts: UInt64
    public var event: DNSProbeEvent
    public var pid: UInt32
    public var startNs: UInt64
    /// The file as the kernel sees it: dev_t (major << 20 | minor) and inode of the mapped file.
    public var kdev: UInt64
    public var ino: UInt64
    /// The path inside the process's root (or as mapped).
    public var path: String
    /// The exec or mapping that triggered this row; delay = ts - triggerTs.
    public var triggerTs: UInt64
    public var detail: String
    public init(ts: UInt64, event: DNSProbeEvent, pid: UInt32, startNs: UInt64, kdev: UInt64, ino: UInt64,
                path: String, triggerTs: UInt64, detail: String) {
        self.ts = ts; self.event = event; self.pid = pid; self.startNs = startNs; self.kdev = kdev
        self.ino = ino; self.path = path; self.triggerTs = triggerTs; self.detail = detail
    }
    public var delayNs: UInt64 { ts > triggerTs && triggerTs > 0 ? ts - triggerTs : 0 }

    public static let selectColumns = "ts, event, pid, start_ns, kdev, ino, path, trigger_ts, detail"
    public static func read(_ st: Statement) -> DNSProbeRow {
        DNSProbeRow(ts: st.uint64(0), event: DNSProbeEvent(rawValue: st.string(1) ?? "") ?? .miss,
                    pid: st.uint32(2), startNs: st.uint64(3), kdev: st.uint64(4), ino: st.uint64(5),
                    path: st.string(6) ?? "", triggerTs: st.uint64(7), detail: st.string(8) ?? "")
    }
}

extension TimelineReader {
    /// Every resolver call, in call order (none in captures from before the resolver source).
    public func forEachDNSCall(_ body: (DNSRow) throws -> Void) throws {
        guard try hasTable("dns") else { return }
        let st = try db.prepare("SELECT \(DNSRow.selectColumns) FROM dns ORDER BY call_ts")
        while try st.step() { if let r = st.checkedRow(DNSRow.read) { try body(r) } }
    }

    /// What happened to the resolver probes, in time order.
    public func dnsProbes() throws -> [DNSProbeRow] {
        guard try hasTable("dns_probe") else { return [] }
        let st = try db.prepare("SELECT \(DNSProbeRow.selectColumns) FROM dns_probe ORDER BY ts")
        var out: [DNSProbeRow] = []
        while try st.step() { if let p = st.checkedRow(DNSProbeRow.read) { out.append(p) } }
        return out
    }
}

extension TimelineWriter {
    public func dns(_ e: DNSRow) throws {
        let st = try statement("""
            INSERT INTO dns (\(DNSRow.selectColumns)) VALUES (\(Self.marks(20)))
            """)
        e.task.bind(st)
        st.bind(15, e.callTs); st.bind(16, e.function.rawValue); st.bind(17, e.name)
        st.bind(18, e.flags.rawValue); st.bind(19, Int(e.rc)); st.bind(20, e.addresses.joined(separator: " "))
        try insert(st)
    }

    public func dnsProbe(_ e: DNSProbeRow) throws {
        let st = try statement("""
            INSERT INTO dns_probe (\(DNSProbeRow.selectColumns)) VALUES (\(Self.marks(9)))
            """)
        st.bind(1, e.ts); st.bind(2, e.event.rawValue); st.bind(3, e.pid); st.bind(4, e.startNs)
        st.bind(5, e.kdev); st.bind(6, e.ino); st.bind(7, e.path); st.bind(8, e.triggerTs); st.bind(9, e.detail)
        try insert(st)
    }
}
