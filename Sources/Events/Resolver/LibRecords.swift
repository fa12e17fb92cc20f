import CEventABI

/// A process mapped a resolver-like library that was not armed (an NT_KIND_DNS_LIB
/// record), copied out of the ring buffer so the resolver's arming can act on it
/// after the record itself is gone.
public struct LibMapping: Sendable {
    public var ts: UInt64
    public var pid: UInt32
    public var startNs: UInt64
    public var ppid: UInt32
    /// The file as the kernel sees it.
    public var kdev: UInt64
    public var ino: UInt64
    public var vmStart: UInt64
    public var vmEnd: UInt64
    /// Mapped by the kernel as the ELF interpreter (else by an mmap call).
    public var viaInterpreter: Bool
    /// The file's own name, not its path.
    public var name: String
}

/// The resolver object's library-mapping records (bpf/resolver.bpf.c), which only the
/// recording acts on; its call records are archived (DNSRecords).
public enum LibRecords {
    public static func mapping(_ data: UnsafeRawPointer, size: Int) throws -> LibMapping {
        guard size >= MemoryLayout<nt_lib_event>.size else { throw DecodeError.short(NT_KIND_DNS_LIB.rawValue, size) }
        let e = data.loadUnaligned(as: nt_lib_event.self)
        let name = cString(data, offset: MemoryLayout<nt_lib_event>.offset(of: \nt_lib_event.name)!,
                           capacity: Int(NT_LIB_NAME_MAX))
        return LibMapping(ts: e.ts, pid: e.task.pid, startNs: e.task.start_ns, ppid: e.task.ppid,
                          kdev: e.key.dev, ino: e.key.ino, vmStart: e.vm_start, vmEnd: e.vm_end,
                          viaInterpreter: e.how == NT_LIB_HOW_INTERP, name: name)
    }
}
