import Format
import Foundation
import XCTest

final class TimelineTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-format-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func makeCapture(_ name: String = "c.db") throws -> String {
        let path = dir.appendingPathComponent(name).path
        let w = try TimelineWriter(path: path, force: false)
        try w.setMeta("start_boot_ns", "1000")
        try w.clockAnchor(bootNs: 1_000, wallNs: 1_700_000_000_000_000_000)
        let t = TaskRow(ts: 2_000, pid: 42, tid: 42, startNs: 1_500, ppid: 1, parentStartNs: 10, uid: 0, gid: 0,
                        cgroupID: 7, cgroupV1ID: 8, mntns: 1, netns: 2, pidns: 3, comm: "true")
        try w.fork(t)
        let argv: [UInt8] = Array("/bin/true\0-x".utf8)
        try argv.withUnsafeBytes { try w.exec(t, oldPid: 42, flags: 0, filename: "/bin/true", argv: $0) }
        try w.exit(t, exitCode: 256)
        try w.close()
        return path
    }

    /// One statement per call site, however many call sites there are: the table grows.
    func testStatementPerCallSiteBeyondTheFirstTable() throws {
        let w = try TimelineWriter(path: dir.appendingPathComponent("sites.db").path, force: false)
        var first: [Statement] = []
        for line in 1...200 {
            let st = try w.statement("SELECT \(line)", line: UInt(line))
            XCTAssertTrue(try st.step())
            XCTAssertEqual(st.int(0), line)
            st.reset()
            first.append(st)
        }
        for line in 1...200 {
            XCTAssertTrue(try w.statement("unused: the call site is known", line: UInt(line)) === first[line - 1])
        }
        try w.close()
    }

    func testRoundTripAndFileMode() throws {
        let path = try makeCapture()
        let attrs = try FileManager.default.attributesOfItem(atPath: path)
        XCTAssertEqual((attrs[.posixPermissions] as? NSNumber)?.intValue, 0o600)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path + "-wal"), "a closed capture is one file")
        let r = try TimelineReader(path: path)
        XCTAssertEqual(try r.count("process_exec"), 1)
        XCTAssertEqual(try r.meta()["start_boot_ns"], "1000")
        XCTAssertEqual(r.clock.wall(fromBoot: 2_000), 1_700_000_000_000_001_000)
        let st = try r.db.prepare("SELECT argv FROM process_exec")
        XCTAssertTrue(try st.step())
        XCTAssertEqual(st.blob(0), Array("/bin/true\0-x".utf8))
    }

    func testRefusesToOverwriteWithoutForce() throws {
        let path = try makeCapture()
        XCTAssertThrowsError(try TimelineWriter(path: path, force: false)) { e in
            XCTAssertTrue("\(e)".contains("already exists"))
        }
        XCTAssertNoThrow(try TimelineWriter(path: path, force: true))
    }

    func testReaderNeverWrites() throws {
        let path = try makeCapture()
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let mtime = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        let r = try TimelineReader(path: path)
        XCTAssertThrowsError(try r.db.execute("DELETE FROM process_exec"), "read-only connection")
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path)), before)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date, mtime)
    }

    func testBadInputsGetClearErrors() throws {
        let missing = dir.appendingPathComponent("nope.db").path
        XCTAssertEqual(error(missing), "\(missing): no such file")

        let text = dir.appendingPathComponent("text.db").path
        try Data("hello, not sqlite".utf8).write(to: URL(fileURLWithPath: text))
        XCTAssertEqual(error(text), "\(text) is not a nettrail capture")

        let foreign = dir.appendingPathComponent("foreign.db").path
        let db = try Database(path: foreign, mode: .create)
        try db.execute("CREATE TABLE t (x)")
        XCTAssertEqual(error(foreign), "\(foreign) is not a nettrail capture")

        let old = try makeCapture("old.db")
        try Database(path: old, mode: .create).execute("PRAGMA user_version=0")
        XCTAssertTrue(error(old)?.contains("schema version 0") ?? false, error(old) ?? "")

        // Damage the middle of the file: a page of noise where tables were.
        let bad = try makeCapture("bad.db")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: bad))
        XCTAssertGreaterThan(bytes.count, 8192)
        for i in 4096..<min(bytes.count, 12288) { bytes[i] = UInt8(truncatingIfNeeded: i &* 31) }
        try bytes.write(to: URL(fileURLWithPath: bad))
        let msg = error(bad) ?? ""
        XCTAssertTrue(msg.contains("damaged") || msg.contains("not a nettrail capture"), msg)
    }

    private func error(_ path: String) -> String? {
        do { try TimelineReader(path: path).check(); return nil } catch { return "\(error)" }
    }
}

/// --force: a capture or an empty file is replaced; a directory, another file or a
/// directory standing where a side file would be, never.
final class WriterForceTests: XCTestCase {
    func testForceReplacesOnlyACaptureOrAnEmptyFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-force-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fm = FileManager.default

        let capture = dir.appendingPathComponent("c.db").path
        try TimelineWriter(path: capture, force: false).close()
        XCTAssertEqual(TimelineWriter.existing(capture), .replaceable)
        try TimelineWriter(path: capture, force: true).close()

        let empty = dir.appendingPathComponent("empty.db").path
        fm.createFile(atPath: empty, contents: Data())
        XCTAssertEqual(TimelineWriter.existing(empty), .replaceable)
        try TimelineWriter(path: empty, force: true).close()

        let folder = dir.appendingPathComponent("folder").path
        try fm.createDirectory(atPath: folder + "/inside", withIntermediateDirectories: true)
        XCTAssertThrowsError(try TimelineWriter(path: folder, force: true)) {
            XCTAssertTrue("\($0)".contains("is a directory"), "\($0)")
        }
        XCTAssertTrue(fm.fileExists(atPath: folder + "/inside"))

        let text = dir.appendingPathComponent("text.db").path
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: text))
        XCTAssertThrowsError(try TimelineWriter(path: text, force: true))
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: text)).count, 4096)

        // A case is not a capture: the recorder does not replace the analyzer's file.
        let aCase = dir.appendingPathComponent("x.case").path
        try TimelineWriter(path: aCase, force: false, kind: .caseDatabase).close()
        XCTAssertEqual(TimelineWriter.existing(aCase), .notReplaceable("not a nettrail capture"))

        // A directory where the WAL would be is left alone (unlink, not a recursive removal).
        try fm.createDirectory(atPath: capture + "-wal/kept", withIntermediateDirectories: true)
        _ = try? TimelineWriter(path: capture, force: true)
        XCTAssertTrue(fm.fileExists(atPath: capture + "-wal/kept"))
    }
}
