import Foundation
import Format

/// The members of a rotating recording's set (CaptureSet) found beside a member
/// the analyzer was given: FILE and FILE.k that carry the same set_id, in
/// order, with what is missing between them and what was found there but is
/// not the set's. Every member is opened read-only, as any evidence is.
public struct CaptureSetMembers {
    public struct Member {
        public let index: Int
        public let reader: TimelineReader
        public let meta: [String: String]
        public var path: String { reader.path }
        /// Its span in boot ns: its start to its end (or last record, when it was not finished).
        public let from: UInt64
        public let to: UInt64
        public let segments: Int
        public let records: Int
        public let head: [UInt8]?
        public let bytes: Int
    }

    /// Members the set's others name that are not there: indices first...last, the span they
    /// covered, and how many records at least (`rotatedOut`: --max-files removed them, and the
    /// recorder's rotated_out loss says so).
    public struct Gap {
        public let first: Int
        public let last: Int
        public let from: UInt64
        public let to: UInt64
        public let records: Int?
        public let rotatedOut: Bool
    }

    public let id: String
    public let members: [Member]
    public let gaps: [Gap]
    /// Files ignored, and links between members that do not hold.
    public let notes: [String]
    /// Member k's first segment does not continue member k−1's last: (k, note).
    public let brokenLinks: [(index: Int, note: String)]

    /// The set `given` belongs to, or nil when it is a capture of no set.
    public static func find(_ given: TimelineReader, meta: [String: String]) throws -> CaptureSetMembers? {
        typealias K = CaptureSet.Key
        guard let id = meta[K.id], let index = meta[K.index].flatMap(Int.init), index >= 0,
              index <= CaptureSet.maxIndex else { return nil }
        var notes: [String] = []
        var found: [Int: TimelineReader] = [index: given]
        var metas: [Int: [String: String]] = [index: meta]
        if let base = CaptureSet.base(of: given.path, index: index) {
            let candidates = (FileManager.default.fileExists(atPath: base) ? [(0, base)] : [])
                + CaptureSet.numberedPaths(base: base)
            for (k, p) in candidates where p != given.path {
                let name = (p as NSString).lastPathComponent
                guard let r = try? TimelineReader(path: p), let m = try? r.meta() else {
                    notes.append("\(name) is beside the set but is not a readable nettrail capture: ignored")
                    continue
                }
                guard m[K.id] == id else {
                    notes.append("\(name) is not a member of this set (\(m[K.id].map { "set \($0)" } ?? "a capture of no set")): ignored")
                    continue
                }
                guard m[K.index].flatMap(Int.init) == k else {
                    notes.append("\(name) says it is member \(m[K.index] ?? "?") of this set, not \(k): ignored")
                    continue
                }
                found[k] = r
                metas[k] = m
            }
        } else {
            notes.append("\((given.path as NSString).lastPathComponent) is member \(index) of a set, but not named FILE.\(index): its other members cannot be found")
        }
        var members: [Member] = []
        for k in found.keys.sorted() {
            let r = found[k]!, m = metas[k]!
            let seg = try r.segmentSummary()
            let start = m["start_boot_ns"].flatMap(UInt64.init) ?? 0
            let end = m["end_boot_ns"].flatMap(UInt64.init) ?? max(start, r.lastSegmentTs() ?? start)
            let first = r.firstSegmentTs() ?? start
            members.append(Member(index: k, reader: r, meta: m, from: min(start, first), to: max(end, start),
                                  segments: seg.count, records: seg.records, head: seg.head,
                                  bytes: CaseStore.fileState(r.path).size))
        }
        // What is missing: before the first member found, and between members.
        let newest = members.last!.meta
        let rotatedThrough = members.compactMap { $0.meta[K.rotatedOutThrough].flatMap(Int.init) }.max() ?? -1
        let setStart = newest[K.startBootNs].flatMap(UInt64.init) ?? members[0].from
        var gaps: [Gap] = []
        var brokenLinks: [(Int, String)] = []
        var previous: Member?
        for m in members {
            let expected = (previous?.index ?? -1) + 1
            let prevSpan = CaptureSet.span(m.meta[K.previousSpan])
            if m.index > expected {
                // Those the recorder removed are one rotated_out loss already; the rest are missing.
                let removedLast = previous == nil ? min(rotatedThrough, m.index - 1) : -1
                if removedLast >= expected {
                    gaps.append(Gap(first: expected, last: removedLast, from: setStart,
                                    to: removedLast == m.index - 1 ? (prevSpan?.to ?? m.from) : m.from,
                                    records: nil, rotatedOut: true))
                }
                let first = max(expected, removedLast + 1)
                if first <= m.index - 1 {
                    let from = previous?.to ?? (first == 0 ? setStart : (prevSpan?.from ?? setStart))
                    gaps.append(Gap(first: first, last: m.index - 1, from: min(from, prevSpan?.from ?? from),
                                    to: max(prevSpan?.to ?? m.from, from),
                                    records: m.meta[K.previousRecords].flatMap(Int.init).map { max(0, $0) },
                                    rotatedOut: false))
                }
            } else if let previous, m.index > 0 {
                let claimed = CaptureSet.bytes(hex: m.meta[K.previousChainHead])
                if let head = previous.head, claimed != head {
                    brokenLinks.append((m.index, "the segment chain breaks between \((previous.path as NSString).lastPathComponent) and \((m.path as NSString).lastPathComponent): the latter's first segment does not continue the former's last (a file between them is missing, or one was altered)"))
                }
            }
            previous = m
        }
        return CaptureSetMembers(id: id, members: members, gaps: gaps, notes: notes, brokenLinks: brokenLinks)
    }

    /// The note a gap gets wherever the set is described.
    public func note(_ g: Gap, wall: (UInt64) -> String) -> String {
        let which = g.first == g.last ? "file \(g.first) of the set is" : "files \(g.first)–\(g.last) of the set are"
        if g.rotatedOut {
            return "\(which) gone (removed by --max-files): what they held, between \(wall(g.from)) and \(wall(g.to)), is a rotated_out loss"
        }
        let count = g.records.map { g.first == g.last ? "\($0) events" : "at least \($0) events" } ?? "its events"
        return "\(which) missing: \(count) between \(wall(g.from)) and \(wall(g.to)) are not in any answer"
    }

    /// The loss rows missing members add to a case (rotated-out ones have the recorder's own).
    public var gapLosses: [LossRow] {
        gaps.filter { !$0.rotatedOut }.map {
            LossRow(source: CaptureLoss.recorder, kind: CaptureLoss.memberMissing, count: UInt64($0.records ?? 0),
                    fromNs: $0.from, toNs: max($0.from, $0.to))
        }
    }
}
