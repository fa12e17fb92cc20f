import Foundation

/// The root of the cgroup2 hierarchy, where a cgroup program runs for every
/// task on the host (descendants' own programs run beside it, not instead).
enum CgroupRoot {
    /// An open descriptor of the root; the caller closes it. Uses a cgroup2 mount
    /// of the root if there is one, else mounts one privately for as long as it
    /// takes to open it, so the host's mounts are left as they were.
    static func open() throws -> Int32 {
        if let mp = CgroupSnapshot.hierarchies().first(where: { $0.id == 0 && $0.root == "/" })?.mountPoint {
            let fd = Foundation.open(mp, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 { return fd }
        }
        var template = Array("/run/nettrail-cgroup2.XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template).map({ String(cString: $0) }) else {
            throw RecorderError.system("cannot open the cgroup2 root: \(String(cString: strerror(errno)))")
        }
        defer { rmdir(dir) }
        guard mount("cgroup2", dir, "cgroup2", 0, nil) == 0 else {
            throw RecorderError.system("cannot open the cgroup2 root: \(String(cString: strerror(errno)))")
        }
        defer { umount2(dir, Int32(MNT_DETACH)) }
        let fd = Foundation.open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw RecorderError.system("cannot open the cgroup2 root: \(String(cString: strerror(errno)))") }
        return fd
    }
}
