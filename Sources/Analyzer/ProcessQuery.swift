import Format

/// Selects processes by time window, container and pid.
public struct ProcessFilter: Sendable {
    public var from: UInt64?
    public var to: UInt64?
    public var container: String?
    public var pid: UInt32?
    public init(from: UInt64? = nil, to: UInt64? = nil, container: String? = nil, pid: UInt32? = nil) {
        self.from = from; self.to = to; self.container = container; self.pid = pid
    }
}

public enum ProcessQuery {
    // argv last: it is the one column whose width has no bound.
    public static let columns = ["pid", "start", "end", "ppid", "parent_start", "container", "runtime", "pod",
                                 "uid", "exit_code", "signal", "seen", "parents", "exe", "argv"]

    /// Process lifetimes overlapping the window, oldest first.
    public static func run(_ capture: Capture, _ f: ProcessFilter) -> ResultTable {
        var table = ResultTable(columns: columns)
        let end = capture.endBoot ?? .max
        let procs = capture.processes.records.values
            .filter { r in
                if let pid = f.pid, r.key.pid != pid { return false }
                if let to = f.to, r.key.startNs > to { return false }
                if let from = f.from, (r.exitTs ?? end) < from { return false }
                return true
            }
            .sorted { $0.key < $1.key }
        var truncated = 0
        for r in procs {
            // The container as of the moment the window (or the process) ends.
            let at = min(f.to ?? .max, r.exitTs ?? end)
            let container = r.cgroup(at: at).flatMap { capture.cgroups.container(v2: $0.v2, v1: $0.v1) }
            if let want = f.container {
                guard let c = container, ContainerID.matches(c.id, prefix: want) else { continue }
            }
            let image = r.image(at: at)
            if image?.truncated == true { truncated += 1 }
            table.append([
                .int(Int64(r.key.pid)),
                .text(capture.wallText(r.key.startNs)),
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
                .list(capture.processes.ancestors(of: r.key).map { "\($0.key.pid):\($0.image(at: at)?.filename.split(separator: "/").last.map(String.init) ?? $0.comm)" }),
                image.map { .text($0.filename) } ?? .null,
                image.map { .list($0.argv) } ?? .null,
            ])
        }
        if truncated > 0 { table.notes.append("\(truncated) argv truncated at 1024 bytes by the recorder") }
        let lost = (try? capture.reader.losses()) ?? []
        let window = (f.from ?? 0)...(f.to ?? .max)
        let lostHere = lost.filter { ["fork", "exec", "exit", "cgroup_mkdir", "cgroup_attach"].contains($0.kind)
                                     && $0.toNs >= window.lowerBound && $0.fromNs <= window.upperBound }
        if !lostHere.isEmpty {
            let n = lostHere.reduce(0) { $0 + $1.count }
            table.notes.append("the recorder lost \(n) process/cgroup events in this window: this list may be incomplete")
        }
        return table
    }
}
