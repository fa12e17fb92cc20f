import Analyzer
import Format
import ArgumentParser

struct NATCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nat",
        abstract: "Translate an address through the NAT mappings live at a moment, in either direction.",
        discussion: helpText(examples: [
            "nettrail nat capture.db --at +12.5 --addr 10.201.2.1:27650",
            "nettrail nat capture.db --addr 203.0.113.7:443 --proto tcp --from -5m",
            "nettrail nat capture.db --addr 10.201.2.2 --include-untranslated --wide",
        ], columns: NATQuery.columns, more: """
            Given an address as seen outside (a translated source after SNAT/MASQUERADE, or a \
            published address before DNAT), prints the original inside tuple and its network \
            namespace; given an inside address, prints its translation. Each row gives the \
            mapping's interval and whether its start and end were observed or inferred.
            """))

    @OptionGroup var capture: CaptureOptions

    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp("The moment: \(timeForms) (default: any time).", valueName: "time"))
    var at: String?

    @OptionGroup var window: WindowOptions

    @Option(name: .long, help: "IP:PORT, [IPv6]:PORT, or IP (any port). ICMP: the echo id in place of the port.")
    var addr: String

    @Option(name: .long, help: "tcp, udp, icmp, icmpv6 or a protocol number (default: any).")
    var proto: String?

    @Option(name: .long, parsing: .unconditional,
            help: ArgumentHelp("With --at: also list mappings this far from it, as nearby: seconds or a duration (500ms, 5s; at most \(Int(WhoCommand.maxSlack)) s).", valueName: "duration"))
    var slack: String = "1"

    var slackNs: UInt64? { TimeSpec.durationNs(slack).flatMap { $0 >= 0 && $0 <= Int64(WhoCommand.maxSlack * 1e9) ? UInt64($0) : nil } }

    @Flag(name: .long, help: "Also list conntrack entries that were not translated.")
    var includeUntranslated = false

    func validate() throws {
        try capture.validate(NATQuery.columns)
        try validateTime(at, "--at")
        if at != nil, window.from != nil || window.to != nil || window.last != nil {
            throw ValidationError("--at and a window (--from/--to/--last) both choose the time: give one")
        }
        guard NATEndpoint.parse(addr) != nil else { throw ValidationError("--addr \(addr): not IP:PORT, [IPv6]:PORT or IP") }
        if let proto, NATQuery.protoNumber(proto) == nil { throw ValidationError("--proto \(proto): unknown protocol") }
        guard slackNs != nil else {
            throw ValidationError("--slack must be a number of seconds from 0 to \(Int(WhoCommand.maxSlack))")
        }
    }

    func run() {
        let c = capture.open()
        let ep = NATEndpoint.parse(addr)!
        let p = proto.flatMap(NATQuery.protoNumber)
        do {
            let slackNs = self.slackNs!
            let at = try self.at.map { try c.moment($0, slack: slackNs) }
            let w = at == nil ? window.resolve(c) : TimeWindow(from: at?.saturatingSub(slackNs), to: at?.saturatingAdd(slackNs))
            let index = try NATIndex(reader: c.reader, touching: ep, from: w.from, to: w.to)
            emit(NATQuery.run(c, index: index, endpoint: ep, at: at, slack: slackNs, from: w.from, to: w.to, proto: p,
                              includeUntranslated: includeUntranslated), capture, capture: c,
                 notes: c.timeNotes([self.at]) + w.notes)
        } catch { fail(error) }
    }
}
