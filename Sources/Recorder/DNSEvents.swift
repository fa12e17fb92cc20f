import CBPFGlue
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

/// Decoding of the resolver object's records (bpf/resolver.bpf.c).
enum DNSEvents {
    /// A resolver call: a row of its own; needs no probe state, so written on the recording thread.
    static func writeCall(_ data: UnsafeRawPointer, size: Int, into w: TimelineWriter) throws {
        guard size >= MemoryLayout<nt_dns_event>.size else { throw DecodeError.short(NT_KIND_DNS.rawValue, size) }
        let e = data.assumingMemoryBound(to: nt_dns_event.self)
        let task = (data + MemoryLayout<nt_dns_event>.offset(of: \nt_dns_event.task)!).assumingMemoryBound(to: nt_task.self)
        let name = cString(data, offset: MemoryLayout<nt_dns_event>.offset(of: \nt_dns_event.name)!,
                           capacity: Int(NT_DNS_NAME_MAX), length: Int(e.pointee.name_len))
        let addrsAt = data + MemoryLayout<nt_dns_event>.offset(of: \nt_dns_event.addrs)!
        var addrs: [String] = []
        for i in 0..<min(Int(e.pointee.naddrs), Int(NT_DNS_ADDRS_MAX)) {
            let a = addrsAt + i * MemoryLayout<nt_dns_addr>.stride
            let family = a.load(as: UInt16.self)
            let text = SocketTuple.address(family: family, a + MemoryLayout<nt_dns_addr>.offset(of: \nt_dns_addr.addr)!)
            if !addrs.contains(text) { addrs.append(text) }
        }
        try w.dns(DNSRow(task: TaskRow(ts: e.pointee.ts, task), callTs: e.pointee.call_ts,
                         function: DNSFunction(rawValue: Int(e.pointee.func)) ?? .getaddrinfo, name: name,
                         flags: DNSFlags(rawValue: Int(e.pointee.flags)), rc: e.pointee.rc, addresses: addrs))
    }

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
