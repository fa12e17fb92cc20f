/// Every way recording can fail before it starts, worded for the person at the terminal.
public enum RecorderError: Error, CustomStringConvertible {
    case notRoot
    case bpfOpen(object: String, reason: String)
    case bpfLoad(object: String, program: String?, reason: String)
    case bpfAttach(object: String, program: String, reason: String)
    case bpfMap(object: String, map: String)
    case system(String)

    public var description: String {
        switch self {
        case .notRoot:
            return "nettrail-record must run as root (it loads BPF programs)"
        case .bpfOpen(let o, let r):
            return "cannot open BPF object \(o): \(r)"
        case .bpfLoad(let o, let p, let r):
            return "cannot load BPF program \(p.map { "\($0) " } ?? "")(object \(o)): \(r)"
        case .bpfAttach(let o, let p, let r):
            return "cannot attach BPF program \(p) (object \(o)): \(r)"
        case .bpfMap(let o, let m):
            return "BPF object \(o) has no map \(m)"
        case .system(let s):
            return s
        }
    }
}
