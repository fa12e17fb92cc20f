import Format

/// What `nettrail verify` prints: the capture's segment chain checked end to
/// end, every segment that fails named with the span it covers. Reads the
/// evidence only; builds no case.
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
        let wall = { (ns: UInt64) in TimeSpec.format(ev.clock.wall(fromBoot: ns)) }
        var opener = SegmentOpener()
        var expected: Int64 = 0
        var segments = 0, records = 0, damaged = 0
        try ev.forEachSegment { seg in
            let h = seg.header
            segments += 1
            if h.seq != expected {
                damaged += 1
                t.append([.int(expected), .text(""), .text(""), .null, .null, .null,
                          .text(h.seq > expected ? "segments \(expected)–\(h.seq - 1) missing" : "sequence out of order")])
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
                          .int(Int64(h.records)), .text(e.description)])
            }
        }
        if damaged == 0 {
            t.notes.append("\(segments) segments, \(records) records: every digest and frame checks")
        } else {
            t.notes.append("\(damaged) of \(segments) segments damaged; the others (\(records) records) check")
        }
        if (try? ev.meta()["end_boot_ns"]) == nil {
            t.notes.append("the capture was not closed cleanly: it ends at its last commit")
        }
        if ev.walMissing { t.notes.append(InfoQuery.walMissingNote(ev.path)) }
        if let d = ev.walDamage {
            damaged += 1
            t.notes.append(InfoQuery.walDamageNote(ev, d))
        }
        return Result(table: t, damaged: damaged)
    }
}
