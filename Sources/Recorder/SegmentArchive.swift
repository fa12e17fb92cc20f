import Dispatch
import Format
import Synchronization

/// The raw evidence path: each ring's records are copied as the kernel wrote
/// them into a buffer of that ring's; a full buffer (Segment.targetRawBytes), or
/// any buffer at a flush (about every second), is sealed — compressed and
/// chained — on a thread of its own, and the sealed segments come back to the
/// recording thread to be inserted (a row per segment). Nothing is decoded.
final class SegmentArchive: @unchecked Sendable {
    /// One ring's open buffer. Only the recording thread touches it.
    final class Ring {
        let source: String
        let name: String
        /// Touched once per record on the recording thread: no dynamic exclusivity checks.
        @exclusivity(unchecked) var buffer = RecordBuffer()
        init(source: String, name: String) {
            self.source = source
            self.name = name
        }
    }

    private let sealQueue = DispatchQueue(label: "nettrail.seal")
    /// Touched on sealQueue only.
    nonisolated(unsafe) private var sealer = SegmentSealer()
    private let sealed = Mutex<[SealedSegment]>([])
    private(set) var rings: [Ring] = []
    /// Records and stored bytes so far (the recorder's summary).
    @exclusivity(unchecked) private(set) var records = 0
    private(set) var storedBytes = 0
    private(set) var segments = 0
    /// A ring's buffer is sealed once it holds this much: Segment.targetRawBytes, or less when
    /// the capture is a rotating set, so one segment is a small share of a file (CaptureFiles).
    let targetRawBytes: Int

    init(targetRawBytes: Int = Segment.targetRawBytes) {
        self.targetRawBytes = targetRawBytes
    }

    func ring(source: String, name: String) -> Ring {
        let r = Ring(source: source, name: name)
        rings.append(r)
        return r
    }

    /// Copies one record; seals the ring's buffer once it is full.
    @inline(__always)
    func append(_ ring: Ring, _ data: UnsafeRawPointer, _ size: Int) {
        ring.buffer.append(data, count: size)
        if ring.buffer.rawBytes >= targetRawBytes { seal(ring) }
    }

    private func seal(_ ring: Ring) {
        guard !ring.buffer.isEmpty else { return }
        let (payload, n, first, last) = ring.buffer.take()
        records += n
        let source = ring.source, name = ring.name
        sealQueue.async { [self] in
            let s = sealer.seal(source: source, ring: name, payload: payload, records: n, firstTs: first, lastTs: last)
            sealed.withLock { $0.append(s) }
        }
    }

    /// Seals every ring's buffer, however little it holds.
    func flush() {
        for r in rings { seal(r) }
    }

    /// Inserts the segments sealed so far (in sequence order); returns how many. Before each,
    /// the files make room for it: a rotation commits what came before into the file it ends.
    @discardableResult
    func insertSealed(into files: CaptureFiles) throws -> Int {
        let done = sealed.withLock { s -> [SealedSegment] in
            defer { s.removeAll(keepingCapacity: true) }
            return s
        }
        for s in done {
            if try files.makeRoom(for: s.stored.count) { committed() }
            uncommittedHeaders.append(s.header)
            try files.insert(s)
            storedBytes += s.stored.count
        }
        segments += done.count
        return done.count
    }

    /// The segments inserted since the last commit, which a failed commit takes with it.
    private var uncommittedHeaders: [SegmentHeader] = []

    /// The writer committed: what was inserted is in the capture.
    func committed() { uncommittedHeaders.removeAll(keepingCapacity: true) }

    /// After a commit failed (the disk is full): every record read that the capture does
    /// not hold, sealed now and never inserted, and the oldest one's time.
    func uncommitted() -> (records: Int, firstTs: UInt64?) {
        flush()
        sealQueue.sync {}
        let all = uncommittedHeaders + sealed.withLock { $0.map(\.header) }
        return (all.reduce(0) { $0 + $1.records }, all.map(\.firstTs).min())
    }

    /// Seals everything left and waits for it: the end of the recording.
    func finish(into files: CaptureFiles) throws {
        flush()
        sealQueue.sync {}
        try insertSealed(into: files)
    }
}
