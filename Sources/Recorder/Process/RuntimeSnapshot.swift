import Foundation
import Format

/// Containers that runc's own state directories list when recording starts. A runc
/// container whose cgroup path carries no runtime's pattern (runc run with a plain
/// cgroupsPath) is otherwise named only if the capture sees runc create its cgroup.
enum RuntimeSnapshot {
    /// runc's default root (also podman's with runc), docker's, and containerd's per namespace.
    static func runcRoots() -> [String] {
        let containerd = "/run/containerd/runc"
        let namespaces = ((try? FileManager.default.contentsOfDirectory(atPath: containerd)) ?? []).map { containerd + "/" + $0 }
        return ["/run/runc", "/run/docker/runtime-runc/moby"] + namespaces
    }

    /// One row per (container, hierarchy): the cgroup directory's inode is the cgroup
    /// id every event carries, so the analyzer needs no path matching.
    static func write(into w: TimelineWriter, ts: UInt64) throws -> Int {
        let hierarchies = CgroupSnapshot.hierarchies()
        var n = 0
        for root in runcRoots() {
            for dir in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
                guard let data = FileManager.default.contents(atPath: "\(root)/\(dir)/state.json"),
                      let state = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                      let id = state["id"] as? String,
                      let paths = state["cgroup_paths"] as? [String: String] else { continue }
                var done = Set<UInt32>()
                for path in Set(paths.values) {
                    // Controllers that share a hierarchy are listed under symlinked names (cpu -> cpu,cpuacct).
                    guard let real = realpath(path, nil) else { continue }
                    let p = String(cString: real)
                    free(real)
                    guard let h = hierarchies.first(where: { p == $0.mountPoint || p.hasPrefix($0.mountPoint + "/") }),
                          done.insert(h.id).inserted, let ino = CgroupSnapshot.inode(p) else { continue }
                    try w.runtimeContainer(ts: ts, runtime: "runc", id: id, hierarchyID: h.id, cgroupID: ino)
                    n += 1
                }
            }
        }
        return n
    }
}
