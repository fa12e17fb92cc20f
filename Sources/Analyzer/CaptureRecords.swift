import CEventABI
import Events
import Format

extension Capture {
    /// The socket records of the capture's segments as the rows they stand for (a span is its
    /// open and its close). The case joins them into connections and keeps no row of each:
    /// this is for checking what the kernel wrote, record by record.
    public func tcpRecords() throws -> [TcpEventRow] {
        guard let evidence else { return [] }
        let addresses = AddressStrings()
        var out: [TcpEventRow] = []
        try CaseIndexer.forEachSegment(of: CaseIndexer.files(evidence: evidence, meta: meta, set: set), record: { p, size, k in
            guard SocketRecords.isTcp(k) else { return }
            try? SocketRecords.forEachTcpRecord(p, size: size, kind: k) { e, kind in
                out.append(SocketRecords.tcpRow(e, kind: kind, addresses: addresses))
            }
        })
        return out
    }

    /// The conntrack records of the capture's segments as rows (see `tcpRecords`).
    public func conntrackRecords() throws -> [ConntrackRow] {
        guard let evidence else { return [] }
        var out: [ConntrackRow] = []
        try CaseIndexer.forEachSegment(of: CaseIndexer.files(evidence: evidence, meta: meta, set: set), record: { p, size, k in
            guard ConntrackRecords.isEvent(k), size >= MemoryLayout<nt_ct_event>.size else { return }
            out.append(ConntrackRecords.row(p.assumingMemoryBound(to: nt_ct_event.self)))
        })
        return out
    }
}
