import Format

public struct ExecRecord: Sendable {
    public var ts: UInt64
    public var filename: String
    public var argv: [String]
    public var truncated: Bool
    /// Read from /proc at start: the exec itself happened before the capture.
    public var fromSnapshot = false
}

/// Which program a process ran at a moment, as far as the capture can tell.
public struct ImageAt: Sendable {
    /// The last exec recorded for it (its own, or an ancestor's it inherited by fork).
    public var exec: ExecRecord?
    /// Exec events lost after that exec and by the moment: it may have run something else.
    public var lost: [LossRow]
    /// The comm the process had at the moment, read in its own context (an event's task).
    public var observedComm: String?

    /// The image to show: none while a lost exec may have replaced it, unless the comm
    /// seen at the moment is the one that exec gave it (an exec sets the comm to its
    /// file's name): then it is shown, and `possiblyStale` says an exec cannot be ruled out.
    public var known: ExecRecord? {
        guard !lost.isEmpty else { return exec }
        guard let exec, !exec.fromSnapshot, let observedComm, Self.comm(after: exec) == observedComm else { return nil }
        return exec
    }

    /// Shown, though an exec was lost in between (its comm agrees).
    public var possiblyStale: Bool { !lost.isEmpty && known != nil }

    /// The comm an exec gives a task: its file name's last component, cut to 15 bytes.
    static func comm(after e: ExecRecord) -> String {
        let base = PathText.lastComponent(e.filename).map(String.init) ?? e.filename
        var bytes = Array(base.utf8.prefix(15))
        while !bytes.isEmpty, String(validating: bytes, as: UTF8.self) == nil { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// One process's life as the capture saw it.
public struct ProcessRecord: Sendable {
    public var key: ProcessKey
    public var parent: ProcessKey
    public var uid: UInt32
    public var gid: UInt32
    public var comm: String
    /// Seen alive in the startup snapshot (started before recording).
    public var fromSnapshot = false
    /// The snapshot could read no exe/argv (exited or pid reused mid-scan).
    public var snapshotIncomplete = false
    public var forkTs: UInt64?
    public var execs: [ExecRecord] = []
    public var exitTs: UInt64?
    public var exitStatus: UInt32?
    public var mntns: UInt32
    public var netns: UInt32
    public var pidns: UInt32
    /// (ts, v2 id, memory v1 id) whenever an event told us, oldest first.
    public var cgroups: [(ts: UInt64, v2: UInt64, v1: UInt64)] = []

    public var exe: String? { execs.last?.filename }
    public var argv: [String] { execs.last?.argv ?? [] }
    public var exitCode: Int? { exitStatus.map { $0 & 0x7f == 0 ? Int(($0 >> 8) & 0xff) : -1 } }
    public var exitSignal: Int? { exitStatus.flatMap { $0 & 0x7f != 0 ? Int($0 & 0x7f) : nil } }

    public func cgroup(at t: UInt64) -> (v2: UInt64, v1: UInt64)? {
        let c = cgroups.last(where: { $0.ts <= t }) ?? cgroups.first
        return c.map { ($0.v2, $0.v1) }
    }
}

/// Every process the capture knows, rebuilt from the snapshot and the
/// fork/exec/exit stream. Nothing is inferred: a field the capture did not
/// see stays nil.
public struct ProcessIndex: Sendable {
    public private(set) var records: [ProcessKey: ProcessRecord] = [:]
    /// pid → identities that used it, oldest first (pid reuse).
    public private(set) var byPid: [UInt32: [ProcessKey]] = [:]
    /// Lost exec events, whose windows make an image uncertain (see `image(of:at:)`).
    public private(set) var execLosses: [LossRow] = []

    static let empty = ProcessIndex()
    private init() {}

    /// Every process of the capture.
    init(_ capture: Capture) throws {
        try load(capture, pids: nil)
        finish()
        execLosses = capture.losses(.image)
    }

    /// The processes that used these pids (every incarnation), and their ancestors as far
    /// as the capture knows them: what an answer about a few processes needs.
    init(_ capture: Capture, pids: Set<UInt32>) throws {
        var want = pids, loaded = Set<UInt32>()
        for _ in 0..<64 where !want.isEmpty {
            try load(capture, pids: want)
            loaded.formUnion(want)
            want = Set(records.values.map(\.parent.pid)).subtracting(loaded)
        }
        finish()
        execLosses = capture.losses(.image)
    }

    /// These processes and their ancestors as far as the capture knows them (with any
    /// startup-snapshot record of their pids, which a coarse start may have to join).
    init(_ capture: Capture, keys: Set<ProcessKey>) throws {
        var want = keys, asked = Set<ProcessKey>()
        for _ in 0..<64 where !want.isEmpty {
            try load(capture, pids: Set(want.map(\.pid)), keys: want)
            asked.formUnion(want)
            want = Set(records.values.map(\.parent)).subtracting(asked).filter { records[$0] == nil }
        }
        finish()
        execLosses = capture.losses(.image)
    }

    /// Adds the rows of `pids` (every pid when nil), of `keys` only when given (snapshot rows
    /// of those pids always). A later call adds other processes' rows only, so each record is
    /// complete after the call that made it.
    private mutating func load(_ capture: Capture, pids: Set<UInt32>?, keys: Set<ProcessKey>? = nil) throws {
        let reader = capture.reader
        // Snapshot rows read from /proc alone know the start only to the 10 ms tick.
        var coarse: [UInt32: ProcessKey] = [:]
        // One hash lookup a row: the record is changed where the dictionary holds it.
        func upsert(_ t: TaskRow, snapshot: Bool = false, _ change: (inout ProcessRecord) -> Void) {
            var key = ProcessKey(pid: t.pid, startNs: t.startNs), joined = false
            if !coarse.isEmpty, let c = coarse[t.pid], t.startNs >= c.startNs, t.startNs - c.startNs < 10_000_000,
               records[key] == nil {
                key = c
                joined = true
            }
            guard snapshot || joined || keys?.contains(key) ?? true else { return }
            change(&records[key, default: ProcessRecord(key: key, parent: ProcessKey(pid: t.ppid, startNs: t.parentStartNs),
                                                        uid: t.uid, gid: t.gid, comm: t.comm,
                                                        mntns: t.mntns, netns: t.netns, pidns: t.pidns)])
        }

        try reader.forEachProcessSnapshot(pids: pids) { s in
            let t = s.task
            upsert(t, snapshot: true) { r in
                r.cgroups.append((t.ts, t.cgroupID, t.cgroupV1ID))
                if s.flags.contains(.fromProcOnly) { coarse[t.pid] = r.key }
                r.fromSnapshot = true
                r.snapshotIncomplete = !s.flags.intersection([.exitedDuringScan, .pidReusedDuringScan]).isEmpty
                if let exe = s.exe {
                    r.execs.append(ExecRecord(ts: t.startNs, filename: exe, argv: Self.split(s.argv),
                                              truncated: false, fromSnapshot: true))
                }
            }
        }
        // With keys, only their incarnations' rows are read (a pid is reused many times over a
        // long capture), and every row of a pid whose snapshot start is coarse, to be joined.
        let sel = ProcessSelection(pids: pids, starts: keys.map { Set($0.map(\.startNs)) }, wholePids: Set(coarse.keys))
        try reader.forEachFork(sel) { t in
            upsert(t) { r in
                r.cgroups.append((t.ts, t.cgroupID, t.cgroupV1ID))
                r.forkTs = t.ts
            }
        }
        try reader.forEachExec(sel) { e in
            let t = e.task
            upsert(t) { r in
                r.cgroups.append((t.ts, t.cgroupID, t.cgroupV1ID))
                r.execs.append(ExecRecord(ts: t.ts, filename: e.filename, argv: Self.split(e.argv),
                                          truncated: e.flags & ExecFlags.argsTruncated != 0))
                r.comm = t.comm
                r.uid = t.uid
                r.gid = t.gid
                r.mntns = t.mntns; r.netns = t.netns; r.pidns = t.pidns
            }
        }
        try reader.forEachExit(sel) { e in
            upsert(e.task) { r in
                r.cgroups.append((e.task.ts, e.task.cgroupID, e.task.cgroupV1ID))
                r.exitTs = e.task.ts
                r.exitStatus = e.status
            }
        }
        let v1h = capture.meta["memory_hierarchy_id"].flatMap(UInt32.init) ?? 0
        try reader.forEachCgroupAttach(sel) { a in
            let key = ProcessKey(pid: a.pid, startNs: a.startNs)
            guard let rec = records[key], let last = rec.cgroups.last(where: { $0.ts <= a.ts }) ?? rec.cgroups.last else { return }
            if a.hierarchyID == 0 { records[key]!.cgroups.append((a.ts, a.cgroupID, last.v1)) }
            else if a.hierarchyID == v1h { records[key]!.cgroups.append((a.ts, last.v2, a.cgroupID)) }
        }
    }

    /// Once every row is in: cgroups in time order, and each pid's incarnations.
    private mutating func finish() {
        for k in records.keys { records[k]!.cgroups.sort { $0.ts < $1.ts } }
        byPid = [:]
        for k in records.keys.sorted() { byPid[k.pid, default: []].append(k) }
    }

    static func split(_ blob: [UInt8]?) -> [String] {
        guard let blob, !blob.isEmpty else { return [] }
        return blob.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    }

    public subscript(key: ProcessKey) -> ProcessRecord? { records[key] }

    /// The one rule for which program process `key` ran at `t`: its own last exec at or
    /// before `t`, or (forked without exec since) the image its parent ran when it forked,
    /// and so on up. An exec lost between that exec and `t` may have replaced it: then
    /// the image is unknown after that exec, and the losses say why.
    public func image(of key: ProcessKey, at t: UInt64, comm: String? = nil) -> ImageAt {
        var k = key, at = t
        var found: ExecRecord?
        for _ in 0..<64 {
            guard let r = records[k] else { break }
            if let i = r.execs.last(where: { $0.ts <= at }) { found = i; break }
            if r.fromSnapshot, let i = r.execs.first { found = i; break }
            at = r.forkTs ?? r.key.startNs
            guard r.parent != k else { break }
            k = r.parent
        }
        let since = found?.ts ?? key.startNs
        let lost = execLosses.filter { $0.toNs > since && $0.fromNs <= t }
        return ImageAt(exec: found, lost: lost, observedComm: comm)
    }

    /// The incarnation of `pid` alive at `t`, if the capture knows exactly one.
    public func alive(pid: UInt32, at t: UInt64) -> [ProcessRecord] {
        (byPid[pid] ?? []).compactMap { records[$0] }.filter { $0.key.startNs <= t && ($0.exitTs ?? .max) >= t }
    }

    /// Each of `chain` (ancestors) as "PID:PROGRAM": the file it ran at `t`, or its comm.
    public func parentsText(_ chain: [ProcessRecord], at t: UInt64) -> [String] {
        chain.map { r in
            let program = image(of: r.key, at: t).known.flatMap { PathText.lastComponent($0.filename) }.map(String.init) ?? r.comm
            return "\(r.key.pid):\(program)"
        }
    }

    /// The parent chain, nearest first, as far as the capture knows it.
    public func ancestors(of key: ProcessKey, limit: Int = 64) -> [ProcessRecord] {
        var out: [ProcessRecord] = []
        var cur = records[key]?.parent
        while let k = cur, out.count < limit, let r = records[k] {
            out.append(r)
            cur = r.parent == k ? nil : r.parent
        }
        return out
    }
}

/// Owners' `parentsText`, kept while it cannot change: a program shown for an ancestor
/// changes only at one of its execs, or where a lost exec begins (then it is not shown).
/// A connection list names the same few owners thousands of times.
final class ParentsMemo {
    private struct Entry {
        var chain: [ProcessRecord]
        /// The moments at which some ancestor's program can change, sorted.
        var changes: [UInt64]
        /// `text` holds from `from` (inclusive) to `until` (exclusive).
        var from: UInt64 = 1, until: UInt64 = 0
        var text: [String] = []
    }
    private let procs: ProcessIndex
    private var entries: [ProcessKey: Entry] = [:]

    init(_ procs: ProcessIndex) { self.procs = procs }

    /// `key`'s ancestors as `parentsText` gives them at `t`; nil when none is known.
    func parents(of key: ProcessKey, at t: UInt64) -> [String]? {
        var e = entries[key] ?? {
            let chain = procs.ancestors(of: key)
            let changes = chain.flatMap { $0.execs.map(\.ts) } + procs.execLosses.map(\.fromNs)
            return Entry(chain: chain, changes: Array(Set(changes)).sorted())
        }()
        guard !e.chain.isEmpty else { entries[key] = e; return nil }
        if !(e.from <= t && t < e.until) {
            // The last change at or before t, and the first after it.
            var lo = 0, hi = e.changes.count
            while lo < hi { let mid = (lo + hi) / 2; if e.changes[mid] <= t { lo = mid + 1 } else { hi = mid } }
            e.from = lo > 0 ? e.changes[lo - 1] : 0
            e.until = lo < e.changes.count ? e.changes[lo] : .max
            e.text = procs.parentsText(e.chain, at: t)
            entries[key] = e
        }
        return e.text
    }
}
