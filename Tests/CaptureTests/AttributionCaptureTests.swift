@testable import Analyzer
import Format
import Foundation
import XCTest

/// `who` at the moment a server logged a connection, on the address it saw (outside
/// MASQUERADE): the one client connection live then, named exactly, even when the same
/// tuples were used many times within the slack, when a pid was used twice, and (with a
/// note, never a wrong image) when the recorder lost execs.
final class AttributionCaptureTests: XCTestCase {
    let prefix = "ntat"
    let scene = packageRoot + "/scripts/scene"
    var rtr: String { "/var/run/netns/\(prefix)-rtr" }
    var containers: [String] = []
    var server: Child?
    var bin = ""

    override func setUpWithError() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-tests").path
        bin = dir + "/attr-workload"
        try sh("mkdir -p \(dir) && cc -O2 -static -o \(bin) \(scene)/attr-workload.c")
        try sh("\(scene)/nat-scene.sh up \(prefix)")
    }

    override func tearDown() {
        server?.stop()
        for c in containers { _ = try? sh("\(scene)/runc-rm.sh \(c) >/dev/null 2>&1; true") }
        _ = try? sh("\(scene)/nat-scene.sh down \(prefix)")
    }

    /// One connection as the server logged it.
    struct Accepted { var ts: UInt64; var peer: Endpoint; var pid: UInt32; var seq: UInt32; var insidePort: UInt16 }

    func startServer(_ log: String) throws {
        server = try startInNetns("\(prefix)-srv", [bin, "server", "8080", log], readyFile: log + ".ready")
    }

    func accepted(_ log: String, count: Int) throws -> [Accepted] {
        try sh("for i in $(seq 600); do [ $(wc -l < \(log)) -ge \(count) ] && exit 0; sleep 0.05; done; exit 1")
        return try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map {
            let f = $0.split(separator: " ").map(String.init)
            return Accepted(ts: UInt64(f[0])!, peer: Endpoint(ip: f[1], port: UInt16(f[2])!), pid: UInt32(f[3])!,
                            seq: UInt32(f[4])!, insidePort: UInt16(f[5])!)
        }
    }

    func col(_ t: ResultTable, _ name: String) -> Int { t.columns.firstIndex(of: name)! }

    /// The rows `who` gives as the answer: live at the moment, reached through NAT.
    func answers(_ t: ResultTable) -> [[Value]] {
        t.rows.filter {
            guard case .text(let m) = $0[col(t, "match")] else { return false }
            return m.hasPrefix("local via NAT") && $0[col(t, "timing")] == .text("live")
        }
    }

    func testChurnThroughMasqueradeFromFewPortsIsAttributedExactly() throws {
        let n = 5000
        let live = try LiveCapture { o in o.conntrack.netnsPaths = [self.rtr] }
        let log = live.path + ".accepted"
        try startServer(log)
        // About 100 source ports for 5,000 connections: every inside tuple is reused ~50 times.
        try sh("ip netns exec \(prefix)-cli sysctl -qw net.ipv4.ip_local_port_range='40000 40099'")
        let id = "ntat-churn-\(getpid())"
        containers.append(id)
        let started = Date()
        try sh("\(scene)/runc-run.sh --netns /var/run/netns/\(prefix)-cli --bind /:/mnt/host:ro \(id) -- "
               + "/mnt/host\(bin) churn 10.201.2.2 8080 \(n) 8 /mnt/host/proc", timeout: 120)
        let logged = try accepted(log, count: n)
        let churnSeconds = Date().timeIntervalSince(started)
        let (summary, capture) = try live.finish()
        print(summary)
        XCTAssertEqual(logged.count, n)

        // How often the inside tuple (one server, so the source port) came back within 1 s.
        var lastUse: [UInt16: UInt64] = [:]
        var reusedWithin1s = 0
        for a in logged.sorted(by: { $0.ts < $1.ts }) {
            if let t = lastUse[a.insidePort], a.ts - t < 1_000_000_000 { reusedWithin1s += 1 }
            lastUse[a.insidePort] = a.ts
        }
        let ports = Set(logged.map(\.insidePort)).count
        print("churn: \(n) connections in \(String(format: "%.1f", churnSeconds)) s from \(ports) source ports; "
              + "\(reusedWithin1s) reused their tuple within 1 s")
        XCTAssertLessThanOrEqual(ports, 100)
        XCTAssertGreaterThan(reusedWithin1s, n / 2, "tuples should be reused many times within the slack")

        let nat = try ConntrackNATResolver(capture)
        var exact = 0, nearbyListed = 0
        let queried = Date()
        for a in logged {
            let t = try WhoQuery.run(capture, at: a.ts, addr: a.peer, proto: .tcp, nat: nat)
            let rows = answers(t)
            guard rows.count == 1, rows[0][col(t, "pid")] == .int(Int64(a.pid)),
                  rows[0][col(t, "container")] == .text(id),
                  !t.notes.contains(where: { $0.contains("AMBIGUOUS") || $0.contains("was live") }) else {
                XCTFail("seq \(a.seq) pid \(a.pid) seen as \(a.peer) at \(a.ts):\n\(t.render(.table))")
                continue
            }
            exact += 1
            nearbyListed += t.rows.count - 1
        }
        print("who: \(exact) of \(n) answers exact (\(String(format: "%.1f", Date().timeIntervalSince(queried))) s); "
              + "\(nearbyListed) nearby or peer rows listed beside them")
        XCTAssertEqual(exact, n)
    }

    func testPidReuseTenMillisecondsApartNamesEachWithItsOwnArgv() throws {
        let live = try LiveCapture { o in o.conntrack.netnsPaths = [self.rtr] }
        let log = live.path + ".accepted"
        try startServer(log)
        try sh("ip netns exec \(prefix)-cli \(bin) reuse 10.201.2.2 8080 /proc 10", timeout: 60)
        let logged = try accepted(log, count: 2)
        let (_, capture) = try live.finish()
        XCTAssertEqual(logged.count, 2)
        XCTAssertEqual(logged[0].pid, logged[1].pid, "the same pid connected twice")
        let gapMs = Double(logged[1].ts - logged[0].ts) / 1e6
        print("pid \(logged[0].pid) accepted twice, \(String(format: "%.1f", gapMs)) ms apart")
        XCTAssertLessThan(gapMs, 100)

        let nat = try ConntrackNATResolver(capture)
        var starts: [Value] = []
        for a in logged {
            let t = try WhoQuery.run(capture, at: a.ts, addr: a.peer, proto: .tcp, nat: nat)
            let rows = answers(t)
            XCTAssertEqual(rows.count, 1, t.render(.table))
            XCTAssertEqual(rows.first?[col(t, "pid")], .int(Int64(a.pid)), t.render(.table))
            XCTAssertEqual(rows.first?[col(t, "argv")], .list([bin, "conn", String(a.seq), "10.201.2.2", "8080", "/proc"]),
                           t.render(.table))
            XCTAssertFalse(t.notes.contains { $0.contains("AMBIGUOUS") }, t.render(.table))
            starts.append(rows.first?[col(t, "process_start")] ?? .null)
        }
        XCTAssertNotEqual(starts[0], starts[1], "two incarnations of the pid")
    }

    func testExecLossWindowIsNotedAndNoImageIsShownWrongly() throws {
        let n = 100
        let live = try LiveCapture { o in
            o.conntrack.netnsPaths = [self.rtr]
            o.processRingKiB = 64
            o.readerStallSeconds = 3
        }
        let log = live.path + ".accepted"
        try startServer(log)
        // A burst of execs overflows the process ring while the connectors run beside it.
        try sh("""
            (for j in $(seq 6000); do /bin/true & (( j % 200 == 0 )) && wait; done; wait) &
            for i in $(seq \(n)); do ip netns exec \(prefix)-cli \(bin) conn $i 10.201.2.2 8080 /proc || exit 1; sleep 0.03; done
            wait
            """, timeout: 120)
        let logged = try accepted(log, count: n)
        let (summary, capture) = try live.finish()
        print(summary)
        let execLosses = try capture.reader.losses().filter { $0.kind == "exec" }
        XCTAssertFalse(execLosses.isEmpty, "a 64 KiB process ring behind a stalled reader should lose execs")

        let nat = try ConntrackNATResolver(capture)
        var known = 0, unknownWithNote = 0, execMissing = 0
        for a in logged {
            let t = try WhoQuery.run(capture, at: a.ts, addr: a.peer, proto: .tcp, nat: nat)
            let rows = answers(t)
            XCTAssertEqual(rows.count, 1, t.render(.table))
            guard let row = rows.first else { continue }
            XCTAssertEqual(row[col(t, "pid")], .int(Int64(a.pid)), t.render(.table))
            let lossNoted = t.notes.contains { $0.hasPrefix("exec lost") }
            // Whether the capture holds this process's own exec of the connector.
            let recorded = capture.processes.byPid[a.pid]?.contains { capture.processes[$0]?.execs.contains { $0.filename == bin } ?? false } ?? false
            if !recorded {
                execMissing += 1
                XCTAssertTrue(lossNoted, "the connector's exec was lost: the answer must say so\n\(t.render(.table))")
            }
            switch row[col(t, "exe")] {
            case .text(bin):
                XCTAssertEqual(row[col(t, "argv")], .list([bin, "conn", String(a.seq), "10.201.2.2", "8080", "/proc"]))
                known += 1
            case .null:
                XCTAssertTrue(lossNoted, "no image, and no note why\n\(t.render(.table))")
                XCTAssertEqual(row[col(t, "argv")], .null)
                unknownWithNote += 1
            default:
                XCTFail("a wrong image shown as fact\n\(t.render(.table))")
            }
        }
        print("loss window: \(execLosses.reduce(0) { $0 + $1.count }) execs lost; of \(n) connectors, \(execMissing) "
              + "lost their exec; answers: \(known) with the right image, \(unknownWithNote) with no image and an exec-lost note")
        XCTAssertGreaterThan(execMissing, 0, "some connector must fall inside the loss window")
        XCTAssertEqual(known + unknownWithNote, n)

        // The window's other answers say so too.
        let from = execLosses.map(\.fromNs).min()!, to = execLosses.map(\.toNs).max()!
        let timeline = try TimelineQuery.run(capture, from: from, to: to, nat: nat)
        XCTAssertTrue(timeline.notes.contains { $0.contains("lost process/cgroup events") }, timeline.notes.joined(separator: "\n"))
        let conns = try ConnectionsQuery.run(capture, ConnectionFilter(from: from, to: to, remote: Endpoint(ip: "10.201.2.2", port: 8080)), nat: nat)
        let exe = col(conns, "exe")
        XCTAssertTrue(conns.rows.allSatisfy { $0[exe] == .null || $0[exe] == .text(bin) }, conns.render(.table))
        if conns.rows.contains(where: { $0[exe] == .null }) {
            XCTAssertTrue(conns.notes.contains { $0.hasPrefix("exec lost") }, conns.render(.table))
        }
        // The stored timeline's lines and exec-loss notes are the reconstruction's.
        let (stored, storedLoss) = try TimelineQuery.lines(capture, from: from, to: to, container: nil, nat: nat)
        let (made, madeLoss) = try TimelineQuery.reconstructedLines(capture, from: from, to: to, container: nil, nat: nat)
        XCTAssertEqual(TimelineAnswer(capture: capture, lines: stored, notes: []).rows, TimelineAnswer(capture: capture, lines: made, notes: []).rows)
        XCTAssertEqual(stored.items.map(\.uncertainImage), made.items.map(\.uncertainImage))
        XCTAssertEqual(storedLoss.notes(capture), madeLoss.notes(capture))
        XCTAssertEqual(stored.items.contains(where: \.uncertainImage), !madeLoss.notes(capture).isEmpty)
    }
}
