import CBPFGlue
import CConntrack
import Foundation
import Events
import Format

/// Where the conntrack source gets its live stream.
public enum ConntrackSourceKind: String, Sendable, CaseIterable {
    /// Netfilter BPF programs (kernel 6.4+): no Netlink on the live path.
    case bpf
    /// libnetfilter_conntrack NEW/DESTROY events: the old way, for older kernels and as a baseline.
    case netlink
}

public struct ConntrackOptions: Sendable {
    public var enabled = true
    public var source: ConntrackSourceKind = .bpf
    /// Namespaces to cover besides the recorder's own (paths like /run/netns/NAME or /proc/PID/ns/net).
    public var netnsPaths: [String] = []
    /// Every namespace present at start, and those that appear while recording.
    public var allNetns = false
    /// How often --all-netns looks for new namespaces.
    public var scanInterval: Double = 0.25
    /// Dump each covered namespace's table through Netlink when it is first covered.
    public var snapshot = true
    /// Overrides the event ring's size (bytes, a power of two, at least a page); tests use a tiny one to provoke loss.
    public var ringBytes: UInt32?
    public init() {}
}

/// The netfilter hooks and the priority the programs run at: after every NAT
/// hook (SRC_NAT 100) and before conntrack confirm (INT_MAX; IPv6 LOCAL_IN
/// confirms at INT_MAX - 1). A BPF hook cannot share a priority with another
/// hook (EBUSY), so lower ones are tried in turn.
enum NetfilterHook {
    static let families: [UInt32] = [2 /* NFPROTO_IPV4 */, 10 /* NFPROTO_IPV6 */]
    static let hooks: [UInt32] = [4 /* POST_ROUTING */, 1 /* LOCAL_IN */]
    static let priorities: [Int32] = (2...17).map { Int32.max - Int32($0) }
}

/// The conntrack source: the netfilter program, the namespaces it is linked
/// in, and the Netlink dumps (snapshot) and fallback stream.
final class ConntrackTracker {
    let options: ConntrackOptions
    let object: BPFObject
    /// A namespace the program is linked in. Its fd stays open while covered: a namespace
    /// inode is reused as soon as the namespace is freed, so holding it is what makes the
    /// inode an identity.
    struct Covered {
        var path: String
        var fd: Int32
        var links: [Int32]
        /// The recorder's own and --netns ones: kept for the whole recording.
        var pinned: Bool
    }
    /// Namespace inode -> coverage.
    private(set) var covered: [UInt32: Covered] = [:]
    /// Namespaces covered but not yet dumped (written by the next snapshot/tick).
    private var pendingDump: [UInt32] = []
    private var listeners: [UInt32: OpaquePointer] = [:]
    private var enobufs: [UInt32: UInt64] = [:]
    private var lastScan: UInt64 = 0
    private var lossSince: UInt64 = Clock.boot
    private var sink = RowSink()
    /// Rows written by dumps after the startup snapshot, and failures, for the summary and tests.
    private(set) var lateSnapshotRows = 0
    private(set) var errors: [String] = []

    init(options: ConntrackOptions) throws {
        self.options = options
        let rings = options.ringBytes.map { [EmbeddedBPF.Conntrack.Map.ctEvents: $0] } ?? [:]
        do {
            // The Netlink fallback loads no program (kernels before 6.4 have no netfilter programs);
            // the object still owns the maps the recorder reads (ring, losses).
            var constants: [BPFConstant: UInt32] = [:]
            if options.source == .bpf {
                let nfConn = nt_kernel_struct_id("nf_conn")
                guard nfConn > 0 else {
                    throw RecorderError.system("the kernel's BTF has no struct nf_conn (nf_conntrack as a module is not supported): "
                                               + "--conntrack-source netlink uses conntrack events instead, or --no-conntrack")
                }
                constants[EmbeddedBPF.Conntrack.Constant.nfConnType] = UInt32(nfConn)
            }
            object = try BPFObject(EmbeddedBPF.Conntrack.object, ringSizes: rings, constants: constants,
                                   autoload: options.source == .netlink ? [] : nil)
        } catch let e as RecorderError {
            guard options.source == .bpf, case .bpfLoad = e else { throw e }
            throw RecorderError.system("\(e)\n(netfilter BPF programs need Linux 6.4 or later: "
                                       + "--conntrack-source netlink uses conntrack events instead, or --no-conntrack)")
        }
    }

    deinit {
        for (_, l) in listeners { nt_ct_listener_close(l) }
        for (_, c) in covered { close(c.fd) }
    }

    static let maker = SourceMaker { options in
        guard options.conntrack.enabled, options.wants(EventSource.conntrack.name) else { return nil }
        return try ConntrackTracker(options: options.conntrack).source()
    }

    func source() -> Source {
        return Source(
            name: options.source == .bpf ? EventSource.conntrack.name : ConntrackRecords.netlinkSource, object: object,
            rings: options.source == .bpf ? [EmbeddedBPF.Conntrack.Map.ctEvents] : [],
            archived: EventSource.conntrack.archivedKinds,
            attach: { [self] _ in try attachInitial() },
            snapshot: { [self] _, w in try dumpPending(into: w) },
            poll: { [self] w, now in try tick(w, now: now) },
            owner: self)
    }

    // MARK: namespaces

    private func attachInitial() throws {
        try cover(path: "/proc/thread-self/ns/net", required: true, pinned: true)
        for p in options.netnsPaths { try cover(path: p, required: true, pinned: true) }
        if options.allNetns { scanNamespaces() }
    }

    static func inode(_ path: String) -> UInt32? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return UInt32(truncatingIfNeeded: st.st_ino)
    }

    /// Links the program in the namespace at `path` (once per namespace) and queues its dump.
    private func cover(path: String, required: Bool, pinned: Bool) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if required { throw RecorderError.system("cannot open network namespace \(path): \(BPFObject.reason(errno))") }
            return
        }
        var st = stat()
        let ino = fstat(fd, &st) == 0 ? UInt32(truncatingIfNeeded: st.st_ino) : 0
        if ino == 0 || covered[ino] != nil {
            if ino != 0 && pinned { covered[ino]?.pinned = true }
            close(fd)
            return
        }
        var links: [Int32] = []
        do {
            try Self.inNamespace(fd) {
                if options.source == .bpf {
                    try linkHooks(into: &links)
                } else {
                    guard let l = nt_ct_listen(ino, 8 << 20) else {
                        throw RecorderError.system("cannot subscribe to conntrack events in \(path): \(BPFObject.reason(errno))")
                    }
                    listeners[ino] = l
                }
            }
        } catch {
            for l in links { object.detachNetfilter(linkFD: l) }
            close(fd)
            if required { throw error }
            errors.append("\(path): \(error)")
            return
        }
        covered[ino] = Covered(path: path, fd: fd, links: links, pinned: pinned)
        if options.snapshot { pendingDump.append(ino) }
    }

    /// A namespace no process is in and nothing binds: drop its links and let it go.
    private func uncover(_ ino: UInt32) {
        guard let c = covered.removeValue(forKey: ino) else { return }
        for l in c.links { object.detachNetfilter(linkFD: l) }
        if let l = listeners.removeValue(forKey: ino) { nt_ct_listener_close(l) }
        pendingDump.removeAll { $0 == ino }
        close(c.fd)
    }

    private func linkHooks(into links: inout [Int32]) throws {
        for pf in NetfilterHook.families {
            for hook in NetfilterHook.hooks {
                var lastError: Error?
                for prio in NetfilterHook.priorities {
                    do {
                        links.append(try object.attachNetfilter(program: EmbeddedBPF.Conntrack.Program.ctHook, pf: pf, hook: hook, priority: prio))
                        lastError = nil
                        break
                    } catch { lastError = error }
                }
                if let lastError { throw lastError }
            }
        }
    }

    /// Runs `body` in the network namespace `fd`. Unless that is the caller's own, `body`
    /// runs on a thread of its own that enters the namespace and ends there: no thread of
    /// the recorder's is left in a foreign namespace, even when returning would fail.
    /// (A netfilter link or a Netlink socket stays bound to the namespace it was made in.)
    static func inNamespace<T>(_ fd: Int32, _ body: () throws -> T) throws -> T {
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard home >= 0 else { throw RecorderError.system("cannot open own network namespace: \(BPFObject.reason(errno))") }
        defer { close(home) }
        var a = stat(), b = stat()
        let same = fstat(fd, &a) == 0 && fstat(home, &b) == 0 && a.st_ino == b.st_ino && a.st_dev == b.st_dev
        if same { return try body() }
        return try withoutActuallyEscaping(body) { body in
            let box = NamespaceCall(body)
            let thread = Thread {
                let rc = nt_setns_net(fd)
                box.result = rc == 0 ? Result { try box.body!() }
                    : .failure(RecorderError.system("setns: \(BPFObject.reason(-rc))"))
                // Let go of `body` before the caller returns: it must not outlive the call.
                box.body = nil
                box.done.signal()
            }
            thread.start()
            box.done.wait()
            return try box.result!.get()
        }
    }

    /// Every namespace some process is in, and every one bound under /run/netns.
    private func scanNamespaces() {
        var seen: [UInt32: String] = [:]
        let fm = FileManager.default
        for dir in ["/run/netns", "/var/run/netns"] {
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
                let p = dir + "/" + name
                if let ino = Self.inode(p) { seen[ino] = seen[ino] ?? p }
            }
        }
        if let d = opendir("/proc") {
            defer { closedir(d) }
            while let e = readdir(d) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                guard let c = name.utf8.first, c >= 48 && c <= 57 else { continue }
                let p = "/proc/\(name)/ns/net"
                if let ino = Self.inode(p), seen[ino] == nil { seen[ino] = p }
            }
        }
        for (ino, p) in seen where covered[ino] == nil {
            try? cover(path: p, required: false, pinned: false)
        }
        for (ino, c) in covered where !c.pinned && seen[ino] == nil { uncover(ino) }
    }

    // MARK: the recorder's hooks

    private func dumpPending(into w: TimelineWriter) throws -> Int {
        var rows = 0
        let todo = pendingDump
        pendingDump.removeAll()
        for ino in todo {
            guard let c = covered[ino] else { continue }
            let fd = c.fd, path = c.path
            sink.writer = w
            sink.error = nil
            let n: Int32 = try Self.inNamespace(fd) {
                withUnsafeMutablePointer(to: &sink) { ctx in nt_ct_dump(ino, Clock.boot, RowSink.callback, ctx) }
            }
            if let e = sink.error { throw e }
            if n < 0 { errors.append("dump \(path): \(BPFObject.reason(-n))") } else { rows += Int(n) }
        }
        return rows
    }

    private func tick(_ w: TimelineWriter, now: UInt64) throws {
        if options.source == .netlink {
            sink.writer = w
            sink.error = nil
            for (ino, l) in listeners {
                var over = enobufs[ino] ?? 0
                _ = withUnsafeMutablePointer(to: &sink) { ctx in nt_ct_listener_read(l, RowSink.callback, ctx, &over) }
                enobufs[ino] = over
            }
            if let e = sink.error { throw e }
            if now - lossSince >= 1_000_000_000 {
                for (ino, n) in enobufs where n > 0 {
                    // The kernel does not say how many events each overrun dropped: the count is of overruns.
                    try w.loss(LossRow(source: ConntrackRecords.netlinkSource, kind: ConntrackRecords.netlinkOverrunLoss, count: n,
                                       fromNs: lossSince, toNs: now))
                    _ = ino
                }
                enobufs = enobufs.mapValues { _ in 0 }
                lossSince = now
            }
        }
        if options.allNetns, now - lastScan >= UInt64(options.scanInterval * 1e9) {
            lastScan = now
            scanNamespaces()
            if !pendingDump.isEmpty { lateSnapshotRows += try dumpPending(into: w) }
        }
    }
}

/// Carries the writer into libnetfilter_conntrack's C callback.
private struct RowSink {
    var writer: TimelineWriter?
    var error: Error?

    static let callback: nt_ct_sink = { ctx, e in
        guard let ctx, let e else { return }
        let s = ctx.assumingMemoryBound(to: RowSink.self)
        guard s.pointee.error == nil, let w = s.pointee.writer else { return }
        do { try w.conntrack(ConntrackRecords.row(e)) } catch { s.pointee.error = error }
    }
}

/// One call of `inNamespace` handed to its thread; the caller waits on `done` before it
/// reads `result`, so the two threads never touch it at once.
private final class NamespaceCall<T>: @unchecked Sendable {
    var body: (() throws -> T)?
    var result: Result<T, Error>?
    let done = DispatchSemaphore(value: 0)
    init(_ body: @escaping () throws -> T) { self.body = body }
}
