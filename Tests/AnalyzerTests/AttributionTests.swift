import Analyzer
import Format
import Foundation
import XCTest

/// Containment ranking: the ranking itself, then `who` and `nat` on hand-written
/// captures where a tuple was reused within the slack, through NAT and without.
final class AttributionTests: XCTestCase {
    let ms: UInt64 = 1_000_000

    // MARK: the ranking

    func testProximityOfAnInterval() {
        XCTAssertEqual(Proximity.of(start: 10, end: 20, at: 15), .exact)
        XCTAssertEqual(Proximity.of(start: 10, end: 20, at: 20), .exact, "a connection is live at its close")
        XCTAssertFalse(Proximity.of(start: 10, end: 20, endExclusive: true, at: 20).live, "a mapping is not live at its end")
        XCTAssertEqual(Proximity.of(start: 10, end: 20, at: 4), Proximity(live: false, distance: 6, after: true))
        XCTAssertEqual(Proximity.of(start: 10, end: 20, at: 27), Proximity(live: false, distance: 7, after: false))
        XCTAssertEqual(Proximity.of(start: 10, end: nil, at: 1_000), .exact, "open to the end")
        XCTAssertEqual(Proximity(live: false, distance: 1_234_567, after: false).text, "nearby: ended 1.235 ms before")
        XCTAssertEqual(Proximity(live: false, distance: 50_000, after: true).text, "nearby: began 0.050 ms after")
        // A chain is live only when every link is, as far as its farthest link.
        let far = Proximity(live: false, distance: 9, after: true), near = Proximity(live: false, distance: 2, after: false)
        XCTAssertEqual(Proximity.exact.and(.exact), .exact)
        XCTAssertEqual(Proximity.exact.and(far), far)
        XCTAssertEqual(near.and(far), far)
    }

    func testContainmentBeatsSlack() {
        let live = Proximity.exact
        let d = Attribution.decide([(owner: "a", proximity: Proximity(live: false, distance: 1, after: false)),
                                    (owner: "b", proximity: live),
                                    (owner: "c", proximity: Proximity(live: false, distance: 3, after: true))], slack: 10)
        XCTAssertEqual(d, .exact("b", nearby: 2))
        // The same owner live twice is still one answer.
        XCTAssertEqual(Attribution.decide([(owner: "b", proximity: live), (owner: "b", proximity: live)], slack: 0),
                       .exact("b", nearby: 0))
    }

    func testTwoLiveOwnersAreAmbiguous() {
        let d = Attribution.decide([(owner: "a", proximity: .exact), (owner: "b", proximity: .exact),
                                    (owner: "c", proximity: Proximity(live: false, distance: 1, after: true))], slack: 10)
        XCTAssertEqual(d, .ambiguous(["a", "b"]))
    }

    func testNothingLiveGivesTheNearestWithinTheSlack() {
        let a = Proximity(live: false, distance: 7, after: false), b = Proximity(live: false, distance: 3, after: true)
        XCTAssertEqual(Attribution.decide([(owner: "a", proximity: a), (owner: "b", proximity: b)], slack: 10),
                       .nearestOnly(["b", "a"], nearest: b))
        XCTAssertEqual(Attribution.decide([(owner: "a", proximity: a)], slack: 5), .none, "outside the slack")
    }

    // MARK: who and nat on a capture

    let inside1 = SocketTuple(family: 2, laddr: "10.0.0.2", lport: 40000, raddr: "198.51.100.7", rport: 443)
    let inside2 = SocketTuple(family: 2, laddr: "10.0.0.2", lport: 40001, raddr: "198.51.100.7", rport: 443)
    let outside = Endpoint(ip: "203.0.113.1", port: 61000)

    func task(_ pid: UInt32, start: UInt64) -> TaskRow {
        TaskRow(ts: 0, pid: pid, tid: pid, startNs: start, ppid: 1, parentStartNs: 10, uid: 0, gid: 0,
                cgroupID: 1, cgroupV1ID: 1, mntns: 1, netns: 1, pidns: 1, comm: "cli\(pid)")
    }

    func tcp(_ kind: TcpEventKind, _ ts: UInt64, _ owner: TaskRow, _ tuple: SocketTuple, cookie: UInt64) -> TcpEventRow {
        var t = owner
        t.ts = ts
        return TcpEventRow(task: t, kind: kind, flags: .owner, sockNetns: 7, tuple: tuple, cookie: cookie, sk: cookie &* 64,
                           startTs: kind == .close ? 0 : ts - 100_000, result: 0, bytesAcked: 0, bytesReceived: 0,
                           retransmits: 0, oldState: kind == .close ? 1 : 2)
    }

    func mapping(_ ts: UInt64, _ kind: ConntrackEventKind, _ tuple: SocketTuple, translatedPort: UInt16, start: UInt64? = nil) -> ConntrackRow {
        ConntrackRow(ts: ts, kind: kind, flags: [], startTs: start ?? ts, netns: 99, family: 4, proto: 6,
                     orig: ConntrackTuple(src: tuple.laddr, sport: tuple.lport, dst: tuple.raddr, dport: tuple.rport),
                     reply: ConntrackTuple(src: tuple.raddr, sport: tuple.rport, dst: outside.ip, dport: translatedPort),
                     status: 0x190, zone: 0, mark: 0, hook: 4, tcpState: 1, cgroupID: 0)
    }

    func capture(tcp rows: [TcpEventRow], conntrack: [ConntrackRow] = []) throws -> Capture {
        let path = NSTemporaryDirectory() + "attr-\(UUID().uuidString).db"
        addTeardownBlock { unlink(path) }
        let w = try TimelineWriter(path: path, force: true)
        try w.setMeta("start_boot_ns", "1000")
        try w.setMeta("end_boot_ns", "100000000000")
        try w.clockAnchor(bootNs: 1_000, wallNs: 1_700_000_000_000_000_000)
        for r in rows { try w.tcpEvent(r) }
        for r in conntrack { try w.conntrack(r) }
        try w.close()
        let c = try Capture(path: path)
        try c.load()
        return c
    }

    func col(_ t: ResultTable, _ name: String) -> Int { t.columns.firstIndex(of: name)! }

    /// The same tuple used by two processes 50 ms apart: inside the second, the second is the
    /// answer and the first is nearby; between them, nothing is live and the answer says so.
    func testTupleReusedWithinTheSlackIsNotAmbiguous() throws {
        let a = task(100, start: 1_000), b = task(200, start: 2_000)
        let c = try capture(tcp: [
            tcp(.connect, 1_000 * ms, a, inside1, cookie: 1), tcp(.close, 1_010 * ms, a, inside1, cookie: 1),
            tcp(.connect, 1_060 * ms, b, inside1, cookie: 2), tcp(.close, 1_070 * ms, b, inside1, cookie: 2),
        ])
        let ep = Endpoint(ip: "10.0.0.2", port: 40000)
        let t = try WhoQuery.run(c, at: 1_065 * ms, addr: ep, proto: .tcp)
        XCTAssertEqual(t.rows.map { $0[col(t, "pid")] }, [.int(200), .int(100)], t.render(.table))
        XCTAssertEqual(t.rows.map { $0[col(t, "timing")] }, [.text("live"), .text("nearby: ended 55.000 ms before")])
        XCTAssertFalse(t.notes.contains { $0.contains("AMBIGUOUS") }, t.render(.table))

        let gap = try WhoQuery.run(c, at: 1_030 * ms, addr: ep, proto: .tcp)
        XCTAssertEqual(gap.rows.count, 2)
        XCTAssertTrue(gap.notes.contains { $0.hasPrefix("AMBIGUOUS: no matching connection was live at that moment; the nearest ended 20.000 ms before") },
                      gap.render(.table))
        let late = try WhoQuery.run(c, at: 1_500 * ms, addr: ep, proto: .tcp)
        XCTAssertEqual(late.rows.first?[col(late, "pid")], .int(200))
        XCTAssertTrue(late.notes.contains { $0.contains("the nearest ended 430.000 ms before") }, late.render(.table))
    }

    /// Through NAT: the outside port was the translation of one inside tuple, then of
    /// another. The mapping live at the moment, and the socket live then behind it, answer.
    func testContainmentThroughTheNATWalk() throws {
        let a = task(100, start: 1_000), b = task(200, start: 2_000), other = task(300, start: 3_000)
        let unrelated = SocketTuple(family: 2, laddr: "10.0.0.2", lport: 5555, raddr: "198.51.100.9", rport: 80)
        let c = try capture(tcp: [
            tcp(.connect, 1_000 * ms, a, inside1, cookie: 1), tcp(.close, 1_010 * ms, a, inside1, cookie: 1),
            tcp(.connect, 1_300 * ms, b, inside2, cookie: 2), tcp(.close, 1_400 * ms, b, inside2, cookie: 2),
            tcp(.connect, 1_300 * ms, other, unrelated, cookie: 3), tcp(.close, 1_400 * ms, other, unrelated, cookie: 3),
        ], conntrack: [
            mapping(1_000 * ms, .new, inside1, translatedPort: 61000),
            mapping(1_200 * ms, .end, inside1, translatedPort: 61000, start: 1_000 * ms),
            mapping(1_300 * ms, .new, inside2, translatedPort: 61000),
        ])
        let nat = try ConntrackNATResolver(c)
        let t = try WhoQuery.run(c, at: 1_350 * ms, addr: outside, proto: .tcp, nat: nat)
        let via = t.rows.filter { if case .text(let m) = $0[col(t, "match")] { return m.hasPrefix("local via NAT") }; return false }
        XCTAssertEqual(via.map { $0[col(t, "pid")] }, [.int(200), .int(100)], t.render(.table))
        XCTAssertEqual(via.first?[col(t, "timing")], .text("live"))
        // The first chain: its mapping ended 150 ms before, its socket 340 ms before.
        XCTAssertEqual(via.last?[col(t, "timing")], .text("nearby: ended 340.000 ms before"))
        XCTAssertFalse(t.notes.contains { $0.contains("AMBIGUOUS") }, t.render(.table))

        // Without a port: only the sockets the mappings translated, not every socket of their address.
        let bare = try WhoQuery.run(c, at: 1_350 * ms, addr: Endpoint(ip: outside.ip, port: nil), proto: .tcp, nat: nat)
        XCTAssertFalse(bare.rows.contains { $0[col(bare, "pid")] == .int(300) }, bare.render(.table))
        XCTAssertEqual(bare.rows.first?[col(bare, "pid")], .int(200), bare.render(.table))

        // `nat` ranks the same way: the live mapping first, the other nearby.
        let index = try NATIndex(reader: c.reader, touching: NATEndpoint(addr: outside.ip, port: outside.port),
                                 from: 350 * ms, to: 2_350 * ms)
        let n = NATQuery.run(c, index: index, endpoint: NATEndpoint(addr: outside.ip, port: outside.port),
                             at: 1_350 * ms, slack: 1_000 * ms, proto: 6)
        XCTAssertEqual(n.rows.map { $0[col(n, "timing")] }, [.text("live"), .text("nearby: ended 150.000 ms before")], n.render(.table))
        XCTAssertEqual(n.rows.first?[col(n, "answer")], .text("10.0.0.2:40001"))
        XCTAssertFalse(n.notes.contains { $0.contains("more than one") }, n.render(.table))
        let none = NATQuery.run(c, index: index, endpoint: NATEndpoint(addr: outside.ip, port: outside.port),
                                at: 1_250 * ms, slack: 1_000 * ms, proto: 6)
        XCTAssertTrue(none.notes.contains { $0.contains("no mapping of 203.0.113.1:61000 was live at that moment; the nearest began 50.000 ms after") },
                      none.render(.table))
    }
}
