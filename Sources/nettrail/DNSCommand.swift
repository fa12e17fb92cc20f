import Analyzer
import ArgumentParser

struct DNSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns",
        abstract: "Names processes asked their resolver library for (getaddrinfo, gethostbyname*), with the addresses returned.",
        discussion: helpText(examples: [
            "nettrail dns capture.db --name '*.example.com'",
            "nettrail dns capture.db --addr 203.0.113.7",
            "nettrail dns capture.db --container demo-web --last 10m",
        ], columns: DNSQuery.columns))

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @Option(name: .long, help: "Only names matching this shell pattern (case-insensitive), e.g. '*.example.com'.")
    var name: String?

    @Option(name: .long, help: "Only lookups that returned this IP address.")
    var addr: String?

    @OptionGroup var owner: OwnerOptions

    func validate() throws {
        try capture.validate(DNSQuery.columns)
        if let addr, Endpoint.parse(addr)?.port != nil || Endpoint.parse(addr) == nil {
            throw ValidationError("--addr \(addr): not an IP address")
        }
    }

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        do {
            var t = try DNSQuery.run(c, DNSFilter(from: w.from, to: w.to, name: name, addr: addr, pid: owner.pid))
            RowFilter(comm: owner.comm, container: owner.container).apply(&t)
            emit(t, capture, capture: c, notes: w.notes + c.containerNotes(owner.container))
        } catch { fail(error) }
    }
}
