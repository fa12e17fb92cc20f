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
        try capture.reader.forEachCgroupPath { c in
            entries[Key(hierarchy: c.hierarchyID, id: c.cgroupID)] = Entry(path: c.path, creator: c.creator, container: nil)
        }
        var listed: [Key: String] = [:]
        for c in try capture.reader.runcContainers() { listed[Key(hierarchy: c.hierarchyID, id: c.cgroupID)] = c.name }
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
        if let creator, creator.hasPrefix("runc"), let leaf = PathText.lastComponent(path), path != "/" {
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
