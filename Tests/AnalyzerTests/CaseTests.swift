@testable import Analyzer
import Format
import Foundation
import XCTest

/// The evidence/case split on a capture the real recorder wrote (fixtures/processes.db):
/// the case is built outside the evidence, rebuilt when the capture changes, and a
/// damaged segment is named, never a crash and never silently skipped.
final class CaseTests: XCTestCase {
    var dir: URL!
    var cases: String { dir.appendingPathComponent("cases").path }

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-case-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A copy of the fixture in a folder of its own (the evidence folder).
    func evidence(_ name: String = "capture.db") throws -> String {
        let folder = dir.appendingPathComponent("evidence")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: FixtureTests.fixtures.appendingPathComponent("processes.db").path, toPath: path)
        return path
    }

    func listing(_ folder: String) throws -> [String: Data] {
        var out: [String: Data] = [:]
        for f in try FileManager.default.contentsOfDirectory(atPath: folder) {
            out[f] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + f))
        }
        return out
    }

    func testTheFixtureIsSegmented() throws {
        let r = try TimelineReader(path: FixtureTests.fixtures.appendingPathComponent("processes.db").path)
        XCTAssertTrue(r.isSegmented, "re-record fixtures/ with scripts/make-fixtures.sh")
        XCTAssertGreaterThan(try r.segmentSummary().count, 0)
    }

    func testCaseIsBuiltOnceOutsideTheEvidenceAndNothingBesideItChanges() throws {
        let path = try evidence()
        let folder = (path as NSString).deletingLastPathComponent
        let before = try listing(folder)
        let casePath = cases + "/one.case"
        let first = try Capture(path: path, casePath: casePath, progress: false)
        XCTAssertNotNil(first.indexed, "the first open builds the case")
        XCTAssertEqual(first.casePath, casePath)
        XCTAssertGreaterThan(first.indexed?.records ?? 0, 0)
        let second = try Capture(path: path, casePath: casePath, progress: false)
        XCTAssertNil(second.indexed, "a current case is reused")
        XCTAssertEqual(try listing(folder), before, "the analyzer wrote or changed something beside the evidence")
        // The decoded rows are there: the exec table the fixture's answers come from.
        XCTAssertGreaterThan(try second.reader.count("process_exec"), 0)
    }

    func testDefaultCaseGoesToTheCaseDirectory() throws {
        let path = try evidence()
        setenv("NETTRAIL_CASE_DIR", cases, 1)
        defer { unsetenv("NETTRAIL_CASE_DIR") }
        let c = try Capture(path: path, progress: false)
        XCTAssertTrue(c.casePath?.hasPrefix(cases + "/") ?? false, c.casePath ?? "no case")
    }

    func testCaseIsRebuiltWhenTheCaptureChanges() throws {
        let path = try evidence()
        let casePath = cases + "/c.case"
        let a = try Capture(path: path, casePath: casePath, progress: false)
        let execs = try a.reader.count("process_exec")
        // The same capture with one segment fewer (as if the copy were cut short).
        let db = try Database(path: path, mode: .create)
        try db.execute("DELETE FROM segment WHERE seq = (SELECT max(seq) FROM segment)")
        let b = try Capture(path: path, casePath: casePath, progress: false)
        XCTAssertNotNil(b.indexed, "a changed capture must rebuild its case")
        XCTAssertLessThanOrEqual(try b.reader.count("process_exec"), execs)
    }

    func testAForeignFileAtTheCasePathIsReplaced() throws {
        let path = try evidence()
        let casePath = cases + "/f.case"
        try FileManager.default.createDirectory(atPath: cases, withIntermediateDirectories: true)
        try Data("not a case".utf8).write(to: URL(fileURLWithPath: casePath))
        let c = try Capture(path: path, casePath: casePath, progress: false)
        XCTAssertNotNil(c.indexed)
        XCTAssertGreaterThan(try c.reader.count("process_exec"), 0)
    }

    func testTheCaseIsNeverTheEvidence() throws {
        let path = try evidence()
        XCTAssertThrowsError(try Capture(path: path, casePath: path, progress: false)) { e in
            XCTAssertTrue("\(e)".contains("never written"), "\(e)")
        }
        XCTAssertThrowsError(try Capture(path: path, casePath: path + "-wal", progress: false))
    }

    /// One flipped byte in a stored segment: verify names that segment and its span; the
    /// case notes it as damage and as a loss window, and every other segment is decoded.
    func testAFlippedByteIsDamageAtANamedSegment() throws {
        let path = try evidence()
        let db = try Database(path: path, mode: .create)
        let victim: Int = try XCTUnwrap(db.scalar("SELECT seq FROM segment ORDER BY length(data) DESC LIMIT 1"))
        let total: Int = try XCTUnwrap(db.scalar("SELECT count(*) FROM segment"))
        // The middle byte of its data, xor 0x01.
        let read = try db.prepare("SELECT data FROM segment WHERE seq = ?")
        try read.bind([victim])
        XCTAssertTrue(try read.step())
        let blob = try XCTUnwrap(read.blob(0))
        read.reset()
        var flipped = blob
        flipped[flipped.count / 2] ^= 0x01
        let st = try db.prepare("UPDATE segment SET data = ? WHERE seq = ?")
        st.bind(1, blob: flipped)
        st.bind(2, victim)
        try st.run()

        let v = try VerifyQuery.run(path: path)
        XCTAssertEqual(v.damaged, 1, v.table.render(.table))
        XCTAssertEqual(v.table.rows.count, 1)
        XCTAssertEqual(v.table.rows.first?.first, .int(Int64(victim)))
        XCTAssertTrue(v.table.render(.table).contains("digest"), v.table.render(.table))

        let c = try Capture(path: path, casePath: cases + "/d.case", progress: false)
        XCTAssertEqual(c.indexed?.damaged, 1)
        XCTAssertEqual(c.indexed?.segments, total)
        let damage = try c.reader.damage()
        XCTAssertEqual(damage.map(\.header.seq), [Int64(victim)])
        XCTAssertTrue(try c.reader.losses().contains { $0.kind == "segment_damaged" })
        let info = try InfoQuery.run(c).render(.table)
        XCTAssertTrue(info.contains("damaged.segment\(victim)"), info)
        // An answer over the damaged span says it may be incomplete.
        let h = damage[0].header
        let notes = h.source == "process"
            ? ProcessQuery.run(c, ProcessFilter(from: h.firstTs, to: h.lastTs)).notes
            : try ConnectionsQuery.run(c, ConnectionFilter(from: h.firstTs, to: h.lastTs)).notes
        XCTAssertTrue(notes.contains { $0.contains("lost") }, "\(h.source): \(notes)")
    }

    /// A damaged block of the case's stored timeline is named in one line: never a crash,
    /// and never a timeline with its lines silently missing.
    func testADamagedTimelineBlockIsNamed() throws {
        let path = try evidence(), casePath = cases + "/t.case"
        _ = try Capture(path: path, casePath: casePath, progress: false)
        let blocks: Int = try XCTUnwrap(Database(path: casePath, mode: .readOnly).scalar("SELECT count(*) FROM timeline_block"))
        XCTAssertGreaterThan(blocks, 0)
        for damage in ["UPDATE timeline_block SET data = zeroblob(length(data)) WHERE seq = 1",
                       "UPDATE timeline_block SET lines = lines + 1 WHERE seq = 1",
                       "UPDATE timeline_block SET raw_bytes = raw_bytes - 1 WHERE seq = 1"] {
            let copy = cases + "/damaged.case"
            unlink(copy)
            try FileManager.default.copyItem(atPath: casePath, toPath: copy)
            try Database(path: copy, mode: .create).execute(damage)
            let c = try Capture(path: copy, progress: false)
            XCTAssertThrowsError(try TimelineQuery.answer(c), damage) {
                XCTAssertTrue("\($0)".contains("stored timeline block 1 is damaged"), "\(damage): \($0)")
            }
            let r = try CLITests.run(["timeline", copy])
            XCTAssertNotEqual(r.status, 0, damage)
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(damage): \(r.stderr)")
            XCTAssertTrue(r.stderr.contains("stored timeline block 1 is damaged"), "\(damage): \(r.stderr)")
        }
    }

    func testVerifyPassesAnIntactCapture() throws {
        let v = try VerifyQuery.run(path: try evidence())
        XCTAssertEqual(v.damaged, 0)
        XCTAssertTrue(v.table.notes.first?.contains("every digest and frame checks") ?? false, "\(v.table.notes)")
    }
}
