import Format

/// A time the user gave that the capture cannot answer for: outside its span, or
/// after another it must precede. An argument problem, found once the capture is open.
public struct TimeRangeError: Error, CustomStringConvertible {
    public let text: String
    public var description: String { text }
}

/// A --from/--to window in boot ns, with what the answer should say about it.
public struct TimeWindow: Sendable {
    public var from: UInt64?
    public var to: UInt64?
    /// A bound that lies outside the capture: the answer can only cover the part recorded.
    public var notes: [String] = []
    public init(from: UInt64? = nil, to: UInt64? = nil) { self.from = from; self.to = to }
}

extension Capture {
    /// The capture's end when the recorder closed it, and it is not before its start
    /// (meta is evidence too: a damaged end is no end).
    public var closedEnd: UInt64? { endBoot.flatMap { $0 >= startBoot ? $0 : nil } }

    /// The later of the end and the time of the last record the segments hold (the only
    /// end a capture not closed cleanly has).
    public var lastRecordTs: UInt64 {
        let files = set?.members.map(\.reader) ?? evidence.map { [$0] } ?? []
        return max(closedEnd ?? startBoot, files.compactMap { $0.lastSegmentTs() }.max() ?? 0)
    }

    /// "from A to B", or "from A (not closed cleanly)": what messages about times quote.
    public var spanText: String {
        "from \(wallText(startBoot))" + (closedEnd.map { " to \(wallText($0))" } ?? " (not closed cleanly)")
    }

    /// A moment (`--at`): refused when it is outside the capture by more than `slack`.
    public func moment(_ text: String, option: String = "--at", slack: UInt64 = 0) throws -> UInt64 {
        let t = try bootTime(text)
        let before = t < startBoot && startBoot - t > slack
        let after = closedEnd.map { t > $0 && t - $0 > slack } ?? false
        if before || after {
            throw TimeRangeError(text: "\(option) \(text) is \(before ? "before" : "after") the capture, which runs \(spanText)")
        }
        return t
    }

    /// A window: refused when it misses the capture entirely or ends before it begins; a bound
    /// outside the capture is kept (the window is what was asked) and noted.
    public func window(from: String?, to: String?) throws -> TimeWindow {
        var w = TimeWindow(from: try from.map(bootTime), to: try to.map(bootTime))
        w.notes += timeNotes([from, to])
        if let f = w.from, let t = w.to, f > t { throw TimeRangeError(text: "--from is after --to") }
        if let t = w.to, t < startBoot {
            throw TimeRangeError(text: "--to \(to ?? "") is before the capture, which runs \(spanText)")
        }
        if let f = w.from, let end = closedEnd, f > end {
            throw TimeRangeError(text: "--from \(from ?? "") is after the capture, which runs \(spanText)")
        }
        if let f = w.from, f < startBoot {
            w.notes.append("--from \(from ?? "") is before the capture, which runs \(spanText): nothing earlier was recorded")
        }
        if let t = w.to, let end = closedEnd, t > end {
            w.notes.append("--to \(to ?? "") is after the capture, which runs \(spanText): nothing later was recorded")
        }
        return w
    }
}
