import CBPFGlue
import Events
import Format

/// The sockets source (bpf/sockets.bpf.c): its records are archived undecoded;
/// UDP flow starts are also followed live, to retire idle flows from the kernel's
/// flow map and to notice the ones it evicted.
enum SocketEvents {
    /// A UDP flow with no datagram for this long is ended (and a later datagram starts a new one).
    static let udpIdleNs: UInt64 = 30_000_000_000

    static let maker = SourceMaker { options in
        guard options.wants(EventSource.sockets.name) else { return nil }
        return try source(udpFlowTableSize: options.udpFlowTableSize)
    }

    /// `udpFlowTableSize` overrides the flow map's size (tests use a small one to provoke evictions).
    static func source(udpFlowTableSize: UInt32? = nil) throws -> Source {
        let flows = UDPFlowTracker()
        let sweep = SocketSweep()
        let object = try BPFObject(EmbeddedBPF.Sockets.object,
                                   ringSizes: udpFlowTableSize.map { [EmbeddedBPF.Sockets.Map.udpFlows: $0] } ?? [:])
        return Source(
            name: EventSource.sockets.name, object: object,
            rings: [EmbeddedBPF.Sockets.Map.sockEvents], archived: EventSource.sockets.archivedKinds,
            live: [NT_KIND_UDP_FLOW.rawValue: { data, size, w in
                guard size >= MemoryLayout<nt_udp_event>.size else { throw DecodeError.short(NT_KIND_UDP_FLOW.rawValue, size) }
                try flows.started(data.assumingMemoryBound(to: nt_udp_event.self), into: w)
            }],
            snapshot: { object, w in try snapshot(object, into: w) },
            sweep: { object, deliver in try sweep.run(object, deliver: deliver) },
            tick: { object, w, now, final in try flows.retire(object, into: w, now: now, all: final) })
    }

    /// TCP sockets open at start, one row per (process, socket), from the task_file iterator;
    /// it also seeds the kernel's per-socket owners so their closes are attributed.
    static func snapshot(_ object: BPFObject, into w: TimelineWriter) throws -> Int {
        let bytes = try object.runIterator(EmbeddedBPF.Sockets.Program.sockIter)
        let size = MemoryLayout<nt_tcp_event>.size
        let text = SocketText()
        var n = 0
        try bytes.withUnsafeBytes { raw in
            var off = 0
            while off + size <= raw.count {
                // The iterator's output is not aligned for nt_tcp_event: copy each record out.
                var e = nt_tcp_event()
                withUnsafeMutableBytes(of: &e) { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[off..<off + size])) }
                try withUnsafeBytes(of: &e) { try SocketRecords.write($0.baseAddress!, size: size, kind: 0, into: w, text: text) }
                off += size
                n += 1
            }
        }
        return n
    }
}
