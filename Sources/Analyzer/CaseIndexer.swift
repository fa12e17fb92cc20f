import CEventABI
import Events
import Foundation
import Format

/// What building a case found.
public struct IndexSummary: Sendable {
    public var segments = 0
    public var records = 0
    public var damaged = 0
    public var malformed = 0
    public var seconds = 0.0
}

public enum CaseBuildError: Error, CustomStringConvertible {
    case abi(String, String)
    public var description: String {
        switch self {
        case .abi(let path, let why): return "\(path): \(why)"
        }
    }
}

/// Decodes a capture's segments, once, into a case: the capture's row tables
/// copied, every archived record decoded by its source's decoder (Events),
/// damaged segments noted with the span they cover, and everything indexed.
enum CaseIndexer {
    /// Refuses records this build would misread: another ABI version, or a kind
    /// whose struct is not the size this build knows.
    static func checkLayouts(_ evidence: TimelineReader, meta: [String: String], segments: Int) throws {
        guard segments > 0 else { return }
        let ours = Dictionary(RecordDecoders.layoutRows().map { ($0.kind, $0) }, uniquingKeysWith: { a, _ in a })
        let abi = meta["abi_version"].flatMap(Int.init)
        guard let abi, RecordDecoders.abiVersions.contains(abi) else {
            let known = RecordDecoders.abiVersions
            throw CaseBuildError.abi(evidence.path,
                "its records use event ABI version \(meta["abi_version"] ?? "unknown"); this nettrail decodes versions \(known.lowerBound) to \(known.upperBound)")
        }
        for k in try evidence.recordKinds() {
            guard let mine = ours[k.kind] else { continue }
            if mine.size != k.size || mine.structName != k.structName {
                throw CaseBuildError.abi(evidence.path,
                    "record \(k.name) is \(k.structName) of \(k.size) bytes; this nettrail reads \(mine.structName) of \(mine.size)")
            }
        }
    }

    /// Builds the case at `path` (the caller renames it into place: a case file that exists is complete).
    /// One file the case is built from: a capture, or a member of a set, whose segment chain
    /// starts at `chainStart` (zeros, or the digest the member before it ended with).
    struct File {
        let reader: TimelineReader
        let meta: [String: String]
        let chainStart: [UInt8]
    }

    /// `set`: build from every member of the capture set `evidence` belongs to, in order, as one capture.
    static func build(evidence: TimelineReader, meta: [String: String], set: CaptureSetMembers? = nil, identity: String,
                      into path: String, progress: IndexProgress?) throws -> IndexSummary {
        let began = Date()
        // Taken first: if the capture grows while this runs (a live recorder), the case is stale at once.
        let members = set.map(CaseStore.memberRows)
        let state = CaseStore.state(evidence, members)
        let files = Self.files(evidence: evidence, meta: meta, set: set)
        var totalSegments = 0
        for f in files {
            try f.reader.check()
            let n = try f.reader.segmentSummary().count
            try checkLayouts(f.reader, meta: f.meta, segments: n)
            totalSegments += n
        }
        let w = try TimelineWriter(path: path, force: true, kind: .caseDatabase)
        for (i, f) in files.enumerated() {
            try w.copyRows(fromCapture: f.reader.path, skipping: i == 0 ? [] : ["meta"])
        }
        if let set { try mergeSetMeta(set, into: w) }
        let outOfRange = try w.outOfRangeCopiedRows()
        let decoders = RecordDecoders()
        var s = IndexSummary()
        var head: [UInt8]?
        let start = files[0].meta["start_boot_ns"].flatMap(UInt64.init) ?? 0
        // The intervals every query reads (connections with their owners, NAT mappings) are
        // joined from the rows as they are decoded, after the rows the capture held as rows.
        let connections = ConnectionBuilder(into: w)
        let nat = NATBuilder(into: w, captureStart: start)
        let addresses = AddressStrings()
        try w.forEachTcpEvent { try connections.add($0) }
        try w.forEachConntrackWritten { try nat.add($0) }
        // From here until the segments are read, only the pipe's thread uses `w`.
        let pipe = CaseRowPipe(into: w)
        connections.sink = pipe
        nat.sink = pipe
        var joined = (tcp: 0, conntrack: 0)
        var lastTs = start
        do {
            try forEachSegment(of: files, record: { p, size, kind in
                do {
                    // Socket and conntrack records (nearly all of a busy capture) are joined
                    // into connections and mappings, not stored as rows: what every query
                    // reads is the join, and the records stay in the capture's segments.
                    switch kind {
                    case let k where SocketRecords.isTcp(k):
                        try SocketRecords.forEachTcpRecord(p, size: size, kind: k) { e, kind in
                            joined.tcp += 1
                            try connections.add(SocketRecords.tcpRow(e, kind: kind, addresses: addresses))
                        }
                    case let k where ConntrackRecords.isEvent(k):
                        guard size >= MemoryLayout<nt_ct_event>.size else { throw DecodeError.short(k, size) }
                        joined.conntrack += 1
                        try nat.add(ConntrackRecords.row(p.assumingMemoryBound(to: nt_ct_event.self), addresses: addresses))
                    default:
                        try pipe.record(p, size: size)
                    }
                } catch is DecodeError { s.malformed += 1 }
            }, segment: { header, sha256, damage in
                s.segments += 1
                head = Array(sha256)
                if let damage {
                    s.damaged += 1
                    try pipe.damage(header: header, reason: damage.description)
                    // Every answer that checks loss windows sees the hole.
                    try pipe.loss(LossRow(source: header.source, kind: CaptureLoss.segmentDamaged, count: UInt64(max(0, header.records)),
                                       fromNs: header.firstTs, toNs: max(header.firstTs, header.lastTs)))
                } else {
                    s.records += header.records
                    lastTs = max(lastTs, header.lastTs)
                }
                progress?.update(segments: s.segments, of: totalSegments, records: s.records)
            })
        } catch {
            // The writer stops before the error leaves: nothing uses `w` behind the caller's back.
            _ = try? pipe.finish()
            throw error
        }
        s.malformed += try pipe.finish()
        connections.sink = w
        nat.sink = w
        if s.malformed > 0 {
            try w.loss(LossRow(source: CaptureLoss.decoder, kind: CaptureLoss.malformed, count: UInt64(s.malformed), fromNs: start, toNs: lastTs))
        }
        // A join that must see its rows sorted (rare: see ConnectionBuilder, NATBuilder) reads
        // them from the case: they are decoded into it again first.
        let rowsNeeded = (tcp: connections.needsRows, conntrack: nat.outOfOrder)
        if rowsNeeded.tcp || rowsNeeded.conntrack {
            try writeRows(of: files, tcp: rowsNeeded.tcp, conntrack: rowsNeeded.conntrack, into: w, decoders: decoders)
        }
        try connections.finish()
        try nat.finish()
        try w.indexReconstructed()
        try w.storeTableCounts(outOfRange: outOfRange, notStored: [
            "tcp_event": rowsNeeded.tcp ? 0 : joined.tcp, "conntrack": rowsNeeded.conntrack ? 0 : joined.conntrack,
        ])
        // The whole timeline, stored: read from the tables just written, as a query reads them.
        try TimelineStore.build(w, progress: progress)
        for (i, m) in (members ?? []).enumerated() where i < files.count { try w.caseMember(captureID: 1, m) }
        try w.caseCapture(CaseCaptureRow(
            captureID: 1, path: evidence.path, identity: identity, size: state.size, mtimeNs: state.mtimeNs,
            schemaVersion: evidence.schemaVersion, segments: s.segments, chainHead: head, records: s.records,
            indexedWallNs: Int64(Date().timeIntervalSince1970 * 1e9), analyzerVersion: CaseStore.analyzerVersion))
        try w.close()
        progress?.done()
        s.seconds = Date().timeIntervalSince(began)
        return s
    }

    /// A set's case reads as one capture: the first member's meta (start, host, layouts) with
    /// the newest member's end, and a loss for each member that is missing.
    static func mergeSetMeta(_ set: CaptureSetMembers, into w: TimelineWriter) throws {
        let newest = set.members.last!.meta
        for key in ["end_boot_ns", "end_wall_ns", "stop_reason", CaptureSet.Key.rotatedOutThrough] {
            if let v = newest[key] { try w.setMeta(key, v) } else { try w.deleteMeta(key) }
        }
        // What describes one member and its predecessor, not the set.
        for key in CaptureSet.Key.all where ![CaptureSet.Key.id, CaptureSet.Key.startBootNs,
                                                CaptureSet.Key.rotatedOutThrough].contains(key) {
            try w.deleteMeta(key)
        }
        try w.keepWidestLoss(kind: CaptureLoss.rotatedOut)
        for l in set.gapLosses { try w.loss(l) }
    }
}

extension CaseIndexer {
    /// The capture's files in order, each with the digest its first segment chains to.
    static func files(evidence: TimelineReader, meta: [String: String], set: CaptureSetMembers?) -> [File] {
        set?.members.map {
            File(reader: $0.reader, meta: $0.meta,
                 chainStart: $0.index == 0 ? Segment.zeroDigest
                     : CaptureSet.bytes(hex: $0.meta[CaptureSet.Key.previousChainHead]) ?? Segment.zeroDigest)
        } ?? [File(reader: evidence, meta: meta, chainStart: Segment.zeroDigest)]
    }

    /// Every record of the capture's segments, in order, with its kind; then, per segment,
    /// its header, its digest and why it could not be read (nil: every record was given).
    /// A segment's framing is checked whole before any of its records is given: a segment is
    /// in the case entire, or noted.
    static func forEachSegment(of files: [File], record: (UnsafeRawPointer, Int, UInt32) throws -> Void,
                               segment: (SegmentHeader, UnsafeRawBufferPointer, SegmentError?) throws -> Void = { _, _, _ in }) throws {
        for f in files {
            var opener = SegmentOpener(continuing: f.chainStart)
            try f.reader.forEachSegmentInPlace { header, stored, sha256 in
                var damage: SegmentError?
                do {
                    try opener.open(header: header, stored: stored, sha256: sha256) { raw in
                        try checkFraming(raw, header)
                        try Segment.forEachRecord(in: raw) { p, size in try record(p, size, RecordDecoders.kind(p, size) ?? 0) }
                    }
                } catch let e as SegmentError { damage = e }
                try segment(header, sha256, damage)
            }
        }
    }

    static func checkFraming(_ raw: UnsafeRawBufferPointer, _ header: SegmentHeader) throws {
        var n = 0
        try Segment.forEachRecord(in: raw) { _, _ in n += 1 }
        guard n == header.records else {
            throw SegmentError.framing("\(n) records where the header says \(header.records)")
        }
    }

    /// Decodes the capture's socket and/or conntrack records into their row tables, after the
    /// rows copied from the capture, in the order the build met them. A segment that did not
    /// open is already noted as damaged.
    static func writeRows(of files: [File], tcp: Bool, conntrack: Bool, into w: TimelineWriter,
                          decoders: RecordDecoders) throws {
        try forEachSegment(of: files, record: { p, size, k in
            guard (tcp && SocketRecords.isTcp(k)) || (conntrack && ConntrackRecords.isEvent(k)) else { return }
            try? decoders.write(p, size: size, into: w)
        })
    }
}

/// A progress line on a terminal while a case is built (stderr; nothing when not a terminal).
public final class IndexProgress {
    private let label: String
    private var last = Date.distantPast
    private let began = Date()
    private var shown = false

    public init?(label: String) {
        guard isatty(2) == 1 else { return nil }
        self.label = label
    }

    func update(segments: Int, of total: Int, records: Int) {
        draw(total > 0 ? Double(segments) / Double(total) : 1) { pct, bar in
            let rate = Double(records) / max(Date().timeIntervalSince(began), 0.001)
            return "indexing \(label) [\(bar)] \(pct)%  \(records) events  \(Int(rate)) events/s"
        }
    }

    func update(timelineLines: Int, through fraction: Double) {
        draw(fraction) { pct, bar in "storing the timeline of \(label) [\(bar)] \(pct)%  \(timelineLines) lines" }
    }

    /// At most five times a second: the line `text` makes of the percentage and its bar.
    private func draw(_ fraction: Double, _ text: (Int, String) -> String) {
        let now = Date()
        guard now.timeIntervalSince(last) >= 0.2 else { return }
        last = now
        let pct = Int(100 * min(max(fraction, 0), 1))
        let width = 24, filled = width * pct / 100
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        FileHandle.standardError.write(Data("\r\(text(pct, bar))\u{1B}[K".utf8))
        shown = true
    }

    func done() {
        if shown { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}
