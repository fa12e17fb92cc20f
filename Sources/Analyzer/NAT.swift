import Foundation
import Format
#if canImport(Glibc)
import Glibc
#endif

/// Mapping intervals of a capture, indexed by each endpoint: those a query
/// selects, read from the case's `nat_mapping` table, which `reconstruct` fills
/// once when the case is built.
public final class NATIndex {
    public private(set) var mappings: [NATMapping] = []
    /// Each side's endpoint and address, built on the first lookup: translating a window's
    /// connections needs only the tuples.
    private lazy var bySide: (endpoint: [NATEndpoint: [(Int, NATSide)]], address: [String: [(Int, NATSide)]]) = {
        var endpoint: [NATEndpoint: [(Int, NATSide)]] = [:], address: [String: [(Int, NATSide)]] = [:]
        for (i, m) in mappings.enumerated() {
            for side in NATSide.allCases {
                let e = m.endpoint(side)
                endpoint[e, default: []].append((i, side))
                address[e.addr, default: []].append((i, side))
            }
        }
        return (endpoint, address)
    }()
    /// Mappings by their original tuple and by their reply tuple: a socket's own tuple is one
    /// of them (outbound: the original; inbound behind DNAT: the reply), so translating a
    /// connection reads its few mappings, not every mapping of a busy server's address.
    private var byOriginal = TupleChains()
    private var byReply = TupleChains()
    /// Rows the capture has: NEW rows by how they began, END rows, unmatched ends.
    public private(set) var rowCounts: [String: Int] = [:]

    public init() {}

    /// Every mapping of the capture.
    public convenience init(reader: TimelineReader, captureStart: UInt64) throws {
        try self.init(reader: reader, touching: nil)
    }

    /// The mappings with `endpoint` on some side, live at some moment of [from, to] when given.
    public init(reader: TimelineReader, touching endpoint: NATEndpoint?, from: UInt64? = nil, to: UInt64? = nil) throws {
        mappings = try reader.natMappings(touching: endpoint, from: from, to: to)
        rowCounts = try reader.counts(prefix: Self.countPrefix)
        byOriginal = TupleChains(mappings.map(\.orig))
        byReply = TupleChains(mappings.map(\.reply))
    }

    /// How a socket with this tuple (local -> remote) looked on the other side of NAT at `t`:
    /// the latest translated mapping live then whose original tuple it is (outbound through
    /// SNAT) or whose reply tuple it is (inbound through DNAT).
    public func translation(local: NATEndpoint, remote: NATEndpoint, at t: UInt64, proto: UInt8) -> (NATMapping, outbound: Bool)? {
        guard let lp = local.port, let rp = remote.port else { return nil }
        let key = ConntrackTuple(src: local.addr, sport: lp, dst: remote.addr, dport: rp)
        var best: (Int, Bool)?
        func consider(_ i: Int, outbound: Bool) {
            guard mappings[i].proto == proto && mappings[i].isNAT && mappings[i].contains(t) else { return }
            if best.map({ mappings[i].start > mappings[$0.0].start }) ?? true { best = (i, outbound) }
        }
        byOriginal.forEach(key) { consider($0, outbound: true) }
        byReply.forEach(key) { consider($0, outbound: false) }
        return best.map { (mappings[$0.0], $0.1) }
    }

    /// The mappings a socket (local -> remote) can be one end of at `t` (see `translation`).
    public init(reader: TimelineReader, socketLocal local: NATEndpoint, remote: NATEndpoint, at t: UInt64) throws {
        mappings = try reader.natMappings(socketLocal: local, remote: remote, at: t)
        byOriginal = TupleChains(mappings.map(\.orig))
        byReply = TupleChains(mappings.map(\.reply))
    }

    static let countPrefix = "conntrack_rows."

    /// Replays every conntrack row of the case in time order into mapping intervals (what
    /// NATBuilder does while the case is built, when its rows could not be kept in order).
    static func reconstruct(into w: TimelineWriter, captureStart: UInt64) throws {
        let b = NATReplay(into: w, captureStart: captureStart)
        try w.forEachConntrack { try b.apply($0) }
        try b.finish()
    }

    /// Mappings live at `at` with `endpoint` on any side. Untranslated entries only when `includeUntranslated`.
    public func lookup(_ endpoint: NATEndpoint, at: UInt64?, slack: UInt64 = 0, proto: UInt8? = nil,
                       includeUntranslated: Bool = false) -> [(mapping: NATMapping, side: NATSide)] {
        let hits = endpoint.port.map { bySide.endpoint[endpoint.with(port: $0)] ?? [] } ?? bySide.address[endpoint.addr] ?? []
        var out: [(NATMapping, NATSide)] = []
        var at_: [Int: Int] = [:]
        for (i, side) in hits {
            let m = mappings[i]
            if let proto, m.proto != proto { continue }
            if let at, !(slack == 0 ? m.contains(at) : m.overlaps(at, slack: slack)) { continue }
            if !includeUntranslated && !m.isNAT { continue }
            // A side NAT did not change matches twice (original = translated): report it once,
            // as the original side.
            if let j = at_[i] {
                if side == .originalSource || side == .originalDestination { out[j].1 = side }
                continue
            }
            at_[i] = out.count
            out.append((m, side))
        }
        return out.sorted { $0.0.start > $1.0.start }
    }

    public var natCount: Int { mappings.filter(\.isNAT).count }
}

extension NATMapping {
    /// How this mapping's interval stands to `t`: it ends when its entry is replaced or destroyed.
    public func proximity(at t: UInt64) -> Proximity {
        .of(start: start, end: end, endExclusive: true, at: t)
    }
}

extension NATEndpoint {
    /// "IP:PORT", "[IPv6]:PORT", a bare IPv4/IPv6 address (any port); the
    /// address canonicalized the way the connection index spells it.
    public static func parse(_ text: String) -> NATEndpoint? {
        Endpoint.parse(text).map { NATEndpoint(addr: $0.ip, port: $0.port) }
    }

    func with(port: UInt16) -> NATEndpoint { NATEndpoint(addr: addr, port: port) }
}

/// `nettrail nat`: translate an address:port at a moment, in either direction.
public enum NATQuery {
    public static func protoNumber(_ s: String) -> UInt8? {
        switch s.lowercased() {
        case "tcp": return 6
        case "udp": return 17
        case "icmp": return 1
        case "icmpv6", "icmp6": return 58
        case "sctp": return 132
        default: return UInt8(s)
        }
    }

    static func protoName(_ p: UInt8) -> String {
        switch p {
        case 6: return "tcp"
        case 17: return "udp"
        case 1: return "icmp"
        case 58: return "icmpv6"
        case 132: return "sctp"
        default: return String(p)
        }
    }

    public static func ep(_ a: String, _ p: UInt16) -> String { NATEndpoint(addr: a, port: p).description }

    public static let columns = Columns.nat

    /// The mappings of `endpoint` at `at`, or (no `at`) overlapping [from, to] in time
    /// order. At a moment, those live then come first and are the answer; others within
    /// `slack` of it are listed as nearby, with their distance from it.
    public static func run(_ capture: Capture, index: NATIndex, endpoint: NATEndpoint, at: UInt64?, slack: UInt64 = 0,
                           from: UInt64? = nil, to: UInt64? = nil,
                           proto: UInt8?, includeUntranslated: Bool = false) -> ResultTable {
        var t = ResultTable(columns: columns)
        t.notes += capture.missingSourceNotes("conntrack")
        let found = index.lookup(endpoint, at: at, slack: slack, proto: proto, includeUntranslated: includeUntranslated)
            .filter { f in
                at != nil || ((from.map { (f.mapping.end ?? .max) >= $0 } ?? true) && (to.map { f.mapping.start <= $0 } ?? true))
            }
            .map { (m: $0.mapping, side: $0.side, p: at.map($0.mapping.proximity) ?? .exact) }
        let hits = at != nil
            ? found.enumerated().sorted { ($0.element.p, $0.offset) < ($1.element.p, $1.offset) }.map(\.element)
            : found.sorted { ($0.m.start, $0.m.netns) < ($1.m.start, $1.m.netns) }
        for (m, side, p) in hits {
            let answer: NATSide
            switch side {
            case .originalSource: answer = .translatedSource
            case .translatedSource: answer = .originalSource
            case .originalDestination: answer = .translatedDestination
            case .translatedDestination: answer = .originalDestination
            }
            func text(_ s: NATSide) -> Value { .text(m.endpoint(s).description) }
            t.append([
                at == nil ? .null : .text(p.text),
                .text(m.startKind == .snapshot ? "before " + capture.wallText(m.start) : capture.wallText(m.start)),
                m.end.map { .text(capture.wallText($0)) } ?? .null,
                .text(m.startKind.rawValue),
                .text(m.endKind == .observed || m.endKind == .destroyed ? "observed" : "inferred"),
                .text(m.endKind.rawValue),
                .int(Int64(m.netns)), .text(protoName(m.proto)), .text(side.rawValue),
                text(.originalSource), text(.originalDestination), text(.translatedSource), text(.translatedDestination),
                text(answer), .int(Int64(bitPattern: m.cgroupID)),
            ])
        }
        let live = hits.filter { $0.p.live }.count
        if live > 1 {
            t.notes.append("\(live) mappings match\(at == nil ? "" : " live at that moment"): the address is on more than one side or in more than one namespace")
        } else if live == 0, let nearest = hits.first {
            t.notes.append("no mapping of \(endpoint.description) was live at that moment; the nearest \(nearest.p.edgeText)")
        }
        if let at {
            t.notes += LossNote.notes(capture, .conntrack, from: at.saturatingSub(slack), to: at.saturatingAdd(slack),
                                      consequence: "a mapping may be missing or its interval wrong")
        }
        return t
    }

    /// What `nettrail info` shows for conntrack: mapping counts, how they began and ended.
    public static func summary(_ capture: Capture) throws -> [(String, Value)] {
        let n = try capture.reader.natCounts()
        var out: [(String, Value)] = [
            ("nat.mappings", .int(Int64(n.total))),
            ("nat.translated", .int(Int64(n.translated))),
        ]
        for (k, v) in n.starts.sorted(by: { $0.key < $1.key }) { out.append(("nat.start." + k, .int(Int64(v)))) }
        for (k, v) in n.ends.sorted(by: { $0.key < $1.key }) { out.append(("nat.end." + k, .int(Int64(v)))) }
        out.append(("nat.namespaces", .int(Int64(n.namespaces))))
        return out
    }
}

/// Which mappings have each tuple, in mapping order: one dictionary entry per tuple and a
/// chain through an array, not an array per tuple (a busy window has thousands of tuples).
struct TupleChains {
    private var first: [ConntrackTuple: Int] = [:]
    /// The next mapping with the same tuple, or -1.
    private var next: [Int] = []

    init() {}

    init(_ tuples: [ConntrackTuple]) {
        first.reserveCapacity(tuples.count)
        next = Array(repeating: -1, count: tuples.count)
        // Built from the last, so each chain runs oldest first.
        for i in tuples.indices.reversed() {
            if let f = first.updateValue(i, forKey: tuples[i]) { next[i] = f }
        }
    }

    func forEach(_ key: ConntrackTuple, _ body: (Int) -> Void) {
        var i = first[key] ?? -1
        while i >= 0 { body(i); i = next[i] }
    }
}
