/// What the analyzer reconstructs from the raw rows, once, into the case
/// (CaseRows.swift): a process identity, connections with their owners, NAT
/// mapping intervals.

/// (pid, start) — the identity that survives pid reuse.
public struct ProcessKey: Hashable, Sendable, Comparable {
    public var pid: UInt32
    public var startNs: UInt64
    public init(pid: UInt32, startNs: UInt64) { self.pid = pid; self.startNs = startNs }
    public static func < (a: Self, b: Self) -> Bool { (a.startNs, a.pid) < (b.startNs, b.pid) }
}

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

    public init(proto: Proto, direction: Direction, tuple: SocketTuple, netns: UInt32, cookie: UInt64, sk: UInt64,
                owner: ProcessKey?, start: UInt64) {
        self.proto = proto; self.direction = direction; self.tuple = tuple; self.netns = netns
        self.cookie = cookie; self.sk = sk; self.owner = owner; self.start = start
    }

    /// Whether `ep` is one of this connection's ends (local, allowing a wildcard bind, or remote).
    public func matches(ip: String, port: UInt16) -> Side? {
        if tuple.lport == port && (tuple.laddr == ip || Self.isWildcard(tuple.laddr)) { return .local }
        if tuple.rport == port && tuple.raddr == ip { return .remote }
        return nil
    }
    public enum Side: String, Sendable { case local, remote }

    /// outbound/inbound/unknown, or "open at start" for a socket the recording found already open.
    public var directionText: String { openAtStart && direction == .unknown ? "open at start" : direction.rawValue }

    public static func isWildcard(_ a: String) -> Bool { a == "0.0.0.0" || a == "::" }

    /// Active at `t`, allowing `slack` ns on each side (events are stamped at syscall return).
    public func active(at t: UInt64, until captureEnd: UInt64, slack: UInt64) -> Bool {
        let s = start > slack ? start - slack : 0
        return s <= t && t <= (end ?? captureEnd) &+ slack
    }
}

/// How a mapping interval began.
public enum NATStart: String, Sendable {
    /// The conntrack entry was seen new at a netfilter hook.
    case new
    /// A closed TCP entry re-opened in place by a new SYN (same entry, new connection).
    case reopen
    /// Listed by the startup dump: it existed when recording began; since when is unknown.
    case snapshot
    /// A Netlink NEW event (fallback source).
    case netlink
}

/// How a mapping interval ended, and how sure the capture is of it.
public enum NATEnd: String, Sendable {
    /// Seen: TCP reaching TIME_WAIT or CLOSE at a hook.
    case observed
    /// Seen: Netlink DESTROY (the entry left the table; the connection may have ended earlier).
    case destroyed
    /// Inferred: a later mapping took the same tuple, so this one was gone by then.
    case superseded
    /// Inferred: no end seen before the capture ended (the entry may have timed out unseen).
    case open
}

public struct NATMapping: Sendable {
    public var netns: UInt32
    public var family: UInt8
    public var proto: UInt8
    public var zone: UInt16
    public var mark: UInt32
    public var status: UInt32
    public var cgroupID: UInt64
    /// The tuple of the first packet, as the initiator sent it.
    public var orig: ConntrackTuple
    /// The tuple replies carry, as the responder sends them.
    public var reply: ConntrackTuple
    public var start: UInt64
    public var startKind: NATStart
    /// nil while open at capture end.
    public var end: UInt64?
    public var endKind: NATEnd

    public init(netns: UInt32, family: UInt8, proto: UInt8, zone: UInt16, mark: UInt32, status: UInt32,
                cgroupID: UInt64, orig: ConntrackTuple, reply: ConntrackTuple, start: UInt64, startKind: NATStart,
                end: UInt64?, endKind: NATEnd) {
        self.netns = netns; self.family = family; self.proto = proto; self.zone = zone; self.mark = mark
        self.status = status; self.cgroupID = cgroupID; self.orig = orig; self.reply = reply; self.start = start
        self.startKind = startKind; self.end = end; self.endKind = endKind
    }

    /// ICMP and ICMPv6 flows are keyed by the echo id, which both tuples hold in `sport`
    /// (their `dport` is type << 8 | code, and differs between request and reply).
    public var isICMP: Bool { proto == 1 || proto == 58 }
    /// The original direction's tuple as it looks on the far side of the NAT.
    public var translated: ConntrackTuple {
        isICMP ? ConntrackTuple(src: reply.dst, sport: reply.sport, dst: reply.src, dport: orig.dport) : reply.inverted
    }
    /// The address and port the mapping has on `side`; for ICMP the id stands in for the
    /// port on every side, so `--addr IP:ID` finds it either way round.
    public func endpoint(_ side: NATSide) -> NATEndpoint {
        let tr = translated
        switch side {
        case .originalSource: return NATEndpoint(addr: orig.src, port: orig.sport)
        case .translatedSource: return NATEndpoint(addr: tr.src, port: tr.sport)
        case .originalDestination: return NATEndpoint(addr: orig.dst, port: isICMP ? orig.sport : orig.dport)
        case .translatedDestination: return NATEndpoint(addr: tr.dst, port: isICMP ? tr.sport : tr.dport)
        }
    }
    /// IPS_SRC_NAT | IPS_DST_NAT.
    public var isNAT: Bool { status & 0x30 != 0 }

    public func contains(_ t: UInt64) -> Bool { start <= t && (end.map { t < $0 } ?? true) }
    /// Live at any moment of [t - slack, t + slack].
    public func overlaps(_ t: UInt64, slack: UInt64) -> Bool {
        start <= t &+ slack && (end.map { t < $0 &+ slack } ?? true)
    }
}

/// Which endpoint of a mapping an address matched.
public enum NATSide: String, Sendable, CaseIterable {
    /// The initiator's own source (inside, before SNAT).
    case originalSource = "original-source"
    /// The initiator's source as the far side sees it (after SNAT).
    case translatedSource = "translated-source"
    /// The destination the initiator dialed (before DNAT).
    case originalDestination = "original-destination"
    /// Where the connection really went (after DNAT).
    case translatedDestination = "translated-destination"
}

public struct NATEndpoint: Hashable, Sendable {
    public var addr: String
    public var port: UInt16?
    public init(addr: String, port: UInt16?) { self.addr = addr; self.port = port }

    /// "IP:PORT", "[IPv6]:PORT", or the address alone.
    public var description: String { Self.text(addr, port) }

    /// The one spelling of an endpoint (`ByteText.endpoint` writes it).
    public static func text(_ addr: String, _ port: UInt16?) -> String {
        guard port != nil else { return addr }
        var t = ByteText(capacity: addr.utf8.count + 8)
        t.endpoint(addr, port)
        return t.string
    }
}
