import Format
import Foundation
import XCTest

/// The recorder never destroys what is not a capture and never leaves a half-made one:
/// --force replaces only a capture or an empty file, bad arguments create nothing, and
/// a start that fails removes what it created.
final class RecorderStartTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: KilledRecorderTests.recorder), "build nettrail-record first")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-start-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    struct Run { var status: Int32; var stderr: String }

    func record(_ args: [String]) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: KilledRecorderTests.recorder)
        p.arguments = args
        let err = Pipe()
        p.standardOutput = FileHandle.nullDevice
        p.standardError = err
        try p.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stderr: String(decoding: e, as: UTF8.self))
    }

    func listing() throws -> [String] {
        (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []).sorted()
    }

    func assertRefused(_ args: [String], status: Int32, contains text: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let before = try listing()
        let r = try record(args)
        XCTAssertEqual(r.status, status, r.stderr, file: file, line: line)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr, file: file, line: line)
        XCTAssertTrue(r.stderr.contains(text), r.stderr, file: file, line: line)
        XCTAssertEqual(try listing(), before, "the refused start changed the directory", file: file, line: line)
    }

    func testForceNeverReplacesADirectoryOrAForeignFile() throws {
        let victim = dir.appendingPathComponent("victim")
        try FileManager.default.createDirectory(at: victim, withIntermediateDirectories: true)
        try Data("keep me\n".utf8).write(to: victim.appendingPathComponent("precious.txt"))
        try assertRefused(["--db", victim.path, "--force", "--duration", "1"], status: 1, contains: "is a directory")

        let notes = dir.appendingPathComponent("notes.txt")
        try Data("SQLite format 3\0 but not really\n".utf8).write(to: notes)
        try assertRefused(["--db", notes.path, "--force", "--duration", "1"], status: 1, contains: "not a nettrail capture")

        let link = dir.appendingPathComponent("link.db")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: victim)
        try assertRefused(["--db", link.path, "--force", "--duration", "1"], status: 1, contains: "is a directory")
        XCTAssertEqual(try String(contentsOf: victim.appendingPathComponent("precious.txt"), encoding: .utf8), "keep me\n")
    }

    func testImpossibleDurationsCreateNothing() throws {
        let db = dir.appendingPathComponent("c.db").path
        for d in ["20000000000", "1e308", "0", "-1", "nan", "inf"] {
            try assertRefused(["--db", db, "--duration", d], status: 2, contains: "--duration must be")
        }
        try assertRefused(["--db", db, "--process-ring-kib", "3"], status: 2, contains: "power of two")
    }

    func testRotationArgumentsCreateNothing() throws {
        let db = dir.appendingPathComponent("c.db").path
        for size in ["0.5", "0", "-1", "nan"] {
            try assertRefused(["--db", db, "--file-size", size], status: 2, contains: "--file-size must be at least 1.0 MiB")
        }
        try assertRefused(["--db", db, "--file-size", "1", "--max-files", "0"], status: 2, contains: "--max-files must be 1 to")
        try assertRefused(["--db", db, "--max-files", "2"], status: 2, contains: "--max-files needs --file-size")
    }

    /// A rotating recording owns FILE.k: an older set's members are refused without --force,
    /// and with it replaced only when they are captures; a foreign file there is never touched.
    func testRotationForceReplacesOnlyAnOlderSetsCaptures() throws {
        let db = dir.appendingPathComponent("c.db").path
        let foreign = db + ".3"
        try Data("SQLite format 3\0 but not really\n".utf8).write(to: URL(fileURLWithPath: foreign))
        try assertRefused(["--db", db, "--file-size", "1", "--force", "--duration", "1"], status: 1, contains: "c.db.3 is not a nettrail capture")
        try assertRefused(["--db", db, "--file-size", "1", "--duration", "1"], status: 1, contains: "c.db.3 already exists")
        unlink(foreign)

        // A real capture of another recording in a member's name: refused without --force, replaced with it.
        let other = dir.appendingPathComponent("other.db").path
        XCTAssertEqual(try record(["--db", other, "--duration", "1", "--quiet"]).status, 0)
        try FileManager.default.moveItem(atPath: other, toPath: db + ".2")
        try assertRefused(["--db", db, "--file-size", "1", "--duration", "1"], status: 1, contains: "c.db.2 already exists")
        let r = try record(["--db", db, "--file-size", "1", "--force", "--duration", "1", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db + ".2"), "the older set's member is gone")
        XCTAssertTrue(FileManager.default.fileExists(atPath: db))
    }

    /// A start that fails once the capture exists leaves nothing, so the same command can be retried.
    func testFailedStartRemovesWhatItCreated() throws {
        let db = dir.appendingPathComponent("c.db").path
        try assertRefused(["--db", db, "--netns", "/nonexistent/netns", "--duration", "1"], status: 1, contains: "/nonexistent/netns")
        XCTAssertFalse(FileManager.default.fileExists(atPath: db))
    }
}
