import Format

/// Which recorded losses an answer depends on: one list per source, in one
/// place. A loss row counts for a scope when its source is the scope's and its
/// kind is one of the scope's (any kind where the list is nil), when a segment
/// of the scope's source was damaged, or when records could not be decoded.
public enum LossScope: CaseIterable, Sendable {
    case process, sockets, conntrack, resolver

    /// The `loss.source` values of this scope.
    var sources: Set<String> {
        switch self {
        case .process: return ["process"]
        case .sockets: return ["sockets"]
        case .conntrack: return ["conntrack", "conntrack-netlink"]
        case .resolver: return ["resolver"]
        }
    }

    /// The loss kinds that mean events an answer of this scope rests on are missing; nil: any.
    var kinds: Set<String>? {
        switch self {
        case .process: return ["fork", "exec", "exit", "cgroup_mkdir", "cgroup_attach"]
        case .sockets: return ["tcp_connect", "tcp_accept", "tcp_close", "tcp_span", "udp_flow", "map_full"]
        case .conntrack: return nil
        case .resolver: return ["dns", "dns_lib", "dns_arming", "exec_notice"]
        }
    }

    static let damagedSegment = "segment_damaged"

    func covers(_ l: LossRow) -> Bool {
        // Records the decoder could not read, or the recorder could not copy off a ring: of any source.
        if l.source == "decoder" || l.source == "recorder" { return true }
        guard sources.contains(l.source) else { return false }
        return l.kind == Self.damagedSegment || (kinds?.contains(l.kind) ?? true)
    }
}

extension Capture {
    /// The losses of `scope` whose window meets [from, to].
    public func losses(_ scope: LossScope, from: UInt64? = nil, to: UInt64? = nil) -> [LossRow] {
        ((try? reader.losses()) ?? []).filter {
            scope.covers($0) && $0.toNs >= (from ?? 0) && $0.fromNs <= (to ?? .max)
        }
    }
}
