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

    /// A usage error is one line on stderr, like every other error (the parser would add
    /// its usage block); --help and --version print as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let text = message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if exitCode(for: error) == .success || text.isEmpty { exit(withError: error) }
            fail("\(text) (see nettrail help)")
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

/// --from/--to as typed, resolved against the capture's clock.
struct WindowOptions: ParsableArguments {
    @Option(name: .long, help: "Start of the window: RFC 3339, Unix seconds, or +SECONDS from capture start.")
    var from: String?

    @Option(name: .long, help: "End of the window (same forms as --from).")
    var to: String?

    func resolve(_ c: Capture) -> (from: UInt64?, to: UInt64?) {
        do {
            let f = try from.map(c.bootTime), t = try to.map(c.bootTime)
            if let f, let t, f > t { fail("--from is after --to") }
            return (f, t)
        } catch { fail(error) }
    }
}

/// One line on stderr, exit 1: never a stack trace.
func fail(_ error: Any) -> Never {
    var text = "\(error)"
    if text.hasPrefix("no such table: ") {
        text = "this capture has no \(text.dropFirst("no such table: ".count)) table: it was recorded without that source, or is damaged"
    }
    FileHandle.standardError.write(Data("nettrail: \(text)\n".utf8))
    Foundation.exit(1)
}

func emit(_ table: ResultTable, _ format: OutputFormatOption) {
    FileHandle.standardOutput.write(Data(table.render(format.format).utf8))
}
