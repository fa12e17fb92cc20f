import Analyzer
import CEventABI
import Events
import Format
import Foundation
import XCTest

/// The case joins socket and conntrack records into connections and mappings as it decodes
/// the segments, without storing them as rows. Where their arrival is not their time order
/// it decodes them into rows and joins those sorted: both ways give the same answer.
final class CaseJoinTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("nettrail-join-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func bytes<T>(_ v: inout T) -> [UInt8] { withUnsafeBytes(of: &v) { Array($0) } }

    func tcp(_ kind: nt_kind, ts: UInt64, cookie: UInt64, lport: UInt16) -> [UInt8] {
        var e = nt_tcp_event()
        e.ts = ts
        e.kind = kind.rawValue
        e.flags = UInt32(NT_SF_OWNER) | (kind == NT_KIND_TCP_CLOSE ? UInt32(NT_SF_ESTABLISHED) : 0)
        e.task.pid = 42
        e.task.tid = 42
        e.task.start_ns = 100
        withUnsafeMutableBytes(of: &e.task.comm) { $0.copyBytes(from: Array("cli".utf8)) }
        e.tuple.family = 2
        e.tuple.protocol = 6
        withUnsafeMutableBytes(of: &e.tuple.laddr) { $0.copyBytes(from: [10, 0, 0, 1]) }
        withUnsafeMutableBytes(of: &e.tuple.raddr) { $0.copyBytes(from: [10, 0, 0, 2]) }
        e.tuple.lport = lport
        e.tuple.rport = 80
        e.cookie = cookie
        e.sk = cookie * 64
        e.start_ts = kind == NT_KIND_TCP_CLOSE ? 0 : ts - 100
        e.bytes_acked = kind == NT_KIND_TCP_CLOSE ? 10 : 0
        return bytes(&e)
    }

    func ct(_ kind: nt_kind, ts: UInt64, start: UInt64? = nil, sport: UInt16, translated: UInt16) -> [UInt8] {
        var e = nt_ct_event()
        e.ts = ts
        e.kind = kind.rawValue
        e.start_ts = start ?? ts
        e.netns = 9
        e.status = 0x10 | 0x08   // IPS_SRC_NAT | IPS_CONFIRMED
        e.orig.l3 = 2
        e.orig.l4 = 6
        e.reply.l3 = 2
        e.reply.l4 = 6
        withUnsafeMutableBytes(of: &e.orig.src) { $0.copyBytes(from: [10, 0, 0, 1]) }
        withUnsafeMutableBytes(of: &e.orig.dst) { $0.copyBytes(from: [10, 0, 1, 2]) }
        withUnsafeMutableBytes(of: &e.reply.src) { $0.copyBytes(from: [10, 0, 1, 2]) }
        withUnsafeMutableBytes(of: &e.reply.dst) { $0.copyBytes(from: [10, 0, 1, 1]) }
        e.orig.sport = sport
        e.orig.dport = 80
        e.reply.sport = 80
        e.reply.dport = translated
        return bytes(&e)
    }

    /// A capture whose segments hold `segments` (each a list of records), in that order, and its case.
    func capture(_ name: String, _ segments: [(source: String, records: [[UInt8]])]) throws -> Capture {
        let path = dir.appendingPathComponent("\(name).db").path
        let w = try TimelineWriter(path: path, force: true)
        try w.setMeta("start_boot_ns", "1000")
        try w.setMeta("end_boot_ns", "100000000000")
        try w.setMeta("abi_version", String(NT_ABI_VERSION))
        try w.setMeta("sources", "sockets,conntrack")
        try w.clockAnchor(bootNs: 1_000, wallNs: 1_700_000_000_000_000_000)
        for r in RecordDecoders.layoutRows() { try w.recordKind(r) }
        var sealer = SegmentSealer(level: 1)
        for (i, seg) in segments.enumerated() {
            var b = RecordBuffer()
            for r in seg.records { r.withUnsafeBytes { b.append($0.baseAddress!, count: $0.count) } }
            let t = b.take()
            try w.segment(sealer.seal(source: seg.source, ring: "cpu\(i)", payload: t.payload, records: t.records,
                                      firstTs: t.firstTs, lastTs: t.lastTs))
        }
        try w.close()
        let c = try Capture(path: path, casePath: dir.appendingPathComponent("\(name).case").path, progress: false)
        try c.load()
        return c
    }

    func connections(_ c: Capture) throws -> [String] {
        try ConnectionIndex(c).connections.map {
            "\($0.tuple.localText)>\($0.tuple.remoteText) cookie \($0.cookie) owner \($0.owner?.pid ?? 0) \($0.start)...\($0.end ?? 0) sent \($0.bytesSent ?? 0)"
        }
    }

    func mappings(_ c: Capture) throws -> [String] {
        try c.reader.natMappings(touching: nil).map {
            "\(NATQuery.ep($0.orig.src, $0.orig.sport)) as \(NATQuery.ep($0.translated.src, $0.translated.sport)) \($0.start)...\($0.end ?? 0) \($0.endKind.rawValue)"
        }
    }

    func rows(_ c: Capture, _ table: String) throws -> Int {
        try XCTUnwrap(c.reader.rowCounts().first { $0.table == table }).rows
    }

    /// A connection's close sealed (on one CPU's ring) before its connect (on another's).
    func testSocketRecordsOutOfTimeOrderJoinAsInOrder() throws {
        let connectA = tcp(NT_KIND_TCP_CONNECT, ts: 2_000_000, cookie: 7, lport: 40_001)
        let closeA = tcp(NT_KIND_TCP_CLOSE, ts: 5_000_000, cookie: 7, lport: 40_001)
        let connectB = tcp(NT_KIND_TCP_CONNECT, ts: 3_000_000, cookie: 8, lport: 40_002)
        let closeB = tcp(NT_KIND_TCP_CLOSE, ts: 6_000_000, cookie: 8, lport: 40_002)
        let inOrder = try capture("in-order", [("sockets", [connectA, connectB]), ("sockets", [closeA, closeB])])
        let late = try capture("late", [("sockets", [closeA]), ("sockets", [connectA, connectB, closeB])])
        let expected = try connections(inOrder)
        XCTAssertEqual(expected.count, 2, "\(expected)")
        XCTAssertTrue(expected[0].contains("10.0.0.1:40001>10.0.0.2:80 cookie 7 owner 42 1999900...5000000 sent 10"), "\(expected)")
        XCTAssertEqual(try connections(late), expected)
        // Counted as the rows they stand for, stored or not.
        XCTAssertEqual(try rows(inOrder, "tcp_event"), 4)
        XCTAssertEqual(try rows(late, "tcp_event"), 4)
    }

    /// A conntrack record older than one already replayed (more than the builder waits for).
    func testConntrackRecordsOutOfTimeOrderJoinAsInOrder() throws {
        let s = UInt64(1_000_000_000)
        let a = ct(NT_KIND_CT_NEW, ts: 2 * s, sport: 40_001, translated: 50_001)
        let b = ct(NT_KIND_CT_NEW, ts: 10 * s, sport: 40_002, translated: 50_002)
        let c = ct(NT_KIND_CT_NEW, ts: 13 * s, sport: 40_003, translated: 50_003)
        let endA = ct(NT_KIND_CT_END, ts: 4 * s, start: 2 * s, sport: 40_001, translated: 50_001)
        let inOrder = try capture("ct-in-order", [("conntrack", [a, endA, b, c])])
        let late = try capture("ct-late", [("conntrack", [b, c]), ("conntrack", [a, endA])])
        let expected = try mappings(inOrder)
        XCTAssertEqual(expected.count, 3, "\(expected)")
        XCTAssertTrue(expected[0].hasPrefix("10.0.0.1:40001 as 10.0.1.1:50001 2000000000...4000000000"), "\(expected)")
        XCTAssertEqual(try mappings(late), expected)
        XCTAssertEqual(try rows(inOrder, "conntrack"), 4)
        XCTAssertEqual(try rows(late, "conntrack"), 4)
    }
}
