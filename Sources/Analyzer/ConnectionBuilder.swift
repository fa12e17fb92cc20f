import Format

/// Joins the socket stream into connections while the case is built, one row at a time,
/// as ConnectionIndex's definition does from every row sorted by (cookie, ts, row):
/// TCP one per cookie (or, lacking one, per kernel socket address while open); UDP one
/// per flow row. Rows arrive per ring, in time order; a connection is held from its
/// first row until `horizon` after its close, then written.
///
/// Only a cookie whose rows all arrive in time order (ties in arrival order, which is
/// the rows' order in the case) is joined here: that is what sorting them would give.
/// A cookie with a row out of order, or a row after its connection was written, is
/// joined again at the end from all its rows in the case, sorted; so are the rows
/// without a cookie. The answer never depends on how the rings interleaved.
final class ConnectionBuilder {
    private struct Open {
        var connection: Connection
        var lastTs: UInt64
    }
    /// Capture time a closed connection waits for late rows (e.g. an owner's first use
    /// after a reset) before it is written.
    static let horizon: UInt64 = 2_000_000_000

    private let w: TimelineWriter
    /// Where connections joined while decoding go (the case, or a pipe to it).
    var sink: CaseRowSink
    // Touched once per row on the one building thread: no dynamic exclusivity checks.
    /// Open connections by cookie: their place in `slots`, so a row updates its connection
    /// in place and the table moves only small values when it grows.
    @exclusivity(unchecked) private var open: [UInt64: Int] = [:]
    @exclusivity(unchecked) private var slots: [Open] = []
    @exclusivity(unchecked) private var freeSlots: [Int] = []
    /// Cookies whose connection is written: a row for one of them is out of order.
    @exclusivity(unchecked) private var written = Set<UInt64>()
    /// (close time, cookie) in arrival order.
    @exclusivity(unchecked) private var closing: [(ts: UInt64, cookie: UInt64)] = []
    @exclusivity(unchecked) private var closingHead = 0
    @exclusivity(unchecked) private var latest: UInt64 = 0
    @exclusivity(unchecked) private(set) var late = Set<UInt64>()
    @exclusivity(unchecked) private(set) var withoutCookie = 0

    init(into w: TimelineWriter) {
        self.w = w
        sink = w
    }

    /// Whether `finish` joins some connections from the case's socket rows, sorted.
    var needsRows: Bool { withoutCookie > 0 || !late.isEmpty }

    func add(_ e: TcpEventRow) throws {
        let cookie = e.cookie, ts = e.task.ts
        guard cookie != 0 else { withoutCookie += 1; return }
        if !late.isEmpty && late.contains(cookie) { return }
        if let i = open.index(forKey: cookie) {
            let j = open.values[i]
            guard ts >= slots[j].lastTs else {
                late.insert(cookie)
                open.remove(at: i)
                freeSlots.append(j)
                return
            }
            ConnectionIndex.apply(e, to: &slots[j].connection)
            slots[j].lastTs = ts
        } else if written.contains(cookie) {
            late.insert(cookie)
            return
        } else {
            var c = ConnectionIndex.begin(e)
            ConnectionIndex.apply(e, to: &c)
            if let j = freeSlots.popLast() {
                slots[j] = Open(connection: c, lastTs: ts)
                open[cookie] = j
            } else {
                open[cookie] = slots.count
                slots.append(Open(connection: c, lastTs: ts))
            }
        }
        if e.kind == .close { closing.append((ts, cookie)) }
        if ts > latest {
            latest = ts
            try retire()
        }
    }

    /// Writes the connections closed more than `horizon` before the latest row.
    private func retire() throws {
        while closingHead < closing.count, closing[closingHead].ts &+ Self.horizon <= latest {
            let cookie = closing[closingHead].cookie
            closingHead += 1
            if let j = open.removeValue(forKey: cookie) {
                try sink.connection(slots[j].connection)
                freeSlots.append(j)
                written.insert(cookie)
            }
        }
        if closingHead >= 4096 && closingHead * 2 >= closing.count {
            closing.removeFirst(closingHead)
            closingHead = 0
        }
    }

    /// Writes what is still held, then joins what could not be joined in arrival order,
    /// then the UDP flows.
    func finish() throws {
        for cookie in open.keys.sorted() { try w.connection(slots[open[cookie]!].connection) }
        open = [:]
        slots = []
        freeSlots = []
        written = []
        if withoutCookie > 0 { try ConnectionIndex.reconstructWithoutCookie(into: w) }
        if !late.isEmpty {
            try w.deleteConnections(cookies: late)
            try ConnectionIndex.reconstruct(cookies: late, into: w)
        }
        try ConnectionIndex.reconstructUDP(into: w)
    }
}
