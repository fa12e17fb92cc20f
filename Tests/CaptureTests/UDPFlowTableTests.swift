import Analyzer
import Format
import Foundation
import Recorder
import XCTest

/// The kernel's UDP flow table is an LRU map: when it is full, the kernel drops its oldest
/// entry without telling anyone. The recorder must notice, end that flow as `evicted`
/// and count it as loss, rather than leave it looking open.
final class UDPFlowTableTests: XCTestCase {
    func testEvictedFlowsAreEndedAndCounted() throws {
        let flows = 3000, table: UInt32 = 512
        let live = try LiveCapture { o in
            o.udpFlowTableSize = table
            o.onlySources = ["sockets"]
        }
        // One process, one datagram to each of `flows` ports: a flow each.
        let out = try sh("""
            python3 -c '
            import os, socket
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            for p in range(40000, 40000 + \(flows)): s.sendto(b"x", ("127.0.0.1", p))
            print(os.getpid())'
            """)
        let pid = try XCTUnwrap(UInt32(out.trimmingCharacters(in: .whitespacesAndNewlines)))
        // At least one sweep while recording, and the final one.
        Thread.sleep(forTimeInterval: 1.5)
        let (summary, capture) = try live.finish()
        XCTAssertEqual(summary.losses["udp_flow"] ?? 0, 0, "\(summary)")

        let mine = try ConnectionIndex(capture).connections.filter {
            $0.proto == .udp && $0.owner?.pid == pid && $0.tuple.raddr == "127.0.0.1"
        }
        XCTAssertEqual(mine.count, flows)
        XCTAssertEqual(Set(mine.map(\.tuple.rport)).count, flows)
        let reasons = Dictionary(grouping: mine) { $0.endReason ?? "open" }.mapValues(\.count)
        XCTAssertNil(reasons["open"], "\(reasons)")
        print(summary, reasons)
        let evicted = reasons["evicted"] ?? 0
        // The table holds at most `table` flows; every other one was evicted.
        XCTAssertGreaterThanOrEqual(evicted, flows - Int(table), "\(reasons)")
        for c in mine where c.endReason == "evicted" {
            XCTAssertNil(c.bytesSent)
            XCTAssertGreaterThanOrEqual(try XCTUnwrap(c.end), c.start)
        }
        for c in mine where c.endReason != "evicted" { XCTAssertEqual(c.packetsSent, 1) }

        // Counted as loss, in the timeline and the summary (other processes' flows may add to it).
        let lost = try capture.reader.db.prepare("SELECT COALESCE(SUM(count), 0) FROM loss WHERE kind = 'udp_flow_end'")
        XCTAssertTrue(try lost.step())
        XCTAssertGreaterThanOrEqual(lost.int(0), evicted)
        XCTAssertEqual(UInt64(lost.int(0)), summary.losses["udp_flow_end"] ?? 0)

        let rows = try ConnectionsQuery.run(capture, ConnectionFilter(pid: pid))
        XCTAssertTrue(rows.notes.contains { $0.contains("evicted") }, "\(rows.notes)")
    }
}
