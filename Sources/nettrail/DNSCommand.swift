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

    @Option(name: .long, parsing: .unconditional, help: FilterHelp.pid)
    var pid: UInt32?

    @Option(name: .long, help: FilterHelp.container)
    var container: String?

    @Option(name: .long, help: FilterHelp.comm)
    var comm: String?

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
            var t = try DNSQuery.run(c, DNSFilter(from: w.from, to: w.to, name: name, addr: addr, pid: pid))
            RowFilter(comm: comm, container: container).apply(&t)
            emit(t, capture, capture: c, notes: w.notes + c.containerNotes(container))
        } catch { fail(error) }
    }
}
