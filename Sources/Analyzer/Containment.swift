/// How an interval stands to the moment a question asks about. Capture times are
/// exact (ns boot times), so an interval that holds the moment outranks any other;
/// the slack only allows for clock error between the asker's log and the capture.
public struct Proximity: Sendable, Hashable, Comparable {
    /// The interval holds the moment.
    public var live: Bool
    /// ns between the moment and the interval's nearer edge (0 when live).
    public var distance: UInt64
    /// The interval begins after the moment (else it ended before it, or holds it).
    public var after: Bool

    public init(live: Bool, distance: UInt64, after: Bool) {
        self.live = live; self.distance = distance; self.after = after
    }

    public static let exact = Proximity(live: true, distance: 0, after: false)

    /// [start, end] (a connection: both stamps are events it was seen at), or [start, end)
    /// when `endExclusive` (a NAT mapping ends when its entry is replaced or destroyed);
    /// `end` nil: still open at the end of what was recorded.
    public static func of(start: UInt64, end: UInt64?, endExclusive: Bool = false, at t: UInt64) -> Proximity {
        if t < start { return Proximity(live: false, distance: start - t, after: true) }
        guard let end else { return .exact }
        if t < end || (t == end && !endExclusive) { return .exact }
        return Proximity(live: false, distance: t - end, after: false)
    }

    /// A chain (a NAT mapping and the socket behind it) is live only when every link is;
    /// its distance is that of its farthest link.
    public func and(_ o: Proximity) -> Proximity {
        if live && o.live { return .exact }
        let far = [self, o].filter { !$0.live }.max { $0.distance < $1.distance }!
        return far
    }

    /// Within `slack` of the moment (live, or nearby).
    public func within(_ slack: UInt64) -> Bool { live || distance <= slack }

    public static func < (a: Proximity, b: Proximity) -> Bool {
        if a.live != b.live { return a.live }
        return a.distance < b.distance
    }

    /// "live", or "nearby: ended 1.234 ms before" / "nearby: began 0.050 ms after".
    public var text: String { live ? "live" : "nearby: " + edgeText }

    /// "ended 1.234 ms before" / "began 0.050 ms after".
    public var edgeText: String {
        (after ? "began " : "ended ") + Self.milliseconds(distance) + (after ? " after" : " before")
    }

    static func milliseconds(_ ns: UInt64) -> String {
        let us = (ns + 500) / 1000
        let frac = String(us % 1000)
        return "\(us / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac) ms"
    }
}

/// Which owner the candidates for one moment name. One owner live at the moment is
/// the answer, whatever lies nearby; several owners live at once is ambiguous; with
/// nothing live, the nearest within the slack are all there is, and the answer says so.
public enum Attribution<Owner: Hashable>: Equatable {
    /// No candidate within the slack.
    case none
    /// Exactly one owner live at the moment; `nearby` counts the others within the slack.
    case exact(Owner, nearby: Int)
    /// Several owners live at the moment.
    case ambiguous(Set<Owner>)
    /// Nothing live; the candidates within the slack, nearest first.
    case nearestOnly([Owner], nearest: Proximity)

    public static func decide(_ candidates: [(owner: Owner, proximity: Proximity)], slack: UInt64) -> Attribution {
        let near = candidates.filter { $0.proximity.within(slack) }
        let live = near.filter { $0.proximity.live }
        let liveOwners = Set(live.map(\.owner))
        if liveOwners.count == 1 { return .exact(liveOwners.first!, nearby: near.count - live.count) }
        if liveOwners.count > 1 { return .ambiguous(liveOwners) }
        let sorted = near.sorted { $0.proximity < $1.proximity }
        guard let first = sorted.first else { return .none }
        var owners: [Owner] = []
        for c in sorted where !owners.contains(c.owner) { owners.append(c.owner) }
        return .nearestOnly(owners, nearest: first.proximity)
    }
}
