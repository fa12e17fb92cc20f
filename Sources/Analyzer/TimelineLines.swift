import Format

/// A timeline's lines before they are text. Each line's texts are ranges of one shared
/// buffer, so a line holds no reference: a busy second is tens of thousands of lines, and a
/// String and a row of Values for each would be most of an answer's time.
struct TimelineLines {
    /// The EVENT column's values (`TimelineQuery.kindEvents` names groups of them for `--kind`).
    enum Event: UInt8, CaseIterable {
        case fork, exec, exit, tcpConnect, tcpAccept, tcpOpen, tcpOpenAtStart, tcpClose, udpSend, udpReceive, udpEnd

        /// Each event's name as UTF-8, by raw value.
        static let names: [[UInt8]] = allCases.map { Array($0.name.utf8) }

        var name: String {
            switch self {
            case .fork: "fork"
            case .exec: "exec"
            case .exit: "exit"
            case .tcpConnect: "tcp connect"
            case .tcpAccept: "tcp accept"
            case .tcpOpen: "tcp open"
            case .tcpOpenAtStart: "tcp open at start"
            case .tcpClose: "tcp close"
            case .udpSend: "udp flow (send)"
            case .udpReceive: "udp flow (recv)"
            case .udpEnd: "udp flow end"
            }
        }
    }

    struct Line {
        var ts: UInt64
        /// Among lines of one moment: fork, exec, a connection's lines, exit.
        var order: UInt8
        var event: Event
        var pid: UInt32?
        /// Ranges of `text`.
        var comm: Range<Int>
        var container: Range<Int>?
        var detail: Range<Int>
        /// Where the connection's NAT translation begins in its detail (nil: none): a
        /// stored line shown without NAT ends there.
        var natAt: Int? = nil
        /// Its owner's image may have been replaced by a lost exec (ImageLossNotes).
        var uncertainImage = false
    }

    var items: [Line] = []
    var text = ByteText(capacity: 1 << 16)
    /// Each container's text, once.
    private var containers: [String: Range<Int>] = [:]

    /// A line whose detail `detail` writes (its NAT translation, if any, found as an offset
    /// into what it writes).
    mutating func add(_ ts: UInt64, _ event: Event, pid: UInt32?, comm: String, container: String?,
                      uncertainImage: Bool = false, detail: (inout ByteText) -> Void) {
        let start = text.count
        detail(&text)
        let end = text.count
        text.add(comm)
        let commEnd = text.count
        var cont: Range<Int>? = nil
        if let container {
            cont = containers[container]
            if cont == nil {
                let at = text.count
                text.add(container)
                cont = at..<text.count
                containers[container] = cont
            }
        }
        items.append(Line(ts: ts, order: Self.order(event), event: event, pid: pid, comm: end..<commEnd,
                          container: cont, detail: start..<end, uncertainImage: uncertainImage))
    }

    /// Among lines of one moment: fork, exec, a connection's lines, exit.
    static func order(_ e: Event) -> UInt8 {
        switch e {
        case .fork: 0
        case .exec: 1
        case .exit: 3
        default: 2
        }
    }

    /// Only the lines of `kinds` (`--kind` names), when given.
    mutating func keep(_ kinds: Set<String>?) {
        guard let kinds else { return }
        let events = Set(TimelineQuery.kindEvents.filter { kinds.contains($0.key) }.flatMap(\.value))
        items.removeAll { !events.contains($0.event) }
    }

    /// The first `count` lines as the timeline's rows.
    func rows(_ capture: Capture, _ count: Int) -> [[Value]] {
        items.prefix(count).map { l in
            [.text(capture.wallText(l.ts)), .text(l.event.name), l.pid.map { .int(Int64($0)) } ?? .null, .text(comm(l)),
             container(l).map { .text($0) } ?? .null, .text(detail(l))]
        }
    }

    func comm(_ l: Line) -> String { String(decoding: text.bytes[l.comm], as: UTF8.self) }
    func container(_ l: Line) -> String? { l.container.map { String(decoding: text.bytes[$0], as: UTF8.self) } }
    func detail(_ l: Line) -> String { String(decoding: text.bytes[l.detail], as: UTF8.self) }
}

/// A timeline window's answer, its lines not yet made rows.
public struct TimelineAnswer: StreamedRows {
    let capture: Capture
    let lines: TimelineLines
    public let notes: [String]

    init(capture: Capture, lines: TimelineLines, notes: [String]) {
        self.capture = capture; self.lines = lines; self.notes = notes
    }

    public var rowCount: Int { lines.items.count }

    public var rows: [[Value]] { lines.rows(capture, rowCount) }

    /// `run`'s table: the lines as rows of Values, and the notes.
    public var table: ResultTable {
        var t = ResultTable(columns: TimelineQuery.columns)
        t.rows = rows
        t.notes = notes
        return t
    }

    /// Its first `count` rows as a table, `notes` after them, to `out` a buffer at a time:
    /// each cell written from its line straight into the table.
    public func table(_ layout: TableLayout, rows count: Int, notes: [String], to out: (UnsafeBufferPointer<UInt8>) -> Void) {
        var template = ResultTable(columns: TimelineQuery.columns)
        template.notes = notes
        CellWriter.with(self, layout.pick(template)) { cells in
            TableText.render(template, rowCount: count, layout, row: { r, measuring, cell in
                cells.row(r, measuring: measuring, cell)
            }, to: out)
        }
    }

    /// `table(_:rows:notes:to:)` as one array.
    public func table(_ layout: TableLayout, rows count: Int, notes: [String]) -> [UInt8] {
        var all: [UInt8] = []
        table(layout, rows: count, notes: notes) { all.append(contentsOf: $0) }
        return all
    }

    public func table(into stream: inout TableStream, rows count: Int) -> [UInt8] {
        guard stream.writesTable else { return stream.write(lines.rows(capture, count)) }
        return stream.write(rowCount: count, textBytes: lines.text.count + count * 80) { cells, keep in
            CellWriter.with(self, keep) { writer in
                for r in 0..<count { writer.row(r, measuring: false) { cells.append(utf8: $0) } }
            }
        }
    }

    /// A line's cells of the columns `keep` names, as UTF-8, one after another. It reads the
    /// lines and their text through pointers taken once, not per cell.
    private struct CellWriter {
        let items: UnsafeBufferPointer<TimelineLines.Line>
        let text: UnsafeBufferPointer<UInt8>
        let picked: UnsafeBufferPointer<Cell>
        let clock: ClockMap
        /// A time's text, kept from line to line (only its nanoseconds change within a second),
        /// and a pid's digits.
        let time: UnsafeMutableBufferPointer<UInt8>
        let digits: UnsafeMutableBufferPointer<UInt8>
        var second: Int64? = nil

        /// `body` given a writer of `answer`'s lines, valid only within it.
        static func with<R>(_ answer: TimelineAnswer, _ keep: [Int], _ body: (inout CellWriter) -> R) -> R {
            let names = TimelineQuery.columns.names
            let picked = keep.map { Cell(rawValue: names[$0])! }
            let time = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: TimeSpec.formattedLength)
            time.initialize(repeating: UInt8(ascii: " "))
            let digits = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 10)
            digits.initialize(repeating: 0)
            defer { time.deallocate(); digits.deallocate() }
            return picked.withUnsafeBufferPointer { picked in
                answer.lines.items.withUnsafeBufferPointer { items in
                    answer.lines.text.bytes.withUnsafeBufferPointer { text in
                        var w = CellWriter(items: items, text: text, picked: picked, clock: answer.capture.clock,
                                           time: time, digits: digits)
                        return body(&w)
                    }
                }
            }
        }

        /// `measuring`: the widths alone are asked; every time's text is formattedLength wide,
        /// so it need not be written.
        mutating func row(_ r: Int, measuring: Bool, _ cell: (UnsafeBufferPointer<UInt8>) -> Void) {
            let l = items[r]
            let dash: StaticString = "-"
            for c in picked {
                switch c {
                case .time:
                    if !measuring { _ = TimeSpec.write(clock.wall(fromBoot: l.ts), into: time, second: &second) }
                    cell(UnsafeBufferPointer(time))
                case .event: TimelineLines.Event.names[Int(l.event.rawValue)].withUnsafeBufferPointer { cell($0) }
                case .pid:
                    if let p = l.pid {
                        let n = TimelineAnswer.decimal(p, into: digits)
                        cell(UnsafeBufferPointer(rebasing: digits[..<n]))
                    } else {
                        dash.withUTF8Buffer { cell($0) }
                    }
                case .comm: cell(UnsafeBufferPointer(rebasing: text[l.comm]))
                case .container:
                    if let c = l.container { cell(UnsafeBufferPointer(rebasing: text[c])) } else { dash.withUTF8Buffer { cell($0) } }
                case .detail: cell(UnsafeBufferPointer(rebasing: text[l.detail]))
                }
            }
        }
    }

    /// `n` in decimal at the start of `buf`; its length.
    private static func decimal(_ n: UInt32, into buf: UnsafeMutableBufferPointer<UInt8>) -> Int {
        var v = n, len = 1
        while v >= 10 { v /= 10; len += 1 }
        v = n
        for i in stride(from: len - 1, through: 0, by: -1) {
            buf[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
        return len
    }

    /// The timeline's columns, by name (`Columns.timeline`).
    private enum Cell: String { case time, event, pid, comm, container, detail }
}
