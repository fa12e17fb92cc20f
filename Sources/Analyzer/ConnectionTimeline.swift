import Format

/// A chronological, readable replay of process and network events.
public enum TimelineQuery {
    public static let columns = Columns.timeline

    /// `--kind` names, each for the events it selects.
    static let kindEvents: KeyValuePairs<String, [String]> = [
        "process": ["fork", "exec", "exit"], "fork": ["fork"], "exec": ["exec"], "exit": ["exit"],
        "tcp": ["tcp connect", "tcp accept", "tcp open", "tcp open at start", "tcp close"],
        "udp": ["udp flow (send)", "udp flow (recv)", "udp flow end"],
        "connect": ["tcp connect", "udp flow (send)"], "accept": ["tcp accept", "udp flow (recv)"],
        "close": ["tcp close", "udp flow end"],
    ]
    public static var kinds: [String] { kindEvents.map(\.key) }

    public static func run(_ capture: Capture, from: UInt64? = nil, to: UInt64? = nil, container: String? = nil,
                           kinds: Set<String>? = nil, nat: NATResolver? = nil) throws -> ResultTable {
        struct Item { var ts: UInt64; var order: Int; var row: [Value] }
        var items: [Item] = []
        let lo = from ?? 0, hi = to ?? .max
        func cont(_ v2: UInt64, _ v1: UInt64) -> String? { capture.cgroups.container(v2: v2, v1: v1)?.id }
        func keep(_ ts: UInt64, _ c: String?) -> Bool {
            guard ts >= lo && ts <= hi else { return false }
            guard let want = container else { return true }
            return c.map { ContainerID.matches($0, prefix: want) } ?? false
        }
        func cval(_ c: String?) -> Value { c.map { .text($0) } ?? .null }

        let conns = try ConnectionIndex(capture, ConnectionSelection(from: from, to: to)).connections
        let procs = from == nil && to == nil ? capture.processes
            : try capture.processes(pids: try capture.pidsWithEvents(from: lo, to: hi).union(conns.compactMap { $0.owner?.pid }))
        for r in procs.records.values {
            let cg0 = r.cgroups.first
            if let f = r.forkTs {
                let c = cg0.flatMap { cont($0.v2, $0.v1) }
                if keep(f, c) {
                    items.append(Item(ts: f, order: 0, row: [.text(capture.wallText(f)), .text("fork"), .int(Int64(r.key.pid)),
                                                          .text(r.comm), cval(c), .text("parent \(r.parent.pid)")]))
                }
            }
            for e in r.execs where !e.fromSnapshot {
                let cg = r.cgroup(at: e.ts)
                let c = cg.flatMap { cont($0.v2, $0.v1) }
                if keep(e.ts, c) {
                    items.append(Item(ts: e.ts, order: 1, row: [.text(capture.wallText(e.ts)), .text("exec"), .int(Int64(r.key.pid)),
                                                            .text(r.comm), cval(c),
                                                            .text(Self.execText(e))]))
                }
            }
            if let x = r.exitTs {
                let cg = r.cgroup(at: x)
                let c = cg.flatMap { cont($0.v2, $0.v1) }
                if keep(x, c) {
                    let how = r.exitSignal.map { "signal \($0)" } ?? r.exitCode.map { "code \($0)" } ?? ""
                    items.append(Item(ts: x, order: 3, row: [.text(capture.wallText(x)), .text("exit"), .int(Int64(r.key.pid)),
                                                         .text(r.comm), cval(c), .text(how)]))
                }
            }
        }
        nat?.prepare(for: conns)
        var imageLoss = ImageLossNotes()
        for c in conns {
            let o = OwnerInfo(c, capture, procs, detail: false)
            imageLoss.add(c.owner, o)
            var cid: String? = nil
            if case .text(let s) = o.container { cid = s }
            let verb: String
            switch (c.proto, c.direction) {
            case (.tcp, .outbound): verb = "tcp connect"
            case (.tcp, .inbound): verb = "tcp accept"
            case (.tcp, .unknown): verb = c.openAtStart ? "tcp open at start" : "tcp open"
            case (.udp, .inbound): verb = "udp flow (recv)"
            case (.udp, _): verb = "udp flow (send)"
            }
            var detail = "\(c.tuple.localText) -> \(c.tuple.remoteText) netns \(c.netns)"
            if let r = c.result, r != 0 { detail += c.direction == .inbound ? " fd \(r)" : " result \(r)" }
            if let t = nat?.translation(of: c) { detail += " nat \(t)" }
            let pid: Value = o.pid
            let comm: Value = c.owner == nil ? .text("(owner unknown)") : o.comm
            let at = c.ownedAt ?? c.start
            if keep(at, cid) {
                items.append(Item(ts: at, order: 2, row: [.text(capture.wallText(at)), .text(verb), pid, comm, cval(cid), .text(detail)]))
            }
            if let end = c.end, keep(end, cid) {
                var d = "\(c.tuple.localText) -> \(c.tuple.remoteText)"
                if let s = c.bytesSent, let r = c.bytesReceived { d += " sent \(s) received \(r)" }
                if let p = c.retransmits, p > 0 { d += " retransmits \(p)" }
                if let s = c.finalState { d += " from \(TCPState.name(s))" }
                if let r = c.endReason { d += " (\(r))" }
                items.append(Item(ts: end, order: 2, row: [.text(capture.wallText(end)),
                                                         .text(c.proto == .tcp ? "tcp close" : "udp flow end"), pid, comm, cval(cid), .text(d)]))
            }
        }
        if let kinds {
            let events = Set(kindEvents.filter { kinds.contains($0.key) }.flatMap(\.value))
            items.removeAll { if case .text(let e) = $0.row[1] { return !events.contains(e) }; return true }
        }
        items.sort { ($0.ts, $0.order) < ($1.ts, $1.order) }
        var table = ResultTable(columns: columns)
        table.notes += capture.missingSourceNotes("process", "sockets")
        table.rows = items.map(\.row)
        table.notes += LossNote.notes(capture, .process, from: from, to: to,
                                      consequence: "forks, execs or exits of this window may be missing")
        table.notes += imageLoss.notes(capture)
        table.notes += ConnectionsQuery.lossNotes(capture, from: from, to: to)
        if nat != nil {
            table.notes += LossNote.notes(capture, .conntrack, from: from, to: to,
                                          consequence: "a connection's NAT translation may be missing")
        }
        return table
    }

    /// argv as run; the file too when argv[0] does not name it (e.g. busybox's /proc/self/exe re-exec).
    static func execText(_ e: ExecRecord) -> String {
        let args = e.argv.map(Value.shellWord).joined(separator: " ")
        guard let first = e.argv.first else { return e.filename }
        let base = { (p: String) in p.split(separator: "/").last.map(String.init) ?? p }
        return base(first) == base(e.filename) ? args : "\(e.filename): \(args)"
    }
}
