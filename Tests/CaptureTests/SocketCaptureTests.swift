import Analyzer
import Format
import Foundation
import Recorder
import XCTest

/// This source's losses (the other sources record the whole host, where other work runs).
func socketLosses(_ s: RecordSummary) -> UInt64 {
    ["tcp_connect", "tcp_accept", "tcp_close", "tcp_span", "udp_flow", "map_full"].reduce(0) { $0 + (s.losses[$1] ?? 0) }
}

/// Real BPF, real processes, a network namespace joined by a veth pair. Every
/// workload process logs its own ground truth (pid, start tick, local port,
/// boot time) and the capture's answers are compared with it.
final class SocketCaptureTests: XCTestCase {
    struct Truth {
        var role: String, pid: UInt32, ticks: UInt64, lip: String, lport: UInt16, rip: String, rport: UInt16, ts: UInt64
    }

    let n = Int(getpid()) % 200 + 20
    var ns: String { "ntsk\(n)" }
    var hostIP: String { "10.77.\(n).1" }
    var nsIP: String { "10.77.\(n).2" }
    var hostIP6: String { "fd00:77:\(n)::1" }
    var nsIP6: String { "fd00:77:\(n)::2" }
    var workload: String { packageRoot + "/scripts/scene/sock-workload.sh" }
    let hz = UInt64(sysconf(Int32(_SC_CLK_TCK)))

    override func setUpWithError() throws {
        try sh("""
            ip netns del \(ns) 2>/dev/null || true; ip link del \(ns)h 2>/dev/null || true
            ip netns add \(ns)
            ip link add \(ns)h type veth peer name \(ns)c
            ip link set \(ns)c netns \(ns)
            ip addr add \(hostIP)/24 dev \(ns)h && ip link set \(ns)h up
            ip netns exec \(ns) ip addr add \(nsIP)/24 dev \(ns)c
            ip netns exec \(ns) ip link set \(ns)c up && ip netns exec \(ns) ip link set lo up
            ip addr add \(hostIP6)/64 dev \(ns)h nodad
            ip netns exec \(ns) ip addr add \(nsIP6)/64 dev \(ns)c nodad
            """)
    }

    override func tearDown() {
        _ = try? sh("ip netns del \(ns) 2>/dev/null; ip link del \(ns)h 2>/dev/null; true")
    }

    func readTruth(_ path: String) throws -> [Truth] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { line in
            let f = line.split(separator: " ").map(String.init)
            return Truth(role: f[0], pid: UInt32(f[1])!, ticks: UInt64(f[2])!, lip: f[3], lport: UInt16(f[4])!,
                         rip: f[5], rport: UInt16(f[6])!, ts: UInt64(f[7])!)
        }
    }

    /// Starts a server in the namespace and waits for it to listen.
    @discardableResult
    func startServer(_ mode: String, port: Int, count: Int, log: String, env: [String: String] = [:],
                     extra: [String] = []) throws -> Child {
        try? FileManager.default.removeItem(atPath: log)
        return try startInNetns(ns, [workload, mode, String(port), String(count), log] + extra,
                                readyFile: log + ".ready", environment: env)
    }

    func col(_ t: ResultTable, _ name: String) -> Int { t.columns.firstIndex(of: name)! }

    /// An open is held back for the close to write with it: a connection still open
    /// when the recording stops, however young, is written by the last sweep.
    func testConnectionOpenAtTheStopIsInTheCapture() throws {
        let live = try LiveCapture { $0.onlySources = ["sockets"] }
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-held-\(UUID().uuidString)").path
        defer { unlink(log) }
        let held = try HeldConnection(log: log)
        defer { held.stop() }
        let (summary, capture) = try live.finish()
        XCTAssertEqual(socketLosses(summary), 0, "\(summary)")
        let conns = try held.connections(in: capture)
        XCTAssertEqual(Set(conns.map(\.direction)), [.outbound, .inbound], "\(conns)")
        for c in conns {
            XCTAssertEqual(c.owner?.pid, held.pid, "\(c)")
            XCTAssertNil(c.end, "\(c)")
        }
    }

    func testTCPAndUDPAttributedToTheirOwnIncarnation() throws {
        let live = try LiveCapture()
        let log = live.path + ".truth"
        for suffix in ["", ".srv", ".udp", ".udpsrv"] { try? FileManager.default.removeItem(atPath: log + suffix) }
        let connects = 20
        let v6 = 5
        // A dual-stack listener: its IPv4 peers are IPv4-mapped inside the kernel.
        let tcpServer = try startServer("server", port: 8080, count: connects + 2 + v6, log: log + ".srv", env: ["NT_BIND": "::"])
        // Short-lived clients: each connects and exits at once, leaving its socket for exit() to close.
        try sh("\(workload) connect \(nsIP) 8080 \(connects) \(log)")
        // Two processes with the same pid, each connecting.
        try sh("\(workload) reuse \(nsIP) 8080 \(log)")
        // IPv6 clients.
        try sh("\(workload) connect \(nsIP6) 8080 \(v6) \(log)")
        try tcpServer.wait(timeout: 60)
        // UDP: a DNS-shaped query from the host to a server in the namespace.
        let udpServer = try startServer("udpserver", port: 53, count: 1, log: log + ".udpsrv")
        try sh("\(workload) udpquery \(nsIP) 53 \(log).udp")
        try udpServer.wait(timeout: 60)
        Thread.sleep(forTimeInterval: 0.3)
        let (summary, capture) = try live.finish()
        print(summary)

        let clients = try readTruth(log)
        let server = try readTruth(log + ".srv")
        XCTAssertEqual(clients.count, connects + 2 + v6)
        XCTAssertEqual(server.count, connects + 2 + v6)
        XCTAssertEqual(clients.filter { $0.lip == hostIP6 }.count, v6)

        // Outbound: `who` on each client's own (local) tuple names exactly that incarnation.
        var keys: [UInt32: Set<UInt64>] = [:]
        for c in clients {
            let t = try WhoQuery.run(capture, at: c.ts, addr: Endpoint(ip: c.lip, port: c.lport), proto: .tcp)
            let local = t.rows.filter { $0[col(t, "match")] == .text("local") }
            XCTAssertEqual(local.count, 1, "who \(c.lip):\(c.lport): \(t.render(.table))")
            XCTAssertFalse(t.notes.contains { $0.contains("AMBIGUOUS") }, t.render(.table))
            guard let row = local.first else { continue }
            XCTAssertEqual(row[col(t, "pid")], .int(Int64(c.pid)))
            XCTAssertEqual(row[col(t, "direction")], .text("outbound"))
            // The identity's start (ns) must be this incarnation's start tick.
            let conn = try ConnectionIndex(capture).connections.first {
                $0.proto == .tcp && $0.direction == .outbound && $0.tuple.lport == c.lport && $0.tuple.laddr == c.lip
            }
            guard let owner = conn?.owner else { XCTFail("no owner for \(c)"); continue }
            XCTAssertEqual(owner.startNs * hz / 1_000_000_000, c.ticks, "start of pid \(c.pid)")
            keys[c.pid, default: []].insert(owner.startNs)
            // The client exited right after connecting: the capture knows that process, exe included.
            XCTAssertNotNil(capture.processes[owner]?.exitTs, "exit of \(c.pid)")
            XCTAssertEqual(row[col(t, "exe")], .text("/usr/bin/python3"))
        }
        // The reused pid: two connections, two incarnations.
        let reused = clients.prefix(connects + 2).suffix(2)
        XCTAssertEqual(reused.first!.pid, reused.last!.pid, "the workload did not reuse the pid")
        XCTAssertEqual(keys[reused.first!.pid]?.count, 2, "both incarnations of pid \(reused.first!.pid)")

        // Connect to exit: how short-lived these clients were, measured in the capture.
        let conns = try ConnectionIndex(capture).connections
        var spans: [Double] = []
        let ours = Set(clients.map(\.pid))
        for c in conns where c.proto == .tcp && c.direction == .outbound && ours.contains(c.owner?.pid ?? 0) {
            if let o = c.owner, let x = capture.processes[o]?.exitTs, let at = c.ownedAt { spans.append(Double(x - at) / 1e6) }
        }
        spans.sort()
        print("connect() return -> process exit: min \(spans.first ?? -1) ms, median \(spans.isEmpty ? -1 : spans[spans.count / 2]) ms")
        XCTAssertTrue(spans.contains { $0 < 10 }, "some client exited within 10 ms of connecting: \(spans)")

        // Inbound: each accepted connection belongs to the server, found by the client's address as its remote end.
        for s in server {
            let t = try WhoQuery.run(capture, at: s.ts, addr: Endpoint(ip: s.rip, port: s.rport), proto: .tcp)
            let remote = t.rows.filter { $0[col(t, "match")] == .text("remote") }
            XCTAssertEqual(remote.count, 1, t.render(.table))
            XCTAssertEqual(remote.first?[col(t, "pid")], .int(Int64(s.pid)), t.render(.table))
            XCTAssertEqual(remote.first?[col(t, "direction")], .text("inbound"))
        }

        // No softirq misattribution: every owner recorded for a socket is the same identity.
        let records = try capture.tcpRecords().filter { $0.flags.contains(.owner) && $0.cookie != 0 }
        XCTAssertFalse(records.isEmpty, "the capture's socket records")
        let owners = Dictionary(grouping: records, by: \.cookie).mapValues { Set($0.map { "\($0.task.pid):\($0.task.startNs)" }) }
        XCTAssertEqual(owners.values.filter { $0.count > 1 }.count, 0, "sockets credited to more than one process")
        // Every close carries bytes, state and the owner remembered from connect/accept.
        let closes = conns.filter { $0.proto == .tcp && $0.end != nil && $0.netns != 0 }
        XCTAssertGreaterThanOrEqual(closes.count, 2 * (connects + 2))
        XCTAssertTrue(closes.allSatisfy { $0.owner != nil && $0.established }, "closes without owner")

        // UDP: the query's flow (outbound, client) and the server's (inbound).
        let q = try readTruth(log + ".udp")[0], srv = try readTruth(log + ".udpsrv")[0]
        let out = conns.filter { $0.proto == .udp && $0.tuple.lport == q.lport && $0.tuple.rport == 53 }
        XCTAssertEqual(out.count, 1, "\(out)")
        XCTAssertEqual(out.first?.owner?.pid, q.pid)
        XCTAssertEqual(out.first?.tuple.raddr, nsIP)
        let inb = conns.filter { $0.proto == .udp && $0.tuple.lport == 53 && $0.tuple.rport == q.lport }
        XCTAssertEqual(inb.count, 1, "\(inb)")
        XCTAssertEqual(inb.first?.owner?.pid, srv.pid)
        XCTAssertEqual(inb.first?.direction, .inbound)
        // The server's socket is bound to the wildcard: the flow says so rather than guess the address.
        XCTAssertTrue(inb.first?.tuple.laddr == nsIP || inb.first?.flags.contains(.localAny) == true, "\(inb)")
        XCTAssertEqual(inb.first?.bytesReceived, 29)
        XCTAssertEqual(out.first?.bytesSent, 29)
        let t = try WhoQuery.run(capture, at: q.ts, addr: Endpoint(ip: hostIP, port: q.lport), proto: .udp)
        XCTAssertEqual(t.rows.filter { $0[col(t, "match")] == .text("local") }.first?[col(t, "pid")], .int(Int64(q.pid)), t.render(.table))
        XCTAssertEqual(socketLosses(summary), 0, "losses: \(summary.losses)")
    }
}

extension SocketCaptureTests {
    /// Connections already open when the recording starts: the startup snapshot names
    /// the process whose file table holds each one (and its close is attributed to it);
    /// a socket held by two processes (inherited across fork) is reported as shared.
    func testConnectionsOpenAtStartAreOwnedOrReportedShared() throws {
        let dir = NSTemporaryDirectory() + "nettrail-tests/openatstart"
        try sh("rm -rf \(dir) && mkdir -p \(dir)")
        // Held for 7 s (the clients for 6): long enough for a recorder that starts slowly on a
        // loaded host to take its snapshot while they are open.
        let server = try startServer("holdserver", port: 8081, count: 2, log: dir + "/srv", env: [:], extra: ["7"])
        // Both clients connect before the recording starts; they print "connected" once they hold it.
        var clients: [Child] = []
        for (name, args) in [("a", [] as [String]), ("b", ["share"])] {
            let out = dir + "/\(name).out"
            let p = try Child([workload, "hold", nsIP, "8081", dir + "/cli", "6"] + args, stdout: out)
            clients.append(p)
            for _ in 0..<100 where (try? String(contentsOfFile: out, encoding: .utf8))?.contains("connected") != true {
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        let live = try LiveCapture()
        try server.wait(timeout: 60)
        for c in clients { try c.wait(timeout: 60) }
        Thread.sleep(forTimeInterval: 0.5)
        let (summary, capture) = try live.finish()
        print(summary)
        let truth = try readTruth(dir + "/cli")
        let single = truth.first { h in h.role == "hold" && !truth.contains { $0.role == "sharer" && $0.lport == h.lport } }!
        let shared = truth.first { $0.role == "hold" && $0.lport != single.lport }!
        let sharer = truth.first { $0.role == "sharer" }!
        XCTAssertEqual(sharer.lport, shared.lport)
        let conns = try ConnectionIndex(capture).connections.filter { $0.proto == .tcp && $0.openAtStart }

        // The single holder: owner named, close attributed, its start tick right.
        let a = conns.first { $0.tuple.lport == single.lport && $0.tuple.laddr == single.lip }
        XCTAssertEqual(a?.owner?.pid, single.pid)
        XCTAssertEqual(a.flatMap { $0.owner }.map { $0.startNs * hz / 1_000_000_000 }, single.ticks)
        XCTAssertNotNil(a?.end, "its close, during the recording")
        let t = try WhoQuery.run(capture, at: capture.startBoot + 500_000_000, addr: Endpoint(ip: single.lip, port: single.lport), proto: .tcp)
        XCTAssertEqual(t.rows.filter { $0[col(t, "match")] == .text("local") }.first?[col(t, "pid")], .int(Int64(single.pid)), t.render(.table))

        // The shared one: both holders listed, no owner chosen, `who` says so.
        let b = conns.first { $0.tuple.lport == shared.lport && $0.tuple.laddr == shared.lip }
        XCTAssertNil(b?.owner)
        XCTAssertEqual(Set(b?.sharedBy.map(\.pid) ?? []), [shared.pid, sharer.pid])
        let t2 = try WhoQuery.run(capture, at: capture.startBoot + 500_000_000, addr: Endpoint(ip: shared.lip, port: shared.lport), proto: .tcp)
        XCTAssertTrue(t2.notes.contains { $0.contains("AMBIGUOUS") }, t2.render(.table))

        // The server's two accepted sockets: open at start, owned by the server.
        let srv = try readTruth(dir + "/srv")
        for s in srv {
            let c = conns.first { $0.tuple.lport == 8081 && $0.tuple.rport == s.rport }
            XCTAssertEqual(c?.owner?.pid, s.pid, "\(s)")
            XCTAssertNotNil(c?.end)
        }
    }
}
