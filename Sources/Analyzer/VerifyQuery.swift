import Foundation
import Format

/// What `nettrail verify` prints: the capture's segment chain checked end to
/// end, every segment that fails named with the span it covers. A capture set
/// is checked file by file and across files (each file's chain continues the
/// one before). Reads the evidence only; builds no case.
public enum VerifyQuery {
    public struct Result {
        public var table: ResultTable
        public var damaged: Int
    }

    public static func run(path: String) throws -> Result {
        let ev = try TimelineReader(path: path)
        var t = ResultTable(columns: Columns.verify)
        guard ev.isSegmented else {
            t.notes.append("schema version \(ev.schemaVersion) holds decoded rows, not segments: nothing to verify beyond SQLite's own check")
            return Result(table: t, damaged: 0)
        }
        let set = try CaptureSetMembers.find(ev, meta: try ev.meta())
        let wall = { (ns: UInt64) in TimeSpec.format(ev.clock.wall(fromBoot: ns)) }
        var segments = 0, records = 0, damaged = 0
        let files: [(reader: TimelineReader, meta: [String: String], index: Int)] =
            set?.members.map { ($0.reader, $0.meta, $0.index) } ?? [(ev, (try? ev.meta()) ?? [:], 0)]
        for f in files {
            var opener = SegmentOpener(continuing: f.index == 0 ? Segment.zeroDigest
                : CaptureSet.bytes(hex: f.meta[CaptureSet.Key.previousChainHead]) ?? Segment.zeroDigest)
            var expected = f.meta[CaptureSet.Key.firstSeq].flatMap(Int64.init) ?? 0
            let name = set == nil ? "" : " of \((f.reader.path as NSString).lastPathComponent)"
            try f.reader.forEachSegment { seg in
                let h = seg.header
                segments += 1
                if h.seq != expected {
                    damaged += 1
                    t.append([.int(expected), .text(""), .text(""), .null, .null, .null,
                              .text(h.seq > expected ? "segments \(expected)–\(h.seq - 1)\(name) missing" : "sequence out of order\(name)")])
                }
                expected = h.seq + 1
                do {
                    let payload = try seg.stored.withUnsafeBytes { try opener.open(header: h, stored: $0, sha256: seg.sha256) }
                    var n = 0
                    try payload.withUnsafeBytes { try Segment.forEachRecord(in: $0) { _, _ in n += 1 } }
                    guard n == h.records else { throw SegmentError.framing("\(n) records where the header says \(h.records)") }
                    records += n
                } catch let e as SegmentError {
                    damaged += 1
                    t.append([.int(h.seq), .text(h.source), .text(h.ring), .text(wall(h.firstTs)), .text(wall(h.lastTs)),
                              .int(Int64(h.records)), .text(e.description + name)])
                }
            }
            if f.meta["end_boot_ns"] == nil {
                t.notes.append("\(set == nil ? "the capture" : (f.reader.path as NSString).lastPathComponent) was not closed cleanly: it ends at its last commit")
            }
            if f.reader.walMissing { t.notes.append(InfoQuery.walMissingNote(f.reader.path)) }
            if let d = f.reader.walDamage {
                damaged += 1
                t.notes.append(InfoQuery.walDamageNote(f.reader, d))
            }
        }
        if let set {
            for g in set.gaps {
                // Files --max-files removed are a loss the recorder wrote, not damage.
                if !g.rotatedOut { damaged += 1 }
                t.notes.append(set.note(g, wall: wall))
            }
            for (index, text) in set.brokenLinks {
                damaged += 1
                let m = set.members.first { $0.index == index }!
                t.append([.int(m.meta[CaptureSet.Key.firstSeq].flatMap(Int64.init) ?? 0), .text(""), .text(""),
                          .text(wall(m.from)), .null, .null, .text(text)])
            }
            t.notes += set.notes
        }
        let whole = set.map { " in \($0.members.count) files" } ?? ""
        if damaged == 0 {
            t.notes.insert("\(segments) segments, \(records) records\(whole): every digest and frame checks", at: 0)
        } else {
            t.notes.insert(set == nil ? "\(damaged) of \(segments) segments damaged; the others (\(records) records) check"
                : "\(damaged) problems in \(segments) segments\(whole); the other segments' \(records) records check", at: 0)
        }
        return Result(table: t, damaged: damaged)
    }
}
