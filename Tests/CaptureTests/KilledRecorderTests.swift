import Analyzer
import Format
import Foundation
import XCTest

/// A recorder killed with SIGKILL mid-segment: the capture (FILE and FILE-wal, as a
/// responder would copy them) indexes up to its last commit, and says it was not closed.
final class KilledRecorderTests: XCTestCase {
    static let recorder = URL(fileURLWithPath: packageRoot).appendingPathComponent(".build/debug/nettrail-record").path

    static let analyzer = URL(fileURLWithPath: packageRoot).appendingPathComponent(".build/debug/nettrail").path

    /// Records until SIGKILL in `dir`; returns the capture's path and the pids of 20 execs
    /// made more than a second before the kill. A TCP connection is opened 2.5 s before
    /// the kill and still open at it.
    func killedCapture(in dir: URL) throws -> (db: String, early: [UInt32], held: HeldConnection) {
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
        let held = try HeldConnection(log: dir.appendingPathComponent("held.log").path)
        defer { held.stop() }
        Thread.sleep(forTimeInterval: 2.5)
        // Late execs: a moment before the kill, so possibly not yet committed: either way, no damage.
        try sh("for i in $(seq 20); do /bin/true; done")
        rec.terminate(SIGKILL)
        _ = try rec.wait(timeout: 10)
        let pids = try String(contentsOfFile: early, encoding: .utf8).split(separator: "\n").compactMap { UInt32($0) }
        return (db, pids, held)
    }

    func testKilledCaptureIndexesUpToItsLastCommit() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.recorder), "build nettrail-record first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-kill-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let (db, pids, held) = try killedCapture(in: dir)

        XCTAssertTrue(FileManager.default.fileExists(atPath: db + "-wal"), "a killed capture keeps its WAL")
        let v = try VerifyQuery.run(path: db)
        XCTAssertEqual(v.damaged, 0, v.table.render(.table))
        XCTAssertTrue(v.table.notes.contains { $0.contains("not closed cleanly") }, "\(v.table.notes)")

        let capture = try Capture(path: db, casePath: dir.appendingPathComponent("k.case").path, progress: false)
        try capture.load()
        XCTAssertGreaterThan(capture.indexed?.segments ?? 0, 0)
        XCTAssertNil(capture.endBoot)
        XCTAssertEqual(pids.count, 20)
        for pid in pids {
            let lives = capture.processes.byPid[pid]?.compactMap { capture.processes[$0] } ?? []
            XCTAssertTrue(lives.contains { $0.execs.contains { $0.filename == "/bin/true" } },
                          "pid \(pid): its exec, 2.5 s before the kill, is not in the capture")
        }
        let info = try InfoQuery.run(capture).render(.table)
        XCTAssertTrue(info.contains("not closed cleanly"), info)

        // The connection open at the kill: its open, held back for a close that never
        // came, was taken by the recorder while it was open; both ends, with their owner.
        let conns = try held.connections(in: capture)
        XCTAssertEqual(conns.count, 2, "\(conns)")
        for c in conns {
            XCTAssertEqual(c.owner?.pid, held.pid, "\(c)")
            XCTAssertNil(c.end, "\(c)")
        }
    }

    /// As a responder would have it: FILE and FILE-wal copied (no -shm), on a read-only mount,
    /// read by a user who may write nothing there. Every answer is there; no file beside the
    /// evidence is created or changed. And FILE alone says its WAL is missing.
    func testKilledCaptureReadsFromReadOnlyMediaAsAnotherUserAndChangesNothing() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.analyzer), "build nettrail first")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-ro-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let mnt = dir.appendingPathComponent("media").path
        defer {
            _ = try? sh("umount \(mnt) 2>/dev/null; true")
            try? FileManager.default.removeItem(at: dir)
        }
        let (db, pids, _) = try killedCapture(in: dir)
        XCTAssertEqual(pids.count, 20)
        let d = dir.path
        // The evidence as copied, the media read-only, the analyzer where "nobody" can run it.
        try sh("""
            set -e
            mkdir -p \(d)/evidence \(mnt) \(d)/bin \(d)/cases \(d)/walless
            cp \(db) \(db)-wal \(d)/evidence/
            cp \(db) \(d)/walless/
            chmod 0444 \(d)/evidence/* \(d)/walless/*; chmod 0555 \(d)/evidence
            cp \(Self.analyzer) \(d)/bin/nettrail
            chmod 0755 \(d) \(d)/bin \(d)/walless; chown nobody \(d)/cases
            mount --bind \(d)/evidence \(mnt); mount -o remount,ro,bind \(mnt)
            """)
        let before = try sh("cd \(mnt) && ls -la --time-style=full-iso . && sha256sum *")
        XCTAssertFalse(before.contains("-shm"), before)
        let out = try sh("su -s /bin/sh nobody -c 'NETTRAIL_CASE_DIR=\(d)/cases \(d)/bin/nettrail processes \(mnt)/killed.db --name true --format csv'")
        for pid in pids {
            XCTAssertTrue(out.components(separatedBy: .newlines).contains { $0.hasPrefix("\(pid),") }, "pid \(pid) missing:\n\(out)")
        }
        let after = try sh("cd \(mnt) && ls -la --time-style=full-iso . && sha256sum *")
        XCTAssertEqual(before, after, "the evidence or its folder changed")

        // FILE alone: what was checkpointed into it, or nothing, and either way the missing WAL said.
        let info = try sh("NETTRAIL_CASE_DIR=\(d)/cases \(d)/bin/nettrail info \(d)/walless/killed.db 2>&1; true")
        XCTAssertTrue(info.contains("killed.db-wal is missing") || info.contains("killed.db-wal, which holds what it recorded, is not beside it"), info)
        XCTAssertEqual(try sh("ls \(d)/walless"), "killed.db\n", "nothing created beside the evidence")
    }
}
