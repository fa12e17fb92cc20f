import Analyzer
import Format
import Foundation
import XCTest

/// `--file-size` rotates a recording into a numbered set of captures, each under the cap
/// and complete, that the analyzer reads as one; `--max-files` keeps the newest few and
/// says what the others held is gone.
final class RotationTests: XCTestCase {
    static let recorder = KilledRecorderTests.recorder
    static let analyzer = KilledRecorderTests.analyzer
    static let cap = 1 << 20

    var dir: URL!

    override func setUpWithError() throws {
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.recorder), "build nettrail-record first")
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.analyzer), "build nettrail first")
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-rotate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    /// What the workload did, as it logged it: execs (one marker per batch) and loopback
    /// connections it opened, with their wall times.
    struct Truth {
        var execs: [(pid: UInt32, wallNs: Int64, marker: String)] = []
        var connections: [(pid: UInt32, localPort: UInt16, serverPort: UInt16, wallNs: Int64)] = []
    }

    /// Execs with 1000-character random arguments (so the capture grows about 0.3 MB/s, little
    /// of it compressible) and a loopback TCP connection every 0.2 s, for `seconds`.
    static let workload = #"""
        import os, sys, socket, threading, time, base64, json
        seconds, log = float(sys.argv[1]), open(sys.argv[2], "w", buffering=1)
        srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(64)
        def serve():
            while True:
                c, _ = srv.accept(); c.recv(16); c.close()
        threading.Thread(target=serve, daemon=True).start()
        end, n, last_conn = time.time() + seconds, 0, 0.0
        while time.time() < end:
            for i in range(20):
                marker = "marker-%d" % n if i == 0 else "x"
                arg = marker + "-" + base64.b64encode(os.urandom(750)).decode()
                pid = os.posix_spawn("/bin/true", ["/bin/true", arg], {})
                os.waitpid(pid, 0)
                if i == 0:
                    log.write(json.dumps({"exec": pid, "t": time.time_ns(), "marker": marker}) + "\n")
                    n += 1
            if time.time() - last_conn >= 0.2:
                last_conn = time.time()
                c = socket.create_connection(srv.getsockname())
                log.write(json.dumps({"conn": os.getpid(), "lport": c.getsockname()[1], "sport": srv.getsockname()[1],
                                      "t": time.time_ns()}) + "\n")
                c.send(b"hello"); time.sleep(0.01); c.close()
        """#

    /// Records the workload for `seconds` with `args`; returns the set's base path, the truth,
    /// and the recorder's summary line.
    func record(_ args: [String], seconds: Double, stop: Int32 = SIGINT) throws -> (db: String, truth: Truth, summary: String) {
        let db = dir.appendingPathComponent("cap.db").path
        let out = dir.appendingPathComponent("rec.out").path
        let script = dir.appendingPathComponent("load.py").path
        try Self.workload.write(toFile: script, atomically: true, encoding: .utf8)
        let rec = try Child([Self.recorder, "--db", db, "--quiet", "--min-free", "0"] + args, stdout: out)
        defer { rec.stop() }
        // The capture is made once BPF is loaded; the snapshot follows within a second or two.
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: db + "-wal") { Thread.sleep(forTimeInterval: 0.05) }
        Thread.sleep(forTimeInterval: 2)
        let log = dir.appendingPathComponent("truth.jsonl").path
        try sh("python3 \(script) \(seconds) \(log)", timeout: seconds + 120)
        Thread.sleep(forTimeInterval: 1.5)
        rec.terminate(stop)
        let status = try rec.wait(timeout: 120)
        if stop == SIGINT { XCTAssertEqual(status, 0) }
        var truth = Truth()
        for line in try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n") {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let t = (o["t"] as! NSNumber).int64Value
            if let pid = o["exec"] as? Int {
                truth.execs.append((UInt32(pid), t, o["marker"] as! String))
            } else if let pid = o["conn"] as? Int {
                truth.connections.append((UInt32(pid), UInt16(o["lport"] as! Int), UInt16(o["sport"] as! Int), t))
            }
        }
        return (db, truth, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "")
    }

    /// Runs the analyzer CLI with its case under the test's directory; returns stdout's JSON rows.
    func nettrail(_ args: [String]) throws -> (rows: [[String: Any]], stderr: String, status: Int32) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.analyzer)
        p.arguments = args + ["--format", "json"]
        p.environment = ["NETTRAIL_CASE_DIR": dir.appendingPathComponent("cases").path, "PATH": "/usr/bin:/bin"]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let rows = String(decoding: o, as: UTF8.self).split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        return (rows, String(decoding: e, as: UTF8.self), p.terminationStatus)
    }

    func info(_ path: String) throws -> [String: String] {
        var out: [String: String] = [:]
        for r in try nettrail(["info", path]).rows {
            if let f = r["field"] as? String { out[f] = r["value"].map { "\($0)" } }
        }
        return out
    }

    /// The members on disk, with their span in boot ns as each file's own meta says.
    func members(_ db: String) throws -> [CaptureSetMembers.Member] {
        let r = try TimelineReader(path: db)
        return try XCTUnwrap(CaptureSetMembers.find(r, meta: try r.meta())).members
    }

    func testRotationKeepsEachFileUnderTheCapAndTheAnalyzerAnswersAcrossFiles() throws {
        let (db, truth, summary) = try record(["--file-size", "1"], seconds: 12)
        let files = try members(db)
        XCTAssertGreaterThanOrEqual(files.count, 3, summary)
        XCTAssertEqual(files.map(\.index), Array(0..<files.count), "numbered without gaps")
        for f in files {
            let size = try FileManager.default.attributesOfItem(atPath: f.path)[.size] as! NSNumber
            XCTAssertLessThanOrEqual(size.intValue, Self.cap, "\(f.path) is past the 1 MiB cap")
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.path + "-wal"), "\(f.path): finished, out of WAL mode")
            XCTAssertNotNil(f.meta["end_boot_ns"], "\(f.path): closed as a stop closes a capture")
            // Each reads alone.
            XCTAssertEqual(try nettrail(["verify", f.path]).status, 0)
        }
        XCTAssertEqual(try TimelineReader(path: db).meta()["sources"].map { !$0.isEmpty }, true)

        // The whole set checks, file by file and across files.
        let v = try VerifyQuery.run(path: files[1].path)
        XCTAssertEqual(v.damaged, 0, v.table.render(.table))
        XCTAssertTrue(v.table.notes.first?.contains("in \(files.count) files: every digest and frame checks") ?? false, "\(v.table.notes)")

        // info: one capture, its counts the sum of the files', nothing lost.
        let i = try info(db)
        let events = files.reduce(0) { $0 + $1.records }
        XCTAssertEqual(i["segment_events"], String(events))
        XCTAssertEqual(i["set"]?.hasPrefix("\(files.count) files"), true, "\(i)")
        XCTAssertEqual(i["lost"], "nothing", "\(i)")
        for f in files { XCTAssertNotNil(i["set.file\(f.index)"], "\(i)") }
        // Every exec the recorder read is in the case once: none lost or doubled at a switch.
        let read = try XCTUnwrap(summary.firstMatch(of: /exec (\d+)/).flatMap { Int($0.1) }, summary)
        XCTAssertEqual(i["rows.process_exec"], String(read), summary)
        // Any member opens the set.
        XCTAssertEqual(try info(files.last!.path)["segment_events"], String(events))

        // Which file holds what, from each file read alone: a copy under a name of no set.
        func alone(_ f: CaptureSetMembers.Member, _ args: [String]) throws -> [[String: Any]] {
            let d = dir.appendingPathComponent("alone\(f.index)").path
            try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            if !FileManager.default.fileExists(atPath: d + "/alone.db") { try FileManager.default.copyItem(atPath: f.path, toPath: d + "/alone.db") }
            let r = try nettrail([args[0], d + "/alone.db"] + args.dropFirst())
            XCTAssertEqual(r.status, 0, r.stderr)
            return r.rows
        }
        func marker(_ row: [String: Any]) -> String? {
            (row["argv"] as? [String])?.last.flatMap { $0.split(separator: "-").prefix(2).joined(separator: "-") }
        }
        // An exec in the second file.
        let inSecond = Set(try alone(files[1], ["processes"]).compactMap { r in (r["pid"] as? Int).map { "\($0) \(marker(r) ?? "")" } })
        let exec = try XCTUnwrap(truth.execs.first { inSecond.contains("\($0.pid) \($0.marker)") }, "no marker exec in file 1")
        let p = try nettrail(["processes", db, "--pid", String(exec.pid)])
        XCTAssertTrue(p.rows.contains { ($0["argv"] as? [String])?.last?.hasPrefix(exec.marker + "-") == true }, "\(p.rows) \(p.stderr)")
        // A connection in a later file.
        var inLater = Set<Int>()
        for f in files[2...] {
            for r in try alone(f, ["connections"]) {
                if let port = (r["local"] as? String)?.split(separator: ":").last.flatMap({ Int($0) }) { inLater.insert(port) }
            }
        }
        let conn = try XCTUnwrap(truth.connections.first { inLater.contains(Int($0.localPort)) }, "no connection in file 2 or later")
        let c = try nettrail(["connections", db, "--local", "127.0.0.1:\(conn.localPort)"])
        XCTAssertTrue(c.rows.contains { ($0["pid"] as? Int) == Int(conn.pid) && ($0["remote"] as? String) == "127.0.0.1:\(conn.serverPort)" },
                      "\(c.rows) \(c.stderr)")
        let at = TimeSpec.format(conn.wallNs + 5_000_000)
        let w = try nettrail(["who", db, "--at", at, "--addr", "127.0.0.1:\(conn.localPort)"])
        XCTAssertEqual(w.rows.first?["pid"] as? Int, Int(conn.pid), "\(w.rows) \(w.stderr)")
        XCTAssertEqual(w.rows.first?["timing"] as? String, "live", "\(w.rows)")

        // A copy of the set with a member missing, then a stray one beside it, then a link altered:
        // each a note (and a loss window where events are gone), never a crash.
        let copy = dir.appendingPathComponent("copy").path
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for f in files { try FileManager.default.copyItem(atPath: f.path, toPath: copy + "/" + (f.path as NSString).lastPathComponent) }
        let base = copy + "/cap.db"
        try FileManager.default.removeItem(atPath: base + ".1")
        try FileManager.default.copyItem(atPath: base, toPath: base + ".\(files.count + 3)")
        let gap = try info(base)
        XCTAssertTrue(gap["set.missing"]?.contains("file 1 of the set is missing: \(files[1].records) events") ?? false, "\(gap)")
        XCTAssertEqual(gap["lost.recorder.member_missing"]?.hasPrefix("\(files[1].records) between"), true, "\(gap)")
        XCTAssertTrue(gap["set.ignored"]?.contains("says it is member 0 of this set, not \(files.count + 3)") ?? false, "\(gap)")
        XCTAssertEqual(gap["segment_events"], String(events - files[1].records))
        XCTAssertEqual(try nettrail(["verify", base]).status, 1)
        let gone = try nettrail(["processes", base, "--pid", String(exec.pid)])
        XCTAssertEqual(gone.status, 0, gone.stderr)
        XCTAssertFalse(gone.rows.contains { ($0["argv"] as? [String])?.last?.hasPrefix(exec.marker + "-") == true }, "\(gone.rows)")

        // Put back, the case is rebuilt (a member came back); an altered link is named.
        try FileManager.default.copyItem(atPath: files[1].path, toPath: base + ".1")
        let db2 = try Database(path: base + ".2", mode: .create)
        try db2.execute("UPDATE meta SET value = '\(String(repeating: "0", count: 64))' WHERE key = 'set_prev_chain_head'")
        try db2.execute("PRAGMA journal_mode=DELETE")
        let altered = try info(base)
        XCTAssertNil(altered["lost.recorder.member_missing"], "the case was rebuilt with the member back: \(altered)")
        XCTAssertTrue(altered["set.chain"]?.contains("the segment chain breaks between cap.db.1 and cap.db.2") ?? false, "\(altered)")
        let v2 = try nettrail(["verify", base])
        XCTAssertEqual(v2.status, 1, v2.stderr)
        XCTAssertTrue(v2.rows.contains { ($0["problem"] as? String)?.contains("chain breaks") == true }, "\(v2.rows)")
    }

    func testMaxFilesKeepsTheNewestAndTheRestIsALoss() throws {
        let (db, truth, summary) = try record(["--file-size", "1", "--max-files", "2"], seconds: 12)
        let present = CaptureSet.numberedPaths(base: db)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db), "the first file is rotated out")
        XCTAssertEqual(present.count, 2, "\(present) \(summary)")
        let newest = try XCTUnwrap(present.last)
        XCTAssertGreaterThanOrEqual(newest.index, 3, summary)
        let files = try members(newest.path)
        XCTAssertEqual(files.map(\.index), [newest.index - 1, newest.index])

        let i = try info(newest.path)
        let lost = try XCTUnwrap(i["lost.recorder.rotated_out"], "\(i)")
        XCTAssertNotNil(i["set.rotated_out"], "\(i)")
        XCTAssertNil(i["lost"])
        // The loss counts what the removed files held: every event read but those kept.
        let kept = files.reduce(0) { $0 + $1.records }
        let removed = try XCTUnwrap(lost.split(separator: " ").first.flatMap { Int($0) })
        XCTAssertGreaterThan(removed, 0)
        let read = try XCTUnwrap(summary.firstMatch(of: /rotated_out (\d+)/).flatMap { Int($0.1) }, summary)
        XCTAssertEqual(removed, read, summary)
        XCTAssertGreaterThan(kept, 0)

        // The first execs are gone with their file, and an answer about them says their window is lost.
        let first = try XCTUnwrap(truth.execs.first)
        let p = try nettrail(["processes", newest.path, "--pid", String(first.pid)])
        XCTAssertFalse(p.rows.contains { ($0["argv"] as? [String])?.last?.hasPrefix(first.marker + "-") == true }, "\(p.rows)")
        // The last execs are there.
        let last = try XCTUnwrap(truth.execs.last)
        let q = try nettrail(["processes", newest.path, "--pid", String(last.pid)])
        XCTAssertTrue(q.rows.contains { ($0["argv"] as? [String])?.last?.hasPrefix(last.marker + "-") == true }, "\(q.rows) \(q.stderr)")
        XCTAssertEqual(try nettrail(["verify", newest.path]).status, 0, "removed files are a loss, not damage")
    }

    /// A recorder killed with SIGKILL in the middle of a set: the files it finished read as
    /// they are, the one it was writing up to its last commit (it and its WAL, as copied), and
    /// every exec the workload made (the last over 1.5 s before the kill) is in the answer.
    func testKilledMidSetReadsUpToItsLastCommit() throws {
        let (db, truth, _) = try record(["--file-size", "1"], seconds: 8, stop: SIGKILL)
        let files = try members(db)
        XCTAssertGreaterThanOrEqual(files.count, 2)
        let last = try XCTUnwrap(files.last)
        XCTAssertTrue(FileManager.default.fileExists(atPath: last.path + "-wal"), "the file being written keeps its WAL")
        XCTAssertNil(last.meta["end_boot_ns"])
        for f in files.dropLast() { XCTAssertNotNil(f.meta["end_boot_ns"], "\(f.path) was finished at its switch") }

        let v = try VerifyQuery.run(path: db)
        XCTAssertEqual(v.damaged, 0, v.table.render(.table))
        let i = try info(db)
        XCTAssertEqual(i["set"]?.hasPrefix("\(files.count) files"), true, "\(i)")
        XCTAssertEqual(i["end"]?.hasPrefix("not closed cleanly"), true, "\(i)")
        XCTAssertEqual(i["lost"], "nothing", "\(i)")
        let p = try nettrail(["processes", db])
        let markers = Set(p.rows.compactMap { ($0["argv"] as? [String])?.last?.split(separator: "-").prefix(2).joined(separator: "-") })
        let missing = truth.execs.filter { !markers.contains($0.marker) }
        XCTAssertTrue(missing.isEmpty, "execs not in the killed set: \(missing.map(\.marker))")
        XCTAssertGreaterThan(truth.execs.count, 0)
    }
}
