public enum SegmentError: Error, CustomStringConvertible, Equatable {
    case decompress(String)
    case framing(String)
    case digestMismatch
    case unknownCodec(String)

    public var description: String {
        switch self {
        case .decompress(let why): "segment does not decompress: \(why)"
        case .framing(let why): "segment records are damaged: \(why)"
        case .digestMismatch: "segment digest does not match its contents"
        case .unknownCodec(let name): "segment codec '\(name)' is not known"
        }
    }
}

public enum Segment {
    /// A segment is sealed when its payload reaches this (the recorder also seals at least every second).
    public static let targetRawBytes = 1 << 20
    /// Payloads larger than this are refused by the reader as damaged (bounds memory on hostile input).
    public static let maxRawBytes = 64 << 20
    public static let codec = "zstd"
    /// The recorder's zstd level. On churn segments (1 MiB blocks of socket, conntrack and process
    /// records) level 1 compresses at 1.6x level 3's speed for 3.7 % more bytes (bench/RESULTS.md):
    /// CPU on the suspect host is what is scarce.
    public static let level: Int32 = 1

    /// Visits each record of a payload in order. Framing: for each record a u32 LE length, a u32 0,
    /// the record's bytes, zero padding to a multiple of 8. So every record starts 8-byte aligned
    /// relative to the payload's base (callers keep the base 8-aligned). Throws .framing, never traps.
    public static func forEachRecord(in payload: UnsafeRawBufferPointer,
                                     _ body: (UnsafeRawPointer, Int) throws -> Void) throws {
        guard let base = payload.baseAddress else { return }
        let end = payload.count
        var off = 0
        while off < end {
            guard end - off >= 8 else { throw SegmentError.framing("\(end - off) stray bytes at offset \(off)") }
            let len = Int(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: off, as: UInt32.self)))
            let zero = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: off + 4, as: UInt32.self))
            guard zero == 0 else { throw SegmentError.framing("record header at offset \(off) has a nonzero pad word") }
            let padded = (len + 7) & ~7
            guard padded <= end - off - 8 else {
                throw SegmentError.framing("record of \(len) bytes at offset \(off) runs past the end (\(end))")
            }
            let start = off + 8
            for i in (start + len)..<(start + padded) where base.load(fromByteOffset: i, as: UInt8.self) != 0 {
                throw SegmentError.framing("nonzero padding after the record at offset \(off)")
            }
            try body(base + start, len)
            off = start + padded
        }
    }

    /// The chain digest: SHA-256 over previous digest (32 bytes; 32 zero bytes for the first),
    /// then seq, source, ring, firstTs, lastTs, records, codec, rawBytes (in that order, via the
    /// SHA256.update overloads above), then the stored (compressed) bytes.
    public static func chainDigest(previous: [UInt8], header: SegmentHeader, stored: UnsafeRawBufferPointer) -> [UInt8] {
        var h = SHA256()
        h.update(previous)
        h.update(UInt64(bitPattern: header.seq))
        h.update(header.source)
        h.update(header.ring)
        h.update(header.firstTs)
        h.update(header.lastTs)
        // Headers come from the file, so a negative count must hash, not trap.
        h.update(UInt64(truncatingIfNeeded: header.records))
        h.update(header.codec)
        h.update(UInt64(truncatingIfNeeded: header.rawBytes))
        h.update(stored)
        return h.finish()
    }

    public static let zeroDigest = [UInt8](repeating: 0, count: 32)
}

public struct SegmentHeader: Sendable, Equatable {
    public var seq: Int64
    public var source: String
    public var ring: String
    public var firstTs: UInt64
    public var lastTs: UInt64
    public var records: Int
    public var codec: String
    public var rawBytes: Int

    public init(seq: Int64, source: String, ring: String, firstTs: UInt64, lastTs: UInt64, records: Int,
                codec: String, rawBytes: Int) {
        self.seq = seq
        self.source = source
        self.ring = ring
        self.firstTs = firstTs
        self.lastTs = lastTs
        self.records = records
        self.codec = codec
        self.rawBytes = rawBytes
    }
}

public struct SealedSegment: Sendable {
    public var header: SegmentHeader
    public var stored: [UInt8]
    public var sha256: [UInt8]

    public init(header: SegmentHeader, stored: [UInt8], sha256: [UInt8]) {
        self.header = header
        self.stored = stored
        self.sha256 = sha256
    }
}

/// Records appended in ring order, framed as above; owned by one thread.
public struct RecordBuffer {
    /// Raw memory rather than [UInt8]: Array.append(contentsOf:) copies a raw buffer byte by byte,
    /// and this runs once per ring record on the drain path.
    private final class Storage {
        var base: UnsafeMutableRawPointer
        var capacity: Int
        var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 64)
            base = .allocate(byteCount: self.capacity, alignment: 16)
        }

        func copy() -> Storage {
            let s = Storage(capacity: capacity)
            s.base.copyMemory(from: base, byteCount: count)
            s.count = count
            return s
        }

        func grow(toHold n: Int) {
            var c = capacity
            while c < n { c *= 2 }
            let nb = UnsafeMutableRawPointer.allocate(byteCount: c, alignment: 16)
            nb.copyMemory(from: base, byteCount: count)
            base.deallocate()
            base = nb
            capacity = c
        }

        func bytes() -> [UInt8] {
            let n = count, from = UnsafeRawPointer(base)
            return [UInt8](unsafeUninitializedCapacity: n) { buf, initialized in
                if n > 0 { UnsafeMutableRawPointer(buf.baseAddress!).copyMemory(from: from, byteCount: n) }
                initialized = n
            }
        }

        deinit { base.deallocate() }
    }

    private var storage: Storage
    public private(set) var records = 0
    public private(set) var firstTs: UInt64 = 0
    public private(set) var lastTs: UInt64 = 0
    private var hasTs = false

    public init(reserve: Int = Segment.targetRawBytes + 64 << 10) {
        storage = Storage(capacity: reserve)
    }

    public var rawBytes: Int { storage.count }
    public var isEmpty: Bool { records == 0 }

    /// Copies one ring record (`count` bytes; every nettrail record starts with a u64 ts, read
    /// from its first 8 bytes, unaligned-safe) into the buffer. A record shorter than 8 bytes is
    /// kept but leaves firstTs/lastTs alone: the kernel's bytes are evidence even when malformed.
    public mutating func append(_ data: UnsafeRawPointer, count: Int) {
        precondition(count >= 0 && count <= Int(UInt32.max), "record of \(count) bytes")
        if count >= 8 {
            let ts = data.loadUnaligned(as: UInt64.self)
            if !hasTs || ts < firstTs { firstTs = ts }
            if !hasTs || ts > lastTs { lastTs = ts }
            hasTs = true
        }
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
        let s = storage
        let padded = (count + 7) & ~7
        let at = s.count
        if at + 8 + padded > s.capacity { s.grow(toHold: at + 8 + padded) }
        let p = s.base + at
        p.storeBytes(of: UInt64(count).littleEndian, as: UInt64.self)
        // Zero the last word first, then the record over it: the pad bytes end up zero without a loop.
        if padded > 0 { (p + padded).storeBytes(of: UInt64(0), as: UInt64.self) }
        (p + 8).copyMemory(from: data, byteCount: count)
        s.count = at + 8 + padded
        records += 1
    }

    /// Hands the framed payload out and empties the buffer (keeping its capacity where possible).
    public mutating func take() -> (payload: [UInt8], records: Int, firstTs: UInt64, lastTs: UInt64) {
        let unique = isKnownUniquelyReferenced(&storage)
        let payload = storage.bytes()
        if unique { storage.count = 0 } else { storage = Storage(capacity: storage.capacity) }
        let out = (payload: payload, records: records, firstTs: firstTs, lastTs: lastTs)
        records = 0
        hasTs = false
        firstTs = 0
        lastTs = 0
        return out
    }
}

/// Seals payloads in order on the calling thread: compresses and chains. Not thread-safe; the
/// recorder runs one on a worker thread of its own.
public struct SegmentSealer {
    public var level: Int32 { encoder.level }
    public private(set) var previous: [UInt8] = Segment.zeroDigest
    public private(set) var nextSeq: Int64 = 0
    private let encoder: Zstd.Encoder

    public init(level: Int32 = Segment.level) {
        encoder = Zstd.Encoder(level: level)
    }

    public mutating func seal(source: String, ring: String, payload: [UInt8], records: Int,
                              firstTs: UInt64, lastTs: UInt64) -> SealedSegment {
        let stored = payload.withUnsafeBytes { encoder.compress($0) }
        let header = SegmentHeader(seq: nextSeq, source: source, ring: ring, firstTs: firstTs, lastTs: lastTs,
                                   records: records, codec: Segment.codec, rawBytes: payload.count)
        let digest = stored.withUnsafeBytes { Segment.chainDigest(previous: previous, header: header, stored: $0) }
        previous = digest
        nextSeq += 1
        return SealedSegment(header: header, stored: stored, sha256: digest)
    }
}

/// Checks and opens stored segments in order (the analyzer's side).
public struct SegmentOpener {
    public private(set) var previous: [UInt8] = Segment.zeroDigest

    public init() {}

    /// Opens a chain that continues another file's: a member of a capture set begins where the
    /// member before it ended (CaptureSet.Key.previousChainHead).
    public init(continuing previous: [UInt8]) { self.previous = previous }

    /// Verifies the chain digest against `previous` (the last stored digest seen, damaged or not,
    /// so one damaged segment does not condemn the rest), checks codec and sizes, decompresses.
    /// On success returns the payload. Always advances `previous` to `sha256` (the stored one).
    /// The payload's base is 8-byte aligned (see `alignedBytes`).
    public mutating func open(header: SegmentHeader, stored: UnsafeRawBufferPointer, sha256: [UInt8]) throws -> [UInt8] {
        defer { previous = sha256 }
        guard Segment.chainDigest(previous: previous, header: header, stored: stored) == sha256 else {
            throw SegmentError.digestMismatch
        }
        guard header.codec == Segment.codec else { throw SegmentError.unknownCodec(header.codec) }
        guard header.records >= 0, header.records <= header.rawBytes / 8 else {
            throw SegmentError.framing("\(header.records) records cannot fit in \(header.rawBytes) bytes")
        }
        // A sealer takes the least and the greatest record time: the other order is no header it wrote.
        guard header.firstTs <= header.lastTs else {
            throw SegmentError.framing("its first time (\(header.firstTs)) is after its last (\(header.lastTs))")
        }
        return try Zstd.decompress(stored, rawSize: header.rawBytes)
    }

    /// As `open(header:stored:sha256:)`, the payload decompressed into a buffer this opener
    /// keeps for the next segment: `body` reads it in place (8-byte aligned) and must not keep it.
    public mutating func open<R>(header: SegmentHeader, stored: UnsafeRawBufferPointer, sha256: UnsafeRawBufferPointer,
                                 _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let digest = Segment.chainDigest(previous: previous, header: header, stored: stored)
        previous = Array(sha256)
        guard digest.elementsEqual(sha256) else { throw SegmentError.digestMismatch }
        guard header.codec == Segment.codec else { throw SegmentError.unknownCodec(header.codec) }
        guard header.records >= 0, header.records <= header.rawBytes / 8 else {
            throw SegmentError.framing("\(header.records) records cannot fit in \(header.rawBytes) bytes")
        }
        // A sealer takes the least and the greatest record time: the other order is no header it wrote.
        guard header.firstTs <= header.lastTs else {
            throw SegmentError.framing("its first time (\(header.firstTs)) is after its last (\(header.lastTs))")
        }
        return try decoder.decompress(stored, rawSize: header.rawBytes, body)
    }

    private let decoder = Zstd.Decoder()
}
