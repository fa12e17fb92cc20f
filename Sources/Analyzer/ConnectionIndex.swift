import Format
#if canImport(Glibc)
import Glibc
#endif

/// One connection (TCP) or flow (UDP) as the capture knows it, joined from the
/// socket stream: connect/accept (owner, in its own context) and close (bytes,
/// retransmits, final state) share the socket cookie.
public struct Connection: Sendable {
    public enum Proto: String, Sendable { case tcp, udp }
    public enum Direction: String, Sendable {
        /// connect() (TCP) or first datagram sent (UDP).
        case outbound
        /// accept() (TCP) or first datagram received (UDP).
        case inbound
        /// Only the close was seen (socket older than the capture, or an accept that never happened).
        case unknown
    }

    public var proto: Proto
    public var direction: Direction
    public var tuple: SocketTuple
    public var netns: UInt32
    public var cookie: UInt64
    public var sk: UInt64
    /// The owner, when some event ran in its context; nil = unknown (never guessed).
    public var owner: ProcessKey?
    public var ownerTid: UInt32 = 0
    public var ownerComm: String = ""
    public var ownerCgroup: (v2: UInt64, v1: UInt64)?
    /// First known moment (SYN_SENT/SYN_RECV, connect/accept, or first datagram).
    public var start: UInt64
    /// When the owner was recorded (connect/accept return, first datagram).
    public var ownedAt: UInt64?
    /// Close (TCP) or last datagram (UDP); nil = still open when the capture ended (or its end was lost).
    public var end: UInt64?
    /// connect()/accept() result (TCP); nil when not seen.
    public var result: Int32?
    public var bytesSent: UInt64?
    public var bytesReceived: UInt64?
    public var packetsSent: UInt64?
    public var packetsReceived: UInt64?
    public var retransmits: UInt32?
    public var established: Bool = false
    /// TCP: the state the socket left for CLOSE.
    public var finalState: UInt32?
    public var flags: SocketFlags = []
    /// TCP: open when the recording started (its start is then unknown: `start` is the snapshot time).
    public var openAtStart = false
    /// TCP, open at start in several processes' file tables: all of them (then `owner` is nil).
    public var sharedBy: [ProcessKey] = []
    /// UDP: how the flow ended.
    public var endReason: String?

    /// Whether `ep` is one of this connection's ends (local, allowing a wildcard bind, or remote).
    public func matches(ip: String, port: UInt16) -> Side? {
        if tuple.lport == port && (tuple.laddr == ip || Self.isWildcard(tuple.laddr)) { return .local }
        if tuple.rport == port && tuple.raddr == ip { return .remote }
        return nil
    }
    public enum Side: String, Sendable { case local, remote }

    /// outbound/inbound/unknown, or "open at start" for a socket the recording found already open.
    public var directionText: String { openAtStart && direction == .unknown ? "open at start" : direction.rawValue }

    static func isWildcard(_ a: String) -> Bool { a == "0.0.0.0" || a == "::" }

    /// Active at `t`, allowing `slack` ns on each side (events are stamped at syscall return).
    public func active(at t: UInt64, until captureEnd: UInt64, slack: UInt64) -> Bool {
        let s = start > slack ? start - slack : 0
        return s <= t && t <= (end ?? captureEnd) &+ slack
    }
}

/// All connections of a capture, oldest first.
public struct ConnectionIndex: Sendable {
    public private(set) var connections: [Connection] = []

    public init(_ capture: Capture) throws {
        let db = capture.reader.db
        // TCP: one connection per cookie (or, lacking a cookie, per kernel socket address while open).
        var byKey: [String: Int] = [:]
        var out: [Connection] = []
        let st = try db.prepare("SELECT \(TcpEventRow.selectColumns) FROM tcp_event ORDER BY ts")
        while try st.step() {
            let e = TcpEventRow.read(st)
            let key = e.cookie != 0 ? "c\(e.cookie)" : "s\(e.sk)"
            let i: Int
            if let j = byKey[key] { i = j } else {
                i = out.count
                out.append(Connection(proto: .tcp, direction: .unknown, tuple: e.tuple, netns: e.sockNetns,
                                      cookie: e.cookie, sk: e.sk, owner: nil,
                                      start: e.startTs != 0 ? e.startTs : e.task.ts))
                byKey[key] = i
            }
            var c = out[i]
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
                    out[i] = c
                    continue
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
                // The kernel may reuse the socket address: a later socket there is a new connection.
                if e.cookie == 0 { byKey.removeValue(forKey: key) }
            }
            out[i] = c
        }

        // UDP: a flow row each; its end comes from the recorder's retirement of the flow state.
        struct FlowKey: Hashable { var netns: UInt32; var tuple: SocketTuple; var pid: UInt32; var startNs: UInt64; var first: UInt64 }
        var ends: [FlowKey: UdpFlowEndRow] = [:]
        let en = try db.prepare("SELECT \(UdpFlowEndRow.selectColumns) FROM udp_flow_end")
        while try en.step() {
            let e = UdpFlowEndRow.read(en)
            ends[FlowKey(netns: e.sockNetns, tuple: e.tuple, pid: e.pid, startNs: e.startNs, first: e.firstTs)] = e
        }
        let fl = try db.prepare("SELECT \(UdpFlowRow.selectColumns) FROM udp_flow ORDER BY ts")
        while try fl.step() {
            let f = UdpFlowRow.read(fl)
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
            out.append(c)
        }
        out.sort { $0.start < $1.start }
        connections = out
    }
}

/// Textual TCP state names (include/net/tcp_states.h).
public enum TCPState {
    public static func name(_ s: UInt32) -> String {
        let names = ["", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                     "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV"]
        return Int(s) < names.count ? names[Int(s)] : "state\(s)"
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

    public var description: String {
        guard let port else { return ip }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

extension SocketTuple {
    public var localText: String { Endpoint(ip: laddr, port: lport).description }
    public var remoteText: String { Endpoint(ip: raddr, port: rport).description }
}
