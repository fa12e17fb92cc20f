import Format

/// Conntrack rows in time order into mapping intervals, each written to the case being
/// built as it closes. Only open entries are held.
final class NATReplay {
    // One conntrack entry at a time holds a given tuple (in either direction) per namespace and zone.
    private struct Key: Hashable {
        var netns: UInt32; var zone: UInt16; var proto: UInt8; var t: ConntrackTuple
        /// The integers alone (equality still compares the addresses): hashing the address
        /// text would be most of a lookup, and the ports already tell a busy table's tuples apart.
        func hash(into h: inout Hasher) {
            h.combine(UInt64(netns) << 32 | UInt64(zone) << 16 | UInt64(proto))
            h.combine(UInt32(t.sport) << 16 | UInt32(t.dport))
        }
    }
    private let w: TimelineWriter
    /// Where closed mappings go (the case, or a pipe to it).
    var sink: CaseRowSink
    private let captureStart: UInt64
    // Touched once per row on the one building thread: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var open: [Int: NATMapping] = [:]
    @exclusivity(unchecked) private var openByTuple: [Key: Int] = [:]
    @exclusivity(unchecked) private var openByStart: [UInt64: [Int]] = [:]
    // The NEW row's own time, which an END row names as its start_ts.
    @exclusivity(unchecked) private var seenAt: [Int: UInt64] = [:]
    @exclusivity(unchecked) private var counts: [String: Int] = [:]
    @exclusivity(unchecked) private var next = 0
    @exclusivity(unchecked) private var newRows = 0, reopenRows = 0, snapshotRows = 0, netlinkRows = 0, endRows = 0

    init(into w: TimelineWriter, captureStart: UInt64) {
        self.w = w
        sink = w
        self.captureStart = captureStart
    }

    private func close(_ i: Int, at ts: UInt64, _ kind: NATEnd) throws {
        guard var m = open.removeValue(forKey: i) else { return }
        m.end = max(ts, m.start)
        m.endKind = kind
        func release(_ t: ConntrackTuple) {
            let k = Key(netns: m.netns, zone: m.zone, proto: m.proto, t: t)
            if let j = openByTuple.index(forKey: k), openByTuple.values[j] == i { openByTuple.remove(at: j) }
        }
        release(m.orig)
        release(m.reply)
        if let t = seenAt.removeValue(forKey: i) {
            openByStart[t]?.removeAll { $0 == i }
            if openByStart[t]?.isEmpty == true { openByStart.removeValue(forKey: t) }
        }
        try sink.natMapping(m)
    }

    /// The next row in (ts, row) order.
    func apply(_ r: ConntrackRow) throws {
        let ko = Key(netns: r.netns, zone: r.zone, proto: r.proto, t: r.orig)
        let kr = Key(netns: r.netns, zone: r.zone, proto: r.proto, t: r.reply)
        switch r.kind {
        case .new:
            let kind: NATStart = r.flags.contains(.snapshot) ? .snapshot
                : r.flags.contains(.reopen) ? .reopen : r.flags.contains(.netlink) ? .netlink : .new
            switch kind {
            case .new: newRows += 1
            case .reopen: reopenRows += 1
            case .snapshot: snapshotRows += 1
            case .netlink: netlinkRows += 1
            }
            if kind == .snapshot, let i = openByTuple[ko], let m = open[i], m.reply == r.reply {
                // Seen new between attaching and the dump: the live row already says it all.
                counts["snapshot_duplicates", default: 0] += 1
                return
            }
            if let i = openByTuple[ko] { try close(i, at: r.ts, .superseded) }
            if let i = openByTuple[kr] { try close(i, at: r.ts, .superseded) }
            let m = NATMapping(netns: r.netns, family: r.family, proto: r.proto, zone: r.zone, mark: r.mark,
                               status: r.status, cgroupID: r.cgroupID, orig: r.orig, reply: r.reply,
                               start: kind == .snapshot ? min(r.ts, captureStart) : r.ts, startKind: kind,
                               end: nil, endKind: .open)
            let i = next
            next += 1
            open[i] = m
            openByTuple[ko] = i
            openByTuple[kr] = i
            openByStart[r.ts, default: []].append(i)
            seenAt[i] = r.ts
        case .end:
            endRows += 1
            var target: Int?
            if r.startTs != 0 {
                target = openByStart[r.startTs]?.first { open[$0]?.netns == r.netns && open[$0]?.orig == r.orig }
            } else if let i = openByTuple[ko], open[i]?.reply == r.reply {
                target = i
            }
            guard let i = target else {
                counts["end_unmatched", default: 0] += 1
                return
            }
            try close(i, at: r.ts, r.flags.contains(.netlink) ? .destroyed : .observed)
        }
    }

    /// Writes the entries still open at the end, and the row counts.
    func finish() throws {
        for (_, m) in open.sorted(by: { $0.key < $1.key }) { try sink.natMapping(m) }
        for (kind, n) in [(NATStart.new, newRows), (.reopen, reopenRows), (.snapshot, snapshotRows), (.netlink, netlinkRows)]
        where n > 0 {
            counts["new." + kind.rawValue] = n
        }
        if endRows > 0 { counts["end"] = endRows }
        for (k, v) in counts.sorted(by: { $0.key < $1.key }) { try w.count(NATIndex.countPrefix + k, v) }
    }
}

/// Feeds NATReplay while the case is built: conntrack rows arrive per ring, each ring in
/// time order, rings interleaved by when their segments were sealed. Rows wait in a
/// min-heap on (ts, arrival) until `horizon` of capture time has passed them, so they
/// replay in the order sorting every row would give. Should a row arrive older than one
/// already replayed, what was written is dropped and every row is replayed again, sorted,
/// from the case.
final class NATBuilder {
    /// Longer than a ring's rows can wait for their segment to be sealed (a second).
    static let horizon: UInt64 = 2_000_000_000

    /// A waiting row: its time and arrival number (its place in `rows`).
    private struct Pending { var ts: UInt64; var seq: Int }
    private let w: TimelineWriter
    private let captureStart: UInt64
    private let replay: NATReplay
    // Touched once per row on the one building thread: no dynamic exclusivity checks.
    @exclusivity(unchecked) private var heap: [Pending] = []
    /// Waiting rows by arrival number, from `first`; nil once replayed.
    @exclusivity(unchecked) private var rows: [ConntrackRow?] = []
    @exclusivity(unchecked) private var rowsHead = 0
    @exclusivity(unchecked) private var first = 0
    @exclusivity(unchecked) private var seq = 0
    @exclusivity(unchecked) private var latest: UInt64 = 0
    @exclusivity(unchecked) private var replayedTs: UInt64 = 0
    @exclusivity(unchecked) private(set) var outOfOrder = false
    /// Where closed mappings go (the case, or a pipe to it).
    var sink: CaseRowSink {
        get { replay.sink }
        set { replay.sink = newValue }
    }

    init(into w: TimelineWriter, captureStart: UInt64) {
        self.w = w
        self.captureStart = captureStart
        replay = NATReplay(into: w, captureStart: captureStart)
    }

    func add(_ r: ConntrackRow) throws {
        guard !outOfOrder else { return }
        if r.ts < replayedTs {
            outOfOrder = true
            heap = []
            rows = []
            return
        }
        push(Pending(ts: r.ts, seq: seq))
        rows.append(r)
        seq += 1
        if r.ts > latest { latest = r.ts }
        while let top = heap.first, top.ts &+ Self.horizon <= latest { try release() }
    }

    func finish() throws {
        while !outOfOrder && !heap.isEmpty { try release() }
        if outOfOrder {
            try w.deleteNATMappings(countPrefix: NATIndex.countPrefix)
            try NATIndex.reconstruct(into: w, captureStart: captureStart)
        } else {
            try replay.finish()
        }
    }

    private func release() throws {
        let p = pop()
        replayedTs = p.ts
        let i = rowsHead + (p.seq - first)
        let r = rows[i]!
        rows[i] = nil
        while rowsHead < rows.count && rows[rowsHead] == nil {
            rowsHead += 1
            first += 1
        }
        if rowsHead >= 4096 && rowsHead * 2 >= rows.count {
            rows.removeFirst(rowsHead)
            rowsHead = 0
        }
        try replay.apply(r)
    }

    @inline(__always) private static func less(_ a: Pending, _ b: Pending) -> Bool {
        a.ts < b.ts || (a.ts == b.ts && a.seq < b.seq)
    }

    private func push(_ p: Pending) {
        heap.append(p)
        var i = heap.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard Self.less(heap[i], heap[parent]) else { break }
            heap.swapAt(i, parent)
            i = parent
        }
    }

    private func pop() -> Pending {
        let top = heap[0]
        let last = heap.removeLast()
        guard !heap.isEmpty else { return top }
        heap[0] = last
        var i = 0
        let n = heap.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && Self.less(heap[l], heap[m]) { m = l }
            if r < n && Self.less(heap[r], heap[m]) { m = r }
            if m == i { break }
            heap.swapAt(i, m)
            i = m
        }
        return top
    }
}
