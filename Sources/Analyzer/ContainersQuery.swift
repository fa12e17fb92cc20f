import Format

/// `nettrail containers`: every container the capture saw, from its cgroups, with what ran in it.
public enum ContainersQuery {
    public static let columns = Columns.containers

    public static func run(_ capture: Capture) throws -> ResultTable {
        struct Acc {
            var identity: ContainerIdentity
            var first = UInt64.max, last: UInt64 = 0
            var processes = Set<ProcessKey>()
            var connections = 0
            var cgroup: String?
            mutating func saw(_ a: UInt64, _ b: UInt64) { first = min(first, a); last = max(last, b) }
        }
        var by: [String: Acc] = [:]
        let cg = capture.cgroups
        func acc(_ c: ContainerIdentity, path: String?, _ body: (inout Acc) -> Void) {
            var a = by[c.id] ?? Acc(identity: c)
            if a.cgroup == nil { a.cgroup = path }
            body(&a)
            by[c.id] = a
        }
        let v1 = cg.v1Hierarchy
        func container(_ v2: UInt64, _ v1id: UInt64) -> (ContainerIdentity, String?)? {
            if let c = cg.container(hierarchy: 0, id: v2) { return (c, cg.path(hierarchy: 0, id: v2)) }
            if let c = cg.container(hierarchy: v1, id: v1id) { return (c, cg.path(hierarchy: v1, id: v1id)) }
            return nil
        }
        for m in try capture.reader.cgroupsMade() {
            guard let c = cg.container(hierarchy: m.hierarchy, id: m.id) else { continue }
            acc(c, path: cg.path(hierarchy: m.hierarchy, id: m.id)) { $0.saw(m.ts, m.ts) }
        }
        for p in try capture.reader.cgroupProcesses() {
            guard let (c, path) = container(p.v2, p.v1) else { continue }
            acc(c, path: path) { $0.saw(p.first, p.last); $0.processes.insert(ProcessKey(pid: p.pid, startNs: p.startNs)) }
        }
        for n in try capture.reader.cgroupConnections() {
            guard let (c, path) = container(n.v2, n.v1) else { continue }
            acc(c, path: path) { $0.saw(n.first, n.last); $0.connections += n.count }
        }
        // Containers listed at start whose cgroups saw nothing still exist in the answer.
        for e in cg.entries.values {
            guard let c = e.container, by[c.id] == nil else { continue }
            by[c.id] = Acc(identity: c, cgroup: e.path)
        }
        var t = ResultTable(columns: columns)
        t.notes += capture.missingSourceNotes("process")
        for a in by.values.sorted(by: { ($0.first, $0.identity.id) < ($1.first, $1.identity.id) }) {
            t.append([
                .text(a.identity.id), .text(a.identity.runtime.rawValue), a.identity.podUID.map { .text($0) } ?? .null,
                a.first == .max ? .null : .text(capture.wallText(a.first)),
                a.first == .max ? .null : .text(capture.wallText(a.last)),
                .int(Int64(a.processes.count)), .int(Int64(a.connections)), a.cgroup.map { .text($0) } ?? .null,
            ])
        }
        if t.rows.isEmpty { t.notes.append("no container in this capture: no cgroup path names a runtime, and runc listed none") }
        return t
    }
}
