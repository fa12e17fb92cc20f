import Analyzer
import Format
import Foundation
import XCTest

/// ConnectionIndex and `who` on a hand-written capture: joins, order independence,
/// ambiguity reported, open-at-start sharing.
final class ConnectionTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-conn-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func task(_ ts: UInt64, pid: UInt32, start: UInt64, comm: String = "cli") -> TaskRow {
        TaskRow(ts: ts, pid: pid, tid: pid, startNs: start, ppid: 1, parentStartNs: 10, uid: 0, gid: 0,
                cgroupID: 1, cgroupV1ID: 1, mntns: 1, netns: 1, pidns: 1, comm: comm)
    }
    let none = TaskRow(ts: 0, pid: 0, tid: 0, startNs: 0, ppid: 0, parentStartNs: 0, uid: 0, gid: 0,
                       cgroupID: 0, cgroupV1ID: 0, mntns: 0, netns: 0, pidns: 0, comm: "")

    func event(_ kind: TcpEventKind, ts: UInt64, owner: TaskRow?, lport: UInt16, cookie: UInt64, flags: SocketFlags = [],
               laddr: String = "10.0.0.1", raddr: String = "10.0.0.2", rport: UInt16 = 80, result: Int32 = 0) -> TcpEventRow {
        var t = owner ?? none
        t.ts = ts
        return TcpEventRow(task: t, kind: kind, flags: owner == nil ? flags : flags.union(.owner), sockNetns: 7,
                           tuple: SocketTuple(family: 2, laddr: laddr, lport: lport, raddr: raddr, rport: rport),
                           cookie: cookie, sk: cookie &* 64, startTs: kind == .close ? 0 : ts - 100, result: result,
                           bytesAcked: kind == .close ? 10 : 0, bytesReceived: kind == .close ? 20 : 0, retransmits: 0,
                           oldState: kind == .close ? 1 : 2)
    }

    func capture(_ rows: [TcpEventRow]) throws -> Capture {
        let path = dir.appendingPathComponent("c.db").path
        let w = try TimelineWriter(path: path, force: true)
        try w.setMeta("start_boot_ns", "1000")
        try w.setMeta("end_boot_ns", "100000000000")
        try w.clockAnchor(bootNs: 1_000, wallNs: 1_700_000_000_000_000_000)
        for r in rows { try w.tcpEvent(r) }
        try w.close()
        let c = try Capture(path: path)
        try c.load()
        return c
    }

    func testConnectAndCloseJoinByCookieWhateverTheirOrder() throws {
        let a = task(0, pid: 100, start: 500)
        // A refused connect: the close (softirq, owner remembered) is stamped before connect() returns.
        let c = try capture([
            event(.close, ts: 5_000, owner: a, lport: 40000, cookie: 9),
            event(.connect, ts: 5_100, owner: a, lport: 0, cookie: 9, result: -111),
        ])
        let conns = try ConnectionIndex(c).connections
        XCTAssertEqual(conns.count, 1)
        XCTAssertEqual(conns[0].owner, ProcessKey(pid: 100, startNs: 500))
        XCTAssertEqual(conns[0].direction, .outbound)
        XCTAssertEqual(conns[0].result, -111)
        XCTAssertEqual(conns[0].tuple.lport, 40000, "the close's tuple still has the port")
        XCTAssertEqual(conns[0].bytesReceived, 20)
    }

    func testPidReuseAndAmbiguity() throws {
        let first = task(0, pid: 300, start: 1_000), second = task(0, pid: 300, start: 9_000_000_000)
        let other = task(0, pid: 301, start: 2_000)
        let c = try capture([
            event(.connect, ts: 2_000_000_000, owner: first, lport: 5555, cookie: 1),
            event(.close, ts: 3_000_000_000, owner: first, lport: 5555, cookie: 1),
            event(.connect, ts: 20_000_000_000, owner: second, lport: 5555, cookie: 2),
            // Two sockets with the same local end at the same time (SO_REUSEPORT, different remotes).
            event(.connect, ts: 40_000_000_000, owner: second, lport: 6000, cookie: 3, raddr: "10.0.0.3"),
            event(.connect, ts: 40_000_000_000, owner: other, lport: 6000, cookie: 4, raddr: "10.0.0.4"),
        ])
        let at1 = try WhoQuery.run(c, at: 2_500_000_000, addr: Endpoint(ip: "10.0.0.1", port: 5555), proto: .tcp)
        XCTAssertEqual(at1.rows.count, 1, at1.render(.table))
        let pidCol = at1.columns.firstIndex(of: "pid")!, startCol = at1.columns.firstIndex(of: "process_start")!
        XCTAssertEqual(at1.rows[0][pidCol], .int(300))
        let at2 = try WhoQuery.run(c, at: 25_000_000_000, addr: Endpoint(ip: "10.0.0.1", port: 5555), proto: .tcp)
        XCTAssertEqual(at2.rows.count, 1, at2.render(.table))
        XCTAssertNotEqual(at1.rows[0][startCol], at2.rows[0][startCol], "two incarnations of pid 300")
        let amb = try WhoQuery.run(c, at: 41_000_000_000, addr: Endpoint(ip: "10.0.0.1", port: 6000), proto: .tcp)
        XCTAssertEqual(amb.rows.count, 2)
        XCTAssertTrue(amb.notes.contains { $0.hasPrefix("AMBIGUOUS") }, amb.render(.table))
        // With the remote end too, the question has one answer.
        let one = try WhoQuery.run(c, at: 41_000_000_000, addr: Endpoint(ip: "10.0.0.4", port: 80), proto: .tcp)
        XCTAssertEqual(one.rows.map { $0[pidCol] }, [.int(301)])
    }

    func testSocketOpenInTwoProcessesAtStartHasNoOwner() throws {
        let p = task(0, pid: 400, start: 100), child = task(0, pid: 401, start: 200)
        let c = try capture([
            event(.snapshot, ts: 2_000, owner: p, lport: 7000, cookie: 0, flags: .snapshot),
            event(.snapshot, ts: 2_000, owner: child, lport: 7000, cookie: 0, flags: .snapshot),
            event(.close, ts: 9_000, owner: nil, lport: 7000, cookie: 0, flags: [.shared, .established]),
        ])
        let conns = try ConnectionIndex(c).connections
        XCTAssertEqual(conns.count, 1)
        XCTAssertNil(conns[0].owner)
        XCTAssertEqual(Set(conns[0].sharedBy.map(\.pid)), [400, 401])
        XCTAssertTrue(conns[0].openAtStart)
        XCTAssertEqual(conns[0].end, 9_000)
        let who = try WhoQuery.run(c, at: 5_000, addr: Endpoint(ip: "10.0.0.1", port: 7000), proto: .tcp)
        XCTAssertTrue(who.notes.contains { $0.hasPrefix("AMBIGUOUS") }, who.render(.table))
    }

    func testEndpointForms() {
        XCTAssertEqual(Endpoint.parse("10.1.2.3:80"), Endpoint(ip: "10.1.2.3", port: 80))
        XCTAssertEqual(Endpoint.parse("10.1.2.3"), Endpoint(ip: "10.1.2.3", port: nil))
        XCTAssertEqual(Endpoint.parse("[fd00:0:0::1]:53"), Endpoint(ip: "fd00::1", port: 53))
        XCTAssertEqual(Endpoint.parse("fd00::1"), Endpoint(ip: "fd00::1", port: nil))
        XCTAssertEqual(Endpoint.parse("[::ffff:10.0.0.1]:443"), Endpoint(ip: "10.0.0.1", port: 443))
        XCTAssertNil(Endpoint.parse("10.1.2.3:99999"))
        XCTAssertNil(Endpoint.parse("host.example:80"))
        XCTAssertNil(Endpoint.parse("10.1.2.3", requirePort: true))
    }
}
