import Analyzer
import ArgumentParser
import Foundation

struct IndexCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index",
        abstract: "Decode a capture's raw records once into its case (done on first query anyway).",
        discussion: helpText(examples: [
            "nettrail index capture.db",
            "nettrail index capture.db --case /cases/host1.case --rebuild",
        ]))

    @OptionGroup var capture: CaptureOptions

    @Flag(name: .long, help: "Rebuild the case even if it is current.")
    var rebuild = false

    func validate() throws { try capture.validate(Columns.info) }

    func run() {
        let c = capture.open(rebuild: rebuild)
        var t = ResultTable(columns: ["field", "value"])
        t.append([.text("case"), .text(c.casePath ?? "(none: this capture holds decoded rows)")])
        if let s = c.indexed {
            t.append([.text("segments"), .int(Int64(s.segments))])
            t.append([.text("events"), .int(Int64(s.records))])
            t.append([.text("seconds"), .double((s.seconds * 1000).rounded() / 1000)])
            t.append([.text("events_per_s"), .int(Int64(Double(s.records) / max(s.seconds, 1e-6)))])
            if s.damaged > 0 { t.notes.append("\(s.damaged) damaged segments: see nettrail verify") }
            if s.malformed > 0 { t.notes.append("\(s.malformed) records could not be decoded") }
        } else if c.casePath != nil {
            t.notes.append("the case was already current")
        }
        emit(t, capture)
    }
}

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check every segment's digest chain and framing; exit 1 if any is damaged.",
        discussion: helpText(examples: [
            "nettrail verify capture.db",
            "nettrail verify capture.db --format json",
        ], columns: Columns.verify))

    @Argument(help: "A capture written by nettrail-record (any file of a rotated set: every file and the chain across them are checked).")
    var file: String

    @Option(name: .long, help: "table, json (JSON Lines) or csv.")
    var format: OutputFormatOption = .table

    func run() {
        do {
            let r = try VerifyQuery.run(path: file)
            emit(r.table, format)
            if r.damaged > 0 { Foundation.exit(1) }
        } catch { fail(error) }
    }
}
