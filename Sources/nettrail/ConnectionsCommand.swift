import Analyzer
import Format
import ArgumentParser

enum ProtoOption: String, ExpressibleByArgument, CaseIterable {
    case tcp, udp
    var proto: Connection.Proto { self == .tcp ? .tcp : .udp }
}

struct ConnectionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connections",
        abstract: "TCP connections and UDP flows with their owning process, container, bytes and duration.")

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @Option(name: .long, help: "Container ID, or a prefix of 12 or more characters.")
    var container: String?

    @Option(name: .long, parsing: .unconditional, help: "Only connections owned by this pid (every incarnation of it).")
    var pid: UInt32?

    @Option(name: .long, help: "Remote end: IP, IP:PORT or [IPv6]:PORT.")
    var remote: String?

    @Option(name: .long, help: "tcp or udp.")
    var proto: ProtoOption?

    func validate() throws {
        if let remote, Endpoint.parse(remote) == nil {
            throw ValidationError("--remote \(remote): not IP, IP:PORT or [IPv6]:PORT")
        }
    }

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        let ep = remote.flatMap { Endpoint.parse($0) }
        do {
            let t = try ConnectionsQuery.run(c, ConnectionFilter(from: w.from, to: w.to, container: container, pid: pid,
                                                                 remote: ep, proto: proto?.proto),
                                             nat: try? ConntrackNATResolver(c))
            emit(t, capture.format, capture: c, notes: w.notes)
        } catch { fail(error) }
    }
}
