import CBPFGlue
import Foundation
import Events
import Format
import Logging
import Synchronization

public struct RecordOptions: Sendable {
    public var dbPath: String
    public var force = false
    /// Seconds; nil records until stop().
    public var duration: Double?
    public var commandLine: [String] = CommandLine.arguments
    /// Overrides the process ring buffer size (KiB, a power of two); tests use a small one to provoke loss.
    public var processRingKiB: UInt32?
    /// Overrides the UDP flow table's size (entries); tests use a small one to provoke evictions.
    public var udpFlowTableSize: UInt32?
    /// Testing: wait this long before reading the rings, as a stalled reader would.
    public var readerStallSeconds: Double = 0
    /// The conntrack source (Conntrack/Conntrack.swift): live stream, namespaces, snapshot.
    public var conntrack = ConntrackOptions()
    /// The resolver source (Resolver/Resolver.swift): uprobes on getaddrinfo/gethostbyname*, armed on exec.
    public var resolver = ResolverOptions()
    /// Benchmarks: record only these source families (process, sockets, conntrack); nil = all.
    public var onlySources: Set<String>?
    /// Stop, cleanly, once the capture (with its WAL; a set's files together) reaches this many bytes; nil: no cap.
    public var maxBytes: UInt64?
    /// Rotate into a numbered set (CaptureSet): each file is finished before it would pass this
    /// many bytes, and recording goes on in the next; nil: one file.
    public var fileBytes: UInt64?
    /// With fileBytes: keep only the newest this many files, each removed one a rotated_out loss; nil: keep all.
    public var maxFiles: Int?
    /// Stop, cleanly, once the capture's file system has less than this free (for unprivileged
    /// users: what statvfs calls available): a recorder left running must not fill the disk of
    /// the host it is investigating.
    public var minFreeBytes: UInt64 = 256 << 20
    /// Called on the recording thread about every `statusSeconds` while recording.
    public var status: (@Sendable (RecordStatus) -> Void)?
    public var statusSeconds = 2.0

    public init(dbPath: String) { self.dbPath = dbPath }
}

public struct RecordSummary: Sendable, CustomStringConvertible {
    public var seconds: Double
    public var counts: [String: Int]
    public var losses: [String: UInt64]
    /// Rows each source's startup snapshot wrote.
    public var snapshots: [String: Int]
    /// Segments of raw records written, and their compressed size.
    public var segments: Int
    public var storedBytes: Int
    /// Files written (a rotating recording's set; 1 otherwise).
    public var files = 1

    public var description: String {
        var s = String(format: "recorded %.1f s: ", seconds)
        s += counts.isEmpty ? "no events" : counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        s += "; snapshot " + snapshots.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        s += String(format: "; %d segments, %.1f MB", segments, Double(storedBytes) / 1e6)
        if files > 1 { s += "; \(files) files" }
        let lost = losses.filter { $0.value > 0 }
        s += lost.isEmpty ? "; lost nothing" : "; LOST " + lost.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return s
    }
}

/// Loads the BPF sources, snapshots the host, and appends every ring-buffer
/// record, undecoded, to the capture's segments until stopped. One thread reads
/// the rings (libbpf calls back on the polling thread) and owns the SQLite
/// connection; sealing segments (SegmentArchive), checkpointing the WAL
/// (WALCheckpointer) and the resolver's arming (ResolverWorker) run on threads
/// of their own, and what they produce comes back to this thread to be written.
public final class Recorder: @unchecked Sendable {
    public static let version = "0.1.0"
    /// The shortest time between two reads of the rings. Each ring holds far more than this
    /// long of its peak rate (e.g. the 8 MiB socket ring: about 0.7 s of a saturated churn).
    static let readIntervalNs: UInt64 = 20_000_000

    private let options: RecordOptions
    private var sources: [Source] = []
    private let stopFlag = Atomic<Bool>(false)
    private let logger = Logger(label: "nettrail.record")

    public init(options: RecordOptions) throws {
        guard geteuid() == 0 else { throw RecorderError.notRoot }
        self.options = options
        Self.mountIfMissing(fs: "bpf", at: "/sys/fs/bpf")
        // libbpf finds syscall tracepoints' ids under tracefs.
        Self.mountIfMissing(fs: "tracefs", at: "/sys/kernel/tracing")
        // Load before touching the output file: a host that cannot run us leaves no empty capture behind.
        sources = try RecorderSources.all.compactMap { try $0.make(options) }
    }

    public func stop() { stopFlag.store(true, ordering: .relaxed) }

    /// Records until stop() or the duration; `ready` is called once the live
    /// stream is attached and the snapshot written.
    public func run(ready: (() -> Void)? = nil) throws -> RecordSummary {
        // However this ends (a throw included), sources' threads are stopped before we return.
        defer { for s in sources { s.finish?() } }
        let started = Clock.anchor()
        let files = try CaptureFiles(base: options.dbPath, force: options.force, fileBytes: options.fileBytes,
                                     maxFiles: options.maxFiles, started: started) { [self] w, start in
            try writeMeta(w, started: start)
            try writeLayouts(w)
            try w.clockAnchor(bootNs: start.boot, wallNs: start.wall)
        }
        let reserve = DiskReserve(beside: options.dbPath)
        defer { reserve.release() }
        defer { files.stopThreads() }
        // Until the live stream runs, a failure leaves no capture: it holds nothing yet, and would block a retry.
        var recording = false
        defer { if !recording { files.discard() } }

        var summary: [String: Int] = [:]
        var firstError: Error?
        let counts = KindCounts()
        var decodeErrors = 0
        let segmentTarget = CaptureFiles.segmentTarget(fileBytes: options.fileBytes)
        let archive = SegmentArchive(targetRawBytes: segmentTarget)
        let reader = RingReader()
        /// Per source: what reads a record off its first ring (records a sweep hands over go the same way).
        var deliver: [String: (UnsafeRawPointer, Int) -> Void] = [:]
        for s in sources {
            // Immutable once built: the per-record closure captures them by value (no box, no access checks).
            var archivedTable = [Bool](repeating: false, count: Int(NT_KIND_MAX.rawValue))
            for k in s.archived where k < NT_KIND_MAX.rawValue { archivedTable[Int(k)] = true }
            var liveTable = [((UnsafeRawPointer, Int, TimelineWriter) throws -> Void)?](
                repeating: nil, count: Int(NT_KIND_MAX.rawValue))
            for (k, f) in s.live where k < NT_KIND_MAX.rawValue { liveTable[Int(k)] = f }
            let archived = archivedTable, live = liveTable
            for map in s.rings {
                let ring = archive.ring(source: s.name, name: map.name)
                // Every record starts with u64 ts, u32 kind (bpf/nettrail.h).
                let handle: (UnsafeRawPointer, Int) -> Void = { data, size in
                    guard size >= 12 else { decodeErrors += 1; return }
                    let kind = Int(data.load(fromByteOffset: 8, as: UInt32.self))
                    guard kind < archived.count, archived[kind] || live[kind] != nil else { decodeErrors += 1; return }
                    counts.byKind[kind] += 1
                    if archived[kind] { archive.append(ring, data, size) }
                    if let act = live[kind] {
                        do {
                            try act(data, size, files.writer)
                        } catch is DecodeError {
                            decodeErrors += 1
                        } catch {
                            if firstError == nil { firstError = error }
                        }
                    }
                }
                try reader.add(fd: s.object.mapFD(map), handler: handle)
                if deliver[s.name] == nil { deliver[s.name] = handle }
            }
        }

        var snapshotRows: [String: Int] = [:]
        for s in sources { try s.attach(s.object) }
        for s in sources {
            if let snap = s.snapshot { snapshotRows[s.name] = try snap(s.object, files.writer) }
        }
        try files.writer.commit()
        try files.checkFirstFile(segmentTarget: segmentTarget)
        recording = true
        ready?()
        if options.readerStallSeconds > 0 { usleep(UInt32(options.readerStallSeconds * 1e6)) }

        var lossTracker = LossTracker(sources: sources.map { ($0.name, $0.object) }, since: started.boot)
        var lastCommit = Clock.boot, lastAnchor = lastCommit
        // Bounded as the CLI bounds it (NaN reads as 0): a library caller's duration cannot trap either.
        let deadline = options.duration.map { started.boot &+ UInt64(($0 > 0 ? min($0, 1e9) : 0) * 1e9) }
        var lastRead: UInt64 = 0
        var stopReason: String?
        let footprint = Footprint(path: options.dbPath, maxBytes: options.maxBytes, minFree: options.minFreeBytes)
        var statusReporter = options.status.map {
            StatusReporter(report: $0, every: options.statusSeconds, since: started.boot, sources: sources)
        }
        var diskFull = false
        while !stopFlag.load(ordering: .relaxed), firstError == nil {
            do {
                // A ring wakes its reader when a record lands in it empty: read at once, every few records
                // would cost a wakeup and a loop turn. Reading at most every readIntervalNs lets what
                // arrives meanwhile wait in the ring (no wakeup while it is not empty) and be read in one go.
                let since = Clock.boot &- lastRead
                if since < Self.readIntervalNs { usleep(UInt32((Self.readIntervalNs - since) / 1000)) }
                try files.turnStarted()
                reader.poll(timeoutMs: 100)
                lastRead = Clock.boot
                // Producers batch their wakeups: what they wrote without one is read here, at least every 100 ms.
                reader.drain()
                let now = Clock.boot
                if let deadline, now >= deadline { break }
                for s in sources { try s.poll?(files.writer, now) }
                let second = now - lastCommit >= 1_000_000_000
                if second, let why = footprint.limitReached(bytes: files.totalBytes) {
                    stopReason = why
                    break
                }
                if second {
                    // Sealed on the archive's thread; inserted below once back, at the latest on the next turn.
                    archive.flush()
                    try lossTracker.sample(into: files.writer, now: now)
                    for s in sources { try s.sweep?(s.object, deliver[s.name]!) }
                    for s in sources { try s.tick?(s.object, files.writer, now, false) }
                }
                try files.rowsWritten()
                let inserted = try archive.insertSealed(into: files)
                if second || inserted > 0 {
                    try files.writer.commit()
                    archive.committed()
                    if second { lastCommit = now }
                }
                statusReporter?.maybeReport(now: now, kindCounts: counts.byKind, lost: files.lossTotals.values.reduce(0, +),
                                            bytes: files.totalBytes)
                if now - lastAnchor >= 5_000_000_000 {
                    let a = Clock.anchor()
                    try files.writer.clockAnchor(bootNs: a.boot, wallNs: a.wall)
                    lastAnchor = now
                }
            } catch let e as SQLiteError where e.isDiskFull {
                diskFull = true
                break
            }
        }
        if let e = firstError as? SQLiteError, e.isDiskFull {
            diskFull = true
            firstError = nil
        }
        if diskFull {
            // What was read and not committed is lost, and whatever the rings still hold:
            // the space set aside is given back to say so and to finish the capture.
            let reserved = reserve.isHeld
            reserve.release()
            files.writer.rollback()
            let (lost, since) = archive.uncommitted()
            try files.writer.loss(LossRow(source: CaptureLoss.recorder, kind: CaptureLoss.diskFull, count: UInt64(lost),
                                    fromNs: min(since ?? lastCommit, lastCommit), toNs: Clock.boot))
            stopReason = "the capture's file system is full" + (reserved ? "" : " (no space could be set aside to finish it)")
        }
        // Whatever the kernel wrote before we stopped is still ours to keep, and what it held back.
        if firstError == nil && !diskFull {
            for s in sources {
                do { try s.sweep?(s.object, deliver[s.name]!) } catch { firstError = error; break }
            }
            reader.drain()
            try archive.finish(into: files)
        }
        if let firstError { throw firstError }
        let end = Clock.anchor()
        let writer = files.writer
        try lossTracker.sample(into: writer, now: end.boot)
        for s in sources { try s.tick?(s.object, writer, end.boot, true) }
        if decodeErrors > 0 {
            try writer.loss(LossRow(source: CaptureLoss.decoder, kind: CaptureLoss.malformed, count: UInt64(decodeErrors),
                                    fromNs: started.boot, toNs: end.boot))
        }
        if reader.dropped > 0 {
            try writer.loss(LossRow(source: CaptureLoss.recorder, kind: CaptureLoss.ringCopy, count: reader.dropped,
                                    fromNs: started.boot, toNs: end.boot))
        }
        try writer.clockAnchor(bootNs: end.boot, wallNs: end.wall)
        if let stopReason {
            try writer.setMeta("stop_reason", stopReason)
            FileHandle.standardError.write(Data("nettrail-record: stopped: \(stopReason)\n".utf8))
        }
        try writer.setMeta("end_boot_ns", String(end.boot))
        try writer.setMeta("end_wall_ns", String(end.wall))
        try writer.commit()
        try files.close()

        for (k, n) in counts.byKind.enumerated() where n > 0 { summary[EventKind.name(UInt32(k))] = n }
        return RecordSummary(seconds: Double(end.boot - started.boot) / 1e9, counts: summary,
                             losses: files.lossTotals, snapshots: snapshotRows,
                             segments: archive.segments, storedBytes: archive.storedBytes, files: files.fileCount)
    }

    /// What a later analyzer needs to decode the segments, or to refuse them by name.
    private func writeLayouts(_ w: TimelineWriter) throws {
        for r in RecordDecoders.layoutRows() { try w.recordKind(r) }
        // The layouts' own BTF: every source's records are in it, and nothing else is.
        guard let btf = BPFObject.btf(of: EmbeddedBPF.Abi.object) else {
            throw RecorderError.bpfOpen(object: "abi", reason: "no BTF in the record layout object")
        }
        try w.recordBTF(source: "abi", btf: btf)
    }

    private func writeMeta(_ w: TimelineWriter, started: (boot: UInt64, wall: UInt64)) throws {
        var u = utsname()
        uname(&u)
        func field<T>(_ v: T) -> String { withUnsafeBytes(of: v) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) } }
        let read = { (p: String) in (try? String(contentsOfFile: p, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "" }
        let meta: [(String, String)] = [
            ("host_name", field(u.nodename)),
            ("kernel_release", field(u.release)),
            ("machine", field(u.machine)),
            ("boot_id", read("/proc/sys/kernel/random/boot_id")),
            ("pid_max", read("/proc/sys/kernel/pid_max")),
            ("memory_hierarchy_id", String(CgroupSnapshot.memoryHierarchyID())),
            ("recorder_version", Self.version),
            ("abi_version", String(NT_ABI_VERSION)),
            ("command_line", options.commandLine.map(Self.shellQuote).joined(separator: " ")),
            ("start_boot_ns", String(started.boot)),
            ("start_wall_ns", String(started.wall)),
            ("sources", sources.map(\.name).joined(separator: ",")),
        ]
        for (k, v) in meta { try w.setMeta(k, v) }
    }

    static func shellQuote(_ s: String) -> String {
        s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@".contains($0) }) && !s.isEmpty
            ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func mountIfMissing(fs: String, at path: String) {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        if mounts.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst().prefix(2) == [Substring(path), Substring(fs)] }) {
            return
        }
        _ = mount(fs, path, fs, 0, nil)
    }
}

/// Turns the kernel's cumulative per-kind loss counters into timeline rows,
/// each covering the window since the previous sample.
struct LossTracker {
    let sources: [(String, BPFObject)]
    private var last: [String: [UInt64]] = [:]
    private var since: UInt64

    init(sources: [(String, BPFObject)], since: UInt64) {
        self.sources = sources
        self.since = since
    }

    mutating func sample(into w: TimelineWriter, now: UInt64) throws {
        for (name, obj) in sources {
            let counters = obj.lossCounters()
            let prev = last[name] ?? [UInt64](repeating: 0, count: counters.count)
            for (k, v) in counters.enumerated() where v > prev[k] {
                let kind = EventKind.name(UInt32(k))
                try w.loss(LossRow(source: name, kind: kind, count: v - prev[k], fromNs: since, toNs: now))
            }
            last[name] = counters
        }
        since = now
    }
}

/// Turns the per-kind counts into a RecordStatus every so often.
struct StatusReporter {
    let report: @Sendable (RecordStatus) -> Void
    let everyNs: UInt64
    let start: UInt64
    /// Each kind's source, by index into `names`.
    let sourceOfKind: [Int?]
    let names: [String]
    var last: (ts: UInt64, counts: [Int])

    init(report: @escaping @Sendable (RecordStatus) -> Void, every: Double, since: UInt64, sources: [Source]) {
        self.report = report
        everyNs = UInt64(max(every, 0.1) * 1e9)
        start = since
        names = sources.map(\.name)
        var of = [Int?](repeating: nil, count: Int(NT_KIND_MAX.rawValue) + 1)
        for (i, s) in sources.enumerated() {
            for k in s.archived.union(s.live.keys) where Int(k) < of.count { of[Int(k)] = i }
        }
        sourceOfKind = of
        last = (since, [Int](repeating: 0, count: sources.count))
    }

    /// `lost` and `bytes` are read only when a report is due (a set's size is a stat per file).
    mutating func maybeReport(now: UInt64, kindCounts: [Int], lost: @autoclosure () -> UInt64,
                              bytes: @autoclosure () -> UInt64) {
        guard now &- last.ts >= everyNs else { return }
        var counts = [Int](repeating: 0, count: names.count)
        for (k, n) in kindCounts.enumerated() where k < sourceOfKind.count { if let i = sourceOfKind[k] { counts[i] += n } }
        let dt = Double(now &- last.ts) / 1e9
        report(RecordStatus(seconds: Double(now &- start) / 1e9,
                            events: zip(names, counts).map { ($0, $1) },
                            rates: names.indices.map { (names[$0], Double(counts[$0] - last.counts[$0]) / dt) },
                            lost: lost(), fileBytes: Int64(bytes())))
        last = (now, counts)
    }
}

/// The capture's size and its file system's free space, against the recording's limits.
struct Footprint {
    let path: String
    let maxBytes: UInt64?
    let minFree: UInt64

    /// The capture and its WAL, in bytes.
    static func bytes(_ path: String) -> UInt64 {
        [path, path + "-wal"].reduce(UInt64(0)) { sum, p in
            var st = stat()
            return sum + (stat(p, &st) == 0 ? UInt64(st.st_size) : 0)
        }
    }

    /// Why recording must stop now, or nil; `bytes`: the capture's (a set's files together).
    func limitReached(bytes: UInt64) -> String? {
        if let maxBytes {
            if bytes >= maxBytes { return "the capture reached its size limit (\(maxBytes >> 20) MiB)" }
        }
        var fs = statvfs()
        let dir = (path as NSString).deletingLastPathComponent
        if minFree > 0, statvfs(dir.isEmpty ? "." : dir, &fs) == 0 {
            let free = UInt64(fs.f_bavail) * UInt64(fs.f_frsize)
            if free < minFree { return "free space on the capture's file system fell below \(minFree >> 20) MiB" }
        }
        return nil
    }
}

/// Records read per kind: bumped once per record by the ring callback on the recording
/// thread, so a class with an unchecked array rather than a captured (boxed, checked) var.
final class KindCounts {
    @exclusivity(unchecked) var byKind = [Int](repeating: 0, count: Int(NT_KIND_MAX.rawValue) + 1)
}
