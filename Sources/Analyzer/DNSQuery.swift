import Format
#if canImport(Glibc)
import Glibc
#endif

/// The names each process asked its resolver library for, by process identity.
public final class DNSIndex {
    public private(set) var rows: [DNSRow] = []
    private var byProcess: [ProcessKey: [Int]] = [:]
    public private(set) var probes: [DNSProbeRow] = []

    public init(_ capture: Capture) throws {
        try capture.reader.forEachDNSCall { r in
            byProcess[ProcessKey(pid: r.task.pid, startNs: r.task.startNs), default: []].append(rows.count)
            rows.append(r)
        }
        probes = try capture.reader.dnsProbes()
    }

    /// The name `owner` itself resolved to `addr` most recently before `t` (never another process's).
    public func name(owner: ProcessKey, addr: String, before t: UInt64) -> String? {
        guard let idx = byProcess[owner] else { return nil }
        for i in idx.reversed() where rows[i].callTs <= t && rows[i].addresses.contains(addr) {
            return rows[i].name
        }
        return nil
    }
}

public struct DNSFilter: Sendable {
    public var from: UInt64?
    public var to: UInt64?
    /// Shell glob (fnmatch, case-insensitive), e.g. "*.example.com".
    public var name: String?
    /// Only calls that returned this address.
    public var addr: String?
    public var pid: UInt32?
    public init(from: UInt64? = nil, to: UInt64? = nil, name: String? = nil, addr: String? = nil, pid: UInt32? = nil) {
        self.from = from; self.to = to; self.name = name; self.addr = addr; self.pid = pid
    }
}

public enum DNSQuery {
    public static let columns = Columns.dns

    public static func run(_ capture: Capture, _ f: DNSFilter) throws -> ResultTable {
        let index = try DNSIndex(capture)
        var table = ResultTable(columns: columns)
        table.notes += capture.missingSourceNotes("resolver")
        let want = f.addr.map(canonical)
        var imageLost: [LossRow] = []
        for r in index.rows {
            if let from = f.from, r.task.ts < from { continue }
            if let to = f.to, r.callTs > to { continue }
            if let pid = f.pid, r.task.pid != pid { continue }
            if let p = f.name, fnmatch(p.lowercased(), r.name.lowercased(), 0) != 0 { continue }
            if let want, !r.addresses.contains(want) { continue }
            let key = ProcessKey(pid: r.task.pid, startNs: r.task.startNs)
            let image = capture.processes.image(of: key, at: r.callTs, comm: r.task.comm)
            let exe = image.known?.filename
            imageLost += image.lost
            let cont = capture.cgroups.container(v2: r.task.cgroupID, v1: r.task.cgroupV1ID)
            var flags: [String] = []
            if r.flags.contains(.nameTruncated) { flags.append("name_truncated") }
            if r.flags.contains(.addressesTruncated) { flags.append("addresses_truncated") }
            if r.flags.contains(.nameUnreadable) { flags.append("name_unreadable") }
            table.append([
                .text(capture.wallText(r.callTs)), .int(Int64(r.task.pid)), .text(capture.wallText(r.task.startNs)),
                .int(Int64(r.task.tid)), .text(r.task.comm), exe.map { .text($0) } ?? .null,
                cont.map { .text($0.id) } ?? .null, .text(r.function.description), .text(r.name),
                .text(result(r)), .list(r.addresses), .int(Int64((r.task.ts &- r.callTs) / 1000)), .list(flags),
            ])
        }
        table.notes += notes(capture, index, from: f.from, to: f.to)
        if let n = LossNote.text(capture, imageLost, scope: .image,
                                 consequence: "exe is left empty where an exec lost may have replaced it") {
            table.notes.append("exec lost: " + n)
        }
        return table
    }

    static func result(_ r: DNSRow) -> String {
        if r.function == .getaddrinfo {
            if r.rc == 0 { return "ok" }
            let names: [Int32: String] = [-2: "EAI_NONAME", -3: "EAI_AGAIN", -4: "EAI_FAIL", -5: "EAI_NODATA",
                                          -6: "EAI_FAMILY", -8: "EAI_SERVICE", -9: "EAI_ADDRFAMILY", -10: "EAI_MEMORY",
                                          -11: "EAI_SYSTEM"]
            return names[r.rc] ?? "error \(r.rc)"
        }
        return r.rc == 0 ? "ok" : "NULL"
    }

    static func canonical(_ s: String) -> String {
        var b = [UInt8](repeating: 0, count: 16)
        if inet_pton(AF_INET, s, &b) == 1 { return SocketTuple.address(family: 2, b) }
        if inet_pton(AF_INET6, s, &b) == 1 { return SocketTuple.address(family: 10, b) }
        return s
    }

    /// What the capture cannot vouch for in this window: unprobed processes, lost events.
    static func notes(_ capture: Capture, _ index: DNSIndex, from: UInt64?, to: UInt64?) -> [String] {
        var out: [String] = []
        let inWindow = index.probes.filter { $0.ts >= (from ?? 0) && $0.triggerTs <= (to ?? .max) }
        let late = inWindow.filter { $0.event == .late }, miss = inWindow.filter { $0.event == .miss }
        let stat = inWindow.filter { $0.event == .static }, refused = inWindow.filter { $0.event == .refused }
        if !miss.isEmpty {
            out.append("\(miss.count) process(es) mapped an unprobed resolver library and were gone before it was probed: their lookups are not here (pids \(miss.prefix(10).map { String($0.pid) }.joined(separator: ","))\(miss.count > 10 ? ",…" : ""))")
        }
        if !late.isEmpty {
            out.append("\(late.count) process(es) mapped their resolver library before it was probed (up to \((late.map(\.delayNs).max() ?? 0) / 1_000_000) ms): lookups before then are not here")
        }
        if !refused.isEmpty { out.append("\(refused.count) resolver library file(s) not probed: " + Set(refused.map(\.detail)).sorted().joined(separator: "; ")) }
        if !stat.isEmpty { out.append("\(stat.count) exec(s) of statically linked programs: no resolver library to probe") }
        out += LossNote.notes(capture, .resolver, from: from, to: to, consequence: "lookups may be missing")
        return out
    }
}
