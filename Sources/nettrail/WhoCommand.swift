import Analyzer
import Format
import ArgumentParser

struct WhoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who",
        abstract: "Which process owned the connection with this address at that moment.",
        discussion: """
            The address may be a socket's local end, its remote end, or the translated \
            address seen outside the host (walked back through the captured conntrack entries). The \
            connection live at that moment is the answer; others within --slack are listed as nearby, \
            with their distance from it; several owners live at once are reported as ambiguous.
            """)

    @OptionGroup var capture: CaptureOptions

    @Option(name: .long, parsing: .unconditional, help: "The moment: RFC 3339, Unix seconds, or +SECONDS from capture start.")
    var at: String

    @Option(name: .long, help: "IP:PORT, [IPv6]:PORT, or IP (any port).")
    var addr: String

    @Option(name: .long, help: "tcp or udp (default: both).")
    var proto: ProtoOption?

    @Option(name: .long, parsing: .unconditional, help: "Tolerance around --at, in seconds (at most \(Int(maxSlack))).")
    var slack: Double = 1

    /// 115 days: more than any capture needs, and far inside UInt64 ns.
    static let maxSlack = 1e7

    func validate() throws {
        try validateTime(at, "--at")
        guard Endpoint.parse(addr) != nil else { throw ValidationError("--addr \(addr): not IP:PORT, [IPv6]:PORT or IP") }
        guard slack >= 0, slack <= Self.maxSlack else {
            throw ValidationError("--slack must be a number of seconds from 0 to \(Int(Self.maxSlack))")
        }
    }

    func run() {
        let c = capture.open()
        let ep = Endpoint.parse(addr)!
        let slackNs = UInt64((slack * 1e9).rounded())
        do {
            let t = try WhoQuery.run(c, at: try c.moment(at, slack: slackNs), addr: ep, proto: proto?.proto,
                                     slack: slackNs, nat: try? ConntrackNATResolver(c))
            emit(t, capture.format, capture: c)
        } catch { fail(error) }
    }
}
