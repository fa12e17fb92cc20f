import CBPFGlue
import Events
import Format

/// The process source: fork/exec/exit and cgroup events (bpf/process.bpf.c),
/// archived undecoded, and the startup snapshot of processes and cgroups.
enum ProcessEvents {
    /// (The resolver's arming does not hang off these exec records: it reads exec notices
    /// of its own, bpf/resolver.bpf.c, on its own thread.)
    static let maker = SourceMaker { options in
        guard options.wants(EventSource.process.name) else { return nil }
        var sizes: [BPFMap: UInt32] = [:]
        if let kib = options.processRingKiB { sizes[EmbeddedBPF.Process.Map.procEvents] = kib << 10 }
        return try source(ringSizes: sizes)
    }

    static func source(ringSizes: [BPFMap: UInt32]) throws -> Source {
        Source(
            name: EventSource.process.name, object: try BPFObject(EmbeddedBPF.Process.object, ringSizes: ringSizes),
            rings: [EmbeddedBPF.Process.Map.procEvents, EmbeddedBPF.Process.Map.cgroupEvents],
            archived: EventSource.process.archivedKinds,
            snapshot: { object, w in
                let now = Clock.boot
                let cgroups = try CgroupSnapshot.write(into: w, ts: now) + RuntimeSnapshot.write(into: w, ts: now)
                return try ProcessSnapshot.write(from: object, into: w) + cgroups
            })
    }
}
