import Format

/// What `nettrail report` draws, as the page's script reads it (and `ReportTrace` exports):
/// processes as lanes grouped by container, connections on their owner's lane, loss windows.
/// Times are milliseconds from the axis origin (the window's start, or the capture's).
public struct ReportModel: Encodable, Sendable {
    public struct Group: Encodable, Sendable {
        public var name: String
        public var kind: String   // "container", "host" or "kernel"
        public var lanes: [Lane]
    }

    public struct Lane: Encodable, Sendable {
        public var id: Int
        public var pid: UInt32
        public var ppid: UInt32
        public var program: String
        public var comm: String
        public var exe: String?
        public var argv: [String]
        public var container: String?
        public var start: Double
        public var end: Double
        public var startText: String
        /// nil: still running when the capture (or window) ended.
        public var exitText: String?
        public var fromSnapshot: Bool
        /// The programs it began running within the window, in order.
        public var execs: [Exec] = []
    }

    public struct Exec: Encodable, Sendable {
        public var at: Double
        public var program: String
        public var argv: [String]
        public var atText: String
    }

    public struct Conn: Encodable, Sendable {
        /// The owner's lane; nil when the owner is unknown or its lane was left out.
        public var lane: Int?
        public var pid: UInt32?
        public var comm: String
        public var proto: String
        public var direction: String
        public var state: String
        public var local: String
        public var remote: String
        /// How it looked outside the host, when conntrack translated it.
        public var nat: String?
        /// The name the owner resolved to the remote address before connecting.
        public var dns: String?
        public var start: Double
        public var end: Double
        public var startText: String
        public var endText: String?
    }

    public struct Loss: Encodable, Sendable {
        public var source: String
        public var kind: String
        public var count: UInt64
        public var start: Double
        public var end: Double
        public var text: String
    }

    public var title: String
    public var span: String
    public var origin: String
    public var duration: Double
    public var groups: [Group] = []
    public var connections: [Conn] = []
    public var losses: [Loss] = []
    /// Shown at the top of the page: what was left out, and why the picture may be incomplete.
    public var notes: [String] = []
}

extension ReportModel {
    /// A lane's name: the exec'd file's name, or argv[0]'s where the file is a descriptor
    /// (runc and busybox exec /proc/self/fd/N or /proc/self/exe).
    static func program(_ e: ExecRecord) -> String {
        func base(_ p: String) -> String { PathText.lastComponent(p).map(String.init) ?? p }
        let viaFD = e.filename.hasPrefix("/proc/self/") || e.filename.hasPrefix("/dev/fd/")
        if viaFD, let a0 = e.argv.first, !a0.isEmpty { return base(a0) }
        return base(e.filename)
    }

    /// Limits that keep the page usable in a browser: beyond them the earliest are drawn and a note counts the rest.
    public struct Limits: Sendable {
        public var connections: Int
        public var processes: Int
        public init(connections: Int = 5000, processes: Int = 3000) { self.connections = connections; self.processes = processes }
    }

    public init(_ capture: Capture, title: String, window: TimeWindow = TimeWindow(), limits: Limits = Limits()) throws {
        let index = try ConnectionIndex(capture, ConnectionSelection(from: window.from, to: window.to))
        let procs = capture.processes
        // An unclosed capture ends at the last thing it saw.
        let seenEnd = max(index.connections.map { $0.end ?? $0.start }.max() ?? 0,
                          procs.records.values.compactMap(\.exitTs).max() ?? 0, capture.startBoot)
        let lo = max(window.from ?? capture.startBoot, capture.startBoot)
        let hi = max(lo + 1, min(window.to ?? .max, capture.closedEnd ?? seenEnd))
        func ms(_ t: UInt64) -> Double { Double(min(max(t, lo), hi) - lo) / 1e6 }

        self.init(title: title, span: capture.spanText, origin: capture.wallText(lo), duration: ms(hi))
        notes = window.notes + capture.missingSourceNotes("process", "sockets")

        let conns = index.connections.filter { $0.start <= hi && ($0.end ?? hi) >= lo }
        let drawnConns = conns.prefix(limits.connections)
        if conns.count > drawnConns.count {
            notes.append("\(conns.count - drawnConns.count) of \(conns.count) connections are left out (at most \(limits.connections) are drawn, the earliest); narrow with --from/--to")
        }
        let owners = Set(drawnConns.compactMap(\.owner))

        // Processes that own a drawn connection first, so their connections keep a lane.
        let live = procs.records.values.filter { $0.key.startNs <= hi && ($0.exitTs ?? hi) >= lo }
            .sorted { (owners.contains($0.key) ? 0 : 1, $0.key) < (owners.contains($1.key) ? 0 : 1, $1.key) }
        let drawn = live.prefix(limits.processes).sorted { $0.key < $1.key }
        if live.count > drawn.count {
            notes.append("\(live.count - drawn.count) of \(live.count) processes are left out (at most \(limits.processes) lanes are drawn); narrow with --from/--to")
        }

        var laneOf: [ProcessKey: Int] = [:]
        var byGroup: [String: Group] = [:]
        var groupOrder: [String] = []
        for r in drawn {
            let last = min(hi, r.exitTs ?? hi)
            let image = procs.image(of: r.key, at: last, comm: r.comm).known
            let container = r.cgroup(at: last).flatMap { capture.cgroups.container(v2: $0.v2, v1: $0.v1) }
            // kthreadd's children: a group of their own, as they are noise in most cases.
            let kernel = container == nil && (r.key.pid == 2 || r.parent.pid == 2)
            let (gkey, gname, gkind) = container.map { ("c:" + $0.id, "container \($0.id) (\($0.runtime.rawValue))", "container") }
                ?? (kernel ? ("k", "kernel threads", "kernel") : ("h", "host", "host"))
            let execs = r.execs.filter { !$0.fromSnapshot && $0.ts >= lo && $0.ts <= hi }.map {
                Exec(at: ms($0.ts), program: Self.program($0), argv: $0.argv, atText: capture.wallText($0.ts))
            }
            let lane = Lane(id: laneOf.count, pid: r.key.pid, ppid: r.parent.pid,
                            program: image.map(Self.program) ?? r.comm,
                            comm: r.comm, exe: image?.filename, argv: image?.argv ?? [], container: container?.id,
                            start: ms(r.key.startNs), end: ms(r.exitTs ?? hi),
                            startText: r.fromSnapshot ? "before the recording (\(capture.wallText(r.key.startNs)))" : capture.wallText(r.key.startNs),
                            exitText: r.exitTs.map(capture.wallText), fromSnapshot: r.fromSnapshot, execs: execs)
            laneOf[r.key] = lane.id
            if byGroup[gkey] == nil { groupOrder.append(gkey); byGroup[gkey] = Group(name: gname, kind: gkind, lanes: []) }
            byGroup[gkey]!.lanes.append(lane)
        }
        let rank = ["container": 0, "host": 1, "kernel": 2]
        groups = groupOrder.compactMap { byGroup[$0] }.enumerated()
            .sorted { (rank[$0.element.kind] ?? 3, $0.offset) < (rank[$1.element.kind] ?? 3, $1.offset) }.map(\.element)

        let nat = try? ConntrackNATResolver(capture)
        nat?.prepare(for: Array(drawnConns))
        let dns = try? DNSIndex(capture)
        connections = drawnConns.map { c in
            Conn(lane: c.owner.flatMap { laneOf[$0] }, pid: c.owner?.pid, comm: c.ownerComm, proto: c.proto.rawValue,
                 direction: c.directionText, state: ConnectionsQuery.stateText(c),
                 local: c.tuple.localText, remote: c.tuple.remoteText, nat: nat?.translation(of: c),
                 dns: c.owner.flatMap { dns?.name(owner: $0, addr: c.tuple.raddr, before: c.ownedAt ?? c.start) },
                 start: ms(c.start), end: ms(c.end ?? hi), startText: capture.wallText(c.start), endText: c.end.map(capture.wallText))
        }
        if connections.contains(where: { $0.lane == nil }) {
            notes.append("connections whose owner is unknown (opened before the recording, never accepted) or not drawn are in the last lane")
        }

        losses = ((try? capture.reader.losses()) ?? []).filter { $0.toNs >= lo && $0.fromNs <= hi }.map {
            Loss(source: $0.source, kind: $0.kind, count: $0.count, start: ms($0.fromNs), end: ms($0.toNs),
                 text: "lost \($0.count) \($0.source) \($0.kind) between \(capture.wallText($0.fromNs)) and \(capture.wallText($0.toNs))")
        }
        if !losses.isEmpty {
            notes.append("the recorder lost events in the shaded windows: what is drawn there may be incomplete")
        }
        notes += capture.decodeNotes()
    }
}
