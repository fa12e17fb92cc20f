import Format

/// Cgroup id → path, from the startup walk and the mkdir events, so a
/// container that lived 200 ms is still named after its cgroup is gone.
/// Ids are per hierarchy (each hierarchy numbers its own kernfs nodes).
public struct CgroupIndex: Sendable {
    public struct Key: Hashable, Sendable { public var hierarchy: UInt32; public var id: UInt64 }
    public struct Entry: Sendable {
        public var path: String
        /// Who created it, when the capture saw it being made ("runc", "dockerd"...).
        public var creator: String?
        public var container: ContainerIdentity?
    }

    public private(set) var entries: [Key: Entry] = [:]
    /// The hierarchy of the memory controller (what `cgroup_v1_id` refers to); 0 on a pure v2 host.
    public private(set) var v1Hierarchy: UInt32 = 0

    static let empty = CgroupIndex()
    private init() {}

    init(_ capture: Capture) throws {
        v1Hierarchy = capture.meta["memory_hierarchy_id"].flatMap(UInt32.init) ?? 0
        let db = capture.reader.db
        let snap = try db.prepare("SELECT hierarchy_id, cgroup_id, path FROM cgroup_snapshot")
        while try snap.step() {
            guard let h = snap.checkedRow({ $0.uint32(0) }) else { continue }
            let key = Key(hierarchy: h, id: snap.uint64(1))
            entries[key] = Entry(path: snap.string(2) ?? "", creator: nil, container: nil)
        }
        let ev = try db.prepare("SELECT hierarchy_id, cgroup_id, path, actor_comm FROM cgroup_event WHERE kind = ? ORDER BY ts")
        try ev.bind([CgroupEventKind.mkdir.rawValue])
        while try ev.step() {
            guard let h = ev.checkedRow({ $0.uint32(0) }) else { continue }
            let key = Key(hierarchy: h, id: ev.uint64(1))
            entries[key] = Entry(path: ev.string(2) ?? "", creator: ev.string(3), container: nil)
        }
        var listed: [Key: String] = [:]
        if try capture.reader.hasTable("runtime_container") {
            let rc = try db.prepare("SELECT hierarchy_id, cgroup_id, id FROM runtime_container WHERE runtime = 'runc'")
            while try rc.step() {
                guard let h = rc.checkedRow({ $0.uint32(0) }) else { continue }
                listed[Key(hierarchy: h, id: rc.uint64(1))] = rc.string(2)
            }
        }
        for (k, e) in entries {
            entries[k]?.container = Self.container(path: e.path, creator: e.creator, runcListed: listed[k])
        }
    }

    /// A known runtime's path pattern first; failing that, a container runc's state
    /// directory listed at start, or a cgroup that runc itself created during the
    /// capture (named by its leaf).
    static func container(path: String, creator: String?, runcListed: String? = nil) -> ContainerIdentity? {
        if let c = ContainerID.parse(cgroupPath: path) { return c }
        if let runcListed { return ContainerIdentity(id: runcListed, runtime: .runc) }
        if let creator, creator.hasPrefix("runc"), let leaf = path.split(separator: "/").last, path != "/" {
            return ContainerIdentity(id: String(leaf), runtime: .runc)
        }
        return nil
    }

    public func path(hierarchy: UInt32, id: UInt64) -> String? { entries[Key(hierarchy: hierarchy, id: id)]?.path }

    /// The container a task was in, from its v2 and memory-controller cgroup ids.
    public func container(v2: UInt64, v1: UInt64) -> ContainerIdentity? {
        entries[Key(hierarchy: 0, id: v2)]?.container ?? entries[Key(hierarchy: v1Hierarchy, id: v1)]?.container
    }

    public func container(hierarchy: UInt32, id: UInt64) -> ContainerIdentity? {
        entries[Key(hierarchy: hierarchy, id: id)]?.container
    }
}
