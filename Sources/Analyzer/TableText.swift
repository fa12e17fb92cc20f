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
        let keep = layout.pick(t), rowCount = t.rows.count
        var cells = Cells(capacity: (rowCount + 1) * keep.count)
        for i in keep { cells.append(.text(t.columns[i].uppercased())) }
        for row in t.rows {
            for i in keep { cells.append(i < row.count ? row[i] : .null) }
        }
        let header = Array(cells.widths.prefix(keep.count))
        var widths = header
        if !keep.isEmpty {
            for (k, w) in cells.widths.enumerated() where w > widths[k % keep.count] { widths[k % keep.count] = w }
        }
        var limits = widths
        if let max = layout.width, !layout.wide, !keep.isEmpty { limits = fit(widths, header: header, into: max) }

        var out: [UInt8] = []
        lines(cells, lineCount: rowCount + 1, limits: limits, overflow: false, into: &out)
        if rowCount == 0 { out.append(contentsOf: "(no rows)\n".utf8) }
        for n in t.notes { out.append(contentsOf: "note: \(Value.terminalSafe(n))\n".utf8) }
        return out
    }

    /// `cells`' lines, each cell padded to its column's limit. A wider cell is shortened with
    /// "…", or, when `overflow` (a stream with no width to fit), written whole past its column.
    static func lines(_ cells: Cells, lineCount: Int, limits: [Int], overflow: Bool, into out: inout [UInt8]) {
        let columns = limits.count
        LineWriter.append(to: &out, cellBytes: cells.text.count, lines: lineCount, limits: limits) { w in
            cells.text.withUnsafeBufferPointer { text in
                var k = 0, start = 0
                for _ in 0..<lineCount {
                    for j in 0..<columns {
                        let end = cells.ends[k]
                        w.put(UnsafeBufferPointer(rebasing: text[start..<end]), width: cells.widths[k], limit: limits[j],
                              last: j == columns - 1, overflow: overflow)
                        start = end
                        k += 1
                    }
                    w.newline()
                }
            }
        }
    }

    /// Lines written straight into an array's spare capacity, reserved once for the most
    /// they can take: a cell's bytes, one more where "…" replaces what it cuts, and its
    /// padding (at most its column's limit and the gap), then a newline per line. Or, for a
    /// table too long to hold, into one buffer handed on whenever the next line might not fit.
    struct LineWriter {
        private let start: UnsafeMutablePointer<UInt8>
        private var p: UnsafeMutablePointer<UInt8>
        private let end: UnsafeMutablePointer<UInt8>
        private let spaces: UnsafeBufferPointer<UInt8>

        /// The most a line of cells of `cellBytes` in all takes.
        static func bound(cellBytes: Int, limits: [Int]) -> Int { cellBytes + limits.reduce(1) { $0 + $1 + 3 } }

        static func append(to out: inout [UInt8], cellBytes: Int, lines: Int, limits: [Int], _ body: (inout LineWriter) -> Void) {
            let bound = cellBytes + lines * bound(cellBytes: 0, limits: limits)
            let spaces = [UInt8](repeating: UInt8(ascii: " "), count: (limits.max() ?? 0) + 2)
            spaces.withUnsafeBufferPointer { spaces in
                var lines = [UInt8](unsafeUninitializedCapacity: bound) { buf, n in
                    var w = LineWriter(start: buf.baseAddress!, p: buf.baseAddress!, end: buf.baseAddress! + bound, spaces: spaces)
                    body(&w)
                    n = w.p - buf.baseAddress!
                }
                if out.isEmpty { swap(&out, &lines) } else { out.append(contentsOf: lines) }
            }
        }

        /// Lines through a buffer of `capacity` bytes: `body` calls `makeRoom` before each, and
        /// what is written goes to `flush` then and at the end. A long table's text is never all
        /// in memory: on a VM each page first touched costs microseconds.
        static func write(capacity: Int, limits: [Int], flush: (UnsafeBufferPointer<UInt8>) -> Void,
                          _ body: (inout LineWriter) -> Void) {
            let spaces = [UInt8](repeating: UInt8(ascii: " "), count: (limits.max() ?? 0) + 2)
            let buf = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
            defer { buf.deallocate() }
            spaces.withUnsafeBufferPointer { spaces in
                var w = LineWriter(start: buf, p: buf, end: buf + capacity, spaces: spaces)
                body(&w)
                flush(UnsafeBufferPointer(start: buf, count: w.p - buf))
            }
        }

        /// Hands on what is written unless `bytes` more fit.
        @inline(__always)
        mutating func makeRoom(_ bytes: Int, _ flush: (UnsafeBufferPointer<UInt8>) -> Void) {
            guard end - p < bytes, p > start else { return }
            flush(UnsafeBufferPointer(start: start, count: p - start))
            p = start
        }

        @inline(__always) private mutating func copy(_ b: UnsafeBufferPointer<UInt8>) {
            guard let base = b.baseAddress, !b.isEmpty else { return }
            // The bound holds for the cells that were measured; anything else stops here.
            precondition(end - p >= b.count, "a table line outgrew the room measured for it")
            p.update(from: base, count: b.count)
            p += b.count
        }

        mutating func newline() {
            precondition(p < end, "a table line outgrew the room measured for it")
            p.pointee = UInt8(ascii: "\n")
            p += 1
        }

        /// One cell: padded to `limit` (unless it is the line's last), or shortened with "…"
        /// when wider (written whole past its column when `overflow`).
        @inline(__always)
        mutating func put(_ cell: UnsafeBufferPointer<UInt8>, width w: Int, limit: Int, last: Bool, overflow: Bool) {
            if w <= limit {
                copy(cell)
                if !last { copy(UnsafeBufferPointer(rebasing: spaces[0..<(limit - w + 2)])) }
                return
            }
            if overflow {
                copy(cell)
            } else if w == cell.count {
                copy(UnsafeBufferPointer(rebasing: cell[..<(limit - 1)]))
                TableText.ellipsis.withUnsafeBufferPointer { copy($0) }
            } else {
                shortened(cell[...], to: limit).withUnsafeBufferPointer { copy($0) }
            }
            if !last { copy(UnsafeBufferPointer(rebasing: spaces[0..<2])) }
        }
    }

    /// `t`'s columns and notes around `rowCount` rows whose cells `row` gives straight from
    /// their source: for row r, the cells of the columns `layout` picks, in that order, each
    /// as UTF-8 to `cell` (`safeCell` makes it terminal-safe). Called twice a row, once for
    /// the widths (`measuring`: a cell of known width may be given as any text of its bytes)
    /// and once to write the line: no cell is copied before its line is written, and the
    /// lines go to `out` a buffer at a time.
    static func render(_ t: ResultTable, rowCount: Int, _ layout: TableLayout,
                       row: (_ r: Int, _ measuring: Bool, _ cell: (UnsafeBufferPointer<UInt8>) -> Void) -> Void,
                       to out: (UnsafeBufferPointer<UInt8>) -> Void) {
        let keep = layout.pick(t)
        let names = keep.map { Array(t.columns[$0].uppercased().utf8) }
        var widths = names.map(\.count), widestLine = names.reduce(0) { $0 + $1.count }
        let header = widths
        // Rows whose every cell is printable ASCII are written without scanning them again.
        var plain = [Bool](repeating: true, count: rowCount)
        for r in 0..<rowCount {
            var j = 0, bytes = 0
            row(r, true) { u in
                if isPlain(u) {
                    if u.count > widths[j] { widths[j] = u.count }
                    bytes += u.count
                } else {
                    plain[r] = false
                    safeCell(u) { safe, w in
                        if w > widths[j] { widths[j] = w }
                        bytes += safe.count
                    }
                }
                j += 1
            }
            if bytes > widestLine { widestLine = bytes }
        }
        var limits = widths
        if let max = layout.width, !layout.wide, !keep.isEmpty { limits = fit(widths, header: header, into: max) }

        let lineBound = LineWriter.bound(cellBytes: widestLine, limits: limits)
        LineWriter.write(capacity: max(1 << 18, lineBound), limits: limits, flush: out) { w in
            w.makeRoom(lineBound, out)
            for (j, name) in names.enumerated() {
                name.withUnsafeBufferPointer { w.put($0, width: $0.count, limit: limits[j], last: j == keep.count - 1, overflow: false) }
            }
            w.newline()
            for r in 0..<rowCount {
                w.makeRoom(lineBound, out)
                var j = 0
                if plain[r] {
                    row(r, false) { u in
                        w.put(u, width: u.count, limit: limits[j], last: j == keep.count - 1, overflow: false)
                        j += 1
                    }
                } else {
                    row(r, false) { u in
                        safeCell(u) { safe, width in w.put(safe, width: width, limit: limits[j], last: j == keep.count - 1, overflow: false) }
                        j += 1
                    }
                }
                w.newline()
            }
        }
        var end: [UInt8] = []
        if rowCount == 0 { end.append(contentsOf: "(no rows)\n".utf8) }
        for n in t.notes { end.append(contentsOf: "note: \(Value.terminalSafe(n))\n".utf8) }
        end.withUnsafeBufferPointer { out($0) }
    }

    /// `render`'s table as one array.
    static func render(_ t: ResultTable, rowCount: Int, _ layout: TableLayout,
                       row: (_ r: Int, _ measuring: Bool, _ cell: (UnsafeBufferPointer<UInt8>) -> Void) -> Void) -> [UInt8] {
        var all: [UInt8] = []
        render(t, rowCount: rowCount, layout, row: row) { all.append(contentsOf: $0) }
        return all
    }

    /// A cell's terminal-safe UTF-8 and display width: printable ASCII as it is, anything
    /// else through `Value.terminalSafe` (as `Cells.append` makes it).
    @inline(__always)
    static func safeCell(_ u: UnsafeBufferPointer<UInt8>, _ body: (UnsafeBufferPointer<UInt8>, Int) -> Void) {
        if isPlain(u) { return body(u, u.count) }
        var safe = Value.terminalSafe(String(decoding: u, as: UTF8.self))
        let w = width(safe)
        safe.withUTF8 { body($0, w) }
    }

    /// Whether every byte is printable ASCII other than a backslash: eight bytes at a time,
    /// four eights a step (a table's cells are all scanned once to measure them).
    static func isPlain(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = u.baseAddress else { return true }
        let p = UnsafeRawPointer(base), n = u.count
        func word(_ i: Int) -> UInt64 { p.loadUnaligned(fromByteOffset: i, as: UInt64.self) }
        var i = 0
        while i + 32 <= n {
            if escaped(word(i)) | escaped(word(i + 8)) | escaped(word(i + 16)) | escaped(word(i + 24)) != 0 { return false }
            i += 32
        }
        while i + 8 <= n {
            if escaped(word(i)) != 0 { return false }
            i += 8
        }
        guard i < n else { return true }
        // The last eight bytes (some seen already), when there are eight.
        if n >= 8 { return escaped(word(n - 8)) == 0 }
        while i < n {
            let b = base[i]
            if b < 0x20 || b >= 0x7F || b == UInt8(ascii: "\\") { return false }
            i += 1
        }
        return true
    }

    /// The high bit of each byte of `x` that is below 0x20, at or above 0x7F (0x7F + 1, or a
    /// high bit already), or a backslash; never of one that is none.
    @inline(__always)
    private static func escaped(_ x: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101, highs = ones &* 0x80
        let control = (x &- ones &* 0x20) & ~x
        let high = (x &+ ones) | x
        let b = x ^ (ones &* 0x5C)
        let backslash = (b &- ones) & ~b
        return (control | high | backslash) & highs
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
