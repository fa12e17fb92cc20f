/// A table written a batch of rows at a time, so that a long answer (a whole capture's
/// timeline) is never held whole. The columns' widths are fixed by the first batch, the
/// header and `minimum` (what a column can hold, e.g. a pid's 7 digits), so that the lines
/// of later batches line up with the first. The last column takes what room the line has
/// left. A later cell wider than its column is shortened to fit a width, as a table's
/// widest cells are; with no width to fit (`--wide`), it is written whole, past its column.
/// JSON Lines and CSV have no widths: their rows are written as they come.
public struct TableStream {
    private let template: ResultTable
    private let format: OutputFormat
    private let layout: TableLayout
    private let minimum: [String: Int]
    private var limits: [Int] = []
    /// Whether the header is written.
    private var begun = false
    /// Rows written so far.
    public private(set) var count = 0
    /// Whether its rows are a table's lines (not JSON Lines or CSV).
    var writesTable: Bool { format == .table }

    public init(columns template: ResultTable, format: OutputFormat, layout: TableLayout, minimum: [String: Int] = [:]) {
        var t = template
        t.rows = []
        t.notes = []
        self.template = t
        self.format = format
        self.layout = layout
        self.minimum = minimum
    }

    /// The bytes of these rows (after the header, with the first rows).
    public mutating func write(_ rows: [[Value]]) -> [UInt8] {
        rows.isEmpty ? [] : batch(rows)
    }

    private mutating func batch(_ rows: [[Value]]) -> [UInt8] {
        switch format {
        case .json, .csv:
            var t = template
            t.rows = rows
            let first = !begun
            begun = true
            count += rows.count
            return format == .json ? Array(t.render(.json, layout).utf8) : Array(t.csv(layout, header: first).utf8)
        case .table:
            return table(rowCount: rows.count) { cells, keep in
                for row in rows {
                    for i in keep { cells.append(i < row.count ? row[i] : .null) }
                }
            }
        }
    }

    /// A table's next `rowCount` rows, which `fill` gives as cells (each row's cells of the
    /// columns `keep` names, in that order): for an answer whose rows are not Values.
    /// `textBytes`, when known, is about how many bytes the cells hold.
    mutating func write(rowCount: Int, textBytes: Int? = nil, _ fill: (inout TableText.Cells, [Int]) -> Void) -> [UInt8] {
        rowCount == 0 ? [] : table(rowCount: rowCount, textBytes: textBytes, fill)
    }

    private mutating func table(rowCount: Int, textBytes: Int? = nil, _ fill: (inout TableText.Cells, [Int]) -> Void) -> [UInt8] {
        let first = !begun
        begun = true
        count += rowCount
        let keep = layout.pick(template)
        var cells = TableText.Cells(capacity: (rowCount + 1) * keep.count, textBytes: textBytes)
        if first { for i in keep { cells.append(.text(template.columns[i].uppercased())) } }
        fill(&cells, keep)
        if first { limits = Self.limits(cells, keep.map { minimum[template.columns[$0]] ?? 0 }, layout) }
        var out: [UInt8] = []
        TableText.lines(cells, lineCount: rowCount + (first ? 1 : 0), limits: limits,
                        overflow: layout.width == nil || layout.wide, into: &out)
        return out
    }

    /// What ends the answer: a table's "(no rows)" and notes (JSON and CSV carry data only).
    public mutating func end(notes: [String]) -> [UInt8] {
        var out = begun || format == .json ? [] : batch([])
        guard format == .table else { return out }
        if count == 0 { out.append(contentsOf: "(no rows)\n".utf8) }
        for n in notes { out.append(contentsOf: "note: \(Value.terminalSafe(n))\n".utf8) }
        return out
    }

    /// Each column's width from the header and first rows, at least its minimum, fitted
    /// into the layout's width; the last column gets the rest of the line.
    private static func limits(_ cells: TableText.Cells, _ minimum: [Int], _ layout: TableLayout) -> [Int] {
        let n = minimum.count
        guard n > 0 else { return [] }
        let header = Array(cells.widths.prefix(n))
        var widths = zip(header, minimum).map { Swift.max($0, $1) }
        for (k, w) in cells.widths.enumerated() where w > widths[k % n] { widths[k % n] = w }
        guard let max = layout.width, !layout.wide else { return widths }
        var limits = TableText.fit(widths, header: header, into: max)
        let used = limits.dropLast().reduce(2 * (n - 1), +)
        limits[n - 1] = Swift.max(limits[n - 1], max - used)
        return limits
    }
}
