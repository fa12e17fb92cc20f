import CBPFGlue
import Events
import Format
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The resolver source, split across two threads so that arming never stalls
/// ring reading, and never waits behind other sources' records: attaching a
/// uprobe to a libc file never seen before takes the kernel 8–18 ms, and a
/// short-lived process (a 1.5 ms getent) is gone before an exec row queued
/// behind thousands of socket rows is even read.
///
/// Who reads and owns what:
/// - the worker thread reads the `exec_notices` ring (bpf/resolver.bpf.c: one
///   tiny record per exec, written for this thread alone) and arms from it
///   directly: for each notice it opens the process's root and executable as
///   soon as the notice is read, then probes the library it will map. It also
///   runs the jobs the recording thread queues (`jobs`: unprobed mappings, sweep
///   ticks, the startup snapshot), each after the notices already in the ring.
///   From start() until stop() joins it, it owns `tracker` (every probe and
///   cache), `notices` (the ring reader) and `pending`.
/// - the recording thread runs the Source closures. It reads `dns_events`
///   (resolver calls, written there directly: they need no probe state;
///   unprobed mappings, queued as jobs with the mapped file open) and writes the
///   rows the worker made (`rows`); it alone uses the TimelineWriter. It touches
///   the tracker and the notice ring only before start() (prepare) and after the
///   join (notices left unread, deinit's detaching).
/// - `jobs` and `rows` lock, `pinnedFiles` is atomic, `wakeFD` is an eventfd;
///   they are the only state both threads use.
///
/// The worker sleeps in poll(2) on the notice ring's fd and the eventfd the job
/// queue signals: no busy polling, and a notice or a job wakes it at once.
/// Files opened for a notice or job are its own, closed once it has run (or been dropped).
final class ResolverWorker: @unchecked Sendable {
    enum Job: Sendable {
        case snapshot
        case mapping(LibMapping, pinnedFile: Int32)
        case sweep(now: UInt64)
        /// Nothing but a point in the queue: done once the notices before it are acted on.
        case flush

        /// Closes the files opened for this job; returns how many.
        func closePinned() -> Int {
            guard case .mapping(_, let f) = self, f >= 0 else { return 0 }
            close(f)
            return 1
        }
    }

    /// An exec read from the notice ring, its files opened as it was read.
    struct Notice {
        var pid: UInt32
        var startNs: UInt64
        var ts: UInt64
        var key: nt_notice_key
        var pinned: PinnedExec
    }

    /// At most this many files held open for pending notices and queued jobs. Past it
    /// (a worker far behind) they carry none and the worker looks the process up
    /// itself when it gets to it: never more than this against the descriptor limit.
    static let pinLimit = 256

    /// Notices acted on in a row, at most, while a job waits.
    static let noticesPerJob = 64

    /// How long the final tick waits for queued jobs before it counts them as lost.
    static let finalWaitSeconds = 5.0

    /// Attached per library file by the tracker, never at start.
    static let uprobes: Set<BPFProgram> = [
        EmbeddedBPF.Resolver.Program.gaiEnter, EmbeddedBPF.Resolver.Program.gaiReturn, EmbeddedBPF.Resolver.Program.ghbnEnter,
        EmbeddedBPF.Resolver.Program.ghbn2Enter, EmbeddedBPF.Resolver.Program.ghbnReturn,
    ]

    private let tracker: ResolverTracker
    /// Signalled by `jobs` on every push and on close; the worker polls it with the ring.
    private let wakeFD: Int32
    private let jobs: WorkQueue<Job>
    private let rows = WorkQueue<DNSProbeRow>()
    /// Files open for pending notices and queued jobs; opened and closed on either thread.
    private let pinnedFiles = Atomic<Int>(0)
    /// Recording thread only.
    private var thread: pthread_t?
    /// The exec notice ring's reader and its map fd: the worker's while it runs.
    private var notices: UnsafeMutablePointer<nt_ring>?
    private var noticeFD: Int32 = -1
    /// Notices read, not yet acted on (worker's while it runs); `pendingHead` is the next.
    private var pending: [Notice] = []
    private var pendingHead = 0
    /// After the join: the ring is only counted (notices never acted on), not acted on.
    private var countingOnly = false
    private var unread: (count: Int, firstTs: UInt64) = (0, .max)

    init(options: ResolverOptions) throws {
        tracker = try ResolverTracker(options: options)
        let fd = nt_eventfd()
        guard fd >= 0 else { throw RecorderError.system("cannot make an eventfd: \(String(cString: strerror(-fd)))") }
        wakeFD = fd
        jobs = WorkQueue<Job>(wakeFD: fd)
    }

    deinit {
        if let notices {
            nt_ring_close(notices)
            notices.deallocate()
        }
        for n in pending[pendingHead...] { _ = closePinned(n) }
        close(wakeFD)
    }

    /// Only with the process source: arming follows its execs.
    static let maker = SourceMaker { options in
        guard options.resolver.enabled, options.wants(EventSource.resolver.name),
              options.wants(EventSource.process.name) else { return nil }
        return try ResolverWorker(options: options.resolver).source()
    }

    func source() -> Source {
        Source(
            name: EventSource.resolver.name, object: tracker.object, rings: [EmbeddedBPF.Resolver.Map.dnsEvents],
            archived: EventSource.resolver.archivedKinds,
            live: [NT_KIND_DNS_LIB.rawValue: { [unowned self] data, size, _ in
                let m = try LibRecords.mapping(data, size: size)
                self.enqueue(.mapping(m, pinnedFile: self.pin(m.mapFilesPath, O_RDONLY | O_CLOEXEC)))
            }],
            attach: { [unowned self] obj in
                try self.openNotices(obj)
                try obj.attachAll(skip: Self.uprobes)
                try self.tracker.prepare(obj)
                try self.start()
            },
            snapshot: { [unowned self] _, w in
                // Ready must mean armed: callers (and the tests) expect the libcs of
                // processes alive at start to be probed once recording has started.
                self.jobs.push(.snapshot)
                _ = self.jobs.waitIdle(timeout: nil)
                return try self.writeRows(w)
            },
            tick: { [unowned self] _, w, now, final in
                if final {
                    try self.finish(into: w, now: now)
                } else {
                    self.jobs.push(.sweep(now: now))
                    try self.writeRows(w)
                }
            },
            poll: { [unowned self] w, _ in try self.writeRows(w) },
            finish: { [unowned self] in self.stop() },
            owner: self)
    }

    // MARK: recording thread

    /// The notice ring's reader, made before the programs attach (the ring keeps
    /// what comes before the worker starts). The callback runs on whichever thread
    /// consumes: the worker while it runs, the recording thread after the join.
    private func openNotices(_ obj: BPFObject) throws {
        guard notices == nil else { return }
        noticeFD = try obj.mapFD(EmbeddedBPF.Resolver.Map.execNotices)
        let r = UnsafeMutablePointer<nt_ring>.allocate(capacity: 1)
        r.initialize(to: nt_ring())
        let rc = nt_ring_open(r, noticeFD)
        guard rc == 0 else {
            r.deallocate()
            throw RecorderError.system("cannot map the exec notice ring: \(BPFObject.reason(-rc))")
        }
        notices = r
    }

    private func enqueue(_ job: Job) {
        if !jobs.push(job) { release(job) }
    }

    /// Opens `path` for a notice or job, within the limit; -1 if over it or the open fails.
    private func pin(_ path: String, _ flags: Int32) -> Int32 {
        guard pinnedFiles.load(ordering: .relaxed) < Self.pinLimit else { return -1 }
        let fd = open(path, flags)
        if fd >= 0 { pinnedFiles.add(1, ordering: .relaxed) }
        return fd
    }

    private func release(_ job: Job) {
        let n = job.closePinned()
        if n > 0 { pinnedFiles.subtract(n, ordering: .relaxed) }
    }

    private func closePinned(_ n: Notice) -> Int {
        var closed = 0
        for fd in [n.pinned.root, n.pinned.exe] where fd >= 0 { close(fd); closed += 1 }
        if closed > 0 { pinnedFiles.subtract(closed, ordering: .relaxed) }
        return closed
    }

    @discardableResult
    private func writeRows(_ w: TimelineWriter) throws -> Int {
        let made = rows.takeAll()
        for r in made { try w.dnsProbe(r) }
        return made.count
    }

    /// Last tick: every exec notice and job so far gets acted on and written, within a
    /// bound; what the worker could not reach in time is written as loss, not dropped silently.
    private func finish(into w: TimelineWriter, now: UInt64) throws {
        // The flush is done once the worker has read the ring and acted on what was there.
        jobs.push(.flush)
        _ = jobs.waitIdle(timeout: Self.finalWaitSeconds)
        let left = stop()
        try writeRows(w)
        // Sweeps, flushes and the snapshot are not events; mappings and execs left undone are.
        var undone = left.compactMap { job -> UInt64? in
            if case .mapping(let m, _) = job { return m.ts }
            return nil
        }
        if unread.count > 0 { undone.append(contentsOf: repeatElement(unread.firstTs, count: unread.count)) }
        if let from = undone.min() {
            try w.loss(LossRow(source: EventSource.resolver.name, kind: DNSRecords.armingLoss, count: UInt64(undone.count),
                               fromNs: from, toNs: max(now, from)))
        }
    }

    private func start() throws {
        precondition(thread == nil, "resolver worker started twice")
        let retained = Unmanaged.passRetained(self)  // released by the thread when it ends
        var t = pthread_t()
        let rc = pthread_create(&t, nil, { arg in
            let worker = Unmanaged<ResolverWorker>.fromOpaque(arg!).takeRetainedValue()
            worker.run()
            return nil
        }, retained.toOpaque())
        guard rc == 0 else {
            retained.release()
            throw RecorderError.system("cannot start the resolver worker thread: \(String(cString: strerror(rc)))")
        }
        thread = t
    }

    /// Stops the worker after the notice or job it is on, and joins it. Returns the
    /// jobs it never started; the exec notices it never acted on (read or still in
    /// the ring) are counted in `unread`. Safe to call again, or when it never started.
    @discardableResult
    func stop() -> [Job] {
        guard let t = thread else { return [] }
        let left = jobs.close()
        pthread_join(t, nil)
        thread = nil
        for job in left { release(job) }
        // The worker is gone: its notice state is ours now.
        for n in pending[pendingHead...] {
            _ = closePinned(n)
            unread.count += 1
            unread.firstTs = min(unread.firstTs, n.ts)
        }
        pending.removeAll()
        pendingHead = 0
        countingOnly = true
        readNotices()
        return left
    }

    // MARK: worker thread (and, after the join, the recording thread through noticeRead)

    /// One record from the notice ring: its process's root and executable are opened
    /// right now, while it most likely still runs; it is acted on in order, soon.
    private func noticeRead(_ data: UnsafeRawPointer, _ size: Int) {
        guard size >= MemoryLayout<nt_exec_notice>.size else { return }
        let e = data.assumingMemoryBound(to: nt_exec_notice.self).pointee
        guard e.kind == NT_KIND_EXEC_NOTICE.rawValue else { return }
        if countingOnly {
            unread.count += 1
            unread.firstTs = min(unread.firstTs, e.ts)
            return
        }
        var pinned = PinnedExec.none
        let root = pin("/proc/\(e.pid)/root", ResolverTracker.oPath | O_DIRECTORY | O_CLOEXEC)
        if root >= 0 { pinned = PinnedExec(root: root, exe: pin("/proc/\(e.pid)/exe", O_RDONLY | O_CLOEXEC)) }
        pending.append(Notice(pid: e.pid, startNs: e.start_ns, ts: e.ts, key: e.key, pinned: pinned))
    }

    /// Reads whatever the notice ring holds, without waiting.
    private func readNotices() {
        guard let notices else { return }
        _ = nt_ring_consume(notices, { ctx, data, size in
            guard let ctx, let data else { return }
            Unmanaged<ResolverWorker>.fromOpaque(ctx).takeUnretainedValue().noticeRead(data, size)
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    private func run() {
        var fds = [pollfd(fd: noticeFD, events: Int16(POLLIN), revents: 0),
                   pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
        while true {
            // Execs first, each read as early as possible: after each arming (which
            // can take milliseconds) the ring is read again, so the files of the
            // notices behind it are opened before their processes can exit.
            readNotices()
            var acted = 0
            // Bounded while jobs wait, so a storm of execs cannot starve them (the final flush).
            while pendingHead < pending.count && !(acted >= Self.noticesPerJob && jobs.hasPending) {
                if jobs.isClosed { return }
                let n = pending[pendingHead]
                pendingHead += 1
                acted += 1
                if let until = tracker.exec(pid: n.pid, startNs: n.startNs, ts: n.ts, pinned: n.pinned) {
                    tracker.settle(n.key, until: until)
                }
                _ = closePinned(n)
                rows.push(contentsOf: tracker.takeRows())
                readNotices()
            }
            if pendingHead == pending.count {
                pending.removeAll(keepingCapacity: true)
                pendingHead = 0
            } else if pendingHead >= 4096 {
                pending.removeFirst(pendingHead)
                pendingHead = 0
            }
            // Then one job, acted on after every notice the ring held when it was taken
            // (an exec before a mapping report by the same process, as in the kernel).
            if let job = jobs.tryTake() {
                switch job {
                case .snapshot: tracker.snapshot()
                case .mapping(let m, let file): tracker.unprobedMapping(m, pinnedFile: file)
                case .sweep(let now): tracker.sweep(now: now)
                case .flush: break
                }
                release(job)
                // Rows before done(): whoever waits for idle then finds them queued.
                rows.push(contentsOf: tracker.takeRows())
                jobs.done()
                continue
            }
            if jobs.isClosed { return }
            // Nothing to do: sleep until a notice or a job arrives. The eventfd is
            // drained first, so a push after this point makes it readable again.
            var count: UInt64 = 0
            _ = read(wakeFD, &count, 8)
            if jobs.hasPending || jobs.isClosed { continue }
            readNotices()
            if pendingHead < pending.count { continue }
            fds[0].revents = 0; fds[1].revents = 0
            _ = poll(&fds, 2, -1)
        }
    }
}
