import Format
#if canImport(Glibc)
import Glibc
#endif

/// Selects processes by time window, container and pid.
public struct ProcessFilter: Sendable {
    public var from: UInt64?
    public var to: UInt64?
    public var container: String?
    public var pid: UInt32?
    /// Shell glob (fnmatch) on a program: its exe path or file name, its argv[0] (or that
    /// name: busybox applets run as /proc/self/exe), or the process's comm.
    public var name: String?
    /// Whether kernel threads are listed: kthreadd (pid 2) and the threads it starts.
    public var kernelThreads: Bool
    public init(from: UInt64? = nil, to: UInt64? = nil, container: String? = nil, pid: UInt32? = nil,
                name: String? = nil, kernelThreads: Bool = true) {
        self.from = from; self.to = to; self.container = container; self.pid = pid; self.name = name
        self.kernelThreads = kernelThreads
    }

    static let kthreadd: UInt32 = 2

    func matches(_ image: ExecRecord?, comm: String) -> Bool {
        guard let name else { return true }
        var candidates = [comm]
        for path in [image?.filename, image?.argv.first].compactMap({ $0 }) {
            candidates.append(path)
            if let base = PathText.lastComponent(path) { candidates.append(String(base)) }
        }
        return candidates.contains { fnmatch(name, $0, 0) == 0 }
    }
}

public enum ProcessQuery {
    // argv last: it is the one column whose width has no bound.
    public static let columns = Columns.processes

    /// One row per program a process ran (each exec image) in the window,
    /// oldest first; a process that never exec'd gets one row with no exe.
    public static func run(_ capture: Capture, _ f: ProcessFilter) -> ResultTable {
        var table = ResultTable(columns: columns)
        table.notes += capture.missingSourceNotes("process")
        let end = capture.endBoot ?? .max
        let lo = f.from ?? 0, hi = f.to ?? .max
        guard let index = try? (f.pid.map { try capture.processes(pids: [$0]) } ?? capture.processes) else {
            table.notes.append("the process tables could not be read")
            return table
        }
        let procs = index.records.values
            .filter { r in
                if let pid = f.pid, r.key.pid != pid { return false }
                if !f.kernelThreads, r.key.pid == ProcessFilter.kthreadd || r.parent.pid == ProcessFilter.kthreadd { return false }
                return r.key.startNs <= hi && (r.exitTs ?? end) >= lo
            }
            .sorted { $0.key < $1.key }
        var truncated = 0
        for r in procs {
            let last = min(hi, r.exitTs ?? end)
            // The container as of the moment the window (or the process) ends.
            let container = r.cgroup(at: last).flatMap { capture.cgroups.container(v2: $0.v2, v1: $0.v1) }
            if let want = f.container {
                guard let c = container, ContainerID.matches(c.id, prefix: want) else { continue }
            }
            let parents = Value.list(index.parentsText(index.ancestors(of: r.key), at: last))
            // Each image runs from its exec to the next exec (or the end).
            var images: [(ExecRecord?, UInt64)] = []
            for (i, e) in r.execs.enumerated() {
                let until = i + 1 < r.execs.count ? r.execs[i + 1].ts : (r.exitTs ?? end)
                if e.ts <= hi && until >= lo { images.append((e, until)) }
            }
            if r.execs.isEmpty { images.append((nil, 0)) }
            for (image, _) in images where f.matches(image, comm: r.comm) {
                if image?.truncated == true { truncated += 1 }
                table.append([
                    .int(Int64(r.key.pid)),
                    .text(capture.wallText(r.key.startNs)),
                    image.flatMap { $0.fromSnapshot ? nil : Value.text(capture.wallText($0.ts)) } ?? .null,
                    r.exitTs.map { .text(capture.wallText($0)) } ?? .null,
                    .int(Int64(r.parent.pid)),
                    r.parent.startNs == 0 ? .null : .text(capture.wallText(r.parent.startNs)),
                    container.map { .text($0.id) } ?? .null,
                    container.map { .text($0.runtime.rawValue) } ?? .null,
                    container?.podUID.map { .text($0) } ?? .null,
                    .int(Int64(r.uid)),
                    r.exitCode.map { .int(Int64($0)) } ?? .null,
                    r.exitSignal.map { .int(Int64($0)) } ?? .null,
                    .text(r.fromSnapshot ? "snapshot" : "live"),
                    .text(r.comm),
                    parents,
                    image.map { .text($0.filename) } ?? .null,
                    image.map { Value.argv($0.argv, file: $0.filename) } ?? .null,
                ])
            }
        }
        if truncated > 0 { table.notes.append("\(truncated) argv truncated at 1024 bytes by the recorder") }
        table.notes += LossNote.notes(capture, .process, from: lo, to: hi,
                                      consequence: "this list may be incomplete, and a process may have run an image not listed")
        return table
    }
}
