#if canImport(Glibc)
import Glibc
#endif

/// A FIFO between threads: any thread appends; one consumer takes items one at
/// a time, blocking while there are none. It also tracks the item the consumer
/// is working on, so a producer can wait until everything it queued has been
/// acted on (`waitIdle`), not merely dequeued; and `close` hands back what the
/// consumer never started, so a caller that stops waiting can count it.
///
/// A pthread mutex and condition variables (not a spinning poll): a waiting
/// consumer is woken by the push itself. Timed waits use CLOCK_MONOTONIC, so a
/// wall-clock step cannot stretch or cut them. A consumer that waits for other
/// things too (the resolver worker: its ring of exec notices) passes `wakeFD`,
/// an eventfd every push and close signals, and uses tryTake() instead of take().
final class WorkQueue<Item: Sendable>: @unchecked Sendable {
    // All of the following is guarded by `mutex`.
    private var items: [Item] = []
    private var head = 0            // items[..<head] are taken; compacted as the queue drains
    private var busy = false        // the consumer took an item and has not called done()
    private var closed = false

    // Allocated, never moved: pthread objects must keep their address.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let nonEmpty = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let idle = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    /// Signalled (eventfd write) on every push and on close; -1 for none. Not owned.
    private let wakeFD: Int32

    init(wakeFD: Int32 = -1) {
        self.wakeFD = wakeFD
        pthread_mutex_init(mutex, nil)
        var attr = pthread_condattr_t()
        pthread_condattr_init(&attr)
        pthread_condattr_setclock(&attr, CLOCK_MONOTONIC)
        pthread_cond_init(nonEmpty, &attr)
        pthread_cond_init(idle, &attr)
        pthread_condattr_destroy(&attr)
    }

    deinit {
        pthread_cond_destroy(idle)
        pthread_cond_destroy(nonEmpty)
        pthread_mutex_destroy(mutex)
        idle.deallocate(); nonEmpty.deallocate(); mutex.deallocate()
    }

    private func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return body()
    }

    private var pending: Int { items.count - head }

    private func wake() {
        guard wakeFD >= 0 else { return }
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)  // EAGAIN only when the counter is full: still readable
    }

    /// Appends `item`; returns false (and drops it) once the queue is closed.
    @discardableResult
    func push(_ item: Item) -> Bool {
        let ok = locked {
            guard !closed else { return false }
            items.append(item)
            pthread_cond_signal(nonEmpty)
            return true
        }
        if ok { wake() }
        return ok
    }

    /// Appends `batch` in order (one wakeup); dropped once the queue is closed.
    func push(contentsOf batch: [Item]) {
        guard !batch.isEmpty else { return }
        let ok = locked {
            guard !closed else { return false }
            items.append(contentsOf: batch)
            pthread_cond_signal(nonEmpty)
            return true
        }
        if ok { wake() }
    }

    /// Consumer: the next item, waiting for one; nil once the queue is closed.
    /// The consumer calls done() when it has finished with the item.
    func take() -> Item? {
        locked {
            while pending == 0 && !closed { pthread_cond_wait(nonEmpty, mutex) }
            guard !closed else { return nil }
            busy = true
            return dequeue()
        }
    }

    /// Consumer: the next item if there is one, without waiting; nil when none is
    /// queued or the queue is closed. As with take(), done() follows.
    func tryTake() -> Item? {
        locked {
            guard !closed, pending > 0 else { return nil }
            busy = true
            return dequeue()
        }
    }

    var isClosed: Bool { locked { closed } }

    /// Whether something is queued (not yet taken).
    var hasPending: Bool { locked { pending > 0 } }

    /// Everything queued now, without waiting (for a queue whose consumer drains in batches).
    func takeAll() -> [Item] {
        locked {
            let out = Array(items[head...])
            items.removeAll(keepingCapacity: true)
            head = 0
            return out
        }
    }

    /// Consumer: the item from the last take() has been acted on.
    func done() {
        locked {
            busy = false
            if pending == 0 { pthread_cond_broadcast(idle) }
        }
    }

    /// Waits until nothing is queued and the consumer is between items, at most
    /// `timeout` seconds (nil: no limit). Returns whether that state was reached.
    func waitIdle(timeout: Double?) -> Bool {
        var deadline = timespec()
        if let timeout {
            clock_gettime(CLOCK_MONOTONIC, &deadline)
            let ns = Int(deadline.tv_nsec) + Int((timeout - timeout.rounded(.down)) * 1e9)
            deadline.tv_sec += Int(timeout) + ns / 1_000_000_000
            deadline.tv_nsec = ns % 1_000_000_000
        }
        return locked {
            while (pending > 0 || busy) && !closed {
                if timeout == nil {
                    pthread_cond_wait(idle, mutex)
                } else if pthread_cond_timedwait(idle, mutex, &deadline) == ETIMEDOUT {
                    break
                }
            }
            return pending == 0 && !busy
        }
    }

    /// Ends the queue: the consumer's take() returns nil (after the item it is
    /// working on, if any), later pushes are dropped. Returns the items never taken.
    func close() -> [Item] {
        defer { wake() }
        return locked {
            closed = true
            let left = Array(items[head...])
            items.removeAll()
            head = 0
            pthread_cond_broadcast(nonEmpty)
            pthread_cond_broadcast(idle)
            return left
        }
    }

    private func dequeue() -> Item {
        let item = items[head]
        head += 1
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= items.count {
            // A long backlog: drop the taken prefix now and then, not on every take (O(n) each).
            items.removeFirst(head)
            head = 0
        }
        return item
    }
}
