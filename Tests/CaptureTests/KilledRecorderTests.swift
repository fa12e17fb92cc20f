import Analyzer
import Format
import Foundation
import XCTest

/// A recorder killed with SIGKILL mid-segment: the capture (FILE and FILE-wal, as a
/// responder would copy them) indexes up to its last commit, and says it was not closed.
final class KilledRecorderTests: XCTestCase {
    static let recorder = URL(fileURLWithPath: packageRoot).appendingPathComponent(".build/debug/nettrail-record").path

    func testKilledCaptureIndexesUpToItsLastCommit() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.recorder), "build nettrail-record first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("killed.db").path
        let log = dir.appendingPathComponent("rec.log").path
        let rec = try Child([Self.recorder, "--db", db], stdout: log)
        defer { rec.stop() }
        // The WAL appears as the capture is created; attaching and the snapshot follow within a second or two.
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: db + "-wal") { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 3)
        // Early execs: more than a second before the kill, so committed.
        let early = dir.appendingPathComponent("early.pids").path
        try sh("for i in $(seq 20); do /bin/true & echo $! >> \(early); done; wait")
        Thread.sleep(forTimeInterval: 2.5)
        // Late execs: a moment before the kill, so possibly not yet committed: either way, no damage.
        try sh("for i in $(seq 20); do /bin/true; done")
        rec.terminate(SIGKILL)
        _ = try rec.wait(timeout: 10)

        XCTAssertTrue(FileManager.default.fileExists(atPath: db + "-wal"), "a killed capture keeps its WAL")
        let v = try VerifyQuery.run(path: db)
        XCTAssertEqual(v.damaged, 0, v.table.render(.table))
        XCTAssertTrue(v.table.notes.contains { $0.contains("not closed cleanly") }, "\(v.table.notes)")

        let capture = try Capture(path: db, casePath: dir.appendingPathComponent("k.case").path, progress: false)
        try capture.load()
        XCTAssertGreaterThan(capture.indexed?.segments ?? 0, 0)
        XCTAssertNil(capture.endBoot)
        let pids = try String(contentsOfFile: early, encoding: .utf8).split(separator: "\n").compactMap { UInt32($0) }
        XCTAssertEqual(pids.count, 20)
        for pid in pids {
            let lives = capture.processes.byPid[pid]?.compactMap { capture.processes[$0] } ?? []
            XCTAssertTrue(lives.contains { $0.execs.contains { $0.filename == "/bin/true" } },
                          "pid \(pid): its exec, 2.5 s before the kill, is not in the capture")
        }
        let info = try InfoQuery.run(capture).render(.table)
        XCTAssertTrue(info.contains("not closed cleanly"), info)
    }
}
