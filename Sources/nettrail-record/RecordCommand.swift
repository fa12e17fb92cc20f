import ArgumentParser
import Dispatch
import Foundation
import Format
import Recorder

@main
struct RecordCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nettrail-record",
        abstract: "Record process, cgroup and network events from eBPF into one SQLite capture.",
        discussion: """
            Examples:
              nettrail-record --db capture.db                  # until Ctrl-C
              nettrail-record --db capture.db --all-netns --duration 600 --max-size 2048
              nettrail-record --db /mnt/usb/host1.db --no-resolver --quiet &
              nettrail-record --db cap.db --file-size 512 --max-files 8  # cap.db, cap.db.1, ...: the newest 8 kept
            """,
        version: Recorder.version
    )

    @Option(name: .long, help: "Capture file to create.")
    var db: String

    @Option(name: .long, parsing: .unconditional,
            help: "Stop after this many seconds, at most \(Int(maxDuration)) (default: until SIGINT/SIGTERM).")
    var duration: Double?

    /// About 31 years: far inside the UInt64 ns the deadline is kept in.
    static let maxDuration = 1e9

    @Flag(name: .long, help: "Replace the capture file if it exists.")
    var force = false

    @Option(name: .long, help: "Stop cleanly once the capture reaches this many MiB (with --file-size: the set's files together).")
    var maxSize: UInt64?

    @Option(name: .long, parsing: .unconditional,
            help: "Rotate: finish each file before it would pass this many MiB (at least \(Self.minFileSize)) and go on in the next, DB.1, DB.2, ...; the analyzer reads the set as one capture.")
    var fileSize: Double?

    /// The first file holds the record layouts (about 0.1 MiB), the startup snapshot, and room for a
    /// segment (an eighth of the file) and the stop's rows: below this a file cannot hold one commit.
    static let minFileSize = 1.0

    @Option(name: .long, parsing: .unconditional,
            help: "With --file-size: keep only the newest N files; each one removed is a rotated_out loss with its span (default: keep all).")
    var maxFiles: Int?

    @Option(name: .long, help: "Stop cleanly once the capture's file system has less than this many MiB free (default 256; 0: no floor).")
    var minFree: UInt64 = 256

    @Flag(name: .long, help: "No status line (on a terminal one shows events/s by source, losses and the capture's size every 2 s).")
    var quiet = false

    @Option(name: .long, parsing: .unconditional, help: "Process ring buffer size in KiB (a power of two; default 8192).")
    var processRingKib: UInt32?

    @Option(name: .long, help: "Where conntrack mappings come from: bpf (netfilter programs, kernel 6.4+) or netlink (conntrack events, the old way).")
    var conntrackSource: ConntrackSourceKind = .bpf

    @Option(name: .long, help: "Also cover this network namespace (a path such as /run/netns/NAME or /proc/PID/ns/net); repeatable.")
    var netns: [String] = []

    @Flag(name: .long, help: "Cover every network namespace present at start, and each new one within ~250 ms.")
    var allNetns = false

    @Flag(name: .long, help: "Do not record conntrack mappings.")
    var noConntrack = false

    @Flag(name: .long, help: "Do not probe resolver libraries (no DNS names): every exec of a dynamically linked program then skips the uprobe installation into its libc, about 0.15x of a bare exec's CPU (README).")
    var noResolver = false

    @Option(name: .long, help: .hidden)
    var onlySource: [String] = []

    /// Runs before anything is created: a bad argument leaves no file behind.
    func validate() throws {
        if let maxSize, maxSize == 0 || maxSize > 1 << 40 { throw ValidationError("--max-size must be 1 to \(1 << 40) MiB") }
        if let fileSize, !(fileSize >= Self.minFileSize && fileSize <= Double(1 << 40)) {
            throw ValidationError("--file-size must be at least \(Self.minFileSize) MiB (a file holds the record layouts, the startup snapshot and a segment) and at most \(1 << 40)")
        }
        if let maxFiles {
            guard fileSize != nil else { throw ValidationError("--max-files needs --file-size (it counts the files of a rotating set)") }
            guard maxFiles >= 1 && maxFiles <= CaptureSet.maxIndex else { throw ValidationError("--max-files must be 1 to \(CaptureSet.maxIndex)") }
        }
        if minFree > 1 << 40 { throw ValidationError("--min-free must be at most \(1 << 40) MiB") }
        if let duration, !(duration > 0 && duration <= Self.maxDuration) {
            throw ValidationError("--duration must be a number of seconds above 0 and at most \(Int(Self.maxDuration))")
        }
        if let k = processRingKib, k < 4 || k & (k - 1) != 0 {
            throw ValidationError("--process-ring-kib must be a power of two, at least 4")
        }
    }

    /// Checks on the output path, as one-line errors (not usage errors).
    func checkOutput() {
        let dir = URL(fileURLWithPath: db).deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            fail("directory \(dir) does not exist")
        }
        guard access(dir, W_OK) == 0 else { fail("directory \(dir) is not writable") }
        // Checked again when the capture is created; here it fails before any BPF is loaded.
        switch TimelineWriter.existing(db) {
        case .nothing: break
        case .notReplaceable(let what) where force: fail(TimelineWriteError.notReplaceable(db, what))
        case .notReplaceable, .replaceable: if !force { fail("\(db) already exists (use --force to replace it)") }
        }
        if fileSize != nil {
            do { _ = try CaptureSet.staleMembers(base: db, force: force) } catch { fail(error) }
        }
    }

    func run() throws {
        checkOutput()
        var options = RecordOptions(dbPath: db)
        options.force = force
        options.duration = duration
        options.processRingKiB = processRingKib
        options.maxBytes = maxSize.map { $0 << 20 }
        options.fileBytes = fileSize.map { UInt64($0 * 1_048_576) }
        options.maxFiles = maxFiles
        options.minFreeBytes = minFree << 20
        options.conntrack.enabled = !noConntrack
        options.resolver.enabled = !noResolver
        options.conntrack.source = conntrackSource
        options.conntrack.netnsPaths = netns
        options.conntrack.allNetns = allNetns
        if !onlySource.isEmpty { options.onlySources = Set(onlySource) }
        let statusLine = !quiet && isatty(STDERR_FILENO) == 1
        if statusLine {
            // Rewritten in place: carriage return, the line, erase to its end.
            options.status = { s in FileHandle.standardError.write(Data("\r\(s.line)\u{1B}[K".utf8)) }
        }
        let recorder: Recorder
        do { recorder = try Recorder(options: options) } catch { fail(error) }

        var sources: [DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { recorder.stop() }
            s.resume()
            sources.append(s)
        }
        do {
            let summary = try recorder.run {
                FileHandle.standardError.write(Data("nettrail-record: recording to \(db)\n".utf8))
            }
            if statusLine { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            print(summary)
        } catch {
            if statusLine { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            fail(error)
        }
        withExtendedLifetime(sources) {}
    }

    func fail(_ error: Any) -> Never { Self.fail(error) }

    static func fail(_ error: Any, status: Int32 = 1) -> Never {
        let text = "\(error)".split(whereSeparator: \.isNewline).joined(separator: " ")
        FileHandle.standardError.write(Data("nettrail-record: \(text)\n".utf8))
        Foundation.exit(status)
    }

    /// A usage error is one line on stderr and exit 2, as conntrack's; --help and --version as usual.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let text = message(for: error).split(separator: "\n").first.map(String.init) ?? ""
            if exitCode(for: error) == .success || text.isEmpty { exit(withError: error) }
            fail("\(text) (see nettrail-record --help)", status: 2)
        }
    }
}

extension ConntrackSourceKind: ExpressibleByArgument {}
