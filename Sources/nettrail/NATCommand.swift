import Analyzer
import Format
import ArgumentParser

struct NATCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nat",
        abstract: "Translate an address through the NAT mappings live at a moment, in either direction.",
        discussion: """
            Given an address as seen outside (a translated source after SNAT/MASQUERADE, or a \
            published address before DNAT), prints the original inside tuple and its network \
            namespace; given an inside address, prints its translation. Each row gives the \
            mapping's interval and whether its start and end were observed or inferred.
            """)

    @OptionGroup var capture: CaptureOptions

    @Option(name: .long, parsing: .unconditional,
            help: "The moment: RFC 3339, Unix seconds, or +SECONDS from capture start (default: any time).")
    var at: String?

    @Option(name: .long, help: "IP:PORT, [IPv6]:PORT, or IP (any port). ICMP: the echo id in place of the port.")
    var addr: String

    @Option(name: .long, help: "tcp, udp, icmp, icmpv6 or a protocol number (default: any).")
    var proto: String?

    @Option(name: .long, parsing: .unconditional,
            help: "With --at: also list mappings this many seconds from it, as nearby (at most \(Int(WhoCommand.maxSlack))).")
    var slack: Double = 1

    @Flag(name: .long, help: "Also list conntrack entries that were not translated.")
    var includeUntranslated = false

    func validate() throws {
        try validateTime(at, "--at")
        guard NATEndpoint.parse(addr) != nil else { throw ValidationError("--addr \(addr): not IP:PORT, [IPv6]:PORT or IP") }
        if let proto, NATQuery.protoNumber(proto) == nil { throw ValidationError("--proto \(proto): unknown protocol") }
        guard slack >= 0, slack <= WhoCommand.maxSlack else {
            throw ValidationError("--slack must be a number of seconds from 0 to \(Int(WhoCommand.maxSlack))")
        }
    }

    func run() {
        let c = capture.open()
        let ep = NATEndpoint.parse(addr)!
        let p = proto.flatMap(NATQuery.protoNumber)
        do {
            let slackNs = UInt64((slack * 1e9).rounded())
            let at = try self.at.map { try c.moment($0, slack: slackNs) }
            let index = try NATIndex(reader: c.reader, touching: ep, from: at?.saturatingSub(slackNs), to: at?.saturatingAdd(slackNs))
            emit(NATQuery.run(c, index: index, endpoint: ep, at: at, slack: slackNs, proto: p,
                              includeUntranslated: includeUntranslated), capture.format, capture: c)
        } catch { fail(error) }
    }
}
