import Foundation

/// Checkpoints a capture's WAL from a connection and a thread of its own, so the
/// copy into the main file and its fsyncs never run inside a commit of the
/// recording thread (PASSIVE: it never waits for, nor blocks, the writer).
public final class WALCheckpointer: @unchecked Sendable {
    private let path: String
    private let interval: Double
    private let stopped = NSCondition()
    private var stopping = false
    private var started = false
    private let finished = DispatchSemaphore(value: 0)

    public init(path: String, interval: Double = 2) {
        self.path = path
        self.interval = interval
    }

    public func start() {
        let t = Thread { [self] in
            run()
            finished.signal()
        }
        t.name = "nettrail-checkpoint"
        started = true
        t.start()
    }

    private func run() {
        guard let db = try? Database(path: path, mode: .create) else { return }
        stopped.lock()
        defer { stopped.unlock() }
        while !stopping {
            _ = stopped.wait(until: Date(timeIntervalSinceNow: interval))
            if stopping { break }
            stopped.unlock()
            try? db.execute("PRAGMA wal_checkpoint(PASSIVE)")
            stopped.lock()
        }
    }

    /// Returns once the thread has finished its last checkpoint.
    public func stop() {
        stopped.lock()
        stopping = true
        stopped.signal()
        stopped.unlock()
        if started { finished.wait() }
        started = false
    }
}
