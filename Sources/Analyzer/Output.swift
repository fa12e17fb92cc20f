import Foundation

/// One cell of query output; typed so JSON keeps numbers as numbers.
public enum Value: Sendable, Equatable {
    case text(String)
    case int(Int64)
    case bool(Bool)
    case list([String])
    case null

    var plain: String {
        switch self {
        case .text(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .list(let l): return l.map(Value.shellWord).joined(separator: " ")
        case .null: return "-"
        }
    }

    var json: String {
        switch self {
        case .text(let s): return Value.jsonString(s)
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .list(let l): return "[" + l.map(Value.jsonString).joined(separator: ",") + "]"
        case .null: return "null"
        }
    }

    /// What a terminal may be shown of text that came from the capture (argv, comm, paths, names:
    /// whatever the traced programs chose): control characters (C0, DEL, C1) and the backslash are
    /// written as escapes, so no cell can move the cursor, recolour or retitle the responder's
    /// terminal, or break its row over two lines.
    static func terminalSafe(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || ($0.value >= 0x7F && $0.value < 0xA0) || $0 == "\\" })
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
public struct ResultTable: Sendable {
    public var columns: [String]
    public var rows: [[Value]] = []
    /// Lines printed after a table (and as `{"note": …}` objects in JSON): what the answer cannot be sure of.
    public var notes: [String] = []

    public init(columns: [String]) { self.columns = columns }

    public mutating func append(_ row: [Value]) { rows.append(row) }

    public func render(_ format: OutputFormat) -> String {
        switch format {
        case .json:
            var lines = rows.map { row in
                "{" + zip(columns, row).map { Value.jsonString($0) + ":" + $1.json }.joined(separator: ",") + "}"
            }
            lines += notes.map { "{\"note\":\(Value.jsonString($0))}" }
            return lines.map { $0 + "\n" }.joined()
        case .csv:
            func cell(_ s: String) -> String {
                s.contains(where: { ",\"\n\r".contains($0) }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
            }
            let lines = [columns.map(cell).joined(separator: ",")]
                + rows.map { $0.map { $0 == .null ? "" : cell($0.plain) }.joined(separator: ",") }
            return lines.map { $0 + "\r\n" }.joined()
        case .table:
            // A column with no value in any row is noise on a terminal; JSON and CSV keep it.
            let keep = columns.indices.filter { i in rows.isEmpty || rows.contains { i < $0.count && $0[i] != .null } }
            let header = keep.map { Value.terminalSafe(columns[$0].uppercased()) }
            let cells = rows.map { row in keep.map { Value.terminalSafe(row[$0].plain) } }
            var widths = header.map(\.count)
            for r in cells { for (i, c) in r.enumerated() where i < widths.count - 1 { widths[i] = max(widths[i], c.count) } }
            func line(_ r: [String]) -> String {
                r.enumerated().map { i, c in i == r.count - 1 ? c : c + String(repeating: " ", count: widths[i] - c.count) }
                    .joined(separator: "  ")
            }
            var out = ([header] + cells).map { line($0) + "\n" }.joined()
            if rows.isEmpty { out += "(no rows)\n" }
            for n in notes { out += "note: \(Value.terminalSafe(n))\n" }
            return out
        }
    }
}

private extension String {
    func leftPadded(_ n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
