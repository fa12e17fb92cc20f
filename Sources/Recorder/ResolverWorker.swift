import CBPFGlue
import Format
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The resolver source, split across two threads so that arming never stalls
/// ring reading: attaching a uprobe to a libc file never seen before takes the
/// kernel 8–18 ms, and under load the single recording thread fell hundreds of
/// milliseconds behind the execs it had to arm for.
///
/// Who owns what:
/// - the recording thread runs the Source closures. It only queues inputs
///   (`jobs`: execs, unprobed mappings, sweep ticks) and writes the rows the
///   worker made (`rows`); it alone uses the TimelineWriter. Resolver calls
///   (NT_KIND_DNS) need no probe state and are written there directly.
/// - the worker thread owns `tracker` (every probe, cache and statistic) from
///   start() until stop() joins it; the recording thread touches the tracker
///   only before (prepare) and after (statistics, deinit's detaching).
/// - `jobs` and `rows` lock, `pinnedFiles` is atomic; they are the only state
///   both threads use.
///
/// Jobs run in the order their records were read, as they did inline: an exec
/// is acted on before a later mapping by the same process is judged late or missed.
/// The one thing the recording thread still does per record is open the process's
/// root and executable (or the mapped file): the worker may run a job after the
/// process is gone, and those files are all it needs. They are the job's, closed
/// once it has run (or been dropped).
final class ResolverWorker: @unchecked Sendable {
    enum Job: Sendable {
        case snapshot
        case exec(pid: UInt32, startNs: UInt64, ts: UInt64, pinned: PinnedExec)
        case mapping(LibMapping, pinnedFile: Int32)
        case sweep(now: UInt64)

        /// Closes the files opened for this job; returns how many.
        func closePinned() -> Int {
            let fds: [Int32]
            switch self {
            case .exec(_, _, _, let p): fds = [p.root, p.exe]
            case .mapping(_, let f): fds = [f]
            case .snapshot, .sweep: fds = []
            }
            var n = 0
            for fd in fds where fd >= 0 { close(fd); n += 1 }
            return n
        }
    }

    /// At most this many files held open for queued jobs. Past it (a worker far
    /// behind) jobs carry none and the worker looks the process up itself, as it
    /// would have to anyway: never more than this against the descriptor limit.
    static let pinLimit = 256

    /// How long the final tick waits for queued jobs before it counts them as lost.
    static let finalWaitSeconds = 5.0

    private let tracker: ResolverTracker
    private let jobs = WorkQueue<Job>()
    private let rows = WorkQueue<DNSProbeRow>()
    /// Files open for queued jobs: opened on the recording thread, closed on the worker's.
    private let pinnedFiles = Atomic<Int>(0)
    /// Recording thread only.
    private var thread: pthread_t?

    init(options: ResolverOptions) throws {
        tracker = try ResolverTracker(options: options)
    }

    /// The process source's exec hook: queues the exec; the worker probes its libc.
    var execHook: (UInt32, UInt64, UInt64) -> Void {
        { [unowned self] pid, start, ts in
            self.enqueue(.exec(pid: pid, startNs: start, ts: ts, pinned: self.pinExec(pid: pid)))
        }
    }

    func source() -> Source {
        Source(
            name: "resolver", object: tracker.object, rings: ["dns_events"],
            kinds: [NT_KIND_DNS.rawValue, NT_KIND_DNS_LIB.rawValue],
            decode: { [unowned self] data, size, kind, w in
                switch kind {
                case NT_KIND_DNS.rawValue: try DNSEvents.writeCall(data, size: size, into: w)
                case NT_KIND_DNS_LIB.rawValue:
                    let m = try DNSEvents.libMapping(data, size: size)
                    self.enqueue(.mapping(m, pinnedFile: self.pin(m.mapFilesPath, O_RDONLY | O_CLOEXEC)))
                default: throw DecodeError.unknownKind(kind)
                }
            },
            attach: { [unowned self] obj in
                try obj.attachAll(skip: ["nt_gai_enter", "nt_gai_return", "nt_ghbn_enter", "nt_ghbn2_enter", "nt_ghbn_return"])
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
            finish: { [unowned self] in self.stop() })
    }

    /// Exec → armed delays (ns), execs seen, execs whose process was gone when
    /// looked at; nil while the worker runs (the tracker is its own then).
    var statistics: (armDelays: [UInt64], execsSeen: Int, execsGone: Int)? {
        guard thread == nil else { return nil }
        return (tracker.armDelays, tracker.execsSeen, tracker.execsGone)
    }

    // MARK: recording thread

    private func enqueue(_ job: Job) {
        if !jobs.push(job) { release(job) }
    }

    private func pinExec(pid: UInt32) -> PinnedExec {
        let root = pin("/proc/\(pid)/root", ResolverTracker.oPath | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { return .none }
        return PinnedExec(root: root, exe: pin("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC))
    }

    /// Opens `path` for a job, within the limit; -1 if over it or the open fails.
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

    @discardableResult
    private func writeRows(_ w: TimelineWriter) throws -> Int {
        let made = rows.takeAll()
        for r in made { try w.dnsProbe(r) }
        return made.count
    }

    /// Last tick: everything queued gets acted on and written, within a bound; what
    /// the worker could not reach in time is written as loss, not dropped silently.
    private func finish(into w: TimelineWriter, now: UInt64) throws {
        _ = jobs.waitIdle(timeout: Self.finalWaitSeconds)
        let left = stop()
        try writeRows(w)
        // Sweeps and the snapshot are not events; execs and mappings left undone are.
        let undone = left.compactMap { job -> UInt64? in
            switch job {
            case .exec(_, _, let ts, _): return ts
            case .mapping(let m, _): return m.ts
            case .snapshot, .sweep: return nil
            }
        }
        if let from = undone.min() {
            try w.loss(LossRow(source: "resolver", kind: "dns_arming", count: UInt64(undone.count),
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

    /// Stops the worker after the job it is on, and joins it. Returns the jobs it never
    /// started. Safe to call again, or when it never started.
    @discardableResult
    func stop() -> [Job] {
        guard let t = thread else { return [] }
        let left = jobs.close()
        pthread_join(t, nil)
        thread = nil
        for job in left { release(job) }
        return left
    }

    // MARK: worker thread

    private func run() {
        while let job = jobs.take() {
            switch job {
            case .snapshot: tracker.snapshot()
            case .exec(let pid, let startNs, let ts, let pinned):
                tracker.exec(pid: pid, startNs: startNs, ts: ts, pinned: pinned)
            case .mapping(let m, let file): tracker.unprobedMapping(m, pinnedFile: file)
            case .sweep(let now): tracker.sweep(now: now)
            }
            release(job)
            // Rows before done(): whoever waits for idle then finds them queued.
            rows.push(contentsOf: tracker.takeRows())
            jobs.done()
        }
    }
}
