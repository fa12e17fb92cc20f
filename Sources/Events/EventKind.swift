import CEventABI

/// Names of the ABI's event kinds, as the timeline's `loss.kind` and the summary spell them.
public enum EventKind {
    public static func name(_ kind: UInt32) -> String {
        switch kind {
        case NT_KIND_FORK.rawValue: return "fork"
        case NT_KIND_EXEC.rawValue: return "exec"
        case NT_KIND_EXIT.rawValue: return "exit"
        case NT_KIND_CGROUP_MKDIR.rawValue: return "cgroup_mkdir"
        case NT_KIND_CGROUP_RMDIR.rawValue: return "cgroup_rmdir"
        case NT_KIND_CGROUP_ATTACH.rawValue: return "cgroup_attach"
        case NT_KIND_CT_NEW.rawValue: return "conntrack_new"
        case NT_KIND_CT_END.rawValue: return "conntrack_end"
        case NT_KIND_TCP_CONNECT.rawValue: return "tcp_connect"
        case NT_KIND_TCP_ACCEPT.rawValue: return "tcp_accept"
        case NT_KIND_TCP_CLOSE.rawValue: return "tcp_close"
        case NT_KIND_UDP_FLOW.rawValue: return "udp_flow"
        case NT_KIND_DNS.rawValue: return "dns"
        case NT_KIND_MAP_FULL.rawValue: return "map_full"
        case NT_KIND_DNS_LIB.rawValue: return "dns_lib"
        case NT_KIND_EXEC_NOTICE.rawValue: return "exec_notice"
        case NT_KIND_TCP_SPAN.rawValue: return "tcp_span"
        default: return "kind\(kind)"
        }
    }
}

/// Reads a fixed char array inside a C struct as a String (stops at NUL).
@inline(__always)
public func cString(_ base: UnsafeRawPointer, offset: Int, capacity: Int, length: Int? = nil) -> String {
    let p = (base + offset).assumingMemoryBound(to: UInt8.self)
    let n = length.map { min($0, capacity) } ?? strnlen(p, capacity)
    return String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self)
}

@inline(__always)
private func strnlen(_ p: UnsafePointer<UInt8>, _ cap: Int) -> Int {
    var i = 0
    while i < cap && p[i] != 0 { i += 1 }
    return i
}

/// A record the decoders cannot read: counted as the decoder's loss, never a trap.
public enum DecodeError: Error, CustomStringConvertible {
    case short(UInt32, Int)
    case unknownKind(UInt32)
    public var description: String {
        switch self {
        case .short(let k, let n): return "short \(EventKind.name(k)) record (\(n) bytes)"
        case .unknownKind(let k): return "unknown event kind \(k)"
        }
    }
}
