import CBPFGlue
import Foundation

/// Polls every ring buffer of every source on the calling thread and hands
/// each record to its ring's handler. libbpf calls back on the polling thread,
/// so the copy into the ring's segment happens there: no queue between threads.
final class RingReader {
    private final class Box {
        let handle: (UnsafeRawPointer, Int) -> Void
        init(_ h: @escaping (UnsafeRawPointer, Int) -> Void) { handle = h }
    }

    private var rb: OpaquePointer?
    /// Kept alive for libbpf's callbacks, one per ring.
    private var boxes: [Box] = []

    init() {}

    deinit { if let rb { ring_buffer__free(rb) } }

    func add(fd: Int32, handler: @escaping (UnsafeRawPointer, Int) -> Void) throws {
        let box = Box(handler)
        boxes.append(box)
        let ctx = Unmanaged.passUnretained(box).toOpaque()
        let cb: ring_buffer_sample_fn = { ctx, data, size in
            guard let ctx, let data else { return 0 }
            Unmanaged<Box>.fromOpaque(ctx).takeUnretainedValue().handle(UnsafeRawPointer(data), size)
            return 0
        }
        if let rb {
            let rc = ring_buffer__add(rb, fd, cb, ctx)
            if rc != 0 { throw RecorderError.system("cannot add ring buffer: \(BPFObject.reason(rc))") }
        } else {
            guard let r = ring_buffer__new(fd, cb, ctx, nil) else {
                throw RecorderError.system("cannot open ring buffer: \(BPFObject.reason(errno))")
            }
            rb = r
        }
    }

    /// Waits up to `timeoutMs` and consumes what is there; returns records read.
    @discardableResult
    func poll(timeoutMs: Int32) -> Int {
        guard let rb else { return 0 }
        let n = ring_buffer__poll(rb, timeoutMs)
        return n > 0 ? Int(n) : 0
    }

    /// Reads everything left without waiting.
    @discardableResult
    func drain() -> Int {
        guard let rb else { return 0 }
        let n = ring_buffer__consume(rb)
        return n > 0 ? Int(n) : 0
    }
}
