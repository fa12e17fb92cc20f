import Format

extension Capture {
    /// What reading this capture's rows met that could not be what a recorder wrote: values out
    /// of range (those rows left out), clock anchors with impossible times, an end before the start.
    public func decodeNotes() -> [String] {
        var notes: [String] = []
        for r in [evidence, reader].compactMap({ $0 }) where !r.db.outOfRange.isEmpty {
            let columns = r.db.outOfRange.keys.sorted().joined(separator: ", ")
            let values = r.db.outOfRange.values.reduce(0, +)
            notes.append("\(values) out-of-range values (\(columns)) in the \(r.kind == .caseDatabase ? "case" : "capture"): "
                + "\(r.db.rowsLeftOut) damaged rows left out (see nettrail info)")
        }
        if clock.rejected > 0 {
            notes.append("\(clock.rejected) clock anchors hold negative times and were left out: wall times may be off")
        }
        if let end = endBoot, end < startBoot {
            notes.append("the capture's recorded end is before its start: its end is treated as unknown")
        }
        return notes
    }
}
