import CBPFGlue
import Format

/// Decoding of the process object's records (bpf/process.bpf.c).
extension TaskRow {
    init(ts: UInt64, _ t: UnsafePointer<nt_task>) {
        let c = UnsafeRawPointer(t) + MemoryLayout<nt_task>.offset(of: \nt_task.comm)!
        self.init(ts: ts, pid: t.pointee.pid, tid: t.pointee.tid, startNs: t.pointee.start_ns,
                  ppid: t.pointee.ppid, parentStartNs: t.pointee.parent_start_ns,
                  uid: t.pointee.uid, gid: t.pointee.gid, cgroupID: t.pointee.cgroup_id,
                  cgroupV1ID: t.pointee.cgroup_v1_id, mntns: t.pointee.mntns, netns: t.pointee.netns,
                  pidns: t.pointee.pidns, comm: cString(c, offset: 0, capacity: Int(NT_COMM_LEN)))
    }
}

enum ProcessEvents {
    /// (The resolver's arming does not hang off these exec rows: it reads exec notices
    /// of its own, bpf/resolver.bpf.c, on its own thread.)
    static func source(ringSizes: [String: UInt32]) throws -> Source {
        let kinds: [nt_kind] = [NT_KIND_FORK, NT_KIND_EXEC, NT_KIND_EXIT,
                                NT_KIND_CGROUP_MKDIR, NT_KIND_CGROUP_RMDIR, NT_KIND_CGROUP_ATTACH]
        return Source(
            name: "process", object: try BPFObject(EmbeddedBPF.process, ringSizes: ringSizes),
            rings: ["proc_events", "cgroup_events"], kinds: Set(kinds.map(\.rawValue)),
            decode: { data, size, kind, w in try write(data, size: size, kind: kind, into: w) },
            snapshot: { object, w in
                let now = Clock.boot
                let cgroups = try CgroupSnapshot.write(into: w, ts: now) + RuntimeSnapshot.write(into: w, ts: now)
                return try ProcessSnapshot.write(from: object, into: w) + cgroups
            })
    }

    static func write(_ data: UnsafeRawPointer, size: Int, kind: UInt32, into w: TimelineWriter) throws {
        switch kind {
        case NT_KIND_FORK.rawValue, NT_KIND_EXIT.rawValue:
            guard size >= MemoryLayout<nt_proc_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_proc_event.self)
            let task = data + MemoryLayout<nt_proc_event>.offset(of: \nt_proc_event.task)!
            let row = TaskRow(ts: e.pointee.ts, task.assumingMemoryBound(to: nt_task.self))
            if kind == NT_KIND_FORK.rawValue { try w.fork(row) } else { try w.exit(row, exitCode: e.pointee.exit_code) }
        case NT_KIND_EXEC.rawValue:
            guard size >= MemoryLayout<nt_exec_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_exec_event.self)
            let task = data + MemoryLayout<nt_exec_event>.offset(of: \nt_exec_event.task)!
            let row = TaskRow(ts: e.pointee.ts, task.assumingMemoryBound(to: nt_task.self))
            let filename = cString(data, offset: MemoryLayout<nt_exec_event>.offset(of: \nt_exec_event.filename)!,
                                   capacity: Int(NT_FILENAME_MAX), length: Int(e.pointee.filename_len))
            let argsAt = data + MemoryLayout<nt_exec_event>.offset(of: \nt_exec_event.args)!
            var argc = min(Int(e.pointee.args_len), Int(NT_ARGS_MAX))
            // The kernel's argv ends with a NUL; keep only separators between args.
            while argc > 0 && argsAt.load(fromByteOffset: argc - 1, as: UInt8.self) == 0 { argc -= 1 }
            try w.exec(row, oldPid: e.pointee.old_pid, flags: Int(e.pointee.flags), filename: filename,
                       argv: UnsafeRawBufferPointer(start: argsAt, count: argc))
        case NT_KIND_CGROUP_MKDIR.rawValue, NT_KIND_CGROUP_RMDIR.rawValue, NT_KIND_CGROUP_ATTACH.rawValue:
            guard size >= MemoryLayout<nt_cgroup_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_cgroup_event.self).pointee
            let path = cString(data, offset: MemoryLayout<nt_cgroup_event>.offset(of: \nt_cgroup_event.path)!,
                               capacity: Int(NT_CGPATH_MAX), length: Int(e.path_len))
            let k: CgroupEventKind = kind == NT_KIND_CGROUP_MKDIR.rawValue ? .mkdir
                : kind == NT_KIND_CGROUP_RMDIR.rawValue ? .rmdir : .attach
            let actor = cString(data, offset: MemoryLayout<nt_cgroup_event>.offset(of: \nt_cgroup_event.actor_comm)!,
                                capacity: Int(NT_COMM_LEN))
            try w.cgroupEvent(CgroupEventRow(ts: e.ts, kind: k, hierarchyID: e.hierarchy_id, cgroupID: e.cgroup_id,
                                             level: e.level, pid: e.pid, startNs: e.start_ns,
                                             actorPid: e.actor_pid, actorComm: actor, path: path))
        default:
            throw DecodeError.unknownKind(kind)
        }
    }
}

enum DecodeError: Error, CustomStringConvertible {
    case short(UInt32, Int)
    case unknownKind(UInt32)
    var description: String {
        switch self {
        case .short(let k, let n): return "short \(EventKind.name(k)) record (\(n) bytes)"
        case .unknownKind(let k): return "unknown event kind \(k)"
        }
    }
}
