@testable import Analyzer
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

    func testRejectsNonsense() {
        for bad in ["", "yesterday", "2026-13-01T00:00:00Z", "2026-11-26T21:39:26", "1.2.3", "1795729166.1234567891", "-5"] {
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

    func testOutputFormats() {
        var t = ResultTable(columns: ["pid", "argv"])
        t.append([.int(7), .list(["sh", "-c", "echo \"hi\", there"])])
        XCTAssertEqual(t.render(.json), "{\"pid\":7,\"argv\":[\"sh\",\"-c\",\"echo \\\"hi\\\", there\"]}\n")
        XCTAssertEqual(t.render(.csv), "pid,argv\r\n7,\"sh -c 'echo \"\"hi\"\", there'\"\r\n")
        XCTAssertTrue(t.render(.table).hasPrefix("PID  ARGV\n7    sh -c"))
    }
}
