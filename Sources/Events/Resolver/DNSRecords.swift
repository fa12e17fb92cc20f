import CEventABI
import Format

/// The resolver object's call records (bpf/resolver.bpf.c) as timeline rows.
public enum DNSRecords {
    public static var decoder: RecordDecoder {
        RecordDecoder(for: .resolver) { data, size, _, w in try writeCall(data, size: size, into: w) }
    }

    /// A resolver call: a row of its own.
    public static func writeCall(_ data: UnsafeRawPointer, size: Int, into w: TimelineWriter) throws {
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
}
