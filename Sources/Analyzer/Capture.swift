import Foundation
import Format

/// An opened capture and what the analyzer rebuilds from it, built on first use.
/// Queries read `reader`: the capture's case (built on first use, CaseStore.swift:
/// segments decoded, or a version-1 capture's decoded rows copied, and the
/// intervals reconstructed), or a case named directly.
public final class Capture {
    public let reader: TimelineReader
    /// The evidence itself, when `reader` is its case.
    public let evidence: TimelineReader?
    public let meta: [String: String]
    /// The capture set the evidence belongs to (nettrail-record --file-size): the case is built
    /// from all its members.
    public let set: CaptureSetMembers?
    /// What building the case found, when this open built it.
    public let indexed: IndexSummary?
    public var clock: ClockMap { reader.clock }

    /// `casePath` chooses where the case lives (default: CaseStore.defaultDirectory()).
    public init(path: String, casePath: String? = nil, rebuildCase: Bool = false, progress: Bool = true) throws {
        let id = try TimelineReader.identify(path)
        if id.applicationID == CaseSchema.applicationID {
            reader = try TimelineReader(path: path, kind: .caseDatabase)
            evidence = nil
            set = nil
            indexed = nil
        } else if id.applicationID == Schema.applicationID {
            let ev = try TimelineReader(path: path)
            let evMeta = try ev.meta()
            let bar = progress ? IndexProgress(label: (path as NSString).lastPathComponent) : nil
            let found = try CaptureSetMembers.find(ev, meta: evMeta)
            let c = try CaseStore.ensure(evidence: ev, meta: evMeta, set: found, casePath: casePath, rebuild: rebuildCase,
                                         progress: bar)
            reader = try TimelineReader(path: c.path, kind: .caseDatabase)
            evidence = ev
            set = found
            indexed = c.built
        } else {
            throw TimelineOpenError.notACapture(path)
        }
        meta = try reader.meta()
    }

    /// A case being built, read as its queries will read it.
    init(building reader: TimelineReader) throws {
        self.reader = reader
        evidence = nil
        set = nil
        indexed = nil
        meta = try reader.meta()
    }

    /// The case's file, when queries read one.
    public var casePath: String? { reader.kind == .caseDatabase ? reader.path : nil }

    /// Capture bounds in boot ns.
    public var startBoot: UInt64 { meta["start_boot_ns"].flatMap(UInt64.init) ?? 0 }
    public var endBoot: UInt64? { meta["end_boot_ns"].flatMap(UInt64.init) }
    public var startWall: Int64 { clock.wall(fromBoot: startBoot) }

    /// Where a wall time typed without a zone is: seconds east of UTC, and its name (--tz).
    public var zone: (offset: Int, name: String) = (0, "UTC")

    /// A user-typed time as boot ns ("-5m" counts back from the capture's end).
    public func bootTime(_ text: String) throws -> UInt64 {
        let end = (endBoot.flatMap { $0 >= startBoot ? $0 : nil }).map { clock.wall(fromBoot: $0) }
        return clock.boot(fromWall: try TimeSpec.parse(text, captureStartWall: startWall, captureEndWall: end,
                                                       zoneOffset: zone.offset))
    }

    /// What an answer says about the times it was given: a wall time without a zone.
    public func timeNotes(_ texts: [String?]) -> [String] {
        let zoneless = texts.compactMap { $0 }.filter(TimeSpec.isZoneless)
        guard !zoneless.isEmpty else { return [] }
        return ["\(zoneless.joined(separator: ", ")) \(zoneless.count == 1 ? "has" : "have") no zone: read as \(zone.name)"
                + (zone.name == "UTC" ? " (--tz to choose another)" : "")]
    }

    public func wallText(_ boot: UInt64) -> String { TimeSpec.format(clock.wall(fromBoot: boot)) }

    public private(set) lazy var cgroups: CgroupIndex = (try? CgroupIndex(self)) ?? CgroupIndex.empty
    public private(set) lazy var processes: ProcessIndex = (try? ProcessIndex(self)) ?? ProcessIndex.empty

    /// Sources the recorder ran (meta `sources`).
    public var sources: Set<String> { Set((meta["sources"] ?? "").split(separator: ",").map(String.init)) }

    /// Notes for an answer that needs `needed` sources the capture did not record:
    /// "no rows" then means "not recorded", not "did not happen".
    public func missingSourceNotes(_ needed: String...) -> [String] {
        needed.filter { !sources.contains($0) }.map {
            "this capture has no \($0) events (recorded sources: \(meta["sources"] ?? "unknown")): an empty answer means not recorded"
        }
    }

    /// The processes that used `pids`, with their ancestors: what an answer about a few
    /// processes reads, instead of every process of the capture.
    public func processes(pids: Set<UInt32>) throws -> ProcessIndex {
        pids.count > lookupLimit ? processes : try ProcessIndex(self, pids: pids)
    }

    /// These processes, with their ancestors: what an answer about one stretch of time reads
    /// (the other processes that used the same pids are not read).
    public func processes(keys: Set<ProcessKey>) throws -> ProcessIndex {
        Set(keys.map(\.pid)).count > lookupLimit ? processes : try ProcessIndex(self, keys: keys)
    }

    /// Past this many pids, one read of every process is cheaper than as many lookups: a
    /// few thousand, or a quarter of the processes the case holds.
    private lazy var lookupLimit: Int = {
        let rows = (try? reader.counts(prefix: "rows.")) ?? [:]
        // Counts from a damaged case may be anything: a quarter of each cannot overflow.
        return max(2000, (rows["process_fork"] ?? 0) / 4 + (rows["process_snapshot"] ?? 0) / 4)
    }()

    /// The processes with a fork, exec or exit in [from, to].
    public func processesWithEvents(from: UInt64, to: UInt64) throws -> Set<ProcessKey> {
        try reader.processesWithEvents(from: from, to: to)
    }

    /// Loads the cgroup index now so a damaged table is reported, not papered over
    /// (processes are read when, and as far as, an answer needs them).
    public func load() throws {
        cgroups = try CgroupIndex(self)
    }
}
