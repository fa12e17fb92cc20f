import CBPFGlue
import Events
import Format
#if canImport(Glibc)
import Glibc
#endif

/// The UDP flows the recorder has seen start and not yet ended. It ends flows that
/// went idle (and all of them when the recording stops), and it notices the ones the
/// kernel evicted from its LRU flow map when the map was full: those get an end row
/// marked `evicted` (last datagram and counters unknown) and are counted as loss, so
/// no flow is left looking open for ever. Only the recording thread uses it.
final class UDPFlowTracker {
    /// The flow map's key (struct nt_udp_key) in hashable form.
    struct Key: Hashable {
        var l0: UInt64, l1: UInt64, r0: UInt64, r1: UInt64
        var lport: UInt16, rport: UInt16, family: UInt16
        var netns: UInt32, pid: UInt32, startNs: UInt64

        init(_ k: nt_udp_key) {
            (l0, l1) = withUnsafeBytes(of: k.laddr) { ($0.load(as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self)) }
            (r0, r1) = withUnsafeBytes(of: k.raddr) { ($0.load(as: UInt64.self), $0.load(fromByteOffset: 8, as: UInt64.self)) }
            lport = k.lport; rport = k.rport; family = k.family
            netns = k.netns; pid = k.pid; startNs = k.start_ns
        }
    }

    private struct Open {
        var key: nt_udp_key
        /// The start row's time, which the kernel also keeps as the entry's first_ts.
        var first: UInt64
        /// The last sweep that found the entry in the kernel map.
        var seen: UInt64
    }

    private var open: [Key: Open] = [:]
    private var sweep: UInt64 = 0
    private var evicted: UInt64 = 0
    private var since: UInt64?

    /// A flow's start record: the key the kernel made for it (nt_udp_flow in
    /// bpf/sockets.bpf.c), rebuilt from the record's fields.
    func started(_ e: UnsafePointer<nt_udp_event>, into w: TimelineWriter) throws {
        let r = e.pointee
        var k = nt_udp_key()
        let tuple = UnsafeRawPointer(e) + MemoryLayout<nt_udp_event>.offset(of: \nt_udp_event.tuple)!
        if r.flags & UInt32(NT_SF_LADDR_ANY) == 0 {
            withUnsafeMutableBytes(of: &k.laddr) {
                $0.copyMemory(from: UnsafeRawBufferPointer(start: tuple + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.laddr)!, count: 16))
            }
        }
        withUnsafeMutableBytes(of: &k.raddr) {
            $0.copyMemory(from: UnsafeRawBufferPointer(start: tuple + MemoryLayout<nt_sock_tuple>.offset(of: \nt_sock_tuple.raddr)!, count: 16))
        }
        k.lport = r.tuple.lport
        k.rport = r.tuple.rport
        k.family = r.tuple.family
        k.netns = r.netns
        k.pid = r.task.pid
        k.start_ns = r.task.start_ns
        let key = Key(k)
        // The kernel only starts a flow whose key it does not hold: the earlier one was evicted.
        if let old = open[key] { try end(old.key, first: old.first, evictedBy: r.ts, into: w) }
        open[key] = Open(key: k, first: r.ts, seen: sweep)
    }

    /// Ends flows idle for `SocketEvents.udpIdleNs` (or every flow, at the end of the
    /// recording) and removes them from the kernel map; then ends, as evicted, every flow
    /// the map no longer holds.
    func retire(_ object: BPFObject, into w: TimelineWriter, now: UInt64, all: Bool) throws {
        let fd = try object.mapFD(EmbeddedBPF.Sockets.Map.udpFlows)
        sweep += 1
        var key = nt_udp_key(), next = nt_udp_key(), val = nt_udp_val()
        var retired: [(nt_udp_key, nt_udp_val)] = []
        var first = true, seenOpen = 0
        while true {
            let rc = first ? bpf_map_get_next_key(fd, nil, &next) : bpf_map_get_next_key(fd, &key, &next)
            first = false
            guard rc == 0 else { break }
            key = next
            guard bpf_map_lookup_elem(fd, &key, &val) == 0 else { continue }
            let k = Key(key)
            if open[k] != nil, open[k]!.seen != sweep { open[k]!.seen = sweep; seenOpen += 1 }
            if all || (now > val.last_ts && now - val.last_ts >= SocketEvents.udpIdleNs) { retired.append((key, val)) }
        }
        for (k, v) in retired {
            var k = k
            bpf_map_delete_elem(fd, &k)
            if open.removeValue(forKey: Key(k)) != nil { seenOpen -= 1 }
            try w.udpFlowEnd(row(k, reason: all ? .recordingEnd : .idle, ts: now, v))
        }
        if seenOpen < open.count {
            for (k, o) in open where o.seen != sweep {
                open.removeValue(forKey: k)
                try end(o.key, first: o.first, evictedBy: now, into: w)
            }
        }
        if evicted > 0 {
            try w.loss(LossRow(source: EventSource.sockets.name, kind: SocketRecords.evictedFlowLoss, count: evicted, fromNs: since ?? now, toNs: now))
            evicted = 0
        }
        since = now
    }

    /// An evicted flow: it ended at some time before `ts`; its counters are gone.
    private func end(_ k: nt_udp_key, first: UInt64, evictedBy ts: UInt64, into w: TimelineWriter) throws {
        var v = nt_udp_val()
        v.first_ts = first
        try w.udpFlowEnd(row(k, reason: .evicted, ts: ts, v))
        evicted += 1
    }

    private func row(_ k: nt_udp_key, reason: UdpFlowEndReason, ts: UInt64, _ v: nt_udp_val) -> UdpFlowEndRow {
        let t = withUnsafeBytes(of: k) { raw -> SocketTuple in
            let l = raw.baseAddress! + MemoryLayout<nt_udp_key>.offset(of: \nt_udp_key.laddr)!
            let r = raw.baseAddress! + MemoryLayout<nt_udp_key>.offset(of: \nt_udp_key.raddr)!
            return SocketTuple(family: k.family, laddr: SocketTuple.address(family: k.family, l), lport: k.lport,
                               raddr: SocketTuple.address(family: k.family, r), rport: k.rport)
        }
        return UdpFlowEndRow(
            ts: ts, reason: reason, sockNetns: k.netns, tuple: t, pid: k.pid,
            startNs: k.start_ns, firstTs: v.first_ts, lastTs: v.last_ts, txBytes: v.tx_bytes,
            rxBytes: v.rx_bytes, txPackets: v.tx_packets, rxPackets: v.rx_packets)
    }
}
