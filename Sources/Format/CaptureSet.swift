import Foundation

/// A numbered set of captures one rotating recording wrote (`nettrail-record
/// --file-size`): FILE, FILE.1, FILE.2, … Each member is a complete capture,
/// readable alone; its meta names the set and links it to the member before it,
/// and the segment chain runs across the set (member k's first segment chains
/// to member k−1's last).
public enum CaptureSet {
    /// The meta keys a member carries (besides every key a capture carries).
    public enum Key {
        /// Random, shared by every member of one recording.
        public static let id = "set_id"
        /// 0 for FILE, k for FILE.k.
        public static let index = "set_index"
        /// When the recording (member 0) began, boot ns.
        public static let startBootNs = "set_start_boot_ns"
        /// The sequence number of this member's first segment.
        public static let firstSeq = "set_first_seq"
        /// Hex of the previous member's last segment digest: this member's first segment chains to it.
        public static let previousChainHead = "set_prev_chain_head"
        /// The previous member's span ("from_ns,to_ns", boot ns) and segment records:
        /// what is gone when that member is.
        public static let previousSpan = "set_prev_span"
        public static let previousRecords = "set_prev_records"
        /// The highest index --max-files removed, when any was: every index up to it is a
        /// rotated_out loss in the member that removed it.
        public static let rotatedOutThrough = "set_rotated_out_through"

        public static let all = [id, index, startBootNs, firstSeq, previousChainHead, previousSpan, previousRecords,
                                 rotatedOutThrough]
    }

    /// The highest index a member may have: names past it are not read as members.
    public static let maxIndex = 1_000_000

    /// FILE for 0, FILE.k for k.
    public static func memberPath(base: String, index: Int) -> String {
        index == 0 ? base : base + ".\(index)"
    }

    /// The numbered names FILE.k (k ≥ 1) in FILE's directory, by index: what a set may hold
    /// besides FILE. Names with a leading zero or a sign are not members.
    public static func numberedPaths(base: String) -> [(index: Int, path: String)] {
        let dir = (base as NSString).deletingLastPathComponent
        let name = (base as NSString).lastPathComponent
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: dir.isEmpty ? "." : dir) else { return [] }
        var out: [(Int, String)] = []
        for e in entries where e.hasPrefix(name + ".") {
            let digits = e.dropFirst(name.count + 1)
            guard !digits.isEmpty, digits.first != "0", digits.allSatisfy({ $0 >= "0" && $0 <= "9" }),
                  let k = Int(digits), k <= maxIndex else { continue }
            out.append((k, memberPath(base: base, index: k)))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    /// FILE.k already in FILE's place, for a rotating recording that will write those names: checked
    /// as TimelineWriter checks FILE (without `force` any refuses the start; with it each must be a
    /// capture or empty), so an older set's members never mix into the new one. The paths to remove.
    public static func staleMembers(base: String, force: Bool) throws -> [String] {
        try numberedPaths(base: base).map(\.path).filter { p in
            switch TimelineWriter.existing(p) {
            case .nothing: return false
            case .notReplaceable(let what) where force: throw TimelineWriteError.notReplaceable(p, what)
            case .notReplaceable, .replaceable:
                guard force else { throw TimelineWriteError.exists(p) }
                return true
            }
        }
    }

    /// FILE, given a member's path and its index (FILE.k names member k).
    public static func base(of path: String, index: Int) -> String? {
        guard index > 0 else { return path }
        let suffix = ".\(index)"
        return path.hasSuffix(suffix) ? String(path.dropLast(suffix.count)) : nil
    }

    /// Bytes from hex (as `hexString` writes them); nil for anything else.
    public static func bytes(hex: String?) -> [UInt8]? {
        guard let hex, hex.utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var it = hex.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let hi = nibble(a), let lo = nibble(b) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        default: return nil
        }
    }

    /// "from,to" as the recorder writes `set_prev_span`.
    public static func spanText(_ from: UInt64, _ to: UInt64) -> String { "\(from),\(to)" }

    public static func span(_ text: String?) -> (from: UInt64, to: UInt64)? {
        guard let parts = text?.split(separator: ","), parts.count == 2,
              let f = UInt64(parts[0]), let t = UInt64(parts[1]), f <= t else { return nil }
        return (f, t)
    }
}
