import Analyzer
import Format
import ArgumentParser

struct WhoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who",
        abstract: "Which process owned the connection with this address at that moment.",
        discussion: helpText(examples: [
            "nettrail who capture.db --at +12.5 --addr 10.201.2.1:27650",
            "nettrail who capture.db --at '2026-12-02 05:41:10' --addr 203.0.113.7:443",
            "nettrail who capture.db --at -1m --addr 10.201.2.2 --wide",
        ], columns: WhoQuery.columns, more: """
            The address may be a socket's local end, its remote end, or the translated \
            address seen outside the host (walked back through the captured conntrack entries). The \
            connection live at that moment is the answer; others within --slack are listed as nearby, \
            with their distance from it; several owners live at once are reported as ambiguous.
            """))

    @OptionGroup var capture: CaptureOptions

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The moment: \(timeForms).", valueName: "time"))
    var at: String

    @Option(name: .long, help: "IP:PORT, [IPv6]:PORT, or IP (any port).")
    var addr: String

    @Option(name: .long, help: "tcp or udp (default: both).")
    var proto: ProtoOption?

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("Tolerance around --at: seconds or a duration (500ms, 5s, 2m; at most \(Int(maxSlack)) s).", valueName: "duration"))
    var slack: String = "1"

    @OptionGroup var owner: OwnerOptions

    var slackNs: UInt64? { TimeSpec.durationNs(slack).flatMap { $0 >= 0 && $0 <= Int64(Self.maxSlack * 1e9) ? UInt64($0) : nil } }

    /// 115 days: more than any capture needs, and far inside UInt64 ns.
    static let maxSlack = 1e7

    func validate() throws {
        try validateTime(at, "--at")
        guard Endpoint.parse(addr) != nil else { throw ValidationError("--addr \(addr): not IP:PORT, [IPv6]:PORT or IP") }
        try capture.validate(WhoQuery.columns)
        guard slackNs != nil else {
            throw ValidationError("--slack must be a number of seconds from 0 to \(Int(Self.maxSlack))")
        }
    }

    func run() {
        let c = capture.open()
        let ep = Endpoint.parse(addr)!
        let slackNs = self.slackNs!
        do {
            var t = try WhoQuery.run(c, at: try c.moment(at, slack: slackNs), addr: ep, proto: proto?.proto,
                                     slack: slackNs, nat: try? ConntrackNATResolver(c))
            RowFilter(pid: owner.pid, comm: owner.comm, container: owner.container).apply(&t)
            emit(t, capture, capture: c, notes: c.timeNotes([at]) + c.containerNotes(owner.container))
        } catch { fail(error) }
    }
}
