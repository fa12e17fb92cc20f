import Events
import Foundation
import Format
#if canImport(Glibc)
import Glibc
#endif

/// Where the joins write what they join: the case itself, or a pipe to it.
protocol CaseRowSink: AnyObject {
    func connection(_ c: Connection) throws
    func natMapping(_ m: NATMapping) throws
}

extension TimelineWriter: CaseRowSink {}

/// What the decode loop writes, handed in order to a thread of its own that does the
/// SQLite inserts (and decodes the records that become rows one for one): on a machine
/// with a second core, decompressing, decoding and joining overlap with writing.
/// Batches are handed over whole; at most `depth` wait, so memory stays bounded. The
/// writer owns `w` from `init` until `finish` returns: nothing else may use it meanwhile.
final class CaseRowPipe: CaseRowSink, @unchecked Sendable {
    private enum Item {
        case connection(Connection)
        case nat(NATMapping)
        /// A record's bytes at this offset of the batch's buffer (8-byte aligned, as in a segment).
        case record(offset: Int, size: Int)
        case damage(SegmentHeader, String)
        case loss(LossRow)
    }

    private final class Batch {
        var items: [Item] = []
        var bytes: UnsafeMutableRawPointer
        var used = 0
        var capacity: Int

        init() {
            capacity = 1 << 16
            bytes = .allocate(byteCount: capacity, alignment: 8)
            items.reserveCapacity(CaseRowPipe.batchItems)
        }

        deinit { bytes.deallocate() }

        func append(record p: UnsafeRawPointer, size: Int) {
            let padded = (size + 7) & ~7
            if used + padded > capacity {
                var n = capacity * 2
                while used + padded > n { n *= 2 }
                let b = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: 8)
                b.copyMemory(from: bytes, byteCount: used)
                bytes.deallocate()
                bytes = b
                capacity = n
            }
            (bytes + used).copyMemory(from: p, byteCount: size)
            items.append(.record(offset: used, size: size))
            used += padded
        }

        func reset() {
            items.removeAll(keepingCapacity: true)
            used = 0
        }
    }

    static let batchItems = 4096
    private static let depth = 4

    private let w: TimelineWriter
    // Touched only by the producing thread.
    private var current = Batch()
    // Guarded by `mutex` (`decodeFailures` also counts on the caller's thread when not threaded).
    private var queue: [Batch] = []
    private var spare: [Batch] = []
    private var closed = false
    private var failure: Error?
    private var decodeFailures = 0
    private var done = false

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let changed = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// Without a second core to run on, the rows are written at once, on the caller's thread.
    private let threaded: Bool
    private lazy var decoders = RecordDecoders()

    init(into w: TimelineWriter) {
        self.w = w
        threaded = Self.cores() > 1
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(changed, nil)
        guard threaded else { return }
        let t = Thread { [self] in run() }
        t.start()
    }

    deinit {
        pthread_cond_destroy(changed)
        pthread_mutex_destroy(mutex)
        changed.deallocate()
        mutex.deallocate()
    }

    /// The cores this process may run on (its affinity: `taskset`, a cpuset), which
    /// ProcessInfo's count does not consider; Glibc's module does not export sched_getaffinity.
    static func cores() -> Int {
        let all = ProcessInfo.processInfo.activeProcessorCount
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
        else { return all }
        let bits = line.dropFirst("Cpus_allowed:".count).reduce(0) { n, c in
            n + (c.hexDigitValue.map { $0.nonzeroBitCount } ?? 0)
        }
        return bits > 0 ? min(bits, all) : all
    }

    func connection(_ c: Connection) throws {
        guard threaded else { return try w.connection(c) }
        try add(.connection(c))
    }
    func natMapping(_ m: NATMapping) throws {
        guard threaded else { return try w.natMapping(m) }
        try add(.nat(m))
    }
    func damage(header: SegmentHeader, reason: String) throws {
        guard threaded else { return try w.damage(captureID: 1, header: header, reason: reason) }
        try add(.damage(header, reason))
    }
    func loss(_ l: LossRow) throws {
        guard threaded else { return try w.loss(l) }
        try add(.loss(l))
    }

    /// A record the writer decodes into its row (RecordDecoders.write); one that is malformed
    /// is counted (`finish`).
    func record(_ p: UnsafeRawPointer, size: Int) throws {
        guard threaded else {
            do { try decoders.write(p, size: size, into: w) } catch is DecodeError { decodeFailures += 1 }
            return
        }
        current.append(record: p, size: size)
        if current.items.count >= Self.batchItems { try handOff() }
    }

    @inline(__always) private func add(_ item: Item) throws {
        current.items.append(item)
        if current.items.count >= Self.batchItems { try handOff() }
    }

    private func handOff() throws {
        pthread_mutex_lock(mutex)
        while queue.count >= Self.depth && failure == nil { pthread_cond_wait(changed, mutex) }
        if let failure {
            pthread_mutex_unlock(mutex)
            throw failure
        }
        queue.append(current)
        current = spare.popLast() ?? Batch()
        pthread_cond_broadcast(changed)
        pthread_mutex_unlock(mutex)
    }

    /// Writes what is left and waits for the writer to end; the records it found malformed.
    /// The writer's first error is thrown here (or at an earlier hand-off).
    func finish() throws -> Int {
        guard threaded else { return decodeFailures }
        // A hand-off fails only with the writer's error, thrown below once the writer has ended.
        if !current.items.isEmpty { try? handOff() }
        pthread_mutex_lock(mutex)
        closed = true
        pthread_cond_broadcast(changed)
        while !done { pthread_cond_wait(changed, mutex) }
        let failure = failure, malformed = decodeFailures
        pthread_mutex_unlock(mutex)
        if let failure { throw failure }
        return malformed
    }

    private func run() {
        let decoders = RecordDecoders()
        var malformed = 0
        var failed = false
        while true {
            pthread_mutex_lock(mutex)
            while queue.isEmpty && !closed { pthread_cond_wait(changed, mutex) }
            guard !queue.isEmpty else {
                decodeFailures = malformed
                done = true
                pthread_cond_broadcast(changed)
                pthread_mutex_unlock(mutex)
                return
            }
            let batch = queue.removeFirst()
            pthread_cond_broadcast(changed)
            pthread_mutex_unlock(mutex)
            if !failed {
                do {
                    try write(batch, decoders: decoders, malformed: &malformed)
                } catch {
                    failed = true
                    pthread_mutex_lock(mutex)
                    failure = error
                    pthread_cond_broadcast(changed)
                    pthread_mutex_unlock(mutex)
                }
            }
            batch.reset()
            pthread_mutex_lock(mutex)
            spare.append(batch)
            pthread_mutex_unlock(mutex)
        }
    }

    private func write(_ batch: Batch, decoders: RecordDecoders, malformed: inout Int) throws {
        for item in batch.items {
            switch item {
            case .connection(let c): try w.connection(c)
            case .nat(let m): try w.natMapping(m)
            case .record(let offset, let size):
                do { try decoders.write(batch.bytes + offset, size: size, into: w) } catch is DecodeError { malformed += 1 }
            case .damage(let h, let reason): try w.damage(captureID: 1, header: h, reason: reason)
            case .loss(let l): try w.loss(l)
            }
        }
    }
}
