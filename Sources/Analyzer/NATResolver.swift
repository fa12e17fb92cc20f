import Format

/// The conntrack mappings as the connection queries' NAT resolver (ConnectionQuery.swift):
/// `who` follows an address seen outside the host to the inside endpoint it stood for,
/// `connections` shows how each connection looked outside.
extension NATIndex: NATResolver {
    static func protoNumber(_ p: Connection.Proto) -> UInt8 { p == .tcp ? 6 : 17 }

    public func inside(proto: Connection.Proto, outside: Endpoint, at t: UInt64) -> [NATTranslation] {
        var out: [NATTranslation] = []
        for (m, side) in lookup(NATEndpoint(addr: outside.ip, port: outside.port), at: t, proto: Self.protoNumber(proto)) {
            let tr = m.translated
            let how = "\(m.startKind == .snapshot ? "snapshot" : m.startKind.rawValue) mapping in netns \(m.netns): "
                + "\(NATQuery.ep(m.orig.src, m.orig.sport)) -> \(NATQuery.ep(m.orig.dst, m.orig.dport)) seen outside as "
                + "\(NATQuery.ep(tr.src, tr.sport)) -> \(NATQuery.ep(tr.dst, tr.dport))"
            switch side {
            case .translatedSource:  // source NAT: the outside saw the translated source
                out.append(NATTranslation(inside: Endpoint(ip: m.orig.src, port: m.orig.sport), note: how))
            case .originalDestination:  // destination NAT: the outside dialed the published address
                out.append(NATTranslation(inside: Endpoint(ip: tr.dst, port: tr.dport), note: how))
            case .originalSource, .translatedDestination:
                continue  // inside addresses already: nothing to follow
            }
        }
        return out
    }

    public func translation(of c: Connection) -> String? {
        let at = c.ownedAt ?? c.start
        let proto = Self.protoNumber(c.proto)
        let local = NATEndpoint(addr: c.tuple.laddr, port: c.tuple.lport)
        let remote = NATEndpoint(addr: c.tuple.raddr, port: c.tuple.rport)
        for (m, side) in lookup(local, at: at, proto: proto) {
            let tr = m.translated
            if side == .originalSource, m.orig.dst == remote.addr, m.orig.dport == c.tuple.rport {
                // This host (or a namespace on it) initiated: the outside saw the translated tuple.
                return "\(NATQuery.ep(tr.src, tr.sport)) -> \(NATQuery.ep(tr.dst, tr.dport))"
            }
            if side == .translatedDestination, m.orig.src == remote.addr, m.orig.sport == c.tuple.rport {
                // Accepted behind destination NAT: the peer dialed the published address.
                return "\(NATQuery.ep(m.orig.src, m.orig.sport)) -> \(NATQuery.ep(m.orig.dst, m.orig.dport))"
            }
        }
        return nil
    }
}
