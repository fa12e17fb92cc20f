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

    /// A table written in batches is the table written whole when its first batch holds the
    /// widest cells; a later, wider cell is written whole when no width is to be fitted.
    func testATableWrittenInBatchesLinesUp() {
        var t = ResultTable(columns: ["pid", "comm", "detail"])
        t.append([.int(1234567), .text("longest-comm"), .text("a")])
        t.append([.int(1), .text("x"), .null])
        t.append([.int(22), .text("yy"), .text("the last column")])
        t.notes = ["a note"]
        for format in OutputFormat.allCases {
            var s = TableStream(columns: t, format: format, layout: .all)
            let bytes = s.write(Array(t.rows.prefix(1))) + s.write([]) + s.write(Array(t.rows.dropFirst())) + s.end(notes: t.notes)
            XCTAssertEqual(String(decoding: bytes, as: UTF8.self), t.render(format), "\(format)")
            XCTAssertEqual(s.count, 3)
        }
        var s = TableStream(columns: t, format: .table, layout: .all, minimum: ["pid": 7])
        let out = String(decoding: s.write([[.int(1), .text("x"), .text("d")]]) + s.write([[.int(7654321), .text("a-longer-comm"), .text("e")]]), as: UTF8.self)
        XCTAssertEqual(out, "PID      COMM  DETAIL\n1        x     d\n7654321  a-longer-comm  e\n")
        var empty = TableStream(columns: t, format: .table, layout: .all)
        XCTAssertEqual(String(decoding: empty.write([]) + empty.end(notes: []), as: UTF8.self), "PID  COMM  DETAIL\n(no rows)\n")
        var csv = TableStream(columns: t, format: .csv, layout: .all)
        XCTAssertEqual(String(decoding: csv.end(notes: ["n"]), as: UTF8.self), "pid,comm,detail\r\n")
    }

    func testJSONAndCSVKeepTheTextItself() {
        var t = ResultTable(columns: ["argv"])
        t.append([.list(hostile)])
        XCTAssertTrue(t.render(.json).contains("\\u001b[31mRED"))
        XCTAssertTrue(t.render(.csv).contains("\u{1B}[31mRED"))
    }

    /// A re-exec through /proc/self/exe: tables name the file before the argv; data keep the argv alone.
    /// A path's last component, by bytes: what splitting at "/" and dropping empty parts gives.
    /// A table whose cells are written straight from their source is the table of the same
    /// cells as rows, escapes, wide characters and shortening included, in every layout.
    func testATableWrittenFromItsCellsIsTheRowsTable() {
        let texts = ["plain", "esc\u{1B}[31mred", "é漢字 wide", "back\\slash", "tab\there", String(repeating: "long ", count: 40),
                     "ünïcödé " + String(repeating: "ß", count: 90), ""]
        // 4,000 rows are megabytes: written a buffer at a time.
        for count in [60, 4_000] {
            var t = ResultTable(columns: ["time", "pid", "comm", "detail"])
            for i in 0..<count {
                t.append([.text(texts[i % texts.count]), i % 7 == 0 ? .null : .text(String(i * 977)),
                          .text(texts[(i / 3) % texts.count]), .text(texts[(i * 5) % texts.count] + " " + texts[i % 3])])
            }
            t.notes = ["a note"]
            for layout in [TableLayout.all, TableLayout(width: 100), TableLayout(width: 40), TableLayout(width: 12),
                           TableLayout(columns: ["detail", "pid"], wide: false, width: 60), TableLayout(columns: nil, wide: true, width: 80)] {
                let keep = layout.pick(t)
                var buffers = 0, direct: [UInt8] = []
                TableText.render(t, rowCount: t.rows.count, layout, row: { r, _, cell in
                    for i in keep {
                        var s: String
                        switch t.rows[r][i] { case .text(let x): s = x; default: s = "-" }
                        s.withUTF8 { cell($0) }
                    }
                }, to: { direct.append(contentsOf: $0); buffers += 1 })
                XCTAssertEqual(String(decoding: direct, as: UTF8.self), t.render(.table, layout), "\(count) rows, \(layout)")
                if direct.count > 1 << 19 { XCTAssertGreaterThan(buffers, 2, "\(count) rows, \(layout)") }
            }
        }
    }

    /// The eight-bytes-at-a-time plainness test agrees with the byte rule, wherever in a
    /// cell a byte that needs escaping is.
    func testPlainCellScanIsTheByteRule() {
        var g = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x1F, 0x20, 0x21, 0x5B, 0x5C, 0x5D, 0x7E, 0x7F, 0x80, 0xC3, 0xFF]
        for _ in 0..<20_000 {
            var bytes = (0..<Int.random(in: 0...100, using: &g)).map { _ in UInt8.random(in: 0x20...0x7E, using: &g) }
            if !bytes.isEmpty, Bool.random(using: &g) {
                bytes[Int.random(in: 0..<bytes.count, using: &g)] = interesting.randomElement(using: &g)!
            }
            let rule = bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F && $0 != 0x5C }
            XCTAssertEqual(bytes.withUnsafeBufferPointer(TableText.isPlain), rule, "\(bytes)")
        }
    }

    func testPathLastComponent() {
        for p in ["", "/", "//", "a", "/a", "a/", "/usr/bin/curl", "/usr/bin/", "a//b", "./x", "/proc/self/fd/3", "/tmp/é/ü"] {
            XCTAssertEqual(PathText.lastComponent(p).map(String.init), p.split(separator: "/").last.map(String.init), p)
        }
    }

    func testAnExecWhoseArgv0DoesNotNameItsFileShowsBoth() {
        XCTAssertEqual(Value.argv(["/bin/sleep", "1"], file: "/bin/sleep"), .list(["/bin/sleep", "1"]))
        XCTAssertEqual(Value.argv(["sleep", "1"], file: "/usr/bin/sleep"), .list(["sleep", "1"]))
        var t = ResultTable(columns: ["argv"])
        t.append([Value.argv(["sleep", "0.05"], file: "/proc/self/exe")])
        t.append([Value.argv([], file: "/bin/true")])
        let table = t.render(.table)
        XCTAssertTrue(table.contains("/proc/self/exe: sleep 0.05"), table)
        XCTAssertTrue(table.contains("\n/bin/true"), table)
        XCTAssertTrue(t.render(.json).contains(#"{"argv":["sleep","0.05"]}"#), t.render(.json))
        XCTAssertTrue(t.render(.csv).contains("\r\nsleep 0.05\r\n"), t.render(.csv))
    }

    func table() -> ResultTable {
        var t = ResultTable(columns: [Column("pid", "", shown: true), Column("pod", ""), Column("empty", "", shown: true),
                                      Column("argv", "", shown: true)])
        for i in 0..<3 { t.append([.int(Int64(i)), .text("pod-\(i)"), .null, .list(Array(repeating: "word", count: 60) + ["é"])]) }
        return t
    }

    /// The default table: its declared columns (an all-empty one too: headers do not change with
    /// the rows), fitted to the width with a visible mark; --wide: everything, unshortened.
    func testTablesFitAndKeepTheirHeaders() {
        let t = table()
        let fitted = t.render(.table, TableLayout(width: 80))
        let lines = fitted.split(separator: "\n")
        XCTAssertEqual(lines[0].split(separator: " "), ["PID", "EMPTY", "ARGV"])
        XCTAssertTrue(lines.allSatisfy { $0.unicodeScalars.count <= 80 }, fitted)
        XCTAssertTrue(lines[1].hasPrefix("0    -      word word") && lines[1].hasSuffix("…"), fitted)
        let wide = t.render(.table, TableLayout(wide: true, width: 80))
        XCTAssertTrue(wide.hasPrefix("PID  POD    EMPTY  ARGV"), wide)
        XCTAssertFalse(wide.contains("…"), wide)
        XCTAssertTrue(wide.contains("word é"), wide)
        let chosen = t.render(.table, TableLayout(columns: ["argv", "pid"], width: 40))
        XCTAssertTrue(chosen.hasPrefix("ARGV"), chosen)
        XCTAssertTrue(chosen.split(separator: "\n").allSatisfy { $0.unicodeScalars.count <= 40 }, chosen)
        // Non-ASCII text is measured and shortened by character, not by byte.
        var u = ResultTable(columns: [Column("name", "", shown: true), Column("x", "", shown: true)])
        u.append([.text(String(repeating: "é", count: 30)), .int(1)])
        let short = u.render(.table, TableLayout(width: 20))
        XCTAssertTrue(short.split(separator: "\n").allSatisfy { $0.unicodeScalars.count <= 20 }, short)
    }

    /// JSON and CSV keep every column (or those -o names), data only: notes are the command's to print.
    func testMachineFormatsHoldDataOnly() {
        var t = table()
        t.notes = ["something to say"]
        t.limit(2)
        let json = t.render(.json)
        XCTAssertEqual(json.split(separator: "\n").count, 2)
        XCTAssertFalse(json.contains("note") || json.contains("something"), json)
        XCTAssertTrue(json.hasPrefix("{\"pid\":0,\"pod\":\"pod-0\",\"empty\":null,\"argv\":["), json)
        XCTAssertEqual(t.notes.first, "showing the first 2 of 3 rows (--limit)")
        XCTAssertEqual(t.render(.csv, TableLayout(columns: ["pod", "pid"])), "pod,pid\r\npod-0,0\r\npod-1,1\r\n")
        var d = ResultTable(columns: ["field", "value"])
        d.append([.text("duration_s"), .double(4.098)])
        XCTAssertEqual(d.render(.json), "{\"field\":\"duration_s\",\"value\":4.098}\n")
    }
}
