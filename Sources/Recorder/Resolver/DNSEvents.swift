import CBPFGlue
import Events
import Format

/// A process mapped a resolver-like library that was not armed (an NT_KIND_DNS_LIB
/// record), copied out of the ring buffer so the resolver's worker can act on it
/// after the record itself is gone.
struct LibMapping: Sendable {
    var ts: UInt64
    var pid: UInt32
    var startNs: UInt64
    var ppid: UInt32
    /// The file as the kernel sees it.
    var kdev: UInt64
    var ino: UInt64
    var vmStart: UInt64
    var vmEnd: UInt64
    /// Mapped by the kernel as the ELF interpreter (else by an mmap call).
    var viaInterpreter: Bool
    /// The file's own name, not its path.
    var name: String

    /// The mapped file itself, while the process lives.
    var mapFilesPath: String { "/proc/\(pid)/map_files/\(String(vmStart, radix: 16))-\(String(vmEnd, radix: 16))" }
}

/// A process's root directory and executable, opened when its exec record was
/// read, so the resolver's worker can act on an exec after the process is gone
/// (a getent lives about a millisecond). -1 where not opened.
struct PinnedExec: Sendable {
    var root: Int32
    var exe: Int32
    static let none = PinnedExec(root: -1, exe: -1)
}

/// The resolver object's library-mapping records (bpf/resolver.bpf.c), which only the
/// recording acts on; its call records are archived (Events/Resolver/DNSRecords.swift).
enum DNSEvents {
    static func libMapping(_ data: UnsafeRawPointer, size: Int) throws -> LibMapping {
        guard size >= MemoryLayout<nt_lib_event>.size else { throw DecodeError.short(NT_KIND_DNS_LIB.rawValue, size) }
        let e = data.assumingMemoryBound(to: nt_lib_event.self).pointee
        let name = cString(data, offset: MemoryLayout<nt_lib_event>.offset(of: \nt_lib_event.name)!,
                           capacity: Int(NT_LIB_NAME_MAX))
        return LibMapping(ts: e.ts, pid: e.task.pid, startNs: e.task.start_ns, ppid: e.task.ppid,
                          kdev: e.key.dev, ino: e.key.ino, vmStart: e.vm_start, vmEnd: e.vm_end,
                          viaInterpreter: e.how == NT_LIB_HOW_INTERP, name: name)
    }
}
