import Analyzer
import ArgumentParser
import Foundation
import Format
#if canImport(Glibc)
import Glibc
#endif

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
            ContainersCommand.self,
            ReportCommand.self,
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

/// The capture file every subcommand reads, and how its answer is printed.
struct CaptureOptions: ParsableArguments {
    @Argument(help: "A capture written by nettrail-record (any file of a rotated set: the set is read as one).")
    var file: String

    @Option(name: .long, help: "table, json (JSON Lines) or csv. JSON and CSV hold data only, every column; notes go to stderr.")
    var format: OutputFormatOption = .table

    @Option(name: .customLong("case"), help: "The case database to use or build (default: a cache directory, never beside the capture).")
    var casePath: String?

    @Flag(name: .long, help: "Every column, none shortened (default: the columns that answer the question, fitted to the terminal).")
    var wide = false

    @Option(name: [.customShort("o"), .customLong("columns")], help: "Only these columns, in this order: a,b,c (any format).")
    var columns: String?

    @Option(name: .long, help: "At most N rows (the first, in time order).")
    var limit: Int?

    @Option(name: .long, help: "Where a time typed without a zone is: UTC (default), +02:00, or a zone name (Europe/Berlin).")
    var tz: String?

    var columnList: [String]? { columns.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } } }

    /// Checks `-o` and `--limit` against a subcommand's columns: called by its `validate()`.
    func validate(_ declared: [Column]) throws {
        if let l = columnList { try UnknownColumnError.check(l, against: declared) }
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more") }
        if let tz, Self.zone(tz, at: 0) == nil { throw ValidationError("--tz \(tz): not UTC, ±HH:MM or a zone name") }
    }

    /// A zone's offset east of UTC at a wall time (a named zone's rules give it).
    static func zone(_ text: String, at wall: Int64) -> Int? {
        if text == "UTC" || text == "Z" { return 0 }
        let u = Array(text.utf8)
        if u.count == 6, u[0] == 43 || u[0] == 45, u[3] == 58, let h = Int(text.dropFirst().prefix(2)), let m = Int(text.suffix(2)),
           h < 24, m < 60 {
            return (h * 3600 + m * 60) * (u[0] == 43 ? 1 : -1)
        }
        return TimeZone(identifier: text)?.secondsFromGMT(for: Date(timeIntervalSince1970: Double(wall) / 1e9))
    }

    var layout: TableLayout { TableLayout(columns: columnList, wide: wide, width: wide ? nil : terminalWidth()) }

    func open(rebuild: Bool = false) -> Capture { openCapture(file, casePath: casePath, tz: tz, rebuild: rebuild) }
}

/// Opens a capture (building its case on first use) or fails with one line.
func openCapture(_ file: String, casePath: String?, tz: String?, rebuild: Bool = false) -> Capture {
    do {
        let c = try Capture(path: file, casePath: casePath, rebuildCase: rebuild)
        // Once any build is done: an answer is what it is for. A build's big arrays grow and
        // are freed many times over, and glibc's defaults (each its own mapping) suit them.
        HugePages.adviseHeap()
        try c.load()
        if let tz, let off = CaptureOptions.zone(tz, at: c.startWall) { c.zone = (off, tz) }
        return c
    } catch { fail(error) }
}

/// How wide a table may be: the terminal's width, or 160 when stdout is not one (a pipe, a file).
func terminalWidth() -> Int {
    guard isatty(STDOUT_FILENO) != 0 else { return 160 }
    var w = winsize()
    if ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &w) == 0, w.ws_col > 0 { return Int(w.ws_col) }
    return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
}

enum OutputFormatOption: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
    var format: OutputFormat { OutputFormat(rawValue: rawValue)! }
}

/// --from/--to (or --last) as typed, resolved against the capture's clock. Parsed unconditionally:
/// "-5m" is a time (before the capture's end), not an unknown option.
struct WindowOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Start of the window: \(timeForms).", valueName: "time"))
    var from: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("End of the window (same forms as --from).", valueName: "time"))
    var to: String?

    @Option(name: .long, help: ArgumentHelp("Only the capture's last DURATION (10m, 30s, 1h30m): --from -DURATION.", valueName: "duration"))
    var last: String?

    func validate() throws {
        try validateTime(from, "--from")
        try validateTime(to, "--to")
        if let last {
            guard TimeSpec.durationNs(last) != nil else { throw ValidationError("--last \(last): not a duration (10m, 30s, 1h30m, 500ms)") }
            if from != nil { throw ValidationError("--last and --from both set the window's start: give one") }
        }
    }

    func resolve(_ c: Capture) -> TimeWindow {
        do { return try c.window(from: last.map { "-" + $0 } ?? from, to: to) } catch { fail(error) }
    }
}

/// The time forms every option that takes a time accepts.
let timeForms = "RFC 3339 (2026-11-26T21:39:26.5Z), a wall time read as UTC or --tz (2026-11-26 21:39:26, 21:39:26), Unix seconds, +DURATION after the capture's start or -DURATION before its end (+90, +1m30s, -5m)"

/// The owner filters every subcommand that lists processes' work spells the same way.
struct OwnerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Container id (12 or more hex characters of it) or name (in full).", valueName: "id"))
    var container: String?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Only this pid (every incarnation of it).", valueName: "pid"))
    var pid: UInt32?

    @Option(name: .long, help: ArgumentHelp("Only tasks whose name (comm) matches this shell glob, e.g. 'curl', 'python*'.", valueName: "glob"))
    var comm: String?
}

/// A subcommand's help: examples first, then what its columns mean.
func helpText(examples: [String], columns: [Column]? = nil, more: String = "") -> String {
    var s = "Examples:\n" + examples.map { "  " + $0 }.joined(separator: "\n")
    if !more.isEmpty { s += "\n\n" + more }
    if let columns { s += "\n\n" + columns.helpText }
    return s
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

/// Prints `table` with `notes` (about the arguments) and the capture's decode notes added:
/// after a table's rows, or on stderr beside JSON and CSV (which hold data only).
func emit(_ table: ResultTable, _ options: CaptureOptions, capture: Capture? = nil, notes: [String] = []) {
    var t = table
    if let n = options.limit { t.limit(n) }
    emit(t, options.format, layout: options.layout, capture: capture, notes: notes)
}

func emit(_ table: ResultTable, _ format: OutputFormatOption, layout: TableLayout? = nil, capture: Capture? = nil,
          notes: [String] = []) {
    var t = table
    t.notes = notes + t.notes + (capture?.decodeNotes() ?? [])
    if t.rows.isEmpty, t.notes.isEmpty, let capture {
        t.notes.append("nothing matches in this capture, which runs \(capture.spanText)")
    }
    let l = layout ?? TableLayout(width: terminalWidth())
    writeOut(t.renderBytes(format.format, l))
    if format != .table { writeNotes(t.notes) }
}

/// `emit` for a timeline written as a table straight from its lines: the same rows, notes
/// and `--limit` (the caller keeps JSON, CSV and row filters on `emit`).
func emit(_ answer: TimelineAnswer, _ options: CaptureOptions, capture: Capture, notes before: [String]) {
    var notes = before
    let shown = min(options.limit ?? .max, answer.rowCount)
    if shown < answer.rowCount { notes.append("showing the first \(shown) of \(answer.rowCount) rows (--limit)") }
    notes += answer.notes + capture.decodeNotes()
    if shown == 0, notes.isEmpty { notes.append("nothing matches in this capture, which runs \(capture.spanText)") }
    answer.table(options.layout, rows: shown, notes: notes) { writeOut($0) }
}

/// Bytes to stdout as they are (a busy answer is megabytes: no copy into Data first). A
/// reader that went away ends the process: SIGPIPE, or the failed write where it is ignored.
func writeOut(_ bytes: [UInt8]) {
    bytes.withUnsafeBufferPointer { writeOut($0) }
}

func writeOut(_ b: UnsafeBufferPointer<UInt8>) {
    var done = 0
    while done < b.count {
        let n = write(STDOUT_FILENO, b.baseAddress! + done, b.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { exit(EXIT_FAILURE) }
        done += n
    }
}

/// An answer read a stretch at a time (`TimeStretches`): each stretch's rows written as they
/// come (`TableStream`), `filter` applied to them, `--limit` ending the reading, then the
/// notes as `emit` gives them.
func emitStream<Part: StreamedRows>(_ columns: [Column], _ options: CaptureOptions, capture c: Capture, notes before: [String],
                                    minimum: [String: Int] = [:], filter: RowFilter = RowFilter(),
                                    _ read: (_ body: (Part) throws -> Bool) throws -> [String]) throws {
    let template = ResultTable(columns: columns)
    var out = TableStream(columns: template, format: options.format.format, layout: options.layout, minimum: minimum)
    var cut = false
    let notes = try read { part in
        if filter.isEmpty {
            var n = part.rowCount
            if let limit = options.limit, out.count + n > limit { n = limit - out.count; cut = true }
            writeOut(part.table(into: &out, rows: n))
            return !cut
        }
        var t = template
        t.rows = part.rows
        filter.apply(&t)
        if let limit = options.limit, out.count + t.rows.count > limit {
            t.rows.removeLast(out.count + t.rows.count - limit)
            cut = true
        }
        writeOut(out.write(t.rows))
        return !cut
    }
    var all = before
    if cut, let limit = options.limit { all.append("showing the first \(limit) rows (--limit)") }
    all += notes + c.decodeNotes()
    if out.count == 0 && all.isEmpty { all.append("nothing matches in this capture, which runs \(c.spanText)") }
    writeOut(out.end(notes: all))
    if options.format != .table { writeNotes(all) }
}

/// Notes beside data (JSON, CSV, a written file): on stderr, one line each.
func writeNotes(_ notes: [String]) {
    FileHandle.standardError.write(Data(notes.map { "nettrail: note: \($0.split(whereSeparator: \.isNewline).joined(separator: " "))\n" }.joined().utf8))
}
