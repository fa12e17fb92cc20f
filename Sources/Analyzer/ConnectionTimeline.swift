import Format

/// A chronological, readable replay of process and network events.
public enum TimelineQuery {
    public static let columns = Columns.timeline

    /// `--kind` names, each for the events it selects.
    static let kindEvents: KeyValuePairs<String, [TimelineLines.Event]> = [
        "process": [.fork, .exec, .exit], "fork": [.fork], "exec": [.exec], "exit": [.exit],
        "tcp": [.tcpConnect, .tcpAccept, .tcpOpen, .tcpOpenAtStart, .tcpClose],
        "udp": [.udpSend, .udpReceive, .udpEnd],
        "connect": [.tcpConnect, .udpSend], "accept": [.tcpAccept, .udpReceive],
        "close": [.tcpClose, .udpEnd],
    ]
    public static var kinds: [String] { kindEvents.map(\.key) }
    /// What the event, pid and comm columns can hold (a pid has at most 7 digits, a comm 15
    /// characters), so that a timeline written a stretch at a time lines up.
    public static let widest = ["event": TimelineLines.Event.allCases.map(\.name.count).max() ?? 0, "pid": 7, "comm": 15]

    public static func run(_ capture: Capture, from: UInt64? = nil, to: UInt64? = nil, container: String? = nil,
                           kinds: Set<String>? = nil, nat: NATResolver? = nil) throws -> ResultTable {
        try answer(capture, from: from, to: to, container: container, kinds: kinds, nat: nat).table
    }

    /// The window's answer before its lines are made rows of Values: written as a table
    /// straight from them, or as `run`'s table.
    public static func answer(_ capture: Capture, from: UInt64? = nil, to: UInt64? = nil, container: String? = nil,
                              kinds: Set<String>? = nil, nat: NATResolver? = nil) throws -> TimelineAnswer {
        var (l, imageLoss) = try lines(capture, from: from, to: to, container: container, nat: nat)
        l.keep(kinds)
        return TimelineAnswer(capture: capture, lines: l, notes: notes(capture, from: from, to: to, imageLoss: imageLoss, nat: nat))
    }

    /// The window's rows in time order, a stretch of time at a time (`TimeStretches`): `body`
    /// gets each stretch's rows, and returns false to stop. Returns the notes `run` gives.
    public static func stream(_ capture: Capture, from: UInt64? = nil, to: UInt64? = nil, container: String? = nil,
                              kinds: Set<String>? = nil, nat: NATResolver? = nil, stretch: UInt64 = 1_000_000_000,
                              _ body: ([[Value]]) throws -> Bool) throws -> [String] {
        try streamAnswers(capture, from: from, to: to, container: container, kinds: kinds, nat: nat, stretch: stretch) {
            try body($0.rows)
        }
    }

    /// `stream`, each stretch's lines given as an answer (without notes) that a table is
    /// written from straight.
    public static func streamAnswers(_ capture: Capture, from: UInt64? = nil, to: UInt64? = nil, container: String? = nil,
                                     kinds: Set<String>? = nil, nat: NATResolver? = nil, stretch: UInt64 = 1_000_000_000,
                                     _ body: (TimelineAnswer) throws -> Bool) throws -> [String] {
        var imageLoss = ImageLossNotes()
        try TimeStretches.walk(capture, from: from, to: to, stretch: stretch, next: nextItem(capture)) { a, b, _ in
            var (l, loss) = try lines(capture, from: a, to: b, container: container, nat: nat)
            imageLoss.merge(loss)
            let count = l.items.count
            l.keep(kinds)
            return (count, try body(TimelineAnswer(capture: capture, lines: l, notes: [])))
        }
        return notes(capture, from: from, to: to, imageLoss: imageLoss, nat: nat)
    }

    static func notes(_ capture: Capture, from: UInt64?, to: UInt64?, imageLoss: ImageLossNotes, nat: NATResolver?) -> [String] {
        var notes = capture.missingSourceNotes("process", "sockets")
        notes += LossNote.notes(capture, .process, from: from, to: to,
                                consequence: "forks, execs or exits of this window may be missing")
        notes += imageLoss.notes(capture)
        notes += ConnectionsQuery.lossNotes(capture, from: from, to: to)
        if nat != nil {
            notes += LossNote.notes(capture, .conntrack, from: from, to: to,
                                    consequence: "a connection's NAT translation may be missing")
        }
        return notes
    }

    /// The first moment after a stretch that can hold a line: the next connection start,
    /// ownership or end, or the next fork, exec or exit.
    static func nextItem(_ capture: Capture) -> (UInt64) throws -> UInt64? {
        let reader = capture.reader
        return { t in
            [try reader.nextConnectionStart(after: t), try reader.nextConnectionChange(after: t),
             try reader.nextProcessEvent(after: t)].compactMap { $0 }.min()
        }
    }

    /// The window's lines in time order, and the owners whose image is uncertain: read from
    /// the case's stored timeline, which holds what `reconstructedLines` makes.
    static func lines(_ capture: Capture, from: UInt64?, to: UInt64?, container: String?,
                      nat: NATResolver?) throws -> (TimelineLines, ImageLossNotes) {
        let (lines, uncertain) = try TimelineStore.lines(capture, from: from ?? 0, to: to ?? .max, container: container,
                                                         nat: nat != nil)
        // Notes on owners a lost exec may have changed are made as the reconstruction makes
        // them: only a window that shows such an owner pays for one.
        let imageLoss = uncertain ? try reconstructedLines(capture, from: from, to: to, container: container, nat: nat).1
            : ImageLossNotes()
        return (lines, imageLoss)
    }

    /// The window's lines in time order, and the owners whose image is uncertain, joined from
    /// its connections, their owners and NAT mappings, and its processes' events.
    static func reconstructedLines(_ capture: Capture, from: UInt64?, to: UInt64?, container: String?,
                                   nat: NATResolver?) throws -> (TimelineLines, ImageLossNotes) {
        var lines = TimelineLines(), imageLoss = ImageLossNotes()
        let lo = from ?? 0, hi = to ?? .max
        func cont(_ v2: UInt64, _ v1: UInt64) -> String? { capture.cgroups.container(v2: v2, v1: v1)?.id }
        func keep(_ ts: UInt64, _ c: String?) -> Bool {
            guard ts >= lo && ts <= hi else { return false }
            guard let want = container else { return true }
            return c.map { ContainerID.matches($0, prefix: want) } ?? false
        }

        let conns = try ConnectionIndex(capture, ConnectionSelection(from: from, to: to, changedWithin: true)).connections
        let procs = from == nil && to == nil ? capture.processes
            : try capture.processes(keys: try capture.processesWithEvents(from: lo, to: hi).union(conns.compactMap(\.owner)))
        for r in procs.records.values {
            let cg0 = r.cgroups.first
            if let f = r.forkTs {
                let c = cg0.flatMap { cont($0.v2, $0.v1) }
                if keep(f, c) {
                    lines.add(f, .fork, pid: r.key.pid, comm: r.comm, container: c) { $0.add("parent "); $0.add(r.parent.pid) }
                }
            }
            for e in r.execs where !e.fromSnapshot {
                let cg = r.cgroup(at: e.ts)
                let c = cg.flatMap { cont($0.v2, $0.v1) }
                if keep(e.ts, c) {
                    lines.add(e.ts, .exec, pid: r.key.pid, comm: r.comm, container: c) { $0.add(Self.execText(e)) }
                }
            }
            if let x = r.exitTs {
                let cg = r.cgroup(at: x)
                let c = cg.flatMap { cont($0.v2, $0.v1) }
                if keep(x, c) {
                    lines.add(x, .exit, pid: r.key.pid, comm: r.comm, container: c) {
                        if let s = r.exitSignal { $0.add("signal "); $0.add(s) } else if let code = r.exitCode { $0.add("code "); $0.add(code) }
                    }
                }
            }
        }
        nat?.prepare(for: conns)
        for c in conns {
            let o = OwnerInfo(c, capture, procs, detail: false)
            var cid: String? = nil
            if case .text(let s) = o.container { cid = s }
            let verb: TimelineLines.Event
            switch (c.proto, c.direction) {
            case (.tcp, .outbound): verb = .tcpConnect
            case (.tcp, .inbound): verb = .tcpAccept
            case (.tcp, .unknown): verb = c.openAtStart ? .tcpOpenAtStart : .tcpOpen
            case (.udp, .inbound): verb = .udpReceive
            case (.udp, _): verb = .udpSend
            }
            let pid = c.owner?.pid
            let comm = c.owner == nil ? "(owner unknown)" : c.ownerComm
            let at = c.ownedAt ?? c.start
            let opened = keep(at, cid), closed = c.end.flatMap { keep($0, cid) ? $0 : nil }
            guard opened || closed != nil else { continue }
            // Only a line shown makes its owner's uncertain image worth a note.
            imageLoss.add(c.owner, o)
            func tuple(_ d: inout ByteText) {
                d.endpoint(c.tuple.laddr, c.tuple.lport); d.add(" -> "); d.endpoint(c.tuple.raddr, c.tuple.rport)
            }
            let uncertain = c.owner != nil && o.uncertainImage != nil
            if opened {
                let base = lines.text.count
                var natAt: Int? = nil
                lines.add(at, verb, pid: pid, comm: comm, container: cid, uncertainImage: uncertain) { d in
                    tuple(&d)
                    d.add(" netns "); d.add(c.netns)
                    if let r = c.result, r != 0 { d.add(c.direction == .inbound ? " fd " : " result "); d.add(r) }
                    if let nat {
                        let before = d.count
                        d.add(" nat ")
                        if nat.addTranslation(of: c, to: &d) { natAt = before - base } else { d.truncate(to: before) }
                    }
                }
                lines.items[lines.items.count - 1].natAt = natAt
            }
            if let end = closed {
                let verb: TimelineLines.Event = c.proto == .tcp ? .tcpClose : .udpEnd
                lines.add(end, verb, pid: pid, comm: comm, container: cid, uncertainImage: uncertain) { d in
                    tuple(&d)
                    if let s = c.bytesSent, let r = c.bytesReceived { d.add(" sent "); d.add(s); d.add(" received "); d.add(r) }
                    if let p = c.retransmits, p > 0 { d.add(" retransmits "); d.add(p) }
                    if let s = c.finalState { d.add(" from "); d.add(TCPState.name(s)) }
                    if let r = c.endReason { d.add(" ("); d.add(r); d.add(")") }
                }
            }
        }
        // Lines of one nanosecond and one kind go by pid, then as added: processes come from a
        // dictionary, whose order changes from run to run, and an answer must not.
        lines.items = lines.items.enumerated().sorted {
            ($0.element.ts, $0.element.order, $0.element.pid ?? .max, $0.offset) < ($1.element.ts, $1.element.order, $1.element.pid ?? .max, $1.offset)
        }.map(\.element)
        return (lines, imageLoss)
    }

    /// argv as run; the file too when argv[0] does not name it (e.g. busybox's /proc/self/exe re-exec).
    static func execText(_ e: ExecRecord) -> String { Value.commandText(file: e.filename, argv: e.argv) }
}
