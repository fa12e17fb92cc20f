import Analyzer
import ArgumentParser
import Foundation

@main
struct Nettrail: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nettrail",
        abstract: "Replay a nettrail capture: who ran what, in which container, and who owned which connection.",
        version: "0.1.0",
        subcommands: [
            InfoCommand.self,
            ProcessesCommand.self,
            ConnectionsCommand.self,
            WhoCommand.self,
            TimelineCommand.self,
            NATCommand.self,
            DNSCommand.self,
            IndexCommand.self,
            VerifyCommand.self,
        ]
    )

    /// A usage error is one line on stderr and exit 2, as conntrack does (the parser would add
    /// its usage block and exit 64); --help and --version print as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let text = message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if exitCode(for: error) == .success || text.isEmpty { exit(withError: error) }
            fail("\(text) (see nettrail help)", status: usageStatus)
        }
    }
}

/// The capture file every subcommand reads.
struct CaptureOptions: ParsableArguments {
    @Argument(help: "A capture written by nettrail-record.")
    var file: String

    @Option(name: .long, help: "table, json (JSON Lines) or csv.")
    var format: OutputFormatOption = .table

    @Option(name: .customLong("case"), help: "The case database to use or build (default: a cache directory, never beside the capture).")
    var casePath: String?

    func open(rebuild: Bool = false) -> Capture {
        do {
            let c = try Capture(path: file, casePath: casePath, rebuildCase: rebuild)
            try c.load()
            return c
        } catch { fail(error) }
    }
}

enum OutputFormatOption: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
    var format: OutputFormat { OutputFormat(rawValue: rawValue)! }
}

/// --from/--to as typed, resolved against the capture's clock. Parsed unconditionally:
/// "-5" is a (bad) time, not an unknown option.
struct WindowOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional,
            help: "Start of the window: RFC 3339, Unix seconds, or +SECONDS from capture start.")
    var from: String?

    @Option(name: .long, parsing: .unconditional, help: "End of the window (same forms as --from).")
    var to: String?

    func validate() throws {
        try validateTime(from, "--from")
        try validateTime(to, "--to")
    }

    func resolve(_ c: Capture) -> TimeWindow {
        do { return try c.window(from: from, to: to) } catch { fail(error) }
    }
}

/// The form and calendar of a time, before any capture is opened.
func validateTime(_ text: String?, _ option: String) throws {
    guard let text else { return }
    do { try TimeSpec.validate(text) } catch { throw ValidationError("\(option): \(error)") }
}

/// Exit status of a usage error (as conntrack's PARAMETER_PROBLEM); runtime errors exit 1.
let usageStatus: Int32 = 2

/// One line on stderr, exit 1 (2 for an argument the capture cannot answer for): never a stack trace.
func fail(_ error: Any, status: Int32? = nil) -> Never {
    var text = "\(error)"
    if text.hasPrefix("no such table: ") {
        text = "this capture has no \(text.dropFirst("no such table: ".count)) table: it was recorded without that source, or is damaged"
    }
    // One line whatever the message holds (SQLite's integrity reports span several).
    text = text.split(whereSeparator: \.isNewline).joined(separator: " ")
    let code = status ?? (error is TimeRangeError || error is TimeSpecError ? usageStatus : 1)
    FileHandle.standardError.write(Data("nettrail: \(text)\n".utf8))
    Foundation.exit(code)
}

/// Prints `table` with `notes` (about the arguments) and the capture's decode notes added.
func emit(_ table: ResultTable, _ format: OutputFormatOption, capture: Capture? = nil, notes: [String] = []) {
    var t = table
    t.notes = notes + t.notes + (capture?.decodeNotes() ?? [])
    FileHandle.standardOutput.write(Data(t.render(format.format).utf8))
}
