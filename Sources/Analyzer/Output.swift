import Foundation

/// One cell of query output; typed so JSON keeps numbers as numbers.
public enum Value: Sendable, Equatable {
    case text(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    case list([String])
    /// A program as run whose argv[0] does not name the file it ran (a re-exec through
    /// /proc/self/exe or a descriptor; see `commandText`): tables show both, data the argv alone.
    case command(file: String, argv: [String])
    case null

    /// argv as a value: `.command` when argv[0] does not name `file`, else the list.
    static func argv(_ argv: [String], file: String) -> Value {
        guard let first = argv.first, baseName(first) == baseName(file) else { return .command(file: file, argv: argv) }
        return .list(argv)
    }

    /// argv as run, shell-quoted; the file first ("FILE: ARGS") when argv[0] does not name
    /// it, the file alone without argv: the one rule for showing an exec.
    static func commandText(file: String, argv: [String]) -> String {
        let args = argv.map(Value.shellWord).joined(separator: " ")
        guard let first = argv.first else { return file }
        return baseName(first) == baseName(file) ? args : "\(file): \(args)"
    }

    private static func baseName(_ p: String) -> Substring { PathText.lastComponent(p) ?? Substring(p) }

    var plain: String {
        switch self {
        case .text(let s): return s
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? String(d) : "-"
        case .bool(let b): return b ? "true" : "false"
        case .list(let l), .command(_, let l): return l.map(Value.shellWord).joined(separator: " ")
        case .null: return "-"
        }
    }

    var json: String {
        switch self {
        case .text(let s): return Value.jsonString(s)
        case .int(let i): return String(i)
        case .double(let d): return d.isFinite ? String(d) : "null"
        case .bool(let b): return b ? "true" : "false"
        case .list(let l), .command(_, let l): return "[" + l.map(Value.jsonString).joined(separator: ",") + "]"
        case .null: return "null"
        }
    }

    /// What a terminal may be shown of text that came from the capture (argv, comm, paths, names:
    /// whatever the traced programs chose): control characters (C0, DEL, C1) and the backslash are
    /// written as escapes, so no cell can move the cursor, recolour or retitle the responder's
    /// terminal, or break its row over two lines.
    static func terminalSafe(_ s: String) -> String {
        // Bytes first: C1 controls are U+0080...U+009F, which UTF-8 writes as 0xC2 0x80...0x9F.
        func suspect(_ b: UInt8) -> Bool { b < 0x20 || b == 0x7F || b == UInt8(ascii: "\\") || b == 0xC2 }
        guard s.utf8.withContiguousStorageIfAvailable({ $0.contains(where: suspect) }) ?? s.utf8.contains(where: suspect),
              s.unicodeScalars.contains(where: { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) || $0 == "\\" })
        else { return s }
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{1B}": out += "\\e"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
                } else if u.value >= 0x80 && u.value < 0xA0 {
                    out += "\\u" + String(u.value, radix: 16, uppercase: false).leftPadded(4)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out
    }

    static func shellWord(_ s: String) -> String {
        if !s.isEmpty, s.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,@+%".contains($0) }) { return s }
        return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16) }
                else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}

public enum OutputFormat: String, Sendable, CaseIterable {
    case table, json, csv
}

/// Rows with named columns, rendered as an aligned table, JSON Lines or CSV.
/// One stretch of a streamed answer: its rows as Values (JSON, CSV, row filters), or its
/// first rows written straight into a stream's table.
public protocol StreamedRows {
    var rowCount: Int { get }
    var rows: [[Value]] { get }
    func table(into stream: inout TableStream, rows: Int) -> [UInt8]
}

extension Array: StreamedRows where Element == [Value] {
    public var rowCount: Int { count }
    public var rows: [[Value]] { self }
    public func table(into stream: inout TableStream, rows n: Int) -> [UInt8] { stream.write(Array(prefix(n))) }
}

public struct ResultTable: Sendable {
    public var columns: [String]
    /// The columns the default table shows (nil: all of them).
    public var defaultColumns: [String]?
    public var rows: [[Value]] = []
    /// What the answer cannot be sure of, or why it is empty. A table prints them after its rows;
    /// JSON and CSV carry data only, and the command writes these on stderr.
    public var notes: [String] = []

    public init(columns: [String]) { self.columns = columns }
    public init(columns: [Column]) {
        self.columns = columns.names
        defaultColumns = columns.defaultNames
    }

    public mutating func append(_ row: [Value]) { rows.append(row) }

    /// Keeps the first `n` rows, and says how many there were.
    public mutating func limit(_ n: Int) {
        guard rows.count > n else { return }
        notes.insert("showing the first \(n) of \(rows.count) rows (--limit)", at: 0)
        rows.removeLast(rows.count - n)
    }

    public func render(_ format: OutputFormat, _ layout: TableLayout = .all) -> String {
        switch format {
        case .table: return String(decoding: TableText.render(self, layout), as: UTF8.self)
        case .json: return jsonLines(layout)
        case .csv: return csv(layout, header: true)
        }
    }

    /// The rendered answer as UTF-8, ready for stdout (a table is built as bytes).
    public func renderBytes(_ format: OutputFormat, _ layout: TableLayout = .all) -> [UInt8] {
        format == .table ? TableText.render(self, layout) : Array(render(format, layout).utf8)
    }

    private func picked(_ layout: TableLayout) -> [Int] {
        layout.columns.map { $0.compactMap { columns.firstIndex(of: $0) } } ?? Array(columns.indices)
    }

    private func jsonLines(_ layout: TableLayout) -> String {
        let keep = picked(layout)
        var out = ""
        for row in rows {
            out += "{" + keep.map { Value.jsonString(columns[$0]) + ":" + ($0 < row.count ? row[$0].json : "null") }
                .joined(separator: ",") + "}\n"
        }
        return out
    }

    func csv(_ layout: TableLayout, header: Bool) -> String {
        let keep = picked(layout)
        func cell(_ s: String) -> String {
            s.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        let lines = (header ? [keep.map { cell(columns[$0]) }.joined(separator: ",")] : [])
            + rows.map { row in keep.map { $0 < row.count && row[$0] != .null ? cell(row[$0].plain) : "" }.joined(separator: ",") }
        return lines.map { $0 + "\r\n" }.joined()
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
