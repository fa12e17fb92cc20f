import Format

/// The one place `who` and `connections` walk NAT. The conntrack tracker
/// (issue 3) implements it; without one, only addresses seen on the host match.
public protocol NATResolver {
    /// The inside endpoints that `outside` (an address seen outside the host) stood for at `t`.
    /// Inside endpoints `outside` stood for at some moment within `at` ± `slack`.
    func inside(proto: Connection.Proto, outside: Endpoint, at t: UInt64, slack: UInt64) -> [NATTranslation]
    /// How the connection looked outside the host, if it was translated ("1.2.3.4:5 -> 6.7.8.9:10").
    func translation(of c: Connection) -> String?
    /// Called once with the connections `translation(of:)` will be asked about.
    func prepare(for connections: [Connection])
}

extension NATResolver {
    public func prepare(for connections: [Connection]) {}
}

public struct NATTranslation: Sendable, Hashable {
    /// The endpoint as the host's sockets saw it.
    public var inside: Endpoint
    /// Human-readable: which conntrack entry, which direction.
    public var note: String
    public init(inside: Endpoint, note: String) { self.inside = inside; self.note = note }
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

    /// The program a process ran at `t`: its own last exec, or (forked without
    /// exec) the image its parent ran when it forked, and so on up.
    static func image(of key: ProcessKey, at t: UInt64, _ procs: ProcessIndex) -> ExecRecord? {
        var k = key, at = t
        for _ in 0..<64 {
            guard let r = procs[k] else { return nil }
            if let i = r.execs.last(where: { $0.ts <= at }) { return i }
            if r.fromSnapshot, let i = r.execs.first { return i }
            at = r.forkTs ?? r.key.startNs
            guard r.parent != k else { return nil }
            k = r.parent
        }
        return nil
    }

    init(_ c: Connection, _ capture: Capture, _ procs: ProcessIndex) {
        guard let key = c.owner else { return }
        let at = c.ownedAt ?? c.start
        pid = .int(Int64(key.pid))
        start = .text(capture.wallText(key.startNs))
        tid = .int(Int64(c.ownerTid))
        comm = .text(c.ownerComm)
        let rec = procs[key]
        if let image = Self.image(of: key, at: at, procs) {
            exe = .text(image.filename)
            argv = .list(image.argv)
        }
        let chain = procs.ancestors(of: key)
        if !chain.isEmpty {
            parents = .list(chain.map { "\($0.key.pid):\(Self.image(of: $0.key, at: at, procs)?.filename.split(separator: "/").last.map(String.init) ?? $0.comm)" })
        } else if let rec {
            parents = .list(["\(rec.parent.pid)"])
        }
        let cg = c.ownerCgroup ?? rec?.cgroup(at: at)
        if let cg, let ident = capture.cgroups.container(v2: cg.v2, v1: cg.v1) {
            container = .text(ident.id)
            runtime = .text(ident.runtime.rawValue)
        }
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

    public static func run(_ capture: Capture, _ f: ConnectionFilter, nat: NATResolver? = nil) throws -> ResultTable {
        let index = try ConnectionIndex(capture, ConnectionSelection(
            from: f.from, to: f.to, ownerPid: f.pid, remote: f.remote.map { NATEndpoint(addr: $0.ip, port: $0.port) }))
        nat?.prepare(for: index.connections)
        let procs = try capture.processes(pids: Set(index.connections.compactMap { $0.owner?.pid }))
        let dns = try? DNSIndex(capture)
        var table = ResultTable(columns: columns)
        table.notes += capture.missingSourceNotes("sockets")
        let capEnd = capture.endBoot ?? .max
        var unowned = 0, evicted = 0
        for c in index.connections {
            if let p = f.proto, c.proto != p { continue }
            if let to = f.to, c.start > to { continue }
            if let from = f.from, (c.end ?? capEnd) < from { continue }
            if let pid = f.pid, c.owner?.pid != pid { continue }
            if let r = f.remote, c.tuple.raddr != r.ip || (r.port.map { $0 != c.tuple.rport } ?? false) { continue }
            if let l = f.local, c.tuple.laddr != l.ip || (l.port.map { $0 != c.tuple.lport } ?? false) { continue }
            if let p = f.port, c.tuple.lport != p && c.tuple.rport != p { continue }
            let o = OwnerInfo(c, capture, procs)
            if let want = f.container {
                guard case .text(let id) = o.container, ContainerID.matches(id, prefix: want) else { continue }
            }
            if c.owner == nil { unowned += 1 }
            if c.endReason == UdpFlowEndReason.evicted.description { evicted += 1 }
            if c.sharedBy.count > 1 {
                table.notes.append("\(c.tuple.localText) -> \(c.tuple.remoteText) was open in \(c.sharedBy.count) processes at start (pids \(c.sharedBy.map { String($0.pid) }.joined(separator: ", "))): no single owner")
            }
            table.append(row(c, o, capture, nat: nat) + [resolvedName(c, dns)])
        }
        if unowned > 0 {
            table.notes.append("\(unowned) connection(s) have no known owner: opened before the recording, or never accepted; not guessed")
        }
        if evicted > 0 {
            table.notes.append("\(evicted) UDP flow(s) evicted: the recorder's flow table was full; each ended at some time before the end shown, and its byte counts are lost")
        }
        table.notes += lossNotes(capture, from: f.from, to: f.to)
        return table
    }

    static func row(_ c: Connection, _ o: OwnerInfo, _ capture: Capture, nat: NATResolver?) -> [Value] {
        var state: Value = .null
        if c.proto == .tcp {
            if let s = c.finalState { state = .text(c.established ? TCPState.name(s) : "never established (\(TCPState.name(s)))") }
            else { state = .text("open") }
        } else if let r = c.endReason {
            state = .text(r)
        } else {
            state = .text("open")
        }
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
        let lost = capture.losses(.sockets, from: from, to: to)
        guard !lost.isEmpty else { return [] }
        let by = Dictionary(grouping: lost, by: \.kind).map { "\($0.key) \($0.value.reduce(0) { $0 + $1.count })" }.sorted()
        return ["the recorder lost socket events in this window (\(by.joined(separator: ", "))): this list may be incomplete"]
    }
}

public enum WhoQuery {
    public static let columns = Columns.who

    /// Connections owning `addr` at `at` (± slack). The address may be a
    /// socket's local or remote end, or (with a resolver) an address seen
    /// outside the host. Every match is listed; more than one owner is
    /// reported as ambiguous, never resolved by a guess.
    public static func run(_ capture: Capture, at: UInt64, addr: Endpoint, proto: Connection.Proto?,
                           slack: UInt64 = 1_000_000_000, nat: NATResolver? = nil) throws -> ResultTable {
        let dns = try? DNSIndex(capture)
        let capEnd = capture.endBoot ?? .max
        var table = ResultTable(columns: columns)
        table.notes += capture.missingSourceNotes("sockets")
        // The address itself, plus whatever it stood for behind NAT.
        var targets: [(Endpoint, String)] = [(addr, "")]
        for p in proto.map({ [$0] }) ?? [.tcp, .udp] {
            for t in nat?.inside(proto: p, outside: addr, at: at, slack: slack) ?? [] where t.inside != addr {
                targets.append((t.inside, t.note))
            }
        }
        let index = try ConnectionIndex(capture, ConnectionSelection(
            endpoints: targets.map { NATEndpoint(addr: $0.0.ip, port: $0.0.port) },
            from: at.saturatingSub(slack), to: at.saturatingAdd(slack)))
        let procs = try capture.processes(pids: Set(index.connections.compactMap { $0.owner?.pid }))
        // The owners of sockets whose local end is the address answer the question;
        // a remote-end match is the peer (on this host) and answers only if nothing is local.
        var localOwners = Set<ProcessKey?>(), remoteOwners = Set<ProcessKey?>()
        var n = 0
        for c in index.connections {
            if let p = proto, c.proto != p { continue }
            guard c.active(at: at, until: capEnd, slack: slack) else { continue }
            for (ep, note) in targets {
                let side: Connection.Side?
                if let port = ep.port { side = c.matches(ip: ep.ip, port: port) }
                else { side = c.tuple.laddr == ep.ip ? .local : c.tuple.raddr == ep.ip ? .remote : nil }
                guard let side else { continue }
                let o = OwnerInfo(c, capture, procs)
                let how = note.isEmpty ? side.rawValue : "\(side.rawValue) via NAT (\(note))"
                table.append([.text(how), .text(c.proto.rawValue), .text(c.directionText),
                              .text(c.tuple.localText), .text(c.tuple.remoteText), .int(Int64(c.netns)),
                              .text(capture.wallText(c.start)), c.end.map { .text(capture.wallText($0)) } ?? .null,
                              o.pid, o.start, o.tid, o.comm, o.exe, o.container, o.runtime, o.parents, o.argv,
                              ConnectionsQuery.resolvedName(c, dns)])
                if side == .local { localOwners.insert(c.owner) } else { remoteOwners.insert(c.owner) }
                n += 1
                break
            }
        }
        if n == 0 {
            table.notes.append("no connection matches \(addr) at \(capture.wallText(at))"
                               + (nat == nil ? " (NAT not consulted: no conntrack resolver)" : ""))
        }
        let owners = localOwners.isEmpty ? remoteOwners : localOwners
        if owners.count > 1 {
            table.notes.append("AMBIGUOUS: \(n) connections with \(owners.count) different owners match; not choosing")
        } else if owners.contains(nil) {
            let shared = index.connections.filter { c in c.sharedBy.count > 1 && c.active(at: at, until: capEnd, slack: slack)
                && targets.contains { t in t.0.port.map { c.matches(ip: t.0.ip, port: $0) != nil } ?? false } }
            if let c = shared.first {
                table.notes.append("AMBIGUOUS: the socket was open in \(c.sharedBy.count) processes when the recording started (pids \(c.sharedBy.map { String($0.pid) }.joined(separator: ", "))); not choosing")
            } else {
                table.notes.append("the owner of this connection is unknown (socket predates the recording or was never accepted)")
            }
        }
        table.notes += ConnectionsQuery.lossNotes(capture, from: at.saturatingSub(slack), to: at.saturatingAdd(slack))
        return table
    }
}
