import Format
import Foundation
import XCTest

/// What a responder sees of real answers: default tables that fit 160 columns, a reason
/// for every empty answer, and JSON that loads as data (DuckDB) with no note rows.
/// The demo's scene (NAT, a runc container, a burst) is recorded once, as root, under the
/// scene lock.
final class AnswerShapeTests: XCTestCase {
    struct Demo { var db: String; var seen: String; var at: String }

    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-answers-\(getpid())")
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static let demo: Result<Demo, Error> = Result {
        let out = root.appendingPathComponent("demo")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let bin = URL(fileURLWithPath: CLITests.binary).deletingLastPathComponent().path
        let r = try shell(["flock", "/tmp/nettrail-scene.lock", repo.appendingPathComponent("scripts/scene/demo-record.sh").path,
                           out.path, bin, "ntans", "ans-web"])
        let words = r.split(whereSeparator: \.isWhitespace).map(String.init)
        guard r.isEmpty == false, words.count == 2 else { throw NSError(domain: "demo-record.sh printed \(r)", code: 1) }
        return Demo(db: out.appendingPathComponent("capture.db").path, seen: words[0], at: words[1])
    }

    static func shell(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw NSError(domain: "\(args) exited \(p.terminationStatus)", code: 1) }
        return String(decoding: o, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The subcommands `nettrail --help` lists.
    static func subcommands() throws -> Set<String> {
        let help = try CLITests.run(["--help"]).stdout
        let section = try XCTUnwrap(help.components(separatedBy: "SUBCOMMANDS:\n").last?.components(separatedBy: "\n\n").first)
        // A name starts its line; a wrapped abstract is indented further.
        return Set(section.split(separator: "\n").filter { $0.hasPrefix("  ") && !$0.hasPrefix("   ") }
            .compactMap { $0.split(separator: " ").first.map(String.init) })
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: root) }

    func nettrail(_ args: [String], file: StaticString = #filePath, line: UInt = #line) throws -> CLITests.Run {
        let r = try CLITests.run(args)
        XCTAssertEqual(r.status, 0, "\(args): \(r.stderr)", file: file, line: line)
        return r
    }

    func testDefaultTablesFitIn160Columns() throws {
        let d = try Self.demo.get()
        let asks: [[String]] = [
            ["who", d.db, "--at", d.at, "--addr", d.seen],
            ["nat", d.db, "--addr", d.seen],
            ["connections", d.db],
            ["processes", d.db],
            ["timeline", d.db],
            ["containers", d.db],
            ["dns", d.db],
        ]
        for a in asks {
            let r = try nettrail(a)
            let lines = r.stdout.split(separator: "\n")
            XCTAssertGreaterThan(lines.count, 1, "\(a): \(r.stdout)")
            let widest = lines.map { $0.unicodeScalars.count }.max() ?? 0
            XCTAssertLessThanOrEqual(widest, 160, "\(a[0]): \(r.stdout)")
            // The same header whatever the rows hold: no column dropped for being empty.
            let header = String(lines[0])
            XCTAssertFalse(header.hasPrefix(" "), header)
        }
        // The answer to `who` is on screen: the owner's pid, name and container.
        let who = try nettrail(["who", d.db, "--at", d.at, "--addr", d.seen]).stdout
        XCTAssertEqual(who.split(separator: "\n").first?.split(separator: " ").prefix(3), ["MATCH", "TIMING", "PROTO"], who)
        XCTAssertTrue(who.contains("ans-web") && who.contains("wget"), who)
        // --wide shows every column, shortening none; -o chooses.
        let wide = try nettrail(["connections", d.db, "--wide"]).stdout
        XCTAssertTrue(wide.contains("RESOLVED_NAME") && !wide.contains("…"), wide)
        let chosen = try nettrail(["processes", d.db, "-o", "pid,comm", "--limit", "2"])
        XCTAssertEqual(chosen.stdout.split(separator: "\n").first, "PID  COMM")
        // The header and 2 rows; among the notes (the capture's own may add some), the --limit one.
        let chosenLines = chosen.stdout.split(separator: "\n")
        XCTAssertEqual(chosenLines.filter { !$0.hasPrefix("note:") }.count, 3, chosen.stdout)
        XCTAssertTrue(chosenLines.contains { $0.hasPrefix("note:") && $0.contains("--limit") }, chosen.stdout)
        let r = try CLITests.run(["processes", d.db, "-o", "pid,bogus"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.stderr.contains("-o bogus: no such column (columns: pid,start,"), r.stderr)
        XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
        // A long value is shortened visibly, never silently cut.
        let processes = try nettrail(["processes", d.db]).stdout
        XCTAssertTrue(processes.contains("…"), processes)
    }

    func testEmptyAnswersSayWhy() throws {
        let d = try Self.demo.get()
        func note(_ args: [String], _ text: String, file: StaticString = #filePath, line: UInt = #line) throws {
            let r = try nettrail([args[0], d.db] + args.dropFirst(), file: file, line: line)
            XCTAssertTrue(r.stdout.contains("(no rows)"), r.stdout, file: file, line: line)
            XCTAssertTrue(r.stdout.contains("note: " + text) || r.stdout.contains(text), "\(args): \(r.stdout)", file: file, line: line)
        }
        try note(["processes", "--container", "ans-we"], "--container ans-we: no such container in this capture; closest: ans-web")
        try note(["connections", "--container", "3f2a9c1e"], "--container 3f2a9c1e: an id prefix needs 12 or more characters")
        try note(["timeline", "--container", "nope", "--kind", "exec"], "closest: ans-web")
        try note(["connections", "--port", "1"], "nothing matches in this capture, which runs from 20")
        // A time outside the capture is refused, with its span.
        for args in [["processes", d.db, "--from", "+1h"], ["who", d.db, "--at", "1.0", "--addr", d.seen],
                     ["timeline", d.db, "--to", "00:00:00"]] {
            let r = try CLITests.run(args)
            XCTAssertEqual(r.status, 2, "\(args): \(r.stdout)")
            XCTAssertTrue(r.stderr.contains("the capture, which runs from 20"), r.stderr)
        }
        // A source the recorder did not run: "no rows" means not recorded.
        let copy = Self.root.appendingPathComponent("no-resolver.db").path
        try? FileManager.default.removeItem(atPath: copy)
        try FileManager.default.copyItem(atPath: d.db, toPath: copy)
        try Database(path: copy, mode: .create).execute("UPDATE meta SET value = 'process,sockets,conntrack' WHERE key = 'sources'")
        let dns = try nettrail(["dns", copy])
        XCTAssertTrue(dns.stdout.contains("note: this capture has no resolver events"), dns.stdout)
    }

    func testTimeFormsAndZonelessNote() throws {
        let d = try Self.demo.get()
        let last = try nettrail(["timeline", d.db, "--last", "2s", "--kind", "process", "--limit", "1"])
        XCTAssertFalse(last.stdout.contains("(no rows)"), last.stdout)
        let rel = try nettrail(["processes", d.db, "--from", "+1s", "--to", "-500ms", "--limit", "1"])
        XCTAssertFalse(rel.stdout.contains("(no rows)"), rel.stdout)
        // A wall time with no zone: the second of the server's log line, as a clock shows it.
        let wall = try Self.shell(["date", "-u", "-d", "@\(d.at.split(separator: ".")[0])", "+%H:%M:%S"])
        let who = try nettrail(["who", d.db, "--at", wall, "--addr", d.seen, "--slack", "2s"])
        XCTAssertTrue(who.stdout.contains("ans-web"), who.stdout)
        XCTAssertTrue(who.stdout.contains("note: \(wall) has no zone: read as UTC"), who.stdout)
    }

    /// Each subcommand's JSON is data only: DuckDB reads it with no `note` (or `type`) column, and
    /// numbers as numbers. Notes go to stderr.
    func testJSONLoadsIntoDuckDB() throws {
        let d = try Self.demo.get()
        let venv = "/tmp/nettrail-duckdb-venv"
        if !FileManager.default.isExecutableFile(atPath: venv + "/bin/python3")
            || (try? Self.shell([venv + "/bin/python3", "-c", "import duckdb"])) == nil {
            _ = try Self.shell(["python3", "-m", "venv", venv])
            _ = try Self.shell([venv + "/bin/pip", "install", "--quiet", "duckdb"])
        }
        let asks: [(String, [String])] = [
            ("info", ["info", d.db]),
            ("processes", ["processes", d.db]),
            ("connections", ["connections", d.db]),
            ("who", ["who", d.db, "--at", d.at, "--addr", d.seen]),
            ("nat", ["nat", d.db, "--addr", d.seen]),
            ("timeline", ["timeline", d.db]),
            ("containers", ["containers", d.db]),
            ("dns", ["dns", d.db]),
            ("index", ["index", d.db]),
        ]
        // Not JSON Lines on stdout: report writes one HTML page (or one trace object) to its -o
        // file; verify lists damaged segments only, so a clean capture's JSON is empty (below).
        let exempt: Set = ["report", "verify"]
        XCTAssertEqual(Set(asks.map(\.0)).union(exempt), try Self.subcommands(), "a subcommand's JSON is not loaded into DuckDB")
        var files: [String] = []
        for (name, args) in asks {
            let r = try nettrail(args + ["--format", "json"])
            XCTAssertFalse(r.stdout.contains("\"note\""), "\(name): \(r.stdout)")
            // The scene's one lookup: the "outside" resolving the router's name from its hosts file.
            if name == "dns" { XCTAssertTrue(r.stdout.contains("\"name\":\"web.ntans.test\""), r.stdout) }
            let path = Self.root.appendingPathComponent("\(name).json").path
            try Data(r.stdout.utf8).write(to: URL(fileURLWithPath: path))
            files.append(path)
        }
        let script = """
            import duckdb, sys
            for path in sys.argv[1:]:
                source = f"read_json('{path}', format='newline_delimited')"
                rel = duckdb.sql(f"SELECT * FROM {source}")
                cols = rel.columns
                assert duckdb.sql(f"SELECT count(*) FROM {source}").fetchall()[0][0] > 0, path
                assert 'note' not in cols and 'type' not in cols, (path, cols)
                print(path.rsplit('/', 1)[-1], ','.join(f'{c}:{t}' for c, t in zip(cols, rel.types)))
            """
        let out = try Self.shell([venv + "/bin/python3", "-c", script] + files)
        XCTAssertTrue(out.contains("processes.json pid:BIGINT"), out)
        XCTAssertTrue(out.contains("connections.json proto:VARCHAR"), out)
        XCTAssertTrue(out.contains("dns.json time:"), out)
        // A clean capture has no damaged segment to list: no data, and the verdict on stderr.
        let verify = try nettrail(["verify", d.db, "--format", "json"])
        XCTAssertEqual(verify.stdout, "")
        XCTAssertTrue(verify.stderr.contains("nettrail: note: ") && verify.stderr.contains("every digest and frame checks"), verify.stderr)
        // Notes of a JSON answer are on stderr, one line each.
        let info = try nettrail(["processes", d.db, "--format", "json", "--limit", "1"])
        XCTAssertEqual(info.stdout.split(separator: "\n").count, 1)
        XCTAssertTrue(info.stderr.contains("nettrail: note: showing the first 1 of"), info.stderr)
    }

    /// `nettrail containers` lists the scene's container with what ran in it.
    func testContainers() throws {
        let d = try Self.demo.get()
        let r = try nettrail(["containers", d.db, "--format", "csv"])
        let lines = r.stdout.split(separator: "\r\n").map(String.init)
        XCTAssertEqual(lines.first, "container,runtime,pod,first_seen,last_seen,processes,connections,cgroup")
        let row = try XCTUnwrap(lines.first { $0.hasPrefix("ans-web,runc,") }, r.stdout).split(separator: ",", omittingEmptySubsequences: false)
        XCTAssertGreaterThanOrEqual(Int(row[5]) ?? 0, 3, r.stdout)   // sh, wget, sleep
        XCTAssertEqual(Int(row[6]), 1, r.stdout)                       // wget's one connection
    }
}
