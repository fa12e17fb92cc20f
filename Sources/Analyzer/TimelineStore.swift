import Foundation
import Format

/// The case's stored timeline (`timeline_block`): every line of the whole timeline, made
/// once when the case is built by the reconstruction a window would otherwise run
/// (`TimelineQuery.reconstructedLines`), and read back a few blocks per window. A busy
/// second is twenty thousand lines; joining them again from their connections, owners and
/// NAT mappings was most of a window's answer.
///
/// A block's lines, each: a flag byte (the event in the low four bits, then whether a pid,
/// a container, a NAT translation and an uncertain image follow); the time as a varint,
/// the difference from the line before (wrapping); the pid (varint); the comm, the
/// container and the detail, each a varint length and its UTF-8; where the NAT
/// translation begins in the detail (varint).
enum TimelineStore {
    /// A block is sealed once its lines take this many bytes: a window's two edges decode at
    /// most two blocks' worth of lines it does not show.
    static let blockBytes = 128 << 10

    private static let hasPid: UInt8 = 0x10, hasContainer: UInt8 = 0x20, hasNAT: UInt8 = 0x40, uncertain: UInt8 = 0x80

    /// Lines encoded into the block being filled.
    struct Encoder {
        private(set) var raw: [UInt8] = []
        private var lines = 0, first: UInt64 = 0, last: UInt64 = 0
        private let zstd = Zstd.Encoder(level: 3)

        init() { raw.reserveCapacity(TimelineStore.blockBytes + 4096) }

        /// `l`, its texts in `text`.
        mutating func add(_ l: TimelineLines.Line, _ text: UnsafeBufferPointer<UInt8>) {
            var flags = l.event.rawValue
            if l.pid != nil { flags |= TimelineStore.hasPid }
            if l.container != nil { flags |= TimelineStore.hasContainer }
            if l.natAt != nil { flags |= TimelineStore.hasNAT }
            if l.uncertainImage { flags |= TimelineStore.uncertain }
            raw.append(flags)
            varint(l.ts &- (lines == 0 ? 0 : last))
            if lines == 0 { first = l.ts }
            last = l.ts
            if let p = l.pid { varint(UInt64(p)) }
            bytes(UnsafeBufferPointer(rebasing: text[l.comm]))
            if let c = l.container { bytes(UnsafeBufferPointer(rebasing: text[c])) }
            bytes(UnsafeBufferPointer(rebasing: text[l.detail]))
            if let n = l.natAt { varint(UInt64(n)) }
            lines += 1
        }

        private mutating func varint(_ v: UInt64) {
            var v = v
            while v >= 0x80 {
                raw.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            raw.append(UInt8(v))
        }

        private mutating func bytes(_ b: UnsafeBufferPointer<UInt8>) {
            varint(UInt64(b.count))
            raw.append(contentsOf: b)
        }

        /// The block filled so far, compressed (nil: no lines); the next block starts empty.
        mutating func take() -> TimelineBlock? {
            guard lines > 0 else { return nil }
            let block = raw.withUnsafeBytes {
                TimelineBlock(firstTs: first, lastTs: last, lines: lines, rawBytes: raw.count, data: zstd.compress($0))
            }
            raw.removeAll(keepingCapacity: true)
            lines = 0
            return block
        }
    }

    /// Stores the whole timeline of the case `w` is building (its connections, processes and
    /// NAT mappings written), a stretch of time at a time.
    ///
    /// With more than one core, the capture's time is cut into pieces that workers make at
    /// once, each reading the committed case through a connection of its own, a round of
    /// pieces at a time; between rounds the writer stores them in order (and commits, so
    /// that no reader ever waits on it, nor it on a reader).
    static func build(_ w: TimelineWriter, progress: IndexProgress?) throws {
        try w.indexRowTables()
        let whole = try Capture(building: try TimelineReader(building: w))
        let start = whole.startBoot, last = max(whole.lastRecordTs, start)
        let workers = last - start > TimeStretches.longest ? min(CaseRowPipe.cores(), 8) : 1
        var total = 0
        func report(_ piece: Int, of pieces: Int) {
            progress?.update(timelineLines: total, through: Double(piece + 1) / Double(pieces))
        }
        if workers < 2 {
            try blocks(whole, from: nil, to: nil, made: { through, lines in
                total += lines
                let t = min(max(through ?? last, start), last)
                progress?.update(timelineLines: total, through: last > start ? Double(t - start) / Double(last - start) : 1)
            }) { try w.timelineBlock($0) }
        } else {
            let pieces = workers * 4
            // Consecutive pieces: the first open before the capture's start, the last after its end.
            let cuts = (0...pieces).map { start + UInt64(Double(last - start) * Double($0) / Double(pieces)) }
            let bounds: [(from: UInt64?, to: UInt64?)] = (0..<pieces).map {
                ($0 == 0 ? nil : cuts[$0], $0 == pieces - 1 ? nil : cuts[$0 + 1] &- 1)
            }
            let made = Pieces(workers)
            let path = w.path
            for round in stride(from: 0, to: pieces, by: workers) {
                DispatchQueue.concurrentPerform(iterations: workers) { k in
                    let (from, to) = bounds[round + k]
                    made.set(k, Result {
                        var out: [TimelineBlock] = []
                        if let from, let to, from > to { return (out, 0) }
                        let piece = try Capture(path: path, progress: false)
                        var lines = 0
                        try blocks(piece, from: from, to: to, made: { lines += $1 }) { out.append($0) }
                        return (out, lines)
                    })
                }
                for k in 0..<workers {
                    let (stored, lines) = try made.take(k).get()
                    for b in stored { try w.timelineBlock(b) }
                    total += lines
                    report(round + k, of: pieces)
                }
                try w.commit()
            }
        }
        try w.indexTimeline()
    }

    /// What a round's workers made, one slot each (a worker writes only its own).
    private final class Pieces: @unchecked Sendable {
        typealias Made = Result<(blocks: [TimelineBlock], lines: Int), Error>
        private let slots: UnsafeMutableBufferPointer<Made?>
        init(_ n: Int) { slots = .allocate(capacity: n); slots.initialize(repeating: nil) }
        deinit { slots.deinitialize().deallocate() }
        func set(_ k: Int, _ m: Made) { slots[k] = m }
        func take(_ k: Int) -> Made {
            defer { slots[k] = nil }
            return slots[k] ?? .success(([], 0))
        }
    }

    /// The timeline's lines of [from, to] as blocks, in time order, each given to `store`;
    /// `made` hears how far each stretch reached and how many lines it held.
    private static func blocks(_ capture: Capture, from: UInt64?, to: UInt64?, made: (UInt64?, Int) -> Void,
                               _ store: (TimelineBlock) throws -> Void) throws {
        let nat = try? ConntrackNATResolver(capture)
        var encoder = Encoder()
        try TimeStretches.walk(capture, from: from, to: to, next: TimelineQuery.nextItem(capture)) { a, b, _ in
            let (lines, _) = try TimelineQuery.reconstructedLines(capture, from: a, to: b, container: nil, nat: nat)
            try lines.text.bytes.withUnsafeBufferPointer { text in
                for l in lines.items {
                    encoder.add(l, text)
                    if encoder.raw.count >= blockBytes, let block = encoder.take() { try store(block) }
                }
            }
            made(b, lines.items.count)
            return (lines.items.count, true)
        }
        if let block = encoder.take() { try store(block) }
    }

    /// The stored lines of [from, to] (of `container` when given; without their NAT
    /// translation unless `nat`), and whether one of them has an owner whose image is uncertain.
    static func lines(_ capture: Capture, from: UInt64, to: UInt64, container: String?,
                      nat: Bool) throws -> (TimelineLines, uncertain: Bool) {
        // The blocks are read first, so that the lines and their text are sized once: a busy
        // second is megabytes of them, and growing them copies and touches it all again.
        var blocks: [(seq: Int64, count: Int, rawBytes: Int, data: [UInt8])] = []
        try capture.reader.timelineBlocks(from: from, to: to) { blocks.append(($0, $1, $2, Array($3))) }
        // (A damaged case's counts may be anything: each is bounded before they are summed.)
        let lines = blocks.reduce(0) { $0 + min(max(0, $1.count), 1 << 32) }
        let bytes = blocks.reduce(0) { $0 + min(max(0, $1.rawBytes), 1 << 32) }
        var window = Window(from: from, to: to, container: container, nat: nat)
        window.out.items.reserveCapacity(min(lines, bytes / 4))
        window.out.text.reserve(min(bytes, 1 << 30))
        let decoder = Zstd.Decoder()
        for (seq, count, rawBytes, stored) in blocks {
            do {
                guard count >= 0 else { throw Reader.Damage.value("line count \(count)") }
                try stored.withUnsafeBytes { data in
                    try decoder.decompress(data, rawSize: rawBytes) { raw in try window.add(raw, lines: count) }
                }
            } catch let e as Reader.Damage {
                throw TimelineBlockError(seq: seq, why: e.description)
            } catch let e as SegmentError {
                throw TimelineBlockError(seq: seq, why: e.description)
            }
        }
        return (window.out, window.uncertainImage)
    }

    /// A window's lines, decoded a block at a time. (A struct's own fields, not variables a
    /// closure captures: those are checked for exclusive access at run time, on every line.)
    private struct Window {
        let from: UInt64, to: UInt64, container: String?, nat: Bool
        var out = TimelineLines(), uncertainImage = false
        /// Whether each container seen is the one asked for.
        var containers: [(bytes: [UInt8], matches: Bool)] = []

        init(from: UInt64, to: UInt64, container: String?, nat: Bool) {
            self.from = from; self.to = to; self.container = container; self.nat = nat
        }

        /// The lines of [from, to] (of `container`) among a block's `count` lines.
        mutating func add(_ raw: UnsafeRawBufferPointer, lines count: Int) throws {
            var r = Reader(raw)
            var ts: UInt64 = 0
            // The block's bytes join the lines' text once, when a line of it is kept: its
            // lines' comm, container and detail are ranges of them, not copies.
            var base: Int? = nil
            // Where `count` bytes from `b` lie in the lines' text, `raw` being there from `start`.
            func range(_ b: UnsafeRawBufferPointer, _ count: Int, _ start: Int) -> Range<Int> {
                let at = start + (b.baseAddress.map { $0 - raw.baseAddress! } ?? 0)
                return at..<at + count
            }
            for _ in 0..<count {
                let flags = try r.byte()
                guard let event = TimelineLines.Event(rawValue: flags & 0x0F) else { throw Reader.Damage.value("event \(flags & 0x0F)") }
                ts = ts &+ (try r.varint())
                let pid = flags & hasPid != 0 ? UInt32(exactly: try r.varint()) : nil
                if flags & hasPid != 0 && pid == nil { throw Reader.Damage.value("pid") }
                let comm = try r.bytes()
                let cont = flags & hasContainer != 0 ? try r.bytes() : nil
                let detail = try r.bytes()
                let natAt = flags & hasNAT != 0 ? Int(exactly: try r.varint()) : nil
                guard ts >= from && ts <= to else { continue }
                if let want = container {
                    guard let cont else { continue }
                    var matches = containers.first(where: { $0.bytes.elementsEqual(cont) })?.matches
                    if matches == nil {
                        matches = ContainerID.matches(String(decoding: cont, as: UTF8.self), prefix: want)
                        containers.append((Array(cont), matches!))
                    }
                    guard matches! else { continue }
                }
                var length = detail.count
                if !nat, let natAt {
                    guard natAt <= detail.count else { throw Reader.Damage.value("NAT offset") }
                    length = natAt
                }
                let at: Int
                if let base { at = base } else {
                    at = out.text.count
                    out.text.add(raw)
                    base = at
                }
                out.items.append(TimelineLines.Line(
                    ts: ts, order: TimelineLines.order(event), event: event, pid: pid,
                    comm: range(comm, comm.count, at), container: cont.map { range($0, $0.count, at) },
                    detail: range(detail, length, at), natAt: nat ? natAt : nil, uncertainImage: flags & uncertain != 0))
                if flags & uncertain != 0 { uncertainImage = true }
            }
            guard r.atEnd else { throw Reader.Damage.value("\(raw.count - r.offset) bytes after its \(count) lines") }
        }
    }

    /// A block's bytes read in order, every read checked against its end.
    private struct Reader {
        enum Damage: Error, CustomStringConvertible {
            case short
            case value(String)
            var description: String {
                switch self {
                case .short: "it ends inside a line"
                case .value(let what): "bad \(what)"
                }
            }
        }

        let p: UnsafeRawBufferPointer
        private(set) var offset = 0
        init(_ p: UnsafeRawBufferPointer) { self.p = p }
        var atEnd: Bool { offset == p.count }

        mutating func byte() throws -> UInt8 {
            guard offset < p.count else { throw Damage.short }
            defer { offset += 1 }
            return p[offset]
        }

        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while true {
                let b = try byte()
                guard shift < 64 else { throw Damage.value("varint") }
                v |= UInt64(b & 0x7F) << shift
                if b < 0x80 { return v }
                shift += 7
            }
        }

        mutating func bytes() throws -> UnsafeRawBufferPointer {
            let n = try varint()
            guard n <= UInt64(p.count - offset) else { throw Damage.short }
            defer { offset += Int(n) }
            return UnsafeRawBufferPointer(rebasing: p[offset..<offset + Int(n)])
        }
    }
}
