import Analyzer
import Foundation
import XCTest

/// A recorder left running must not fill the disk of the host it investigates: it stops,
/// cleanly and saying why, at a free-space floor or at a size cap.
final class FootprintTests: XCTestCase {
    static let recorder = URL(fileURLWithPath: packageRoot).appendingPathComponent(".build/debug/nettrail-record").path

    func testFreeSpaceFloorStopsTheRecordingCleanly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-floor-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer {
            _ = try? sh("umount \(dir) 2>/dev/null; true")
            try? FileManager.default.removeItem(atPath: dir)
        }
        // A small file system with 12 of 24 MiB free, below the 16 MiB floor asked for.
        try sh("mount -t tmpfs -o size=24m tmpfs \(dir) && dd if=/dev/zero of=\(dir)/fill bs=1M count=12 status=none")
        let db = dir + "/c.db"
        let code = try Child([Self.recorder, "--db", db, "--min-free", "16", "--quiet"],
                             stdout: dir + "/rec.out").wait(timeout: 60)
        XCTAssertEqual(code, 0, (try? String(contentsOfFile: dir + "/rec.out", encoding: .utf8)) ?? "")
        let capture = try Capture(path: db, casePath: FileManager.default.temporaryDirectory
            .appendingPathComponent("floor-\(UUID().uuidString).case").path, progress: false)
        try capture.load()
        XCTAssertNotNil(capture.endBoot, "closed cleanly")
        let info = try InfoQuery.run(capture).render(.table)
        XCTAssertTrue(info.contains("free space on the capture's file system fell below 16 MiB"), info)
    }

    /// A disk that fills anyway (another writer, a floor of 0): the recorder gives back the
    /// space it set aside, writes what was lost and when, and finishes the capture.
    func testFullDiskIsALossWindowAndTheCaptureIsFinished() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-full-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer {
            _ = try? sh("umount \(dir) 2>/dev/null; true")
            try? FileManager.default.removeItem(atPath: dir)
        }
        // 17 MiB free: the 16 MiB reserve, and one for the capture.
        try sh("mount -t tmpfs -o size=40m tmpfs \(dir) && dd if=/dev/zero of=\(dir)/fill bs=1M count=23 status=none")
        let db = dir + "/c.db"
        let rec = try Child([Self.recorder, "--db", db, "--min-free", "0", "--quiet"], stdout: dir + "/rec.out")
        defer { rec.stop() }
        let load = try Child(["/bin/bash", "-c", "while :; do /bin/true; done"])
        defer { load.stop() }
        let code = try rec.wait(timeout: 240)
        load.stop()
        let out = (try? String(contentsOfFile: dir + "/rec.out", encoding: .utf8)) ?? ""
        XCTAssertEqual(code, 0, out)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db + "-reserve"), "the reserve is given back")
        XCTAssertFalse(FileManager.default.fileExists(atPath: db + "-wal"), "finished: checkpointed, out of WAL mode")
        let capture = try Capture(path: db, casePath: FileManager.default.temporaryDirectory
            .appendingPathComponent("full-\(UUID().uuidString).case").path, progress: false)
        try capture.load()
        XCTAssertNotNil(capture.endBoot, "closed cleanly")
        XCTAssertEqual(capture.meta["stop_reason"], "the capture's file system is full")
        let info = try InfoQuery.run(capture).render(.table)
        XCTAssertTrue(info.contains("lost.recorder.disk_full"), info)
        XCTAssertFalse(info.contains("lost nothing"), info)
    }

    func testSizeCapStopsTheRecordingCleanly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-cap-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let db = dir.appendingPathComponent("c.db").path
        let rec = try Child([Self.recorder, "--db", db, "--max-size", "1", "--quiet"], stdout: dir.appendingPathComponent("rec.out").path)
        defer { rec.stop() }
        // Execs until the recorder has stopped by itself (a 5,000-exec burst is about 0.4 MB of capture).
        let load = try Child(["/bin/bash", "-c", "while :; do /bin/true; done"])
        defer { load.stop() }
        let code = try rec.wait(timeout: 120)
        load.stop()
        XCTAssertEqual(code, 0)
        let size = (try FileManager.default.attributesOfItem(atPath: db)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertLessThan(size, 2 << 20, "one second's records at most past the 1 MiB cap")
        let capture = try Capture(path: db, casePath: dir.appendingPathComponent("c.case").path, progress: false)
        try capture.load()
        XCTAssertNotNil(capture.endBoot)
        XCTAssertEqual(capture.meta["stop_reason"], "the capture reached its size limit (1 MiB)")
    }
}
