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
            if TimeStretches.isLong(c, from: w.from, to: w.to) {
                var widest = TimelineQuery.widest
                widest["container"] = c.containerIDs.map(\.count).max()
                return try emitStream(TimelineQuery.columns, capture, capture: c, notes: w.notes + c.containerNotes(owner.container),
                                      minimum: widest, filter: RowFilter(pid: owner.pid, comm: owner.comm)) {
                    try TimelineQuery.streamAnswers(c, from: w.from, to: w.to, container: owner.container, kinds: kinds, nat: nat, $0)
                }
            }
            let answer = try TimelineQuery.answer(c, from: w.from, to: w.to, container: owner.container, kinds: kinds, nat: nat)
            let filter = RowFilter(pid: owner.pid, comm: owner.comm), notes = w.notes + c.containerNotes(owner.container)
            // A busy window is ~20 k lines: the process ends here, without freeing them one by
            // one first (they would otherwise die at their last use).
            withExtendedLifetime(answer) {
                if capture.format == .table, filter.isEmpty {
                    emit(answer, capture, capture: c, notes: notes)
                } else {
                    var t = answer.table
                    filter.apply(&t)
                    withExtendedLifetime(t) { emit(t, capture, capture: c, notes: notes) }
                }
                Foundation.exit(EXIT_SUCCESS)
            }
        } catch { fail(error) }
    }
}
