import Analyzer
import Format
import Foundation

/// A loopback TCP connection held open by a process of its own, which owns both of its
/// sockets: what a capture must know even when its close never comes.
final class HeldConnection {
    let pid: UInt32
    let clientPort: UInt16
    private let child: Child

    /// Starts it and waits until it is open; `log` is where the process says what it opened.
    init(log: String) throws {
        child = try Child(["/usr/bin/python3", "-c", """
            import os, socket, time
            srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
            c = socket.create_connection(srv.getsockname()); a, _ = srv.accept()
            c.send(b"x"); a.recv(1)
            open("\(log).tmp", "w").write("%d %d\\n" % (os.getpid(), c.getsockname()[1])); os.rename("\(log).tmp", "\(log)")
            time.sleep(60)
            """])
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: log) { Thread.sleep(forTimeInterval: 0.05) }
        let f = (try? String(contentsOfFile: log, encoding: .utf8))?.split(whereSeparator: \.isWhitespace) ?? []
        guard f.count == 2, let pid = UInt32(f[0]), let port = UInt16(f[1]) else {
            child.stop()
            throw Child.Failure(description: "the connection holder did not say what it opened")
        }
        self.pid = pid
        clientPort = port
    }

    func stop() { child.stop() }

    /// Its two sockets, as the capture has them.
    func connections(in capture: Capture) throws -> [Connection] {
        try ConnectionIndex(capture).connections.filter {
            $0.proto == .tcp && ($0.tuple.lport == clientPort || $0.tuple.rport == clientPort) && $0.tuple.laddr == "127.0.0.1"
        }
    }
}
