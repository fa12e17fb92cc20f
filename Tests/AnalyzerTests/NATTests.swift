@testable import Analyzer
import Format
import Foundation
import XCTest

/// How mapping intervals are rebuilt from conntrack rows: starts, observed and
/// inferred ends, re-opens, snapshot duplicates; and lookups in both directions.
final class NATTests: XCTestCase {
    let ns: UInt32 = 4026532000
    let inside = ConntrackTuple(src: "10.0.0.2", sport: 40000, dst: "198.51.100.7", dport: 443)
    let reply = ConntrackTuple(src: "198.51.100.7", sport: 443, dst: "203.0.113.1", dport: 61000)

    func row(_ ts: UInt64, _ kind: ConntrackEventKind, _ flags: ConntrackFlags = [], start: UInt64? = nil,
             orig: ConntrackTuple? = nil, reply: ConntrackTuple? = nil, status: UInt32 = 0x190,
             proto: UInt8 = 6) -> ConntrackRow {
        ConntrackRow(ts: ts, kind: kind, flags: flags, startTs: start ?? ts, netns: ns, family: 4, proto: proto,
                     orig: orig ?? inside, reply: reply ?? self.reply, status: status, zone: 0, mark: 0, hook: 4,
                     tcpState: 1, cgroupID: 0)
    }

    func capture(_ rows: [ConntrackRow]) throws -> Capture {
        let path = NSTemporaryDirectory() + "nat-\(UUID().uuidString).db"
        let w = try TimelineWriter(path: path, force: true)
        try w.setMeta("start_boot_ns", "1000")
        try w.setMeta("end_boot_ns", "100000")
        try w.clockAnchor(bootNs: 1000, wallNs: 1_795_000_000_000_000_000)
        for r in rows { try w.conntrack(r) }
        try w.close()
        return try Capture(path: path)
    }

    func index(_ rows: [ConntrackRow]) throws -> NATIndex {
        let c = try capture(rows)
        return try NATIndex(reader: c.reader, captureStart: c.startBoot)
    }

    func testBothDirectionsAndTheInterval() throws {
        let idx = try index([row(2000, .new), row(5000, .end, start: 2000)])
        let fwd = idx.lookup(NATEndpoint(addr: "10.0.0.2", port: 40000), at: 3000)
        XCTAssertEqual(fwd.count, 1)
        XCTAssertEqual(fwd.first?.side, .originalSource)
        XCTAssertEqual(fwd.first?.mapping.translated.src, "203.0.113.1")
        XCTAssertEqual(fwd.first?.mapping.translated.sport, 61000)
        let back = idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 61000), at: 4999, proto: 6)
        XCTAssertEqual(back.first?.side, .translatedSource)
        XCTAssertEqual(back.first?.mapping.end, 5000)
        XCTAssertEqual(back.first?.mapping.endKind, .observed)
        XCTAssertTrue(idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 61000), at: 5000).isEmpty, "ended")
        XCTAssertTrue(idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 61000), at: 1999).isEmpty, "not begun")
        XCTAssertTrue(idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 61000), at: 3000, proto: 17).isEmpty)
        // The destination NAT did not change is reported once, as the original side.
        let dst = idx.lookup(NATEndpoint(addr: "198.51.100.7", port: 443), at: 3000)
        XCTAssertEqual(dst.map(\.side), [.originalDestination])
    }

    func testReopenSupersedesAndUnobservedEndsAreInferred() throws {
        let idx = try index([row(2000, .new), row(6000, .new, .reopen), row(9000, .new, .reopen)])
        XCTAssertEqual(idx.mappings.map(\.startKind), [.new, .reopen, .reopen])
        XCTAssertEqual(idx.mappings.map(\.endKind), [.superseded, .superseded, .open])
        XCTAssertEqual(idx.mappings.map(\.end), [6000, 9000, nil])
        XCTAssertEqual(idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 61000), at: 7000).first?.mapping.start, 6000)
        // A new entry taking the same reply tuple from another inside host ends the old one too.
        let other = ConntrackTuple(src: "10.0.0.3", sport: 40001, dst: "198.51.100.7", dport: 443)
        let idx2 = try index([row(2000, .new), row(3000, .new, orig: other)])
        XCTAssertEqual(idx2.mappings.first?.endKind, .superseded)
        XCTAssertEqual(idx2.lookup(NATEndpoint(addr: "203.0.113.1", port: 61000), at: 3500).first?.mapping.orig, other)
    }

    func testSnapshotStartsBeforeTheCaptureAndLiveDuplicatesAreDropped() throws {
        let idx = try index([row(1500, .new), row(1600, .new, .snapshot),
                             row(1600, .new, .snapshot, orig: ConntrackTuple(src: "10.0.0.9", sport: 1, dst: "198.51.100.7", dport: 443),
                                 reply: ConntrackTuple(src: "198.51.100.7", sport: 443, dst: "203.0.113.1", dport: 2))])
        XCTAssertEqual(idx.mappings.count, 2, "the entry seen new before the dump listed it is one mapping")
        XCTAssertEqual(idx.rowCounts["snapshot_duplicates"], 1)
        let snap = idx.lookup(NATEndpoint(addr: "10.0.0.9", port: 1), at: 1000)
        XCTAssertEqual(snap.first?.mapping.startKind, .snapshot)
        XCTAssertEqual(snap.first?.mapping.start, 1000, "existed at capture start, since when unknown")
    }

    func testUntranslatedEntriesOnlyOnRequest() throws {
        let plain = ConntrackTuple(src: "10.0.0.2", sport: 50000, dst: "10.0.0.1", dport: 22)
        let idx = try index([row(2000, .new, orig: plain, reply: plain.inverted, status: 0x188)])
        XCTAssertTrue(idx.lookup(NATEndpoint(addr: "10.0.0.2", port: 50000), at: 2500).isEmpty)
        let all = idx.lookup(NATEndpoint(addr: "10.0.0.2", port: 50000), at: 2500, includeUntranslated: true)
        XCTAssertEqual(all.map(\.side), [.originalSource])
    }

    /// An echo through MASQUERADE as conntrack holds it: the id in both tuples' `sport`,
    /// type << 8 | code in `dport` (request 8/0 out, reply 0/0 back).
    func testICMPEchoIdStandsInForThePort() throws {
        let c = try capture([row(2000, .new, orig: ConntrackTuple(src: "10.0.0.2", sport: 1234, dst: "198.51.100.7", dport: 0x800),
                                 reply: ConntrackTuple(src: "198.51.100.7", sport: 40000, dst: "203.0.113.1", dport: 0),
                                 proto: 1)])
        let idx = try NATIndex(reader: c.reader, captureStart: c.startBoot)
        let fwd = idx.lookup(NATEndpoint(addr: "10.0.0.2", port: 1234), at: 3000, proto: 1)
        XCTAssertEqual(fwd.map(\.side), [.originalSource])
        XCTAssertEqual(fwd.first?.mapping.translated,
                       ConntrackTuple(src: "203.0.113.1", sport: 40000, dst: "198.51.100.7", dport: 0x800))
        XCTAssertEqual(idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 40000), at: 3000, proto: 1).map(\.side),
                       [.translatedSource])
        XCTAssertTrue(idx.lookup(NATEndpoint(addr: "203.0.113.1", port: 0), at: 3000).isEmpty, "the reply's type is no port")
        XCTAssertEqual(idx.lookup(NATEndpoint(addr: "198.51.100.7", port: 40000), at: 3000).map(\.side),
                       [.translatedDestination], "the far side sees the translated id")
        let t = NATQuery.run(c, index: idx, endpoint: NATEndpoint(addr: "203.0.113.1", port: 40000), at: 3000,
                             proto: NATQuery.protoNumber("icmp"))
        XCTAssertEqual(t.rows.count, 1)
        let r = Dictionary(uniqueKeysWithValues: zip(t.columns, t.rows[0]))
        XCTAssertEqual(r["answer"], .text("10.0.0.2:1234"))
        XCTAssertEqual(r["proto"], .text("icmp"))
        XCTAssertEqual(r["original_dst"], .text("198.51.100.7:1234"))
        XCTAssertEqual(r["translated_dst"], .text("198.51.100.7:40000"))
    }

    func testEndpointParsing() {
        XCTAssertEqual(NATEndpoint.parse("10.1.2.3:80"), NATEndpoint(addr: "10.1.2.3", port: 80))
        XCTAssertEqual(NATEndpoint.parse("[fd00:0201:0002::0001]:8080"), NATEndpoint(addr: "fd00:201:2::1", port: 8080))
        XCTAssertEqual(NATEndpoint.parse("fd00::1"), NATEndpoint(addr: "fd00::1", port: nil))
        XCTAssertEqual(NATEndpoint.parse("10.1.2.3"), NATEndpoint(addr: "10.1.2.3", port: nil))
        XCTAssertNil(NATEndpoint.parse("10.1.2.3:99999"))
        XCTAssertNil(NATEndpoint.parse("host:80"))
        XCTAssertEqual(NATQuery.protoNumber("UDP"), 17)
    }

    func testTableOutput() throws {
        let c = try capture([row(2000, .new), row(5000, .end, .rst, start: 2000)])
        let idx = try NATIndex(reader: c.reader, captureStart: c.startBoot)
        let t = NATQuery.run(c, index: idx, endpoint: NATEndpoint(addr: "203.0.113.1", port: 61000), at: 3000, proto: 6)
        XCTAssertEqual(t.rows.count, 1)
        let r = Dictionary(uniqueKeysWithValues: zip(t.columns, t.rows[0]))
        XCTAssertEqual(r["answer"], .text("10.0.0.2:40000"))
        XCTAssertEqual(r["end_kind"], .text("observed"))
        XCTAssertEqual(r["start_kind"], .text("new"))
        XCTAssertEqual(r["netns"], .int(Int64(ns)))
        let summary = Dictionary(uniqueKeysWithValues: try NATQuery.summary(c))
        XCTAssertEqual(summary["nat.mappings"], .int(1))
        XCTAssertEqual(summary["nat.end.observed"], .int(1))
    }
}
