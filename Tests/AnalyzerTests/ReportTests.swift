import Foundation
import XCTest
@testable import Analyzer

/// `nettrail report` in a real browser: the demo's scene (a runc container fetching through
/// NAT) recorded once under the scene lock, its page loaded in Debian's headless chromium.
final class ReportTests: XCTestCase {
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-report-\(getpid())")
    /// Screenshots outlive the run: they are what a reviewer looks at.
    static let artifacts = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-report-artifacts")
    static let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    struct Demo { var db: String; var seen: String }

    static let demo: Result<Demo, Error> = Result {
        let out = root.appendingPathComponent("demo")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        let bin = URL(fileURLWithPath: CLITests.binary).deletingLastPathComponent().path
        let r = try AnswerShapeTests.shell(["flock", "/tmp/nettrail-scene.lock",
                                            repo.appendingPathComponent("scripts/scene/demo-record.sh").path,
                                            out.path, bin, "ntrep", "rep-web"])
        let words = r.split(whereSeparator: \.isWhitespace).map(String.init)
        guard words.count == 2 else { throw NSError(domain: "demo-record.sh printed \(r)", code: 1) }
        return Demo(db: out.appendingPathComponent("capture.db").path, seen: words[0])
    }

    /// The browser is a test tool: installed when missing, and its absence fails the test.
    static let chromium: Result<String, Error> = Result {
        let path = "/usr/bin/chromium"
        if !FileManager.default.isExecutableFile(atPath: path) {
            _ = try? AnswerShapeTests.shell(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "chromium"])
        }
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw NSError(domain: "chromium is not installed and apt-get install -y chromium failed", code: 1)
        }
        return path
    }

    override class func tearDown() { try? FileManager.default.removeItem(at: root) }

    /// Runs headless chromium on `page` with `args` (--dump-dom, --screenshot=...); its stdout.
    func browse(_ page: URL, query: String = "", _ args: [String]) throws -> String {
        let browser = try Self.chromium.get()
        let profile = Self.root.appendingPathComponent("profile-\(UUID().uuidString)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        p.arguments = ["120", browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                       "--user-data-dir=\(profile.path)", "--window-size=1400,1000"] + args + [page.absoluteString + query]
        p.currentDirectoryURL = Self.root
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        try? FileManager.default.removeItem(at: profile)
        XCTAssertEqual(p.terminationStatus, 0, "chromium \(args)")
        return String(decoding: data, as: UTF8.self)
    }

    /// The page's own verdict: it sets data-rendered when done and data-error on any script error.
    func assertRendered(_ dom: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(dom.contains("data-rendered=\"ok\""), "page did not finish rendering", file: file, line: line)
        XCTAssertFalse(dom.contains("data-error="), "script error: \(dom.components(separatedBy: "data-error=").last?.prefix(200) ?? "")",
                       file: file, line: line)
    }

    /// The texts of the lane labels the script built.
    func labels(_ dom: String) -> [String] {
        dom.components(separatedBy: "<div class=\"label\"").dropFirst().compactMap { part in
            part.split(separator: ">", maxSplits: 1).last.flatMap { $0.split(separator: "<").first }.map(String.init)
        }
    }

    func testDemoReportRendersInChromium() throws {
        let d = try Self.demo.get()
        let page = Self.root.appendingPathComponent("report.html")
        let r = try CLITests.run(["report", d.db, "-o", page.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        let html = try String(contentsOf: page, encoding: .utf8)
        XCTAssertTrue(html.contains("<script type=\"application/json\" id=\"data\">"))
        XCTAssertFalse(html.contains("http://") || html.contains("https://") || html.contains(" src="), "page refers to something outside it")

        let dom = try browse(page, ["--dump-dom"])
        assertRendered(dom)
        let names = labels(dom)
        XCTAssertGreaterThan(names.count, 100, "lanes: \(names.count)")
        // The container's fetch: its lane, in the container's group, and the connection with its NAT mapping.
        XCTAssertTrue(names.contains { $0.hasSuffix(" wget") && Int($0.split(separator: " ")[0]) != nil }, "\(names.prefix(40))")
        XCTAssertTrue(dom.contains("container rep-web (runc)"), "no container group")
        XCTAssertTrue(dom.contains("10.201.2.2:80"), "the fetch's remote address is not on the page")
        XCTAssertTrue(dom.contains(d.seen), "the fetch's translated address \(d.seen) (what the server saw) is not on the page")

        // The search box, given in the address: only matching lanes stay.
        let found = try browse(page, query: "?q=wget", ["--dump-dom"])
        assertRendered(found)
        let shown = found.components(separatedBy: "<div class=\"lane").dropFirst().filter { !$0.prefix(200).contains("display: none") }
        XCTAssertFalse(shown.isEmpty)
        XCTAssertLessThan(shown.count, names.count / 2, "search kept \(shown.count) of \(names.count) lanes")

        // A cap on what is drawn is said on the page, not silent.
        let capped = Self.root.appendingPathComponent("capped.html")
        XCTAssertEqual(try CLITests.run(["report", d.db, "-o", capped.path, "--max-connections", "1"]).status, 0)
        let few = try browse(capped, ["--dump-dom"])
        assertRendered(few)
        XCTAssertNotNil(few.range(of: "<li>[0-9]+ of [0-9]+ connections are left out", options: .regularExpression), "no note of the cap")

        try FileManager.default.createDirectory(at: Self.artifacts, withIntermediateDirectories: true)
        let shot = Self.artifacts.appendingPathComponent("demo-report-\(getpid()).png")
        _ = try browse(page, ["--screenshot=\(shot.path)"])
        let size = (try? FileManager.default.attributesOfItem(atPath: shot.path))?[.size] as? Int ?? 0
        XCTAssertGreaterThan(size, 10_000, "no screenshot at \(shot.path)")
        print("ReportTests: screenshot \(shot.path)")
    }

    /// The same picture as Chrome Trace Event JSON for Perfetto: containers as processes, their
    /// processes as threads, connections as slices on their owner's thread, nested as a viewer needs.
    func testDemoChromeTrace() throws {
        let d = try Self.demo.get()
        let file = Self.root.appendingPathComponent("trace.json")
        let r = try CLITests.run(["report", d.db, "-o", file.path, "--format", "chrome-trace"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let top = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        let events = try XCTUnwrap(top["traceEvents"] as? [[String: Any]])
        XCTAssertGreaterThan(events.count, 100)
        for e in events {
            for key in ["name", "ph", "ts", "pid", "tid"] { XCTAssertNotNil(e[key], "\(key) missing: \(e)") }
            switch e["ph"] as? String {
            case "X": XCTAssertGreaterThanOrEqual(e["dur"] as? Double ?? -1, 0, "\(e)")
            case "i": XCTAssertTrue(["t", "g"].contains(e["s"] as? String), "\(e)")
            case "M": XCTAssertNotNil(e["args"] as? [String: Any], "\(e)")
            default: XCTFail("unexpected phase: \(e)")
            }
        }
        func meta(_ name: String) -> [[String: Any]] { events.filter { $0["ph"] as? String == "M" && $0["name"] as? String == name } }
        func args(_ e: [String: Any]) -> [String: Any] { e["args"] as? [String: Any] ?? [:] }

        // The container is a process; its wget a thread, with its exec and its connection through NAT.
        let container = try XCTUnwrap(meta("process_name").first { args($0)["name"] as? String == "container rep-web (runc)" })
        let pid = try XCTUnwrap(container["pid"] as? Int)
        let wget = try XCTUnwrap(meta("thread_name").first {
            $0["pid"] as? Int == pid && (args($0)["name"] as? String)?.hasSuffix(" wget") == true
        }, "no wget thread in the container")
        let tid = try XCTUnwrap(wget["tid"] as? Int)
        let mine = events.filter { $0["pid"] as? Int == pid && $0["tid"] as? Int == tid }
        XCTAssertTrue(mine.contains { $0["ph"] as? String == "X" && $0["cat"] as? String == "process" && $0["name"] as? String == "wget" })
        XCTAssertTrue(mine.contains { $0["ph"] as? String == "i" && $0["name"] as? String == "exec wget" })
        let fetch = try XCTUnwrap(events.first {
            $0["cat"] as? String == "connection" && $0["pid"] as? Int == pid && args($0)["remote"] as? String == "10.201.2.2:80"
        }, "the container's fetch is not in the trace")
        XCTAssertTrue((args(fetch)["nat"] as? String)?.hasPrefix(d.seen) == true, "\(fetch)")
        // On wget's thread, or on the row beside it when it outlived the process.
        let lane = try XCTUnwrap(args(wget)["name"] as? String)
        let rows = meta("thread_name").filter { $0["pid"] as? Int == pid && [lane, lane + " connections"].contains(args($0)["name"] as? String) }
        XCTAssertTrue(rows.contains { $0["tid"] as? Int == fetch["tid"] as? Int }, "the fetch is not on wget's lane: \(fetch)")
        // The outside's fetch by name carries the name it resolved.
        XCTAssertTrue(events.contains { args($0)["resolved_name"] as? String == "web.ntrep.test" && args($0)["remote"] as? String == "10.201.2.1:8080" })

        // Slices on one thread nest, in the whole nanoseconds a viewer reads (it drops or misdraws those that do not).
        var threads: [[Int]: [(Int64, Int64)]] = [:]
        for e in events where e["ph"] as? String == "X" {
            let ts = Int64(((e["ts"] as? Double ?? 0) * 1000).rounded()), dur = Int64(((e["dur"] as? Double ?? 0) * 1000).rounded())
            threads[[e["pid"] as? Int ?? 0, e["tid"] as? Int ?? 0], default: []].append((ts, ts + dur))
        }
        for (thread, slices) in threads {
            var open: [Int64] = []
            for (a, b) in slices.sorted(by: { ($0.0, -$0.1) < ($1.0, -$1.1) }) {
                while let top = open.last, top <= a { open.removeLast() }
                if let top = open.last { XCTAssertLessThanOrEqual(b, top, "thread \(thread): a slice ends after its parent") }
                open.append(b)
            }
        }
        // Python's json reads it too, as a viewer's parser would: no NaN, no bare values.
        _ = try AnswerShapeTests.shell(["python3", "-c", """
            import json, sys
            t = json.load(open(sys.argv[1]), parse_constant=lambda c: sys.exit(f"not JSON: {c}"))
            assert isinstance(t["traceEvents"], list) and all(isinstance(e, dict) for e in t["traceEvents"])
            """, file.path])
    }

    func testMarkupInArgvStaysText() throws {
        let evil = "<script>alert(1)</script>"
        let quoted = "\"'><img src=x onerror=\"document.body.dataset.pwned=1\">"
        var model = ReportModel(title: "</script><b>title</b>", span: "test", origin: "test", duration: 1000)
        model.groups = [ReportModel.Group(name: "container <i>x</i>", kind: "container", lanes: [
            ReportModel.Lane(id: 0, pid: 4242, ppid: 1, program: evil, comm: quoted, exe: "/bin/\(evil)",
                             argv: ["sh", evil, quoted, "a & b"], container: "<u>c</u>", start: 0, end: 900,
                             startText: "t0", exitText: nil, fromSnapshot: false),
        ])]
        model.connections = [ReportModel.Conn(lane: 0, pid: 4242, comm: quoted, proto: "tcp", direction: "outbound",
                                              state: evil, local: "10.0.0.1:1234", remote: "10.0.0.2:80", nat: quoted,
                                              dns: "<svg onload=alert(3)>", start: 10, end: 500, startText: "t1", endText: nil)]
        model.notes = [evil]
        let html = try ReportHTML.render(model)
        // The data cannot close its script element: the template's three are the only ones.
        XCTAssertEqual(html.components(separatedBy: "</script>").count - 1, 3)
        XCTAssertFalse(html.contains("<img") || html.contains("<svg") || html.contains("<b>") || html.contains("<u>"))

        try FileManager.default.createDirectory(at: Self.root, withIntermediateDirectories: true)
        let page = Self.root.appendingPathComponent("evil.html")
        try html.write(to: page, atomically: false, encoding: .utf8)
        let dom = try browse(page, query: "?q=4242", ["--dump-dom"])
        assertRendered(dom)
        XCTAssertFalse(dom.contains("data-pwned"), "an attribute handler ran")
        for tag in ["<img", "<svg", "<b>", "<i>", "<u>"] { XCTAssertFalse(dom.contains(tag), "\(tag) became an element") }
        XCTAssertEqual(dom.components(separatedBy: "<script").count - 1, 3, "a script element was made from data")
        // As text, escaped by the serializer: the label, and the note.
        XCTAssertTrue(dom.contains("4242 &lt;script&gt;alert(1)&lt;/script&gt;"), dom)
        XCTAssertTrue(dom.contains("<li>&lt;script&gt;alert(1)&lt;/script&gt;</li>"))
    }

    func testOutputIsRequiredAndNeverReplacedUnasked() throws {
        let page = Self.root.appendingPathComponent("exists.html")
        try FileManager.default.createDirectory(at: Self.root, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: page)
        let capture = Self.repo.appendingPathComponent("fixtures/processes.db").path
        for (args, says) in [(["report", capture], "--output"),
                             (["report", capture, "-o", page.path], "exists"),
                             (["report", capture, "-o", capture, "--force"], "the capture itself"),
                             (["report", capture, "-o", Self.root.path, "--force"], "not a regular file"),
                             (["report", capture, "-o", page.path, "--force", "--format", "svg"], "svg")] {
            let r = try CLITests.run(args)
            XCTAssertEqual(r.status, 2, "\(args)")
            XCTAssertEqual(r.stderr.split(separator: "\n").count, 1, r.stderr)
            XCTAssertTrue(r.stderr.contains(says), r.stderr)
        }
        XCTAssertEqual(try String(contentsOf: page, encoding: .utf8), "keep")
        let r = try CLITests.run(["report", capture, "-o", page.path, "--force", "--max-connections", "0"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertTrue(try String(contentsOf: page, encoding: .utf8).hasPrefix("<!DOCTYPE html>"))
    }
}
