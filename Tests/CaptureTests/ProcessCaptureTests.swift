import Analyzer
import Format
import Foundation
import XCTest

final class ProcessCaptureTests: XCTestCase {
    /// Two parallel forkers start 2,500 /bin/true each and log the pids they
    /// got; every one of those 5,000 must have its exec and exit in the capture.
    func testExecBurstOf5000IsCapturedWhole() throws {
        let live = try LiveCapture()
        let log = live.path + ".pids"
        try sh("""
            burst() { for i in $(seq 2500); do /bin/true & echo $! >> "$1"; (( i % 200 == 0 )) && wait; done; wait; }
            rm -f \(log).a \(log).b
            burst \(log).a & burst \(log).b & wait
            cat \(log).a \(log).b > \(log)
            """)
        let (summary, capture) = try live.finish()
        let pids = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { UInt32($0) }
        XCTAssertEqual(pids.count, 5000)
        // This test is about the process stream; other sources' traffic on the host is not its business.
        let processLoss = ["fork", "exec", "exit"].compactMap { summary.losses[$0] }.reduce(0, +)
        XCTAssertEqual(processLoss, 0, "the recorder lost process events: \(summary)")

        var execs = 0, exits = 0
        for pid in pids {
            let lives = capture.processes.byPid[pid]?.compactMap { capture.processes[$0] } ?? []
            guard let r = lives.last(where: { $0.execs.contains { $0.filename == "/bin/true" } }) else {
                XCTFail("pid \(pid): no exec of /bin/true captured"); continue
            }
            execs += 1
            if let code = r.exitCode, code == 0, r.exitTs! >= r.execs.last!.ts { exits += 1 }
        }
        XCTAssertEqual(execs, 5000)
        XCTAssertEqual(exits, 5000)
    }

    /// A process started before recording is in the snapshot, with exe, argv and its exact start.
    func testProcessStartedBeforeRecordingIsListed() throws {
        let sleeper = try Child(["/usr/bin/sleep", "60"])
        let pid = UInt32(sleeper.pid)
        defer { sleeper.stop() }
        usleep(100_000)
        let live = try LiveCapture()
        let (_, capture) = try live.finish()
        let r = try XCTUnwrap(capture.processes.byPid[pid]?.compactMap { capture.processes[$0] }.first)
        XCTAssertTrue(r.fromSnapshot)
        XCTAssertEqual(r.exe, "/usr/bin/sleep")
        XCTAssertEqual(r.argv, ["/usr/bin/sleep", "60"])
        XCTAssertNil(r.exitTs)
        let table = ProcessQuery.run(capture, ProcessFilter(pid: pid))
        XCTAssertEqual(table.rows.count, 1)
        XCTAssertEqual(table.rows.first?[table.columns.firstIndex(of: "seen")!], .text("snapshot"))
    }

    /// With a tiny ring and a stalled reader, events are lost — and every one
    /// is accounted for: captured + counted lost = what the workload did.
    func testLossIsCountedNotHidden() throws {
        let live = try LiveCapture { o in
            o.processRingKiB = 64
            o.readerStallSeconds = 3
        }
        let log = live.path + ".pids"
        try sh("rm -f \(log); for i in $(seq 1000); do /bin/true & echo $! >> \(log); (( i % 100 == 0 )) && wait; done; wait")
        let (summary, capture) = try live.finish()
        let pids = Set(try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").compactMap { UInt32($0) })
        let captured = pids.filter { pid in
            capture.processes.byPid[pid]?.contains { capture.processes[$0]?.execs.contains { $0.filename == "/bin/true" } ?? false } ?? false
        }.count
        let lostExec = try capture.reader.losses().filter { $0.kind == "exec" }.reduce(0) { $0 + Int($1.count) }
        XCTAssertGreaterThan(lostExec, 0, "a 64 KiB ring behind a stalled reader should overflow")
        XCTAssertEqual(summary.losses["exec"].map(Int.init), lostExec)
        // Other processes exec'd too (the shell, the test host): lost ≥ what is missing from ours.
        XCTAssertGreaterThanOrEqual(lostExec, pids.count - captured)
        XCTAssertTrue(ProcessQuery.run(capture, ProcessFilter()).notes.contains { $0.contains("lost") })
    }
}
