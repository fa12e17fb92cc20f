import CBPFGlue
import Foundation

/// One loaded BPF object and the links that keep its programs attached.
final class BPFObject {
    let name: String
    private let obj: OpaquePointer
    private var links: [OpaquePointer] = []
    private var rawLinkFDs: [Int32] = []

    /// Opens and loads the object; `ringSizes` overrides ring buffer sizes by map name,
    /// `constants` sets read-only globals (`const volatile __u32`) by name.
    init(_ embedded: EmbeddedObject, ringSizes: [BPFMap: UInt32] = [:], constants: [BPFConstant: UInt32] = [:],
         autoload: Set<BPFProgram>? = nil) throws {
        name = embedded.name
        nt_log_install()
        nt_log_reset()
        let bytes = embedded.bytes()
        guard let o = bytes.withUnsafeBytes({ nt_object_open_mem($0.baseAddress, $0.count, embedded.name) }) else {
            throw RecorderError.bpfOpen(object: name, reason: Self.reason(errno))
        }
        obj = o
        for (map, size) in ringSizes {
            guard let m = bpf_object__find_map_by_name(obj, map.name) else { throw RecorderError.bpfMap(object: name, map: map.name) }
            bpf_map__set_max_entries(m, size)
        }
        for (variable, value) in constants {
            let rc = nt_set_rodata_u32(obj, variable.name, value)
            // deinit closes obj: every stored property is set, so Swift runs it on this throw.
            guard rc == 0 else { throw RecorderError.bpfOpen(object: name, reason: "\(variable.name): \(Self.reason(-rc))") }
        }
        if let autoload {
            forEachProgram { prog, pname in bpf_program__set_autoload(prog, autoload.contains(BPFProgram(pname))) }
        }
        // libbpf 1.1 does not know SEC("netfilter") and leaves such programs untyped:
        // BPF_PROG_TYPE_NETFILTER (32) with expected attach type BPF_NETFILTER (45).
        forEachProgram { prog, _ in
            if String(cString: bpf_program__section_name(prog)).hasPrefix("netfilter") {
                bpf_program__set_type(prog, bpf_prog_type(rawValue: 32))
                bpf_program__set_expected_attach_type(prog, bpf_attach_type(rawValue: 45))
            }
        }
        let rc = bpf_object__load(obj)
        if rc != 0 {
            let log = String(cString: nt_log_text())
            // deinit closes obj: every stored property is set, so Swift runs it on this throw.
            throw RecorderError.bpfLoad(object: name, program: Self.failedProgram(in: log),
                                        reason: Self.reason(-rc) + Self.verifierTail(log))
        }
    }

    deinit {
        for l in links { bpf_link__destroy(l) }
        for fd in rawLinkFDs { close(fd) }
        bpf_object__close(obj)
    }

    private func forEachProgram(_ body: (OpaquePointer, String) -> Void) {
        var prog = bpf_object__next_program(obj, nil)
        while let p = prog {
            body(p, String(cString: bpf_program__name(p)))
            prog = bpf_object__next_program(obj, p)
        }
    }

    /// Attaches every loaded program whose section libbpf knows how to attach,
    /// except iterators (run on demand) and those `skip` names; cgroup programs
    /// at the root of the cgroup2 hierarchy.
    func attachAll(skip: Set<BPFProgram> = []) throws {
        var failure: RecorderError?
        var cgroupFD: Int32 = -1
        defer { if cgroupFD >= 0 { close(cgroupFD) } }
        forEachProgram { prog, pname in
            guard failure == nil, bpf_program__autoload(prog), !skip.contains(BPFProgram(pname)) else { return }
            let section = String(cString: bpf_program__section_name(prog))
            if section.hasPrefix("iter") || section.hasPrefix("netfilter") { return }
            nt_log_reset()
            if section.hasPrefix("cgroup/") && cgroupFD < 0 {
                do { cgroupFD = try CgroupRoot.open() } catch {
                    failure = .bpfAttach(object: name, program: pname, reason: "\(error)")
                    return
                }
            }
            let attached = section.hasPrefix("cgroup/") ? bpf_program__attach_cgroup(prog, cgroupFD) : bpf_program__attach(prog)
            guard let link = attached else {
                failure = .bpfAttach(object: name, program: pname, reason: Self.reason(errno))
                return
            }
            links.append(link)
        }
        if let failure { throw failure }
    }

    /// Attaches a netfilter program with a raw BPF_LINK_CREATE (libbpf 1.1 predates it).
    /// The link is made in the calling thread's network namespace; returns its fd.
    @discardableResult
    func attachNetfilter(program: BPFProgram, pf: UInt32, hook: UInt32, priority: Int32) throws -> Int32 {
        guard let prog = bpf_object__find_program_by_name(obj, program.name) else {
            throw RecorderError.bpfAttach(object: name, program: program.name, reason: "no such program")
        }
        let fd = nt_netfilter_link(bpf_program__fd(prog), pf, hook, priority, 0)
        guard fd >= 0 else { throw RecorderError.bpfAttach(object: name, program: program.name, reason: Self.reason(-fd)) }
        rawLinkFDs.append(fd)
        return fd
    }

    /// Closes a link attachNetfilter made (e.g. in a network namespace that went away).
    func detachNetfilter(linkFD: Int32) {
        guard let i = rawLinkFDs.firstIndex(of: linkFD) else { return }
        rawLinkFDs.remove(at: i)
        close(linkFD)
    }

    /// A loaded program, for attachments its source manages itself (the resolver's uprobes).
    func program(_ program: BPFProgram) -> OpaquePointer? { bpf_object__find_program_by_name(obj, program.name) }

    /// The BTF of an object that is opened, never loaded (bpf/abi.bpf.c: the record layouts alone).
    static func btf(of embedded: EmbeddedObject) -> [UInt8]? {
        let bytes = embedded.bytes()
        guard let o = bytes.withUnsafeBytes({ nt_object_open_mem($0.baseAddress, $0.count, embedded.name) }) else {
            return nil
        }
        defer { bpf_object__close(o) }
        guard let btf = bpf_object__btf(o) else { return nil }
        var size: UInt32 = 0
        guard let p = btf__raw_data(btf, &size), size > 0 else { return nil }
        return Array(UnsafeRawBufferPointer(start: p, count: Int(size)))
    }

    func mapFD(_ map: BPFMap) throws -> Int32 {
        guard let m = bpf_object__find_map_by_name(obj, map.name) else { throw RecorderError.bpfMap(object: name, map: map.name) }
        return bpf_map__fd(m)
    }

    /// Sums the per-CPU `losses` counters: index = nt_kind.
    func lossCounters() -> [UInt64] {
        guard let fd = try? mapFD(.losses) else { return [] }
        let cpus = Int(libbpf_num_possible_cpus())
        var values = [UInt64](repeating: 0, count: max(cpus, 1))
        var out = [UInt64](repeating: 0, count: Int(NT_KIND_MAX.rawValue))
        for k in 0..<out.count {
            var key = UInt32(k)
            if bpf_map_lookup_elem(fd, &key, &values) == 0 { out[k] = values.reduce(0, &+) }
        }
        return out
    }

    /// Runs an iterator program and returns everything it wrote.
    func runIterator(_ program: BPFProgram) throws -> [UInt8] {
        guard let prog = bpf_object__find_program_by_name(obj, program.name) else {
            throw RecorderError.bpfAttach(object: name, program: program.name, reason: "no such program")
        }
        guard let link = bpf_program__attach_iter(prog, nil) else {
            throw RecorderError.bpfAttach(object: name, program: program.name, reason: Self.reason(errno))
        }
        defer { bpf_link__destroy(link) }
        let fd = bpf_iter_create(bpf_link__fd(link))
        guard fd >= 0 else { throw RecorderError.bpfAttach(object: name, program: program.name, reason: Self.reason(errno)) }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            out.append(contentsOf: buf[0..<n])
        }
        return out
    }

    static func reason(_ err: Int32) -> String {
        let e = err < 0 ? -err : err
        if e == EPERM { return "\(String(cString: strerror(e))) (are you root? is BPF locked down?)" }
        return String(cString: strerror(e))
    }

    static func failedProgram(in log: String) -> String? {
        // libbpf: prog 'nt_exec': BPF program load failed: ...
        guard let r = log.range(of: "prog '") else { return nil }
        let rest = log[r.upperBound...]
        return rest.firstIndex(of: "'").map { String(rest[..<$0]) }
    }

    static func verifierTail(_ log: String) -> String {
        let lines = log.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("libbpf: -- END") && !$0.hasPrefix("processed ") }
        guard let last = lines.last(where: { !$0.hasPrefix("libbpf:") }) ?? lines.last else { return "" }
        return " — \(last)"
    }
}
