import Format
import XCTest

/// Asserts that `body` throws a SegmentError for which `kind` holds (and nothing else, and no trap).
func assertSegmentError<T>(_ body: @autoclosure () throws -> T, _ kind: (SegmentError) -> Bool,
                           _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("no error \(message)", file: file, line: line)
    } catch let e as SegmentError {
        XCTAssertTrue(kind(e), "unexpected \(e) \(message)", file: file, line: line)
    } catch {
        XCTFail("not a SegmentError: \(error) \(message)", file: file, line: line)
    }
}

func isDecompress(_ e: SegmentError) -> Bool { if case .decompress = e { true } else { false } }
func isFraming(_ e: SegmentError) -> Bool { if case .framing = e { true } else { false } }

final class ZstdTests: XCTestCase {
    let sample: [UInt8] = (0..<100_000).map { UInt8(truncatingIfNeeded: ($0 / 7) &* 31) }

    func compress(_ b: [UInt8], level: Int32 = 3) -> [UInt8] { b.withUnsafeBytes { Zstd.compress($0, level: level) } }
    func decompress(_ b: [UInt8], _ n: Int) throws -> [UInt8] { try b.withUnsafeBytes { try Zstd.decompress($0, rawSize: n) } }

    /// A hand-made frame: single segment, an 8-byte declared content size, one raw block.
    func rawFrame(declared: UInt64?, content: [UInt8]) -> [UInt8] {
        var f: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD]
        if let declared {
            f.append(0xE0)
            for i in 0..<8 { f.append(UInt8(truncatingIfNeeded: declared >> (8 * UInt64(i)))) }
        } else {
            f += [0x00, 0x00]  // no content size; a 1 KiB window
        }
        let bh = UInt32(content.count) << 3 | 1
        f += [UInt8(bh & 0xff), UInt8(bh >> 8 & 0xff), UInt8(bh >> 16 & 0xff)]
        return f + content
    }

    func testRoundTripLevels() throws {
        for level: Int32 in [1, 3, 19] {
            let c = compress(sample, level: level)
            XCTAssertLessThan(c.count, sample.count / 4)
            XCTAssertEqual(try decompress(c, sample.count), sample)
        }
        XCTAssertEqual(try decompress(compress([]), 0), [])
    }

    func testWrongSizeIsAnError() {
        let c = compress(sample)
        assertSegmentError(try decompress(c, sample.count - 1), isDecompress)
        assertSegmentError(try decompress(c, sample.count + 1), isDecompress)
        assertSegmentError(try decompress(c, -1), isDecompress)
        assertSegmentError(try decompress(c, Segment.maxRawBytes + 1), isDecompress)
    }

    func testGarbageAndTruncation() {
        var rng = SystemRandomNumberGenerator()
        for n in [0, 1, 3, 4, 17, 4096] {
            let junk = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            assertSegmentError(try decompress(junk, 100), isDecompress, "\(n) random bytes")
        }
        let c = compress(sample)
        for cut in 0..<c.count {
            assertSegmentError(try decompress(Array(c[0..<cut]), sample.count), isDecompress, "cut at \(cut)")
        }
        // Without a frame checksum a flip in a literal decodes to other bytes (the segment digest catches
        // that); the codec's part is never to trap or overrun, whatever it is fed.
        for at in stride(from: 0, to: c.count, by: 7) {
            var flipped = c
            flipped[at] ^= 0x55
            if let out = try? decompress(flipped, sample.count) { XCTAssertEqual(out.count, sample.count) }
        }
        assertSegmentError(try decompress(c + [0], sample.count), isDecompress, "a trailing byte")
        assertSegmentError(try decompress(c + c, sample.count), isDecompress, "two frames")
    }

    func testHostileDeclaredSizes() throws {
        let content: [UInt8] = [1, 2, 3, 4]
        let huge = rawFrame(declared: 1 << 40, content: content)
        assertSegmentError(try decompress(huge, 1 << 40), isDecompress)
        assertSegmentError(try decompress(huge, 4), isDecompress)
        assertSegmentError(try decompress(rawFrame(declared: UInt64.max - 1, content: content), 4), isDecompress)
        // Declares more than the blocks hold.
        assertSegmentError(try decompress(rawFrame(declared: 16, content: content), 16), isDecompress)
        XCTAssertEqual(try decompress(rawFrame(declared: 4, content: content), 4), content)
        // No declared size: the actual size must still be rawSize.
        XCTAssertEqual(try decompress(rawFrame(declared: nil, content: content), 4), content)
        assertSegmentError(try decompress(rawFrame(declared: nil, content: content), 5), isDecompress)
        assertSegmentError(try decompress(rawFrame(declared: nil, content: content), 3), isDecompress)
    }
}
