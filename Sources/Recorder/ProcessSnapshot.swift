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
        let raw = try object.runIterator("nt_snapshot_tasks")
        let ts = Clock.boot
        let size = MemoryLayout<nt_task>.stride
        var n = 0
        try raw.withUnsafeBytes { buf in
            var off = 0
            while off + size <= buf.count {
                let t = (buf.baseAddress! + off).assumingMemoryBound(to: nt_task.self)
                off += size
                let row = TaskRow(ts: ts, t)
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
        return n
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
