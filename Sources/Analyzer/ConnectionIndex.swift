import Format
#if canImport(Glibc)
import Glibc
#endif

/// Connections of a capture, oldest first: those a query selects, read from the
/// case's `connection` table, which `reconstruct` fills once when the case is built.
public struct ConnectionIndex: Sendable {
    public private(set) var connections: [Connection] = []

    public init(_ capture: Capture, _ selection: ConnectionSelection = .all) throws {
        connections = try capture.reader.connections(selection)
    }

    /// The connections of the rows without a cookie, joined by kernel socket address while
    /// open, in time order.
    static func reconstructWithoutCookie(into w: TimelineWriter) throws {
        var byAddress: [UInt64: Connection] = [:]
        try w.forEachTcpEventWithoutCookie { e in
            var c = byAddress[e.sk] ?? Self.begin(e)
            Self.apply(e, to: &c)
            // The kernel may reuse the socket address: a later socket there is a new connection.
            if e.kind == .close {
                byAddress.removeValue(forKey: e.sk)
                try w.connection(c)
            } else {
                byAddress[e.sk] = c
            }
        }
        for c in byAddress.values.sorted(by: { $0.start < $1.start }) { try w.connection(c) }
    }

    /// The connections of `cookies`, from every row each has in the case, in time order.
    static func reconstruct(cookies: Set<UInt64>, into w: TimelineWriter) throws {
        var current: Connection?
        try w.forEachTcpEvent(cookies: cookies) { e in
            if let c = current, c.cookie != e.cookie {
                try w.connection(c)
                current = nil
            }
            var c = current ?? Self.begin(e)
            Self.apply(e, to: &c)
            current = c
        }
        if let c = current { try w.connection(c) }
    }

    /// UDP: one connection per flow row, ended by the recorder's retirement of the flow.
    static func reconstructUDP(into w: TimelineWriter) throws {
        struct FlowKey: Hashable { var netns: UInt32; var tuple: SocketTuple; var pid: UInt32; var startNs: UInt64; var first: UInt64 }
        var ends: [FlowKey: UdpFlowEndRow] = [:]
        try w.forEachUdpFlowEnd { e in
            ends[FlowKey(netns: e.sockNetns, tuple: e.tuple, pid: e.pid, startNs: e.startNs, first: e.firstTs)] = e
        }
        try w.forEachUdpFlow { f in
            var c = Connection(proto: .udp, direction: f.flags.contains(.udpReceive) ? .inbound : .outbound,
                               tuple: f.tuple, netns: f.sockNetns, cookie: f.cookie, sk: 0,
                               owner: ProcessKey(pid: f.task.pid, startNs: f.task.startNs), start: f.task.ts)
            c.ownerTid = f.task.tid
            c.ownerComm = f.task.comm
            c.ownerCgroup = (f.task.cgroupID, f.task.cgroupV1ID)
            c.ownedAt = f.task.ts
            c.flags = f.flags.subtracting([.owner])
            // The kernel keys a wildcard-bound socket's flow by the wildcard, whatever the datagram said.
            var keyTuple = f.tuple
            if f.flags.contains(.localAny) { keyTuple.laddr = f.tuple.family == 10 ? "::" : "0.0.0.0" }
            if let e = ends[FlowKey(netns: f.sockNetns, tuple: keyTuple, pid: f.task.pid, startNs: f.task.startNs, first: f.task.ts)] {
                c.endReason = e.reason.description
                if e.reason == .evicted {
                    // Only a bound is known: the last datagram came before the eviction was seen.
                    c.end = e.ts
                } else {
                    c.end = e.lastTs
                    c.bytesSent = e.txBytes; c.bytesReceived = e.rxBytes
                    c.packetsSent = e.txPackets; c.packetsReceived = e.rxPackets
                }
            }
            try w.connection(c)
        }
    }

    static func begin(_ e: TcpEventRow) -> Connection {
        Connection(proto: .tcp, direction: .unknown, tuple: e.tuple, netns: e.sockNetns, cookie: e.cookie, sk: e.sk,
                   owner: nil, start: e.startTs != 0 ? e.startTs : e.task.ts)
    }

    /// One socket row's contribution to its connection (rows come in time order).
    static func apply(_ e: TcpEventRow, to c: inout Connection) {
        c.flags.formUnion(e.flags.subtracting([.owner]))
        if e.startTs != 0 { c.start = min(c.start, e.startTs) }
        // A failed connect() may already have lost its port when connect() returns: keep the fuller tuple.
        if c.tuple.lport == 0 || (e.kind == .close && e.tuple.lport != 0) { c.tuple = e.tuple }
        if e.kind == .snapshot {
            // One row per process holding the socket: one holder is its owner, several are reported, not chosen.
            c.openAtStart = true
            let k = ProcessKey(pid: e.task.pid, startNs: e.task.startNs)
            if !c.sharedBy.contains(k) { c.sharedBy.append(k) }
            if c.sharedBy.count > 1 {
                c.owner = nil
                c.flags.insert(.shared)
                return
            }
        }
        if e.flags.contains(.owner), e.kind != .close || c.owner == nil, !c.flags.contains(.shared) {
            c.owner = ProcessKey(pid: e.task.pid, startNs: e.task.startNs)
            c.ownerTid = e.task.tid
            c.ownerComm = e.task.comm
            c.ownerCgroup = (e.task.cgroupID, e.task.cgroupV1ID)
            if e.kind != .close { c.ownedAt = e.task.ts }
        }
        switch e.kind {
        case .connect:
            c.direction = .outbound
            c.result = e.result
        case .accept:
            c.direction = .inbound
            c.result = e.result
            c.established = true
        case .snapshot:
            c.ownedAt = e.task.ts
            c.finalState = nil
            c.established = c.established || e.oldState == 1
        case .close:
            c.end = e.task.ts
            c.bytesSent = e.bytesAcked
            c.bytesReceived = e.bytesReceived
            c.retransmits = e.retransmits
            c.finalState = e.oldState
            c.established = c.established || e.flags.contains(.established)
        }
    }
}

/// Textual TCP state names (include/net/tcp_states.h).
public enum TCPState {
    static let names = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                        "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"]

    public static func name(_ s: UInt32) -> String {
        Int(s) < names.count ? names[Int(s)] : "state\(s)"
    }
}

/// "IP:PORT", "[v6]:PORT" or "IP" (any port), normalized as the recorder writes addresses.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var ip: String
    public var port: UInt16?
    public init(ip: String, port: UInt16?) { self.ip = ip; self.port = port }

    public static func parse(_ text: String, requirePort: Bool = false) -> Endpoint? {
        var host = text, port: UInt16?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") { guard let p = UInt16(rest.dropFirst()) else { return nil }; port = p }
            else if !rest.isEmpty { return nil }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = UInt16(text[text.index(after: colon)...]) else { return nil }
            port = p
        }
        guard let canon = canonical(host) else { return nil }
        if requirePort && port == nil { return nil }
        return Endpoint(ip: canon, port: port)
    }

    /// inet_ntop's form; an IPv4-mapped IPv6 address becomes IPv4 (as the kernel side folds it).
    public static func canonical(_ host: String) -> String? {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return SocketTuple.address(family: 2, &v4) }
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return nil }
        let bytes = withUnsafeBytes(of: v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xff && bytes[11] == 0xff {
            return bytes[12..<16].map(String.init).joined(separator: ".")
        }
        return SocketTuple.address(family: 10, &v6)
    }

    public var description: String { NATEndpoint.text(ip, port) }
}

extension SocketTuple {
    public var localText: String { NATEndpoint.text(laddr, lport) }
    public var remoteText: String { NATEndpoint.text(raddr, rport) }
}
