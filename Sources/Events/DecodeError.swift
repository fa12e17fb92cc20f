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
