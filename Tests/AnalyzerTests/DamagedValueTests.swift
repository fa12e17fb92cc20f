import Analyzer
import Format
import Foundation
import XCTest

/// Values no recorder writes, put into copies of the real fixture: each once crashed the
/// analyzer. Now the row holding one is left out, said in a note and counted by `info`; a
/// damaged end or clock anchor is reported; no subcommand traps.
final class DamagedValueTests: XCTestCase {
    var dir: URL!
    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-damaged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// A copy of the fixture with `sql` run on it.
    func damaged(_ name: String, _ sql: String, from source: String = FixtureTests.fixtures.appendingPathComponent("processes.db").path) throws -> String {
        let path = dir.appendingPathComponent(name).path
        try FileManager.default.copyItem(atPath: source, toPath: path)
        try Database(path: path, mode: .create).execute(sql)
        return path
    }

    /// Every subcommand: a normal exit (0, or 1 with one line), never a signal or a backtrace.
    func assertNoSubcommandTraps(_ path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let casePath = dir.appendingPathComponent(UUID().uuidString + ".case").path
        for args in [["info"], ["processes"], ["connections"], ["who", "--at", "+1", "--addr", "10.0.0.1:80"],
                     ["timeline"], ["nat", "--addr", "10.0.0.1"], ["dns"], ["index"], ["verify"]] {
            let r = try CLITests.run([args[0], path] + args.dropFirst() + (args[0] == "verify" ? [] : ["--case", casePath]))
            XCTAssertTrue([0, 1].contains(r.status), "\(args): status \(r.status): \(r.stderr)", file: file, line: line)
            XCTAssertFalse(r.stderr.contains("Fatal error") || r.stderr.contains("Backtrace"), r.stderr, file: file, line: line)
            // verify reports damage on stdout and exits 1; any other failure is one line on stderr.
            if r.status != 0 && !(args[0] == "verify" && r.stderr.isEmpty) {
                XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, "\(args): \(r.stderr)", file: file, line: line)
            }
        }
    }

    func testOutOfRangeValueLeavesItsRowOutWithANote() throws {
        let path = try damaged("uid.db", "UPDATE process_snapshot SET uid = 4294967296 WHERE rowid = 1")
        try assertNoSubcommandTraps(path)
        let casePath = dir.appendingPathComponent("uid.case").path
        let p = try CLITests.run(["processes", path, "--case", casePath])
        XCTAssertEqual(p.status, 0, p.stderr)
        XCTAssertTrue(p.stdout.contains("note: 1 out-of-range values (uid)"), p.stdout)
        XCTAssertTrue(p.stdout.contains("1 damaged rows left out"), p.stdout)
        let info = try CLITests.run(["info", path, "--case", casePath])
        XCTAssertTrue(info.stdout.contains("damaged.rows.process_snapshot"), info.stdout)

        // The same in the library: the damaged row is not among the answers, the others are.
        let c = try Capture(path: path, casePath: casePath, progress: false)
        try c.load()
        XCTAssertGreaterThan(ProcessQuery.run(c, ProcessFilter()).rows.count, 0)
        XCTAssertEqual(c.reader.db.rowsLeftOut, 1)
    }

    func testEndBeforeStartIsReportedAsDamage() throws {
        let path = try damaged("end.db", "UPDATE meta SET value = '5' WHERE key = 'end_boot_ns'")
        try assertNoSubcommandTraps(path)
        let info = try CLITests.run(["info", path, "--case", dir.appendingPathComponent("end.case").path])
        XCTAssertEqual(info.status, 0, info.stderr)
        XCTAssertTrue(info.stdout.contains("damaged:"), info.stdout)
    }

    func testImpossibleClockAnchorsAreLeftOut() throws {
        for (name, sql) in [("wall.db", "UPDATE clock_anchor SET wall_ns = 9223372036854775807"),
                            ("boot.db", "UPDATE clock_anchor SET boot_ns = -1 WHERE rowid = 1"),
                            ("both.db", "INSERT INTO clock_anchor VALUES (-9223372036854775808, -9223372036854775808)")] {
            let path = try damaged(name, sql)
            try assertNoSubcommandTraps(path)
        }
        let c = try Capture(path: try damaged("neg.db", "UPDATE clock_anchor SET boot_ns = -5 WHERE rowid = 1"),
                            casePath: dir.appendingPathComponent("neg.case").path, progress: false)
        XCTAssertEqual(c.clock.rejected, 1)
        XCTAssertTrue(c.decodeNotes().contains { $0.contains("clock anchors") }, "\(c.decodeNotes())")
    }

    /// Found by FuzzTests: a byte count of 2^63 or more in a case's connection row trapped
    /// when printed; it is damage, and the row is left out.
    func testHugeCountInACaseConnectionIsLeftOut() throws {
        let base = dir.appendingPathComponent("base.case").path
        _ = try Capture(path: FixtureTests.fixtures.appendingPathComponent("processes.db").path, casePath: base, progress: false)
        let path = try damaged("conn.case", """
            INSERT INTO connection (proto, direction, family, laddr, lport, raddr, rport, netns, cookie, sk,
                owner_tid, owner_comm, start, bytes_sent, established, flags, open_at_start, shared_by,
                span_level) -- 63: still open (CaseRows.openLevel)
            VALUES ('tcp', 'out', 2, '10.0.0.2', 40000, '10.0.0.1', 80, 1, 1, 1, 0, '', 7355000000000, -1, 1, 0, 0, '',
                    63)
            """, from: base)
        let r = try CLITests.run(["connections", path])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(r.stdout.contains("out-of-range values (bytes_sent)"), r.stdout)
    }

    /// Found by FuzzCLITests: these four bytes make SQLite's integrity check report several
    /// lines, which went to stderr as they were. An error is one line, whatever its source says.
    func testMultiLineIntegrityReportIsOneLine() throws {
        let path = dir.appendingPathComponent("flipped.db").path
        var bytes = try [UInt8](Data(contentsOf: FixtureTests.fixtures.appendingPathComponent("processes.db")))
        for (at, v) in [(94504, 172), (15564, 30), (64, 206), (24145, 255)] { bytes[at] = UInt8(v) }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let r = try CLITests.run(["processes", path, "--case", dir.appendingPathComponent("f.case").path])
        XCTAssertEqual(r.status, 1, r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        XCTAssertTrue(r.stderr.hasPrefix("nettrail: ") && r.stderr.contains("is damaged"), r.stderr)
    }

    /// Segment headers and framing no recorder writes, with the chain re-sealed so the digest
    /// check passes: each segment is damaged (noted, counted in info, named by verify), never a trap.
    func testImpossibleSegmentHeadersAndFramingAreDamage() throws {
        let changes: [(String, (inout SegmentHeader, inout [UInt8]) -> Void)] = [
            ("records", { h, _ in h.records = Int.max }),
            ("negative", { h, _ in h.records = -1 }),
            ("raw", { h, _ in h.rawBytes = Int.max }),
            ("times", { h, _ in h.firstTs = .max; h.lastTs = 0 }),
            ("length", { _, p in p.replaceSubrange(0..<4, with: [0xFF, 0xFF, 0xFF, 0xFF]) }),
            ("pad", { _, p in p[4] = 1 }),
            ("short", { _, p in p.removeLast(3) }),
        ]
        for (name, change) in changes {
            let path = dir.appendingPathComponent("\(name).db").path
            try FileManager.default.copyItem(atPath: FixtureTests.fixtures.appendingPathComponent("processes.db").path, toPath: path)
            try EvidenceMutator.rewriteSegments(try Database(path: path, mode: .create), change)
            try assertNoSubcommandTraps(path)
            let info = try CLITests.run(["info", path, "--case", dir.appendingPathComponent("\(name).case").path])
            XCTAssertEqual(info.status, 0, "\(name): \(info.stderr)")
            XCTAssertTrue(info.stdout.contains("damaged.segment"), "\(name): \(info.stdout)")
            let verify = try CLITests.run(["verify", path])
            XCTAssertEqual(verify.status, 1, "\(name): \(verify.stdout)\(verify.stderr)")
        }
    }
}
