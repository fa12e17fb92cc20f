import CBPFGlue
import Foundation

/// Reads every ring buffer of every source on the calling thread and hands
/// each record to its ring's handler, in the ring's order. The handler runs on
/// this thread, on the record in place (the copy into the ring's segment happens
/// there): no queue between threads. Each ring's data pages are mapped once
/// (CBPFGlue's nt_ring), not twice as libbpf's reader maps them.
final class RingReader {
    private final class Ring {
        let handle: (UnsafeRawPointer, Int) -> Void
        var ring = nt_ring()
        init(_ h: @escaping (UnsafeRawPointer, Int) -> Void) { handle = h }
        deinit { nt_ring_close(&ring) }
    }

    private var rings: [Ring] = []
    private let set: Int32

    init() { set = nt_ring_set_new() }

    deinit { if set >= 0 { close(set) } }

    func add(fd: Int32, handler: @escaping (UnsafeRawPointer, Int) -> Void) throws {
        guard set >= 0 else { throw RecorderError.system("cannot make an epoll set: \(BPFObject.reason(-set))") }
        let r = Ring(handler)
        var rc = nt_ring_open(&r.ring, fd)
        guard rc == 0 else { throw RecorderError.system("cannot map ring buffer: \(BPFObject.reason(-rc))") }
        rc = nt_ring_set_add(set, &r.ring)
        guard rc == 0 else { throw RecorderError.system("cannot watch ring buffer: \(BPFObject.reason(-rc))") }
        rings.append(r)
    }

    /// Waits up to `timeoutMs` for a ring's wakeup and reads every ring; returns records read.
    @discardableResult
    func poll(timeoutMs: Int32) -> Int {
        _ = nt_ring_set_wait(set, timeoutMs)
        return drain()
    }

    /// Reads everything committed so far without waiting.
    @discardableResult
    func drain() -> Int {
        var n = 0
        for r in rings {
            let ctx = Unmanaged.passUnretained(r).toOpaque()
            n += nt_ring_consume(&r.ring, { ctx, data, size in
                guard let ctx, let data else { return }
                Unmanaged<Ring>.fromOpaque(ctx).takeUnretainedValue().handle(data, size)
            }, ctx)
        }
        return n
    }

    /// Records no copy could be made of (a wrapped record and no memory for it): lost.
    var dropped: UInt64 { rings.reduce(0) { $0 + $1.ring.dropped } }
}
