@testable import Analyzer
import XCTest

/// Text a traced program chose (its argv, comm, paths) reaches a responder's terminal only escaped.
final class OutputTests: XCTestCase {
    /// The argv of `sh -c true $'\e[31mRED\e[0m' $'\e]0;pwned\a' $'line1\nline2'`, and a C1 CSI.
    let hostile = ["sh", "-c", "true", "\u{1B}[31mRED\u{1B}[0m", "\u{1B}]0;pwned\u{07}", "line1\nline2", "\u{9B}2J", "a\\nb"]

    func testTableCellsCarryNoControlCharactersAndOneRowIsOneLine() {
        var t = ResultTable(columns: ["pid", "comm", "argv"])
        t.append([.int(1), .text("x\u{1B}[2Jy\r"), .list(hostile)])
        t.append([.int(2), .text("tab\there"), .text("\u{7F}del")])
        t.notes = ["note with \u{1B}]0;title\u{07}"]
        let out = t.render(.table)
        let bytes = Array(out.utf8)
        XCTAssertFalse(bytes.contains { $0 < 0x20 && $0 != 0x0A }, out)
        XCTAssertFalse(out.unicodeScalars.contains { $0.value >= 0x7F && $0.value < 0xA0 }, out)
        // header, two rows, one note
        XCTAssertEqual(out.split(separator: "\n", omittingEmptySubsequences: false).count - 1, 4, out)
        XCTAssertTrue(out.contains("\\e[31mRED\\e[0m"), out)
        XCTAssertTrue(out.contains("\\e]0;pwned\\x07"), out)
        XCTAssertTrue(out.contains("line1\\nline2"), out)
        XCTAssertTrue(out.contains("\\u009b2J"), out)
        // A backslash the program wrote is not mistaken for an escape.
        XCTAssertTrue(out.contains("a\\\\nb"), out)
        XCTAssertTrue(out.contains("tab\\there"), out)
        XCTAssertTrue(out.contains("\\x7fdel"), out)
    }

    func testJSONAndCSVKeepTheTextItself() {
        var t = ResultTable(columns: ["argv"])
        t.append([.list(hostile)])
        XCTAssertTrue(t.render(.json).contains("\\u001b[31mRED"))
        XCTAssertTrue(t.render(.csv).contains("\u{1B}[31mRED"))
    }
}
