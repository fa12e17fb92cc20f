import CBPFGlue
import Foundation
import Format

/// Processes alive at start. The kernel lists them (a BPF task iterator, so
/// identity fields are exactly those of the live stream); /proc adds exe and
/// argv. The live stream is attached first, so a process born during the scan
/// is in the stream, and one that dies during it has its exit there too.
enum ProcessSnapshot {
    static let ticksPerSecond = UInt64(sysconf(Int32(_SC_CLK_TCK)))

    static func write(from object: BPFObject, into w: TimelineWriter) throws -> Int {
        let raw = try object.runIterator(EmbeddedBPF.Process.Program.snapshotTasks)
        let ts = Clock.boot
        let size = MemoryLayout<nt_task>.stride
        var n = 0
        var listed = Set<UInt32>()
        try raw.withUnsafeBytes { buf in
            var off = 0
            while off + size <= buf.count {
                let t = (buf.baseAddress! + off).assumingMemoryBound(to: nt_task.self)
                off += size
                let row = TaskRow(ts: ts, t)
                listed.insert(row.pid)
                var flags: SnapshotFlags = []
                var exe: String?
                var argv: [UInt8]?
                if row.mntns == 0 && row.pid != 1 && isKernelThread(row.pid) {
                    flags.insert(.kernelThread)
                } else {
                    (exe, argv, flags) = enrich(pid: row.pid, startNs: row.startNs)
                }
                try w.snapshot(row, flags: flags, exe: exe, argv: argv)
                n += 1
            }
        }
        // The iterator may not list every task (here it skips pid 1): /proc fills in, marked as such.
        for pid in procPids() where !listed.contains(pid) {
            guard let row = procRow(pid: pid, ts: ts) else { continue }
            var (exe, argv, flags) = enrich(pid: pid, startNs: row.startNs)
            flags.insert(.fromProcOnly)
            try w.snapshot(row, flags: flags, exe: exe, argv: argv)
            n += 1
        }
        return n
    }

    static func procPids() -> [UInt32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap(UInt32.init)
    }

    /// A task row from /proc alone: start_ns in 10 ms ticks, ids and namespaces as readable.
    static func procRow(pid: UInt32, ts: UInt64) -> TaskRow? {
        guard let statText = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = statText.lastIndex(of: ")") else { return nil }
        let f = statText[statText.index(after: close)...].split(separator: " ")
        guard f.count > 19, let ppid = UInt32(f[1]), let ticks = UInt64(f[19]) else { return nil }
        let tick = 1_000_000_000 / ticksPerSecond
        let parentStart = (try? String(contentsOfFile: "/proc/\(ppid)/stat", encoding: .utf8)).flatMap(startTicks).map { $0 * tick } ?? 0
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        func id(_ field: String) -> UInt32 {
            status.split(separator: "\n").first { $0.hasPrefix(field) }?.split(separator: "\t").dropFirst().first
                .flatMap { UInt32($0) } ?? 0
        }
        func ns(_ kind: String) -> UInt32 {
            let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/ns/\(kind)")) ?? ""
            return UInt32(link.split(separator: "[").last?.dropLast() ?? "") ?? 0
        }
        var v2: UInt64 = 0, v1: UInt64 = 0
        let mem = CgroupSnapshot.memoryHierarchyID()
        let mounts = CgroupSnapshot.hierarchies()
        for line in (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8))?.split(separator: "\n") ?? [] {
            let p = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard p.count == 3, let h = UInt32(p[0]), h == 0 || h == mem,
                  let m = mounts.first(where: { $0.id == h }) else { continue }
            guard let ino = CgroupSnapshot.inode(m.mountPoint + String(p[2])) else { continue }
            if h == 0 { v2 = ino } else { v1 = ino }
        }
        if mem == 0 { v1 = v2 }
        let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?
            .trimmingCharacters(in: .newlines) ?? String(statText[statText.index(after: statText.firstIndex(of: "(")!)..<close])
        return TaskRow(ts: ts, pid: pid, tid: pid, startNs: ticks * tick, ppid: ppid, parentStartNs: parentStart,
                       uid: id("Uid:"), gid: id("Gid:"), cgroupID: v2, cgroupV1ID: v1,
                       mntns: ns("mnt"), netns: ns("net"), pidns: ns("pid"), comm: comm)
    }

    static func isKernelThread(_ pid: UInt32) -> Bool {
        // Kernel threads have an empty cmdline and no exe link.
        (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))?.isEmpty ?? false
    }

    /// exe and argv from /proc, only if /proc/PID is still the process the
    /// kernel listed: its start time in ticks must match.
    static func enrich(pid: UInt32, startNs: UInt64) -> (String?, [UInt8]?, SnapshotFlags) {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else {
            return (nil, nil, .exitedDuringScan)
        }
        guard let ticks = startTicks(stat), ticks == startNs / (1_000_000_000 / ticksPerSecond) else {
            return (nil, nil, .pidReusedDuringScan)
        }
        var argv = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline"))).map { [UInt8]($0) }
        while let last = argv?.last, last == 0 { argv?.removeLast() }
        let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
        var flags: SnapshotFlags = []
        if argv?.isEmpty ?? true, exe == nil { flags.insert(.kernelThread) }
        // Check again: a pid reused between the two reads would give the new process's argv.
        if let again = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), startTicks(again) != ticks {
            return (nil, nil, .pidReusedDuringScan)
        }
        return (exe, argv, flags)
    }

    /// Field 22 of /proc/PID/stat; the comm before it may contain spaces and ')'.
    static func startTicks(_ stat: String) -> UInt64? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is state (field 3), so field 22 is fields[19].
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}
