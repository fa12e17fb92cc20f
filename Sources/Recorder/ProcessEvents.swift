import CBPFGlue
import Events
import Format

/// The process source: fork/exec/exit and cgroup events (bpf/process.bpf.c),
/// archived undecoded, and the startup snapshot of processes and cgroups.
enum ProcessEvents {
    /// (The resolver's arming does not hang off these exec records: it reads exec notices
    /// of its own, bpf/resolver.bpf.c, on its own thread.)
    static func source(ringSizes: [String: UInt32]) throws -> Source {
        Source(
            name: "process", object: try BPFObject(EmbeddedBPF.process, ringSizes: ringSizes),
            rings: ["proc_events", "cgroup_events"], archived: Set(ProcessRecords.kinds.map(\.rawValue)),
            snapshot: { object, w in
                let now = Clock.boot
                let cgroups = try CgroupSnapshot.write(into: w, ts: now) + RuntimeSnapshot.write(into: w, ts: now)
                return try ProcessSnapshot.write(from: object, into: w) + cgroups
            })
    }
}
