@testable import Analyzer
import Foundation
import XCTest

/// Pure analyzer tests over captures the real recorder wrote
/// (scripts/make-fixtures.sh), against the answers their workload logged.
final class FixtureTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")

    struct Answers: Decodable {
        struct Container: Decodable { var id: String; var runtime: String; var execs: [String] }
        struct Marker: Decodable { var pid: UInt32; var exe: String; var argv: [String] }
        struct Burst: Decodable { var exe: String; var pids: [UInt32] }
        struct Window: Decodable { var from: String; var to: String }
        var container: Container
        var marker: Marker
        var burst: Burst
        var window: Window
    }

    var db: String { Self.fixtures.appendingPathComponent("processes.db").path }

    func load() throws -> (Capture, Answers) {
        let answers = try JSONDecoder().decode(Answers.self, from: Data(contentsOf: Self.fixtures.appendingPathComponent("processes.answers.json")))
        let capture = try Capture(path: db)
        try capture.load()
        return (capture, answers)
    }

    func column(_ t: ResultTable, _ name: String, _ row: [Value]) -> Value { row[t.columns.firstIndex(of: name)!] }

    func testMarkerProcess() throws {
        let (c, a) = try load()
        let t = ProcessQuery.run(c, ProcessFilter(pid: a.marker.pid))
        let row = try XCTUnwrap(t.rows.first { column(t, "exe", $0) == .text(a.marker.exe) }, t.render(.table))
        XCTAssertEqual(column(t, "argv", row), .list(a.marker.argv))
        XCTAssertEqual(column(t, "exit_code", row), .int(0))
        XCTAssertEqual(column(t, "seen", row), .text("live"))
        guard case .list(let parents) = column(t, "parents", row) else { return XCTFail("no parents") }
        XCTAssertFalse(parents.isEmpty)
    }

    /// --name: a glob on the exe path or name, argv[0] or comm, per exec image.
    /// Kernel threads (kthreadd and its children) can be left out, and nothing else is.
    func testKernelThreadsCanBeLeftOut() throws {
        let (c, _) = try load()
        let all = ProcessQuery.run(c, ProcessFilter()), user = ProcessQuery.run(c, ProcessFilter(kernelThreads: false))
        func rows(_ t: ResultTable) -> [(pid: Value, ppid: Value)] { t.rows.map { (column(t, "pid", $0), column(t, "ppid", $0)) } }
        let kernel = rows(all).filter { $0.pid == .int(2) || $0.ppid == .int(2) }
        XCTAssertGreaterThan(kernel.count, 0)
        XCTAssertEqual(user.rows.count, all.rows.count - kernel.count)
        XCTAssertFalse(rows(user).contains { $0.pid == .int(2) || $0.ppid == .int(2) })
    }

    func testNameFilter() throws {
        let (c, a) = try load()
        let exe = a.marker.exe.split(separator: "/").last.map(String.init)!
        for pattern in [exe, a.marker.exe, "*" + exe.dropFirst(2)] {
            let t = ProcessQuery.run(c, ProcessFilter(pid: a.marker.pid, name: pattern))
            XCTAssertTrue(t.rows.contains { column(t, "argv", $0) == .list(a.marker.argv) }, "\(pattern): \(t.render(.table))")
            XCTAssertTrue(t.rows.allSatisfy { row in
                guard case .text(let e) = column(t, "exe", row) else { return false }
                return e.hasSuffix(exe) || e == "/proc/self/exe"
            }, "\(pattern): \(t.render(.table))")
        }
        XCTAssertTrue(ProcessQuery.run(c, ProcessFilter(name: "no-such-program-*")).rows.isEmpty)
        // The burst: every /bin/true of the workload, and nothing else.
        let t = ProcessQuery.run(c, ProcessFilter(name: "true"))
        let pids = Set(t.rows.compactMap { r -> UInt32? in if case .int(let p) = column(t, "pid", r) { UInt32(p) } else { nil } })
        XCTAssertTrue(Set(a.burst.pids).isSubset(of: pids))
        XCTAssertTrue(t.rows.allSatisfy { column(t, "exe", $0) == .text(a.burst.exe) }, t.render(.table))
    }

    func testContainerIsNamedAfterItIsGone() throws {
        let (c, a) = try load()
        let t = ProcessQuery.run(c, ProcessFilter(container: a.container.id))
        let exes = Set(t.rows.compactMap { if case .text(let e) = column(t, "exe", $0) { return e } else { return nil } })
        XCTAssertTrue(Set(a.container.execs).isSubset(of: exes), "\(exes)")
        XCTAssertTrue(t.rows.allSatisfy { column(t, "runtime", $0) == .text(a.container.runtime) })
        XCTAssertTrue(t.rows.allSatisfy { column(t, "container", $0) == .text(a.container.id) })
        // Nothing else is in it.
        let all = ProcessQuery.run(c, ProcessFilter())
        let inIt = all.rows.filter { column(all, "container", $0) == .text(a.container.id) }
        XCTAssertEqual(inIt.count, t.rows.count)
    }

    func testBurstAndWindow() throws {
        let (c, a) = try load()
        let from = try c.bootTime(a.window.from), to = try c.bootTime(a.window.to)
        let t = ProcessQuery.run(c, ProcessFilter(from: from, to: to))
        let pids = Set(t.rows.compactMap { r -> UInt32? in
            guard column(t, "exe", r) == .text(a.burst.exe), case .int(let p) = column(t, "pid", r) else { return nil }
            return UInt32(p)
        })
        XCTAssertEqual(pids.intersection(a.burst.pids).count, a.burst.pids.count)
        // A window that ends before the burst began holds none of it.
        let before = ProcessQuery.run(c, ProcessFilter(to: from - 1))
        XCTAssertFalse(before.rows.contains { row in
            guard case .int(let p) = column(before, "pid", row) else { return false }
            return column(before, "exe", row) == .text(a.burst.exe) && a.burst.pids.contains(UInt32(p))
        })
    }

    /// A window reads only its own processes and connections; its lines are still the whole
    /// timeline's lines of that window.
    func testTimelineWindowIsTheWholeTimelinesStretch() throws {
        let (c, a) = try load()
        let from = try c.bootTime(a.window.from), to = try c.bootTime(a.window.to)
        let lo = c.wallText(from), hi = c.wallText(to)
        func lines(_ rows: [[Value]]) -> [String] { rows.map { $0.map(\.plain).joined(separator: "|") }.sorted() }
        let whole = try TimelineQuery.run(c)
        let stretch = whole.rows.filter { row in
            guard case .text(let at) = row[0] else { return false }
            return at >= lo && at <= hi
        }
        let window = try TimelineQuery.run(c, from: from, to: to)
        XCTAssertFalse(window.rows.isEmpty)
        XCTAssertEqual(lines(window.rows), lines(stretch))
    }

    /// Read a stretch at a time (from 1 ms, so that the fixture is many stretches), the
    /// timeline and the connections are the same rows in the same order, with the same notes.
    func testStreamedAnswersAreTheAnswers() throws {
        let (c, a) = try load()
        let from = try c.bootTime(a.window.from), to = try c.bootTime(a.window.to)
        for (lo, hi) in [(nil, nil), (from, nil), (nil, to), (from, to)] as [(UInt64?, UInt64?)] {
            let whole = try TimelineQuery.run(c, from: lo, to: hi)
            var rows: [[Value]] = [], calls = 0
            let notes = try TimelineQuery.stream(c, from: lo, to: hi, stretch: 1_000_000) { part in
                rows += part
                calls += 1
                return true
            }
            XCTAssertFalse(whole.rows.isEmpty)
            XCTAssertEqual(rows, whole.rows, "from \(String(describing: lo)) to \(String(describing: hi))")
            XCTAssertEqual(notes, whole.notes)
            XCTAssertGreaterThan(calls, 3)

            let f = ConnectionFilter(from: lo, to: hi)
            let conns = try ConnectionsQuery.run(c, f)
            var streamed: [[Value]] = []
            let connNotes = try ConnectionsQuery.stream(c, f, stretch: 1_000_000) { streamed += $0; return true }
            if lo == nil && hi == nil { XCTAssertFalse(conns.rows.isEmpty) }
            XCTAssertEqual(streamed, conns.rows, "from \(String(describing: lo)) to \(String(describing: hi))")
            XCTAssertEqual(connNotes, conns.notes)
        }
        // Stopping early stops the reading.
        var calls = 0
        _ = try TimelineQuery.stream(c, stretch: 1_000_000) { _ in calls += 1; return false }
        XCTAssertEqual(calls, 1)
    }

    /// The case's stored timeline gives, for any window, the lines the reconstruction makes:
    /// the whole capture, windows of every length with open and closed ends, a container's
    /// lines (SocketNATCaptureTests checks lines with a NAT translation, which this fixture has none of).
    func testStoredTimelineIsTheReconstruction() throws {
        let (c, a) = try load()
        let nat = try ConntrackNATResolver(c)
        let start = c.startBoot, end = c.lastRecordTs
        var windows: [(UInt64?, UInt64?)] = [(nil, nil), (try c.bootTime(a.window.from), try c.bootTime(a.window.to)),
                                             (start, nil), (nil, start + (end - start) / 3)]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<40 {
            let lo = UInt64.random(in: start...end, using: &rng)
            windows.append((lo, lo + UInt64.random(in: 0...(end - start) / 4, using: &rng)))
        }
        func described(_ l: TimelineLines) -> [String] {
            l.items.map { "\($0.ts) \($0.order) \($0.event) \($0.pid.map(String.init) ?? "-") \(l.comm($0)) \(l.container($0) ?? "-") \(l.detail($0)) \($0.uncertainImage)" }
        }
        var shown = (lines: 0, contained: 0)
        for (lo, hi) in windows {
            for (container, resolver) in [(nil, nat), (nil, nil), (a.container.id, nat)] as [(String?, NATResolver?)] {
                let made = try TimelineQuery.reconstructedLines(c, from: lo, to: hi, container: container, nat: resolver).0
                let stored = try TimelineStore.lines(c, from: lo ?? 0, to: hi ?? .max, container: container, nat: resolver != nil).0
                XCTAssertEqual(described(stored), described(made), "from \(String(describing: lo)) to \(String(describing: hi)) container \(container ?? "-")")
                shown.lines += stored.items.count
                shown.contained += container == nil ? 0 : stored.items.count
            }
        }
        XCTAssertGreaterThan(shown.lines, 1000)
        XCTAssertGreaterThan(shown.contained, 0, "the fixture's container")
    }

    /// The timeline's table written straight from its lines is the table of its rows, in
    /// every layout, with and without a kind filter, and cut by --limit.
    func testTimelineTableIsItsRowsTable() throws {
        let (c, a) = try load()
        let from = try c.bootTime(a.window.from), to = try c.bootTime(a.window.to)
        let layouts = [TableLayout.all, TableLayout(width: 100), TableLayout(width: 40),
                       TableLayout(columns: ["detail", "pid", "time"], wide: false, width: 80)]
        for (lo, hi, kinds) in [(nil, nil, nil), (from, to, nil), (nil, nil, Set(["exec", "connect"]))] as [(UInt64?, UInt64?, Set<String>?)] {
            let answer = try TimelineQuery.answer(c, from: lo, to: hi, kinds: kinds)
            let t = answer.table
            XCTAssertFalse(t.rows.isEmpty)
            XCTAssertEqual(answer.rowCount, t.rows.count)
            for layout in layouts {
                XCTAssertEqual(String(decoding: answer.table(layout, rows: t.rows.count, notes: t.notes), as: UTF8.self), t.render(.table, layout))
                var cut = t
                cut.rows.removeLast(t.rows.count - 3)
                XCTAssertEqual(String(decoding: answer.table(layout, rows: 3, notes: t.notes), as: UTF8.self), cut.render(.table, layout))
            }
        }
    }

    /// A streamed timeline written from its lines is the one written from its rows, in
    /// every format, and `--limit` cuts it alike.
    func testStreamedTimelineTableIsItsRowsTable() throws {
        let (c, _) = try load()
        let template = ResultTable(columns: TimelineQuery.columns)
        for format in [OutputFormat.table, .csv, .json] {
            for layout in [TableLayout.all, TableLayout(width: 100), TableLayout(columns: ["detail", "pid", "time"], wide: false, width: 80)] {
                var fromLines = TableStream(columns: template, format: format, layout: layout, minimum: TimelineQuery.widest)
                var fromRows = TableStream(columns: template, format: format, layout: layout, minimum: TimelineQuery.widest)
                var a: [UInt8] = [], b: [UInt8] = []
                _ = try TimelineQuery.streamAnswers(c, stretch: 1_000_000) { part in
                    a += part.table(into: &fromLines, rows: part.rowCount)
                    b += fromRows.write(part.rows)
                    return true
                }
                a += fromLines.end(notes: ["n"]); b += fromRows.end(notes: ["n"])
                XCTAssertGreaterThan(fromLines.count, 10)
                XCTAssertEqual(String(decoding: a, as: UTF8.self), String(decoding: b, as: UTF8.self), "\(format)")
            }
        }
    }

    /// The parents kept for an owner are those its ancestors' programs give at each moment,
    /// asked in time order or not.
    func testParentsMemoIsTheParentsAtEachMoment() throws {
        let (c, _) = try load()
        let procs = c.processes
        let memo = ParentsMemo(procs)
        // The owners with the longest chains, asked again and again.
        let keys = Array(procs.records.keys.sorted().sorted { procs.ancestors(of: $0).count > procs.ancestors(of: $1).count }.prefix(20))
        let moments = procs.records.values.flatMap { r in [r.key.startNs] + r.execs.map(\.ts) + [r.exitTs].compactMap { $0 } }
        var g = SystemRandomNumberGenerator()
        var asked = 0
        for t in moments.sorted() + moments.shuffled(using: &g) + moments.map({ $0 &- 1 }) {
            let key = keys[Int.random(in: 0..<keys.count, using: &g)]
            XCTAssertEqual(memo.parents(of: key, at: t), OwnerInfo.parents(of: key, at: t, procs), "\(key) at \(t)")
            asked += 1
        }
        XCTAssertGreaterThan(asked, 100)
    }

    func testInfoSaysNothingWasLost() throws {
        let (c, _) = try load()
        let t = try InfoQuery.run(c)
        XCTAssertTrue(t.rows.contains { $0 == [.text("lost"), .text("nothing")] }, t.render(.table))
        XCTAssertTrue(t.rows.contains { $0.first == .text("rows.process_exec") })
    }

    /// The CLI over a fixture: every format parses, and the file is not changed by reading it.
    func testCLIFormatsAndEvidenceIsUntouched() throws {
        let (_, a) = try load()
        let before = try Data(contentsOf: URL(fileURLWithPath: db))
        let mtime = try FileManager.default.attributesOfItem(atPath: db)[.modificationDate] as? Date

        let json = try CLITests.run(["processes", db, "--container", a.container.id, "--format", "json"])
        XCTAssertEqual(json.status, 0, json.stderr)
        for line in json.stdout.split(separator: "\n") {
            XCTAssertNoThrow(try JSONSerialization.jsonObject(with: Data(line.utf8)), String(line))
        }
        XCTAssertTrue(json.stdout.contains("\"container\":\"\(a.container.id)\""))

        let csv = try CLITests.run(["processes", db, "--pid", String(a.marker.pid), "--format", "csv"])
        XCTAssertEqual(csv.status, 0, csv.stderr)
        XCTAssertTrue(csv.stdout.hasPrefix("pid,start,exec,end,"), csv.stdout)
        XCTAssertTrue(csv.stdout.contains("fixture-marker"))

        let info = try CLITests.run(["info", db])
        XCTAssertEqual(info.status, 0, info.stderr)
        let bad = try CLITests.run(["processes", db, "--from", "+5", "--to", "+1"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertEqual(bad.stderr, "nettrail: --from is after --to\n")

        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: db)), before)
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: db)[.modificationDate] as? Date, mtime)
        XCTAssertFalse(FileManager.default.fileExists(atPath: db + "-wal"))
    }
}
