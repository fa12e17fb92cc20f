/// Converts CLOCK_BOOTTIME ns (what every event carries) to wall-clock ns and
/// back, with the anchor pair nearest in time: the two clocks drift apart
/// when NTP slews or the wall clock is stepped, so one global offset is wrong.
public struct ClockMap: Sendable {
    /// (boot_ns, wall_ns), sorted by boot_ns.
    public let anchors: [(boot: Int64, wall: Int64)]

    /// Anchors left out because no clock can read that (a negative time): damage, not a trap.
    public let rejected: Int

    public init(anchors: [(boot: Int64, wall: Int64)]) {
        let usable = anchors.filter { $0.boot >= 0 && $0.wall >= 0 }
        self.anchors = usable.sorted { $0.boot < $1.boot }
        rejected = anchors.count - usable.count
    }

    init(db: Database) throws {
        let st = try db.prepare("SELECT boot_ns, wall_ns FROM clock_anchor ORDER BY boot_ns")
        var a: [(boot: Int64, wall: Int64)] = []
        while try st.step() { a.append((st.int64(0), st.int64(1))) }
        self.init(anchors: a)
    }

    private func nearest(_ key: Int64, _ by: ((boot: Int64, wall: Int64)) -> Int64) -> (boot: Int64, wall: Int64)? {
        guard !anchors.isEmpty else { return nil }
        var lo = 0, hi = anchors.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if by(anchors[mid]) <= key { lo = mid } else { hi = mid - 1 }
        }
        // lo is the last anchor at or before key (or the first one).
        if lo + 1 < anchors.count, by(anchors[lo]) < key {
            let a = anchors[lo], b = anchors[lo + 1]
            return by(b) - key < key - by(a) ? b : a
        }
        return anchors[lo]
    }

    public var isEmpty: Bool { anchors.isEmpty }

    /// Saturates: a boot time far from every anchor (a damaged value) maps to the end of the range, never wraps.
    public func wall(fromBoot boot: UInt64) -> Int64 {
        let b = Int64(clamping: boot)
        guard let a = nearest(b, { $0.boot }) else { return b }
        return Self.shift(b, from: a.boot, to: a.wall)
    }

    public func boot(fromWall wall: Int64) -> UInt64 {
        guard let a = nearest(wall, { $0.wall }) else { return UInt64(max(wall, 0)) }
        return UInt64(max(Self.shift(wall, from: a.wall, to: a.boot), 0))
    }

    /// value - from + to, clamped to Int64 (from and to are non-negative anchors).
    static func shift(_ value: Int64, from: Int64, to: Int64) -> Int64 {
        let (d, o1) = value.subtractingReportingOverflow(from)
        if o1 { return value < 0 ? .min : .max }
        let (r, o2) = d.addingReportingOverflow(to)
        if o2 { return d < 0 ? .min : .max }
        return r
    }
}
