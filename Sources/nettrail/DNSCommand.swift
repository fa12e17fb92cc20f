import Analyzer
import ArgumentParser

struct DNSCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns",
        abstract: "Names processes asked their resolver library for (getaddrinfo, gethostbyname*), with the addresses returned.")

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @Option(name: .long, help: "Only names matching this shell pattern (case-insensitive), e.g. '*.example.com'.")
    var name: String?

    @Option(name: .long, help: "Only lookups that returned this IP address.")
    var addr: String?

    @Option(name: .long, parsing: .unconditional, help: "Only lookups made by this pid (every incarnation of it).")
    var pid: UInt32?

    func validate() throws {
        if let addr, Endpoint.parse(addr)?.port != nil || Endpoint.parse(addr) == nil {
            throw ValidationError("--addr \(addr): not an IP address")
        }
    }

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        do {
            emit(try DNSQuery.run(c, DNSFilter(from: w.from, to: w.to, name: name, addr: addr, pid: pid)), capture.format,
                     capture: c, notes: w.notes)
        } catch { fail(error) }
    }
}
