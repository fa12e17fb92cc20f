@testable import Analyzer
import Format
import Foundation
import XCTest

/// `who` on the address seen OUTSIDE the host: real runc containers in the
/// client namespace of scripts/scene/nat-scene.sh (MASQUERADE out, DNAT in),
/// the conntrack source recording the router, the socket source recording the
/// owners. Every workload process logs its own host pid, port and time.
final class SocketNATCaptureTests: XCTestCase {
    let prefix = "ntsk"
    var rtr: String { "/var/run/netns/\(prefix)-rtr" }
    let scene = packageRoot + "/scripts/scene"
    var containers: [String] = []

    override func setUpWithError() throws {
        try sh("\(scene)/nat-scene.sh up \(prefix)")
    }

    override func tearDown() {
        for c in containers { _ = try? sh("\(scene)/runc-rm.sh \(c) >/dev/null 2>&1; true") }
        _ = try? sh("\(scene)/nat-scene.sh down \(prefix)")
    }

    struct Truth { var pid: UInt32; var lip: String; var lport: UInt16; var rip: String; var rport: UInt16; var ts: UInt64 }

    func read(_ path: String) throws -> [Truth] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            let f = $0.split(separator: " ").map(String.init)
            return Truth(pid: UInt32(f[1])!, lip: f[3], lport: UInt16(f[4])!, rip: f[5], rport: UInt16(f[6])!, ts: UInt64(f[7])!)
        }
    }

    /// The workload inside a busybox container: the host's python, run by the host's
    /// loader from a read-only bind of /, with the host procfs for its host pid.
    func inContainer(_ id: String, detach: Bool, _ args: String, dir: String) throws {
        containers.append(id)
        let h = "/mnt/host"
        let cmd = "NT_PROC=\(h)/proc PYTHONHOME=\(h)/usr exec \(h)/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "
            + "--library-path \(h)/usr/lib/x86_64-linux-gnu \(h)/usr/bin/python3.11 \(h)\(scene)/sock-workload.py \(args)"
        try sh("\(scene)/runc-run.sh \(detach ? "--detach" : "") --netns /var/run/netns/\(prefix)-cli --bind /:\(h):ro "
               + "--bind \(dir):/mnt/out \(id) -- /bin/sh -c '\(cmd)' >/dev/null")
    }

    /// A server in the outside namespace; returns once it listens.
    func startServer(_ mode: String, port: Int, count: Int, log: String) throws -> Child {
        try startInNetns("\(prefix)-srv", [scene + "/sock-workload.sh", mode, String(port), String(count), log],
                         readyFile: log + ".ready")
    }

    func col(_ t: ResultTable, _ name: String) -> Int { t.columns.firstIndex(of: name)! }

    func testWhoOnTheOutsideTupleNamesTheContainerProcess() throws {
        let live = try LiveCapture { o in o.conntrack.netnsPaths = [self.rtr] }
        let dir = live.path + ".d"
        try sh("rm -rf \(dir) && mkdir -p \(dir)")
        let tag = String(getpid())
        let n = 10

        // Outbound: the outside server logs the peer it saw (the translated source).
        let tcpServer = try startServer("server", port: 7000, count: n, log: dir + "/srv")
        try inContainer("ntsk-out-\(tag)", detach: false, "connect 10.201.2.2 7000 \(n) /mnt/out/cli", dir: dir)
        try tcpServer.wait(timeout: 60)
        // A DNS-shaped UDP query from the container, through MASQUERADE.
        let dnsServer = try startServer("udpserver", port: 53, count: 1, log: dir + "/dns")
        try inContainer("ntsk-dns-\(tag)", detach: false, "udpquery 10.201.2.2 53 /mnt/out/q", dir: dir)
        try dnsServer.wait(timeout: 60)

        // Inbound: a server in a container, published by DNAT 10.201.2.1:8080 -> 10.201.1.2:80.
        try inContainer("ntsk-svc-\(tag)", detach: true, "server 80 \(n) /mnt/out/svc", dir: dir)
        try sh("for i in $(seq 200); do ip netns exec \(prefix)-cli ss -ltn | grep -q ':80 ' && exit 0; sleep 0.05; done; exit 1")
        try sh("ip netns exec \(prefix)-srv \(scene)/sock-workload.sh connect 10.201.2.1 8080 \(n) \(dir)/out")
        try sh("for i in $(seq 100); do [ $(wc -l < \(dir)/svc) -ge \(n) ] && exit 0; sleep 0.05; done; exit 1")
        Thread.sleep(forTimeInterval: 0.3)
        let (summary, capture) = try live.finish()
        print(summary)
        XCTAssertEqual(socketLosses(summary), 0, "\(summary)")
        let nat = try ConntrackNATResolver(capture)

        // Outbound: i-th client connection <-> i-th accept (one at a time, in order).
        let cli = try read(dir + "/cli"), srv = try read(dir + "/srv")
        XCTAssertEqual(cli.count, n); XCTAssertEqual(srv.count, n)
        for (c, s) in zip(cli, srv) {
            XCTAssertEqual(c.lip, "10.201.1.2")
            XCTAssertEqual(s.rip, "10.201.2.1", "the server sees the router's address")
            let t = try WhoQuery.run(capture, at: c.ts, addr: Endpoint(ip: s.rip, port: s.rport), proto: .tcp, nat: nat)
            let rows = t.rows.filter { if case .text(let m) = $0[col(t, "match")] { return m.hasPrefix("local via NAT") }; return false }
            XCTAssertEqual(rows.count, 1, "outside \(s.rip):\(s.rport) for \(c): \(t.render(.table))")
            XCTAssertEqual(rows.first?[col(t, "pid")], .int(Int64(c.pid)), t.render(.table))
            XCTAssertEqual(rows.first?[col(t, "container")], .text("ntsk-out-\(tag)"), t.render(.table))
            XCTAssertFalse(t.notes.contains { $0.contains("AMBIGUOUS") }, t.render(.table))
        }

        // UDP (DNS) outbound through MASQUERADE.
        let q = try read(dir + "/q")[0], d = try read(dir + "/dns")[0]
        let tq = try WhoQuery.run(capture, at: q.ts, addr: Endpoint(ip: d.rip, port: d.rport), proto: .udp, nat: nat)
        let uq = tq.rows.filter { if case .text(let m) = $0[col(tq, "match")] { return m.hasPrefix("local via NAT") }; return false }
        XCTAssertEqual(uq.first?[col(tq, "pid")], .int(Int64(q.pid)), tq.render(.table))
        XCTAssertEqual(uq.first?[col(tq, "container")], .text("ntsk-dns-\(tag)"), tq.render(.table))

        // Inbound through DNAT: the published address and the outside client's tuple both
        // lead to the server process in its container.
        let out = try read(dir + "/out"), svc = try read(dir + "/svc")
        XCTAssertEqual(out.count, n); XCTAssertEqual(svc.count, n)
        let svcPid = svc[0].pid
        for o in out {
            let t = try WhoQuery.run(capture, at: o.ts, addr: Endpoint(ip: "10.201.2.1", port: 8080), proto: .tcp, nat: nat)
            let viaNAT = t.rows.filter { if case .text(let m) = $0[col(t, "match")] { return m.hasPrefix("local via NAT") }; return false }
            XCTAssertGreaterThanOrEqual(viaNAT.count, 1, t.render(.table))
            XCTAssertTrue(viaNAT.allSatisfy { $0[col(t, "pid")] == .int(Int64(svcPid)) }, t.render(.table))
            XCTAssertEqual(viaNAT.first?[col(t, "container")], .text("ntsk-svc-\(tag)"))
            // The outside client's own tuple is the serving socket's remote end (DNAT only, no SNAT).
            let t2 = try WhoQuery.run(capture, at: o.ts, addr: Endpoint(ip: o.lip, port: o.lport), proto: .tcp, nat: nat)
            let remote = t2.rows.filter { $0[col(t2, "match")] == .text("remote") }
            XCTAssertEqual(remote.count, 1, t2.render(.table))
            XCTAssertEqual(remote.first?[col(t2, "pid")], .int(Int64(svcPid)))
            XCTAssertEqual(remote.first?[col(t2, "container")], .text("ntsk-svc-\(tag)"))
        }
        // `connections` shows the translation for the container's outbound connections.
        let conns = try ConnectionsQuery.run(capture, ConnectionFilter(container: "ntsk-out-\(tag)"), nat: nat)
        XCTAssertEqual(conns.rows.count, n, conns.render(.table))
        XCTAssertTrue(conns.rows.allSatisfy { $0[conns.columns.firstIndex(of: "nat")!] != .null }, conns.render(.table))
        // The case's stored timeline holds the reconstruction's lines, NAT translations
        // included (cut off when asked without), for the whole capture and a container.
        for (container, resolver) in [(nil, nat), (nil, nil), ("ntsk-out-\(tag)", nat)] as [(String?, NATResolver?)] {
            let (stored, _) = try TimelineQuery.lines(capture, from: nil, to: nil, container: container, nat: resolver)
            let (made, _) = try TimelineQuery.reconstructedLines(capture, from: nil, to: nil, container: container, nat: resolver)
            let rows = TimelineAnswer(capture: capture, lines: stored, notes: []).rows
            XCTAssertEqual(rows, TimelineAnswer(capture: capture, lines: made, notes: []).rows)
            let translated = rows.filter { if case .text(let d) = $0[5] { return d.contains(" nat ") }; return false }
            XCTAssertEqual(translated.count >= n, resolver != nil, "\(container ?? "all"): \(translated.count) lines with a translation")
        }

        // Each connection's translation is the same from one read of its stretch of time
        // (a timeline window's way) as from a lookup of its own.
        let all = try ConnectionIndex(capture).connections
        let stretched = try ConntrackNATResolver(capture, fewest: 1), alone = try ConntrackNATResolver(capture)
        stretched.prepare(for: all)
        for c in all { XCTAssertEqual(stretched.translation(of: c), alone.translation(of: c), "\(c.tuple)") }
        XCTAssertGreaterThanOrEqual(all.filter { alone.translation(of: $0) != nil }.count, 2 * n)
    }
}
