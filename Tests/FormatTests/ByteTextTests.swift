import Format
import XCTest

final class ByteTextTests: XCTestCase {
    func text(_ build: (inout ByteText) -> Void) -> String {
        var t = ByteText()
        build(&t)
        return t.string
    }

    func testIntegersAreSpelledAsStringSpellsThem() {
        let values: [Int64] = [0, 7, 10, 99, 100, 65535, -1, -10, .max, .min]
        for v in values { XCTAssertEqual(text { $0.add(v) }, String(v)) }
        XCTAssertEqual(text { $0.add(UInt64.max) }, String(UInt64.max))
        XCTAssertEqual(text { $0.add(Int32.min) }, String(Int32.min))
        XCTAssertEqual(text { $0.add(UInt16(443)) }, "443")
    }

    func testEndpointsAreSpelledAsNATEndpointSpellsThem() {
        XCTAssertEqual(text { $0.endpoint("10.0.0.1", 80) }, "10.0.0.1:80")
        XCTAssertEqual(text { $0.endpoint("fd00::1", 443) }, "[fd00::1]:443")
        XCTAssertEqual(text { $0.endpoint("fd00::1", nil) }, "fd00::1")
        XCTAssertEqual(NATEndpoint.text("fd00::1", 443), "[fd00::1]:443")
    }

    func testTruncateDropsWhatCameToNothing() {
        XCTAssertEqual(text { t in
            t.add("a -> b")
            let before = t.count
            t.add(" nat ")
            t.truncate(to: before)
            t.add(" sent ")
            t.add(UInt64(3))
        }, "a -> b sent 3")
    }
}
