/// One column of an answer: its name, what it means, and whether the default table shows it.
/// Each query declares its columns once; `--help`, the README's column docs and the table's
/// default selection all read that declaration.
public struct Column: Sendable {
    public let name: String
    public let meaning: String
    /// In the default table: the columns that answer the subcommand's question.
    public let shown: Bool

    public init(_ name: String, _ meaning: String, shown: Bool = false) {
        self.name = name; self.meaning = meaning; self.shown = shown
    }
}

extension Array where Element == Column {
    public var names: [String] { map(\.name) }
    public var defaultNames: [String] { filter(\.shown).map(\.name) }

    /// "name: meaning" lines, default ones marked: what `--help` appends.
    public var helpText: String {
        "Columns (* in the default table; --wide for all, -o a,b,c to choose):\n"
            + map { "  \($0.shown ? "*" : " ") \($0.name): \($0.meaning)" }.joined(separator: "\n")
    }

    /// A Markdown table of the columns: what the README's column reference holds.
    public var markdown: String {
        "| column | default | meaning |\n|---|---|---|\n"
            + map { "| `\($0.name)` | \($0.shown ? "yes" : "") | \($0.meaning.replacingPipes) |" }.joined(separator: "\n") + "\n"
    }
}

private extension String {
    var replacingPipes: String { split(separator: "|", omittingEmptySubsequences: false).joined(separator: "\\|") }
}

/// Which columns a table shows and how wide it may be.
public struct TableLayout: Sendable {
    /// Columns asked for by name (`-o`); nil: the table's default set, or every column when `wide`.
    public var columns: [String]?
    public var wide: Bool
    /// At most this many display columns per line (nil, or `wide`: no limit).
    public var width: Int?

    public init(columns: [String]? = nil, wide: Bool = false, width: Int? = nil) {
        self.columns = columns; self.wide = wide; self.width = width
    }

    /// Every column, never shortened: what library callers and tests get by default.
    public static let all = TableLayout(wide: true)

    /// The names this layout picks from a table's columns.
    func pick(_ table: ResultTable) -> [Int] {
        if let columns { return columns.compactMap { table.columns.firstIndex(of: $0) } }
        if wide { return Array(table.columns.indices) }
        let d = table.defaultColumns ?? table.columns
        return table.columns.indices.filter { d.contains(table.columns[$0]) }
    }
}

/// A column name the table does not have: one line listing those it has.
public struct UnknownColumnError: Error, CustomStringConvertible {
    public let name: String
    public let valid: [String]
    public var description: String { "-o \(name): no such column (columns: \(valid.joined(separator: ",")))" }

    /// Checks `-o a,b,c` against a query's columns before anything is read.
    public static func check(_ list: [String], against columns: [Column]) throws {
        for n in list where !columns.names.contains(n) { throw UnknownColumnError(name: n, valid: columns.names) }
    }
}
