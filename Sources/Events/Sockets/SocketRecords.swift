import CEventABI
import Format

/// The socket object's records (bpf/sockets.bpf.c) as timeline rows.
public enum SocketRecords {
    /// A record of a TCP connection (what the case joins into connections).
    @inline(__always)
    public static func isTcp(_ kind: UInt32) -> Bool {
        kind == NT_KIND_TCP_CONNECT.rawValue || kind == NT_KIND_TCP_ACCEPT.rawValue
            || kind == NT_KIND_TCP_CLOSE.rawValue || kind == NT_KIND_TCP_SPAN.rawValue
    }

    public static var decoder: RecordDecoder {
        let text = SocketText()
        return RecordDecoder(for: .sockets) { data, size, kind, w in
            try write(data, size: size, kind: kind, into: w, text: text)
        }
    }

    public static func tuple(_ p: UnsafeRawPointer) -> SocketTuple {
        let t = p.assumingMemoryBound(to: nt_sock_tuple.self).pointee
        let l = p + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.laddr)!
        let r = p + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.raddr)!
        return SocketTuple(family: t.family, laddr: SocketTuple.address(family: t.family, l), lport: t.lport,
                           raddr: SocketTuple.address(family: t.family, r), rport: t.rport)
    }

    /// A span's open, as the CONNECT or ACCEPT record it stands for would have been
    /// written (bpf/sockets.bpf.c nt_sock_sweep): the close's socket fields, the open's own.
    static func openOfSpan(_ data: UnsafeRawPointer) -> nt_tcp_event {
        let span = data.loadUnaligned(as: nt_tcp_span.self)
        var e = span.close
        e.ts = span.open_ts
        e.kind = span.open_kind == NT_KIND_TCP_ACCEPT.rawValue ? NT_KIND_TCP_ACCEPT.rawValue : NT_KIND_TCP_CONNECT.rawValue
        e.flags = span.open_flags
        if span.open_flags & UInt32(NT_SF_OWNER) == 0 { e.task = nt_task() }
        e.result = span.open_result
        e.oldstate = e.kind == NT_KIND_TCP_CONNECT.rawValue ? tcpSynSent : tcpEstablished
        e.bytes_acked = 0
        e.bytes_received = 0
        e.total_retrans = 0
        return e
    }
    private static let tcpEstablished: UInt32 = 1, tcpSynSent: UInt32 = 2

    /// The TCP records one record stands for, in time order, each an nt_tcp_event: a span
    /// is its open and its close, any other TCP kind (or 0, the snapshot) itself.
    @inline(__always)
    public static func forEachTcpRecord(_ data: UnsafeRawPointer, size: Int, kind: UInt32,
                                        _ body: (UnsafeRawPointer, UInt32) throws -> Void) throws {
        guard kind == NT_KIND_TCP_SPAN.rawValue else {
            guard size >= MemoryLayout<nt_tcp_event>.size else { throw DecodeError.short(kind, size) }
            return try body(data, kind)
        }
        guard size >= MemoryLayout<nt_tcp_span>.size else { throw DecodeError.short(kind, size) }
        var open = openOfSpan(data)
        let openKind = open.kind
        try withUnsafeBytes(of: &open) { try body($0.baseAddress!, openKind) }
        try body(data, NT_KIND_TCP_CLOSE.rawValue)
    }

    /// The row `write` stores for a TCP record (kind 0 or a TCP kind, at least an
    /// nt_tcp_event long): what the case builder joins into connections while it decodes.
    public static func tcpRow(_ data: UnsafeRawPointer, kind: UInt32, addresses: AddressStrings) -> TcpEventRow {
        let r = data.loadUnaligned(as: nt_tcp_event.self)
        let task = (data + MemoryLayout<nt_tcp_event>.offset(of: \nt_tcp_event.task)!).assumingMemoryBound(to: nt_task.self)
        let tp = data + MemoryLayout<nt_tcp_event>.offset(of: \nt_tcp_event.tuple)!
        let t = tp.loadUnaligned(as: nt_sock_tuple.self)
        let l = addresses.text(tp + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.laddr)!, family: t.family)
        let ra = addresses.text(tp + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.raddr)!, family: t.family)
        let k: TcpEventKind = kind == 0 ? .snapshot : kind == NT_KIND_TCP_CONNECT.rawValue ? .connect
            : kind == NT_KIND_TCP_ACCEPT.rawValue ? .accept : .close
        return TcpEventRow(
            task: TaskRow(ts: r.ts, task), kind: k, flags: SocketFlags(rawValue: Int(r.flags)), sockNetns: r.netns,
            tuple: SocketTuple(family: t.family, laddr: l, lport: t.lport, raddr: ra, rport: t.rport),
            cookie: r.cookie, sk: r.sk, startTs: r.start_ts, result: r.result, bytesAcked: r.bytes_acked,
            bytesReceived: r.bytes_received, retransmits: r.total_retrans, oldState: r.oldstate)
    }

    /// `text` given: the ring path, the same rows bound without building Strings or row structs
    /// (a comm that is not plain ASCII, or an unknown family, takes the String path: its text
    /// is repaired as String(decoding:) does).
    /// Kind 0 is a TCP socket the startup snapshot found open.
    public static func write(_ data: UnsafeRawPointer, size: Int, kind: UInt32, into w: TimelineWriter,
                             text: SocketText? = nil) throws {
        switch kind {
        case NT_KIND_TCP_SPAN.rawValue:
            try forEachTcpRecord(data, size: size, kind: kind) { p, k in
                try write(p, size: MemoryLayout<nt_tcp_event>.size, kind: k, into: w, text: text)
            }
        case 0, NT_KIND_TCP_CONNECT.rawValue, NT_KIND_TCP_ACCEPT.rawValue, NT_KIND_TCP_CLOSE.rawValue:
            guard size >= MemoryLayout<nt_tcp_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_tcp_event.self)
            let task = (data + MemoryLayout<nt_tcp_event>.offset(of: \nt_tcp_event.task)!).assumingMemoryBound(to: nt_task.self)
            let tp = data + MemoryLayout<nt_tcp_event>.offset(of: \nt_tcp_event.tuple)!
            let k: TcpEventKind = kind == 0 ? .snapshot : kind == NT_KIND_TCP_CONNECT.rawValue ? .connect
                : kind == NT_KIND_TCP_ACCEPT.rawValue ? .accept : .close
            if let text, let bt = text.task(ts: e.pointee.ts, task), let tuple = text.tuple(tp) {
                try w.tcpEvent(
                    task: bt, kind: k, flags: Int(e.pointee.flags), sockNetns: e.pointee.netns, tuple: tuple,
                    cookie: e.pointee.cookie, sk: e.pointee.sk, startTs: e.pointee.start_ts, result: e.pointee.result,
                    bytesAcked: e.pointee.bytes_acked, bytesReceived: e.pointee.bytes_received,
                    retransmits: e.pointee.total_retrans, oldState: e.pointee.oldstate)
                return
            }
            let r = e.pointee
            try w.tcpEvent(TcpEventRow(
                task: TaskRow(ts: r.ts, task), kind: k, flags: SocketFlags(rawValue: Int(r.flags)), sockNetns: r.netns,
                tuple: tuple(tp),
                cookie: r.cookie, sk: r.sk, startTs: r.start_ts, result: r.result, bytesAcked: r.bytes_acked,
                bytesReceived: r.bytes_received, retransmits: r.total_retrans, oldState: r.oldstate))
        case NT_KIND_UDP_FLOW.rawValue:
            guard size >= MemoryLayout<nt_udp_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_udp_event.self)
            let task = (data + MemoryLayout<nt_udp_event>.offset(of: \nt_udp_event.task)!).assumingMemoryBound(to: nt_task.self)
            let tp = data + MemoryLayout<nt_udp_event>.offset(of: \nt_udp_event.tuple)!
            if let text, let bt = text.task(ts: e.pointee.ts, task), let tuple = text.tuple(tp) {
                try w.udpFlow(task: bt, flags: Int(e.pointee.flags), sockNetns: e.pointee.netns, tuple: tuple,
                              cookie: e.pointee.cookie, bytes: e.pointee.bytes)
                return
            }
            let r = e.pointee
            try w.udpFlow(UdpFlowRow(
                task: TaskRow(ts: r.ts, task), flags: SocketFlags(rawValue: Int(r.flags)), sockNetns: r.netns,
                tuple: tuple(tp), cookie: r.cookie, bytes: r.bytes))
        default:
            throw DecodeError.unknownKind(kind)
        }
    }
}

/// Text for the socket rows' ring path: addresses from a direct-mapped cache (AddressText,
/// row slots 0 and 1) and the comm copied into a buffer of its own, all bound in place for
/// one insert. One thread uses it.
public final class SocketText {
    private let addresses = AddressText()
    private let comm = UnsafeMutablePointer<CChar>.allocate(capacity: Int(NT_COMM_LEN))

    public init() {}

    deinit { comm.deallocate() }

    /// The task columns, or nil when the comm is not plain ASCII (its text is then repaired
    /// by the String path, which this must not differ from).
    @inline(__always)
    func task(ts: UInt64, _ t: UnsafePointer<nt_task>) -> BorrowedTask? {
        let c = (UnsafeRawPointer(t) + MemoryLayout<nt_task>.offset(of: \nt_task.comm)!).assumingMemoryBound(to: UInt8.self)
        var n = 0
        while n < Int(NT_COMM_LEN) {
            let b = c[n]
            if b == 0 { break }
            if b >= 0x80 { return nil }
            n += 1
        }
        UnsafeMutableRawPointer(comm).copyMemory(from: c, byteCount: n)
        return BorrowedTask(ts: ts, pid: t.pointee.pid, tid: t.pointee.tid, startNs: t.pointee.start_ns,
                            ppid: t.pointee.ppid, parentStartNs: t.pointee.parent_start_ns,
                            uid: t.pointee.uid, gid: t.pointee.gid, cgroupID: t.pointee.cgroup_id,
                            cgroupV1ID: t.pointee.cgroup_v1_id, mntns: t.pointee.mntns, netns: t.pointee.netns,
                            pidns: t.pointee.pidns, comm: BorrowedText(base: comm, count: Int32(n)))
    }

    /// The tuple at `p` (an nt_sock_tuple), or nil for a family the cache cannot key.
    @inline(__always)
    func tuple(_ p: UnsafeRawPointer) -> BorrowedTuple? {
        let t = p.assumingMemoryBound(to: nt_sock_tuple.self)
        let family = t.pointee.family
        guard family <= 255 else { return nil }
        let l = addresses.text(p + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.laddr)!, family: UInt8(family), slot: 0)
        let r = addresses.text(p + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.raddr)!, family: UInt8(family), slot: 1)
        return BorrowedTuple(family: family, laddr: l, lport: t.pointee.lport, raddr: r, rport: t.pointee.rport)
    }
}
