import Format
import Foundation
import XCTest

/// SQLite stops reading a WAL at its first bad frame and says nothing: the scan names
/// the frame when committed transactions lie beyond it, and only then.
final class WALScanTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-wal-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A WAL of five committed transactions, copied while its writer still holds it.
    func wal() throws -> (path: String, pageSize: Int) {
        let db = dir.appendingPathComponent("w.db").path
        let d = try Database(path: db, mode: .create)
        try d.execute("PRAGMA journal_mode=WAL")
        try d.execute("PRAGMA wal_autocheckpoint=0")
        try d.execute("CREATE TABLE t (x BLOB)")
        for _ in 0..<4 { try d.execute("INSERT INTO t VALUES (randomblob(3000))") }
        let copy = dir.appendingPathComponent("copy.db-wal").path
        try FileManager.default.copyItem(atPath: db + "-wal", toPath: copy)
        let pageSize: Int = try d.scalar("PRAGMA page_size") ?? 4096
        return (copy, pageSize)
    }

    func flip(_ path: String, at offset: Int) throws {
        var b = try Data(contentsOf: URL(fileURLWithPath: path))
        b[offset] ^= 0x40
        try b.write(to: URL(fileURLWithPath: path))
    }

    func testIntactWALHasNoDamage() throws {
        XCTAssertNil(WALScan.damage(try wal().path))
    }

    func testFlippedByteBeforeLaterCommitsIsNamed() throws {
        let (path, pageSize) = try wal()
        // Frame 1's page, past its 24-byte header.
        let frame1 = 32 + (24 + pageSize)
        try flip(path, at: frame1 + 24 + 100)
        let d = try XCTUnwrap(WALScan.damage(path))
        XCTAssertEqual(d.frame, 1)
        XCTAssertEqual(d.offset, frame1)
        XCTAssertGreaterThanOrEqual(d.commitsAfter, 3)
    }

    func testLastTransactionCutShortIsNotDamage() throws {
        let (path, pageSize) = try wal()
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as! Int
        // The last frame half written, as by a writer killed mid-commit.
        try flip(path, at: size - pageSize / 2)
        XCTAssertNil(WALScan.damage(path))
    }
}
