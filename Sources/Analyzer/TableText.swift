/// The aligned table: chosen columns, each cell made terminal-safe once, widths measured once,
/// and the widest columns shortened (with a visible "…") until a line fits the layout's width.
/// Built as bytes, every cell back to back in one buffer: a busy second's timeline is tens of
/// thousands of lines, and a String per cell was most of the work.
enum TableText {
    static let ellipsis = Array("…".utf8)

    /// Display width: one per scalar (ASCII costs a byte count).
    @inline(__always)
    static func width(_ s: String) -> Int {
        var ascii = true
        for b in s.utf8 where b >= 0x80 { ascii = false; break }
        return ascii ? s.utf8.count : s.unicodeScalars.count
    }

    static func render(_ t: ResultTable, _ layout: TableLayout) -> [UInt8] {
        render(t, rowCount: t.rows.count, layout) { cells, keep in
            for row in t.rows {
                for i in keep { cells.append(i < row.count ? row[i] : .null) }
            }
        }
    }

    /// `t`'s columns and notes around `rowCount` rows that `fill` gives as cells: each row's
    /// cells of the columns `keep` names, in that order (an answer whose rows are not Values).
    /// `textBytes`, when known, is about how many bytes the cells hold.
    static func render(_ t: ResultTable, rowCount: Int, textBytes: Int? = nil, _ layout: TableLayout,
                       rows fill: (inout Cells, [Int]) -> Void) -> [UInt8] {
        let keep = layout.pick(t)
        var cells = Cells(capacity: (rowCount + 1) * keep.count, textBytes: textBytes)
        for i in keep { cells.append(.text(t.columns[i].uppercased())) }
        fill(&cells, keep)
        let header = Array(cells.widths.prefix(keep.count))
        var widths = header
        if !keep.isEmpty {
            for (k, w) in cells.widths.enumerated() where w > widths[k % keep.count] { widths[k % keep.count] = w }
        }
        var limits = widths
        if let max = layout.width, !layout.wide, !keep.isEmpty { limits = fit(widths, header: header, into: max) }

        var out: [UInt8] = []
        out.reserveCapacity(cells.text.count + (2 * keep.count + 1) * (rowCount + 1) + 64 * t.notes.count)
        lines(cells, lineCount: rowCount + 1, limits: limits, overflow: false, into: &out)
        if rowCount == 0 { out.append(contentsOf: "(no rows)\n".utf8) }
        for n in t.notes { out.append(contentsOf: "note: \(Value.terminalSafe(n))\n".utf8) }
        return out
    }

    /// `cells`' lines, each cell padded to its column's limit. A wider cell is shortened with
    /// "…", or, when `overflow` (a stream with no width to fit), written whole past its column.
    static func lines(_ cells: Cells, lineCount: Int, limits: [Int], overflow: Bool, into out: inout [UInt8]) {
        let columns = limits.count
        let spaces = [UInt8](repeating: UInt8(ascii: " "), count: (limits.max() ?? 0) + 2)
        spaces.withUnsafeBufferPointer { spaces in
            cells.text.withUnsafeBufferPointer { text in
                var k = 0, start = 0
                for _ in 0..<lineCount {
                    for j in 0..<columns {
                        let end = cells.ends[k]
                        put(UnsafeBufferPointer(rebasing: text[start..<end]), width: cells.widths[k], limit: limits[j],
                            last: j == columns - 1, overflow: overflow, spaces: spaces, into: &out)
                        start = end
                        k += 1
                    }
                    out.append(UInt8(ascii: "\n"))
                }
            }
        }
    }

    /// One cell of a line: padded to `limit` (unless it is the line's last), or shortened with
    /// "…" when wider (written whole past its column when `overflow`).
    @inline(__always)
    static func put(_ cell: UnsafeBufferPointer<UInt8>, width w: Int, limit: Int, last: Bool, overflow: Bool,
                    spaces: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        if w <= limit {
            out.append(contentsOf: cell)
            if !last { out.append(contentsOf: spaces[0..<(limit - w + 2)]) }
            return
        }
        if overflow {
            out.append(contentsOf: cell)
        } else if w == cell.count {
            out.append(contentsOf: cell[..<(limit - 1)])
            out.append(contentsOf: ellipsis)
        } else {
            out.append(contentsOf: shortened(cell[...], to: limit))
        }
        if !last { out.append(contentsOf: spaces[0..<2]) }
    }

    /// `t`'s columns and notes around `rowCount` rows whose cells `row` gives straight from
    /// their source: for row r, the cells of the columns `keep` names, in that order, each as
    /// UTF-8 to `cell` (`safeCell` makes it terminal-safe). Called twice a row, once for the
    /// widths (`measuring`: a cell of known width may be given as any text that wide) and
    /// once to write the line: no cell is copied before its line is written.
    static func render(_ t: ResultTable, rowCount: Int, _ layout: TableLayout,
                       row: (_ r: Int, _ keep: [Int], _ measuring: Bool, _ cell: (UnsafeBufferPointer<UInt8>) -> Void) -> Void) -> [UInt8] {
        let keep = layout.pick(t)
        let names = keep.map { Array(t.columns[$0].uppercased().utf8) }
        var widths = names.map(\.count)
        let header = widths
        for r in 0..<rowCount {
            var j = 0
            row(r, keep, true) { u in
                safeCell(u) { _, w in if w > widths[j] { widths[j] = w } }
                j += 1
            }
        }
        var limits = widths
        if let max = layout.width, !layout.wide, !keep.isEmpty { limits = fit(widths, header: header, into: max) }

        var out: [UInt8] = []
        out.reserveCapacity((limits.reduce(0, +) + 2 * keep.count + 1) * (rowCount + 1) + 64 * t.notes.count)
        let spaces = [UInt8](repeating: UInt8(ascii: " "), count: (limits.max() ?? 0) + 2)
        spaces.withUnsafeBufferPointer { spaces in
            for (j, name) in names.enumerated() {
                name.withUnsafeBufferPointer {
                    put($0, width: $0.count, limit: limits[j], last: j == keep.count - 1, overflow: false, spaces: spaces, into: &out)
                }
            }
            out.append(UInt8(ascii: "\n"))
            for r in 0..<rowCount {
                var j = 0
                row(r, keep, false) { u in
                    safeCell(u) { safe, w in
                        put(safe, width: w, limit: limits[j], last: j == keep.count - 1, overflow: false, spaces: spaces, into: &out)
                    }
                    j += 1
                }
                out.append(UInt8(ascii: "\n"))
            }
        }
        if rowCount == 0 { out.append(contentsOf: "(no rows)\n".utf8) }
        for n in t.notes { out.append(contentsOf: "note: \(Value.terminalSafe(n))\n".utf8) }
        return out
    }

    /// A cell's terminal-safe UTF-8 and display width: printable ASCII as it is, anything
    /// else through `Value.terminalSafe` (as `Cells.append` makes it).
    @inline(__always)
    static func safeCell(_ u: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        for b in u where b < 0x20 || b >= 0x7F || b == UInt8(ascii: "\\") {
            var safe = Value.terminalSafe(String(decoding: u, as: UTF8.self))
            let w = width(safe)
            safe.withUTF8 { body($0, w) }
            return
        }
        body(u, u.count)
    }

    /// Terminal-safe cell text, end offsets and display widths, in row order.
    struct Cells {
        var text: [UInt8] = []
        var ends: [Int] = []
        var widths: [Int] = []

        init(capacity: Int, textBytes: Int? = nil) {
            text.reserveCapacity(textBytes ?? capacity * 12)
            ends.reserveCapacity(capacity)
            widths.reserveCapacity(capacity)
        }

        mutating func append(_ v: Value) {
            switch v {
            case .text(let s): append(s)
            case .int(let i): append(String(i))
            case .null: append("-")
            case .command(let file, let argv): append(Value.commandText(file: file, argv: argv))
            default: append(v.plain)
            }
        }

        private mutating func append(_ s: String) {
            var s = s
            s.withUTF8 { append(utf8: $0) }
        }

        /// Printable ASCII goes in as it is; anything else through `Value.terminalSafe`.
        mutating func append(utf8 u: UnsafeBufferPointer<UInt8>) {
            TableText.safeCell(u) { safe, w in
                text.append(contentsOf: safe)
                widths.append(w)
            }
            ends.append(text.count)
        }
    }

    /// Column widths whose line fits `max`: one cap for every column, as high as fits (the
    /// widest give way first), but never under a column's header or a few characters.
    static func fit(_ widths: [Int], header: [Int], into max: Int) -> [Int] {
        let gaps = 2 * (widths.count - 1)
        func total(_ cap: Int) -> Int { zip(widths, header).reduce(gaps) { $0 + Swift.min($1.0, Swift.max(cap, $1.1, 8)) } }
        guard total(Int.max) > max else { return widths }
        var lo = 1, hi = widths.max() ?? 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if total(mid) <= max { lo = mid } else { hi = mid - 1 }
        }
        return zip(widths, header).map { Swift.min($0.0, Swift.max(lo, $0.1, 8)) }
    }

    /// The first `n - 1` display columns of `s` (not all ASCII) and "…".
    static func shortened(_ s: Slice<UnsafeBufferPointer<UInt8>>, to n: Int) -> [UInt8] {
        var out: [UInt8] = []
        var taken = 0
        for u in String(decoding: s, as: UTF8.self).unicodeScalars {
            if taken == n - 1 { break }
            out.append(contentsOf: String(u).utf8)
            taken += 1
        }
        return out + ellipsis
    }
}
