import Format

/// `who`'s NAT step, backed by the case's NAT mapping intervals: an address seen
/// outside the host becomes the inside endpoint a socket had. Each question reads
/// only the mappings of the endpoint it asks about; `prepare` reads a whole
/// window at once when many connections will be asked about.
public final class ConntrackNATResolver: NATResolver {
    private let reader: TimelineReader
    /// Stretches of translation times, each with the mappings live at some moment of it,
    /// in time order and disjoint.
    private var stretches: [(from: UInt64, to: UInt64, index: NATIndex)] = []
    /// The longest stretch read at once: a busy second holds thousands of mappings.
    static let stretch: UInt64 = 1_000_000_000
    /// The fewest translation times in a stretch worth reading all its mappings (a lone
    /// time needs only its few).
    private let fewest: Int

    public init(_ capture: Capture, fewest: Int = 64) throws {
        reader = capture.reader
        self.fewest = fewest
        guard try reader.hasTable("nat_mapping") else { throw TimelineOpenError.corrupt(reader.path, "no NAT mapping table") }
    }

    /// Connections whose translation will be asked: those whose times lie close together
    /// (a timeline window's, however long) are answered from one read per stretch of
    /// time; scattered ones (every connection to a server over hours) one lookup each,
    /// not every mapping in between.
    public func prepare(for connections: [Connection]) {
        let times = connections.map { $0.ownedAt ?? $0.start }.sorted()
        stretches = []
        var i = 0
        while i < times.count {
            var j = i
            while j + 1 < times.count && times[j + 1] - times[i] <= Self.stretch { j += 1 }
            if j - i + 1 >= fewest, let index = try? NATIndex(reader: reader, touching: nil, from: times[i], to: times[j]) {
                stretches.append((times[i], times[j], index))
            }
            i = j + 1
        }
    }

    /// The stretch read for `t`, if any.
    private func stretch(at t: UInt64) -> NATIndex? {
        var lo = 0, hi = stretches.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if stretches[mid].to < t { lo = mid + 1 } else { hi = mid }
        }
        return lo < stretches.count && stretches[lo].from <= t ? stretches[lo].index : nil
    }

    static func number(_ p: Connection.Proto) -> UInt8 { p == .tcp ? 6 : 17 }

    static func text(_ t: ConntrackTuple) -> String {
        var b = ByteText(capacity: 48)
        add(t, to: &b)
        return b.string
    }

    static func add(_ t: ConntrackTuple, to b: inout ByteText) {
        b.endpoint(t.src, t.sport); b.add(" -> "); b.endpoint(t.dst, t.dport)
    }

    public func inside(proto: Connection.Proto, outside: Endpoint, at t: UInt64, slack: UInt64) -> [NATTranslation] {
        var out: [NATTranslation] = []
        let ep = NATEndpoint(addr: outside.ip, port: outside.port)
        guard let index = try? NATIndex(reader: reader, touching: ep, from: t.saturatingSub(slack), to: t.saturatingAdd(slack)) else { return [] }
        let hits = index.lookup(ep, at: t, slack: slack, proto: Self.number(proto))
        for (m, side) in hits {
            // The socket's whole tuple, ports included even when the question named none: a
            // mapping explains the one socket it translated, not every socket of its address.
            switch side {
            case .translatedSource:
                // Outbound through SNAT/MASQUERADE: the outside saw the translated source; the
                // initiating socket had the original tuple.
                out.append(NATTranslation(inside: Endpoint(ip: m.orig.src, port: m.orig.sport),
                                          peer: Endpoint(ip: m.orig.dst, port: m.orig.dport),
                                          note: "SNAT \(Self.text(m.orig)) seen as \(Self.text(m.translated)), netns \(m.netns)",
                                          proximity: m.proximity(at: t)))
            case .originalDestination:
                // Inbound through DNAT (port publishing): the client dialed the original
                // destination; the serving socket has the reply's tuple, reversed.
                out.append(NATTranslation(inside: Endpoint(ip: m.reply.src, port: m.reply.sport),
                                          peer: Endpoint(ip: m.reply.dst, port: m.reply.dport),
                                          note: "DNAT \(Self.text(m.orig)) to \(Self.text(m.reply.inverted)), netns \(m.netns)",
                                          proximity: m.proximity(at: t)))
            case .originalSource, .translatedDestination:
                break // already an address some socket on the host has
            }
        }
        return out
    }

    public func addTranslation(of c: Connection, to b: inout ByteText) -> Bool {
        let local = NATEndpoint(addr: c.tuple.laddr, port: c.tuple.lport)
        let remote = NATEndpoint(addr: c.tuple.raddr, port: c.tuple.rport)
        let t = c.ownedAt ?? c.start
        guard let index = stretch(at: t) ?? (try? NATIndex(reader: reader, socketLocal: local, remote: remote, at: t)),
              let (m, outbound) = index.translation(local: local, remote: remote, at: t, proto: Self.number(c.proto)) else { return false }
        // Outbound: our socket is the original source. Inbound: our socket is where DNAT sent it.
        Self.add(outbound ? m.translated : m.orig, to: &b)
        return true
    }
}
