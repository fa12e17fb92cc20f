import Foundation
import XCTest

/// Format is the only owner of SQL: the analyzer, the recorder and the commands read and
/// write through its typed functions. A source scan, as no type stops another module from
/// calling `Database.prepare` (the tests do, to check what was written).
final class SQLOwnerTests: XCTestCase {
    static let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Sources")

    /// What marks SQL in Swift source: a statement's words (upper case, as every statement here is
    /// written), a Database entry point called on a `db`, a literal handed to one, SQLite itself.
    static let patterns: [(what: String, regex: NSRegularExpression)] = [
        ("an SQL statement", #"\b(SELECT\b[\s\S]{0,400}?\bFROM|INSERT (OR \w+ )?INTO|UPDATE \w+ SET|DELETE FROM|(CREATE|DROP)( TEMP| UNIQUE)? (TABLE|INDEX|VIEW|TRIGGER)|PRAGMA \w+|ATTACH DATABASE)\b"#),
        ("a Database call", #"\bdb\.(prepare|execute|scalar|column)\("#),
        ("a string handed to prepare/execute/scalar/column", #"\.(prepare|execute|scalar|column)\(\s*#*""#),
        ("SQLite's C API", #"\bimport CSQLite\b|\bsqlite3_\w+\("#),
    ].map { ($0.0, try! NSRegularExpression(pattern: $0.1)) }

    static func findings(in text: String) -> [(line: Int, what: String)] {
        var out: [(Int, String)] = []
        for (what, regex) in patterns {
            for m in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                let upTo = text[..<Range(m.range, in: text)!.lowerBound]
                out.append((upTo.filter { $0 == "\n" }.count + 1, what))
            }
        }
        return out
    }

    /// The scan finds what it is meant to, so a clean result means something.
    func testScanFindsSQL() {
        XCTAssertEqual(Self.findings(in: #"let st = try reader.db.prepare("SELECT pid FROM process_fork")"#).count, 3)
        XCTAssertEqual(Self.findings(in: "let sql = \"\"\"\n    INSERT INTO dns (pid) VALUES (?)\n    \"\"\"").map(\.line), [2])
        XCTAssertEqual(Self.findings(in: "try database.execute(query)\ntry db.execute(query)").map(\.line), [2])
        XCTAssertEqual(Self.findings(in: "nat?.prepare(for: conns); tracker.prepare(obj) // select the rows from the index").count, 0)
    }

    func testNoSQLOutsideFormat() throws {
        let files = try XCTUnwrap(FileManager.default.enumerator(at: Self.sources, includingPropertiesForKeys: nil))
            .compactMap { $0 as? URL }.filter { $0.pathExtension == "swift" }
        let format = Self.sources.appendingPathComponent("Format").standardizedFileURL.path + "/"
        var scanned = 0
        for file in files where !file.standardizedFileURL.path.hasPrefix(format) {
            let text = try String(contentsOf: file, encoding: .utf8)
            scanned += 1
            for f in Self.findings(in: text) {
                XCTFail("\(file.path):\(f.line): \(f.what) outside Sources/Format: give Format a typed reader or writer for it")
            }
        }
        XCTAssertGreaterThan(scanned, 50, "the scan found no sources under \(Self.sources.path)")
    }
}
