import Format
import Foundation
import XCTest

final class SHA256Tests: XCTestCase {
    func hex(_ s: String) -> String { hexString(SHA256.digest(Array(s.utf8))) }

    func testNISTVectors() {
        XCTAssertEqual(hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
                       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        XCTAssertEqual(hexString(SHA256.digest([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000))),
                       "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testOneMillionAInUnevenPieces() {
        var h = SHA256()
        let piece = [UInt8](repeating: UInt8(ascii: "a"), count: 997)
        var left = 1_000_000
        while left > 0 {
            let n = min(left, piece.count)
            piece.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            left -= n
        }
        XCTAssertEqual(hexString(h.finish()), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    func testIncrementalSplitsEqualOneShot() {
        let input = (0..<131).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) }
        let whole = SHA256.digest(input)
        for split in 0...130 {
            var h = SHA256()
            h.update(Array(input[0..<split]))
            input.withUnsafeBytes { h.update(UnsafeRawBufferPointer(rebasing: $0[split...])) }
            XCTAssertEqual(h.finish(), whole, "split at \(split)")
        }
        // Every length 0...130 crosses the padding boundaries (55/56/63/64 bytes in the last block).
        for n in 0...130 {
            var a = SHA256()
            for b in input[0..<n] { a.update([b]) }
            XCTAssertEqual(a.finish(), SHA256.digest(Array(input[0..<n])), "byte-wise, length \(n)")
        }
    }

    func testTypedUpdates() {
        var a = SHA256()
        a.update(UInt64(0x0102_0304_0506_0708))
        a.update("ab")
        a.update("c")
        XCTAssertEqual(a.finish(), SHA256.digest([8, 7, 6, 5, 4, 3, 2, 1, 0x61, 0x62, 0, 0x63, 0]))
        var b = SHA256()
        b.update("a")
        b.update("bc")
        var c = SHA256()
        c.update("ab")
        c.update("c")
        XCTAssertNotEqual(b.finish(), c.finish())
    }

    func testAgainstSha256sum() throws {
        let tool = "/usr/bin/sha256sum"
        // coreutils is on every machine this runs on: a missing tool fails, never skips.
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: tool), "no \(tool)")
        var rng = SystemRandomNumberGenerator()
        let data = (0..<(1 << 20)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-sha-\(UUID().uuidString)")
        try Data(data).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = [url.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let expected = String(decoding: out, as: UTF8.self).split(separator: " ").first.map(String.init)
        XCTAssertEqual(hexString(SHA256.digest(data)), expected)
    }
}
