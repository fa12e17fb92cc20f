import Format

/// The one place `who` and `connections` walk NAT. The conntrack tracker
/// (issue 3) implements it; without one, only addresses seen on the host match.
public protocol NATResolver {
    /// The sockets `outside` (an address seen outside the host) stood for at some moment
    /// within `at` ± `slack`, each with how its mapping stands to `at`.
    func inside(proto: Connection.Proto, outside: Endpoint, at t: UInt64, slack: UInt64) -> [NATTranslation]
    /// How the connection looked outside the host ("1.2.3.4:5 -> 6.7.8.9:10"), written at the
    /// end of a line being built, if it was translated; whether it was.
    func addTranslation(of c: Connection, to b: inout ByteText) -> Bool
    /// Called once with the connections whose translation will be asked.
    func prepare(for connections: [Connection])
}

extension NATResolver {
    public func prepare(for connections: [Connection]) {}

    /// The translation alone, if there was one.
    public func translation(of c: Connection) -> String? {
        var b = ByteText(capacity: 48)
        return addTranslation(of: c, to: &b) ? b.string : nil
    }
}

/// One mapping's inside end: the socket tuple the host had behind the address asked about.
public struct NATTranslation: Sendable, Hashable {
    /// The socket's local end, as the host's socket saw it.
    public var inside: Endpoint
    /// The socket's remote end, as the host's socket saw it.
    public var peer: Endpoint
    /// Human-readable: which conntrack entry, which direction.
    public var note: String
    /// How the mapping's interval stands to the moment asked.
    public var proximity: Proximity
    public init(inside: Endpoint, peer: Endpoint, note: String, proximity: Proximity = .exact) {
        self.inside = inside; self.peer = peer; self.note = note; self.proximity = proximity
    }

    /// Whether `c` is the socket this mapping translated: the whole tuple, not one end.
    public func isSocket(of c: Connection) -> Bool {
        c.tuple.lport == inside.port && (c.tuple.laddr == inside.ip || Connection.isWildcard(c.tuple.laddr))
            && c.tuple.rport == peer.port && c.tuple.raddr == peer.ip
    }
}

/// What the analyzer can say about a connection's owner.
struct OwnerInfo {
    var pid: Value = .null
    var start: Value = .null
    var tid: Value = .null
    var comm: Value = .null
    var exe: Value = .null
    var argv: Value = .null
    var parents: Value = .null
    var container: Value = .null
    var runtime: Value = .null

    /// The owner's image when a lost exec may have replaced it (exe and argv then stay empty).
    var uncertainImage: ImageAt?

    /// `detail: false` leaves start, tid, exe, argv and parents empty: what a timeline line
    /// does not show, and the ancestor walk is most of an owner's cost.
    init(_ c: Connection, _ capture: Capture, _ procs: ProcessIndex, detail: Bool = true, parents memo: ParentsMemo? = nil) {
        guard let key = c.owner else { return }
        let at = c.ownedAt ?? c.start
        pid = .int(Int64(key.pid))
        comm = .text(c.ownerComm)
        let rec = procs[key]
        // The image is shown with detail, and uncertain only where an exec was lost: a
        // timeline line of a capture that lost none needs no walk up its parents.
        let image = detail || !procs.execLosses.isEmpty ? procs.image(of: key, at: at, comm: c.ownerComm) : nil
        if let image, !image.lost.isEmpty { uncertainImage = image }
        let cg = c.ownerCgroup ?? rec?.cgroup(at: at)
        if let cg, let ident = capture.cgroups.container(v2: cg.v2, v1: cg.v1) {
            container = .text(ident.id)
            runtime = .text(ident.runtime.rawValue)
        }
        guard detail, let image else { return }
        start = .text(capture.wallText(key.startNs))
        tid = .int(Int64(c.ownerTid))
        if let known = image.known {
            exe = .text(known.filename)
            argv = Value.argv(known.argv, file: known.filename)
        }
        if let chain = memo?.parents(of: key, at: at) ?? Self.parents(of: key, at: at, procs) {
            parents = .list(chain)
        } else if let rec {
            parents = .list(["\(rec.parent.pid)"])
        }
    }
}

extension OwnerInfo {
    static func parents(of key: ProcessKey, at t: UInt64, _ procs: ProcessIndex) -> [String]? {
        let chain = procs.ancestors(of: key)
        return chain.isEmpty ? nil : procs.parentsText(chain, at: t)
    }
}

/// What answers say about owners whose image a lost exec may have replaced: never the
/// image shown as fact, always which loss and from when.
struct ImageLossNotes {
    private var items: [(ProcessKey, ImageAt)] = []
    private var seen = Set<ProcessKey>()

    mutating func add(_ owner: ProcessKey?, _ o: OwnerInfo) {
        guard let owner, let image = o.uncertainImage, seen.insert(owner).inserted else { return }
        items.append((owner, image))
    }

    /// Another part of the same answer's owners (a timeline read a stretch at a time).
    mutating func merge(_ other: ImageLossNotes) {
        for (owner, image) in other.items where seen.insert(owner).inserted { items.append((owner, image)) }
    }

    func notes(_ capture: Capture) -> [String] {
        guard !items.isEmpty else { return [] }
        let lost = LossNote.text(capture, items.flatMap(\.1.lost),
                                 scope: .image, consequence: "exe and argv are left empty where the comm shows the image changed") ?? ""
        if items.count > 5 {
            func pids(_ some: [(ProcessKey, ImageAt)]) -> String {
                some.prefix(10).map { String($0.0.pid) }.joined(separator: ", ") + (some.count > 10 ? ", …" : "")
            }
            let unknown = items.filter { !$0.1.possiblyStale }, stale = items.filter { $0.1.possiblyStale }
            var said: [String] = []
            if !unknown.isEmpty {
                said.append("exec lost: the image of \(unknown.count) owner(s) (pids \(pids(unknown))) is unknown after their last recorded exec, if any")
            }
            if !stale.isEmpty {
                said.append("exec possibly lost: \(stale.count) owner(s) (pids \(pids(stale))) are shown running their last recorded exec, whose name their comm still had")
            }
            return [(said + [lost]).joined(separator: "; ")]
        }
        var out = items.map { key, image in
            if image.possiblyStale, let e = image.known {
                return "exec possibly lost: pid \(key.pid) (started \(capture.wallText(key.startNs))) is shown running its last recorded exec (\(TimelineQuery.execText(e))), whose name its comm still had; an exec lost since cannot be ruled out"
            }
            guard let e = image.exec else {
                return "exec lost: the image of pid \(key.pid) (started \(capture.wallText(key.startNs))) is unknown: no exec of it or its parents was recorded"
            }
            let after = e.fromSnapshot ? "the recording's start" : capture.wallText(e.ts)
            return "exec lost: the image of pid \(key.pid) (started \(capture.wallText(key.startNs))) is unknown after \(after) (last recorded: \(TimelineQuery.execText(e)))"
        }
        out.append(lost)
        return out
    }
}

public struct ConnectionFilter: Sendable {
    public var from: UInt64?
    public var to: UInt64?
    public var container: String?
    public var pid: UInt32?
    public var remote: Endpoint?
    public var local: Endpoint?
    /// Either end's port.
    public var port: UInt16?
    public var proto: Connection.Proto?
    public init(from: UInt64? = nil, to: UInt64? = nil, container: String? = nil, pid: UInt32? = nil,
                remote: Endpoint? = nil, local: Endpoint? = nil, port: UInt16? = nil, proto: Connection.Proto? = nil) {
        self.from = from; self.to = to; self.container = container; self.pid = pid; self.remote = remote
        self.local = local; self.port = port; self.proto = proto
    }
}

public enum ConnectionsQuery {
    public static let columns = Columns.connections
    /// What the pid column can hold, so that an answer written a stretch at a time lines up
    /// (the others' headers are as wide as what they usually hold; a wider column would
    /// take a line's room from the addresses).
    public static let widest = ["pid": 7]

    public static func run(_ capture: Capture, _ f: ConnectionFilter, nat: NATResolver? = nil) throws -> ResultTable {
        let index = try ConnectionIndex(capture, ConnectionSelection(
            from: f.from, to: f.to, ownerPid: f.pid, remote: f.remote.map { NATEndpoint(addr: $0.ip, port: $0.port) }))
        var tally = Tally()
        var table = ResultTable(columns: columns)
        table.rows = try rows(capture, index.connections, f, nat: nat, dns: try? DNSIndex(capture), &tally)
        table.notes = tally.notes(capture, f, nat: nat)
        return table
    }

    /// Whether `stream` can answer `f`: a selection by owner or remote end is one index
    /// lookup over the whole capture, cheaper than walking it.
    public static func streams(_ capture: Capture, _ f: ConnectionFilter) -> Bool {
        f.pid == nil && f.remote == nil && TimeStretches.isLong(capture, from: f.from, to: f.to)
    }

    /// The rows `run` gives, a stretch of time at a time (`TimeStretches`): each connection
    /// in the stretch it began in (the first stretch also has those begun before the window).
    /// `body` returns false to stop. Returns the notes `run` gives.
    public static func stream(_ capture: Capture, _ f: ConnectionFilter, nat: NATResolver? = nil,
                              stretch: UInt64 = 1_000_000_000, _ body: ([[Value]]) throws -> Bool) throws -> [String] {
        var tally = Tally()
        let dns = try? DNSIndex(capture)
        try TimeStretches.walk(capture, from: f.from, to: f.to, stretch: stretch,
                               next: { try capture.reader.nextConnectionStart(after: $0) }) { a, b, first in
            let conns = try ConnectionIndex(capture, ConnectionSelection(from: a, to: b, startedFrom: first ? nil : a)).connections
            return (conns.count, try body(try rows(capture, conns, f, nat: nat, dns: dns, &tally)))
        }
        return tally.notes(capture, f, nat: nat)
    }

    /// What the notes count over every row of an answer.
    struct Tally {
        var unowned = 0, evicted = 0
        var shared: [String] = []
        var imageLoss = ImageLossNotes()

        func notes(_ capture: Capture, _ f: ConnectionFilter, nat: NATResolver?) -> [String] {
            var notes = capture.missingSourceNotes("sockets") + shared
            if unowned > 0 {
                notes.append("\(unowned) connection(s) have no known owner: opened before the recording, or never accepted; not guessed")
            }
            if evicted > 0 {
                notes.append("\(evicted) UDP flow(s) evicted: the recorder's flow table was full; each ended at some time before the end shown, and its byte counts are lost")
            }
            notes += imageLoss.notes(capture)
            notes += lossNotes(capture, from: f.from, to: f.to)
            if nat != nil {
                notes += LossNote.notes(capture, .conntrack, from: f.from, to: f.to,
                                        consequence: "a connection's NAT translation may be missing")
            }
            return notes
        }
    }

    /// The rows of `connections` that `f` keeps, in their order.
    static func rows(_ capture: Capture, _ connections: [Connection], _ f: ConnectionFilter, nat: NATResolver?,
                     dns: DNSIndex?, _ tally: inout Tally) throws -> [[Value]] {
        nat?.prepare(for: connections)
        let procs = try capture.processes(pids: Set(connections.compactMap { $0.owner?.pid }))
        let capEnd = capture.endBoot ?? .max
        let memo = ParentsMemo(procs)
        var out: [[Value]] = []
        for c in connections {
            if let p = f.proto, c.proto != p { continue }
            if let to = f.to, c.start > to { continue }
            if let from = f.from, (c.end ?? capEnd) < from { continue }
            if let pid = f.pid, c.owner?.pid != pid { continue }
            if let r = f.remote, c.tuple.raddr != r.ip || (r.port.map { $0 != c.tuple.rport } ?? false) { continue }
            if let l = f.local, c.tuple.laddr != l.ip || (l.port.map { $0 != c.tuple.lport } ?? false) { continue }
            if let p = f.port, c.tuple.lport != p && c.tuple.rport != p { continue }
            let o = OwnerInfo(c, capture, procs, parents: memo)
            if let want = f.container {
                guard case .text(let id) = o.container, ContainerID.matches(id, prefix: want) else { continue }
            }
            if c.owner == nil { tally.unowned += 1 }
            tally.imageLoss.add(c.owner, o)
            if c.endReason == UdpFlowEndReason.evicted.description { tally.evicted += 1 }
            if c.sharedBy.count > 1 {
                tally.shared.append("\(c.tuple.localText) -> \(c.tuple.remoteText) was open in \(c.sharedBy.count) processes at start (pids \(c.sharedBy.map { String($0.pid) }.joined(separator: ", "))): no single owner")
            }
            out.append(row(c, o, capture, nat: nat) + [resolvedName(c, dns)])
        }
        return out
    }

    /// The STATE column: how a TCP connection closed, how a UDP flow ended, or "open".
    static func stateText(_ c: Connection) -> String {
        if c.proto == .tcp {
            guard let s = c.finalState else { return "open" }
            return c.established ? TCPState.name(s) : "never established (\(TCPState.name(s)))"
        }
        return c.endReason ?? "open"
    }

    static func row(_ c: Connection, _ o: OwnerInfo, _ capture: Capture, nat: NATResolver?) -> [Value] {
        let state = Value.text(stateText(c))
        return [
            .text(c.proto.rawValue), .text(c.directionText), .text(capture.wallText(c.start)),
            c.end.map { .text(capture.wallText($0)) } ?? .null,
            c.end.map { .int(Int64(($0 &- c.start) / 1_000_000)) } ?? .null,
            .text(c.tuple.localText), .text(c.tuple.remoteText), .int(Int64(c.netns)),
            o.pid, o.start, o.comm, o.exe, o.container,
            c.result.map { .int(Int64($0)) } ?? .null, state,
            c.bytesSent.map { .int(Int64($0)) } ?? .null, c.bytesReceived.map { .int(Int64($0)) } ?? .null,
            c.retransmits.map { .int(Int64($0)) } ?? .null,
            nat?.translation(of: c).map { .text($0) } ?? .null, o.argv,
        ]
    }

    /// The name the owner itself resolved to the remote address before this connection (resolver source).
    static func resolvedName(_ c: Connection, _ dns: DNSIndex?) -> Value {
        guard let owner = c.owner, let n = dns?.name(owner: owner, addr: c.tuple.raddr, before: c.ownedAt ?? c.start) else { return .null }
        return .text(n)
    }

    static func lossNotes(_ capture: Capture, from: UInt64?, to: UInt64?) -> [String] {
        LossNote.notes(capture, .sockets, from: from, to: to, consequence: "this list may be incomplete")
    }
}

public enum WhoQuery {
    public static let columns = Columns.who

    /// A socket's tuple but its local address (which may be the wildcard).
    struct SocketKey: Hashable {
        var lport: UInt16, raddr: String, rport: UInt16
        init(_ lport: UInt16, _ raddr: String, _ rport: UInt16) { self.lport = lport; self.raddr = raddr; self.rport = rport }
    }

    /// One connection the address leads to at the moment, and how.
    struct Candidate {
        var connection: Connection
        var side: Connection.Side
        var via: NATTranslation?
        var proximity: Proximity
    }

    /// Connections owning `addr` at `at`. The address may be a socket's local or remote
    /// end, or (with a resolver) an address seen outside the host. A connection live at
    /// that moment (through a mapping live then, when NAT is walked) outranks those the
    /// slack reaches; one owner live is the answer and the rest are listed as nearby;
    /// several owners live at once are reported as ambiguous, never resolved by a guess.
    public static func run(_ capture: Capture, at: UInt64, addr: Endpoint, proto: Connection.Proto?,
                           slack: UInt64 = 1_000_000_000, nat: NATResolver? = nil) throws -> ResultTable {
        let dns = try? DNSIndex(capture)
        let capEnd = capture.endBoot ?? .max
        var table = ResultTable(columns: columns)
        table.notes += capture.missingSourceNotes("sockets")
        // Whatever the address stood for behind NAT: the inside sockets' own tuples.
        var translations: [NATTranslation] = []
        for p in proto.map({ [$0] }) ?? [.tcp, .udp] {
            translations += nat?.inside(proto: p, outside: addr, at: at, slack: slack) ?? []
        }
        var endpoints = Array(Set([addr] + translations.map(\.inside)))
        // A busy NAT address stood for thousands of sockets within the slack: reading
        // their addresses whole keeps the query small (each socket is matched exactly below).
        if endpoints.count > maxEndpoints { endpoints = Set(endpoints.map(\.ip)).map { Endpoint(ip: $0, port: nil) } }
        let index = try ConnectionIndex(capture, ConnectionSelection(
            endpoints: endpoints.map { NATEndpoint(addr: $0.ip, port: $0.port) },
            from: at.saturatingSub(slack), to: at.saturatingAdd(slack)))
        let bySocket = Dictionary(grouping: translations) { SocketKey($0.inside.port ?? 0, $0.peer.ip, $0.peer.port ?? 0) }
        var candidates: [Candidate] = []
        for c in index.connections {
            if let p = proto, c.proto != p { continue }
            let own = Proximity.of(start: c.start, end: c.end ?? capEnd, at: at)
            let side: Connection.Side?
            if let port = addr.port { side = c.matches(ip: addr.ip, port: port) }
            else { side = c.tuple.laddr == addr.ip ? .local : c.tuple.raddr == addr.ip ? .remote : nil }
            if let side {
                if own.within(slack) { candidates.append(Candidate(connection: c, side: side, via: nil, proximity: own)) }
                continue
            }
            // Through NAT the chain holds only while both the mapping and the socket do.
            let mine = (bySocket[SocketKey(c.tuple.lport, c.tuple.raddr, c.tuple.rport)] ?? []).filter { $0.isSocket(of: c) }
            if let best = mine.map({ ($0, $0.proximity.and(own)) }).min(by: { $0.1 < $1.1 }),
               best.1.within(slack) {
                candidates.append(Candidate(connection: c, side: .local, via: best.0, proximity: best.1))
            }
        }
        // The owners of sockets whose local end is the address answer the question;
        // a remote-end match is the peer (on this host) and answers only if nothing is local.
        let local = candidates.filter { $0.side == .local }, remote = candidates.filter { $0.side == .remote }
        let answering = local.isEmpty ? remote : local
        // Every live connection is shown; of the rest, the nearest few: a busy tuple may
        // have been used a hundred times within the slack.
        var hidden = 0
        func shown(_ group: [Candidate]) -> [Candidate] {
            let sorted = group.sorted { $0.proximity < $1.proximity }
            let keep = sorted.filter(\.proximity.live).count + nearbyShown
            hidden += max(0, sorted.count - keep)
            return Array(sorted.prefix(keep))
        }
        let ordered = shown(answering) + (local.isEmpty ? [] : shown(remote))
        let procs = try capture.processes(pids: Set(ordered.compactMap { $0.connection.owner?.pid }))
        var imageLoss = ImageLossNotes()
        for cand in ordered {
            let c = cand.connection
            let o = OwnerInfo(c, capture, procs)
            imageLoss.add(c.owner, o)
            let how = cand.via.map { "\(cand.side.rawValue) via NAT (\($0.note))" } ?? cand.side.rawValue
            table.append([.text(how), .text(cand.proximity.text), .text(c.proto.rawValue), .text(c.directionText),
                          .text(c.tuple.localText), .text(c.tuple.remoteText), .int(Int64(c.netns)),
                          .text(capture.wallText(c.start)), c.end.map { .text(capture.wallText($0)) } ?? .null,
                          o.pid, o.start, o.tid, o.comm, o.exe, o.container, o.runtime, o.parents, o.argv,
                          ConnectionsQuery.resolvedName(c, dns)])
        }
        if candidates.isEmpty {
            table.notes.append("no connection matches \(addr) at \(capture.wallText(at))"
                               + (nat == nil ? " (NAT not consulted: no conntrack resolver)" : ""))
        }
        table.notes += verdictNotes(answering, slack: slack)
        if hidden > 0 {
            table.notes.append("\(hidden) more connection(s) within the slack were not live at that moment and are not listed (the nearest are); a smaller --slack lists fewer")
        }
        table.notes += imageLoss.notes(capture)
        table.notes += ConnectionsQuery.lossNotes(capture, from: at.saturatingSub(slack), to: at.saturatingAdd(slack))
        // A mapping lost is a translation the walk cannot find: noted whether or not it found any.
        if nat != nil {
            table.notes += LossNote.notes(capture, .conntrack, from: at.saturatingSub(slack), to: at.saturatingAdd(slack),
                                          consequence: "the NAT walk may miss a mapping or use a wrong interval")
        }
        return table
    }

    /// How many endpoints one connection query names before it reads whole addresses.
    static let maxEndpoints = 200

    /// How many connections not live at the moment are listed per side, nearest first.
    static let nearbyShown = 5

    static func ownerText(_ k: ProcessKey?) -> String { k.map { "pid \($0.pid)" } ?? "owner unknown" }

    /// What the ranking of the answering candidates allows to say.
    static func verdictNotes(_ answering: [Candidate], slack: UInt64) -> [String] {
        switch Attribution.decide(answering.map { (owner: $0.connection.owner, proximity: $0.proximity) }, slack: slack) {
        case .none:
            return []
        case .ambiguous(let owners):
            let live = answering.filter { $0.proximity.live }.count
            return ["AMBIGUOUS: \(live) connections with \(owners.count) different owners were live at that moment; not choosing"]
        case .nearestOnly(let owners, let nearest):
            let list = answering.sorted { $0.proximity < $1.proximity }.prefix(4)
                .map { "\(ownerText($0.connection.owner)) \($0.proximity.edgeText)" }.joined(separator: ", ")
            let head = owners.count > 1 ? "AMBIGUOUS: " : ""
            return ["\(head)no matching connection was live at that moment; the nearest \(nearest.edgeText) (\(list))"
                    + (owners.count > 1 ? "; not choosing" : "")]
        case .exact(let owner, _):
            guard owner == nil else { return [] }
            let shared = answering.first { $0.proximity.live && $0.connection.sharedBy.count > 1 }?.connection
            if let c = shared {
                return ["AMBIGUOUS: the socket was open in \(c.sharedBy.count) processes when the recording started (pids \(c.sharedBy.map { String($0.pid) }.joined(separator: ", "))); not choosing"]
            }
            return ["the owner of this connection is unknown (socket predates the recording or was never accepted)"]
        }
    }
}
