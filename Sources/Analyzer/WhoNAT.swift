import Format

/// `who`'s NAT step, backed by the conntrack tracker's NATIndex (issue 3):
/// an address seen outside the host becomes the inside endpoint a socket had.
public final class ConntrackNATResolver: NATResolver {
    public let index: NATIndex

    public init(_ capture: Capture) throws {
        index = try NATIndex(reader: capture.reader, captureStart: capture.startBoot)
    }

    static func number(_ p: Connection.Proto) -> UInt8 { p == .tcp ? 6 : 17 }

    static func text(_ t: ConntrackTuple) -> String {
        "\(Endpoint(ip: t.src, port: t.sport)) -> \(Endpoint(ip: t.dst, port: t.dport))"
    }

    public func inside(proto: Connection.Proto, outside: Endpoint, at t: UInt64, slack: UInt64) -> [NATTranslation] {
        var out: [NATTranslation] = []
        let hits = index.lookup(NATEndpoint(addr: outside.ip, port: outside.port), at: t, slack: slack,
                                proto: Self.number(proto))
        for (m, side) in hits {
            switch side {
            case .translatedSource:
                // Outbound through SNAT/MASQUERADE: the outside saw the translated source; the
                // initiating socket had the original one.
                out.append(NATTranslation(inside: Endpoint(ip: m.orig.src, port: outside.port == nil ? nil : m.orig.sport),
                                          note: "SNAT \(Self.text(m.orig)) seen as \(Self.text(m.translated)), netns \(m.netns)"))
            case .originalDestination:
                // Inbound through DNAT (port publishing): the client dialed the original
                // destination; the serving socket has the reply's source.
                out.append(NATTranslation(inside: Endpoint(ip: m.reply.src, port: outside.port == nil ? nil : m.reply.sport),
                                          note: "DNAT \(Self.text(m.orig)) to \(Self.text(m.reply.inverted)), netns \(m.netns)"))
            case .originalSource, .translatedDestination:
                break // already an address some socket on the host has
            }
        }
        return out
    }

    public func translation(of c: Connection) -> String? {
        let local = NATEndpoint(addr: c.tuple.laddr, port: c.tuple.lport)
        for (m, side) in index.lookup(local, at: c.ownedAt ?? c.start, proto: Self.number(c.proto)) {
            // Outbound: our socket is the original source.
            if side == .originalSource && m.orig.dst == c.tuple.raddr && m.orig.dport == c.tuple.rport {
                return Self.text(m.translated)
            }
            // Inbound: our socket is where DNAT sent it (the reply's source).
            if side == .translatedDestination && m.reply.dst == c.tuple.raddr && m.reply.dport == c.tuple.rport {
                return Self.text(m.orig)
            }
        }
        return nil
    }
}
