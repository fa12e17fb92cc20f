import Foundation

/// `nettrail report --format chrome-trace`: the report's model as Chrome Trace Event Format
/// JSON, which Perfetto (ui.perfetto.dev) and chrome://tracing open. A container (or the host,
/// or the kernel threads) is a trace process, each of its processes a thread: its lifetime a
/// complete event, its execs instants; a connection is a complete event on its owner's thread.
/// Loss windows are global instants. Times are microseconds from the report's origin.
public enum ReportTrace {
    public static func render(_ model: ReportModel) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(Trace(model)), as: UTF8.self) + "\n"
    }

    /// The Trace Event Format's JSON object form: the events, and what the capture says beside them.
    struct Trace: Encodable {
        var traceEvents: [Event]
        var displayTimeUnit = "ms"
        var otherData: [String: String]

        init(_ m: ReportModel) {
            otherData = ["capture": m.title, "span": m.span, "origin": m.origin]
            for (i, note) in m.notes.enumerated() { otherData["note \(i + 1)"] = note }
            var events: [Event] = []
            // A lane's thread is its id + 1; the rows of overlapping connections take the ids after them.
            var nextTid = m.groups.reduce(0) { $0 + $1.lanes.count } + 1
            var byLane: [Int: [ReportModel.Conn]] = [:]
            var unowned: [ReportModel.Conn] = []
            for c in m.connections {
                if let l = c.lane { byLane[l, default: []].append(c) } else { unowned.append(c) }
            }
            var sortIndex = 0
            func thread(_ pid: Int, _ tid: Int, _ name: String) {
                events.append(.meta("thread_name", pid: pid, tid: tid, ["name": .text(name)]))
                events.append(.meta("thread_sort_index", pid: pid, tid: tid, ["sort_index": .int(sortIndex)]))
                sortIndex += 1
            }
            func process(_ pid: Int, _ name: String) {
                events.append(.meta("process_name", pid: pid, tid: 0, ["name": .text(name)]))
                events.append(.meta("process_sort_index", pid: pid, tid: 0, ["sort_index": .int(pid)]))
            }
            // Connections on rows: on the lane's own thread (`own`) those nested in the process's span
            // and not overlapping, the rest on threads of their own beside it, none overlapping there.
            func place(_ conns: [ReportModel.Conn], pid: Int, own: (tid: Int, start: Double, end: Double)?, name: String) {
                var rows: [(tid: Int, end: Double)] = []
                var ownEnd = -Double.infinity
                for c in conns.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
                    let tid: Int
                    if let own, c.start >= own.start, c.end <= own.end, c.start >= ownEnd {
                        tid = own.tid
                        ownEnd = c.end
                    } else if let r = rows.firstIndex(where: { $0.end <= c.start }) {
                        tid = rows[r].tid
                        rows[r].end = c.end
                    } else {
                        tid = nextTid
                        nextTid += 1
                        rows.append((tid, c.end))
                        thread(pid, tid, rows.count == 1 ? "\(name) connections" : "\(name) connections \(rows.count)")
                    }
                    events.append(.connection(c, pid: pid, tid: tid))
                }
            }

            for (g, group) in m.groups.enumerated() {
                let pid = g + 1
                process(pid, group.name)
                for lane in group.lanes {
                    let tid = lane.id + 1, name = "\(lane.pid) \(lane.program)"
                    thread(pid, tid, name)
                    events.append(.lifetime(lane, pid: pid, tid: tid))
                    for e in lane.execs {
                        events.append(Event(name: "exec \(e.program)", cat: "exec", ph: "i", ts: us(e.at), pid: pid, tid: tid,
                                            s: "t", args: ["argv": .list(e.argv), "time": .text(e.atText)]))
                    }
                    place(byLane[lane.id] ?? [], pid: pid, own: (tid, lane.start, lane.end), name: name)
                }
            }
            if !unowned.isEmpty {
                let pid = m.groups.count + 1
                process(pid, "owner unknown (opened before the recording, never accepted) or not drawn")
                place(unowned, pid: pid, own: nil, name: "unknown owner")
            }
            for l in m.losses {
                events.append(Event(name: "lost \(l.count) \(l.source) \(l.kind)", cat: "loss", ph: "i", ts: us(l.start),
                                    pid: 0, tid: 0, s: "g", args: ["window_us": .number(duration(l.start, l.end)), "what": .text(l.text)]))
            }
            traceEvents = events
        }
    }

    struct Event: Encodable {
        var name: String
        var cat: String?
        var ph: String
        var ts: Double
        var dur: Double?
        var pid: Int
        var tid: Int
        /// An instant's scope: t (its thread), g (the whole trace).
        var s: String?
        var args: [String: Arg]?

        static func meta(_ name: String, pid: Int, tid: Int, _ args: [String: Arg]) -> Event {
            Event(name: name, ph: "M", ts: 0, pid: pid, tid: tid, args: args)
        }

        static func lifetime(_ l: ReportModel.Lane, pid: Int, tid: Int) -> Event {
            var args: [String: Arg] = ["pid": .int(Int(l.pid)), "ppid": .int(Int(l.ppid)), "comm": .text(l.comm),
                                       "argv": .list(l.argv), "start": .text(l.startText)]
            if let exe = l.exe { args["exe"] = .text(exe) }
            if let c = l.container { args["container"] = .text(c) }
            args["exit"] = .text(l.exitText ?? "still running at the end")
            return Event(name: l.program, cat: "process", ph: "X", ts: us(l.start), dur: duration(l.start, l.end),
                         pid: pid, tid: tid, args: args)
        }

        static func connection(_ c: ReportModel.Conn, pid: Int, tid: Int) -> Event {
            var args: [String: Arg] = ["proto": .text(c.proto), "direction": .text(c.direction), "state": .text(c.state),
                                       "local": .text(c.local), "remote": .text(c.remote), "comm": .text(c.comm),
                                       "start": .text(c.startText), "end": .text(c.endText ?? "open at the end")]
            if let p = c.pid { args["pid"] = .int(Int(p)) }
            if let n = c.nat { args["nat"] = .text(n) }
            if let d = c.dns { args["resolved_name"] = .text(d) }
            return Event(name: "\(c.proto) \(c.direction == "inbound" ? "from" : "to") \(c.remote)", cat: "connection", ph: "X",
                         ts: us(c.start), dur: duration(c.start, c.end), pid: pid, tid: tid, args: args)
        }
    }

    enum Arg: Encodable {
        case text(String), int(Int), number(Double), list([String])

        func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .text(let s): try c.encode(s)
            case .int(let n): try c.encode(n)
            case .number(let n): try c.encode(n)
            case .list(let l): try c.encode(l)
            }
        }
    }
}

/// The model's milliseconds as microseconds, to the nanosecond the capture has.
private func us(_ ms: Double) -> Double { (ms * 1_000_000).rounded() / 1000 }

/// From `a` to `b` such that a viewer's ts + dur (in whole nanoseconds) is `us(b)` exactly: a
/// connection that ends with its owner stays nested in it.
private func duration(_ a: Double, _ b: Double) -> Double { ((us(b) - us(a)) * 1000).rounded() / 1000 }
