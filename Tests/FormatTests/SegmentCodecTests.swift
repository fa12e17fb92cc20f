import Format
import Foundation
import XCTest

/// Records shaped like nettrail's socket events: a u64 ts, then fields that repeat a lot (pids,
/// comms, addresses, cgroup ids) and some that do not (ports, socket pointers).
func realisticRecords(count: Int, size: Int = 232, seed: UInt64 = 1) -> [[UInt8]] {
    var rng = SplitMix(seed: seed)
    let comms = ["curl", "nginx", "python3", "client", "sshd", "dockerd", "containerd-shim", "postgres"]
    var ts: UInt64 = 1_700_000_000_000
    return (0..<count).map { _ in
        var r = [UInt8](repeating: 0, count: size)
        ts += rng.next() % 20_000
        let pid = UInt32(1000 + rng.next() % 48)
        func put<T: FixedWidthInteger>(_ v: T, _ at: Int) { withUnsafeBytes(of: v.littleEndian) { r.replaceSubrange(at..<at + $0.count, with: $0) } }
        put(ts, 0)
        put(pid, 8)
        put(pid + UInt32(rng.next() % 3), 12)
        put(UInt64(0x4000 + pid % 6), 16)          // cgroup id
        put(UInt64(0xF000_0000 + pid % 3), 24)     // netns inode
        let comm = Array(comms[Int(pid) % comms.count].utf8)
        r.replaceSubrange(32..<32 + comm.count, with: comm)
        put(UInt16(2), 48)                         // AF_INET
        put(UInt16(32768 + rng.next() % 28000), 50)
        put(UInt16([80, 443, 5432, 53][Int(rng.next() % 4)]), 52)
        put(UInt32(0x0A00_0001 + UInt32(rng.next() % 4)), 56)
        put(UInt32(0x0AC9_0201), 72)
        put(UInt32(rng.next() % 12), 88)           // state / kind
        put(0xFFFF_8880_0000_0000 | (rng.next() % 4096) << 8, 96)  // struct sock *
        put(UInt64(rng.next() % 100_000), 104)     // bytes
        return r
    }
}

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func records(in payload: [UInt8]) throws -> [[UInt8]] {
    var out: [[UInt8]] = []
    try payload.withUnsafeBytes { buf in
        try Segment.forEachRecord(in: buf) { p, n in out.append(Array(UnsafeRawBufferPointer(start: p, count: n))) }
    }
    return out
}

final class SegmentCodecTests: XCTestCase {
    func fill(_ recs: [[UInt8]]) -> RecordBuffer {
        var b = RecordBuffer()
        for r in recs { r.withUnsafeBytes { b.append($0.baseAddress!, count: $0.count) } }
        return b
    }

    func testRoundTripOfRandomSizes() throws {
        var rng = SplitMix(seed: 7)
        var recs: [[UInt8]] = []
        var minTs = UInt64.max, maxTs = UInt64.min
        for _ in 0..<3000 {
            var r = (0..<Int.random(in: 12...600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let ts = UInt64.random(in: 1_000...1_000_000, using: &rng)  // rings interleave CPUs: not sorted
            withUnsafeBytes(of: ts.littleEndian) { r.replaceSubrange(0..<8, with: $0) }
            minTs = min(minTs, ts)
            maxTs = max(maxTs, ts)
            recs.append(r)
        }
        var b = fill(recs)
        XCTAssertEqual(b.records, recs.count)
        XCTAssertEqual(b.firstTs, minTs)
        XCTAssertEqual(b.lastTs, maxTs)
        XCTAssertEqual(b.rawBytes, recs.reduce(0) { $0 + 8 + ($1.count + 7) / 8 * 8 })
        let rawBytes = b.rawBytes
        let t = b.take()
        XCTAssertTrue(b.isEmpty)
        XCTAssertEqual(b.rawBytes, 0)
        XCTAssertEqual(t.records, recs.count)
        XCTAssertEqual(t.payload.count, rawBytes)
        XCTAssertEqual(t.firstTs, minTs)
        XCTAssertEqual(t.lastTs, maxTs)
        XCTAssertEqual(try records(in: t.payload), recs)

        var sealer = SegmentSealer()
        let s = sealer.seal(source: "sockets", ring: "events", payload: t.payload, records: t.records,
                            firstTs: t.firstTs, lastTs: t.lastTs)
        var opener = SegmentOpener()
        let payload = try s.stored.withUnsafeBytes { try opener.open(header: s.header, stored: $0, sha256: s.sha256) }
        XCTAssertEqual(payload, t.payload)
        var seen = 0
        try payload.withUnsafeBytes { buf in
            XCTAssertEqual(UInt(bitPattern: buf.baseAddress) % 8, 0)
            try Segment.forEachRecord(in: buf) { p, n in
                XCTAssertEqual(UInt(bitPattern: p) % 8, 0, "record \(seen)")
                XCTAssertTrue(UnsafeRawBufferPointer(start: p, count: n).elementsEqual(recs[seen]))
                seen += 1
            }
        }
        XCTAssertEqual(seen, recs.count)

        // The buffer is reusable after take().
        recs[0].withUnsafeBytes { b.append($0.baseAddress!, count: $0.count) }
        XCTAssertEqual(b.records, 1)
        XCTAssertEqual(b.firstTs, b.lastTs)
        XCTAssertEqual(try records(in: b.take().payload), [recs[0]])
    }

    func testShortAndEmptyRecords() throws {
        var b = RecordBuffer(reserve: 0)
        let recs: [[UInt8]] = [[], [1, 2, 3], Array(repeating: 9, count: 8), [5, 0, 0, 0, 0, 0, 0, 0, 7]]
        for r in recs { r.withUnsafeBytes { b.append($0.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, count: $0.count) } }
        XCTAssertEqual(b.records, 4)
        XCTAssertEqual(b.firstTs, 5)
        XCTAssertEqual(b.lastTs, 0x0909_0909_0909_0909)
        XCTAssertEqual(try records(in: b.take().payload), recs)
        XCTAssertEqual(try records(in: []), [])
    }

    func testGrowthAndValueSemantics() throws {
        let recs = realisticRecords(count: 1000, seed: 3)
        var a = RecordBuffer(reserve: 0)
        for r in recs[..<500] { r.withUnsafeBytes { a.append($0.baseAddress!, count: $0.count) } }
        var b = a
        for r in recs[500...] { r.withUnsafeBytes { a.append($0.baseAddress!, count: $0.count) } }
        b.append(recs[0], count: 9)
        XCTAssertEqual(try records(in: a.take().payload), recs)
        XCTAssertEqual(try records(in: b.take().payload), Array(recs[..<500]) + [Array(recs[0][..<9])])
        let c = a
        XCTAssertTrue(c.isEmpty)
        _ = a.take()
        XCTAssertEqual(a.rawBytes, 0)
    }

    func seal5() -> [SealedSegment] {
        var sealer = SegmentSealer(level: 1)
        XCTAssertEqual(sealer.previous, [UInt8](repeating: 0, count: 32))
        XCTAssertEqual(sealer.nextSeq, 0)
        return (0..<5).map { i in
            var b = fill(realisticRecords(count: 500, seed: UInt64(i)))
            let t = b.take()
            let s = sealer.seal(source: "sockets", ring: "cpu\(i % 2)", payload: t.payload, records: t.records,
                                firstTs: t.firstTs, lastTs: t.lastTs)
            XCTAssertEqual(s.header.seq, Int64(i))
            XCTAssertEqual(sealer.previous, s.sha256)
            return s
        }
    }

    func open(_ segs: [SealedSegment]) -> [Result<[UInt8], SegmentError>] {
        var opener = SegmentOpener()
        return segs.map { s in
            Result { try s.stored.withUnsafeBytes { try opener.open(header: s.header, stored: $0, sha256: s.sha256) } }
                .mapError { $0 as! SegmentError }
        }
    }

    func testChainOfFive() throws {
        let segs = seal5()
        XCTAssertEqual(segs[0].sha256, segs[0].stored.withUnsafeBytes {
            Segment.chainDigest(previous: [UInt8](repeating: 0, count: 32), header: segs[0].header, stored: $0)
        })
        for i in 1..<5 {
            XCTAssertEqual(segs[i].sha256, segs[i].stored.withUnsafeBytes {
                Segment.chainDigest(previous: segs[i - 1].sha256, header: segs[i].header, stored: $0)
            })
        }
        for (i, r) in open(segs).enumerated() {
            let payload = try r.get()
            XCTAssertEqual(payload.count, segs[i].header.rawBytes)
            XCTAssertEqual(try records(in: payload), realisticRecords(count: 500, seed: UInt64(i)))
        }
        // Out of order, the chain breaks at each segment whose predecessor is not the one it names.
        let swapped = open([segs[0], segs[2], segs[1], segs[3], segs[4]])
        XCTAssertEqual(swapped.map { (try? $0.get()) != nil }, [true, false, false, false, true])
    }

    func testDamageIsLocalToItsSegment() {
        var segs = seal5()
        segs[2].stored[segs[2].stored.count / 3] ^= 0x01
        let results = open(segs)
        for (i, r) in results.enumerated() {
            if i == 2 {
                XCTAssertThrowsError(try r.get()) { XCTAssertEqual($0 as? SegmentError, .digestMismatch) }
            } else {
                XCTAssertNoThrow(try r.get(), "segment \(i + 1)")
            }
        }
        var headerChanged = seal5()
        headerChanged[2].header.lastTs += 1
        XCTAssertEqual(open(headerChanged).map { (try? $0.get()) != nil }, [true, true, false, true, true])
    }

    /// Damage that still hashes right (a writer bug, or a rewritten chain) must be caught by the checks behind the digest.
    func rehashed(_ s: SealedSegment, _ change: (inout SealedSegment) -> Void) -> SealedSegment {
        var s = s
        change(&s)
        s.sha256 = s.stored.withUnsafeBytes {
            Segment.chainDigest(previous: [UInt8](repeating: 0, count: 32), header: s.header, stored: $0)
        }
        return s
    }

    func openFirst(_ s: SealedSegment) throws -> [UInt8] {
        var opener = SegmentOpener()
        return try s.stored.withUnsafeBytes { try opener.open(header: s.header, stored: $0, sha256: s.sha256) }
    }

    func testBadSegmentsAreErrorsNotTraps() throws {
        let s = seal5()[0]
        XCTAssertNoThrow(try openFirst(s))
        assertSegmentError(try openFirst(rehashed(s) { $0.header.rawBytes += 8 }), isDecompress)
        assertSegmentError(try openFirst(rehashed(s) { $0.header.rawBytes -= 1 }), isDecompress)
        assertSegmentError(try openFirst(rehashed(s) { $0.header.rawBytes = -8 }), { _ in true })
        assertSegmentError(try openFirst(rehashed(s) { $0.header.rawBytes = Int.max }), isDecompress)
        assertSegmentError(try openFirst(rehashed(s) { $0.header.records = -1 }), isFraming)
        assertSegmentError(try openFirst(rehashed(s) { $0.stored.removeLast(5) }), isDecompress)
        assertSegmentError(try openFirst(rehashed(s) { $0.stored = [] }), isDecompress)
        assertSegmentError(try openFirst(rehashed(s) { $0.header.codec = "lz4" }), { $0 == .unknownCodec("lz4") })
        var truncated = s
        truncated.stored.removeLast(5)
        assertSegmentError(try openFirst(truncated), { $0 == .digestMismatch })
        var shortDigest = s
        shortDigest.sha256 = []
        assertSegmentError(try openFirst(shortDigest), { $0 == .digestMismatch })
    }

    func testHostileFraming() {
        func payload(_ words: [UInt32], tail: [UInt8] = []) -> [UInt8] {
            words.flatMap { w in withUnsafeBytes(of: w.littleEndian) { Array($0) } } + tail
        }
        let cases: [(String, [UInt8])] = [
            ("length runs past the end", payload([0xFFFF_FFFF, 0, 0, 0])),
            ("length 9 with 8 bytes left", payload([9, 0, 1, 2])),
            ("nonzero pad word", payload([4, 1, 1])),
            ("nonzero padding", payload([4, 0, 1, 0xFF])),
            ("stray bytes after a record", payload([4, 0, 1], tail: [0, 0, 0])),
            ("only a partial header", [1, 0, 0]),
        ]
        for (what, p) in cases {
            assertSegmentError(try records(in: p), isFraming, what)
        }
        XCTAssertEqual(try records(in: payload([4, 0, 0x0403_0201, 0, 0, 0])), [[1, 2, 3, 4], []])
    }

    func testCompressionRatioOfRealisticPayload() throws {
        let recs = realisticRecords(count: 20_000)
        var b = fill(recs)
        let t = b.take()
        for level: Int32 in [1, 3] {
            var sealer = SegmentSealer(level: level)
            let s = sealer.seal(source: "sockets", ring: "events", payload: t.payload, records: t.records,
                                firstTs: t.firstTs, lastTs: t.lastTs)
            let ratio = Double(t.payload.count) / Double(s.stored.count)
            print("segment codec: level \(level): \(t.records) records of 232 bytes, \(t.payload.count) -> \(s.stored.count) bytes, ratio \(String(format: "%.2f", ratio)), \(String(format: "%.1f", Double(s.stored.count) / Double(t.records))) B/record")
            XCTAssertGreaterThan(ratio, 3)
            XCTAssertEqual(try openFirst(s), t.payload)
        }
    }
}
