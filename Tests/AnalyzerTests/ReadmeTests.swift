import Analyzer
import Foundation
import XCTest

/// The README's column reference is the column declarations, rendered: it cannot drift.
final class ReadmeTests: XCTestCase {
    static let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("README.md")
    static let open = "<!-- columns -->\n", close = "<!-- end columns -->"

    func testColumnReferenceIsGenerated() throws {
        let text = try String(contentsOf: Self.readme, encoding: .utf8)
        let a = try XCTUnwrap(text.range(of: Self.open), "README has no \(Self.open)")
        let b = try XCTUnwrap(text.range(of: Self.close, range: a.upperBound..<text.endIndex))
        let want = "\n" + Columns.markdown + "\n"
        if ProcessInfo.processInfo.environment["NT_WRITE_README"] == "1" {
            try (text[..<a.upperBound] + want + text[b.lowerBound...]).write(to: Self.readme, atomically: true, encoding: .utf8)
            return
        }
        XCTAssertEqual(String(text[a.upperBound..<b.lowerBound]), want,
                       "README's columns are out of date: NT_WRITE_README=1 scripts/test.sh ReadmeTests")
    }
}
