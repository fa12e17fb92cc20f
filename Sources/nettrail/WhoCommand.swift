import Analyzer
import Format
import ArgumentParser

struct WhoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "who",
        abstract: "Which process owned the connection with this address at that moment.",
        discussion: """
            The address may be a socket's local end, its remote end, or the translated \
            address seen outside the host (walked back through the captured conntrack entries). Every \
            matching connection is listed; several owners are reported as ambiguous.
            """)

    @OptionGroup var capture: CaptureOptions

    @Option(name: .long, help: "The moment: RFC 3339, Unix seconds, or +SECONDS from capture start.")
    var at: String

    @Option(name: .long, help: "IP:PORT, [IPv6]:PORT, or IP (any port).")
    var addr: String

    @Option(name: .long, help: "tcp or udp (default: both).")
    var proto: ProtoOption?

    @Option(name: .long, help: "Tolerance around --at, in seconds.")
    var slack: Double = 1

    func run() {
        let c = capture.open()
        guard let ep = Endpoint.parse(addr) else { fail("--addr \(addr): not IP:PORT, [IPv6]:PORT or IP") }
        guard slack >= 0, slack.isFinite else { fail("--slack must be a non-negative number of seconds") }
        do {
            let t = try WhoQuery.run(c, at: try c.bootTime(at), addr: ep, proto: proto?.proto,
                                     slack: UInt64(slack * 1e9), nat: try? ConntrackNATResolver(c))
            emit(t, capture.format)
        } catch { fail(error) }
    }
}
