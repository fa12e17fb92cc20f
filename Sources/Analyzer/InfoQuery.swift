import Format
import Foundation

/// What `nettrail info` prints: what the capture is, when, how much, and what was lost.
public enum InfoQuery {
    /// Said wherever a capture left in WAL mode comes without its WAL.
    public static func walMissingNote(_ path: String) -> String {
        let name = (path as NSString).lastPathComponent
        return "\(name)-wal is missing: the recorder did not finish, and only what it had checkpointed into \(name) can be read (copy \(name)-wal along with it)"
    }

    /// Said wherever a capture's WAL holds commits past a damaged frame.
    public static func walDamageNote(_ ev: TimelineReader, _ d: WALDamage) -> String {
        let name = (ev.path as NSString).lastPathComponent
        let until = ev.lastSegmentTs().map { "; the capture reads as truncated after " + TimeSpec.format(ev.clock.wall(fromBoot: $0)) } ?? ""
        return "\(name)-wal is damaged at frame \(d.frame) (byte \(d.offset)): \(d.commitsAfter) committed transaction(s) after it (\(d.framesAfter) frames) cannot be read, and what they held is missing from every answer\(until)"
    }

    /// A capture set: its files, each with its span, size and events, and what is missing or ignored.
    static func setRows(_ set: CaptureSetMembers, _ capture: Capture, into t: inout ResultTable) {
        let indices = set.members.map(\.index)
        t.append([.text("set"), .text("\(set.members.count) files (\(indices.count == 1 ? "number \(indices[0])" : "numbers \(indices.first!)–\(indices.last!)")), set \(set.id)")])
        for m in set.members {
            t.append([.text("set.file\(m.index)"),
                      .text("\(m.path): \(capture.wallText(m.from)) to \(capture.wallText(m.to)), \(m.bytes) bytes, \(m.records) events")])
        }
        for g in set.gaps {
            let text = set.note(g, wall: capture.wallText)
            t.append([.text(g.rotatedOut ? "set.rotated_out" : "set.missing"), .text(text)])
            t.notes.append(text)
        }
        for (_, text) in set.brokenLinks {
            t.append([.text("set.chain"), .text(text)])
            t.notes.append(text)
        }
        for text in set.notes {
            t.append([.text("set.ignored"), .text(text)])
            t.notes.append(text)
        }
    }

    public static func run(_ capture: Capture) throws -> ResultTable {
        var t = ResultTable(columns: Columns.info)
        let m = capture.meta
        for key in ["host_name", "kernel_release", "machine", "boot_id", "recorder_version", "command_line", "sources"] {
            if let v = m[key] { t.append([.text(key), .text(v)]) }
        }
        if let ev = capture.evidence {
            t.append([.text("schema_version"), .int(Int64(ev.schemaVersion))])
            // A set's members together.
            var seg = (count: 0, records: 0, storedBytes: 0)
            for r in capture.set?.members.map(\.reader) ?? [ev] {
                let one = try r.segmentSummary()
                seg = (seg.count + one.count, seg.records + one.records, seg.storedBytes + one.storedBytes)
            }
            t.append([.text("segments"), .int(Int64(seg.count))])
            t.append([.text("segment_events"), .int(Int64(seg.records))])
            t.append([.text("segment_bytes"), .int(Int64(seg.storedBytes))])
            if seg.records > 0 {
                t.append([.text("bytes_per_event"), .double((Double(seg.storedBytes) / Double(seg.records) * 10).rounded() / 10)])
            }
            if let set = capture.set { setRows(set, capture, into: &t) }
            if let p = capture.casePath { t.append([.text("case"), .text(p)]) }
        } else {
            t.append([.text("schema_version"), .int(Int64(capture.reader.schemaVersion))])
        }
        t.append([.text("start"), .text(capture.wallText(capture.startBoot))])
        if let end = capture.closedEnd {
            t.append([.text("end"), .text(capture.wallText(end))])
            if let why = m["stop_reason"] {
                t.append([.text("stopped"), .text(why)])
                t.notes.append("the recorder stopped early: \(why)")
            }
            t.append([.text("duration_s"), .double(Double((end - capture.startBoot) / 1_000_000) / 1000)])
        } else if let end = capture.endBoot {
            t.append([.text("end"), .text("damaged: \(capture.wallText(end)), before the start")])
        } else {
            t.append([.text("end"), .text("not closed cleanly (recorder stopped without finishing)")])
        }
        for ev in capture.set?.members.map(\.reader) ?? capture.evidence.map({ [$0] }) ?? [] {
            if ev.walMissing {
                t.append([.text("evidence"), .text(Self.walMissingNote(ev.path))])
                t.notes.append(Self.walMissingNote(ev.path))
            }
            if let d = ev.walDamage {
                t.append([.text("evidence"), .text(Self.walDamageNote(ev, d))])
                t.notes.append(Self.walDamageNote(ev, d))
            }
        }
        // Every event table the capture has, including those of newer sources.
        for (name, rows) in try capture.reader.rowCounts() {
            t.append([.text("rows." + name), .int(Int64(rows))])
        }
        for d in try capture.reader.damage() {
            t.append([.text("damaged.segment\(d.header.seq)"),
                      .text("\(d.header.source)/\(d.header.ring), \(d.header.records) events between \(capture.wallText(d.header.firstTs)) and \(capture.wallText(d.header.lastTs)): \(d.reason)")])
        }
        for r in try capture.reader.outOfRangeRows() {
            t.append([.text("damaged.rows.\(r.table)"), .text("\(r.rows) rows with out-of-range values: left out of answers")])
        }
        let losses = try capture.reader.losses()
        if losses.isEmpty {
            t.append([.text("lost"), .text("nothing")])
        } else {
            for l in losses {
                t.append([.text("lost.\(l.source).\(l.kind)"),
                          .text("\(l.count) between \(capture.wallText(l.fromNs)) and \(capture.wallText(l.toNs))")])
            }
            t.notes.append("events were lost: answers touching those windows may be incomplete")
        }
        return t
    }
}
