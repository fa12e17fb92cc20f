import Analyzer
import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "One self-contained HTML page (or a Perfetto trace) of the capture: process lanes by container, connections, NAT, DNS, losses.",
        discussion: helpText(examples: [
            "nettrail report capture.db -o report.html",
            "nettrail report capture.db -o web.html --from +10 --to +40",
            "nettrail report capture.db -o report.html --force --max-connections 20000",
            "nettrail report capture.db -o trace.json --format chrome-trace",
        ], more: """
            The page opens offline (no network access): processes are lanes from start to exit, \
            grouped by container; a connection is a bar on its owner's lane, with its tuple, direction, \
            state, NAT translation and DNS name on hover or click; loss windows are shaded. The search \
            box keeps the lanes whose pid, program, argv, address or name contains the text.

            --format chrome-trace writes the same picture as Chrome Trace Event JSON, which Perfetto \
            and chrome://tracing open: each container (the host, the kernel threads) a process, each \
            of its processes a thread with its execs; a connection a slice on its owner's thread, its \
            tuple, NAT translation and DNS name as arguments (one that overlaps another or outlives \
            the process on a row beside it); losses as instants. The notes the page would show go to stderr.
            """))

    @Argument(help: "A capture written by nettrail-record.")
    var file: String

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("Where to write the page (or the trace).", valueName: "path"))
    var output: String

    @Option(name: .long, help: "html (a page for a browser) or chrome-trace (JSON for Perfetto or chrome://tracing).")
    var format: ReportFormat = .html

    @Flag(name: .long, help: "Replace the output file if it exists (never a directory, never the capture).")
    var force = false

    @Option(name: .long, help: "Draw at most N connections (the earliest); the page says how many were left out.")
    var maxConnections: Int = 5000

    @Option(name: .customLong("case"), help: "The case database to use or build (default: a cache directory, never beside the capture).")
    var casePath: String?

    @Option(name: .long, help: "Where a time typed without a zone is: UTC (default), +02:00, or a zone name (Europe/Berlin).")
    var tz: String?

    @OptionGroup var window: WindowOptions

    func validate() throws {
        guard !output.isEmpty else { throw ValidationError("-o/--output: give the path of the file to write") }
        guard maxConnections >= 0 else { throw ValidationError("--max-connections must be 0 or more") }
        if let tz, CaptureOptions.zone(tz, at: 0) == nil { throw ValidationError("--tz \(tz): not UTC, ±HH:MM or a zone name") }
        var link = stat(), out = stat(), cap = stat()
        guard lstat(output, &link) == 0 else { return }
        if stat(file, &cap) == 0, stat(output, &out) == 0, out.st_dev == cap.st_dev, out.st_ino == cap.st_ino {
            throw ValidationError("-o \(output) is the capture itself: refusing to overwrite evidence")
        }
        guard force else { throw ValidationError("-o \(output) exists: --force to replace it") }
        // A link is not followed: what it points at may be anything.
        guard (link.st_mode & S_IFMT) == S_IFREG else { throw ValidationError("-o \(output) is not a regular file: not replacing it") }
    }

    func run() {
        let c = openCapture(file, casePath: casePath, tz: tz)
        let w = window.resolve(c)
        let text: String
        do {
            let model = try ReportModel(c, title: (file as NSString).lastPathComponent, window: w,
                                        limits: ReportModel.Limits(connections: maxConnections))
            switch format {
            case .html: text = try ReportHTML.render(model)
            case .chromeTrace:
                text = try ReportTrace.render(model)
                writeNotes(model.notes)
            }
        } catch { fail(error) }
        // O_EXCL unless --force: a file that appeared since validate() is not replaced; O_NOFOLLOW: nor is a link's target.
        let fd = Glibc.open(output, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (force ? O_TRUNC : O_EXCL), 0o644)
        guard fd >= 0 else { fail("\(output): \(String(cString: strerror(errno)))") }
        let h = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        do { try h.write(contentsOf: Data(text.utf8)) } catch { fail("\(output): \(error)") }
        FileHandle.standardError.write(Data("nettrail: wrote \(output) (\(text.utf8.count / 1024) KiB)\n".utf8))
    }
}

enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case html
    case chromeTrace = "chrome-trace"
}
