@testable import Analyzer
import Foundation
import XCTest

final class TimeSpecTests: XCTestCase {
    func testParsesRFC3339AndUnixExactly() throws {
        XCTAssertEqual(try TimeSpec.parse("2026-11-26T21:39:26.079477458Z", captureStartWall: 0), 1_795_729_166_079_477_458)
        XCTAssertEqual(try TimeSpec.parse("2026-11-26T22:39:26.5+01:00", captureStartWall: 0), 1_795_729_166_500_000_000)
        XCTAssertEqual(try TimeSpec.parse("1795729166.079477458", captureStartWall: 0), 1_795_729_166_079_477_458)
        XCTAssertEqual(try TimeSpec.parse("1795729166", captureStartWall: 0), 1_795_729_166_000_000_000)
        XCTAssertEqual(try TimeSpec.parse("+1.5", captureStartWall: 10), 1_500_000_010)
        XCTAssertEqual(try TimeSpec.parse("+2s", captureStartWall: 0), 2_000_000_000)
    }

    /// The forms a responder types: relative to either end of the capture, durations with units,
    /// and wall times without a zone (UTC unless told otherwise).
    func testRelativeDurationAndLocalForms() throws {
        let start: Int64 = 1_795_729_166_000_000_000        // 2026-11-26T21:39:26Z
        let end = start + 600_000_000_000                    // ten minutes later
        func p(_ s: String, zone: Int = 0) throws -> Int64 {
            try TimeSpec.parse(s, captureStartWall: start, captureEndWall: end, zoneOffset: zone)
        }
        XCTAssertEqual(try p("+1m30s"), start + 90_000_000_000)
        XCTAssertEqual(try p("+90"), start + 90_000_000_000)
        XCTAssertEqual(try p("+1.5s"), start + 1_500_000_000)
        XCTAssertEqual(try p("+250ms"), start + 250_000_000)
        XCTAssertEqual(try p("+1h"), start + 3_600_000_000_000)
        XCTAssertEqual(try p("-5m"), end - 300_000_000_000)
        XCTAssertEqual(try p("-30"), end - 30_000_000_000)
        XCTAssertEqual(try p("2026-11-26 21:41:10"), 1_795_729_270_000_000_000)
        XCTAssertEqual(try p("2026-11-26T21:41:10.5"), 1_795_729_270_500_000_000)
        XCTAssertEqual(try p("21:41:10"), 1_795_729_270_000_000_000)
        XCTAssertEqual(try p("21:41"), 1_795_729_260_000_000_000)
        // --tz +01:00: 22:41:10 there is 21:41:10 UTC.
        XCTAssertEqual(try p("22:41:10", zone: 3600), 1_795_729_270_000_000_000)
        XCTAssertEqual(try p("2026-11-26 22:41:10", zone: 3600), 1_795_729_270_000_000_000)
        // A zone written in the time wins over --tz.
        XCTAssertEqual(try p("2026-11-26T21:41:10Z", zone: 3600), 1_795_729_270_000_000_000)
        XCTAssertEqual(TimeSpec.durationNs("1h2m3.5s"), 3_723_500_000_000)
        XCTAssertEqual(TimeSpec.durationNs("10m"), 600_000_000_000)
        XCTAssertNil(TimeSpec.durationNs("10 m"))
        XCTAssertNil(TimeSpec.durationNs(""))
        for zoneless in ["21:41:10", "21:41", "2026-11-26 21:41:10", "2026-11-26T21:41:10.25"] {
            XCTAssertTrue(TimeSpec.isZoneless(zoneless), zoneless)
        }
        for zoned in ["2026-11-26T21:41:10Z", "2026-11-26T21:41:10+01:00", "+5", "-5m", "1795729166"] {
            XCTAssertFalse(TimeSpec.isZoneless(zoned), zoned)
        }
        // Without an end (a capture not closed cleanly) there is nothing to count back from.
        XCTAssertThrowsError(try TimeSpec.parse("-5m", captureStartWall: start, captureEndWall: nil))
    }

    /// A time of day before the capture's start, in a capture that ran past midnight, is the next day's.
    func testTimeOfDayAcrossMidnight() throws {
        let start: Int64 = 1_795_737_000_000_000_000       // 2026-11-26T23:50:00Z
        let end = start + 1_200_000_000_000                  // 00:10 the next day
        XCTAssertEqual(try TimeSpec.parse("00:05:00", captureStartWall: start, captureEndWall: end), start + 900_000_000_000)
        XCTAssertEqual(try TimeSpec.parse("23:55", captureStartWall: start, captureEndWall: end), start + 300_000_000_000)
    }

    func testRejectsNonsense() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "1.2.3", "1795729166.1234567891", "-5x",
                    "+1m30", "+5parsecs", "25:00", "12:60:00", "1:2:3", "2026-11-26T21:39"] {
            XCTAssertThrowsError(try TimeSpec.parse(bad, captureStartWall: 0), bad)
        }
    }

    func testRefusesImpossibleMomentsAndSaturates() {
        for bad in ["2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-04-31T00:00:00Z", "9999-12-31T23:59:59Z",
                    "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "2262-04-12T00:00:00Z"] {
            XCTAssertThrowsError(try TimeSpec.parse(bad, captureStartWall: 0), bad)
        }
        XCTAssertEqual(try TimeSpec.parse("2024-02-29T00:00:00Z", captureStartWall: 0), 1_709_164_800_000_000_000)
        XCTAssertEqual(try TimeSpec.parse("1970-01-01T00:00:00Z", captureStartWall: 0), 0)
        XCTAssertEqual(try TimeSpec.parse("+8999999999", captureStartWall: 1_795_729_166_000_000_000), .max)
        XCTAssertEqual(TimeSpec.format(.min), "1677-09-21T00:12:43.145224192Z")
        XCTAssertEqual(TimeSpec.format(.max), "2262-04-11T23:47:16.854775807Z")
    }

    func testFormatsWithNanoseconds() {
        XCTAssertEqual(TimeSpec.format(1_795_729_166_079_477_458), "2026-11-26T21:39:26.079477458Z")
        XCTAssertEqual(TimeSpec.format(1_795_729_166_000_000_001), "2026-11-26T21:39:26.000000001Z")
    }

    /// The date arithmetic gives the C library's calendar, across the whole range of a time.
    func testFormatsAsGmtimeDoes() {
        func reference(_ wallNs: Int64) -> String {
            var secs = time_t(wallNs / 1_000_000_000), ns = wallNs % 1_000_000_000
            if ns < 0 { secs -= 1; ns += 1_000_000_000 }
            var t = tm()
            XCTAssertNotNil(gmtime_r(&secs, &t))
            return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday,
                          t.tm_hour, t.tm_min, t.tm_sec, Int32(ns))
        }
        var g = SystemRandomNumberGenerator()
        let edges: [Int64] = [.min, .max, 0, -1, 1, 951_782_400_000_000_000, 951_868_799_999_999_999, -86_400_000_000_001]
        for v in edges + (0..<50_000).map({ _ in Int64.random(in: .min ... .max, using: &g) }) {
            XCTAssertEqual(TimeSpec.format(v), reference(v), "\(v)")
            // A table measures every time as this wide without writing it.
            XCTAssertEqual(TimeSpec.format(v).utf8.count, TimeSpec.formattedLength, "\(v)")
        }
        // Written into a buffer that keeps the last time's text: the same, in the same second or not.
        var second: Int64? = nil
        let buf = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: TimeSpec.formattedLength)
        defer { buf.deallocate() }
        var t = Int64.random(in: -1_000_000_000_000_000_000 ... 1_000_000_000_000_000_000, using: &g)
        for _ in 0..<20_000 {
            t = t &+ Int64.random(in: -3_000_000 ... 400_000_000, using: &g)
            let n = TimeSpec.write(t, into: buf, second: &second)
            XCTAssertEqual(String(decoding: buf[..<n], as: UTF8.self), reference(t), "\(t)")
        }
    }

    func testOutputFormats() {
        var t = ResultTable(columns: ["pid", "argv"])
        t.append([.int(7), .list(["sh", "-c", "echo \"hi\", there"])])
        XCTAssertEqual(t.render(.json), "{\"pid\":7,\"argv\":[\"sh\",\"-c\",\"echo \\\"hi\\\", there\"]}\n")
        XCTAssertEqual(t.render(.csv), "pid,argv\r\n7,\"sh -c 'echo \"\"hi\"\", there'\"\r\n")
        XCTAssertTrue(t.render(.table).hasPrefix("PID  ARGV\n7    sh -c"))
    }
}
