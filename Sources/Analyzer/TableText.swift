/// The aligned table: chosen columns, each cell made terminal-safe once, widths measured once,
/// and the widest columns shortened (with a visible "…") until a line fits the layout's width.
/// Built as bytes: a busy second's timeline is tens of thousands of lines.
enum TableText {
    static let ellipsis = Array("…".utf8)

    /// Display width: one per scalar (ASCII costs a byte count).
    @inline(__always)
    static func width(_ s: String) -> Int {
        var ascii = true
        for b in s.utf8 where b >= 0x80 { ascii = false; break }
        return ascii ? s.utf8.count : s.unicodeScalars.count
    }

    static func render(_ t: ResultTable, _ layout: TableLayout) -> String {
        let keep = layout.pick(t)
        let header = keep.map { Value.terminalSafe(t.columns[$0].uppercased()) }
        var cells: [[String]] = []
        cells.reserveCapacity(t.rows.count)
        var widths = header.map(width)
        var cellWidths: [[Int]] = []
        cellWidths.reserveCapacity(t.rows.count)
        for row in t.rows {
            var r: [String] = [], w: [Int] = []
            r.reserveCapacity(keep.count); w.reserveCapacity(keep.count)
            for (j, i) in keep.enumerated() {
                let s = Value.terminalSafe(i < row.count ? row[i].plain : "-")
                let n = width(s)
                r.append(s); w.append(n)
                if n > widths[j] { widths[j] = n }
            }
            cells.append(r); cellWidths.append(w)
        }
        var limits = widths
        if let max = layout.width, !layout.wide, !keep.isEmpty { limits = fit(widths, header: header.map(width), into: max) }

        var out: [UInt8] = []
        out.reserveCapacity((widths.reduce(0, +) + 2 * keep.count + 1) * (cells.count + 1))
        func line(_ r: [String], _ w: [Int]) {
            for j in r.indices {
                let last = j == r.count - 1
                if w[j] <= limits[j] {
                    out.append(contentsOf: r[j].utf8)
                    if !last { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: limits[j] - w[j] + 2)) }
                } else {
                    out.append(contentsOf: shortened(r[j], ascii: w[j] == r[j].utf8.count, to: limits[j]))
                    if !last { out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2)) }
                }
            }
            out.append(UInt8(ascii: "\n"))
        }
        line(header, header.map(width))
        for (r, w) in zip(cells, cellWidths) { line(r, w) }
        if t.rows.isEmpty { out.append(contentsOf: "(no rows)\n".utf8) }
        for n in t.notes { out.append(contentsOf: "note: \(Value.terminalSafe(n))\n".utf8) }
        return String(decoding: out, as: UTF8.self)
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

    /// The first `n - 1` display columns of `s` and "…".
    static func shortened(_ s: String, ascii: Bool, to n: Int) -> [UInt8] {
        if ascii { return Array(s.utf8.prefix(n - 1)) + ellipsis }
        var out: [UInt8] = []
        var taken = 0
        for u in s.unicodeScalars {
            if taken == n - 1 { break }
            out.append(contentsOf: String(u).utf8)
            taken += 1
        }
        return out + ellipsis
    }
}
