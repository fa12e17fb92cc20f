import CBPFGlue
import Events
import Foundation
import Format
#if canImport(Glibc)
import Glibc
#endif

public struct ResolverOptions: Sendable {
    public var enabled = true
    /// At most this many library files probed at once; more are refused (and recorded).
    public var maxFiles = 64
    /// A root's resolver library is re-checked (a libc upgrade makes a new inode) at most this often.
    public var rootRecheckSeconds = 2.0
    /// Probed files older than this are checked for remaining users this often; unused ones are detached.
    public var sweepSeconds = 10.0
    public init() {}
}

/// Attaches the resolver probes (bpf/resolver.bpf.c) to resolver library
/// files, driven by exec events: for each exec, the new process's root
/// (/proc/PID/root, so a container's own libc is found) and its ELF
/// interpreter say which libc it will map; that file is probed before the
/// dynamic loader maps it. Probes are per file (kernel dev + inode), attached
/// once, detached when no process maps the file any longer. Whatever slips
/// through (a library the loader found elsewhere, a root seen too late) is
/// reported by the kernel as an unprobed mapping: armed late, or recorded as
/// a miss.
///
/// Confined to the resolver's worker thread (ResolverWorker.swift): arming can
/// take tens of milliseconds (the kernel's first uprobe_register on a file), and
/// on the recording thread that stalled ring reading and let arming fall behind
/// under load. The recording thread touches it only before the worker starts
/// (`prepare`) and after it is joined (deinit). Rows are not written
/// here: they are collected (`takeRows`) and written by the recording thread,
/// the only one that may use the TimelineWriter.
final class ResolverTracker {
    struct FileKey: Hashable { var dev: UInt64; var ino: UInt64 }
    private struct RootKey: Hashable { var dev: UInt64; var ino: UInt64; var interp: String }

    private final class Probed {
        let kkey: FileKey
        var userKeys: Set<FileKey>
        let path: String
        var links: [OpaquePointer]
        let armedTs: UInt64
        init(kkey: FileKey, userKeys: Set<FileKey>, path: String, links: [OpaquePointer], armedTs: UInt64) {
            self.kkey = kkey; self.userKeys = userKeys; self.path = path; self.links = links; self.armedTs = armedTs
        }
    }

    let options: ResolverOptions
    /// Shared with the recording thread, which reads its rings and map fds (libbpf lookups, no mutation).
    let object: BPFObject
    private var probed: [FileKey: Probed] = [:]          // by kernel key
    private var byUser: [FileKey: FileKey] = [:]         // stat() key -> kernel key
    private var refused: [FileKey: String] = [:]
    private var rootCache: [RootKey: (checked: UInt64, libs: [FileKey])] = [:]
    /// exe (stat key) -> its PT_INTERP, "" when statically linked; nil entry = not an ELF we read.
    private var exeCache: [FileKey: String?] = [:]
    private var lastSweep: UInt64 = 0
    private var selfProbeReady = false
    private let multiarch: String

    /// Rows made since the last takeRows().
    private var rows: [DNSProbeRow] = []

    init(options: ResolverOptions) throws {
        self.options = options
        object = try BPFObject(EmbeddedBPF.Resolver.object)
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: u.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        multiarch = "\(machine)-linux-gnu"
    }

    deinit {
        for p in probed.values { for l in p.links { bpf_link__destroy(l) } }
    }

    /// Before the worker starts: whether the BPF side can tell us the kernel's key for a file.
    func prepare(_ obj: BPFObject) throws {
        var zero: UInt32 = 0, me = UInt32(getpid())
        selfProbeReady = bpf_map_update_elem(try obj.mapFD(EmbeddedBPF.Resolver.Map.resolverCfg), &zero, &me, 0) == 0
    }

    /// The rows made since the last call, in the order they were made.
    func takeRows() -> [DNSProbeRow] {
        defer { rows.removeAll(keepingCapacity: true) }
        return rows
    }

    // MARK: exec-driven arming

    /// Processes alive at start: probe the libraries they use (long-running daemons resolve too).
    func snapshot() {
        let now = Clock.boot
        for name in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = UInt32(name) else { continue }
            handleExec(pid: pid, startNs: 0, ts: now, snapshot: true)
        }
    }

    /// A process exec'd (ts = the exec's kernel timestamp): probe the library it will map.
    /// `pinned` (borrowed: the caller closes it) holds its root and executable when they
    /// could be opened as the exec was read; otherwise they are looked up now, if it still runs.
    /// Returns the boot time until which the process's (root, executable) pair is settled —
    /// every library its loader can map armed or refused, nothing to say per process —
    /// or nil when a later exec of the pair must be looked at again.
    @discardableResult
    func exec(pid: UInt32, startNs: UInt64, ts: UInt64, pinned: PinnedExec) -> UInt64? {
        handleExec(pid: pid, startNs: startNs, ts: ts, snapshot: false, pinned: pinned)
    }

    @discardableResult
    private func handleExec(pid: UInt32, startNs: UInt64, ts: UInt64, snapshot: Bool,
                            pinned: PinnedExec = .none) -> UInt64? {
        let rootFD = pinned.root >= 0 ? pinned.root : open("/proc/\(pid)/root", Self.oPath | O_DIRECTORY | O_CLOEXEC)
        let exeFD = pinned.exe >= 0 ? pinned.exe : open("/proc/\(pid)/exe", O_RDONLY | O_CLOEXEC)
        defer {
            if rootFD >= 0 && rootFD != pinned.root { close(rootFD) }
            if exeFD >= 0 && exeFD != pinned.exe { close(exeFD) }
        }
        guard rootFD >= 0 else { return nil }
        var rst = stat()
        guard fstat(rootFD, &rst) == 0 else { return nil }
        guard exeFD >= 0 else { return nil }  // gone, or a kernel thread
        var est = stat()
        guard fstat(exeFD, &est) == 0 else { return nil }
        let exeKey = FileKey(dev: UInt64(est.st_dev), ino: UInt64(est.st_ino))
        let interp: String?
        if let cached = exeCache[exeKey] { interp = cached } else {
            interp = ResolverELF.interpreter(exeFD)
            if exeCache.count >= 4096 { exeCache.removeAll() }
            exeCache[exeKey] = interp
        }
        guard let interp else { return nil }
        if interp.isEmpty {
            guard !snapshot else { return nil }
            // Statically linked: no resolver library to probe. Said, not pretended.
            rows.append(DNSProbeRow(ts: Clock.boot, event: .static, pid: pid, startNs: startNs, kdev: 0,
                                    ino: exeKey.ino, path: Self.readlink("/proc/\(pid)/exe") ?? "?", triggerTs: ts,
                                    detail: "statically linked: no resolver library to probe"))
            return nil
        }
        let rk = RootKey(dev: UInt64(rst.st_dev), ino: UInt64(rst.st_ino), interp: interp)
        let now = Clock.boot
        let recheck = UInt64(options.rootRecheckSeconds * 1e9)
        if let c = rootCache[rk], now &- c.checked < recheck,
           c.libs.allSatisfy({ probed[$0] != nil || refused[$0] != nil }) {
            return c.checked + recheck
        }
        var libs: [FileKey] = []
        for path in candidates(interp: interp) {
            let fd = nt_open_in_root(rootFD, path)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0 else { continue }
            let uk = FileKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
            if let k = byUser[uk], probed[k] != nil || refused[k] != nil { libs.append(k); break }
            if let k = arm(fd: fd, userKey: uk, path: path, pid: pid, startNs: startNs,
                           triggerTs: ts, fromExec: !snapshot) {
                libs.append(k)
            }
            break
        }
        if rootCache.count >= 4096 { rootCache.removeAll() }
        rootCache[rk] = (now, libs)
        return libs.allSatisfy({ probed[$0] != nil || refused[$0] != nil }) ? now + recheck : nil
    }

    /// Where the dynamic loader named `interp` finds the resolver: musl's loader is its libc;
    /// glibc's finds libc.so.6 in the loader's directory or the standard ones.
    private func candidates(interp: String) -> [String] {
        let base = interp.split(separator: "/").last.map(String.init) ?? interp
        if base.hasPrefix("ld-musl") { return [interp] }
        let dir = interp.hasPrefix("/") ? String(interp[..<(interp.lastIndex(of: "/") ?? interp.startIndex)]) : "/lib"
        var dirs = [dir.isEmpty ? "/" : dir, "/lib/\(multiarch)", "/usr/lib/\(multiarch)", "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
        var seen = Set<String>()
        dirs = dirs.filter { seen.insert($0).inserted }
        return dirs.map { "\($0)/libc.so.6" }
    }

    /// Probes the file open as `fd` unless it already is; returns its kernel key.
    @discardableResult
    private func arm(fd: Int32, userKey: FileKey, path: String, pid: UInt32, startNs: UInt64,
                     triggerTs: UInt64, fromExec: Bool) -> FileKey? {
        let kkey = kernelKey(fd) ?? FileKey(dev: Self.kernelDev(userKey.dev), ino: userKey.ino)
        if let p = probed[kkey] {
            p.userKeys.insert(userKey)
            byUser[userKey] = kkey
            rows.append(DNSProbeRow(ts: Clock.boot, event: .alias, pid: pid, startNs: startNs, kdev: kkey.dev,
                                    ino: kkey.ino, path: path, triggerTs: triggerTs, detail: "same file as \(p.path)"))
            return kkey
        }
        if refused[kkey] != nil { byUser[userKey] = kkey; return kkey }
        func refuse(_ why: String) -> FileKey? {
            refused[kkey] = why
            byUser[userKey] = kkey
            setArmed(kkey, state: UInt32(NT_LIB_REFUSED))
            rows.append(DNSProbeRow(ts: Clock.boot, event: .refused, pid: pid, startNs: startNs, kdev: kkey.dev,
                                    ino: kkey.ino, path: path, triggerTs: triggerTs, detail: why))
            return kkey
        }
        if probed.count >= options.maxFiles { return refuse("limit of \(options.maxFiles) probed files reached") }
        let t0 = Clock.boot
        let file = "/proc/self/fd/\(fd)"
        let offsets = ResolverELF.functionOffsets(fd, names: ["getaddrinfo", "gethostbyname", "gethostbyname2"])
        let tElf = Clock.boot
        var links: [OpaquePointer] = []
        func attach(_ prog: BPFProgram, _ fn: String, ret: Bool) -> Int32 {
            guard let p = object.program(prog), let off = offsets[fn] else { return ENOENT }
            guard let l = nt_attach_uprobe(p, file, nil, Int(off), ret ? 1 : 0) else { return errno == 0 ? ENOENT : errno }
            links.append(l)
            return 0
        }
        let e1 = attach(EmbeddedBPF.Resolver.Program.gaiEnter, "getaddrinfo", ret: false)
        let e2 = e1 == 0 ? attach(EmbeddedBPF.Resolver.Program.gaiReturn, "getaddrinfo", ret: true) : e1
        if e1 != 0 || e2 != 0 {
            for l in links { bpf_link__destroy(l) }
            return refuse(offsets["getaddrinfo"] == nil ? "no getaddrinfo symbol"
                              : "getaddrinfo not probed: \(String(cString: strerror(e1 != 0 ? e1 : e2)))")
        }
        var missing: [String] = []
        for fn in ["gethostbyname", "gethostbyname2"] {
            let before = links.count
            if attach(fn == "gethostbyname" ? EmbeddedBPF.Resolver.Program.ghbnEnter : EmbeddedBPF.Resolver.Program.ghbn2Enter, fn, ret: false) != 0
                || attach(EmbeddedBPF.Resolver.Program.ghbnReturn, fn, ret: true) != 0 {
                for l in links[before...] { bpf_link__destroy(l) }
                links.removeSubrange(before...)
                missing.append(fn)
            }
        }
        let armedTs = Clock.boot
        setArmed(kkey, state: UInt32(NT_LIB_ARMED))
        let shown = fromExec ? path : (Self.readlink(file) ?? path)
        probed[kkey] = Probed(kkey: kkey, userKeys: [userKey], path: shown, links: links, armedTs: armedTs)
        byUser[userKey] = kkey
        let host = Self.readlink(file) ?? "?"
        rows.append(DNSProbeRow(ts: armedTs, event: .armed, pid: pid, startNs: startNs, kdev: kkey.dev, ino: kkey.ino,
                                path: shown, triggerTs: triggerTs,
                                detail: "host path \(host); symbols \((tElf &- t0) / 1000) us, attach \((armedTs &- tElf) / 1000) us"
                                    + (missing.isEmpty ? "" : "; not probed: " + missing.joined(separator: ", "))))
        return kkey
    }

    private func setArmed(_ k: FileKey, state: UInt32) {
        guard let fd = try? object.mapFD(EmbeddedBPF.Resolver.Map.armed) else { return }
        var key = nt_lib_key(dev: k.dev, ino: k.ino)
        var v = nt_lib_state(state: state, _pad: 0, maps: 0)
        bpf_map_update_elem(fd, &key, &v, 0)
    }

    /// The key the kernel sees for the file open as `fd`: map it into our own
    /// memory and let the BPF side read the mapping's file (under overlayfs,
    /// stat() shows the overlay's inode, the mapping the real one).
    /// The slot is one for the whole process: a file mapping the recording thread
    /// makes at the same moment can overwrite it (the address then differs), so retry.
    private func kernelKey(_ fd: Int32) -> FileKey? {
        guard selfProbeReady, let sfd = try? object.mapFD(EmbeddedBPF.Resolver.Map.selfProbe) else { return nil }
        var zero: UInt32 = 0
        for _ in 0..<3 {
            // Cleared first: munmap then mmap often returns the same address, and a
            // report the BPF side could not make (bpf_find_vma busy) must not look like one.
            var sp = nt_self_probe()
            bpf_map_update_elem(sfd, &zero, &sp, 0)
            guard let m = mmap(nil, 4096, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else { return nil }
            defer { munmap(m, 4096) }
            // The BPF side reads a new mapping at this thread's next mmap_lock acquisition
            // (bpf/resolver.bpf.c): a no-op mprotect takes the lock.
            mprotect(m, 4096, PROT_READ)
            guard bpf_map_lookup_elem(sfd, &zero, &sp) == 0 else { return nil }
            if sp.addr == UInt64(UInt(bitPattern: m)) { return FileKey(dev: sp.key.dev, ino: sp.key.ino) }
        }
        return nil
    }

    // MARK: kernel records

    /// A process mapped a resolver-like library that was not armed at that moment.
    /// `pinnedFile` (borrowed, -1 if none) is the mapped file, opened as the record was read.
    func unprobedMapping(_ m: LibMapping, pinnedFile: Int32) {
        let k = FileKey(dev: m.kdev, ino: m.ino)
        let pid = m.pid, startNs = m.startNs, name = m.name
        if let p = probed[k] {
            // Armed between the mapping and now: late by the difference (else it raced our map update: covered).
            if p.armedTs > m.ts {
                rows.append(DNSProbeRow(ts: p.armedTs, event: .late, pid: pid, startNs: startNs, kdev: k.dev, ino: k.ino,
                                        path: p.path, triggerTs: m.ts,
                                        detail: "mapped \(name) before it was probed: calls before ts not seen"))
            }
            return
        }
        if refused[k] != nil { return }
        let mapPath = m.mapFilesPath
        let fd = pinnedFile >= 0 ? pinnedFile : open(mapPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            rows.append(DNSProbeRow(ts: Clock.boot, event: .miss, pid: pid, startNs: startNs, kdev: k.dev, ino: k.ino,
                                    path: name, triggerTs: m.ts,
                                    detail: "mapped an unprobed resolver library (\(m.viaInterpreter ? "interpreter" : "mmap")) and was gone before it could be probed"))
            // Probe the file for the processes that follow: found through the parent's
            // root (almost always the same root), verified to be the very file mapped.
            armThroughParent(m, key: k)
            return
        }
        defer { if fd != pinnedFile { close(fd) } }
        var st = stat()
        fstat(fd, &st)
        let uk = FileKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
        let shown = Self.readlink(mapPath) ?? Self.readlink("/proc/self/fd/\(fd)") ?? name
        let kk = arm(fd: fd, userKey: uk, path: shown, pid: pid, startNs: startNs, triggerTs: m.ts, fromExec: false)
        if let kk, kk != k, probed[kk] != nil {
            // Reached through another path: remember this key too.
            probed[kk]!.userKeys.insert(k)
            setArmed(k, state: UInt32(NT_LIB_ARMED))
        }
        if let kk, let p = probed[kk] {
            rows.append(DNSProbeRow(ts: p.armedTs, event: .late, pid: pid, startNs: startNs, kdev: k.dev, ino: k.ino,
                                    path: shown, triggerTs: m.ts,
                                    detail: "mapped \(name) before it was probed: calls before ts not seen"))
        }
    }

    private func armThroughParent(_ m: LibMapping, key k: FileKey) {
        let rootFD = open("/proc/\(m.ppid)/root", Self.oPath | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { return }
        defer { close(rootFD) }
        let dirs = ["/lib/\(multiarch)", "/usr/lib/\(multiarch)", "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/lib/musl/lib"]
        for dir in dirs {
            let path = "\(dir)/\(m.name)"
            let fd = nt_open_in_root(rootFD, path)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            guard kernelKey(fd) == k else { continue }
            var st = stat()
            fstat(fd, &st)
            arm(fd: fd, userKey: FileKey(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino)), path: path,
                pid: m.pid, startNs: m.startNs, triggerTs: m.ts, fromExec: false)
            return
        }
    }

    // MARK: detaching

    /// Files probed for a while that no process maps any longer lose their probes.
    /// Race-free order: take them out of `armed` first (a new mapping is then
    /// reported), then look for users, then detach the unused ones.
    func sweep(now: UInt64) {
        let every = UInt64(options.sweepSeconds * 1e9)
        guard now &- lastSweep >= every else { return }
        lastSweep = now
        let old = probed.values.filter { now &- $0.armedTs >= every }
        guard !old.isEmpty, let afd = try? object.mapFD(EmbeddedBPF.Resolver.Map.armed) else { return }
        for p in old {
            var key = nt_lib_key(dev: p.kkey.dev, ino: p.kkey.ino)
            bpf_map_delete_elem(afd, &key)
        }
        var wanted: [FileKey: FileKey] = [:]  // key as /proc/PID/maps shows it -> kernel key
        for p in old {
            wanted[p.kkey] = p.kkey
            for u in p.userKeys { wanted[FileKey(dev: Self.kernelDev(u.dev), ino: u.ino)] = p.kkey }
        }
        let inUse = Self.mappedFiles(among: Set(wanted.keys)).compactMap { wanted[$0] }
        for p in old {
            if inUse.contains(p.kkey) {
                setArmed(p.kkey, state: UInt32(NT_LIB_ARMED))
                continue
            }
            for l in p.links { bpf_link__destroy(l) }
            probed[p.kkey] = nil
            for u in p.userKeys { byUser[u] = nil }
            byUser = byUser.filter { $0.value != p.kkey }
            rows.append(DNSProbeRow(ts: Clock.boot, event: .detached, pid: 0, startNs: 0, kdev: p.kkey.dev,
                                    ino: p.kkey.ino, path: p.path, triggerTs: p.armedTs,
                                    detail: "no process maps it any longer"))
        }
        rootCache.removeAll()
        unsettleAll()
    }

    /// The worker's answer for an exec's (root, executable) pair, given back to the
    /// kernel side: until `until`, that pair's execs send no notice.
    func settle(_ key: nt_notice_key, until: UInt64) {
        guard let fd = try? object.mapFD(EmbeddedBPF.Resolver.Map.noticeKeys) else { return }
        var k = key, v = until
        bpf_map_update_elem(fd, &k, &v, 0)
    }

    /// Every pair's execs are looked at again (probes were taken out: what was settled may not be).
    private func unsettleAll() {
        guard let fd = try? object.mapFD(EmbeddedBPF.Resolver.Map.noticeKeys) else { return }
        var keys: [nt_notice_key] = []
        var prev = nt_notice_key(), next = nt_notice_key()
        var rc = bpf_map_get_next_key(fd, nil, &next)
        while rc == 0 {
            keys.append(next)
            prev = next
            rc = bpf_map_get_next_key(fd, &prev, &next)
        }
        // Deleted, not reset: the next exec of each pair wakes the worker at once, as a new pair's does.
        for var k in keys { bpf_map_delete_elem(fd, &k) }
    }

    /// Which of `keys` (kernel dev encoding, inode) some process maps, from /proc/*/maps.
    static func mappedFiles(among keys: Set<FileKey>) -> Set<FileKey> {
        var found = Set<FileKey>()
        guard let dir = opendir("/proc") else { return found }
        defer { closedir(dir) }
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while found.count < keys.count, let ent = readdir(dir) {
            let name = withUnsafeBytes(of: ent.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard name.first?.isNumber == true else { continue }
            let fd = open("/proc/\(name)/maps", O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { continue }
            var text: [UInt8] = []
            while true {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                text.append(contentsOf: buf[0..<n])
            }
            close(fd)
            // start-end perms offset maj:min inode path
            for line in text.split(separator: UInt8(ascii: "\n")) {
                let f = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
                guard f.count >= 5, let ino = UInt64(String(decoding: f[4], as: UTF8.self)), ino != 0 else { continue }
                let dev = f[3].split(separator: UInt8(ascii: ":"))
                guard dev.count == 2, let maj = UInt64(String(decoding: dev[0], as: UTF8.self), radix: 16),
                      let min = UInt64(String(decoding: dev[1], as: UTF8.self), radix: 16) else { continue }
                let k = FileKey(dev: maj << 20 | min, ino: ino)
                if keys.contains(k) { found.insert(k) }
            }
        }
        return found
    }

    // MARK: helpers

    /// O_PATH (Glibc's module does not export it).
    static let oPath: Int32 = 0o10000000

    /// The kernel's dev_t (major << 20 | minor) from a user-space st_dev.
    static func kernelDev(_ d: UInt64) -> UInt64 {
        let major = ((d >> 8) & 0xfff) | ((d >> 32) & ~UInt64(0xfff))
        let minor = (d & 0xff) | ((d >> 12) & ~UInt64(0xff))
        return major << 20 | minor
    }

    static func readlink(_ path: String) -> String? {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = Glibc.readlink(path, &buf, buf.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
