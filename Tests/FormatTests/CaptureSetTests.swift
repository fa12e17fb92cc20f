import Foundation
import XCTest
@testable import Format

/// How a set's members are named and found: FILE, FILE.1, FILE.2, … and nothing else.
final class CaptureSetTests: XCTestCase {
    func testMembersAreFileAndFileDotNumber() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-set-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = dir + "/cap.db"
        for name in ["cap.db", "cap.db.1", "cap.db.2", "cap.db.10", "cap.db.01", "cap.db.-1", "cap.db.x", "cap.db.2-wal",
                     "cap.db.99999999999999999999", "other.db.1", "cap.dbx.1"] {
            XCTAssertTrue(FileManager.default.createFile(atPath: dir + "/" + name, contents: nil))
        }
        XCTAssertEqual(CaptureSet.numberedPaths(base: base).map(\.index), [1, 2, 10])
        XCTAssertEqual(CaptureSet.memberPath(base: base, index: 0), base)
        XCTAssertEqual(CaptureSet.memberPath(base: base, index: 3), base + ".3")
        XCTAssertEqual(CaptureSet.base(of: base + ".3", index: 3), base)
        XCTAssertNil(CaptureSet.base(of: base + ".3", index: 4), "a member renamed: its set cannot be found")
        XCTAssertEqual(CaptureSet.base(of: base, index: 0), base)
    }

    func testMetaValuesAreParsedOrRefused() {
        XCTAssertEqual(CaptureSet.bytes(hex: "00ff10"), [0, 255, 16])
        XCTAssertNil(CaptureSet.bytes(hex: "0"))
        XCTAssertNil(CaptureSet.bytes(hex: "zz"))
        XCTAssertNil(CaptureSet.bytes(hex: nil))
        XCTAssertEqual(CaptureSet.bytes(hex: hexString(Array(0...255))), Array(0...255))
        XCTAssertTrue(CaptureSet.span("5,9")! == (5, 9))
        XCTAssertNil(CaptureSet.span("9,5"), "an end before its start")
        XCTAssertNil(CaptureSet.span("-1,5"))
        XCTAssertNil(CaptureSet.span("5"))
    }
}
