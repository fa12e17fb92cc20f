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
        abstract: "TCP connections and UDP flows with their owning process, container, bytes and duration.",
        discussion: helpText(examples: [
            "nettrail connections capture.db --container demo-web --remote 10.201.2.2:80",
            "nettrail connections capture.db --port 53 --proto udp --last 10m",
            "nettrail connections capture.db --comm curl -o start,local,remote,pid,nat",
        ], columns: ConnectionsQuery.columns))

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var window: WindowOptions

    @OptionGroup var owner: OwnerOptions

    @Option(name: .long, help: "Remote end: IP, IP:PORT or [IPv6]:PORT.")
    var remote: String?

    @Option(name: .long, help: "Local end: IP, IP:PORT or [IPv6]:PORT.")
    var local: String?

    @Option(name: .long, help: "Either end's port.")
    var port: UInt16?

    @Option(name: .long, help: "tcp or udp.")
    var proto: ProtoOption?

    func validate() throws {
        try capture.validate(ConnectionsQuery.columns)
        for (name, v) in [("--remote", remote), ("--local", local)] {
            if let v, Endpoint.parse(v) == nil { throw ValidationError("\(name) \(v): not IP, IP:PORT or [IPv6]:PORT") }
        }
    }

    func run() {
        let c = capture.open()
        let w = window.resolve(c)
        do {
            let filter = ConnectionFilter(from: w.from, to: w.to, container: owner.container, pid: owner.pid,
                                          remote: remote.flatMap { Endpoint.parse($0) },
                                          local: local.flatMap { Endpoint.parse($0) }, port: port, proto: proto?.proto)
            let nat = try? ConntrackNATResolver(c)
            let notes = w.notes + c.containerNotes(owner.container)
            if ConnectionsQuery.streams(c, filter) {
                return try emitStream(ConnectionsQuery.columns, capture, capture: c, notes: notes,
                                      minimum: ConnectionsQuery.widest, filter: RowFilter(comm: owner.comm)) {
                    try ConnectionsQuery.stream(c, filter, nat: nat, $0)
                }
            }
            var t = try ConnectionsQuery.run(c, filter, nat: nat)
            RowFilter(comm: owner.comm).apply(&t)
            emit(t, capture, capture: c, notes: notes)
        } catch { fail(error) }
    }
}
