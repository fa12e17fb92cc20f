import Dispatch
import Foundation
import Format
import Synchronization

/// The file or files a recording writes: one capture, or with `--file-size` a
/// numbered set (CaptureSet): FILE, FILE.1, FILE.2, … each finished as a normal
/// stop finishes a capture, so each reads alone. Only the recording thread
/// touches it; finished files are closed (checkpointed, out of WAL mode) on a
/// queue of their own, so a rotation does not hold up the reading of the rings.
final class CaptureFiles {
    /// What a member holds, for the rotated_out loss that says it is gone.
    struct Member {
        let index: Int
        let path: String
        var from: UInt64
        var to: UInt64
        var records = 0
    }

    let base: String
    /// Each file's cap (its size once checkpointed); nil: one file, never rotated.
    let fileBytes: UInt64?
    let maxFiles: Int?
    let setID: String
    private(set) var writer: TimelineWriter
    private var checkpointer: WALCheckpointer
    /// The members on disk, oldest first; the last is being written.
    private(set) var members: [Member]
    /// Writes what every file carries (host, boot, layouts, a clock anchor) at a file's start.
    private let describe: (TimelineWriter, (boot: UInt64, wall: UInt64)) throws -> Void
    private let setStartBoot: UInt64
    private var lastHead: [UInt8]?
    private var nextSeq: Int64 = 0
    private var rotatedOutThrough: Int?
    /// Every member --max-files removed so far, together: one loss row, written again whole in
    /// each new file, since a file that held an earlier row may itself be removed later.
    private var rotatedOut: (from: UInt64, to: UInt64, records: Int)?
    /// Room kept free in a file for the rows a turn writes besides segments: the most one turn
    /// has written so far, and 64 KiB for the rows of the stop (losses, anchors, meta).
    private var maxRowGrowth: UInt64 = 0
    private static let tailBytes: UInt64 = 64 << 10
    private var turnStart: (index: Int, bytes: UInt64)?
    /// Whether a segment went into the current file: a file holding none cannot gain room by rotating.
    private var segmentsInFile = 0
    private let closing = DispatchQueue(label: "nettrail.close-member")
    /// The first close that failed on `closing` (the file stays readable with its WAL).
    private let closeFailure = CloseFailure()
    private var closedLossTotals: [String: UInt64] = [:]

    /// Creates the first file (FILE). A rotating recording owns FILE.k too: without `force` one
    /// already there refuses the start; with it, each must be a capture (or empty) and is
    /// removed, so an older set's members never mix into this one.
    init(base: String, force: Bool, fileBytes: UInt64?, maxFiles: Int?, started: (boot: UInt64, wall: UInt64),
         describe: @escaping (TimelineWriter, (boot: UInt64, wall: UInt64)) throws -> Void) throws {
        self.base = base
        self.fileBytes = fileBytes
        self.maxFiles = maxFiles
        self.describe = describe
        setStartBoot = started.boot
        setID = hexString((0..<16).map { _ in UInt8.random(in: 0...255) })
        let stale = fileBytes == nil ? [] : try CaptureSet.staleMembers(base: base, force: force)
        writer = try TimelineWriter(path: base, force: force)
        for p in stale { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(p + suffix) } }
        checkpointer = WALCheckpointer(path: base)
        checkpointer.start()
        members = [Member(index: 0, path: base, from: started.boot, to: started.boot)]
        do {
            try describe(writer, started)
            if fileBytes != nil { try writeSetMeta(previous: nil) }
        } catch {
            discard()
            throw error
        }
    }

    /// The largest segment a recording with this cap seals: an eighth of a file, so a file holds
    /// several and the layouts, and rotating before one never leaves a file far under its cap.
    static func segmentTarget(fileBytes: UInt64?) -> Int {
        guard let fileBytes else { return Segment.targetRawBytes }
        return min(Segment.targetRawBytes, Int(fileBytes / 8))
    }

    /// The most a segment of `raw` bytes can take in a file: zstd's bound on its output, and the
    /// pages the row and its overflow chain may add.
    private func cost(ofStored n: Int) -> UInt64 {
        UInt64(n + n / 128 + 4 * writer.pageSize)
    }

    private var reserve: UInt64 { Self.tailBytes + maxRowGrowth }

    /// Refuses a start whose first file cannot hold its own startup snapshot and one segment.
    func checkFirstFile(segmentTarget: Int) throws {
        guard let cap = fileBytes else { return }
        let used = try writer.logicalBytes()
        let worst = cost(ofStored: segmentTarget + segmentTarget / 64 + (64 << 10))
        if used + worst + reserve > cap {
            throw RecorderError.system(String(format:
                "--file-size %.1f MiB is too small for this host: the first file's layouts and startup snapshot take %.1f MiB, and a segment up to %.2f MiB more",
                Double(cap) / 1_048_576, Double(used) / 1_048_576, Double(worst) / 1_048_576))
        }
    }

    /// Called at the start of each turn of the recording loop: rotates when the rows a turn may
    /// write would not fit.
    func turnStarted() throws {
        guard fileBytes != nil else { return }
        _ = try makeRoom(for: 0)
        turnStart = (members.last!.index, try writer.logicalBytes())
    }

    /// Called once a turn's rows are written (before its segments): how much they took.
    func rowsWritten() throws {
        guard fileBytes != nil, let t = turnStart, t.index == members.last!.index else { return }
        let now = try writer.logicalBytes()
        if now > t.bytes { maxRowGrowth = max(maxRowGrowth, now - t.bytes) }
        turnStart = nil
    }

    /// Rotates first when `stored` more bytes (0: only the rows' reserve) would take the current
    /// file past its cap. Returns whether it rotated (everything before is then committed).
    func makeRoom(for stored: Int) throws -> Bool {
        guard let cap = fileBytes, segmentsInFile > 0 else { return false }
        let need = (stored > 0 ? cost(ofStored: stored) : 0) + reserve
        guard try writer.logicalBytes() + need > cap else { return false }
        try rotate()
        return true
    }

    func insert(_ s: SealedSegment) throws {
        try writer.segment(s)
        segmentsInFile += 1
        lastHead = s.sha256
        nextSeq = s.header.seq + 1
        members[members.count - 1].records += s.header.records
        members[members.count - 1].from = min(members[members.count - 1].from, s.header.firstTs)
        members[members.count - 1].to = max(members[members.count - 1].to, s.header.lastTs)
    }

    /// Ends the current file as a stop ends a capture and goes on in the next. Segments sealed
    /// before the switch and inserted after it are in the next file: a file may hold records
    /// up to a commit interval older than its start (its span in `set_prev_span` says so).
    private func rotate() throws {
        let end = Clock.anchor()
        try writer.clockAnchor(bootNs: end.boot, wallNs: end.wall)
        try writer.setMeta("end_boot_ns", String(end.boot))
        try writer.setMeta("end_wall_ns", String(end.wall))
        try writer.commit()
        members[members.count - 1].to = max(members[members.count - 1].to, end.boot)
        let previous = members[members.count - 1]
        let index = previous.index + 1
        let start = Clock.anchor()
        // Made before the finished file is handed off: a failure here leaves that one current.
        let next = try TimelineWriter(path: CaptureSet.memberPath(base: base, index: index), force: false)
        let old = writer, oldCheckpointer = checkpointer
        closedLossTotals.merge(old.lossTotals, uniquingKeysWith: +)
        let failure = closeFailure
        closing.async {
            oldCheckpointer.stop()
            do { try old.close() } catch { failure.keep("cannot finish \(old.path): \(error)") }
        }
        writer = next
        checkpointer = WALCheckpointer(path: next.path)
        checkpointer.start()
        segmentsInFile = 0
        members.append(Member(index: index, path: next.path, from: start.boot, to: start.boot))
        try describe(writer, start)
        try writeSetMeta(previous: previous)
        if let maxFiles {
            while members.count > maxFiles {
                let gone = members.removeFirst()
                let sofar = rotatedOut ?? (gone.from, gone.to, 0)
                rotatedOut = (min(sofar.from, gone.from), max(sofar.to, gone.to), sofar.records + gone.records)
                rotatedOutThrough = gone.index
                try writer.setMeta(CaptureSet.Key.rotatedOutThrough, String(gone.index))
                // After its close, which the same queue runs first.
                closing.async { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(gone.path + suffix) } }
            }
        }
        if let r = rotatedOut {
            try writer.loss(LossRow(source: CaptureLoss.recorder, kind: CaptureLoss.rotatedOut, count: UInt64(r.records),
                                    fromNs: r.from, toNs: r.to))
        }
        try writer.commit()
    }

    private func writeSetMeta(previous: Member?) throws {
        typealias K = CaptureSet.Key
        try writer.setMeta(K.id, setID)
        try writer.setMeta(K.index, String(members.last!.index))
        try writer.setMeta(K.startBootNs, String(setStartBoot))
        try writer.setMeta(K.firstSeq, String(nextSeq))
        if let previous {
            if let lastHead { try writer.setMeta(K.previousChainHead, hexString(lastHead)) }
            try writer.setMeta(K.previousSpan, CaptureSet.spanText(previous.from, previous.to))
            try writer.setMeta(K.previousRecords, String(previous.records))
        }
        if let rotatedOutThrough { try writer.setMeta(K.rotatedOutThrough, String(rotatedOutThrough)) }
    }

    /// Every loss written, in every file.
    var lossTotals: [String: UInt64] {
        var all = closedLossTotals.merging(writer.lossTotals, uniquingKeysWith: +)
        // Each file repeats the rotated_out row so far: the latest is the whole of it.
        all[CaptureLoss.rotatedOut] = rotatedOut.map { UInt64($0.records) }
        return all
    }

    var fileCount: Int { members.last!.index + 1 }

    /// The set's files on disk and their WALs, in bytes: what --max-size bounds.
    var totalBytes: UInt64 { members.reduce(0) { $0 + Footprint.bytes($1.path) } }

    /// Finishes the current file (the caller has written its end) and waits for the others.
    func close() throws {
        checkpointer.stop()
        try writer.close()
        closing.sync {}
        if let why = closeFailure.first { throw RecorderError.system(why) }
    }

    /// A start that failed: only the first file exists, and it goes.
    func discard() {
        checkpointer.stop()
        writer.discard()
    }

    /// However recording ended, no checkpointer or close is left running.
    func stopThreads() {
        checkpointer.stop()
        closing.sync {}
    }
}

final class CloseFailure: Sendable {
    private let text = Mutex<String?>(nil)
    func keep(_ why: String) { text.withLock { if $0 == nil { $0 = why } } }
    var first: String? { text.withLock { $0 } }
}
