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
    /// The conntrack source (Conntrack.swift): live stream, namespaces, snapshot.
    public var conntrack = ConntrackOptions()
    /// The resolver source (Resolver.swift): uprobes on getaddrinfo/gethostbyname*, armed on exec.
    public var resolver = ResolverOptions()
    /// Benchmarks: record only these source families (process, sockets, conntrack); nil = all.
    public var onlySources: Set<String>?

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

    public var description: String {
        var s = String(format: "recorded %.1f s: ", seconds)
        s += counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        s += "; snapshot " + snapshots.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        s += String(format: "; %d segments, %.1f MB", segments, Double(storedBytes) / 1e6)
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
    private var conntrack: ConntrackTracker?
    private var resolver: ResolverWorker?
    private let stopFlag = Atomic<Bool>(false)
    private let logger = Logger(label: "nettrail.record")

    public init(options: RecordOptions) throws {
        guard geteuid() == 0 else { throw RecorderError.notRoot }
        self.options = options
        Self.mountIfMissing(fs: "bpf", at: "/sys/fs/bpf")
        // libbpf finds syscall tracepoints' ids under tracefs.
        Self.mountIfMissing(fs: "tracefs", at: "/sys/kernel/tracing")
        var sizes: [String: UInt32] = [:]
        if let kib = options.processRingKiB { sizes["proc_events"] = kib << 10 }
        // Load before touching the output file: a host that cannot run us leaves no empty capture behind.
        let wanted = { (name: String) in options.onlySources?.contains(name) ?? true }
        if options.resolver.enabled && wanted("resolver") && wanted("process") {
            resolver = try ResolverWorker(options: options.resolver)
        }
        if wanted("process") { sources.append(try ProcessEvents.source(ringSizes: sizes)) }
        if wanted("sockets") { sources.append(try SocketEvents.source(udpFlowTableSize: options.udpFlowTableSize)) }
        if options.conntrack.enabled && wanted("conntrack") {
            let ct = try ConntrackTracker(options: options.conntrack)
            conntrack = ct
            sources.append(ct.source())
        }
        if let resolver { sources.append(resolver.source()) }
    }

    public func stop() { stopFlag.store(true, ordering: .relaxed) }

    /// Records until stop() or the duration; `ready` is called once the live
    /// stream is attached and the snapshot written.
    public func run(ready: (() -> Void)? = nil) throws -> RecordSummary {
        // However this ends (a throw included), sources' threads are stopped before we return.
        defer { for s in sources { s.finish?() } }
        let writer = try TimelineWriter(path: options.dbPath, force: options.force)
        let checkpointer = WALCheckpointer(path: options.dbPath)
        checkpointer.start()
        defer { checkpointer.stop() }
        // Until the live stream runs, a failure leaves no capture: it holds nothing yet, and would block a retry.
        var recording = false
        defer {
            if !recording {
                checkpointer.stop()
                writer.discard()
            }
        }
        let started = Clock.anchor()
        try writeMeta(writer, started: started)
        try writeLayouts(writer)
        try writer.clockAnchor(bootNs: started.boot, wallNs: started.wall)

        var counts: [String: Int] = [:]
        var firstError: Error?
        var kindCounts = [Int](repeating: 0, count: Int(NT_KIND_MAX.rawValue) + 1)
        var decodeErrors = 0
        let archive = SegmentArchive()
        let reader = RingReader()
        for s in sources {
            // Immutable once built: the per-record closure captures them by value (no box, no access checks).
            var archivedTable = [Bool](repeating: false, count: Int(NT_KIND_MAX.rawValue))
            for k in s.archived where k < NT_KIND_MAX.rawValue { archivedTable[Int(k)] = true }
            var liveTable = [((UnsafeRawPointer, Int, TimelineWriter) throws -> Void)?](
                repeating: nil, count: Int(NT_KIND_MAX.rawValue))
            for (k, f) in s.live where k < NT_KIND_MAX.rawValue { liveTable[Int(k)] = f }
            let archived = archivedTable, live = liveTable
            for name in s.rings {
                let ring = archive.ring(source: s.name, name: name)
                // Every record starts with u64 ts, u32 kind (bpf/nettrail.h).
                try reader.add(fd: s.object.mapFD(name)) { data, size in
                    guard size >= 12 else { decodeErrors += 1; return }
                    let kind = Int(data.load(fromByteOffset: 8, as: UInt32.self))
                    guard kind < archived.count, archived[kind] || live[kind] != nil else { decodeErrors += 1; return }
                    kindCounts[kind] += 1
                    if archived[kind] { archive.append(ring, data, size) }
                    if let act = live[kind] {
                        do {
                            try act(data, size, writer)
                        } catch is DecodeError {
                            decodeErrors += 1
                        } catch {
                            if firstError == nil { firstError = error }
                        }
                    }
                }
            }
        }

        var snapshotRows: [String: Int] = [:]
        for s in sources { try s.attach(s.object) }
        for s in sources {
            if let snap = s.snapshot { snapshotRows[s.name] = try snap(s.object, writer) }
        }
        try writer.commit()
        recording = true
        ready?()
        if options.readerStallSeconds > 0 { usleep(UInt32(options.readerStallSeconds * 1e6)) }

        var lossTracker = LossTracker(sources: sources.map { ($0.name, $0.object) }, since: started.boot)
        var lastCommit = Clock.boot, lastAnchor = lastCommit
        // Bounded as the CLI bounds it (NaN reads as 0): a library caller's duration cannot trap either.
        let deadline = options.duration.map { started.boot &+ UInt64(($0 > 0 ? min($0, 1e9) : 0) * 1e9) }
        var lastRead: UInt64 = 0
        while !stopFlag.load(ordering: .relaxed), firstError == nil {
            // A ring wakes its reader when a record lands in it empty: read at once, every few records
            // would cost a wakeup and a loop turn. Reading at most every readIntervalNs lets what
            // arrives meanwhile wait in the ring (no wakeup while it is not empty) and be read in one go.
            let since = Clock.boot &- lastRead
            if since < Self.readIntervalNs { usleep(UInt32((Self.readIntervalNs - since) / 1000)) }
            reader.poll(timeoutMs: 100)
            lastRead = Clock.boot
            // Producers batch their wakeups: what they wrote without one is read here, at least every 100 ms.
            reader.drain()
            let now = Clock.boot
            if let deadline, now >= deadline { break }
            for s in sources { try s.poll?(writer, now) }
            let second = now - lastCommit >= 1_000_000_000
            if second {
                // Sealed on the archive's thread; inserted below once back, at the latest on the next turn.
                archive.flush()
                try lossTracker.sample(into: writer, now: now)
                for s in sources { try s.tick?(s.object, writer, now, false) }
            }
            let inserted = try archive.insertSealed(into: writer)
            if second || inserted > 0 {
                try writer.commit()
                if second { lastCommit = now }
            }
            if now - lastAnchor >= 5_000_000_000 {
                let a = Clock.anchor()
                try writer.clockAnchor(bootNs: a.boot, wallNs: a.wall)
                lastAnchor = now
            }
        }
        // Whatever the kernel wrote before we stopped is still ours to keep.
        reader.drain()
        try archive.finish(into: writer)
        if let firstError { throw firstError }
        let end = Clock.anchor()
        try lossTracker.sample(into: writer, now: end.boot)
        for s in sources { try s.tick?(s.object, writer, end.boot, true) }
        if decodeErrors > 0 {
            try writer.loss(LossRow(source: "decoder", kind: "malformed", count: UInt64(decodeErrors),
                                    fromNs: started.boot, toNs: end.boot))
        }
        try writer.clockAnchor(bootNs: end.boot, wallNs: end.wall)
        try writer.setMeta("end_boot_ns", String(end.boot))
        try writer.setMeta("end_wall_ns", String(end.wall))
        try writer.commit()
        checkpointer.stop()
        try writer.close()

        for (k, n) in kindCounts.enumerated() where n > 0 { counts[EventKind.name(UInt32(k))] = n }
        return RecordSummary(seconds: Double(end.boot - started.boot) / 1e9, counts: counts,
                             losses: writer.lossTotals, snapshots: snapshotRows,
                             segments: archive.segments, storedBytes: archive.storedBytes)
    }

    /// What a later analyzer needs to decode the segments, or to refuse them by name.
    private func writeLayouts(_ w: TimelineWriter) throws {
        for r in RecordDecoders.layoutRows() { try w.recordKind(r) }
        for s in sources { if let btf = s.object.btf() { try w.recordBTF(source: s.name, btf: btf) } }
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
