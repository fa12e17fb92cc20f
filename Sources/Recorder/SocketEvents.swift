import CBPFGlue
import Format
#if canImport(Glibc)
import Glibc
#endif

/// Decoding of the socket object's records (bpf/sockets.bpf.c), and the
/// retirement of idle UDP flows from its flow map.
enum SocketEvents {
    /// A UDP flow with no datagram for this long is ended (and a later datagram starts a new one).
    static let udpIdleNs: UInt64 = 30_000_000_000

    /// `udpFlowTableSize` overrides the flow map's size (tests use a small one to provoke evictions).
    static func source(udpFlowTableSize: UInt32? = nil) throws -> Source {
        let kinds: [nt_kind] = [NT_KIND_TCP_CONNECT, NT_KIND_TCP_ACCEPT, NT_KIND_TCP_CLOSE, NT_KIND_UDP_FLOW]
        let text = SocketText()
        let flows = UDPFlowTracker()
        let object = try BPFObject(EmbeddedBPF.sockets, ringSizes: udpFlowTableSize.map { ["udp_flows": $0] } ?? [:])
        return Source(
            name: "sockets", object: object,
            rings: ["sock_events"], kinds: Set(kinds.map(\.rawValue)),
            decode: { data, size, kind, w in try write(data, size: size, kind: kind, into: w, text: text, flows: flows) },
            snapshot: { object, w in try snapshot(object, into: w, text: text) },
            tick: { object, w, now, final in try flows.retire(object, into: w, now: now, all: final) })
    }

    static func tuple(_ p: UnsafeRawPointer) -> SocketTuple {
        let t = p.assumingMemoryBound(to: nt_sock_tuple.self).pointee
        let l = p + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.laddr)!
        let r = p + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.raddr)!
        return SocketTuple(family: t.family, laddr: SocketTuple.address(family: t.family, l), lport: t.lport,
                           raddr: SocketTuple.address(family: t.family, r), rport: t.rport)
    }

    /// TCP sockets open at start, one row per (process, socket), from the task_file iterator;
    /// it also seeds the kernel's per-socket owners so their closes are attributed.
    static func snapshot(_ object: BPFObject, into w: TimelineWriter, text: SocketText? = nil) throws -> Int {
        let bytes = try object.runIterator("nt_sock_iter")
        let size = MemoryLayout<nt_tcp_event>.size
        var n = 0
        try bytes.withUnsafeBytes { raw in
            var off = 0
            while off + size <= raw.count {
                // The iterator's output is not aligned for nt_tcp_event: copy each record out.
                var e = nt_tcp_event()
                withUnsafeMutableBytes(of: &e) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[off..<off + size])) }
                try withUnsafeBytes(of: &e) { try write($0.baseAddress!, size: size, kind: 0, into: w, text: text) }
                off += size
                n += 1
            }
        }
        return n
    }

    /// `text` given: the ring path, the same rows bound without building Strings or row structs
    /// (a comm that is not plain ASCII, or an unknown family, takes the String path: its text
    /// is repaired as String(decoding:) does).
    static func write(_ data: UnsafeRawPointer, size: Int, kind: UInt32, into w: TimelineWriter,
                      text: SocketText? = nil, flows: UDPFlowTracker? = nil) throws {
        switch kind {
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
            try flows?.started(e, into: w)
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
/// one insert. Only the recording thread uses it.
final class SocketText {
    private let addresses = AddressText()
    private let comm = UnsafeMutablePointer<CChar>.allocate(capacity: Int(NT_COMM_LEN))

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
