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

    static func source() throws -> Source {
        let kinds: [nt_kind] = [NT_KIND_TCP_CONNECT, NT_KIND_TCP_ACCEPT, NT_KIND_TCP_CLOSE, NT_KIND_UDP_FLOW]
        return Source(
            name: "sockets", object: try BPFObject(EmbeddedBPF.sockets),
            rings: ["sock_events"], kinds: Set(kinds.map(\.rawValue)),
            decode: { data, size, kind, w in try write(data, size: size, kind: kind, into: w) },
            snapshot: { object, w in try snapshot(object, into: w) },
            tick: { object, w, now, final in try retireUDPFlows(object, into: w, now: now, all: final) })
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
    static func snapshot(_ object: BPFObject, into w: TimelineWriter) throws -> Int {
        let bytes = try object.runIterator("nt_sock_iter")
        let size = MemoryLayout<nt_tcp_event>.size
        var n = 0
        try bytes.withUnsafeBytes { raw in
            var off = 0
            while off + size <= raw.count {
                // The iterator's output is not aligned for nt_tcp_event: copy each record out.
                var e = nt_tcp_event()
                withUnsafeMutableBytes(of: &e) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[off..<off + size])) }
                try withUnsafeBytes(of: &e) { try write($0.baseAddress!, size: size, kind: 0, into: w) }
                off += size
                n += 1
            }
        }
        return n
    }

    static func write(_ data: UnsafeRawPointer, size: Int, kind: UInt32, into w: TimelineWriter) throws {
        switch kind {
        case 0, NT_KIND_TCP_CONNECT.rawValue, NT_KIND_TCP_ACCEPT.rawValue, NT_KIND_TCP_CLOSE.rawValue:
            guard size >= MemoryLayout<nt_tcp_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_tcp_event.self).pointee
            let task = (data + MemoryLayout<nt_tcp_event>.offset(of: \nt_tcp_event.task)!).assumingMemoryBound(to: nt_task.self)
            let k: TcpEventKind = kind == 0 ? .snapshot : kind == NT_KIND_TCP_CONNECT.rawValue ? .connect
                : kind == NT_KIND_TCP_ACCEPT.rawValue ? .accept : .close
            try w.tcpEvent(TcpEventRow(
                task: TaskRow(ts: e.ts, task), kind: k, flags: SocketFlags(rawValue: Int(e.flags)), sockNetns: e.netns,
                tuple: tuple(data + MemoryLayout<nt_tcp_event>.offset(of: \nt_tcp_event.tuple)!),
                cookie: e.cookie, sk: e.sk, startTs: e.start_ts, result: e.result, bytesAcked: e.bytes_acked,
                bytesReceived: e.bytes_received, retransmits: e.total_retrans, oldState: e.oldstate))
        case NT_KIND_UDP_FLOW.rawValue:
            guard size >= MemoryLayout<nt_udp_event>.size else { throw DecodeError.short(kind, size) }
            let e = data.assumingMemoryBound(to: nt_udp_event.self).pointee
            let task = (data + MemoryLayout<nt_udp_event>.offset(of: \nt_udp_event.task)!).assumingMemoryBound(to: nt_task.self)
            try w.udpFlow(UdpFlowRow(
                task: TaskRow(ts: e.ts, task), flags: SocketFlags(rawValue: Int(e.flags)), sockNetns: e.netns,
                tuple: tuple(data + MemoryLayout<nt_udp_event>.offset(of: \nt_udp_event.tuple)!),
                cookie: e.cookie, bytes: e.bytes))
        default:
            throw DecodeError.unknownKind(kind)
        }
    }

    /// Ends flows idle for `udpIdleNs` (or every flow, at the end of the recording)
    /// and removes them from the kernel map.
    static func retireUDPFlows(_ object: BPFObject, into w: TimelineWriter, now: UInt64, all: Bool) throws {
        let fd = try object.mapFD("udp_flows")
        var key = nt_udp_key(), next = nt_udp_key(), val = nt_udp_val()
        var retired: [(nt_udp_key, nt_udp_val)] = []
        var first = true
        while true {
            let rc = first ? bpf_map_get_next_key(fd, nil, &next) : bpf_map_get_next_key(fd, &key, &next)
            first = false
            guard rc == 0 else { break }
            key = next
            guard bpf_map_lookup_elem(fd, &key, &val) == 0 else { continue }
            if all || (now > val.last_ts && now - val.last_ts >= udpIdleNs) { retired.append((key, val)) }
        }
        for (k, v) in retired {
            var k = k
            bpf_map_delete_elem(fd, &k)
            let t = withUnsafeBytes(of: k) { raw -> SocketTuple in
                let l = raw.baseAddress! + MemoryLayout<nt_udp_key>.offset(of: \nt_udp_key.laddr)!
                let r = raw.baseAddress! + MemoryLayout<nt_udp_key>.offset(of: \nt_udp_key.raddr)!
                return SocketTuple(family: k.family, laddr: SocketTuple.address(family: k.family, l), lport: k.lport,
                                   raddr: SocketTuple.address(family: k.family, r), rport: k.rport)
            }
            try w.udpFlowEnd(UdpFlowEndRow(
                ts: now, reason: all ? .recordingEnd : .idle, sockNetns: k.netns, tuple: t, pid: k.pid,
                startNs: k.start_ns, firstTs: v.first_ts, lastTs: v.last_ts, txBytes: v.tx_bytes,
                rxBytes: v.rx_bytes, txPackets: v.tx_packets, rxPackets: v.rx_packets))
        }
    }
}
