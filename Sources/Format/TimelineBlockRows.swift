/// The case's stored timeline: every line of a capture's whole timeline, in time order,
/// in zstd-compressed blocks of about 128 KiB of encoded lines, some 1,500 of them (the
/// analyzer's line encoding, `TimelineStore`). A window reads the few blocks that overlap it instead of joining
/// its connections, owners and NAT mappings again.
enum TimelineBlockRows {
    static let ddl: [String] = [
        """
        CREATE TABLE timeline_block (seq INTEGER PRIMARY KEY, capture_id INTEGER NOT NULL DEFAULT 1,
            first_ts INTEGER NOT NULL, last_ts INTEGER NOT NULL, lines INTEGER NOT NULL,
            raw_bytes INTEGER NOT NULL, data BLOB NOT NULL)
        """,
    ]
    /// Blocks are written in time order and never overlap: the first whose last line is at or
    /// after a window's start begins it.
    static let indexes = ["CREATE INDEX timeline_block_last ON timeline_block (capture_id, last_ts)"]
}

/// One stored block: its lines' encoding, compressed.
public struct TimelineBlock {
    public var firstTs: UInt64
    public var lastTs: UInt64
    public var lines: Int
    public var rawBytes: Int
    public var data: [UInt8]
    public init(firstTs: UInt64, lastTs: UInt64, lines: Int, rawBytes: Int, data: [UInt8]) {
        self.firstTs = firstTs; self.lastTs = lastTs; self.lines = lines; self.rawBytes = rawBytes; self.data = data
    }
}

extension TimelineWriter {
    public func timelineBlock(_ b: TimelineBlock) throws {
        let st = try statement("INSERT INTO timeline_block (first_ts, last_ts, lines, raw_bytes, data) VALUES (?, ?, ?, ?, ?)")
        st.bind(1, b.firstTs); st.bind(2, b.lastTs); st.bind(3, b.lines); st.bind(4, b.rawBytes); st.bind(5, blob: b.data)
        try insert(st)
    }

    /// Indexes the stored timeline (once its blocks are in).
    public func indexTimeline() throws {
        try commit()
        for sql in TimelineBlockRows.indexes { try db.execute(sql) }
    }
}

extension TimelineReader {
    /// The stored blocks with a line in [from, to], in time order: `body` gets each block's
    /// sequence number, line count and compressed bytes (valid only while it runs).
    public func timelineBlocks(from: UInt64, to: UInt64,
                               _ body: (_ seq: Int64, _ lines: Int, _ rawBytes: Int, _ data: UnsafeRawBufferPointer) throws -> Void) throws {
        let st = try reused("""
            SELECT seq, first_ts, lines, raw_bytes, data FROM timeline_block
            WHERE capture_id = 1 AND last_ts >= ? ORDER BY last_ts, seq
            """)
        st.bind(1, Int64(bitPattern: min(from, UInt64(Int64.max))))
        defer { st.reset() }
        while try st.step() {
            // Blocks are in time order: the first that begins after the window ends the read.
            guard st.uint64(1) <= to else { break }
            try body(st.int64(0), st.int(2), st.int(3), st.blobInPlace(4))
        }
    }
}

/// A stored block that cannot be read: the case is damaged (`nettrail index --rebuild` builds it again).
public struct TimelineBlockError: Error, CustomStringConvertible {
    public let seq: Int64
    public let why: String
    public init(seq: Int64, why: String) { self.seq = seq; self.why = why }
    public var description: String { "the case's stored timeline block \(seq) is damaged (\(why)): nettrail index --rebuild builds the case again" }
}
