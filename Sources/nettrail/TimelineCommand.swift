import Analyzer
import ArgumentParser
import Foundation

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "A chronological replay of process and network events.",
        discussion: helpText(examples: [
            "nettrail timeline capture.db --from +10 --to +15 --container demo-web",
            "nettrail timeline capture.db --last 30s --kind exec,connect",
            "nettrail timeline capture.db --pid 5150 --limit 50",
        ], columns: TimelineQuery.columns,
           more: "Kinds (--kind): \(TimelineQuery.kinds.joined(separator: ", ")); process is fork, exec and exit."))

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @OptionGroup var owner: OwnerOptions

    @Option(name: .long, help: ArgumentHelp("Only these kinds of event, comma-separated: \(TimelineQuery.kinds.joined(separator: ", ")).",
                                            valueName: "kind,..."))
    var kind: String?

    var kinds: Set<String>? { kind.map { Set($0.split(separator: ",").map(String.init)) } }

    func validate() throws {
        try capture.validate(TimelineQuery.columns)
        for k in kinds ?? [] where !TimelineQuery.kinds.contains(k) {
            throw ValidationError("--kind \(k): no such kind (kinds: \(TimelineQuery.kinds.joined(separator: ",")))")
        }
    }

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        do {
            let nat = try? ConntrackNATResolver(c)
            if Self.isLong(w) { return try stream(c, w, nat: nat) }
            var t = try TimelineQuery.run(c, from: w.from, to: w.to, container: owner.container, kinds: kinds, nat: nat)
            RowFilter(pid: owner.pid, comm: owner.comm).apply(&t)
            // A busy window is ~100 k cells and their rows: the process ends here, without
            // freeing them one by one first (the table would otherwise die at its last use).
            withExtendedLifetime(t) {
                emit(t, capture, capture: c, notes: w.notes + c.containerNotes(owner.container))
                Foundation.exit(EXIT_SUCCESS)
            }
        } catch { fail(error) }
    }

    /// Past this, or with an open end, a window is written a stretch of time at a time: a
    /// whole capture's timeline is millions of lines, too many to hold before the first is shown.
    static let longest: UInt64 = 10_000_000_000

    static func isLong(_ w: TimeWindow) -> Bool {
        guard let from = w.from, let to = w.to else { return true }
        return to > from && to - from > longest
    }

    /// The window's lines as each stretch of it is read, then the notes (as `emit` gives them).
    private func stream(_ c: Capture, _ w: TimeWindow, nat: NATResolver?) throws {
        let filter = RowFilter(pid: owner.pid, comm: owner.comm)
        var widest = TimelineQuery.widest
        widest["container"] = c.containerIDs.map(\.count).max()
        var out = TableStream(columns: ResultTable(columns: TimelineQuery.columns), format: capture.format.format,
                              layout: capture.layout, minimum: widest)
        var cut = false
        let notes = try TimelineQuery.stream(c, from: w.from, to: w.to, container: owner.container, kinds: kinds, nat: nat) { rows in
            var t = ResultTable(columns: TimelineQuery.columns)
            t.rows = rows
            filter.apply(&t)
            if let limit = capture.limit, out.count + t.rows.count > limit {
                t.rows.removeLast(out.count + t.rows.count - limit)
                cut = true
            }
            FileHandle.standardOutput.write(Data(out.write(t.rows)))
            return !cut
        }
        var all = w.notes + c.containerNotes(owner.container)
        if cut, let limit = capture.limit { all.append("showing the first \(limit) rows (--limit)") }
        all += notes + c.decodeNotes()
        if out.count == 0 && all.isEmpty { all.append("nothing matches in this capture, which runs \(c.spanText)") }
        FileHandle.standardOutput.write(Data(out.end(notes: all)))
        if capture.format != .table { writeNotes(all) }
    }
}
