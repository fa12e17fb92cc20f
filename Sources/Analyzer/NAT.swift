import Foundation
import Format
#if canImport(Glibc)
import Glibc
#endif

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

    func contains(_ t: UInt64) -> Bool { start <= t && (end.map { t < $0 } ?? true) }
    /// Live at any moment of [t - slack, t + slack].
    func overlaps(_ t: UInt64, slack: UInt64) -> Bool {
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

    /// "IP:PORT", "[IPv6]:PORT", a bare IPv4/IPv6 address (any port); the
    /// address canonicalized the way the connection index spells it.
    public static func parse(_ text: String) -> NATEndpoint? {
        Endpoint.parse(text).map { NATEndpoint(addr: $0.ip, port: $0.port) }
    }

    public var description: String { Endpoint(ip: addr, port: port).description }
}

/// Every mapping interval in a capture, indexed by each endpoint.
public final class NATIndex {
    public private(set) var mappings: [NATMapping] = []
    private var byEndpoint: [NATEndpoint: [(Int, NATSide)]] = [:]
    private var byAddress: [String: [(Int, NATSide)]] = [:]
    /// Rows the capture has: NEW rows by how they began, END rows, unmatched ends.
    public private(set) var rowCounts: [String: Int] = [:]

    public init() {}

    public init(reader: TimelineReader, captureStart: UInt64) throws {
        guard try reader.hasTable("conntrack") else { return }
        let st = try reader.db.prepare(ConntrackRow.selectAll + " ORDER BY ts, rowid")
        // One conntrack entry at a time holds a given tuple (in either direction) per namespace and zone.
        struct Key: Hashable { var netns: UInt32; var zone: UInt16; var proto: UInt8; var t: ConntrackTuple }
        var openByTuple: [Key: Int] = [:]
        var openByStart: [UInt64: [Int]] = [:]
        func close(_ i: Int, at ts: UInt64, _ kind: NATEnd) {
            guard mappings[i].end == nil else { return }
            mappings[i].end = max(ts, mappings[i].start)
            mappings[i].endKind = kind
        }
        while try st.step() {
            let r = ConntrackRow.read(st)
            let ko = Key(netns: r.netns, zone: r.zone, proto: r.proto, t: r.orig)
            let kr = Key(netns: r.netns, zone: r.zone, proto: r.proto, t: r.reply)
            switch r.kind {
            case .new:
                let kind: NATStart = r.flags.contains(.snapshot) ? .snapshot
                    : r.flags.contains(.reopen) ? .reopen : r.flags.contains(.netlink) ? .netlink : .new
                rowCounts["new." + kind.rawValue, default: 0] += 1
                if kind == .snapshot, let i = openByTuple[ko], mappings[i].end == nil, mappings[i].reply == r.reply {
                    // Seen new between attaching and the dump: the live row already says it all.
                    rowCounts["snapshot_duplicates", default: 0] += 1
                    continue
                }
                for k in [ko, kr] { if let i = openByTuple[k] { close(i, at: r.ts, .superseded) } }
                let m = NATMapping(netns: r.netns, family: r.family, proto: r.proto, zone: r.zone, mark: r.mark,
                                   status: r.status, cgroupID: r.cgroupID, orig: r.orig, reply: r.reply,
                                   start: kind == .snapshot ? min(r.ts, captureStart) : r.ts, startKind: kind,
                                   end: nil, endKind: .open)
                let i = mappings.count
                mappings.append(m)
                openByTuple[ko] = i
                openByTuple[kr] = i
                openByStart[r.ts, default: []].append(i)
            case .end:
                rowCounts["end", default: 0] += 1
                var target: Int?
                if r.startTs != 0 {
                    target = openByStart[r.startTs]?.first { mappings[$0].netns == r.netns && mappings[$0].orig == r.orig }
                } else if let i = openByTuple[ko], mappings[i].reply == r.reply {
                    target = i
                }
                guard let i = target, mappings[i].end == nil else {
                    rowCounts["end_unmatched", default: 0] += 1
                    continue
                }
                close(i, at: r.ts, r.flags.contains(.netlink) ? .destroyed : .observed)
            }
        }
        for (i, m) in mappings.enumerated() {
            for side in NATSide.allCases {
                let e = m.endpoint(side)
                byEndpoint[e, default: []].append((i, side))
                byAddress[e.addr, default: []].append((i, side))
            }
        }
    }

    /// Mappings live at `at` with `endpoint` on any side. Untranslated entries only when `includeUntranslated`.
    public func lookup(_ endpoint: NATEndpoint, at: UInt64?, slack: UInt64 = 0, proto: UInt8? = nil,
                       includeUntranslated: Bool = false) -> [(mapping: NATMapping, side: NATSide)] {
        let hits = endpoint.port.map { byEndpoint[endpoint.with(port: $0)] ?? [] } ?? byAddress[endpoint.addr] ?? []
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

extension NATEndpoint {
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

    public static let columns = ["start", "end", "start_kind", "end_kind", "end_reason", "netns", "proto", "matched",
                                 "original_src", "original_dst", "translated_src", "translated_dst",
                                 "answer", "cgroup_id"]

    public static func run(_ capture: Capture, index: NATIndex, endpoint: NATEndpoint, at: UInt64?,
                           proto: UInt8?, includeUntranslated: Bool = false) -> ResultTable {
        var t = ResultTable(columns: columns)
        t.notes += capture.missingSourceNotes("conntrack")
        for (m, side) in index.lookup(endpoint, at: at, proto: proto, includeUntranslated: includeUntranslated) {
            let answer: NATSide
            switch side {
            case .originalSource: answer = .translatedSource
            case .translatedSource: answer = .originalSource
            case .originalDestination: answer = .translatedDestination
            case .translatedDestination: answer = .originalDestination
            }
            func text(_ s: NATSide) -> Value { .text(m.endpoint(s).description) }
            t.append([
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
        if t.rows.count > 1 {
            t.notes.append("\(t.rows.count) mappings match: the address is on more than one side or in more than one namespace")
        }
        if let at, let losses = try? capture.reader.losses(),
           losses.contains(where: { $0.source.hasPrefix("conntrack") && $0.fromNs <= at && at <= $0.toNs }) {
            t.notes.append("conntrack events were lost around that time: the answer may be incomplete")
        }
        return t
    }

    /// What `nettrail info` shows for conntrack: mapping counts, how they began and ended.
    public static func summary(_ capture: Capture) throws -> [(String, Value)] {
        let index = try NATIndex(reader: capture.reader, captureStart: capture.startBoot)
        var out: [(String, Value)] = [
            ("nat.mappings", .int(Int64(index.mappings.count))),
            ("nat.translated", .int(Int64(index.natCount))),
        ]
        var starts: [String: Int] = [:], ends: [String: Int] = [:]
        for m in index.mappings { starts[m.startKind.rawValue, default: 0] += 1; ends[m.endKind.rawValue, default: 0] += 1 }
        for (k, v) in starts.sorted(by: { $0.key < $1.key }) { out.append(("nat.start." + k, .int(Int64(v)))) }
        for (k, v) in ends.sorted(by: { $0.key < $1.key }) { out.append(("nat.end." + k, .int(Int64(v)))) }
        out.append(("nat.namespaces", .int(Int64(Set(index.mappings.map(\.netns)).count))))
        return out
    }
}
