import CEventABI
import Format

/// A task as a record's nt_task describes it.
extension TaskRow {
    public init(ts: UInt64, _ t: UnsafePointer<nt_task>) {
        let c = UnsafeRawPointer(t) + MemoryLayout<nt_task>.offset(of: \nt_task.comm)!
        self.init(ts: ts, pid: t.pointee.pid, tid: t.pointee.tid, startNs: t.pointee.start_ns,
                  ppid: t.pointee.ppid, parentStartNs: t.pointee.parent_start_ns,
                  uid: t.pointee.uid, gid: t.pointee.gid, cgroupID: t.pointee.cgroup_id,
                  cgroupV1ID: t.pointee.cgroup_v1_id, mntns: t.pointee.mntns, netns: t.pointee.netns,
                  pidns: t.pointee.pidns, comm: cString(c, offset: 0, capacity: Int(NT_COMM_LEN)))
    }
}

/// The process object's records (bpf/process.bpf.c) as timeline rows.
public enum ProcessRecords {
    public static var decoder: RecordDecoder {
        RecordDecoder(for: .process) { data, size, kind, w in try write(data, size: size, kind: kind, into: w) }
    }

    public static func write(_ data: UnsafeRawPointer, size: Int, kind: UInt32, into w: TimelineWriter) throws {
        switch kind {
        case NT_KIND_FORK.rawValue, NT_KIND_EXIT.rawValue:
            guard size >= MemoryLayout<nt_proc_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_proc_event.self)
            let task = data + MemoryLayout<nt_proc_event>.offset(of: \nt_proc_event.task)!
            let row = TaskRow(ts: e.pointee.ts, task.assumingMemoryBound(to: nt_task.self))
            if kind == NT_KIND_FORK.rawValue { try w.fork(row) } else { try w.exit(row, exitCode: e.pointee.exit_code) }
        case NT_KIND_EXEC.rawValue:
            // The record ends where its argv does (bpf/nettrail.h): everything before args must be
            // there, and no field is read past `size` (the struct as a whole may not be).
            typealias E = nt_exec_event
            let argsOffset = MemoryLayout<E>.offset(of: \E.args)!
            guard size >= argsOffset else { throw DecodeError.short(kind, size) }
            func field<T>(_ path: KeyPath<E, T>, _ type: T.Type) -> T {
                data.loadUnaligned(fromByteOffset: MemoryLayout<E>.offset(of: path)!, as: T.self)
            }
            let task = data + MemoryLayout<E>.offset(of: \E.task)!
            let row = TaskRow(ts: field(\E.ts, UInt64.self), task.assumingMemoryBound(to: nt_task.self))
            let filename = cString(data, offset: MemoryLayout<E>.offset(of: \E.filename)!,
                                   capacity: Int(NT_FILENAME_MAX), length: Int(field(\E.filename_len, UInt16.self)))
            let argsAt = data + argsOffset
            var argc = min(Int(field(\E.args_len, UInt16.self)), Int(NT_ARGS_MAX), size - argsOffset)
            // The kernel's argv ends with a NUL; keep only separators between args.
            while argc > 0 && argsAt.load(fromByteOffset: argc - 1, as: UInt8.self) == 0 { argc -= 1 }
            try w.exec(row, oldPid: field(\E.old_pid, UInt32.self), flags: Int(field(\E.flags, UInt32.self)), filename: filename,
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
